//! The raw-engine half of `switchyard bench bus`: the bench's workload written directly
//! against async-nats, so the binary can report what [`NatsBroker`](crate::NatsBroker)
//! costs over plain JetStream without importing async-nats itself.
//!
//! The workload matches the bench's Switchyard path: a fresh file-storage stream with
//! limits retention and one durable pull consumer (explicit acks), `messages` payloads of
//! `payload_bytes` published in batches of `publish_batch` (all sent, then every
//! acknowledgement awaited, as `NatsBroker::publish` does), then drained by no-wait pulls
//! of [`FETCH_BATCH`] whose acks are *double* acks (a request the server answers, up to
//! [`ACK_CONCURRENCY`] at once), the durability `NatsBroker::ack` promises; last, a latency
//! pass of `latency_samples` single publishes, each timed until its acknowledgement.
//! The stream is deleted afterwards, also when the run failed.
//!
//! It also removes the stream a Switchyard-path run left behind ([`remove_bench_topic`]).
//! It must not be used by anything but benchmarks: it skips `NatsBroker`'s topology,
//! codec and delivery bookkeeping on purpose.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use switchyard_bus::measure::{per_sec, percentile_us};

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::stream::{self, RetentionPolicy, StorageType};
use async_nats::jetstream::{self, AckKind};
use futures_util::{StreamExt, TryStreamExt};
use switchyard_bus::BusError;

use crate::NatsOptions;
use crate::codec::stream_name;
use crate::error::unavailable;

/// Messages asked for per pull, as the bench's Switchyard path fetches.
pub const FETCH_BATCH: usize = 500;

/// Double acks in flight at once (as `NatsBroker` settles).
pub const ACK_CONCURRENCY: usize = 256;

/// What one raw JetStream run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct RawJetStreamFigures {
    /// Messages published in the throughput pass (each consumed once).
    pub messages: usize,
    /// Published messages per second, from the first publish to the last acknowledgement.
    pub publish_per_sec: f64,
    /// Consumed (fetched and acked) messages per second, once all were published.
    pub consume_per_sec: f64,
    /// Messages per second from the first publish until the last message was acked.
    pub end_to_end_per_sec: f64,
    /// Median time of one single-message publish until its acknowledgement, in µs.
    pub ack_p50_us: f64,
    /// 99th percentile of the same, in µs.
    pub ack_p99_us: f64,
}

/// Runs the raw JetStream workload against the server at `url` on a stream of its own,
/// then deletes that stream.
pub async fn raw_jetstream(
    url: &str,
    messages: usize,
    payload_bytes: usize,
    publish_batch: usize,
    latency_samples: usize,
) -> Result<RawJetStreamFigures, BusError> {
    let client = async_nats::ConnectOptions::new()
        .name("switchyard-raw-bench")
        .connect(url)
        .await
        .map_err(|err| unavailable("failed to connect to NATS for the raw benchmark", err))?;
    let context = jetstream::ContextBuilder::new()
        .max_ack_inflight(NatsOptions::default().max_publish_inflight)
        .build(client.clone());
    let suffix = unique_suffix();
    let stream_name = format!("SWITCHYARD_RAW_BENCH_{suffix}");
    let subject = format!("switchyard.raw-bench.{suffix}");
    let stream = context
        .create_stream(stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            storage: StorageType::File,
            retention: RetentionPolicy::Limits,
            ..stream::Config::default()
        })
        .await
        .map_err(|err| unavailable(&format!("failed to create stream {stream_name}"), err))?;
    let figures = async {
        let consumer = stream
            .create_consumer(pull::Config {
                durable_name: Some("raw-bench".to_string()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(60),
                max_ack_pending: NatsOptions::default().max_ack_pending,
                ..pull::Config::default()
            })
            .await
            .map_err(|err| unavailable("failed to create the raw bench consumer", err))?;
        let payload = vec![b'x'; payload_bytes];
        let started = Instant::now();
        let mut published = 0;
        while published < messages {
            let count = publish_batch.max(1).min(messages - published);
            let mut acks = Vec::with_capacity(count);
            for _ in 0..count {
                acks.push(
                    context
                        .publish(subject.clone(), payload.clone().into())
                        .await
                        .map_err(|err| unavailable("failed to publish", err))?,
                );
            }
            for ack in acks {
                ack.await
                    .map_err(|err| unavailable("failed to get a publish ack", err))?;
            }
            published += count;
        }
        let publish_elapsed = started.elapsed();
        let drain_started = Instant::now();
        let mut consumed = 0;
        while consumed < messages {
            let replies: Vec<_> = consumer
                .fetch()
                .max_messages(FETCH_BATCH)
                .messages()
                .await
                .map_err(|err| unavailable("failed to fetch", err))?
                .map_ok(|message| message.reply.clone())
                .try_collect()
                .await
                .map_err(|err| unavailable("failed to fetch", err))?;
            consumed += replies.len();
            futures_util::stream::iter(replies.into_iter().flatten())
                .map(|reply| {
                    let client = client.clone();
                    async move { client.request(reply, AckKind::Ack.into()).await }
                })
                .buffer_unordered(ACK_CONCURRENCY)
                .try_collect::<Vec<_>>()
                .await
                .map_err(|err| unavailable("failed to ack", err))?;
        }
        let drain_elapsed = drain_started.elapsed();
        let end_to_end_elapsed = started.elapsed();
        let mut latencies = Vec::with_capacity(latency_samples);
        for _ in 0..latency_samples {
            let sent = Instant::now();
            context
                .publish(subject.clone(), payload.clone().into())
                .await
                .map_err(|err| unavailable("failed to publish", err))?
                .await
                .map_err(|err| unavailable("failed to get a publish ack", err))?;
            latencies.push(sent.elapsed());
        }
        latencies.sort_unstable();
        Ok::<_, BusError>(RawJetStreamFigures {
            messages,
            publish_per_sec: per_sec(messages, publish_elapsed),
            consume_per_sec: per_sec(messages, drain_elapsed),
            end_to_end_per_sec: per_sec(messages, end_to_end_elapsed),
            ack_p50_us: percentile_us(&latencies, 0.50),
            ack_p99_us: percentile_us(&latencies, 0.99),
        })
    }
    .await;
    let deleted = context
        .delete_stream(&stream_name)
        .await
        .map_err(|err| unavailable(&format!("failed to delete stream {stream_name}"), err));
    let figures = figures?;
    deleted?;
    Ok(figures)
}

/// Deletes the stream (and so the consumers) that `NatsBroker` with default options
/// created for `topic`; returns whether it existed.
pub async fn remove_bench_topic(url: &str, topic: &str) -> Result<bool, BusError> {
    let client = async_nats::ConnectOptions::new()
        .name("switchyard-raw-bench")
        .connect(url)
        .await
        .map_err(|err| unavailable("failed to connect to NATS for the bench cleanup", err))?;
    let context = jetstream::new(client);
    let name = stream_name(&NatsOptions::default().stream_prefix, topic);
    match context.delete_stream(&name).await {
        Ok(status) => Ok(status.success),
        Err(err)
            if matches!(
                err.kind(),
                jetstream::context::GetStreamErrorKind::JetStream(ref api)
                    if api.error_code() == jetstream::ErrorCode::STREAM_NOT_FOUND
            ) =>
        {
            Ok(false)
        }
        Err(err) => Err(unavailable(&format!("failed to delete stream {name}"), err)),
    }
}

/// Distinguishes concurrent bench runs on one server.
fn unique_suffix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("{}_{nanos}", std::process::id())
}
