//! The raw-engine half of `switchyard bench bus`: the bench's workload written directly
//! against lapin, so the binary can report what [`RabbitBroker`](crate::RabbitBroker)
//! costs over plain AMQP without importing lapin itself.
//!
//! The workload matches the bench's Switchyard path as closely as plain AMQP allows: a
//! fresh durable classic queue, `messages` persistent payloads of `payload_bytes`
//! published through the default exchange on a publisher-confirm channel in batches of
//! `publish_batch` (all sent together, then every confirm awaited, as
//! `RabbitBroker::publish` does), then consumed by `basic_consume` with the prefetch of
//! [`RabbitOptions::default`](crate::RabbitOptions) and one `basic.ack` per delivery; last,
//! a latency pass of `latency_samples` single publishes, each timed until its confirm.
//! The queue is deleted afterwards, also when the run failed. Differences that belong to
//! `RabbitBroker`'s design and so show up as its overhead: the topic exchange with an
//! alternate exchange, its own headers, and buffering deliveries for `fetch`.
//!
//! It also removes the queues a Switchyard-path run left behind ([`remove_bench_queues`]).
//! It must not be used by anything but benchmarks.

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use switchyard_bus::measure::{paced, per_sec, percentile_us};

use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use switchyard_bus::{BusError, BusErrorKind, Message};

use crate::codec::{self, Meta, SeqClock};
use crate::error::amqp;
use crate::{RabbitBroker, RabbitOptions};

/// What one raw AMQP run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RawAmqpFigures {
    /// Messages published in the throughput pass (each consumed once).
    pub messages: usize,
    /// Published messages per second, from the first publish to the last confirm.
    pub publish_per_sec: f64,
    /// Consumed (delivered and acked) messages per second, once all were published.
    pub consume_per_sec: f64,
    /// Messages per second from the first publish until the last message was acked.
    pub end_to_end_per_sec: f64,
    /// Median time of one single-message publish until its confirm, in µs.
    pub ack_p50_us: f64,
    /// 99th percentile of the same, in µs.
    pub ack_p99_us: f64,
}

/// Runs the raw AMQP workload against the server at `url` on a queue of its own, then
/// deletes that queue.
pub async fn raw_amqp(
    url: &str,
    messages: usize,
    payload_bytes: usize,
    publish_batch: usize,
    latency_samples: usize,
) -> Result<RawAmqpFigures, BusError> {
    let bench = BenchQueue::open(url).await?;
    let figures = run(
        &bench.connection,
        &bench.channel,
        &bench.queue,
        messages,
        payload_bytes,
        publish_batch,
        latency_samples,
    )
    .await;
    bench.close().await?;
    figures
}

/// A connection, a channel and a fresh durable queue of one raw bench run.
struct BenchQueue {
    connection: Connection,
    channel: Channel,
    queue: String,
}

