//! Tests of the embedded engine: the conformance suite, restart and retention.

use std::time::Duration;

use super::*;
use crate::{conformance_suite, pattern_conformance_suite};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    conformance_suite(&broker).await.unwrap();
    pattern_conformance_suite(&broker).await.unwrap();
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

fn publish_one(topic: &str, payload: &str) -> (String, Vec<Message>) {
    (
        topic.to_string(),
        vec![Message::new(payload.as_bytes().to_vec())],
    )
}

async fn held(broker: &EmbeddedBroker, topic: &str) -> u64 {
    let topics = broker.topics().await.unwrap();
    topics
        .iter()
        .find(|stats| stats.name == topic)
        .map_or(0, |stats| stats.held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_pattern_subscription_starts_with_what_matching_topics_hold_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let broker = EmbeddedBroker::open(dir.path()).unwrap();
        for (topic, messages) in [
            publish_one("email.sent", "1"),
            publish_one("other", "2"),
            publish_one("email", "3"),
        ] {
            broker.publish(&topic, messages).await.unwrap();
        }
        broker
            .ensure_subscription(&SubscriptionConfig::new("p", "email.#"))
            .await
            .unwrap();
        let (topic, messages) = publish_one("email.verification.requested", "4");
        broker.publish(&topic, messages).await.unwrap();
        let first = broker.fetch("p", 1, Duration::from_secs(1)).await.unwrap();
        broker.ack("p", &[first[0].tag]).await.unwrap();
    }
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    let got = broker.fetch("p", 10, Duration::from_secs(1)).await.unwrap();
    let seen: Vec<(&str, &[u8])> = got
        .iter()
        .map(|d| (d.topic.as_str(), d.message.payload.as_slice()))
        .collect();
    assert_eq!(
        seen,
        [
            ("email", b"3".as_slice()),
            ("email.verification.requested", b"4".as_slice())
        ]
    );
    let stats = broker.stats().await.unwrap();
    assert_eq!(stats[0].topic, "email.#");
    assert_eq!(
        (stats[0].published, stats[0].backlog, stats[0].unacked),
        (3, 0, 2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_only_patterns_read_keeps_nothing_and_one_nothing_matches_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    broker
        .ensure_subscription(&SubscriptionConfig::new("p", "orders.*"))
        .await
        .unwrap();
    for (topic, messages) in [
        publish_one("orders.created", "1"),
        publish_one("orders.created.dlq.v1", "2"),
    ] {
        broker.publish(&topic, messages).await.unwrap();
    }
    assert_eq!(
        held(&broker, "orders.created").await,
        0,
        "the pattern took it"
    );
    assert_eq!(
        held(&broker, "orders.created.dlq.v1").await,
        1,
        "nothing took it"
    );
    let got = broker.fetch("p", 10, Duration::from_secs(1)).await.unwrap();
    assert_eq!(got.len(), 1);
    broker.ack("p", &[got[0].tag]).await.unwrap();
    let txn = broker.inner.db.database().begin_read().unwrap();
    let name = routed::routed_table("p");
    let private = txn
        .open_table(TableDefinition::<u64, &[u8]>::new(&name))
        .unwrap();
    assert_eq!(private.len().unwrap(), 0, "acknowledged, so deleted");
    // A subscription of the topic keeps the topic log going beside the pattern.
    drop((private, txn));
    broker
        .ensure_subscription(&SubscriptionConfig::new("exact", "orders.created"))
        .await
        .unwrap();
    let (topic, messages) = publish_one("orders.created", "3");
    broker.publish(&topic, messages).await.unwrap();
    assert_eq!(held(&broker, "orders.created").await, 1);
    let got = broker
        .fetch("exact", 10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    broker.ack("exact", &[got[0].tag]).await.unwrap();
    assert_eq!(held(&broker, "orders.created").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_exact_subscription_does_not_count_what_only_patterns_took_as_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    let (topic, messages) = publish_one("orders.created", "kept");
    broker.publish(&topic, messages).await.unwrap();
    broker
        .ensure_subscription(&SubscriptionConfig::new("p", "orders.*"))
        .await
        .unwrap();
    for i in 0..3 {
        let (topic, messages) = publish_one("orders.created", &i.to_string());
        broker.publish(&topic, messages).await.unwrap();
    }
    broker
        .ensure_subscription(&SubscriptionConfig::new("exact", "orders.created"))
        .await
        .unwrap();
    let got = broker
        .fetch("exact", 10, Duration::from_secs(1))
        .await
        .unwrap();
    assert_eq!(got.len(), 1, "only the message nothing took was kept");
    assert_eq!(got[0].message.payload, b"kept");
    broker.ack("exact", &[got[0].tag]).await.unwrap();
    let stats = broker.stats().await.unwrap();
    let exact = stats.iter().find(|s| s.name == "exact").unwrap();
    assert_eq!(exact.lag(), 0, "{exact:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_pattern_fetch_wakes_on_a_matching_publish() {
    let dir = tempfile::tempdir().unwrap();
    let broker = EmbeddedBroker::open(dir.path()).unwrap();
    broker
        .ensure_subscription(&SubscriptionConfig::new("p", "#.created"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let fetch = broker.fetch("p", 1, Duration::from_secs(10));
    let publish = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (topic, messages) = publish_one("user.created", "1");
        broker.publish(&topic, messages).await
    };
    let (got, published) = tokio::join!(fetch, publish);
    published.unwrap();
    assert_eq!(got.unwrap()[0].topic, "user.created");
    assert!(started.elapsed() < Duration::from_secs(5), "woken late");
}
