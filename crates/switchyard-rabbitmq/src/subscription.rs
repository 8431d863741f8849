//! One subscription's consumer inside this process: the AMQP channel and consumer that
//! feed it, the buffer of deliveries not yet fetched, the fetched deliveries not yet
//! settled, and the client-side ack deadline.
//!
//! RabbitMQ pushes up to `prefetch` deliveries to the consumer; a pump task buffers them
//! and wakes waiting fetches. A fetch moves deliveries from the buffer to the in-flight
//! map under a tag of its own (a counter, unique for the life of the broker, so a tag of a
//! channel that has since died can never settle a delivery of its successor). RabbitMQ
//! has no ack deadline, so the pump rejects (with requeue) in-flight deliveries older than
//! the deadline; the server then delivers them again with `redelivered` set.
//!
//! Settling and closing wait for the server at most the broker's answer timeout
//! (`settle_all`): a consumer must never hang on a settle sent as its connection died.
//!
//! Must not know: how messages are published or how retries are scheduled.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions, BasicRejectOptions};
use lapin::types::FieldTable;
use lapin::{Acker, Channel, Consumer};
use switchyard_bus::{
    BusError, BusErrorKind, Delivery, DeliveryTag, Message, SubscriptionConfig, is_pattern,
};
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use crate::channels::settle_all;
use crate::codec::{self, Meta};
use crate::error::{amqp, is_not_found, unknown_subscription};
use crate::link::Open;

/// A delivery fetched and not yet settled.
pub(crate) struct InFlight {
    pub(crate) acker: Acker,
    pub(crate) message: Message,
    pub(crate) meta: Meta,
    /// The topic it was published on.
    pub(crate) topic: String,
    pub(crate) delivery_count: u32,
    fetched_at: Instant,
}

/// A delivery the server pushed that no fetch has taken yet.
struct Buffered {
    acker: Acker,
    message: Message,
    meta: Meta,
    topic: String,
    redelivered: bool,
}

struct Running {
    channel: Channel,
    pump: AbortHandle,
    /// The generation of the connection the channel is on.
    connection: u64,
}

#[derive(Default)]
struct State {
    generation: u64,
    running: Option<Running>,
    failure: Option<String>,
    buffer: VecDeque<Buffered>,
    last_arrival: Option<Instant>,
    /// When the consumer last started, or the stall check last looked.
    quiet_since: Option<Instant>,
    in_flight: BTreeMap<u64, InFlight>,
    next_tag: u64,
}

/// Counts for `stats`, taken at one instant.
pub(crate) struct LocalCounts {
    pub(crate) buffered: u64,
    pub(crate) in_flight: u64,
}

pub(crate) struct Subscription {
    config: Mutex<SubscriptionConfig>,
    /// Its queue's name on the server (the namespace, then the subscription's name).
    pub(crate) queue: String,
    state: Mutex<State>,
    arrivals: Notify,
    /// Serialises starting the consumer, so concurrent fetches start one.
    start: tokio::sync::Mutex<()>,
    /// Retry queues used by this process, by delay in ms, with when each was last declared.
    pub(crate) retry_queues: Mutex<BTreeMap<u64, Instant>>,
    /// The longest a settle or a channel close waits for the server.
    answer_timeout: Duration,
}

impl Subscription {
    pub(crate) fn new(config: SubscriptionConfig, queue: String, answer_timeout: Duration) -> Self {
        Subscription {
            config: Mutex::new(config),
            queue,
            state: Mutex::new(State::default()),
            arrivals: Notify::new(),
            start: tokio::sync::Mutex::new(()),
            retry_queues: Mutex::new(BTreeMap::new()),
            answer_timeout,
        }
    }

    pub(crate) fn config(&self) -> SubscriptionConfig {
        self.config
            .lock()
            .expect("config lock is never poisoned")
            .clone()
    }

    /// The delays (ms) of the retry queues this process used for this subscription.
    pub(crate) fn retry_delays(&self) -> Vec<u64> {
        self.retry_queues
            .lock()
            .expect("retry queue lock is never poisoned")
            .keys()
            .copied()
            .collect()
    }

    pub(crate) fn set_ack_deadline(&self, ack_deadline: Duration) {
        self.config
            .lock()
            .expect("config lock is never poisoned")
            .ack_deadline = ack_deadline;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .expect("subscription lock is never poisoned")
    }

