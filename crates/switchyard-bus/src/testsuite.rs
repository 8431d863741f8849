//! The broker conformance suite: named checks every [`Broker`] backend must pass.
//!
//! Each check uses fresh topic and subscription names, so the suite runs against a
//! long-lived server as well as a new embedded store.
//!
//! A reader waits for what it expects until `PATIENCE` passes: one empty fetch is no
//! proof that nothing more is coming on a busy server. Only once everything expected is
//! in does a `SHORT_WAIT` fetch check that nothing extra follows.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, ensure};

use crate::{Broker, BusErrorKind, Delivery, Message, SubscriptionConfig};

const SHORT_WAIT: Duration = Duration::from_millis(50);
const LONG_WAIT: Duration = Duration::from_secs(5);
/// How long a reader keeps fetching for messages it still expects.
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs every check against `broker`; the error names the check that failed.
pub async fn conformance_suite(broker: &dyn Broker) -> anyhow::Result<()> {
    publish_fetch_ack(broker)
        .await
        .context("publish_fetch_ack")?;
    fan_out(broker).await.context("fan_out")?;
    batch_fetch(broker).await.context("batch_fetch")?;
    ack_deadline_redelivery(broker)
        .await
        .context("ack_deadline_redelivery")?;
    nack_redelivers_after_delay(broker)
        .await
        .context("nack_redelivers_after_delay")?;
    release_redelivers_at_once_without_a_retry(broker)
        .await
        .context("release_redelivers_at_once_without_a_retry")?;
    browse_and_remove(broker)
        .await
        .context("browse_and_remove")?;
    competing_consumers_share_work(broker)
        .await
        .context("competing_consumers_share_work")?;
    fetch_waits_for_publish(broker)
        .await
        .context("fetch_waits_for_publish")?;
    unknown_subscription_is_reported(broker)
        .await
        .context("unknown_subscription_is_reported")?;
    large_batch(broker).await.context("large_batch")?;
    Ok(())
}

