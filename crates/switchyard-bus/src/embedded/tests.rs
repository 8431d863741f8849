//! Tests of the embedded engine: the conformance suite, restart and retention.

use std::time::Duration;

use super::*;
use crate::conformance_suite;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    conformance_suite(&broker).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = EmbeddedBroker::open(dir.path()).unwrap();
        // A long deadline: after the restart the message must come back anyway.
        let subscription =
            SubscriptionConfig::new("s", "emails").with_ack_deadline(Duration::from_secs(600));
        broker.ensure_subscription(&subscription).await.unwrap();
        let messages = (0..5).map(|i| Message::new(vec![i])).collect();
        broker.publish("emails", messages).await.unwrap();
        let first = broker.fetch("s", 2, Duration::from_secs(1)).await.unwrap();
        broker
            .ack("s", &first.iter().map(|d| d.tag).collect::<Vec<_>>())
            .await
            .unwrap();
        // One fetched but unacknowledged message: it must come back after restart.
        broker.fetch("s", 1, Duration::from_secs(1)).await.unwrap();
    }
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    let stats = broker.stats().await.unwrap();
    assert_eq!(stats[0].lag(), 3, "{stats:?}");
    let mut payloads = Vec::new();
    loop {
        let got = broker
            .fetch("s", 10, Duration::from_millis(100))
            .await
            .unwrap();
        if got.is_empty() {
            break;
        }
        broker
            .ack("s", &got.iter().map(|d| d.tag).collect::<Vec<_>>())
            .await
            .unwrap();
        payloads.extend(got.into_iter().map(|d| d.message.payload[0]));
    }
    payloads.sort();
    assert_eq!(payloads, vec![2, 3, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_messages_are_deleted_once_every_subscription_has_them() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    for name in ["a", "b"] {
        broker
            .ensure_subscription(&SubscriptionConfig::new(name, "t"))
            .await
            .unwrap();
    }
    broker
        .publish("t", vec![Message::new(b"x".to_vec())])
        .await
        .unwrap();
    let log_len = |broker: &EmbeddedBroker| {
        let txn = broker.inner.db.database().begin_read().unwrap();
        let name = log_table("t");
        txn.open_table(TableDefinition::<u64, &[u8]>::new(&name))
            .unwrap()
            .len()
            .unwrap()
    };
    let got = broker.fetch("a", 1, Duration::from_secs(1)).await.unwrap();
    broker.ack("a", &[got[0].tag]).await.unwrap();
    assert_eq!(log_len(&broker), 1, "b has not read it yet");
    let got = broker.fetch("b", 1, Duration::from_secs(1)).await.unwrap();
    broker.ack("b", &[got[0].tag]).await.unwrap();
    assert_eq!(log_len(&broker), 0);
    // A late subscription starts after what was deleted, and sees new messages.
    broker
        .ensure_subscription(&SubscriptionConfig::new("c", "t"))
        .await
        .unwrap();
    broker
        .publish("t", vec![Message::new(b"y".to_vec())])
        .await
        .unwrap();
    let got = broker.fetch("c", 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message.payload, b"y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_opener_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = EmbeddedBroker::open(dir.path()).unwrap();
    let err = EmbeddedBroker::open(dir.path()).err().unwrap();
    assert!(
        err.to_string().contains("another switchyard process"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_cannot_move_to_another_topic() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    broker
        .ensure_subscription(&SubscriptionConfig::new("s", "a"))
        .await
        .unwrap();
    let err = broker
        .ensure_subscription(&SubscriptionConfig::new("s", "b"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), BusErrorKind::InvalidArgument);
}
