//! Consumer loop tests on the embedded engines, with a recording handler.

use std::sync::Mutex;

use async_trait::async_trait;
use switchyard_bus::EmbeddedBroker;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, Email, EmailEvent, Operation, Registry, SyncType,
    decode_office_event,
};
use switchyard_state::EmbeddedState;

use super::*;
use crate::Publisher;

#[derive(Default)]
struct Recorder {
    handled: Mutex<Vec<String>>,
    failures_left: Mutex<u32>,
}

#[async_trait]
impl Handler for Arc<Recorder> {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    fn idempotency_key(&self, event: &AnyOfficeEvent) -> String {
        event.idempotency_key()
    }

    async fn handle(&self, events: Vec<AnyOfficeEvent>) -> Result<(), HandlerError> {
        let mut failures = self.failures_left.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err(HandlerError::Retryable("disk busy".into()));
        }
        let mut handled = self.handled.lock().unwrap();
        for event in events {
            let AnyOfficeEvent::Email(email) = event else {
                panic!("only emails here")
            };
            handled.push(email.item.id);
        }
        Ok(())
    }
}

fn email(id: &str) -> Envelope {
    let item = Email {
        id: id.into(),
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

struct Fixture {
    _dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    publisher: Publisher,
    consumer: Consumer<Arc<Recorder>>,
    recorder: Arc<Recorder>,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let state: Arc<dyn StateStore> =
        Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let mut config = ConsumerConfig::new(SubscriptionConfig::new("test-emails", "emails"));
    config.max_wait = Duration::from_millis(50);
    config.retry_delay = Duration::from_millis(100);
    broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let recorder = Arc::new(Recorder::default());
    let registry = Arc::new(Registry::standard());
    let publisher = Publisher::new(broker.clone(), registry.clone());
    let consumer = Consumer::new(broker.clone(), state, registry, config, recorder.clone());
    Fixture {
        _dir: dir,
        broker,
        publisher,
        consumer,
        recorder,
    }
}

/// Steps until the subscription has nothing left to finish.
async fn drain(consumer: &Consumer<Arc<Recorder>>) -> StepReport {
    let mut total = StepReport::default();
    for _ in 0..100 {
        let lag: u64 = consumer
            .broker
            .stats()
            .await
            .unwrap()
            .iter()
            .map(|s| s.lag())
            .sum();
        if lag == 0 {
            break;
        }
        let step = consumer.step().await.unwrap();
        total.fetched += step.fetched;
        total.handled += step.handled;
        total.duplicates += step.duplicates;
        total.undecodable += step.undecodable;
        total.retried += step.retried;
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_have_no_effect() {
    let f = fixture().await;
    f.publisher
        .publish(&[email("a"), email("b"), email("a")])
        .await
        .unwrap();
    f.publisher.publish(&[email("b")]).await.unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(report.handled, 2);
    assert_eq!(report.duplicates, 2);
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failure_redelivers_the_batch() {
    let f = fixture().await;
    *f.recorder.failures_left.lock().unwrap() = 1;
    f.publisher.publish(&[email("a")]).await.unwrap();
    let first = f.consumer.step().await.unwrap();
    assert_eq!(first.retried, 1);
    assert!(f.recorder.handled.lock().unwrap().is_empty());
    let report = drain(&f.consumer).await;
    assert_eq!(report.handled, 1);
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_messages_do_not_block_the_subscription() {
    let f = fixture().await;
    f.broker
        .publish(
            "emails",
            vec![switchyard_bus::Message::new(b"not json".to_vec())],
        )
        .await
        .unwrap();
    f.publisher.publish(&[email("a")]).await.unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(report.undecodable, 1);
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_events_are_reported_and_the_rest_of_the_batch_is_published() {
    let f = fixture().await;
    let mut unknown = email("b");
    unknown.event_type = "com.example.unknown".into();
    let mut no_key = email("c");
    no_key.data.as_mut().unwrap()["user_id"] = serde_json::json!("");
    no_key.userid = None;
    no_key.partitionkey = None;
    let mut huge = email("d");
    huge.data.as_mut().unwrap()["item"]["body_text"] = serde_json::json!("x".repeat(300 * 1024));
    let mut bad_schema = email("e");
    bad_schema.data.as_mut().unwrap()["sync_type"] = serde_json::json!(42);
    let report = f
        .publisher
        .publish(&[email("a"), unknown, no_key, huge, bad_schema, email("f")])
        .await
        .unwrap();
    assert_eq!(report.published, 2);
    let reasons: Vec<(usize, String)> = report
        .rejected
        .iter()
        .map(|r| (r.index, r.error.to_string()))
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(reasons[0].1.contains("unknown event type"), "{reasons:?}");
    assert!(reasons[1].1.contains("no partition key"), "{reasons:?}");
    assert!(
        reasons[2].1.contains("exceeds the 262144-byte limit"),
        "{reasons:?}"
    );
    assert!(reasons[3].1.contains("data.sync_type"), "{reasons:?}");
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
    assert_eq!(payload["id"], serde_json::json!(envelope.id));
    assert_eq!(payload["schemaversion"], serde_json::json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_read_legacy_email_backfill_batches_as_email_events() {
    let f = fixture().await;
    let backfill = SubscriptionConfig::new("test-backfill", "email-backfill");
    f.broker.ensure_subscription(&backfill).await.unwrap();
    let data = serde_json::json!({
        "batch_id": "b-1", "user_id": "alice", "provider": "gmail",
        "sync_timestamp": "2024-01-01T00:00:00Z",
        "emails": [{"id": "x1", "subject": "one"}, {"id": "x2", "subject": "two"}]
    });
    let legacy = Envelope::new("switchyard.office.email_backfill", "/legacy", data);
    let report = f.publisher.publish(&[legacy]).await.unwrap();
    assert_eq!(report.published, 1, "{:?}", report.rejected);
    let mut config = ConsumerConfig::new(backfill);
    config.max_wait = Duration::from_millis(50);
    let recorder = Arc::new(Recorder::default());
    let state: Arc<dyn StateStore> =
        Arc::new(EmbeddedState::open(&f._dir.path().join("state2")).unwrap());
    let consumer = Consumer::new(
        f.broker.clone(),
        state,
        Arc::new(Registry::standard()),
        config,
        recorder.clone(),
    );
    let step = consumer.step().await.unwrap();
    assert_eq!(step.handled, 2, "{step:?}");
    assert_eq!(*recorder.handled.lock().unwrap(), ["x1", "x2"]);
}