/// Runs the checks of pattern subscriptions (`*` one word, `#` zero or more) against a
/// `broker` that supports them; the error names the check that failed.
pub async fn pattern_conformance_suite(broker: &dyn Broker) -> anyhow::Result<()> {
    star_and_hash_select_topics(broker)
        .await
        .context("star_and_hash_select_topics")?;
    pattern_and_exact_subscriptions_each_get_every_message_once(broker)
        .await
        .context("pattern_and_exact_subscriptions_each_get_every_message_once")?;
    pattern_subscription_acks_and_nacks(broker)
        .await
        .context("pattern_subscription_acks_and_nacks")?;
    publish_refuses_a_pattern(broker)
        .await
        .context("publish_refuses_a_pattern")?;
    patterns_never_match_dead_letter_topics(broker)
        .await
        .context("patterns_never_match_dead_letter_topics")?;
    browse_keeps_dead_letters_beside_a_pattern(broker)
        .await
        .context("browse_keeps_dead_letters_beside_a_pattern")?;
    Ok(())
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

fn numbered(count: usize) -> Vec<Message> {
    (0..count)
        .map(|i| Message {
            key: Some(format!("key-{}", i % 3)),
            headers: vec![("ce-id".into(), i.to_string())],
            payload: format!("message {i}").into_bytes(),
        })
        .collect()
}

async fn subscribe(
    broker: &dyn Broker,
    topic: &str,
    ack_deadline: Duration,
) -> anyhow::Result<String> {
    let name = unique("sub");
    broker
        .ensure_subscription(&SubscriptionConfig::new(&name, topic).with_ack_deadline(ack_deadline))
        .await?;
    Ok(name)
}

async fn publish_fetch_ack(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.basic");
    let sub = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    let sent = numbered(3);
    broker.publish(&topic, sent.clone()).await?;
    let got = broker.fetch(&sub, 10, LONG_WAIT).await?;
    let messages: Vec<Message> = got.iter().map(|d| d.message.clone()).collect();
    ensure!(
        messages == sent,
        "expected the published messages in order, got {messages:?}"
    );
    ensure!(
        got.iter()
            .all(|d| d.delivery_count == 1 && d.topic == topic)
    );
    broker
        .ack(&sub, &got.iter().map(|d| d.tag).collect::<Vec<_>>())
        .await?;
    let again = broker.fetch(&sub, 10, SHORT_WAIT).await?;
    ensure!(
        again.is_empty(),
        "acknowledged messages came back: {again:?}"
    );
    let stats = broker.stats().await?;
    let mine = stats
        .iter()
        .find(|s| s.name == sub)
        .context("subscription missing from stats")?;
    ensure!(
        mine.lag() == 0 && mine.published == 3,
        "unexpected stats {mine:?}"
    );
    Ok(())
}

async fn fan_out(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.fanout");
    let first = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    let second = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    broker.publish(&topic, numbered(4)).await?;
    for sub in [&first, &second] {
        let got = broker.fetch(sub, 10, LONG_WAIT).await?;
        ensure!(got.len() == 4, "{sub} got {} of 4", got.len());
        broker
            .ack(sub, &got.iter().map(|d| d.tag).collect::<Vec<_>>())
            .await?;
    }
    Ok(())
}

async fn batch_fetch(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.batch");
    let sub = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    broker.publish(&topic, numbered(25)).await?;
    let mut sizes = Vec::new();
    let started = std::time::Instant::now();
    loop {
        let received: usize = sizes.iter().sum();
        let wait = if received < 25 { LONG_WAIT } else { SHORT_WAIT };
        let got = broker.fetch(&sub, 10, wait).await?;
        if got.is_empty() {
            if received < 25 && started.elapsed() < PATIENCE {
                continue;
            }
            break;
        }
        sizes.push(got.len());
        broker
            .ack(&sub, &got.iter().map(|d| d.tag).collect::<Vec<_>>())
            .await?;
    }
    ensure!(sizes == [10, 10, 5], "batches of {sizes:?}");
    Ok(())
}

async fn ack_deadline_redelivery(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.deadline");
    let sub = subscribe(broker, &topic, Duration::from_millis(300)).await?;
    broker.publish(&topic, numbered(1)).await?;
    let first = broker.fetch(&sub, 1, LONG_WAIT).await?;
    ensure!(first.len() == 1);
    let early = broker.fetch(&sub, 1, SHORT_WAIT).await?;
    ensure!(early.is_empty(), "redelivered before the ack deadline");
    let again = broker.fetch(&sub, 1, LONG_WAIT).await?;
    ensure!(again.len() == 1, "not redelivered after the ack deadline");
    ensure!(
        again[0].delivery_count == 2,
        "delivery count {}",
        again[0].delivery_count
    );
    ensure!(again[0].message == first[0].message);
    broker.ack(&sub, &[again[0].tag]).await?;
    Ok(())
}

async fn nack_redelivers_after_delay(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.nack");
    let sub = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    broker.publish(&topic, numbered(1)).await?;
    let first = broker.fetch(&sub, 1, LONG_WAIT).await?;
    broker
        .nack(&sub, &[first[0].tag], Duration::from_millis(400))
        .await?;
    let early = broker.fetch(&sub, 1, SHORT_WAIT).await?;
    ensure!(early.is_empty(), "redelivered before the nack delay");
    let started = std::time::Instant::now();
    let again = broker.fetch(&sub, 1, LONG_WAIT).await?;
    ensure!(again.len() == 1, "not redelivered after nack");
    ensure!(
        started.elapsed() < Duration::from_secs(3),
        "redelivery took {:?}",
        started.elapsed()
    );
    ensure!(again[0].delivery_count == 2);
    ensure!(
        again[0].retry_count == 1,
        "retry count {}",
        again[0].retry_count
    );
    broker.ack(&sub, &[again[0].tag]).await?;
    Ok(())
}

async fn release_redelivers_at_once_without_a_retry(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.release");
    let sub = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    broker.publish(&topic, numbered(1)).await?;
    let first = broker.fetch(&sub, 1, LONG_WAIT).await?;
    broker.release(&sub, &[first[0].tag]).await?;
    let again = broker.fetch(&sub, 1, SHORT_WAIT).await?;
    ensure!(
        again.len() == 1,
        "a released message was not delivered again at once"
    );
    ensure!(again[0].retry_count == 0, "a release counted as a retry");
    broker.ack(&sub, &[again[0].tag]).await?;
    Ok(())
}

async fn browse_and_remove(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.browse");
    broker.publish(&topic, numbered(5)).await?;
    let all = broker.browse(&topic, 0, 100).await?;
    ensure!(all.len() == 5, "browsed {} of 5", all.len());
    let page = broker.browse(&topic, all[1].0, 2).await?;
    ensure!(page.iter().map(|(seq, _)| *seq).collect::<Vec<_>>() == [all[2].0, all[3].0]);
    ensure!(
        broker
            .remove(&topic, &[all[0].0, all[0].0 + 1_000_000])
            .await?
            == 1
    );
    let rest = broker.browse(&topic, 0, 100).await?;
    ensure!(
        rest.len() == 4 && rest[0].1 == all[1].1,
        "remove took the wrong message"
    );
    let stats = broker.topics().await?;
    let mine = stats
        .iter()
        .find(|t| t.name == topic)
        .context("topic missing from topics()")?;
    ensure!(mine.published == 5 && mine.held == 4, "unexpected {mine:?}");
    Ok(())
}

async fn competing_consumers_share_work(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.compete");
    let sub = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    broker.publish(&topic, numbered(200)).await?;
    // Both consumers read until the two of them hold all 200 or `PATIENCE` passes; then
    // each one's last, short fetch shows whether a message came twice.
    let delivered = std::sync::atomic::AtomicUsize::new(0);
    let started = std::time::Instant::now();
    let consume = || async {
        let mut seen = Vec::new();
        loop {
            let all_in = delivered.load(std::sync::atomic::Ordering::SeqCst) >= 200;
            let wait = if all_in {
                SHORT_WAIT
            } else {
                Duration::from_millis(500)
            };
            let got = broker.fetch(&sub, 7, wait).await?;
            if got.is_empty() {
                if !all_in && started.elapsed() < PATIENCE {
                    continue;
                }
                return anyhow::Ok(seen);
            }
            delivered.fetch_add(got.len(), std::sync::atomic::Ordering::SeqCst);
            broker
                .ack(&sub, &got.iter().map(|d| d.tag).collect::<Vec<_>>())
                .await?;
            seen.extend(got.into_iter().map(|d| d.message.payload));
        }
    };
    let (a, b) = tokio::join!(consume(), consume());
    let (a, b) = (a?, b?);
    let all: BTreeSet<_> = a.iter().chain(b.iter()).cloned().collect();
    ensure!(
        a.len() + b.len() == 200,
        "{} + {} deliveries for 200 messages",
        a.len(),
        b.len()
    );
    ensure!(all.len() == 200, "only {} distinct messages", all.len());
    Ok(())
}

async fn fetch_waits_for_publish(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.wait");
    let sub = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    let fetch = broker.fetch(&sub, 5, LONG_WAIT);
    let publish = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        broker.publish(&topic, numbered(1)).await
    };
    let (got, published) = tokio::join!(fetch, publish);
    published?;
    ensure!(got?.len() == 1, "a waiting fetch missed the publish");
    Ok(())
}

