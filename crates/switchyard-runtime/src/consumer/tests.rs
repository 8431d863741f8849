//! Consumer tests on the embedded engines beyond the runtime conformance suite (which
//! `tests/conformance.rs` runs on them): retry delays that do not block, retries running
//! out, undecodable bytes, mutable item versions, claim checks on the wire, refused events,
//! headers, legacy upcasts and metrics.

use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::json;
use switchyard_bus::{EmbeddedBroker, Message};
use switchyard_contracts::{
    AnyOfficeEvent, Contact, ContactEvent, ContractError, Email, Envelope, Operation, Registry,
    SyncType, decode_office_event,
};
use switchyard_state::EmbeddedState;

use super::*;
use crate::{
    DeadLetterFilter, DeadLetterQueue, FailureKind, Incoming, Outcome, Publisher, Recorder,
    fast_retry_registry, office_envelope,
};

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

struct Fixture {
    dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    publisher: Publisher,
    consumer: Consumer<Arc<Recorder>>,
    recorder: Arc<Recorder>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let state: Arc<dyn StateStore> =
        Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let registry = Arc::new(fast_retry_registry());
    let subscription = SubscriptionConfig::new("test-emails", "emails")
        .with_ack_deadline(Duration::from_millis(300));
    let mut config = ConsumerConfig::new(subscription);
    config.max_wait = Duration::from_millis(50);
    broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    let publisher = Publisher::new(broker.clone(), registry.clone())
        .with_claim_check(ClaimCheck::new(state.clone(), KeyTtls::default()));
    let consumer = Consumer::new(
        broker.clone(),
        state.clone(),
        registry.clone(),
        config,
        recorder.clone(),
    );
    Fixture {
        dir,
        broker,
        state,
        registry,
        publisher,
        consumer,
        recorder,
    }
}

