//! End-to-end tests of the NATS backend against the server at `NATS_URL` (default
//! `nats://127.0.0.1:4222`): the bus and runtime conformance suites, recovery after a restart, header
//! fidelity, dedupe, ping, and publish throughput. An unreachable server fails the tests.
//!
//! Each test uses its own stream prefix and deletes its streams afterwards, so the tests
//! run side by side on a long-lived server.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, ensure};
use switchyard_bus::{
    Broker, BusErrorKind, Message, SubscriptionConfig, conformance_suite, pattern_conformance_suite,
};
use switchyard_nats::{NatsBroker, NatsOptions};

fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_string())
}

async fn connect(prefix: &str) -> anyhow::Result<NatsBroker> {
    let url = nats_url();
    NatsBroker::connect(&url, NatsOptions::default().with_stream_prefix(prefix))
        .await
        .map_err(|err| anyhow!("NATS at {url} unreachable: {err}"))
}

/// Runs `body` with a fresh stream prefix, then deletes the prefix's streams whatever
/// the outcome.
async fn with_prefix<F, Fut>(body: F) -> anyhow::Result<()>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let prefix = format!("SYT{}", uuid::Uuid::now_v7().simple());
    let outcome = body(prefix.clone()).await;
    let cleanup = delete_streams(&prefix).await;
    outcome?;
    cleanup
}

async fn delete_streams(prefix: &str) -> anyhow::Result<()> {
    connect(prefix).await?.delete_all_streams().await?;
    Ok(())
}

fn tags(deliveries: &[switchyard_bus::Delivery]) -> Vec<switchyard_bus::DeliveryTag> {
    deliveries.iter().map(|d| d.tag).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = connect(&prefix).await?;
        conformance_suite(&broker).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_conformance() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = connect(&prefix).await?;
        pattern_conformance_suite(&broker).await
    })
    .await
}

/// A topic stream created after a pattern subscription, and one created before it with
/// messages already held, both feed it; a restarted process finds the subscription, and
/// pattern streams are no topics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pattern_streams_follow_topics_old_and_new() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = connect(&prefix).await?;
        broker
            .publish("email.sent", vec![Message::new(b"before".to_vec())])
            .await?;
        let config = SubscriptionConfig::new("mail audit", "email.#");
        broker.ensure_subscription(&config).await?;
        broker
            .publish("email", vec![Message::new(b"after".to_vec())])
            .await?;
        let other = connect(&prefix).await?;
        let mut seen = Vec::new();
        let started = Instant::now();
        while seen.len() < 2 && started.elapsed() < Duration::from_secs(20) {
            let got = other
                .fetch(&config.name, 10, Duration::from_secs(2))
                .await?;
            other.ack(&config.name, &tags(&got)).await?;
            seen.extend(got.into_iter().map(|d| {
                (
                    d.topic,
                    String::from_utf8_lossy(&d.message.payload).into_owned(),
                )
            }));
        }
        seen.sort();
        ensure!(
            seen == [
                ("email".to_string(), "after".to_string()),
                ("email.sent".to_string(), "before".to_string())
            ],
            "got {seen:?}"
        );
        let topics: Vec<String> = broker.topics().await?.into_iter().map(|t| t.name).collect();
        ensure!(topics == ["email", "email.sent"], "topics {topics:?}");
        let stats = broker.stats().await?;
        let mine = stats
            .iter()
            .find(|s| s.name == config.name)
            .context("pattern subscription missing from stats")?;
        ensure!(mine.topic == "email.#", "{mine:?}");
        Ok(())
    })
    .await
}