    /// Starts the consumer of this subscription on `open`, or starts it again when its
    /// channel died or was on an older connection. Waits for the server: the caller
    /// bounds it.
    pub(crate) async fn ensure_consumer(
        self: &Arc<Self>,
        open: &Open,
        prefetch: u16,
    ) -> Result<(), BusError> {
        let generation = open.generation;
        let _starting = self.start.lock().await;
        {
            let state = self.state();
            let current = state
                .running
                .as_ref()
                .is_some_and(|running| running.connection == generation);
            if current && state.failure.is_none() {
                return Ok(());
            }
        }
        let name = self.config().name;
        let channel = open
            .connection
            .create_channel()
            .await
            .map_err(|err| amqp(&format!("failed to open a channel for `{name}`"), err))?;
        channel
            .basic_qos(prefetch, BasicQosOptions::default())
            .await
            .map_err(|err| amqp(&format!("failed to set the prefetch of `{name}`"), err))?;
        let consumer = channel
            .basic_consume(
                self.queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|err| {
                if is_not_found(&err) {
                    unknown_subscription(&name)
                } else {
                    amqp(&format!("failed to consume `{name}`"), err)
                }
            })?;
        let mut state = self.state();
        if let Some(previous) = state.running.take() {
            previous.pump.abort();
        }
        // Whatever the old channel held, the server has requeued.
        state.buffer.clear();
        state.in_flight.clear();
        state.failure = None;
        state.quiet_since = Some(Instant::now());
        state.generation += 1;
        let pump = tokio::spawn(pump(Arc::clone(self), consumer, state.generation));
        state.running = Some(Running {
            channel,
            pump: pump.abort_handle(),
            connection: generation,
        });
        Ok(())
    }

    /// Stops the consumer; the server requeues whatever it held.
    pub(crate) async fn stop(&self) {
        let running = {
            let mut state = self.state();
            state.buffer.clear();
            state.in_flight.clear();
            state.running.take()
        };
        if let Some(running) = running {
            running.pump.abort();
            match tokio::time::timeout(self.answer_timeout, running.channel.close(200, "OK".into()))
                .await
            {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::debug!(error = %err, "closing a consumer channel failed"),
                // Dropping the last handle closes it without waiting.
                Err(_) => tracing::debug!("closing a consumer channel got no answer"),
            }
        }
    }

    /// Stops the pump at once (the broker is being dropped; the channel dies with the
    /// connection).
    pub(crate) fn abort(&self) {
        if let Some(running) = self.state().running.take() {
            running.pump.abort();
        }
    }

    /// Up to `max` deliveries: as soon as `max` are buffered, or once deliveries stop
    /// arriving for `linger`, or when `max_wait` has passed (maybe none).
    pub(crate) async fn fetch(
        &self,
        max: usize,
        max_wait: Duration,
        linger: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        let deadline = Instant::now() + max_wait;
        loop {
            let arrival = self.arrivals.notified();
            tokio::pin!(arrival);
            arrival.as_mut().enable();
            self.expire_overdue().await;
            let wake_at = {
                let mut state = self.state();
                if let Some(failure) = &state.failure {
                    return Err(BusError::new(BusErrorKind::Unavailable, failure.clone()));
                }
                let now = Instant::now();
                let lingered = state.last_arrival.is_none_or(|last| now >= last + linger);
                let full = state.buffer.len() >= max;
                let some = !state.buffer.is_empty();
                if full || now >= deadline || (some && lingered) {
                    return Ok(self.take(&mut state, max, now));
                }
                match state.last_arrival {
                    Some(last) if some => deadline.min(last + linger),
                    _ => deadline,
                }
            };
            // Woken early by an arrival, or at the time limit: either way, look again.
            let _ = tokio::time::timeout_at(wake_at, arrival).await;
        }
    }

    fn take(&self, state: &mut State, max: usize, now: Instant) -> Vec<Delivery> {
        // An exact subscription reads one topic whatever the routing key says (a message
        // the server dead-lettered into its queue); a pattern subscription, the one each
        // message was published on.
        let config = self.config();
        let pattern = is_pattern(&config.topic);
        let count = max.min(state.buffer.len());
        let mut deliveries = Vec::with_capacity(count);
        for buffered in state.buffer.drain(..count).collect::<Vec<_>>() {
            state.next_tag += 1;
            let tag = state.next_tag;
            let delivery_count = buffered
                .meta
                .prior_deliveries
                .saturating_add(1 + u32::from(buffered.redelivered));
            deliveries.push(Delivery {
                tag: DeliveryTag(tag),
                topic: if pattern {
                    buffered.topic.clone()
                } else {
                    config.topic.clone()
                },
                message: buffered.message.clone(),
                delivery_count,
                retry_count: buffered.meta.retries,
            });
            state.in_flight.insert(
                tag,
                InFlight {
                    acker: buffered.acker,
                    message: buffered.message,
                    meta: buffered.meta,
                    topic: buffered.topic,
                    delivery_count,
                    fetched_at: now,
                },
            );
        }
        deliveries
    }

    /// Removes the in-flight deliveries named by `tags` for the caller to settle. Tags
    /// that are unknown (already settled, or redelivered after their deadline) are skipped:
    /// those messages come back anyway.
    pub(crate) fn settle(&self, tags: &[DeliveryTag]) -> Vec<InFlight> {
        let mut state = self.state();
        tags.iter()
            .filter_map(|tag| state.in_flight.remove(&tag.0))
            .collect()
    }

