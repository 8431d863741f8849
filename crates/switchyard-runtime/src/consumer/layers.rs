//! The consumer's layers, each a small function over the batch in hand. An [`Item`] is
//! one delivered message; its `verdict` starts `Pending` and each layer only looks at
//! pending items, so a message that failed early skips the rest of the chain.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use switchyard_bus::{Broker, Delivery, DeliveryTag, is_dead_letter_topic, is_pattern};
use switchyard_contracts::{Envelope, IdempotencyKey, Registry, headers};
use switchyard_state::StateStore;

use super::{ConsumerConfig, StepReport};
use crate::dead_letter::{DeadLetter, FailedBy, FailureKind};
use crate::metrics::{METRICS, SubscriptionLabel};
use crate::{ClaimCheck, Handler, Incoming, KeyTtls, Outcome, RuntimeError};

/// Where a message stands in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Still going through the layers.
    Pending,
    /// Handled.
    Done,
    /// Every event in it was handled before.
    Duplicate,
    /// Failed for now; retried if retries remain.
    Retry(String),
    /// Failed for good.
    Fail(FailureKind, String),
    /// A dead letter delivered to the consumer: left alone.
    SkippedDeadLetter,
}

/// One delivered message on its way through the chain.
pub(crate) struct Item {
    pub delivery: Delivery,
    /// `X-Retry-Count` of the message plus the retries the broker counted.
    pub retry_count: u32,
    /// The current events it stands for (one, or several for an upcast legacy batch).
    pub envelopes: Vec<Envelope>,
    /// Idempotency key of each envelope (same order).
    pub keys: Vec<Option<IdempotencyKey>>,
    /// Which envelopes the handler finished (same order).
    pub done: Vec<bool>,
    pub verdict: Verdict,
}

fn header_number<T: std::str::FromStr>(delivery: &Delivery, name: &str) -> Option<T> {
    delivery
        .message
        .header(name)
        .and_then(|value| value.trim().parse().ok())
}

impl Item {
    pub(crate) fn new(delivery: Delivery) -> Self {
        let published_retries: u32 = header_number(&delivery, headers::RETRY_COUNT).unwrap_or(0);
        Item {
            retry_count: published_retries + delivery.retry_count,
            delivery,
            envelopes: Vec::new(),
            keys: Vec::new(),
            done: Vec::new(),
            verdict: Verdict::Pending,
        }
    }

    fn pending(&self) -> bool {
        self.verdict == Verdict::Pending
    }

    /// (event id, event type) of the first envelope, for dead letters and logs.
    fn event(&self) -> Option<(&str, &str)> {
        self.envelopes
            .first()
            .map(|e| (e.id.as_str(), e.event_type.as_str()))
    }
}

/// A dead letter is no event: handling it would fail to decode and dead-letter it again
/// (into the consumer's own dead-letter topic: a loop). So a message is acked untouched
/// when it comes from the consumer's own dead-letter topic (a subscription to the very
/// topic it dead-letters to), or from any dead-letter topic through a topic pattern. No
/// bus routes the latter (a pattern never matches a dead-letter topic): a last defence.
pub(crate) fn skip_dead_letters(config: &ConsumerConfig, items: &mut [Item]) {
    let by_pattern = is_pattern(&config.subscription.topic);
    for item in items.iter_mut() {
        let topic = item.delivery.topic.as_str();
        if config.dead_letter_topic.as_deref() == Some(topic)
            || (by_pattern && is_dead_letter_topic(topic))
        {
            item.verdict = Verdict::SkippedDeadLetter;
        }
    }
}

/// Bytes → envelope → current events (upcast). Failures are dead-lettered at once.
pub(crate) fn decode(registry: &Registry, items: &mut [Item]) {
    for item in items.iter_mut().filter(|item| item.pending()) {
        let envelope = match Envelope::from_json_slice(&item.delivery.message.payload) {
            Ok(envelope) => envelope,
            Err(err) => {
                item.verdict = Verdict::Fail(FailureKind::Undecodable, err.to_string());
                continue;
            }
        };
        let upcast = match registry.upcast(envelope.clone()) {
            // Not ours to decide here: `validate` reports unknown types as invalid.
            Err(switchyard_contracts::ContractError::UnknownEventType(_)) => {
                Ok(vec![envelope.clone()])
            }
            other => other,
        };
        match upcast {
            Ok(envelopes) => {
                item.keys = vec![None; envelopes.len()];
                item.done = vec![false; envelopes.len()];
                item.envelopes = envelopes;
            }
            Err(err) => {
                // Kept so that the dead letter names the event.
                item.envelopes = vec![envelope];
                item.verdict = Verdict::Fail(FailureKind::Undecodable, err.to_string());
            }
        }
    }
}