async fn unknown_subscription_is_reported(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.exists");
    let known = subscribe(broker, &topic, Duration::from_secs(30)).await?;
    ensure!(
        broker.has_subscription(&known).await?,
        "an ensured subscription is not found"
    );
    ensure!(
        !broker.has_subscription(&unique("missing")).await?,
        "a missing subscription is found"
    );
    let err = broker
        .fetch(&unique("missing"), 1, SHORT_WAIT)
        .await
        .err()
        .context("fetch on an unknown subscription succeeded")?;
    ensure!(
        err.kind() == BusErrorKind::UnknownSubscription,
        "kind {:?}",
        err.kind()
    );
    Ok(())
}

async fn large_batch(broker: &dyn Broker) -> anyhow::Result<()> {
    let topic = unique("conformance.large");
    let sub = subscribe(broker, &topic, Duration::from_secs(60)).await?;
    let sent = numbered(10_000);
    for chunk in sent.chunks(1000) {
        broker.publish(&topic, chunk.to_vec()).await?;
    }
    let mut received = 0;
    let mut keys_in_order: std::collections::HashMap<String, Vec<usize>> = Default::default();
    loop {
        // While messages are missing, a pause of the engine is not the end; once all are
        // in, a short wait shows whether any extra one follows.
        let wait = if received < 10_000 {
            LONG_WAIT
        } else {
            SHORT_WAIT
        };
        let got = broker.fetch(&sub, 500, wait).await?;
        if got.is_empty() {
            break;
        }
        for delivery in &got {
            let index: usize = delivery
                .message
                .header("ce-id")
                .context("header lost")?
                .parse()?;
            let key = delivery.message.key.clone().context("key lost")?;
            keys_in_order.entry(key).or_default().push(index);
        }
        received += got.len();
        broker
            .ack(&sub, &got.iter().map(|d| d.tag).collect::<Vec<_>>())
            .await?;
    }
    ensure!(received == 10_000, "received {received} of 10000");
    for (key, indexes) in keys_in_order {
        ensure!(
            indexes.windows(2).all(|w| w[0] < w[1]),
            "order broken for {key}"
        );
    }
    Ok(())
}