/// Steps until the subscription has nothing left to finish; sums the reports.
async fn drain(consumer: &Consumer<Arc<Recorder>>) -> StepReport {
    let mut total = StepReport::default();
    for _ in 0..200 {
        let stats = consumer.broker.stats().await.unwrap();
        let lag: u64 = stats
            .iter()
            .filter(|s| s.name == consumer.config.subscription.name)
            .map(|s| s.lag())
            .sum();
        if lag == 0 {
            break;
        }
        total += consumer.step().await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_delay_does_not_block_other_messages() {
    let f = fixture().await;
    f.recorder.poison(&[]);
    f.recorder.retry_below(1);
    f.publisher.publish(&[email("slow")]).await.unwrap();
    let first = f.consumer.step().await.unwrap();
    assert_eq!(first.retried, 1);
    f.recorder.retry_below(0);
    f.publisher.publish(&[email("fast")]).await.unwrap();
    let second = f.consumer.step().await.unwrap();
    assert_eq!(
        second.handled, 1,
        "a message waiting for its retry blocked the next one"
    );
    assert_eq!(f.recorder.handled(), ["fast"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_into_the_dead_letter_topic() {
    let f = fixture().await;
    f.recorder.retry_below(10);
    f.publisher.publish(&[email("a")]).await.unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!((report.retried, report.dead_lettered), (2, 1), "{report:?}");
    let letters = DeadLetterQueue::new(f.broker.clone())
        .list(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters[0].letter.error_type, FailureKind::RetriesExhausted);
    assert_eq!(letters[0].letter.retry_count, 2);
    assert_eq!(letters[0].letter.error, "disk busy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_are_dead_lettered_at_once_with_their_exact_bytes() {
    let f = fixture().await;
    let bytes = b"\xffnot json".to_vec();
    f.broker
        .publish("emails", vec![Message::new(bytes.clone())])
        .await
        .unwrap();
    f.publisher.publish(&[email("a")]).await.unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(
        (report.handled, report.dead_lettered, report.retried),
        (1, 1, 0)
    );
    let letters = DeadLetterQueue::new(f.broker.clone())
        .list(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters[0].letter.error_type, FailureKind::Undecodable);
    assert_eq!(letters[0].letter.original_event(), bytes);
    let purged = DeadLetterQueue::new(f.broker.clone())
        .purge(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(purged, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_dead_letter_topic_takes_every_failure_with_its_context() {
    let f = fixture().await;
    let mut config = f
        .consumer
        .config
        .clone()
        .with_dead_letter_topic("email.errors")
        .unwrap();
    config.subscription = SubscriptionConfig::new("test-emails-named-dlq", "emails");
    f.broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let consumer = Consumer::new(
        f.broker.clone(),
        f.state.clone(),
        f.registry.clone(),
        config,
        f.recorder.clone(),
    );
    f.recorder.poison(&["poisoned"]);
    f.recorder.retry_below(10);
    f.broker
        .publish("emails", vec![Message::new(b"not json".to_vec())])
        .await
        .unwrap();
    f.publisher
        .publish(&[email("poisoned"), email("busy")])
        .await
        .unwrap();
    let report = drain(&consumer).await;
    assert_eq!(report.dead_lettered, 3, "{report:?}");
    // Nothing went to the suffixed topic, which the tools find by name alone.
    let by_suffix = DeadLetterQueue::new(f.broker.clone());
    assert!(
        by_suffix
            .list(&DeadLetterFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let named = DeadLetterQueue::new(f.broker.clone()).with_topics(["email.errors"]);
    let letters = named.list(&DeadLetterFilter::default()).await.unwrap();
    let mut kinds: Vec<(FailureKind, u32, String)> = letters
        .iter()
        .map(|entry| {
            assert!(entry.id.starts_with("email.errors/"), "{}", entry.id);
            assert_eq!(entry.letter.original_topic, "emails");
            (
                entry.letter.error_type,
                entry.letter.retry_count,
                entry.letter.error.clone(),
            )
        })
        .collect();
    kinds.sort();
    assert_eq!(kinds[0].0, FailureKind::Undecodable);
    assert_eq!(kinds[1].0, FailureKind::Permanent);
    assert_eq!(
        kinds[2],
        (FailureKind::RetriesExhausted, 2, "disk busy".to_string())
    );
    let counts = named.counts().await.unwrap();
    assert_eq!(counts.iter().map(|count| count.count).sum::<u64>(), 3);
    // A redrive goes back to the original topic.
    f.recorder.retry_below(0);
    f.recorder.poison(&[]);
    let redriven = named
        .redrive(&DeadLetterFilter {
            error_type: Some("retries_exhausted".into()),
            ..DeadLetterFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(redriven, 1);
    let report = drain(&consumer).await;
    assert_eq!(report.handled, 1, "{report:?}");
    assert_eq!(
        named
            .list(&DeadLetterFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_delivered_its_own_dead_letters_leaves_them_alone() {
    // A consumer reading the very topic it dead-letters to (buses keep dead-letter topics
    // out of pattern subscriptions, so only an exact subscription gets there).
    let f = fixture().await;
    let mut config = f
        .consumer
        .config
        .clone()
        .with_dead_letter_topic("emails.errors")
        .unwrap();
    config.subscription = SubscriptionConfig::new("test-emails-own-dlq", "emails.errors");
    f.broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let consumer = Consumer::new(
        f.broker.clone(),
        f.state.clone(),
        f.registry.clone(),
        config,
        f.recorder.clone(),
    );
    f.broker
        .publish(
            "emails.errors",
            vec![Message::new(b"a dead letter".to_vec())],
        )
        .await
        .unwrap();
    let report = drain(&consumer).await;
    assert_eq!(
        (
            report.dead_letters_skipped,
            report.dead_lettered,
            report.handled
        ),
        (1, 0, 0),
        "{report:?}"
    );
    let published: u64 = f
        .broker
        .stats()
        .await
        .unwrap()
        .iter()
        .filter(|stats| stats.name == "test-emails-own-dlq")
        .map(|stats| stats.published)
        .sum();
    assert_eq!(published, 1, "the dead letter was written again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_version_of_a_mutable_item_is_processed() {
    let f = fixture().await;
    let subscription = SubscriptionConfig::new("test-contacts", "contacts");
    let mut config = ConsumerConfig::new(subscription);
    config.max_wait = Duration::from_millis(50);
    f.broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let consumer = Consumer::new(
        f.broker.clone(),
        f.state.clone(),
        f.registry.clone(),
        config,
        f.recorder.clone(),
    );
    let item = Contact {
        id: "c1".into(),
        display_name: "Ada".into(),
        ..Contact::default()
    };
    let v1 = ContactEvent::new(
        Operation::Update,
        SyncType::Streaming,
        "vcf",
        "alice",
        "b1",
        item,
    );
    let mut v2 = v1.clone();
    v2.last_updated += chrono::Duration::seconds(1);
    let envelopes = [
        v1.to_envelope("/t", "j").unwrap(),
        v1.to_envelope("/t", "j").unwrap(),
        v2.to_envelope("/t", "j").unwrap(),
    ];
    f.publisher.publish(&envelopes).await.unwrap();
    let report = drain(&consumer).await;
    assert_eq!((report.handled, report.duplicates), (2, 1), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_mib_payload_round_trips_through_the_claim_check() {
    let f = fixture().await;
    let mut big = email("big");
    let body = "lorem ipsum ".repeat(5 * 1024 * 1024 / 12);
    big.data.as_mut().unwrap()["item"]["body_text"] = json!(body);
    let report = f
        .publisher
        .publish(std::slice::from_ref(&big))
        .await
        .unwrap();
    assert_eq!(report.published, 1, "{:?}", report.rejected);
    let stored = f.broker.browse("emails", 0, 10).await.unwrap();
    assert!(
        stored[0].1.payload.len() < 10_000,
        "the payload travelled inline"
    );
    let on_the_wire = Envelope::from_json_slice(&stored[0].1.payload).unwrap();
    assert_eq!(
        on_the_wire.dataref.as_deref(),
        Some("state:office:alice:emails:big")
    );
    assert!(on_the_wire.datasize.unwrap() > 5_000_000);

    struct BodyLength(Mutex<Vec<usize>>);
    #[async_trait]
    impl Handler for Arc<BodyLength> {
        type Event = AnyOfficeEvent;
        fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
            decode_office_event(envelope)
        }
        async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
            for incoming in &batch {
                if let AnyOfficeEvent::Email(email) = &incoming.event {
                    self.0.lock().unwrap().push(email.item.body_text.len());
                }
            }
            vec![Outcome::Done; batch.len()]
        }
    }
    let lengths = Arc::new(BodyLength(Mutex::new(Vec::new())));
    let mut config = ConsumerConfig::new(SubscriptionConfig::new("test-emails", "emails"));
    config.max_wait = Duration::from_millis(50);
    let consumer = Consumer::new(
        f.broker.clone(),
        f.state.clone(),
        f.registry.clone(),
        config,
        lengths.clone(),
    );
    consumer.step().await.unwrap();
    assert_eq!(*lengths.0.lock().unwrap(), [body.len()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_claim_check_blob_is_retried_then_dead_lettered_with_the_reason() {
    let f = fixture().await;
    let mut big = email("big");
    big.data.as_mut().unwrap()["item"]["body_text"] = json!("x".repeat(300 * 1024));
    f.publisher
        .publish(std::slice::from_ref(&big))
        .await
        .unwrap();
    f.state
        .delete_many(&["office:alice:emails:big".to_string()])
        .await
        .unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(
        (report.retried, report.dead_lettered, report.handled),
        (2, 1, 0),
        "{report:?}"
    );
    let letters = DeadLetterQueue::new(f.broker.clone())
        .list(&DeadLetterFilter::default())
        .await
        .unwrap();
    assert_eq!(letters[0].letter.error_type, FailureKind::RetriesExhausted);
    assert!(
        letters[0]
            .letter
            .error
            .contains("office:alice:emails:big` is missing"),
        "{}",
        letters[0].letter.error
    );
    assert!(f.recorder.seen().is_empty(), "the handler never saw it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_are_reported_and_the_rest_of_the_batch_is_published() {
    let f = fixture().await;
    let publisher = Publisher::new(f.broker.clone(), f.registry.clone());
    let mut unknown = email("b");
    unknown.event_type = "com.example.unknown".into();
    let mut no_key = email("c");
    no_key.data.as_mut().unwrap()["user_id"] = json!("");
    no_key.userid = None;
    no_key.partitionkey = None;
    let mut huge = email("d");
    huge.data.as_mut().unwrap()["item"]["body_text"] = json!("x".repeat(300 * 1024));
    let mut bad_schema = email("e");
    bad_schema.data.as_mut().unwrap()["sync_type"] = json!(42);
    let report = publisher
        .publish(&[email("a"), unknown, no_key, huge, bad_schema, email("f")])
        .await
        .unwrap();
    assert_eq!(report.published, 2);
    let reasons: Vec<String> = report
        .rejected
        .iter()
        .map(|r| r.error.to_string())
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].contains("unknown event type"), "{reasons:?}");
    assert!(reasons[1].contains("no partition key"), "{reasons:?}");
    assert!(
        reasons[2].contains("exceeds the 262144-byte limit"),
        "{reasons:?}"
    );
    assert!(reasons[3].contains("data.sync_type"), "{reasons:?}");
    drain(&f.consumer).await;
    assert_eq!(f.recorder.handled(), ["a", "f"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_carry_the_standard_headers_and_partition_key() {
    let f = fixture().await;
    let envelope = email("a");
    f.publisher
        .publish(std::slice::from_ref(&envelope))
        .await
        .unwrap();
    let got = f
        .broker
        .fetch("test-emails", 1, Duration::from_secs(1))
        .await
        .unwrap();
    let message = &got[0].message;
    assert_eq!(message.key.as_deref(), Some("alice"));
    assert_eq!(message.header("ce-id"), Some(envelope.id.as_str()));
    assert_eq!(message.header("ce-type"), Some("switchyard.office.email"));
    let key = message.header("X-Idempotency-Key").unwrap();
    assert!(
        key.starts_with("emails:") && key.ends_with(":1") && key.len() == "emails::1".len() + 64,
        "{key}"
    );
    assert_eq!(message.header("X-Retry-Count"), Some("0"));
    assert_eq!(
        message.header("traceparent"),
        envelope.traceparent.as_deref()
    );
    let payload: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(payload["schemaversion"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_legacy_email_backfill_batches_as_email_events() {
    let f = fixture().await;
    let backfill = SubscriptionConfig::new("test-backfill", "email-backfill");
    f.broker.ensure_subscription(&backfill).await.unwrap();
    let data = json!({
        "batch_id": "b-1", "user_id": "alice", "provider": "gmail",
        "sync_timestamp": "2024-01-01T00:00:00Z",
        "emails": [{"id": "x1", "subject": "one"}, {"id": "x2", "subject": "two"}]
    });
    let legacy = Envelope::new("switchyard.office.email_backfill", "/legacy", data);
    assert_eq!(f.publisher.publish(&[legacy]).await.unwrap().published, 1);
    let mut config = ConsumerConfig::new(backfill);
    config.max_wait = Duration::from_millis(50);
    let state: Arc<dyn StateStore> =
        Arc::new(EmbeddedState::open(&f.dir.path().join("state2")).unwrap());
    let consumer = Consumer::new(
        f.broker.clone(),
        state,
        f.registry.clone(),
        config,
        f.recorder.clone(),
    );
    let step = consumer.step().await.unwrap();
    assert_eq!(step.handled, 1, "{step:?}");
    assert_eq!(f.recorder.handled(), ["x1", "x2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_outcomes_in_prometheus_text() {
    let f = fixture().await;
    f.publisher.publish(&[email("a")]).await.unwrap();
    drain(&f.consumer).await;
    let text = crate::encode_metrics();
    assert!(
        text.contains(
            "switchyard_consumer_events_total{subscription=\"test-emails\",outcome=\"handled\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "switchyard_consumer_handler_duration_seconds_count{subscription=\"test-emails\"}"
        ),
        "{text}"
    );
    assert!(
        text.contains("switchyard_publisher_events_total{topic=\"emails\",outcome=\"published\"}"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_gathered_into_one_handled_batch_of_full_fetches() {
    let mut f = fixture().await;
    f.consumer.config.batch_size = 5;
    f.consumer.config.handle_batch_size = 20;
    let events: Vec<Envelope> = (0..43).map(|i| email(&format!("e{i}"))).collect();
    f.publisher.publish(&events).await.unwrap();
    let mut handled = Vec::new();
    for _ in 0..3 {
        handled.push(f.consumer.step().await.unwrap().handled);
    }
    assert_eq!(handled, [20, 20, 3], "a step gathers full fetches up to 20");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_step_after_a_failure_handles_one_fetch_then_gathers_again() {
    let mut f = fixture().await;
    f.consumer.config.batch_size = 5;
    f.consumer.config.handle_batch_size = 20;
    let events: Vec<Envelope> = (0..43).map(|i| email(&format!("e{i}"))).collect();
    f.publisher.publish(&events).await.unwrap();
    // What `run` does after a failed step, then after a good one.
    let recovering = f.consumer.step_handling_at_most(5).await.unwrap().handled;
    let recovered = f.consumer.step().await.unwrap().handled;
    assert_eq!((recovering, recovered), (5, 20));
}
