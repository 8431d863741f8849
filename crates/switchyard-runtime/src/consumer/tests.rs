//! Consumer loop tests on the embedded engines, with a recording handler.

use std::sync::Mutex;

use async_trait::async_trait;
use switchyard_bus::EmbeddedBroker;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, Email, EmailEvent, Operation, SyncType, decode_office_event,
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
    let consumer = Consumer::new(broker.clone(), state, config, recorder.clone());
    Fixture {
        _dir: dir,
        broker,
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
    let publisher = Publisher::new(f.broker.clone());
    publisher
        .publish(&[email("a"), email("b"), email("a")])
        .await
        .unwrap();
    publisher.publish(&[email("b")]).await.unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(report.handled, 2);
    assert_eq!(report.duplicates, 2);
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retryable_failure_redelivers_the_batch() {
    let f = fixture().await;
    *f.recorder.failures_left.lock().unwrap() = 1;
    Publisher::new(f.broker.clone())
        .publish(&[email("a")])
        .await
        .unwrap();
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
    Publisher::new(f.broker.clone())
        .publish(&[email("a")])
        .await
        .unwrap();
    let report = drain(&f.consumer).await;
    assert_eq!(report.undecodable, 1);
    assert_eq!(*f.recorder.handled.lock().unwrap(), ["a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_refuses_invalid_envelopes_before_publishing_anything() {
    let f = fixture().await;
    let mut bad = email("b");
    bad.event_type = "com.example.unknown".into();
    let err = Publisher::new(f.broker.clone())
        .publish(&[email("a"), bad])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown event type"), "{err}");
    assert_eq!(drain(&f.consumer).await.fetched, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_carry_cloudevents_binary_headers_and_partition_key() {
    let f = fixture().await;
    let envelope = email("a");
    Publisher::new(f.broker.clone())
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
    assert_eq!(
        message.header("traceparent"),
        envelope.traceparent.as_deref()
    );
    let payload: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
    assert_eq!(payload["id"], serde_json::json!(envelope.id));
}