    /// Gives in-flight deliveries back to the server when their ack deadline has passed.
    pub(crate) async fn expire_overdue(&self) {
        let ack_deadline = self.config().ack_deadline;
        let now = Instant::now();
        let overdue: Vec<InFlight> = {
            let mut state = self.state();
            let tags: Vec<u64> = state
                .in_flight
                .iter()
                .take_while(|(_, entry)| now >= entry.fetched_at + ack_deadline)
                .map(|(tag, _)| *tag)
                .collect();
            tags.iter()
                .filter_map(|tag| state.in_flight.remove(tag))
                .collect()
        };
        if overdue.is_empty() {
            return;
        }
        tracing::debug!(
            subscription = %self.config().name,
            count = overdue.len(),
            "ack deadline passed, deliveries requeued"
        );
        // A failure is logged there; the server requeues them when the channel closes.
        let _ = reject_all(&overdue, true, self.answer_timeout).await;
    }

    /// Whether the consumer has been quiet for `period`: started (or last checked) that
    /// long ago, nothing arrived since, and nothing is buffered or held. Resets the clock,
    /// so the caller looks at most once per `period`.
    pub(crate) fn quiet_for(&self, period: Duration) -> bool {
        let mut state = self.state();
        let now = Instant::now();
        let Some(since) = state.quiet_since else {
            return false;
        };
        let arrived = state.last_arrival.is_some_and(|last| last > since);
        if arrived {
            state.quiet_since = state.last_arrival;
            return false;
        }
        if now < since + period || !state.buffer.is_empty() || !state.in_flight.is_empty() {
            return false;
        }
        state.quiet_since = Some(now);
        true
    }

    pub(crate) fn local_counts(&self) -> LocalCounts {
        let state = self.state();
        LocalCounts {
            buffered: state.buffer.len() as u64,
            in_flight: state.in_flight.len() as u64,
        }
    }

    fn push(&self, generation: u64, delivery: lapin::message::Delivery) {
        let topic = codec::topic_of(&delivery.properties, delivery.routing_key.as_str());
        let (message, meta) = codec::decode(&delivery.properties, delivery.data);
        let mut state = self.state();
        if state.generation != generation {
            return;
        }
        state.buffer.push_back(Buffered {
            acker: delivery.acker,
            message,
            meta,
            topic,
            redelivered: delivery.redelivered,
        });
        state.last_arrival = Some(Instant::now());
        drop(state);
        self.arrivals.notify_waiters();
    }

    fn fail(&self, generation: u64, reason: String) {
        let mut state = self.state();
        if state.generation != generation {
            return;
        }
        tracing::warn!(subscription = %self.config().name, error = %reason, "consumer stopped");
        state.failure = Some(reason);
        state.buffer.clear();
        state.in_flight.clear();
        drop(state);
        self.arrivals.notify_waiters();
    }

    /// How often the pump looks for expired deliveries: a quarter of the deadline, so a
    /// delivery comes back at most 25 % late, between 10 ms and 250 ms.
    fn expiry_period(&self) -> Duration {
        (self.config().ack_deadline / 4)
            .clamp(Duration::from_millis(10), Duration::from_millis(250))
    }
}

/// Rejects deliveries, waiting at most `limit`; `requeue` gives them back to the queue at
/// once.
pub(crate) async fn reject_all(
    entries: &[InFlight],
    requeue: bool,
    limit: Duration,
) -> Result<(), BusError> {
    let rejects = entries
        .iter()
        .map(|entry| entry.acker.reject(BasicRejectOptions { requeue }));
    let rejected = settle_all(rejects, limit, "failed to give deliveries back").await;
    if let Err(err) = &rejected {
        tracing::warn!(error = %err, "deliveries not given back; the server will when the channel closes");
    }
    rejected
}

/// Moves the server's deliveries into the buffer and expires overdue ones, until the
/// consumer ends.
async fn pump(subscription: Arc<Subscription>, mut consumer: Consumer, generation: u64) {
    let mut next_expiry = Instant::now() + subscription.expiry_period();
    loop {
        tokio::select! {
            item = consumer.next() => match item {
                Some(Ok(delivery)) => subscription.push(generation, delivery),
                Some(Err(err)) => {
                    subscription.fail(generation, format!("the consumer of `{}` failed: {err}", subscription.config().name));
                    return;
                }
                None => {
                    subscription.fail(generation, format!("the server cancelled the consumer of `{}`", subscription.config().name));
                    return;
                }
            },
            _ = tokio::time::sleep_until(next_expiry) => {
                subscription.expire_overdue().await;
                next_expiry = Instant::now() + subscription.expiry_period();
            }
        }
    }
}