/// A pattern stream that sources a dead-letter topic's stream (as one made before
/// patterns stopped matching dead-letter topics could) loses that source when its
/// subscription is ensured again, and keeps the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensuring_a_pattern_drops_an_old_dead_letter_source() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = connect(&prefix).await?;
        for topic in ["email.sent", "email.errors"] {
            broker
                .publish(topic, vec![Message::new(topic.as_bytes().to_vec())])
                .await?;
        }
        let config = SubscriptionConfig::new("mailer", "email.#");
        broker.ensure_subscription(&config).await?;
        let jetstream = async_nats::jetstream::new(async_nats::connect(nats_url()).await?);
        let pattern_stream = format!("{prefix}_pattern-mailer");
        let stream_of = |topic: &str| {
            let jetstream = jetstream.clone();
            let subject = format!("{prefix}.{topic}");
            async move {
                let mut names = jetstream.streams();
                while let Some(info) = futures_util::TryStreamExt::try_next(&mut names).await? {
                    if info.config.subjects == [subject.clone()] {
                        return anyhow::Ok(info.config.name);
                    }
                }
                anyhow::bail!("no stream captures {subject}")
            }
        };
        let (sent, errors) = (
            stream_of("email.sent").await?,
            stream_of("email.errors").await?,
        );
        let sources = |jetstream: async_nats::jetstream::Context| {
            let pattern_stream = pattern_stream.clone();
            async move {
                let mut stream = jetstream.get_stream(&pattern_stream).await?;
                let mut names: Vec<String> = stream
                    .info()
                    .await?
                    .config
                    .sources
                    .iter()
                    .flatten()
                    .map(|source| source.name.clone())
                    .collect();
                names.sort();
                anyhow::Ok(names)
            }
        };
        ensure!(sources(jetstream.clone()).await? == std::slice::from_ref(&sent));
        let mut old = jetstream
            .get_stream(&pattern_stream)
            .await?
            .info()
            .await?
            .config
            .clone();
        old.sources
            .get_or_insert_with(Vec::new)
            .push(async_nats::jetstream::stream::Source {
                name: errors.clone(),
                ..Default::default()
            });
        jetstream.update_stream(&old).await?;
        let mut both = vec![sent.clone(), errors];
        both.sort();
        ensure!(sources(jetstream.clone()).await? == both);
        connect(&prefix).await?.ensure_subscription(&config).await?;
        let left = sources(jetstream.clone()).await?;
        ensure!(left == [sent], "sources after ensuring again: {left:?}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_conformance_with_embedded_state() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = std::sync::Arc::new(connect(&prefix).await?);
        let dir = tempfile::tempdir()?;
        let state = std::sync::Arc::new(switchyard_state::EmbeddedState::open(dir.path())?);
        switchyard_runtime::runtime_conformance_suite(broker, state).await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_durable_consumers() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let topic = "restart.orders-v1";
        let subscription = "restart.indexer orders";
        let payloads = |range: std::ops::Range<usize>| -> Vec<Message> {
            range
                .map(|i| Message {
                    key: Some(format!("k{i}")),
                    headers: vec![("ce-id".into(), format!("id-{i}"))],
                    payload: format!("m{i}").into_bytes(),
                })
                .collect()
        };

        let first = connect(&prefix).await?;
        first
            .ensure_subscription(
                &SubscriptionConfig::new(subscription, topic)
                    .with_ack_deadline(Duration::from_secs(1)),
            )
            .await?;
        first.publish(topic, payloads(0..3)).await?;
        let got = first
            .fetch(subscription, 10, Duration::from_secs(5))
            .await?;
        ensure!(got.len() == 3, "fetched {} of 3", got.len());
        first.ack(subscription, &[got[0].tag]).await?;
        first
            .nack(subscription, &[got[2].tag], Duration::from_millis(200))
            .await?;
        drop(first);

        // A new process: no ensure_subscription, the durable consumer is found on the server.
        let second = connect(&prefix).await?;
        second.publish(topic, payloads(3..5)).await?;
        let mut seen: BTreeMap<String, (u32, u32)> = BTreeMap::new();
        let started = Instant::now();
        while seen.len() < 4 && started.elapsed() < Duration::from_secs(10) {
            let batch = second
                .fetch(subscription, 10, Duration::from_secs(2))
                .await?;
            for delivery in &batch {
                let payload = String::from_utf8(delivery.message.payload.clone())?;
                seen.insert(payload, (delivery.delivery_count, delivery.retry_count));
            }
            second.ack(subscription, &tags(&batch)).await?;
        }
        let expected: BTreeMap<String, (u32, u32)> = [
            // Unacked before the restart: back after the ack deadline.
            ("m1".to_string(), (2, 0)),
            // Nacked once before the restart; the retry count lives in the old process,
            // so it reads 0 here (documented: a restart may grant extra retries).
            ("m2".to_string(), (2, 0)),
            ("m3".to_string(), (1, 0)),
            ("m4".to_string(), (1, 0)),
        ]
        .into();
        ensure!(seen == expected, "after restart saw {seen:?}");
        let again = second
            .fetch(subscription, 10, Duration::from_millis(100))
            .await?;
        ensure!(
            again.is_empty(),
            "acknowledged messages came back: {again:?}"
        );

        let stats = second.stats().await?;
        let mine = stats
            .iter()
            .find(|s| s.name == subscription)
            .context("subscription missing from stats")?;
        ensure!(
            mine.topic == topic && mine.published == 5 && mine.lag() == 0,
            "unexpected {mine:?}"
        );
        let topics = second.topics().await?;
        ensure!(
            topics.len() == 1 && topics[0].name == topic && topics[0].published == 5,
            "unexpected {topics:?}"
        );

        // The same subscription on another topic is refused; a new deadline is applied.
        let elsewhere = second
            .ensure_subscription(&SubscriptionConfig::new(subscription, "restart.other"))
            .await
            .err()
            .context("a subscription moved to another topic")?;
        ensure!(
            elsewhere.kind() == BusErrorKind::InvalidArgument,
            "{elsewhere}"
        );
        second
            .ensure_subscription(
                &SubscriptionConfig::new(subscription, topic)
                    .with_ack_deadline(Duration::from_secs(45)),
            )
            .await?;
        let client = async_nats::connect(nats_url()).await?;
        let consumer = async_nats::jetstream::new(client)
            .get_stream(second.stream_name(topic))
            .await?
            .consumer_info("restart_indexer_orders")
            .await?;
        ensure!(
            consumer.config.ack_wait == Duration::from_secs(45),
            "ack wait {:?}",
            consumer.config.ack_wait
        );
        // Other options on the next start are applied to the existing consumer too.
        let third = NatsBroker::connect(
            &nats_url(),
            NatsOptions {
                max_ack_pending: 500,
                ..NatsOptions::default().with_stream_prefix(&prefix)
            },
        )
        .await?;
        third
            .ensure_subscription(
                &SubscriptionConfig::new(subscription, topic)
                    .with_ack_deadline(Duration::from_secs(45)),
            )
            .await?;
        let client = async_nats::connect(nats_url()).await?;
        let consumer = async_nats::jetstream::new(client)
            .get_stream(third.stream_name(topic))
            .await?
            .consumer_info("restart_indexer_orders")
            .await?;
        ensure!(
            consumer.config.max_ack_pending == 500,
            "max ack pending {}",
            consumer.config.max_ack_pending
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_keys_and_dedupe() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = connect(&prefix).await?;
        let topic = "fidelity.events";
        let header = |name: &str, value: &str| (name.to_string(), value.to_string());
        let message = Message {
            key: Some("user-42".into()),
            headers: vec![
                header("z-first", "1"),
                header("ce-id", "event-1"),
                header("z-first", "2"),
                header(
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
                header("Empty", ""),
            ],
            payload: vec![0, 255, 10, 13],
        };
        broker
            .ensure_subscription(&SubscriptionConfig::new("fidelity", topic))
            .await?;
        // The same ce-id twice: stored once.
        broker
            .publish(topic, vec![message.clone(), message.clone()])
            .await?;
        let got = broker.fetch("fidelity", 10, Duration::from_secs(5)).await?;
        ensure!(got.len() == 1, "dedupe let {} through", got.len());
        ensure!(
            got[0].message == message,
            "changed in transit: {:?}",
            got[0].message
        );
        broker.ack("fidelity", &tags(&got)).await?;
        let browsed = broker.browse(topic, 0, 10).await?;
        ensure!(
            browsed.len() == 1 && browsed[0].1 == message,
            "browsed {browsed:?}"
        );

        let refused = broker
            .publish(
                topic,
                vec![Message {
                    headers: vec![header("bad name", "v")],
                    ..Message::default()
                }],
            )
            .await
            .err()
            .context("a bad header name was published")?;
        ensure!(refused.kind() == BusErrorKind::InvalidArgument);
        let refused = broker
            .publish("bad topic", vec![Message::new(vec![])])
            .await
            .err()
            .context("a bad topic was published to")?;
        ensure!(refused.kind() == BusErrorKind::InvalidArgument);
        broker
            .publish("collide.a-b", vec![Message::new(vec![])])
            .await?;
        let collision = broker
            .publish("collide.a.b", vec![Message::new(vec![])])
            .await
            .err()
            .context("two topics shared a stream")?;
        ensure!(
            collision.kind() == BusErrorKind::InvalidArgument,
            "{collision}"
        );
        // Tags the broker never handed out are ignored.
        broker
            .ack("fidelity", &[switchyard_bus::DeliveryTag(999)])
            .await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_is_retryable() -> anyhow::Result<()> {
    let err = NatsBroker::connect("nats://127.0.0.1:1", NatsOptions::default())
        .await
        .err()
        .context("connected to a closed port")?;
    ensure!(err.is_retryable(), "{err}");
    ensure!(
        err.to_string()
            .starts_with("failed to connect to NATS at nats://127.0.0.1:1: ")
    );
    Ok(())
}

/// `ping` is a JetStream round trip that works on every server since 2.9 (async-nats'
/// own account query does not parse a 2.9 answer). Failing pings are in `tests/fault.rs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_answers_when_jetstream_does() -> anyhow::Result<()> {
    let broker = connect("SYTPING").await?;
    let started = Instant::now();
    broker.ping().await?;
    ensure!(
        started.elapsed() < Duration::from_secs(2),
        "ping took {:?}",
        started.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_throughput() -> anyhow::Result<()> {
    with_prefix(|prefix| async move {
        let broker = connect(&prefix).await?;
        let topic = "throughput.events";
        broker
            .ensure_subscription(&SubscriptionConfig::new("throughput", topic))
            .await?;
        const COUNT: usize = 20_000;
        const BATCH: usize = 1_000;
        let messages: Vec<Message> = (0..COUNT)
            .map(|i| Message {
                key: Some(format!("user-{}", i % 50)),
                headers: (0..10)
                    .map(|h| (format!("x-header-{h}"), format!("value-{i}-{h}")))
                    .chain([("ce-id".to_string(), format!("id-{i}"))])
                    .collect(),
                payload: vec![b'x'; 1024],
            })
            .collect();
        let started = Instant::now();
        for chunk in messages.chunks(BATCH) {
            broker.publish(topic, chunk.to_vec()).await?;
        }
        let publish_secs = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut received = 0;
        loop {
            // A pause of the server is not the end while messages are missing; once all
            // are in, a short wait shows whether any extra one follows.
            let wait = if received < COUNT {
                Duration::from_secs(2)
            } else {
                Duration::from_millis(200)
            };
            let batch = broker.fetch("throughput", 500, wait).await?;
            if batch.is_empty() {
                if received < COUNT && started.elapsed() < Duration::from_secs(60) {
                    continue;
                }
                break;
            }
            received += batch.len();
            broker.ack("throughput", &tags(&batch)).await?;
        }
        let consume_secs = started.elapsed().as_secs_f64();
        ensure!(received == COUNT, "received {received} of {COUNT}");
        println!(
            "nats publish: {COUNT} messages of 1 KiB + 11 headers in batches of {BATCH}: \
             {:.0} msg/s; fetch 500 + ack: {:.0} msg/s",
            COUNT as f64 / publish_secs,
            COUNT as f64 / consume_secs
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_all_streams_touches_only_the_own_prefix() -> anyhow::Result<()> {
    with_prefix(|mine| async move {
        with_prefix(|theirs| async move {
            let (a, b) = (connect(&mine).await?, connect(&theirs).await?);
            for broker in [&a, &b] {
                broker
                    .publish("cleanup.orders", vec![Message::new(b"x".to_vec())])
                    .await?;
            }
            ensure!(a.delete_all_streams().await? == 1);
            ensure!(
                a.topics().await?.is_empty(),
                "streams of the prefix are left"
            );
            ensure!(
                b.topics().await?.len() == 1,
                "another prefix lost its stream"
            );
            Ok(())
        })
        .await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_with_their_own_prefix_share_a_server() -> anyhow::Result<()> {
    // Same subscription and topic names; only the stream prefixes (namespaces) differ.
    with_prefix(|blue| async move {
        with_prefix(|green| async move {
            let brokers = [connect(&blue).await?, connect(&green).await?];
            for broker in &brokers {
                broker
                    .ensure_subscription(&SubscriptionConfig::new(
                        "search-indexer-emails",
                        "emails",
                    ))
                    .await?;
            }
            for (broker, payload) in brokers.iter().zip([&b"for blue"[..], b"for green"]) {
                broker
                    .publish("emails", vec![Message::new(payload.to_vec())])
                    .await?;
            }
            for (broker, expected) in brokers.iter().zip([&b"for blue"[..], b"for green"]) {
                let got = broker
                    .fetch("search-indexer-emails", 10, Duration::from_secs(2))
                    .await?;
                let payloads: Vec<&[u8]> =
                    got.iter().map(|d| d.message.payload.as_slice()).collect();
                ensure!(payloads == [expected], "{payloads:?}");
                broker.ack("search-indexer-emails", &[got[0].tag]).await?;
            }
            Ok(())
        })
        .await
    })
    .await
}