/// Fetches and acks until `expected` deliveries are in (or `PATIENCE` passes), then checks
/// with a short fetch that nothing more follows.
async fn drain(broker: &dyn Broker, sub: &str, expected: usize) -> anyhow::Result<Vec<Delivery>> {
    let started = std::time::Instant::now();
    let mut got = Vec::new();
    loop {
        let wait = if got.len() < expected {
            LONG_WAIT
        } else {
            SHORT_WAIT
        };
        let batch = broker.fetch(sub, 50, wait).await?;
        if batch.is_empty() {
            if got.len() < expected && started.elapsed() < PATIENCE {
                continue;
            }
            return Ok(got);
        }
        broker
            .ack(sub, &batch.iter().map(|d| d.tag).collect::<Vec<_>>())
            .await?;
        got.extend(batch);
    }
}

/// The concrete topics of `deliveries`, sorted, each with the payload it carried.
fn topics_of(deliveries: &[Delivery]) -> Vec<(String, String)> {
    let mut topics: Vec<(String, String)> = deliveries
        .iter()
        .map(|d| {
            (
                d.topic.clone(),
                String::from_utf8_lossy(&d.message.payload).into_owned(),
            )
        })
        .collect();
    topics.sort();
    topics
}

async fn star_and_hash_select_topics(broker: &dyn Broker) -> anyhow::Result<()> {
    let base = unique("conformance-pattern");
    let topic = |rest: &str| format!("{base}.{rest}");
    let email = subscribe(broker, &topic("email.#"), Duration::from_secs(30)).await?;
    let subscription = subscribe(broker, &topic("subscription.*"), Duration::from_secs(30)).await?;
    let middle = subscribe(broker, &topic("a.*.c"), Duration::from_secs(30)).await?;
    let everything = subscribe(broker, &format!("{base}.#"), Duration::from_secs(30)).await?;
    let published = [
        "email",
        "email.verification.requested",
        "emails.sent",
        "subscription.created",
        "subscription.a.b",
        "subscription",
        "a.b.c",
        "a.c",
        "a.b.b.c",
    ];
    for rest in published {
        broker
            .publish(&topic(rest), vec![Message::new(rest.as_bytes().to_vec())])
            .await?;
    }
    let expect = |rests: &[&str]| -> Vec<(String, String)> {
        let mut expected: Vec<(String, String)> = rests
            .iter()
            .map(|rest| (topic(rest), rest.to_string()))
            .collect();
        expected.sort();
        expected
    };
    for (sub, rests) in [
        (&email, expect(&["email", "email.verification.requested"])),
        (&subscription, expect(&["subscription.created"])),
        (&middle, expect(&["a.b.c"])),
        (&everything, expect(&published)),
    ] {
        let got = topics_of(&drain(broker, sub, rests.len()).await?);
        ensure!(
            got == rests,
            "{sub} expected (topic, payload) {rests:?}, got {got:?}"
        );
    }
    let stats = broker.stats().await?;
    let mine = stats
        .iter()
        .find(|s| s.name == email)
        .context("pattern subscription missing from stats")?;
    ensure!(
        mine.topic == topic("email.#") && mine.lag() == 0,
        "unexpected stats {mine:?}"
    );
    Ok(())
}