/// Every event must be of a registered type; its attributes must hold.
pub(crate) fn validate(registry: &Registry, items: &mut [Item]) {
    for item in items.iter_mut().filter(|item| item.pending()) {
        let invalid = item.envelopes.iter().find_map(|envelope| {
            envelope
                .validate()
                .and_then(|()| {
                    registry
                        .definition(&envelope.event_type)
                        .map(|_| ())
                        .ok_or_else(|| {
                            switchyard_contracts::ContractError::UnknownEventType(
                                envelope.event_type.clone(),
                            )
                        })
                })
                .err()
        });
        if let Some(err) = invalid {
            item.verdict = Verdict::Fail(FailureKind::Invalid, err.to_string());
        }
    }
}

/// Drops events this subscription already handled (or that repeat within the batch); a
/// message whose events are all known is a duplicate.
pub(crate) async fn deduplicate(
    state: &dyn StateStore,
    registry: &Registry,
    subscription: &str,
    items: &mut [Item],
) -> Result<(), RuntimeError> {
    let mut lookups = Vec::new();
    for (index, item) in items
        .iter_mut()
        .enumerate()
        .filter(|(_, item)| item.pending())
    {
        for (position, envelope) in item.envelopes.iter().enumerate() {
            let key = registry.idempotency_key(subscription, envelope);
            if let Some(key) = &key {
                lookups.push((index, position, key.key.clone()));
            }
            item.keys[position] = key;
        }
    }
    let keys: Vec<String> = lookups.iter().map(|(_, _, key)| key.clone()).collect();
    let seen = state.contains_many(&keys).await?;
    let mut in_batch = HashSet::new();
    for ((index, position, key), already) in lookups.into_iter().zip(seen) {
        if already || !in_batch.insert(key) {
            items[index].done[position] = true;
        }
    }
    for item in items.iter_mut().filter(|item| item.pending()) {
        if item.done.iter().all(|done| *done) {
            item.verdict = Verdict::Duplicate;
        }
    }
    Ok(())
}

/// Payloads stored by reference come back from the state store; a missing or corrupt
/// one makes the message a retry.
pub(crate) async fn resolve_claim_checks(claim_check: &ClaimCheck, items: &mut [Item]) {
    for item in items.iter_mut().filter(|item| item.pending()) {
        for (envelope, done) in item.envelopes.iter_mut().zip(&item.done) {
            if *done {
                continue;
            }
            if let Err(reason) = claim_check.resolve(envelope).await {
                item.verdict = Verdict::Retry(reason);
                break;
            }
        }
    }
}

/// The handler, timed and traced, on every event not yet done.
pub(crate) async fn handle<H: Handler>(handler: &H, subscription: &str, items: &mut [Item]) {
    let mut batch = Vec::new();
    let mut owners = Vec::new();
    for (index, item) in items
        .iter_mut()
        .enumerate()
        .filter(|(_, item)| item.pending())
    {
        let mut decoded = Vec::new();
        for (position, envelope) in item.envelopes.iter().enumerate() {
            if item.done[position] {
                continue;
            }
            match handler.decode(envelope) {
                Ok(event) => decoded.push((
                    position,
                    Incoming {
                        event,
                        event_id: envelope.id.clone(),
                        retry_count: item.retry_count,
                        correlation_id: envelope.correlationid.clone(),
                        traceparent: envelope.traceparent.clone(),
                    },
                )),
                Err(err) => {
                    item.verdict = Verdict::Fail(FailureKind::Invalid, err.to_string());
                    break;
                }
            }
        }
        if item.pending() {
            for (position, incoming) in decoded {
                owners.push((index, position));
                batch.push(incoming);
            }
        }
    }
    if batch.is_empty() {
        mark_handled(items);
        return;
    }
    let count = batch.len();
    let started = Instant::now();
    let span = tracing::info_span!("handler", subscription, events = count);
    let outcomes = tracing::Instrument::instrument(handler.handle(batch), span).await;
    METRICS
        .handler_duration
        .get_or_create(&SubscriptionLabel {
            subscription: subscription.to_string(),
        })
        .observe(started.elapsed().as_secs_f64());
    debug_assert_eq!(
        outcomes.len(),
        count,
        "a handler returns one outcome per event"
    );
    for ((index, position), outcome) in owners.into_iter().zip(outcomes) {
        let item = &mut items[index];
        match outcome {
            Outcome::Done => item.done[position] = true,
            Outcome::Retry(reason) => {
                if item.pending() {
                    item.verdict = Verdict::Retry(reason);
                }
            }
            Outcome::Fail(reason) => item.verdict = Verdict::Fail(FailureKind::Permanent, reason),
        }
    }
    mark_handled(items);
}

