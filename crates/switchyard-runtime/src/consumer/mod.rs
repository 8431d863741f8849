//! [`Consumer`]: the loop that drives one subscription through a [`Handler`], as a chain
//! of small layers (see `layers.rs`), in the manner of Watermill's router middleware:
//!
//! fetch → skip dead letters → decode (and upcast) → validate → deduplicate → resolve
//! claim checks → handle (timed, traced) → record idempotency keys → settle (ack, retry
//! later, or dead-letter).
//!
//! Every message ends in exactly one of: acked (done, duplicate, or a dead letter
//! delivered to the consumer: one on its own dead-letter topic, or any on a dead-letter
//! topic that came through a topic pattern, which buses never route), nacked for a retry
//! after the delay `X-Backoff-Ms` gives for its `X-Retry-Count` (other messages keep
//! flowing meanwhile), or dead-lettered with its context and then acked: to
//! `{topic}.dlq.v1`, or to the one dead-letter topic [`ConsumerConfig::dead_letter_topic`]
//! names. Keys are recorded only
//! after the handler succeeded and before the ack, so a crash in between replays the
//! event and the handler's effect must be idempotent.
//! When the state store fails mid-step, the batch is released untouched (delivered again
//! at once, without counting a retry) and the step fails, so the loop pauses and tries
//! again: a store outage delays events, never loses or dead-letters them. The first step
//! after a failure handles one fetch only, without gathering a backlog, so that consuming
//! visibly resumes as soon as the engine is back (a backlog of 1000 events in one index
//! commit took seconds on a loaded machine) and a failing engine wastes little work.

mod layers;

use std::sync::Arc;
use std::time::Duration;

use switchyard_bus::{
    Backoff, Broker, BusError, BusErrorKind, DeliveryTag, SubscriptionConfig, is_dead_letter_topic,
    validate_topic,
};
use switchyard_contracts::Registry;
use switchyard_state::StateStore;
use tokio_util::sync::CancellationToken;

use crate::{ClaimCheck, ConsumerHealth, Handler, KeyTtls, RuntimeError};

/// How long a step waits for each further fetch while it gathers a backlog.
const GATHER_WAIT: Duration = Duration::from_millis(1);

/// Retry schedule used when a message carries no `X-Max-Retries` / `X-Backoff-Ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries before a message is dead-lettered.
    pub max_retries: u32,
    /// Delay before retry 1, 2, …; the last one repeats.
    pub backoff: Vec<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: switchyard_contracts::DEFAULT_MAX_RETRIES,
            backoff: switchyard_contracts::DEFAULT_BACKOFF_MS
                .iter()
                .map(|ms| Duration::from_millis(*ms))
                .collect(),
        }
    }
}

/// How a consumer reads its subscription.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The subscription it reads (created if missing).
    pub subscription: SubscriptionConfig,
    /// Most messages one fetch takes from the subscription.
    pub batch_size: usize,
    /// Most messages handled together (for the search indexer: one index commit). While
    /// the subscription has a backlog, a step goes on fetching full batches, without
    /// waiting, until it holds this many; at least `batch_size`.
    pub handle_batch_size: usize,
    /// How long one fetch waits for messages before the loop checks for shutdown.
    pub max_wait: Duration,
    /// Retry schedule for messages without retry headers.
    pub retry: RetryPolicy,
    /// How long idempotency keys and claim-check blobs live.
    pub key_ttls: KeyTtls,
    /// Whether to skip events already handled (off only to measure its cost).
    pub dedupe: bool,
    /// Name of this service in dead letters' `failed_by`.
    pub service: String,
    /// Where every message this consumer gives up on goes (undecodable, invalid, failed
    /// for good or out of retries); `None` for the dead-letter topic of the message's own
    /// topic, `{topic}.dlq.v1`. The letter keeps its original topic either way. A
    /// dead-letter topic by the bus's rule (`switchyard_bus::is_dead_letter_topic`), so
    /// that no topic pattern delivers it: set it with
    /// [`ConsumerConfig::with_dead_letter_topic`], which checks.
    pub dead_letter_topic: Option<String>,
}