async fn pattern_and_exact_subscriptions_each_get_every_message_once(
    broker: &dyn Broker,
) -> anyhow::Result<()> {
    let base = unique("conformance-pattern");
    let exact_topic = format!("{base}.orders.created");
    let exact = subscribe(broker, &exact_topic, Duration::from_secs(30)).await?;
    let pattern = subscribe(broker, &format!("{base}.orders.*"), Duration::from_secs(30)).await?;
    let sent = numbered(5);
    broker.publish(&exact_topic, sent.clone()).await?;
    for sub in [&exact, &pattern] {
        let got = drain(broker, sub, sent.len()).await?;
        let mut payloads: Vec<Vec<u8>> = got.iter().map(|d| d.message.payload.clone()).collect();
        payloads.sort();
        let mut expected: Vec<Vec<u8>> = sent.iter().map(|m| m.payload.clone()).collect();
        expected.sort();
        ensure!(
            payloads == expected,
            "{sub} got {} deliveries for {} messages: {payloads:?}",
            got.len(),
            sent.len()
        );
        ensure!(
            got.iter()
                .all(|d| d.topic == exact_topic && d.delivery_count == 1),
            "{sub} deliveries name another topic or came twice: {got:?}"
        );
    }
    Ok(())
}

async fn pattern_subscription_acks_and_nacks(broker: &dyn Broker) -> anyhow::Result<()> {
    let base = unique("conformance-pattern");
    let sub = subscribe(broker, &format!("{base}.jobs.#"), Duration::from_secs(30)).await?;
    let topic = format!("{base}.jobs.started");
    broker.publish(&topic, numbered(1)).await?;
    let first = broker.fetch(&sub, 1, LONG_WAIT).await?;
    ensure!(first.len() == 1, "nothing delivered");
    ensure!(first[0].topic == topic, "delivered as {}", first[0].topic);
    broker
        .nack(&sub, &[first[0].tag], Duration::from_millis(300))
        .await?;
    let early = broker.fetch(&sub, 1, SHORT_WAIT).await?;
    ensure!(early.is_empty(), "redelivered before the nack delay");
    let again = broker.fetch(&sub, 1, LONG_WAIT).await?;
    ensure!(again.len() == 1, "not redelivered after nack");
    ensure!(
        again[0].retry_count == 1 && again[0].topic == topic,
        "unexpected redelivery {:?}",
        again[0]
    );
    ensure!(again[0].message == first[0].message);
    broker.ack(&sub, &[again[0].tag]).await?;
    let after = broker.fetch(&sub, 1, SHORT_WAIT).await?;
    ensure!(after.is_empty(), "an acknowledged message came back");
    Ok(())
}