fn mark_handled(items: &mut [Item]) {
    for item in items.iter_mut().filter(|item| item.pending()) {
        if item.done.iter().all(|done| *done) {
            item.verdict = Verdict::Done;
        }
    }
}

/// Remembers the keys of every event the handler finished, even in a message that will
/// be retried, so that a retry does not handle them twice.
pub(crate) async fn record_keys(
    state: &dyn StateStore,
    ttls: &KeyTtls,
    items: &[Item],
) -> Result<(), RuntimeError> {
    let mut by_ttl: Vec<(Duration, Vec<String>)> = Vec::new();
    for item in items
        .iter()
        .filter(|item| item.verdict != Verdict::Duplicate)
    {
        for (key, done) in item.keys.iter().zip(&item.done) {
            let Some(key) = key.as_ref().filter(|_| *done) else {
                continue;
            };
            let ttl = ttls.get(key.class);
            match by_ttl.iter_mut().find(|(group_ttl, _)| *group_ttl == ttl) {
                Some((_, keys)) => keys.push(key.key.clone()),
                None => by_ttl.push((ttl, vec![key.key.clone()])),
            }
        }
    }
    for (ttl, keys) in by_ttl {
        state.put_many(&keys, b"", Some(ttl)).await?;
    }
    Ok(())
}

/// The retry policy of a message: its headers, else the subscription's defaults.
fn retry_schedule(config: &ConsumerConfig, delivery: &Delivery) -> (u32, Vec<Duration>) {
    let max = header_number(delivery, headers::MAX_RETRIES).unwrap_or(config.retry.max_retries);
    let backoff: Vec<Duration> = delivery
        .message
        .header(headers::BACKOFF_MS)
        .map(|list| {
            list.split(',')
                .filter_map(|ms| ms.trim().parse::<u64>().ok())
                .map(Duration::from_millis)
                .collect()
        })
        .filter(|list: &Vec<Duration>| !list.is_empty())
        .unwrap_or_else(|| config.retry.backoff.clone());
    (max, backoff)
}

