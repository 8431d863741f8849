//! Consumer tests on the embedded engines: retries with backoff, dead letters and redrive,
//! dedupe across redelivery, replay and duplicate publish, claim checks, legacy upcasts.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Instant;

use async_trait::async_trait;
use serde_json::json;
use switchyard_bus::{EmbeddedBroker, Message};
use switchyard_contracts::office_set;
use switchyard_contracts::{
    AnyOfficeEvent, Contact, ContactEvent, ContractError, Email, EmailEvent, Envelope, EventSet,
    Operation, Registry, SyncType, decode_office_event,
};
use switchyard_state::EmbeddedState;

use super::*;
use crate::{DeadLetterFilter, DeadLetterQueue, FailureKind, Incoming, Outcome, Publisher};

/// Records what it handled; fails on demand.
#[derive(Default)]
struct Recorder {
    /// (item id, retry count seen, when).
    seen: Mutex<Vec<(String, u32, Instant)>>,
    /// Item ids handled successfully, in order.
    handled: Mutex<Vec<String>>,
    /// Answer `Retry` while the retry count is below this.
    retry_below: Mutex<u32>,
    /// Item ids that fail for good.
    poison: Mutex<HashSet<String>>,
}

fn item_id(event: &AnyOfficeEvent) -> String {
    event.item_id().to_string()
}

#[async_trait]
impl Handler for Arc<Recorder> {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let retry_below = *self.retry_below.lock().unwrap();
        let poison = self.poison.lock().unwrap().clone();
        batch
            .into_iter()
            .map(|incoming| {
                let id = item_id(&incoming.event);
                self.seen
                    .lock()
                    .unwrap()
                    .push((id.clone(), incoming.retry_count, Instant::now()));
                if poison.contains(&id) {
                    Outcome::Fail(format!("{id} is poison"))
                } else if incoming.retry_count < retry_below {
                    Outcome::Retry("disk busy".into())
                } else {
                    self.handled.lock().unwrap().push(id);
                    Outcome::Done
                }
            })
            .collect()
    }
}

fn email(id: &str) -> Envelope {
    let item = Email {
        id: id.into(),
        subject: format!("subject {id}"),
        ..Email::default()
    };
    EmailEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "test",
        "alice",
        "b1",
        item,
    )
    .to_envelope("/test", "job")
    .unwrap()
}