impl BenchQueue {
    async fn open(url: &str) -> Result<Self, BusError> {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .map_err(|err| amqp("failed to connect to RabbitMQ for the raw benchmark", err))?;
        let queue = format!("switchyard.raw-bench.{}", unique_suffix());
        let channel = connection
            .create_channel()
            .await
            .map_err(|err| amqp("failed to open a channel", err))?;
        channel
            .queue_declare(
                queue.as_str().into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(|err| amqp(&format!("failed to declare queue `{queue}`"), err))?;
        Ok(BenchQueue {
            connection,
            channel,
            queue,
        })
    }

    /// Deletes the queue and closes the connection, whatever the run's outcome.
    async fn close(self) -> Result<(), BusError> {
        let deleted = self
            .channel
            .queue_delete(self.queue.as_str().into(), QueueDeleteOptions::default())
            .await
            .map_err(|err| amqp(&format!("failed to delete queue `{}`", self.queue), err));
        let closed = self
            .connection
            .close(200, "OK".into())
            .await
            .map_err(|err| amqp("failed to close the connection", err));
        deleted?;
        closed
    }
}

async fn run(
    connection: &Connection,
    publisher: &Channel,
    queue: &str,
    messages: usize,
    payload_bytes: usize,
    publish_batch: usize,
    latency_samples: usize,
) -> Result<RawAmqpFigures, BusError> {
    publisher
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|err| amqp("failed to enable publisher confirms", err))?;
    let routing_key = ShortString::from(queue);
    let properties = BasicProperties::default().with_delivery_mode(2);
    let payload = vec![b'x'; payload_bytes];
    let publish = || {
        publisher.basic_publish(
            "".into(),
            routing_key.clone(),
            BasicPublishOptions::default(),
            &payload,
            properties.clone(),
        )
    };
    let started = Instant::now();
    let mut published = 0;
    while published < messages {
        let count = publish_batch.max(1).min(messages - published);
        // Every frame of the batch is sent before any confirm is awaited, and the sends
        // themselves are polled together, as `RabbitBroker::publish` does.
        let sends = futures_util::future::join_all((0..count).map(|_| publish())).await;
        let mut confirms = Vec::with_capacity(count);
        for send in sends {
            confirms.push(send.map_err(|err| amqp("failed to publish", err))?);
        }
        for confirm in futures_util::future::join_all(confirms).await {
            check_confirm(confirm)?;
        }
        published += count;
    }
    let publish_elapsed = started.elapsed();
    let drain_started = Instant::now();
    let consumer_channel = connection
        .create_channel()
        .await
        .map_err(|err| amqp("failed to open a channel", err))?;
    consumer_channel
        .basic_qos(
            RabbitOptions::default().prefetch,
            BasicQosOptions::default(),
        )
        .await
        .map_err(|err| amqp("failed to set the prefetch", err))?;
    let mut consumer = consumer_channel
        .basic_consume(
            queue.into(),
            "raw-bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|err| amqp(&format!("failed to consume `{queue}`"), err))?;
    let mut consumed = 0;
    while consumed < messages {
        let delivery = consumer
            .next()
            .await
            .ok_or_else(|| {
                BusError::new(
                    BusErrorKind::Unavailable,
                    format!("the consumer of `{queue}` ended after {consumed} messages"),
                )
            })?
            .map_err(|err| amqp("failed to receive a delivery", err))?;
        delivery
            .ack(BasicAckOptions::default())
            .await
            .map_err(|err| amqp("failed to ack", err))?;
        consumed += 1;
    }
    let drain_elapsed = drain_started.elapsed();
    let end_to_end_elapsed = started.elapsed();
    consumer_channel
        .close(200, "OK".into())
        .await
        .map_err(|err| amqp("failed to close the consumer channel", err))?;
    let mut latencies = Vec::with_capacity(latency_samples);
    for _ in 0..latency_samples {
        let sent = Instant::now();
        let confirm = publish()
            .await
            .map_err(|err| amqp("failed to publish", err))?;
        check_confirm(confirm.await)?;
        latencies.push(sent.elapsed());
    }
    latencies.sort_unstable();
    Ok(RawAmqpFigures {
        messages,
        publish_per_sec: per_sec(messages, publish_elapsed),
        consume_per_sec: per_sec(messages, drain_elapsed),
        end_to_end_per_sec: per_sec(messages, end_to_end_elapsed),
        ack_p50_us: percentile_us(&latencies, 0.50),
        ack_p99_us: percentile_us(&latencies, 0.99),
    })
}

fn check_confirm(confirmation: lapin::Result<Confirmation>) -> Result<(), BusError> {
    match confirmation.map_err(|err| amqp("failed to publish", err))? {
        Confirmation::Ack(_) => Ok(()),
        Confirmation::Nack(_) | Confirmation::NotRequested => Err(BusError::new(
            BusErrorKind::Unavailable,
            "failed to publish: the server did not confirm a message".to_string(),
        )),
    }
}

/// Publishes `count` persistent copies of `message` at `rate` per second, open loop
/// ([`paced`]), each through the default exchange into a fresh durable queue on a
/// publisher-confirm channel and timed until its confirm; returns the latencies, sorted.
/// The raw side of `switchyard bench identity`: with `as_switchyard`, each message
/// carries the AMQP properties `RabbitBroker` would give it (its headers, key and
/// position) and is published `mandatory`, as `RabbitBroker` publishes; without, the
/// payload alone. The queue is deleted afterwards.
pub async fn raw_amqp_paced(
    url: &str,
    message: &Message,
    as_switchyard: bool,
    rate: f64,
    count: usize,
) -> Result<Vec<std::time::Duration>, BusError> {
    let bench = BenchQueue::open(url).await?;
    let latencies = publish_paced(&bench, message, as_switchyard, rate, count).await;
    bench.close().await?;
    latencies
}

async fn publish_paced(
    bench: &BenchQueue,
    message: &Message,
    as_switchyard: bool,
    rate: f64,
    count: usize,
) -> Result<Vec<std::time::Duration>, BusError> {
    let (channel, queue) = (&bench.channel, &bench.queue);
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|err| amqp("failed to enable publisher confirms", err))?;
    let payload = std::sync::Arc::new(message.payload.clone());
    let seq = SeqClock::default();
    paced(rate, count, |_| {
        let (channel, payload, queue) = (channel.clone(), payload.clone(), queue.clone());
        let properties = if as_switchyard {
            codec::encode(
                message,
                Meta {
                    seq: seq.next(),
                    ..Meta::default()
                },
            )
        } else {
            BasicProperties::default().with_delivery_mode(2)
        };
        let options = BasicPublishOptions {
            mandatory: as_switchyard,
            ..BasicPublishOptions::default()
        };
        async move {
            let confirm = channel
                .basic_publish(
                    "".into(),
                    queue.as_str().into(),
                    options,
                    &payload,
                    properties,
                )
                .await
                .map_err(|err| amqp("failed to publish", err))?;
            check_confirm(confirm.await)
        }
    })
    .await
}

/// Deletes what `RabbitBroker` with default options created for a bench run: the queue
/// of `subscription` and the unrouted-message queue of `topic`.
pub async fn remove_bench_queues(
    url: &str,
    subscription: &str,
    topic: &str,
) -> Result<(), BusError> {
    let broker = RabbitBroker::connect(url, RabbitOptions::default()).await?;
    let removed = async {
        broker.delete_subscription(subscription).await?;
        broker.delete_topic(topic).await
    }
    .await;
    let closed = broker.close().await;
    removed?;
    closed
}

/// Distinguishes concurrent bench runs on one server.
fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{}.{nanos}", std::process::id())
}
