//! [`Consumer`]: the loop that drives one subscription through a [`Handler`].
//!
//! One step: fetch a batch → decode each envelope and upcast it to current events (a legacy
//! type or an older schema version) → drop events whose idempotency key is
//! already recorded (or repeated inside the batch) → hand the rest to the handler → on
//! success record their keys, then ack the whole batch. A retryable handler failure nacks
//! the batch for redelivery after `retry_delay`.
//!
//! Keys are recorded only after the handler succeeded and before the ack, so a crash
//! between the two replays events whose keys are absent: the handler sees them again and
//! its effect must be idempotent; a crash after recording only replays deduplicated ones.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use switchyard_bus::{Broker, DeliveryTag, SubscriptionConfig};
use switchyard_contracts::{Envelope, Registry};
use switchyard_state::StateStore;
use tokio_util::sync::CancellationToken;

use crate::{Handler, HandlerError, RuntimeError};

/// How a consumer reads its subscription.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// The subscription it reads (created if missing).
    pub subscription: SubscriptionConfig,
    /// Most events handled in one batch.
    pub batch_size: usize,
    /// How long one fetch waits for events before the loop checks for shutdown.
    pub max_wait: Duration,
    /// Delay before a batch that failed with a retryable error is delivered again.
    pub retry_delay: Duration,
    /// How long an idempotency key is remembered.
    pub idempotency_ttl: Duration,
}

impl ConsumerConfig {
    /// Defaults: batches of 100, 1 s fetch wait, 1 s retry delay, keys kept 7 days.
    pub fn new(subscription: SubscriptionConfig) -> Self {
        ConsumerConfig {
            subscription,
            batch_size: 100,
            max_wait: Duration::from_secs(1),
            retry_delay: Duration::from_secs(1),
            idempotency_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Drives one subscription through a handler.
pub struct Consumer<H> {
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    config: ConsumerConfig,
    handler: H,
}

/// What one step did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StepReport {
    /// Deliveries fetched.
    pub fetched: usize,
    /// Events handed to the handler and done.
    pub handled: usize,
    /// Events skipped as already handled.
    pub duplicates: usize,
    /// Envelopes that could not be decoded.
    pub undecodable: usize,
    /// Events given back for a later retry.
    pub retried: usize,
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
            broker,
            state,
            registry,
            config,
            handler,
        }
    }

    /// Runs until `shutdown` is cancelled. The batch in hand when it is cancelled is
    /// finished (handled and acked) before returning; infrastructure errors are logged and
    /// retried after a pause, never fatal.
    pub async fn run(self, shutdown: CancellationToken) {
        let subscription = self.config.subscription.name.clone();
        let mut pause = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            if let Err(err) = self
                .broker
                .ensure_subscription(&self.config.subscription)
                .await
            {
                tracing::warn!(subscription = %subscription, error = %err, "subscription setup failed, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                pause = (pause * 2).min(Duration::from_secs(10));
                continue;
            }
            break;
        }
        pause = Duration::from_millis(100);
        while !shutdown.is_cancelled() {
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                step = self.step() => step,
            };
            match step {
                Ok(_) => pause = Duration::from_millis(100),
                Err(err) => {
                    tracing::warn!(subscription = %subscription, error = %err, "consumer step failed, retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(10));
                }
            }
        }
        tracing::info!(subscription = %subscription, "consumer stopped");
    }

    /// Fetches and processes one batch (waiting up to `max_wait` for it).
    #[tracing::instrument(skip_all, fields(subscription = %self.config.subscription.name))]
    pub async fn step(&self) -> Result<StepReport, RuntimeError> {
        let name = &self.config.subscription.name;
        let deliveries = self
            .broker
            .fetch(name, self.config.batch_size, self.config.max_wait)
            .await?;
        let mut report = StepReport {
            fetched: deliveries.len(),
            ..StepReport::default()
        };
        if deliveries.is_empty() {
            return Ok(report);
        }
        let mut tags: Vec<DeliveryTag> = Vec::with_capacity(deliveries.len());
        let mut events = Vec::with_capacity(deliveries.len());
        let mut keys = Vec::with_capacity(deliveries.len());
        for delivery in deliveries {
            tags.push(delivery.tag);
            match self.decode(&delivery.message.payload) {
                Ok(decoded) => {
                    for event in decoded {
                        keys.push(self.handler.idempotency_key(&event));
                        events.push(event);
                    }
                }
                Err(err) => {
                    // Publishers validate before publishing, so this is a foreign or
                    // damaged message. It is logged with its position and acknowledged
                    // so that it does not block the subscription.
                    report.undecodable += 1;
                    tracing::error!(
                        subscription = %name,
                        topic = %delivery.topic,
                        seq = delivery.tag.0,
                        error = %err,
                        "undecodable event skipped"
                    );
                }
            }
        }
        let seen = self.state.contains_many(&keys).await?;
        let mut batch_keys = HashSet::new();
        let mut fresh_events = Vec::with_capacity(events.len());
        let mut fresh_keys = Vec::with_capacity(keys.len());
        for ((event, key), already) in events.into_iter().zip(keys).zip(seen) {
            if already || !batch_keys.insert(key.clone()) {
                report.duplicates += 1;
                continue;
            }
            fresh_events.push(event);
            fresh_keys.push(key);
        }
        if !fresh_events.is_empty() {
            let count = fresh_events.len();
            match self.handler.handle(fresh_events).await {
                Ok(()) => {
                    self.state
                        .put_many(&fresh_keys, b"", Some(self.config.idempotency_ttl))
                        .await?;
                    report.handled = count;
                }
                Err(HandlerError::Retryable(reason)) => {
                    tracing::warn!(subscription = %name, events = count, reason = %reason, "batch failed, will retry");
                    self.broker
                        .nack(name, &tags, self.config.retry_delay)
                        .await?;
                    report.retried = tags.len();
                    return Ok(report);
                }
                Err(HandlerError::Permanent(reason)) => {
                    tracing::error!(subscription = %name, events = count, reason = %reason, "batch failed permanently, skipped");
                }
            }
        }
        self.broker.ack(name, &tags).await?;
        Ok(report)
    }

    /// The handler's events in one message: the envelope, upcast to current events
    /// (a legacy batch becomes several), each decoded by the handler.
    fn decode(&self, payload: &[u8]) -> Result<Vec<H::Event>, switchyard_contracts::ContractError> {
        let envelope = Envelope::from_json_slice(payload)?;
        self.registry
            .upcast(envelope)?
            .iter()
            .map(|envelope| self.handler.decode(envelope))
            .collect()
    }
}

#[cfg(test)]
mod tests;