/// The office set with fast retries: 2 retries after 100 ms then 200 ms.
fn fast_retry_registry() -> Registry {
    let mut set: EventSet = office_set::event_set();
    for event in &mut set.events {
        event.max_retries = 2;
        event.backoff_ms = &[100, 200];
    }
    Registry::new(vec![set])
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
        let step = consumer.step().await.unwrap();
        total.fetched += step.fetched;
        total.handled += step.handled;
        total.duplicates += step.duplicates;
        total.retried += step.retried;
        total.dead_lettered += step.dead_lettered;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_failing_twice_is_retried_with_backoff_then_done_once() {
    let f = fixture().await;
    *f.recorder.retry_below.lock().unwrap() = 2;
    f.publisher
        .publish(&[email("a"), email("b")])
        .await
        .unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(report.handled, 2, "{report:?}");
    assert_eq!(report.dead_lettered, 0);
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a", "b"]);
    let seen = f.recorder.seen.lock().unwrap().clone();
    let attempts: Vec<(String, u32)> = seen
        .iter()
        .filter(|(id, ..)| id == "a")
        .map(|(id, retry, _)| (id.clone(), *retry))
        .collect();
    assert_eq!(
        attempts,
        [
            ("a".to_string(), 0),
            ("a".to_string(), 1),
            ("a".to_string(), 2)
        ]
    );
    let times: Vec<Instant> = seen
        .iter()
        .filter(|(id, ..)| id == "a")
        .map(|(_, _, at)| *at)
        .collect();
    assert!(
        times[1] - times[0] >= Duration::from_millis(100),
        "first retry came after {:?}",
        times[1] - times[0]
    );
    assert!(
        times[2] - times[1] >= Duration::from_millis(200),
        "second retry came after {:?}",
        times[2] - times[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_delay_does_not_block_other_messages() {
    let f = fixture().await;
    f.recorder.poison.lock().unwrap().clear();
    *f.recorder.retry_below.lock().unwrap() = 1;
    f.publisher.publish(&[email("slow")]).await.unwrap();
    let first = f.consumer.step().await.unwrap();
    assert_eq!(first.retried, 1);
    *f.recorder.retry_below.lock().unwrap() = 0;
    f.publisher.publish(&[email("fast")]).await.unwrap();
    let second = f.consumer.step().await.unwrap();
    assert_eq!(
        second.handled, 1,
        "a message waiting for its retry blocked the next one"
    );
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["fast"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_goes_to_the_dead_letter_topic_with_its_context_and_redrive_processes_it() {
    let f = fixture().await;
    f.recorder.poison.lock().unwrap().insert("p".into());
    let poison = email("p");
    f.publisher
        .publish(&[poison.clone(), email("ok")])
        .await
        .unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!((report.handled, report.dead_lettered), (1, 1), "{report:?}");

    let dlq = DeadLetterQueue::new(f.broker.clone());
    let letters = dlq.list(&DeadLetterFilter::default()).await.unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0].letter;
    assert!(
        letters[0].id.starts_with("emails.dlq.v1/"),
        "{}",
        letters[0].id
    );
    assert_eq!(letter.original_topic, "emails");
    assert_eq!(letter.error_type, FailureKind::Permanent);
    assert_eq!(letter.error, "p is poison");
    assert_eq!(letter.event_id.as_deref(), Some(poison.id.as_str()));
    assert_eq!(letter.failed_by.subscription, "test-emails");
    let original = Envelope::from_json_slice(&letter.original_event()).unwrap();
    assert_eq!(original.id, poison.id, "the original bytes are kept");
    let counts = dlq.counts().await.unwrap();
    assert_eq!((counts[0].topic.as_str(), counts[0].count), ("emails", 1));

    f.recorder.poison.lock().unwrap().clear();
    let filter = DeadLetterFilter {
        topic: Some("emails".into()),
        ..DeadLetterFilter::default()
    };
    assert_eq!(dlq.redrive(&filter).await.unwrap(), 1);
    drain(&f.consumer).await;
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["ok", "p"]);
    assert!(
        dlq.list(&DeadLetterFilter::default())
            .await
            .unwrap()
            .is_empty()
    );
    let seen = f.recorder.seen.lock().unwrap();
    assert_eq!(
        seen.last().unwrap().1,
        0,
        "a redriven message starts with retry count 0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_run_out_into_the_dead_letter_topic() {
    let f = fixture().await;
    *f.recorder.retry_below.lock().unwrap() = 10;
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
async fn the_same_event_delivered_three_ways_has_one_effect() {
    let f = fixture().await;
    let event = email("a");
    f.publisher
        .publish(std::slice::from_ref(&event))
        .await
        .unwrap();
    // Redelivery: fetched, not acked, the ack deadline passes.
    let lost = f
        .broker
        .fetch("test-emails", 10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(lost.len(), 1);
    tokio::time::sleep(Duration::from_millis(350)).await;
    drain(&f.consumer).await;
    // Replay: the same envelope published again.
    f.publisher
        .publish(std::slice::from_ref(&event))
        .await
        .unwrap();
    // Duplicate publish: the same item in a new envelope.
    f.publisher.publish(&[email("a")]).await.unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(report.duplicates, 2, "{report:?}");
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a"]);
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
    assert!(
        f.recorder.seen.lock().unwrap().is_empty(),
        "the handler never saw it"
    );
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
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a", "f"]);
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
    assert_eq!(message.header("X-Idempotency-Key"), Some("emails:alice:1"));
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
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["x1", "x2"]);
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