impl ConsumerConfig {
    /// Defaults: batches of 100 handled one at a time, 1 s fetch wait, retries
    /// 1 s / 5 s / 15 s, dedupe on.
    pub fn new(subscription: SubscriptionConfig) -> Self {
        ConsumerConfig {
            subscription,
            batch_size: 100,
            handle_batch_size: 100,
            max_wait: Duration::from_secs(1),
            retry: RetryPolicy::default(),
            key_ttls: KeyTtls::default(),
            dedupe: true,
            service: "switchyard".to_string(),
            dead_letter_topic: None,
        }
    }

    /// Fetches of at most `batch_size` messages, handled as they come.
    pub fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self.handle_batch_size = batch_size;
        self
    }

    /// Up to `handle_batch_size` messages handled together while a backlog lasts.
    pub fn with_handle_batch_size(mut self, handle_batch_size: usize) -> Self {
        self.handle_batch_size = handle_batch_size;
        self
    }

    /// The retry schedule of messages without retry headers.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Dead letters go to `topic` instead of `{topic}.dlq.v1` (a name the dead-letter
    /// tools list only when told: [`DeadLetterQueue::with_topics`](crate::DeadLetterQueue::with_topics)).
    /// Refuses a topic that is not a dead-letter topic (`switchyard_bus::is_dead_letter_topic`:
    /// ending in `.dlq.v1` or in the word `errors`, as `email.errors`), since a topic
    /// pattern such as `email.#` would deliver it to consumers as events.
    pub fn with_dead_letter_topic(mut self, topic: impl Into<String>) -> Result<Self, BusError> {
        let topic = topic.into();
        validate_topic(&topic)?;
        if !is_dead_letter_topic(&topic) {
            return Err(BusError::new(
                BusErrorKind::InvalidArgument,
                format!(
                    "invalid dead-letter topic `{topic}` of subscription `{}`: a dead-letter \
                     topic ends in `.dlq.v1` or in the word `errors` (`email.errors`), so that \
                     no topic pattern delivers its letters as events",
                    self.subscription.name
                ),
            ));
        }
        self.dead_letter_topic = Some(topic);
        Ok(self)
    }

    /// The topic a message of `topic` is dead-lettered to.
    pub fn dead_letter_topic_for(&self, topic: &str) -> String {
        self.dead_letter_topic
            .clone()
            .unwrap_or_else(|| crate::dlq_topic(topic))
    }
}

/// Drives one subscription through a handler.
pub struct Consumer<H> {
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    claim_check: ClaimCheck,
    config: ConsumerConfig,
    handler: H,
    health: ConsumerHealth,
}

/// What one step did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StepReport {
    /// Messages fetched.
    pub fetched: usize,
    /// Messages whose events were all handled.
    pub handled: usize,
    /// Messages skipped as already handled.
    pub duplicates: usize,
    /// Messages given back for a later retry.
    pub retried: usize,
    /// Messages sent to the dead-letter topic.
    pub dead_lettered: usize,
    /// Dead letters delivered to this consumer: on its own dead-letter topic (a
    /// subscription to the topic it dead-letters to), or on any dead-letter topic through
    /// a topic pattern (which no bus should route): acked untouched, never handled or
    /// dead-lettered again.
    pub dead_letters_skipped: usize,
}

impl std::ops::AddAssign for StepReport {
    fn add_assign(&mut self, step: StepReport) {
        self.fetched += step.fetched;
        self.handled += step.handled;
        self.duplicates += step.duplicates;
        self.retried += step.retried;
        self.dead_lettered += step.dead_lettered;
        self.dead_letters_skipped += step.dead_letters_skipped;
    }
}

impl<H: Handler> Consumer<H> {
    /// A consumer of `config.subscription` through `handler`.
    pub fn new(
        broker: Arc<dyn Broker>,
        state: Arc<dyn StateStore>,
        registry: Arc<Registry>,
        config: ConsumerConfig,
        handler: H,
    ) -> Self {
        Consumer {
            claim_check: ClaimCheck::new(state.clone(), config.key_ttls.clone()),
            broker,
            state,
            registry,
            config,
            handler,
            health: ConsumerHealth::default(),
        }
    }

    /// The same consumer, reporting whether its steps succeed to `health` (shared with
    /// the other consumers of the process, for readiness).
    pub fn with_health(mut self, health: ConsumerHealth) -> Self {
        self.health = health;
        self
    }

