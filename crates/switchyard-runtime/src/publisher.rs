//! [`Publisher`]: checks envelopes against the event registry and publishes them to
//! their topics as bus messages.
//!
//! A message carries the structured-mode JSON envelope as payload, the partition key as
//! its key, and the standard headers (`X-Correlation-Id`, `X-Idempotency-Key`, retry
//! schedule, `X-Original-Timestamp`, `traceparent`) plus CloudEvents binary-mode `ce-`
//! headers, so brokers and tools can route and trace without parsing the payload.
//!
//! A broker call that fails on a transient error (a restart, a dropped connection:
//! `BusError::is_retryable`) is made again with exponential backoff and jitter, within a
//! time budget ([`PublishRetry`]). Each topic's messages are one broker call, and only
//! the call that failed is made again, never those of topics already stored. A failed
//! call may have stored part of its messages, so a retry can publish some twice:
//! consumers deduplicate by idempotency key.

use std::sync::Arc;
use std::time::Duration;

use switchyard_bus::{Backoff, Broker, BusError, Message};
use switchyard_contracts::{ContractError, Envelope, Outbound, Registry};
use tokio::time::Instant;

use crate::metrics::{METRICS, PublishLabels, RoutingKeyLabel, TopicLabel};
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

/// How a [`Publisher`] retries a broker call that failed on a transient error: after
/// `initial_backoff`, doubling up to `max_backoff` (each wait drawn between half and all
/// of that), until `budget` has passed since the call's first failure or `max_attempts`
/// calls were made; then the last error is returned. A zero budget never retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishRetry {
    /// The wait before the first retry.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// How long after its first failure a broker call is given up.
    pub budget: Duration,
    /// Most calls made in all, the first included; `None`: as many as the budget allows.
    pub max_attempts: Option<u32>,
}

impl Default for PublishRetry {
    /// 100 ms doubling to 2 s, for 15 s: long enough for a broker to restart, short
    /// enough for an HTTP client waiting on `POST /v1/events`.
    fn default() -> Self {
        PublishRetry {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            budget: Duration::from_secs(15),
            max_attempts: None,
        }
    }
}

impl PublishRetry {
    /// The pauses between attempts of one call.
    fn backoff(&self) -> Backoff {
        Backoff::new(self.initial_backoff, self.max_backoff)
    }
}

/// Publishes envelopes. Cloning is cheap.
#[derive(Clone)]
pub struct Publisher {
    broker: Arc<dyn Broker>,
    registry: Arc<Registry>,
    claim_check: Option<ClaimCheck>,
    retry: PublishRetry,
}

impl Publisher {
    /// A publisher on `broker` that checks events against `registry`, retrying
    /// transient broker errors as [`PublishRetry::default`] says.
    pub fn new(broker: Arc<dyn Broker>, registry: Arc<Registry>) -> Self {
        Publisher {
            broker,
            registry,
            claim_check: None,
            retry: PublishRetry::default(),
        }
    }

    /// The same publisher, retrying transient broker errors as `retry` says.
    pub fn with_retry(mut self, retry: PublishRetry) -> Self {
        self.retry = retry;
        self
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

    /// Publishes events already checked by [`Registry::prepare`], one broker call per
    /// topic, retrying a call that fails on a transient error (see [`PublishRetry`]).
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
        // Topics are independent logs: their calls go out together, so an event and its
        // copy on another topic cost one round trip, not two.
        let calls = groups
            .into_iter()
            .map(|(topic, messages)| self.publish_group(topic, messages));
        futures_util::future::join_all(calls)
            .await
            .into_iter()
            .collect::<Result<(), BusError>>()
    }

    /// One topic's messages of [`Publisher::publish_prepared`], counted in the metrics.
    async fn publish_group(&self, topic: String, messages: Vec<Message>) -> Result<(), BusError> {
        let count = messages.len() as u64;
        let labels = RoutingKeyLabel {
            routing_key: topic.clone(),
        };
        let started = Instant::now();
        if let Err(err) = self.publish_with_retry(&topic, messages).await {
            METRICS
                .event_publish_failures
                .get_or_create(&labels)
                .inc_by(count);
            return Err(err);
        }
        METRICS
            .event_publish_duration
            .observe(started.elapsed().as_secs_f64());
        METRICS
            .events_published
            .get_or_create(&labels)
            .inc_by(count);
        METRICS
            .publisher_events
            .get_or_create(&PublishLabels {
                topic,
                outcome: "published",
            })
            .inc_by(count);
        Ok(())
    }