async fn publish_refuses_a_pattern(broker: &dyn Broker) -> anyhow::Result<()> {
    let base = unique("conformance-pattern");
    for pattern in [format!("{base}.*"), format!("{base}.#")] {
        let err = broker
            .publish(&pattern, numbered(1))
            .await
            .err()
            .context("publishing on a pattern succeeded")?;
        ensure!(
            err.kind() == BusErrorKind::InvalidArgument,
            "kind {:?}",
            err.kind()
        );
    }
    Ok(())
}

/// `#` and `email.#` receive neither `email.errors` nor `….dlq.v1`, also what those held
/// when the pattern subscriptions were created; an exact subscription to `email.errors`
/// receives it.
async fn patterns_never_match_dead_letter_topics(broker: &dyn Broker) -> anyhow::Result<()> {
    let base = unique("conformance-dlq");
    let topic = |rest: &str| format!("{base}.{rest}");
    let exact = subscribe(broker, &topic("email.errors"), Duration::from_secs(30)).await?;
    let before = [("email.errors", "early"), ("x.dlq.v1", "early dlq")];
    for (rest, payload) in before {
        broker
            .publish(
                &topic(rest),
                vec![Message::new(payload.as_bytes().to_vec())],
            )
            .await?;
    }
    let everything = subscribe(broker, &format!("{base}.#"), Duration::from_secs(30)).await?;
    let email = subscribe(broker, &topic("email.#"), Duration::from_secs(30)).await?;
    let after = [
        ("email.errors", "late"),
        ("x.dlq.v1", "dlq"),
        ("email.verification.requested.dlq.v1", "foreign"),
        ("email.sent", "sent"),
    ];
    for (rest, payload) in after {
        broker
            .publish(
                &topic(rest),
                vec![Message::new(payload.as_bytes().to_vec())],
            )
            .await?;
    }
    let sent = vec![(topic("email.sent"), "sent".to_string())];
    let errors = |payload: &str| (topic("email.errors"), payload.to_string());
    for (sub, expected) in [
        (&everything, sent.clone()),
        (&email, sent),
        (&exact, vec![errors("early"), errors("late")]),
    ] {
        let got = topics_of(&drain(broker, sub, expected.len()).await?);
        ensure!(
            got == expected,
            "{sub} expected (topic, payload) {expected:?}, got {got:?}"
        );
    }
    Ok(())
}

/// With a pattern subscription `email.#` present, what is published to `email.errors`
/// (before and after the subscription was created) stays there for `browse`.
async fn browse_keeps_dead_letters_beside_a_pattern(broker: &dyn Broker) -> anyhow::Result<()> {
    let base = unique("conformance-dlq");
    let dead_letters = format!("{base}.email.errors");
    broker
        .publish(&dead_letters, vec![Message::new(b"before".to_vec())])
        .await?;
    let email = subscribe(broker, &format!("{base}.email.#"), Duration::from_secs(30)).await?;
    broker
        .publish(&dead_letters, vec![Message::new(b"after".to_vec())])
        .await?;
    broker
        .publish(
            &format!("{base}.email.sent"),
            vec![Message::new(b"sent".to_vec())],
        )
        .await?;
    let got = topics_of(&drain(broker, &email, 1).await?);
    ensure!(
        got == [(format!("{base}.email.sent"), "sent".to_string())],
        "the pattern subscription got {got:?}"
    );
    let browsed: Vec<Vec<u8>> = broker
        .browse(&dead_letters, 0, 10)
        .await?
        .into_iter()
        .map(|(_, message)| message.payload)
        .collect();
    ensure!(
        browsed == [b"before".to_vec(), b"after".to_vec()],
        "browse of {dead_letters} gave {browsed:?}"
    );
    Ok(())
}
