//! End-to-end tests against a running RabbitMQ (`AMQP_URL`, default the local server with
//! guest/guest): the bus conformance suite, restart semantics, retries and the mapping
//! details the suite does not see. They fail, never skip, when the server is unreachable.

use std::time::Duration;

use anyhow::{Context, ensure};
use switchyard_bus::{
    Broker, BusErrorKind, Message, SubscriptionConfig, conformance_suite, pattern_conformance_suite,
};
use switchyard_rabbitmq::{AMQP_URL_ENV, DEFAULT_AMQP_URL, RabbitBroker, RabbitOptions};

fn url() -> String {
    std::env::var(AMQP_URL_ENV).unwrap_or_else(|_| DEFAULT_AMQP_URL.to_string())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// A broker on its own exchange, so runs never see each other's topics.
async fn connect_to(exchange: &str) -> RabbitBroker {
    let options = RabbitOptions::default().with_exchange(exchange);
    match RabbitBroker::connect(&url(), options).await {
        Ok(broker) => broker,
        Err(err) => panic!(
            "RabbitMQ is unreachable ({err}); start it with `rabbitmq-server -detached` or point \
             {AMQP_URL_ENV} at a server"
        ),
    }
}

/// Deletes every queue and exchange the broker created, so durable test state does not
/// pile up on the server.
async fn clean_up(broker: &RabbitBroker) -> anyhow::Result<()> {
    for subscription in broker.stats().await? {
        broker.delete_subscription(&subscription.name).await?;
    }
    for topic in broker.topics().await? {
        broker.delete_topic(&topic.name).await?;
    }
    let exchanges: Vec<String> = broker
        .options()
        .exchanges()
        .into_iter()
        .map(str::to_string)
        .chain(broker.options().dead_letter_exchanges())
        .chain(broker.options().fanout_exchange_names())
        .collect();
    broker.close().await?;
    for exchange in exchanges {
        delete_exchanges(&exchange).await?;
    }
    Ok(())
}

async fn delete_exchanges(exchange: &str) -> anyhow::Result<()> {
    use lapin::options::ExchangeDeleteOptions;
    let connection = lapin::Connection::connect(&url(), Default::default()).await?;
    let channel = connection.create_channel().await?;
    for name in [exchange.to_string(), format!("{exchange}.unrouted")] {
        channel
            .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
            .await?;
    }
    connection.close(200, "OK".into()).await?;
    Ok(())
}

fn tags(deliveries: &[switchyard_bus::Delivery]) -> Vec<switchyard_bus::DeliveryTag> {
    deliveries.iter().map(|d| d.tag).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() -> anyhow::Result<()> {
    let broker = connect_to(&unique("switchyard.test")).await;
    conformance_suite(&broker).await?;
    clean_up(&broker).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_conformance() -> anyhow::Result<()> {
    let broker = connect_to(&unique("switchyard.test")).await;
    pattern_conformance_suite(&broker).await?;
    clean_up(&broker).await
}

/// A fanout topic reaches legacy queues bound to its exchange and its subscriptions; a
/// pattern reaches topics of every exchange; what nobody took waits for `browse`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_topics_and_patterns_across_exchanges() -> anyhow::Result<()> {
    use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions};
    let base = unique("legacy");
    let fanout_topic = format!("{base}.smtp");
    let other_topic = format!("{base}.verification");
    let plain_topic = format!("{base}.plain");
    let options = RabbitOptions::default()
        .with_exchange(unique("switchyard.test"))
        .with_topic_exchange(&other_topic, unique("switchyard.test.other"))
        .with_fanout_exchange(&fanout_topic);
    let broker = RabbitBroker::connect(&url(), options).await?;
    broker
        .publish(&fanout_topic, vec![Message::new(b"unread".to_vec())])
        .await?;
    let kept = broker.browse(&fanout_topic, 0, 10).await?;
    ensure!(kept.len() == 1, "kept {} unrouted messages", kept.len());

    let connection = lapin::Connection::connect(&url(), Default::default()).await?;
    let channel = connection.create_channel().await?;
    let legacy = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                ..QueueDeclareOptions::default()
            },
            Default::default(),
        )
        .await?;
    channel
        .queue_bind(
            legacy.name().clone(),
            fanout_topic.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            Default::default(),
        )
        .await?;
    let exact = SubscriptionConfig::new(unique("sub"), &fanout_topic);
    let pattern = SubscriptionConfig::new(unique("sub"), format!("{base}.#"));
    broker.ensure_subscription(&exact).await?;
    broker.ensure_subscription(&pattern).await?;
    for topic in [&fanout_topic, &other_topic, &plain_topic] {
        broker
            .publish(topic, vec![Message::new(topic.as_bytes().to_vec())])
            .await?;
    }
    let got = broker
        .fetch(&exact.name, 10, Duration::from_secs(5))
        .await?;
    ensure!(
        got.len() == 1 && got[0].message.payload == fanout_topic.as_bytes(),
        "the fanout subscription got {got:?}"
    );
    broker.ack(&exact.name, &tags(&got)).await?;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let got = broker
            .fetch(&pattern.name, 10, Duration::from_secs(5))
            .await?;
        ensure!(!got.is_empty(), "the pattern got only {seen:?}");
        broker.ack(&pattern.name, &tags(&got)).await?;
        seen.extend(got.into_iter().map(|d| {
            ensure!(
                d.message.payload == d.topic.as_bytes(),
                "wrong topic {}",
                d.topic
            );
            Ok(d.topic)
        }));
    }
    let mut seen = seen.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    seen.sort();
    let mut expected = vec![fanout_topic.clone(), other_topic, plain_topic];
    expected.sort();
    ensure!(seen == expected, "the pattern got {seen:?}");
    let legacy_got = channel
        .basic_get(legacy.name().clone(), BasicGetOptions { no_ack: true })
        .await?
        .context("the legacy queue got nothing")?;
    ensure!(legacy_got.delivery.data == fanout_topic.as_bytes());
    ensure!(
        broker.browse(&fanout_topic, 0, 10).await?.len() == 1,
        "routed messages were kept as unrouted"
    );
    connection.close(200, "OK".into()).await?;
    clean_up(&broker).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_conformance_with_embedded_state() -> anyhow::Result<()> {
    let broker = std::sync::Arc::new(connect_to(&unique("switchyard.test")).await);
    let dir = tempfile::tempdir()?;
    let state = std::sync::Arc::new(switchyard_state::EmbeddedState::open(dir.path())?);
    let outcome = switchyard_runtime::runtime_conformance_suite(broker.clone(), state).await;
    clean_up(&broker).await?;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_a_clear_unavailable_error() {
    let options = RabbitOptions {
        connect_timeout_ms: 2_000,
        ..RabbitOptions::default()
    };
    let err = RabbitBroker::connect("amqp://guest:secret@127.0.0.1:1/%2f", options)
        .await
        .err()
        .expect("nothing listens on port 1");
    assert_eq!(err.kind(), BusErrorKind::Unavailable);
    let message = err.to_string();
    assert!(
        message.starts_with("failed to connect to RabbitMQ at amqp://guest:***@127.0.0.1:1/%2f"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_connection_resumes_and_gets_unacked_messages_back() -> anyhow::Result<()> {
    let exchange = unique("switchyard.test");
    let topic = unique("restart");
    let config = SubscriptionConfig::new(unique("sub"), &topic);
    let first = connect_to(&exchange).await;
    first.ensure_subscription(&config).await?;
    let sent: Vec<Message> = (0..4).map(|i| Message::new(vec![i])).collect();
    first.publish(&topic, sent.clone()).await?;
    let got = first.fetch(&config.name, 2, Duration::from_secs(5)).await?;
    ensure!(got.len() == 2, "fetched {}", got.len());
    first.ack(&config.name, &tags(&got[..1])).await?;
    first.close().await?;

    let second = connect_to(&exchange).await;
    second.ensure_subscription(&config).await?;
    let mut rest = Vec::new();
    while rest.len() < 3 {
        let got = second
            .fetch(&config.name, 10, Duration::from_secs(5))
            .await?;
        ensure!(!got.is_empty(), "only {} of 3 came back", rest.len());
        second.ack(&config.name, &tags(&got)).await?;
        rest.extend(got);
    }
    let mut payloads: Vec<Vec<u8>> = rest.iter().map(|d| d.message.payload.clone()).collect();
    payloads.sort();
    ensure!(payloads == [vec![1], vec![2], vec![3]], "got {payloads:?}");
    let redelivered = rest
        .iter()
        .find(|d| d.message.payload == [1])
        .context("message 1")?;
    ensure!(
        redelivered.delivery_count == 2,
        "delivery count {}",
        redelivered.delivery_count
    );
    ensure!(
        second
            .fetch(&config.name, 10, Duration::from_millis(100))
            .await?
            .is_empty()
    );
    clean_up(&second).await
}

// A current-thread runtime, as most callers' tests use.
#[tokio::test]
async fn retries_count_up_and_wait_in_retry_queues() -> anyhow::Result<()> {
    let broker = connect_to(&unique("switchyard.test")).await;
    let topic = unique("retry");
    let config = SubscriptionConfig::new(unique("sub"), &topic);
    broker.ensure_subscription(&config).await?;
    let sent = Message {
        key: Some("user-7".into()),
        headers: vec![
            ("X-Retry-Count".into(), "0".into()),
            ("ce-id".into(), "1".into()),
            ("ce-id".into(), "2".into()),
        ],
        payload: b"retry me".to_vec(),
    };
    broker.publish(&topic, vec![sent.clone()]).await?;
    let mut expected_retries = 0;
    for delivery_count in 1..=3 {
        let got = broker
            .fetch(&config.name, 1, Duration::from_secs(5))
            .await?;
        ensure!(got.len() == 1, "attempt {delivery_count} got nothing");
        ensure!(
            got[0].message == sent,
            "changed on the way: {:?}",
            got[0].message
        );
        ensure!(got[0].topic == topic);
        ensure!(
            got[0].delivery_count == delivery_count,
            "delivery count {}",
            got[0].delivery_count
        );
        ensure!(
            got[0].retry_count == expected_retries,
            "retry count {}",
            got[0].retry_count
        );
        if delivery_count < 3 {
            broker
                .nack(&config.name, &tags(&got), Duration::from_millis(300))
                .await?;
            let stats = broker.stats().await?;
            let mine = stats
                .iter()
                .find(|s| s.name == config.name)
                .context("stats")?;
            ensure!(
                mine.backlog == 0 && mine.unacked == 1,
                "while waiting: {mine:?}"
            );
            expected_retries += 1;
        } else {
            broker.ack(&config.name, &tags(&got)).await?;
        }
    }
    let stats = broker.stats().await?;
    let mine = stats
        .iter()
        .find(|s| s.name == config.name)
        .context("stats")?;
    ensure!(
        mine.lag() == 0 && mine.published == 1,
        "at the end: {mine:?}"
    );
    clean_up(&broker).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribed_topics_do_not_fill_the_unrouted_queue() -> anyhow::Result<()> {
    let broker = connect_to(&unique("switchyard.test")).await;
    let topic = unique("routed");
    let config = SubscriptionConfig::new(unique("sub"), &topic);
    broker.ensure_subscription(&config).await?;
    broker
        .publish(&topic, vec![Message::new(b"a".to_vec())])
        .await?;
    ensure!(
        broker.browse(&topic, 0, 10).await?.is_empty(),
        "a routed message was kept as unrouted"
    );
    let got = broker
        .fetch(&config.name, 10, Duration::from_secs(5))
        .await?;
    ensure!(got.len() == 1);
    broker.ack(&config.name, &tags(&got)).await?;
    let err = broker
        .ensure_subscription(&SubscriptionConfig::new(&config.name, unique("other")))
        .await
        .err()
        .context("a subscription moved to another topic")?;
    ensure!(err.kind() == BusErrorKind::InvalidArgument);
    let err = broker
        .publish("emails.#", vec![Message::new(Vec::new())])
        .await
        .err()
        .context("wildcard topic")?;
    ensure!(err.kind() == BusErrorKind::InvalidArgument);
    clean_up(&broker).await
}

// A current-thread runtime, as most callers' tests use.
#[tokio::test]
async fn dead_letters_are_visible_to_a_fresh_process_through_known_topics() -> anyhow::Result<()> {
    let exchange = unique("switchyard.test");
    let dlq = format!("{}.dlq.v1", unique("emails"));
    let writer = connect_to(&exchange).await;
    writer
        .publish(&dlq, vec![Message::new(b"dead".to_vec())])
        .await?;
    writer.close().await?;

    let options = RabbitOptions::default()
        .with_exchange(&exchange)
        .with_known_topics([dlq.clone()]);
    let reader = RabbitBroker::connect(&url(), options).await?;
    let topics = reader.topics().await?;
    ensure!(
        topics.iter().any(|t| t.name == dlq && t.held == 1),
        "fresh process sees {topics:?}"
    );
    let page = reader.browse(&dlq, 0, 10).await?;
    ensure!(page.len() == 1 && page[0].1.payload == b"dead");
    ensure!(reader.remove(&dlq, &[page[0].0]).await? == 1);
    ensure!(reader.browse(&dlq, 0, 10).await?.is_empty());
    clean_up(&reader).await
}

/// The identity set travels through its own exchange (`smap.events` in production): a
/// subscription of an identity topic is bound there, and what the server itself drops
/// from a subscription queue lands in the topic's `.dlq.v1`, on the identity set's
/// dead-letter exchange, instead of vanishing; a pattern subscription `email.#` does not
/// receive it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_of_another_event_set_use_their_exchange_and_server_dead_letters_are_kept()
-> anyhow::Result<()> {
    use lapin::options::{BasicGetOptions, BasicRejectOptions, ExchangeDeclareOptions};
    let (office, identity) = (unique("switchyard.test"), unique("smap.test"));
    let topic = "email.verification.requested";
    let options = RabbitOptions::default()
        .with_exchange(&office)
        .with_topic_exchange(topic, &identity)
        .with_dead_letter_suffix(".dlq.v1");
    let broker = RabbitBroker::connect(&url(), options).await?;
    let config = SubscriptionConfig::new(unique("mailer"), topic);
    let audit = SubscriptionConfig::new(unique("audit"), "email.#");
    let outcome = async {
        broker.ensure_subscription(&config).await?;
        broker.ensure_subscription(&audit).await?;
        // Every exchange exists (a passive declare fails on a missing one).
        let connection = lapin::Connection::connect(&url(), Default::default()).await?;
        let channel = connection.create_channel().await?;
        let dead_letter_exchanges = [
            format!("{office}.dead-letters"),
            format!("{identity}.dead-letters"),
        ];
        for exchange in [&office, &identity]
            .into_iter()
            .chain(&dead_letter_exchanges)
        {
            channel
                .exchange_declare(
                    exchange.as_str().into(),
                    lapin::ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        passive: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    Default::default(),
                )
                .await
                .with_context(|| format!("exchange {exchange} is missing"))?;
        }
        broker
            .publish(topic, vec![Message::new(b"verify".to_vec())])
            .await?;
        // Another client rejects it without requeue: the server dead-letters it.
        let channel = connection.create_channel().await?;
        let got = channel
            .basic_get(config.name.as_str().into(), BasicGetOptions::default())
            .await?
            .context("the message did not reach the subscription queue")?;
        ensure!(got.delivery.data == b"verify");
        channel
            .basic_reject(
                got.delivery.delivery_tag,
                BasicRejectOptions { requeue: false },
            )
            .await?;
        connection.close(200, "OK".into()).await?;
        let dead_topic = format!("{topic}.dlq.v1");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let held = broker.browse(&dead_topic, 0, 10).await?;
            if let Some((_, message)) = held.first() {
                ensure!(message.payload == b"verify");
                break;
            }
            ensure!(
                std::time::Instant::now() < deadline,
                "the rejected message never reached {dead_topic}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let got = broker
            .fetch(&audit.name, 10, Duration::from_secs(2))
            .await?;
        broker.ack(&audit.name, &tags(&got)).await?;
        let mut seen: Vec<String> = got.into_iter().map(|d| d.topic).collect();
        seen.extend(
            broker
                .fetch(&audit.name, 10, Duration::from_millis(200))
                .await?
                .into_iter()
                .map(|d| d.topic),
        );
        ensure!(seen == [topic], "the pattern subscription got {seen:?}");
        anyhow::Ok(())
    }
    .await;
    clean_up(&broker).await?;
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_with_their_own_namespace_share_a_server() -> anyhow::Result<()> {
    // Same exchange, subscription and topic names; only the namespaces differ.
    let run = uuid::Uuid::now_v7().simple().to_string();
    let namespaces = [format!("a{}", &run[24..]), format!("b{}", &run[24..])];
    let mut brokers = Vec::new();
    for namespace in &namespaces {
        let options = RabbitOptions::default()
            .with_dead_letter_suffix(".dlq.v1")
            .with_namespace(namespace);
        let broker = RabbitBroker::connect(&url(), options).await?;
        broker
            .ensure_subscription(&SubscriptionConfig::new("search-indexer-emails", "emails"))
            .await
            .with_context(|| format!("second deployment `{namespace}` could not subscribe"))?;
        brokers.push(broker);
    }
    brokers[0]
        .publish("emails", vec![Message::new(b"for a".to_vec())])
        .await?;
    brokers[1]
        .publish("emails", vec![Message::new(b"for b".to_vec())])
        .await?;
    // A process that did not create it finds the subscription under its namespace.
    let fresh = RabbitBroker::connect(
        &url(),
        RabbitOptions::default().with_namespace(&namespaces[0]),
    )
    .await?;
    ensure!(fresh.has_subscription("search-indexer-emails").await?);
    ensure!(!fresh.has_subscription("no-such-subscription").await?);
    fresh.close().await?;
    for (broker, expected) in brokers.iter().zip([&b"for a"[..], b"for b"]) {
        let got = broker
            .fetch("search-indexer-emails", 10, Duration::from_secs(2))
            .await?;
        let payloads: Vec<&[u8]> = got.iter().map(|d| d.message.payload.as_slice()).collect();
        ensure!(payloads == [expected], "{:?}", payloads);
        broker.ack("search-indexer-emails", &[got[0].tag]).await?;
        ensure!(
            broker.options().exchange.starts_with(&format!(
                "{}.",
                broker.options().namespace.as_deref().unwrap_or_default()
            )),
            "exchange {} is not under the namespace",
            broker.options().exchange
        );
    }
    for broker in &brokers {
        clean_up(broker).await?;
    }
    Ok(())
}

/// `publish_routes` names the exchange each topic goes through and finds one deleted
/// behind the broker's back (what `GET /health/bus` reports).
#[tokio::test]
async fn publish_routes_report_a_missing_exchange() -> anyhow::Result<()> {
    let run = uuid::Uuid::now_v7().simple().to_string();
    let namespace = format!("r{}", &run[24..]);
    let options = RabbitOptions::default()
        .with_namespace(&namespace)
        .with_topic_exchange("email.verification.requested", "smap.events")
        .with_fanout_exchange("smtp_send_email_exc");
    let broker = RabbitBroker::connect(&url(), options).await?;
    let topics = [
        "email.verification.requested",
        "smtp_send_email_exc",
        "emails",
    ];
    let routes = broker.publish_routes(&topics).await?;
    let destinations: Vec<(&str, bool)> = routes
        .iter()
        .map(|route| (route.destination.as_str(), route.exists))
        .collect();
    let smap = format!("{namespace}.smap.events");
    let legacy = format!("{namespace}.smtp_send_email_exc");
    let default = format!("{namespace}.switchyard.events");
    ensure!(
        destinations
            == [
                (smap.as_str(), true),
                (legacy.as_str(), true),
                (default.as_str(), true)
            ],
        "{destinations:?}"
    );
    delete_exchanges(&legacy).await?;
    let routes = broker.publish_routes(&topics).await?;
    let missing: Vec<&str> = routes
        .iter()
        .filter(|route| !route.exists)
        .map(|route| route.destination.as_str())
        .collect();
    ensure!(missing == [legacy.as_str()], "{missing:?}");
    // The broker's other work goes on after the failed passive declare.
    ensure!(broker.publish_routes(&topics[..1]).await?[0].exists);
    clean_up(&broker).await
}