    /// One broker call for `topic`, made again while it fails on a transient error and
    /// the retry budget lasts.
    async fn publish_with_retry(
        &self,
        topic: &str,
        messages: Vec<Message>,
    ) -> Result<(), BusError> {
        let mut deadline = None;
        let mut retry = 0;
        let mut backoff = self.retry.backoff();
        loop {
            let err = match self.broker.publish(topic, messages.clone()).await {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + self.retry.budget);
            let attempts_spent = self
                .retry
                .max_attempts
                .is_some_and(|max_attempts| retry + 1 >= max_attempts);
            if !err.is_retryable() || now >= deadline || attempts_spent {
                if retry > 0 {
                    tracing::warn!(topic = %topic, attempts = retry + 1, error = %err, "publish retries exhausted");
                }
                return Err(err);
            }
            retry += 1;
            let delay = backoff.next_delay().min(deadline - now);
            tracing::warn!(
                topic = %topic,
                messages = messages.len(),
                retry,
                delay_ms = delay.as_millis() as u64,
                error = %err,
                "publish failed on a transient broker error, retrying"
            );
            METRICS
                .publisher_retries
                .get_or_create(&TopicLabel {
                    topic: topic.to_string(),
                })
                .inc();
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;
    use switchyard_bus::{
        BusErrorKind, Delivery, DeliveryTag, DownBroker, SubscriptionConfig, SubscriptionStats,
        TopicStats,
    };
    use switchyard_contracts::{CalendarItem, Email};

    use super::*;
    use crate::office_envelope;

    /// A broker whose publish calls to a topic first fail with the scripted errors, then
    /// store their messages; every other call fails like [`DownBroker`]'s.
    #[derive(Default)]
    struct ScriptedBroker {
        failures: Mutex<HashMap<String, Vec<BusErrorKind>>>,
        attempts: Mutex<HashMap<String, usize>>,
        stored: Mutex<Vec<(String, String)>>,
    }

    impl ScriptedBroker {
        fn failing(topic: &str, kinds: &[BusErrorKind]) -> Arc<Self> {
            let broker = ScriptedBroker::default();
            broker
                .failures
                .lock()
                .unwrap()
                .insert(topic.to_string(), kinds.iter().rev().copied().collect());
            Arc::new(broker)
        }

        fn attempts(&self, topic: &str) -> usize {
            self.attempts
                .lock()
                .unwrap()
                .get(topic)
                .copied()
                .unwrap_or(0)
        }

        /// (topic, event id) of every stored message, in order.
        fn stored(&self) -> Vec<(String, String)> {
            self.stored.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Broker for ScriptedBroker {
        async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), BusError> {
            *self
                .attempts
                .lock()
                .unwrap()
                .entry(topic.to_string())
                .or_default() += 1;
            let failure = self
                .failures
                .lock()
                .unwrap()
                .get_mut(topic)
                .and_then(Vec::pop);
            if let Some(kind) = failure {
                return Err(BusError::new(kind, "connection reset by peer"));
            }
            let mut stored = self.stored.lock().unwrap();
            for message in messages {
                let id = message.header("ce-id").expect("ce-id header").to_string();
                stored.push((topic.to_string(), id));
            }
            Ok(())
        }
        async fn ensure_subscription(&self, config: &SubscriptionConfig) -> Result<(), BusError> {
            DownBroker.ensure_subscription(config).await
        }
        async fn fetch(
            &self,
            name: &str,
            max: usize,
            wait: Duration,
        ) -> Result<Vec<Delivery>, BusError> {
            DownBroker.fetch(name, max, wait).await
        }
        async fn ack(&self, name: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
            DownBroker.ack(name, tags).await
        }
        async fn nack(
            &self,
            name: &str,
            tags: &[DeliveryTag],
            delay: Duration,
        ) -> Result<(), BusError> {
            DownBroker.nack(name, tags, delay).await
        }
        async fn release(&self, name: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
            DownBroker.release(name, tags).await
        }
        async fn browse(
            &self,
            topic: &str,
            from: u64,
            max: usize,
        ) -> Result<Vec<(u64, Message)>, BusError> {
            DownBroker.browse(topic, from, max).await
        }
        async fn remove(&self, topic: &str, seqs: &[u64]) -> Result<u64, BusError> {
            DownBroker.remove(topic, seqs).await
        }
        async fn topics(&self) -> Result<Vec<TopicStats>, BusError> {
            DownBroker.topics().await
        }
        async fn ping(&self) -> Result<(), BusError> {
            DownBroker.ping().await
        }
        async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
            DownBroker.stats().await
        }
    }

    fn email(id: &str) -> Envelope {
        office_envelope(
            "alice",
            Email {
                id: id.into(),
                subject: format!("subject {id}"),
                ..Email::default()
            },
        )
    }

    fn calendar(id: &str) -> Envelope {
        office_envelope(
            "alice",
            CalendarItem {
                id: id.into(),
                title: "standup".into(),
                ..CalendarItem::default()
            },
        )
    }

    fn publisher(broker: Arc<dyn Broker>) -> Publisher {
        Publisher::new(broker, Arc::new(Registry::standard()))
    }

    fn stored_pairs(envelopes: &[(&str, &Envelope)]) -> Vec<(String, String)> {
        envelopes
            .iter()
            .map(|(topic, envelope)| (topic.to_string(), envelope.id.clone()))
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_with_growing_waits_until_the_broker_is_back() {
        let broker = ScriptedBroker::failing("emails", &[BusErrorKind::Unavailable; 3]);
        let events = [email("a"), email("b")];
        let started = Instant::now();
        let report = publisher(broker.clone()).publish(&events).await.unwrap();
        assert_eq!(report.published, 2);
        assert_eq!(broker.attempts("emails"), 4);
        assert_eq!(
            broker.stored(),
            stored_pairs(&[("emails", &events[0]), ("emails", &events[1])]),
            "each event stored once"
        );
        // Waits of 100, 200 and 400 ms, each jittered down to no less than half.
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(350) && waited <= Duration::from_millis(700),
            "{waited:?}"
        );
        let metrics = crate::encode_metrics();
        assert!(
            metrics.contains("switchyard_publisher_retries_total{topic=\"emails\"}"),
            "{metrics}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_the_failed_topic_is_sent_again() {
        let broker = ScriptedBroker::failing("calendars", &[BusErrorKind::Unavailable]);
        let events = [email("a"), calendar("c"), email("b")];
        publisher(broker.clone()).publish(&events).await.unwrap();
        assert_eq!(broker.attempts("emails"), 1);
        assert_eq!(broker.attempts("calendars"), 2);
        assert_eq!(
            broker.stored(),
            stored_pairs(&[
                ("emails", &events[0]),
                ("emails", &events[2]),
                ("calendars", &events[1]),
            ])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_broker_that_stays_down_fails_with_its_error_after_the_budget() {
        let started = Instant::now();
        let err = publisher(Arc::new(DownBroker))
            .publish(&[email("a")])
            .await
            .unwrap_err();
        let PublishError::Bus(err) = err else {
            panic!("not a broker error: {err}");
        };
        assert_eq!(err.kind(), BusErrorKind::Unavailable);
        assert_eq!(err.to_string(), "broker down");
        let waited = started.elapsed();
        let budget = PublishRetry::default().budget;
        assert!(
            waited >= budget && waited < budget + Duration::from_millis(10),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_is_configurable_and_zero_never_retries() {
        let broker = ScriptedBroker::failing("emails", &[BusErrorKind::Unavailable; 100]);
        let retry = PublishRetry {
            budget: Duration::from_secs(1),
            ..PublishRetry::default()
        };
        let started = Instant::now();
        publisher(broker.clone())
            .with_retry(retry)
            .publish(&[email("a")])
            .await
            .unwrap_err();
        let waited = started.elapsed();
        assert!(
            waited >= retry.budget && waited < retry.budget + Duration::from_millis(10),
            "{waited:?}"
        );
        let tried = broker.attempts("emails");
        assert!((4..=8).contains(&tried), "{tried} attempts in 1 s");

        let broker = ScriptedBroker::failing("emails", &[BusErrorKind::Unavailable]);
        let no_retry = PublishRetry {
            budget: Duration::ZERO,
            ..PublishRetry::default()
        };
        publisher(broker.clone())
            .with_retry(no_retry)
            .publish(&[email("a")])
            .await
            .unwrap_err();
        assert_eq!(broker.attempts("emails"), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempts_cap_stops_before_the_budget() {
        let broker = ScriptedBroker::failing("emails", &[BusErrorKind::Unavailable; 100]);
        let capped = PublishRetry {
            max_attempts: Some(3),
            ..PublishRetry::default()
        };
        let started = Instant::now();
        publisher(broker.clone())
            .with_retry(capped)
            .publish(&[email("a")])
            .await
            .unwrap_err();
        assert_eq!(broker.attempts("emails"), 3);
        // Two pauses: at most 100 ms, then at most 200 ms.
        assert!(
            started.elapsed() <= Duration::from_millis(300),
            "{:?}",
            started.elapsed()
        );
        let succeeding = ScriptedBroker::failing("emails", &[BusErrorKind::Unavailable; 2]);
        publisher(succeeding.clone())
            .with_retry(capped)
            .publish(&[email("a")])
            .await
            .expect("the third attempt is still made");
        assert_eq!(succeeding.attempts("emails"), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_that_are_not_transient_come_back_at_once() {
        for kind in [
            BusErrorKind::InvalidArgument,
            BusErrorKind::Corrupt,
            BusErrorKind::Closed,
        ] {
            let broker = ScriptedBroker::failing("emails", &[kind]);
            let started = Instant::now();
            let err = publisher(broker.clone())
                .publish(&[email("a")])
                .await
                .unwrap_err();
            assert!(
                matches!(err, PublishError::Bus(ref err) if err.kind() == kind),
                "{err}"
            );
            assert_eq!(broker.attempts("emails"), 1, "{kind:?}");
            assert_eq!(started.elapsed(), Duration::ZERO);
        }
    }
}