    /// Runs until `shutdown` is cancelled. A batch in hand is always finished (handled
    /// and settled) before the loop looks at `shutdown` again; fetches wait at most
    /// `max_wait`. Infrastructure errors are reported to its [`ConsumerHealth`] and retried after a
    /// pause growing from 100 ms to 1 s; the step after a failure handles one fetch only.
    pub async fn run(self, shutdown: CancellationToken) {
        let subscription = self.config.subscription.name.clone();
        self.health.started(&subscription);
        // Short pauses: an engine that is back is used again within about a second.
        let mut pause = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let mut recovering = false;
        while !shutdown.is_cancelled() {
            let handle_at_most = if recovering {
                self.config.batch_size
            } else {
                self.config.handle_batch_size
            };
            let result = match self
                .broker
                .ensure_subscription(&self.config.subscription)
                .await
            {
                Ok(()) => self.step_handling_at_most(handle_at_most).await.map(|_| ()),
                Err(err) => Err(err.into()),
            };
            match result {
                Ok(()) => {
                    self.health.succeeded(&subscription);
                    pause.reset();
                    recovering = false;
                }
                Err(err) => {
                    recovering = true;
                    self.health.failed(&subscription, &err.to_string());
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause.next_delay()) => {}
                    }
                }
            }
        }
        self.health.stopped(&subscription);
        tracing::info!(subscription = %subscription, "consumer stopped");
    }

    /// Fetches and processes one batch (waiting up to `max_wait` for it).
    #[tracing::instrument(skip_all, fields(subscription = %self.config.subscription.name))]
    pub async fn step(&self) -> Result<StepReport, RuntimeError> {
        self.step_handling_at_most(self.config.handle_batch_size)
            .await
    }

    /// One step that gathers a backlog only up to `handle_at_most` messages.
    async fn step_handling_at_most(
        &self,
        handle_at_most: usize,
    ) -> Result<StepReport, RuntimeError> {
        let name = &self.config.subscription.name;
        let batch_size = self.config.batch_size.max(1);
        let mut deliveries = self
            .broker
            .fetch(name, batch_size, self.config.max_wait)
            .await?;
        if deliveries.is_empty() {
            return Ok(StepReport::default());
        }
        // A full fetch means a backlog: gather more, so that a costly effect (an index
        // commit) covers many messages, but never wait for messages that are not there.
        let mut last_fetch = deliveries.len();
        while last_fetch == batch_size && deliveries.len() < handle_at_most {
            let want = batch_size.min(handle_at_most - deliveries.len());
            let more = self.broker.fetch(name, want, GATHER_WAIT).await?;
            last_fetch = if more.len() == want { batch_size } else { 0 };
            deliveries.extend(more);
        }
        crate::metrics::METRICS.count(name, "received", deliveries.len());
        let mut items: Vec<layers::Item> = deliveries.into_iter().map(layers::Item::new).collect();
        layers::skip_dead_letters(&self.config, &mut items);
        layers::decode(&self.registry, &mut items);
        layers::validate(&self.registry, &mut items);
        if self.config.dedupe {
            let deduplicated =
                layers::deduplicate(self.state.as_ref(), &self.registry, name, &mut items).await;
            if let Err(err) = deduplicated {
                return Err(self.give_back(&items, err).await);
            }
        }
        layers::resolve_claim_checks(&self.claim_check, &mut items).await;
        layers::handle(&self.handler, name, &mut items).await;
        if self.config.dedupe {
            let recorded =
                layers::record_keys(self.state.as_ref(), &self.config.key_ttls, &items).await;
            if let Err(err) = recorded {
                return Err(self.give_back(&items, err).await);
            }
        }
        let report = layers::settle(self.broker.as_ref(), &self.config, items).await?;
        Ok(report)
    }

    /// After the state store failed mid-step (nothing settled yet): gives the batch back
    /// untouched, so it comes again as soon as the store answers instead of after the ack
    /// deadline. Returns `err`.
    async fn give_back(&self, items: &[layers::Item], err: RuntimeError) -> RuntimeError {
        let name = &self.config.subscription.name;
        let tags: Vec<DeliveryTag> = items.iter().map(|item| item.delivery.tag).collect();
        if let Err(release) = self.broker.release(name, &tags).await {
            tracing::debug!(subscription = %name, error = %release, "batch not given back; it comes again after its ack deadline");
        }
        err
    }
}

#[cfg(test)]
mod tests;