/// Acks, nacks for a later retry, or dead-letters each message.
pub(crate) async fn settle(
    broker: &dyn Broker,
    config: &ConsumerConfig,
    items: Vec<Item>,
) -> Result<StepReport, RuntimeError> {
    let subscription = &config.subscription.name;
    let mut report = StepReport {
        fetched: items.len(),
        ..StepReport::default()
    };
    let mut acks: Vec<DeliveryTag> = Vec::new();
    let mut retries: Vec<(Duration, Vec<DeliveryTag>)> = Vec::new();
    for item in items {
        let tag = item.delivery.tag;
        let failure = match &item.verdict {
            Verdict::Done => {
                report.handled += 1;
                None
            }
            Verdict::Duplicate => {
                report.duplicates += 1;
                None
            }
            Verdict::SkippedDeadLetter => {
                tracing::error!(subscription = %subscription, seq = tag.0, topic = %item.delivery.topic, "dead letter delivered to a consumer, acked untouched");
                report.dead_letters_skipped += 1;
                None
            }
            Verdict::Pending => unreachable!("every layer leaves a verdict"),
            Verdict::Retry(reason) => {
                let (max_retries, backoff) = retry_schedule(config, &item.delivery);
                if item.retry_count < max_retries {
                    let delay = backoff
                        .get(item.retry_count as usize)
                        .or(backoff.last())
                        .copied()
                        .unwrap_or_default();
                    tracing::warn!(subscription = %subscription, seq = tag.0, retry = item.retry_count + 1, delay_ms = delay.as_millis() as u64, reason = %reason, "retry scheduled");
                    match retries.iter_mut().find(|(group, _)| *group == delay) {
                        Some((_, tags)) => tags.push(tag),
                        None => retries.push((delay, vec![tag])),
                    }
                    report.retried += 1;
                    continue;
                }
                Some((FailureKind::RetriesExhausted, reason.clone()))
            }
            Verdict::Fail(kind, reason) => Some((*kind, reason.clone())),
        };
        if let Some((kind, reason)) = failure {
            let letter = DeadLetter::new(
                &item.delivery,
                item.event(),
                reason,
                kind,
                item.retry_count,
                FailedBy {
                    service: config.service.clone(),
                    subscription: subscription.clone(),
                },
            );
            let dead_letter_topic = config.dead_letter_topic_for(&item.delivery.topic);
            tracing::error!(subscription = %subscription, seq = tag.0, error_type = kind.as_str(), error = %letter.error, dead_letter_topic = %dead_letter_topic, "message dead-lettered");
            broker
                .publish(&dead_letter_topic, vec![letter.to_message()])
                .await?;
            report.dead_lettered += 1;
        }
        acks.push(tag);
    }
    for (delay, tags) in retries {
        broker.nack(subscription, &tags, delay).await?;
    }
    broker.ack(subscription, &acks).await?;
    METRICS.count(subscription, "handled", report.handled);
    METRICS.count(subscription, "duplicate", report.duplicates);
    METRICS.count(subscription, "retried", report.retried);
    METRICS.count(subscription, "dead_lettered", report.dead_lettered);
    METRICS.count(
        subscription,
        "dead_letter_skipped",
        report.dead_letters_skipped,
    );
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use switchyard_bus::{Message, SubscriptionConfig};
    use switchyard_contracts::{Email, EmailEvent, Operation, SyncType};
    use switchyard_state::EmbeddedState;

    use super::*;

    fn delivery(payload: Vec<u8>, headers: Vec<(&str, &str)>, retry_count: u32) -> Delivery {
        Delivery {
            tag: DeliveryTag(1),
            topic: "emails".into(),
            message: Message {
                key: None,
                headers: headers
                    .into_iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
                payload,
            },
            delivery_count: 1,
            retry_count,
        }
    }

    fn email_bytes(id: &str) -> Vec<u8> {
        let item = Email {
            id: id.into(),
            ..Email::default()
        };
        EmailEvent::new(
            Operation::Create,
            SyncType::Backfill,
            "t",
            "alice",
            "b",
            item,
        )
        .to_envelope("/t", "job")
        .unwrap()
        .to_json_bytes()
    }

    fn items(payloads: Vec<Vec<u8>>) -> Vec<Item> {
        payloads
            .into_iter()
            .map(|p| Item::new(delivery(p, vec![], 0)))
            .collect()
    }

    #[test]
    fn decode_fails_bytes_that_are_no_envelope_and_upcasts_legacy_batches() {
        let registry = Registry::standard();
        let legacy = Envelope::new(
            "switchyard.office.email_backfill",
            "/old",
            json!({"batch_id": "b", "user_id": "u", "provider": "p", "sync_timestamp": "2024-01-01T00:00:00Z",
                   "emails": [{"id": "1"}, {"id": "2"}, {"id": "3"}]}),
        );
        let mut batch = items(vec![
            b"{".to_vec(),
            email_bytes("a"),
            legacy.to_json_bytes(),
        ]);
        decode(&registry, &mut batch);
        assert!(matches!(
            batch[0].verdict,
            Verdict::Fail(FailureKind::Undecodable, _)
        ));
        assert_eq!(
            (batch[1].verdict.clone(), batch[1].envelopes.len()),
            (Verdict::Pending, 1)
        );
        assert_eq!(
            (batch[2].verdict.clone(), batch[2].envelopes.len()),
            (Verdict::Pending, 3)
        );
    }

    #[test]
    fn validate_fails_unknown_event_types() {
        let registry = Registry::standard();
        let unknown = Envelope::new("com.example.other", "/t", json!({})).to_json_bytes();
        let mut batch = items(vec![unknown, email_bytes("a")]);
        decode(&registry, &mut batch);
        validate(&registry, &mut batch);
        assert!(
            matches!(&batch[0].verdict, Verdict::Fail(FailureKind::Invalid, reason) if reason.contains("com.example.other"))
        );
        assert_eq!(batch[1].verdict, Verdict::Pending);
    }

    #[tokio::test]
    async fn deduplicate_marks_known_and_repeated_events() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        let registry = Registry::standard();
        let known = registry
            .idempotency_key(
                "s",
                &Envelope::from_json_slice(&email_bytes("known")).unwrap(),
            )
            .unwrap();
        state.put_many(&[known.key], b"", None).await.unwrap();
        let mut batch = items(vec![
            email_bytes("known"),
            email_bytes("new"),
            email_bytes("new"),
        ]);
        decode(&registry, &mut batch);
        deduplicate(&state, &registry, "s", &mut batch)
            .await
            .unwrap();
        let verdicts: Vec<Verdict> = batch.iter().map(|item| item.verdict.clone()).collect();
        assert_eq!(
            verdicts,
            [Verdict::Duplicate, Verdict::Pending, Verdict::Duplicate]
        );
        // Another subscription has handled nothing yet.
        let mut other = items(vec![email_bytes("known")]);
        decode(&registry, &mut other);
        deduplicate(&state, &registry, "other", &mut other)
            .await
            .unwrap();
        assert_eq!(other[0].verdict, Verdict::Pending);
    }

    #[test]
    fn dead_letters_delivered_to_a_consumer_are_skipped() {
        let check = |subscribed: &str, own: Option<&str>, topic: &str, skipped: bool| {
            let mut config = ConsumerConfig::new(SubscriptionConfig::new("s", subscribed));
            if let Some(own) = own {
                config = config.with_dead_letter_topic(own).unwrap();
            }
            let mut item = Item::new(delivery(email_bytes("a"), vec![], 0));
            item.delivery.topic = topic.into();
            let mut batch = vec![item];
            skip_dead_letters(&config, &mut batch);
            assert_eq!(
                batch[0].verdict == Verdict::SkippedDeadLetter,
                skipped,
                "{subscribed} (dead letters to {own:?}) delivered {topic}"
            );
        };
        // Through a pattern, any dead-letter topic: a bus breaking the rule.
        check("email.#", Some("email.errors"), "email.errors", true);
        check("email.#", None, "email.verification.requested.dlq.v1", true);
        check("#", None, "billing.errors", true);
        check("email.#", Some("email.errors"), "email.sent", false);
        // Its own dead-letter topic, read exactly.
        check("email.errors", Some("email.errors"), "email.errors", true);
        // A consumer of a dead-letter topic by name reads its letters.
        check("email.errors", None, "email.errors", false);
        check("x.dlq.v1", Some("x.errors"), "x.dlq.v1", false);
    }

    #[test]
    fn a_named_dead_letter_topic_must_be_one() {
        let config = || ConsumerConfig::new(SubscriptionConfig::new("mailer", "email.#"));
        for valid in ["email.errors", "errors", "emails.dlq.v1"] {
            let config = config().with_dead_letter_topic(valid).unwrap();
            assert_eq!(config.dead_letter_topic.as_deref(), Some(valid));
        }
        for invalid in ["emails", "email.errors.v2", "email.#", ""] {
            let err = config().with_dead_letter_topic(invalid).unwrap_err();
            assert_eq!(
                err.kind(),
                switchyard_bus::BusErrorKind::InvalidArgument,
                "{invalid}"
            );
        }
        let err = config().with_dead_letter_topic("emails").unwrap_err();
        assert!(
            err.to_string()
                .contains("dead-letter topic `emails` of subscription `mailer`"),
            "{err}"
        );
    }

    #[test]
    fn the_retry_schedule_comes_from_headers_then_the_config() {
        let config = ConsumerConfig::new(SubscriptionConfig::new("s", "t"));
        let with_headers = delivery(
            vec![],
            vec![("X-Max-Retries", "5"), ("X-Backoff-Ms", "10, 20")],
            0,
        );
        assert_eq!(
            retry_schedule(&config, &with_headers),
            (
                5,
                vec![Duration::from_millis(10), Duration::from_millis(20)]
            )
        );
        let without = delivery(vec![], vec![("X-Backoff-Ms", "soon")], 0);
        assert_eq!(
            retry_schedule(&config, &without),
            (config.retry.max_retries, config.retry.backoff.clone())
        );
    }

    #[test]
    fn the_retry_count_adds_the_header_and_the_broker_count() {
        let item = Item::new(delivery(vec![], vec![("X-Retry-Count", "2")], 1));
        assert_eq!(item.retry_count, 3);
    }

    #[tokio::test]
    async fn record_keys_remembers_only_finished_events() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(EmbeddedState::open(dir.path()).unwrap());
        let registry = Registry::standard();
        let mut batch = items(vec![email_bytes("done"), email_bytes("retried")]);
        decode(&registry, &mut batch);
        deduplicate(state.as_ref(), &registry, "s", &mut batch)
            .await
            .unwrap();
        batch[0].done[0] = true;
        batch[0].verdict = Verdict::Done;
        batch[1].verdict = Verdict::Retry("busy".into());
        record_keys(state.as_ref(), &KeyTtls::default(), &batch)
            .await
            .unwrap();
        let keys: Vec<String> = batch
            .iter()
            .map(|item| item.keys[0].clone().unwrap().key)
            .collect();
        assert_eq!(state.contains_many(&keys).await.unwrap(), [true, false]);
    }
}
