//! [`Publisher`]: checks envelopes against the event registry and publishes them to
//! their topics as bus messages.
//!
//! A message carries the structured-mode JSON envelope as payload, the partition key as
//! its key, and the standard headers (`X-Correlation-Id`, `X-Idempotency-Key`, retry
//! schedule, `X-Original-Timestamp`, `traceparent`) plus CloudEvents binary-mode `ce-`
//! headers, so brokers and tools can route and trace without parsing the payload.

use std::sync::Arc;

use switchyard_bus::{Broker, BusError, Message};
use switchyard_contracts::{ContractError, Envelope, Outbound, Registry};

use crate::metrics::{METRICS, PublishLabels};
use crate::{ClaimCheck, OffloadError, PublishError};

/// An envelope the registry refused, and why.
#[derive(Debug)]
pub struct RejectedEvent {
    /// Its position in the published slice.
    pub index: usize,
    /// Its id.
    pub event_id: String,
    /// What is wrong with it.
    pub error: ContractError,
}

/// What one `publish` call did.
#[derive(Debug, Default)]
pub struct PublishReport {
    /// Events published (durable).
    pub published: usize,
    /// Events refused; the others were published all the same.
    pub rejected: Vec<RejectedEvent>,
}

/// Publishes envelopes. Cloning is cheap.
#[derive(Clone)]
pub struct Publisher {
    broker: Arc<dyn Broker>,
    registry: Arc<Registry>,
    claim_check: Option<ClaimCheck>,
}

impl Publisher {
    /// A publisher on `broker` that checks events against `registry`.
    pub fn new(broker: Arc<dyn Broker>, registry: Arc<Registry>) -> Self {
        Publisher {
            broker,
            registry,
            claim_check: None,
        }
    }

    /// The same publisher, storing payloads over the claim check's threshold by
    /// reference instead of refusing them.
    pub fn with_claim_check(mut self, claim_check: ClaimCheck) -> Self {
        self.claim_check = Some(claim_check);
        self
    }

    /// The registry events are checked against.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Checks every envelope; publishes the valid ones, grouped by topic in their order,
    /// and reports the refused ones. Returns once the published ones are durable.
    pub async fn publish(&self, envelopes: &[Envelope]) -> Result<PublishReport, PublishError> {
        let mut report = PublishReport::default();
        let mut ready = Vec::with_capacity(envelopes.len());
        for (index, envelope) in envelopes.iter().enumerate() {
            let offloaded = match &self.claim_check {
                Some(claim_check) => match claim_check.offload(&self.registry, envelope).await {
                    Ok(offloaded) => offloaded,
                    Err(OffloadError::Invalid(error)) => {
                        report.rejected.push(RejectedEvent {
                            index,
                            event_id: envelope.id.clone(),
                            error,
                        });
                        continue;
                    }
                    Err(OffloadError::State(err)) => return Err(err.into()),
                },
                None => None,
            };
            match self
                .registry
                .prepare(offloaded.as_ref().unwrap_or(envelope))
            {
                Ok(outbound) => ready.push(outbound),
                Err(error) => report.rejected.push(RejectedEvent {
                    index,
                    event_id: envelope.id.clone(),
                    error,
                }),
            }
        }
        report.published = ready.len();
        for rejected in &report.rejected {
            let topic = self
                .registry
                .definition(&envelopes[rejected.index].event_type)
                .map_or("unknown", |definition| definition.topic);
            METRICS
                .publisher_events
                .get_or_create(&PublishLabels {
                    topic: topic.to_string(),
                    outcome: "rejected",
                })
                .inc();
        }
        self.publish_prepared(ready).await?;
        Ok(report)
    }

    /// Publishes events already checked by [`Registry::prepare`].
    pub async fn publish_prepared(&self, events: Vec<Outbound>) -> Result<(), BusError> {
        let mut groups: Vec<(String, Vec<Message>)> = Vec::new();
        for event in events {
            let message = Message {
                key: Some(event.partition_key),
                headers: event.headers,
                payload: event.payload,
            };
            match groups.iter_mut().find(|(topic, _)| *topic == event.topic) {
                Some((_, messages)) => messages.push(message),
                None => groups.push((event.topic, vec![message])),
            }
        }
        for (topic, messages) in groups {
            let count = messages.len() as u64;
            self.broker.publish(&topic, messages).await?;
            METRICS
                .publisher_events
                .get_or_create(&PublishLabels {
                    topic,
                    outcome: "published",
                })
                .inc_by(count);
        }
        Ok(())
    }
}
