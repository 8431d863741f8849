//! Restart test of the PostgreSQL outbox under the runtime's real `OutboxRelay`: 20 000
//! events wait in the outbox of a PostgreSQL cluster of this test's own
//! (`switchyard_bus::private_postgres`), the relay publishes them to an embedded broker, and midway the
//! server is killed (SIGKILL, no shutdown), stays away for 10 s and is started again on
//! the same port and data directory (crash recovery).
//!
//! What must hold: the relay resumes by itself (the pool reconnects; nothing is
//! restarted) within a few seconds of the server's return; every event reaches the broker,
//! each distinct event id once after dedupe (the round cut by the kill is published
//! again); `PostgresOutbox::ping` fails during the outage and answers after it. Prints how
//! long ping took to fail, and the times from the server's return to the first answered
//! ping, the first event relayed and the outbox drained.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use switchyard_bus::{Broker, EmbeddedBroker, SubscriptionConfig, private_postgres};
use switchyard_contracts::{Email, EmailEvent, Envelope, Operation, Registry, SyncType};
use switchyard_postgres::PostgresOutbox;
use switchyard_runtime::{OutboxRelay, Publisher, outbox_entry};
use switchyard_state::Outbox;
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 20_000;
const TABLE: &str = "switchyard_outbox";
const SUBSCRIPTION: &str = "restart-relay";
/// Events per relay round.
const RELAY_BATCH: usize = 250;
/// Events relayed before the server is killed.
const RELAYED_BEFORE_OUTAGE: u64 = 5_000;
/// How long the server is away.
const OUTAGE: Duration = Duration::from_secs(10);
/// Longest wait, once the server is back, for the relay to publish again.
const RECOVERY_BUDGET: Duration = Duration::from_secs(5);
/// Longest wait for the outbox to drain after the restart.
const DRAIN_BUDGET: Duration = Duration::from_secs(30);

fn email_envelope(n: usize) -> Envelope {
    let email = Email {
        id: format!("<restart-{n}@example.com>"),
        subject: format!("mail {n}"),
        ..Email::default()
    };
    EmailEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "mbox",
        format!("user-{}", n % 16),
        "batch-1",
        email,
    )
    .to_envelope("switchyard://test", "job-1")
    .expect("a valid email event")
}

/// Enqueues the test's events in transactions of 1 000; returns their event ids.
async fn enqueue_events(
    outbox: &PostgresOutbox,
    registry: &Registry,
) -> anyhow::Result<Vec<String>> {
    let mut event_ids = Vec::with_capacity(EVENTS);
    for chunk_start in (0..EVENTS).step_by(1_000) {
        let mut keys = Vec::new();
        let mut payloads = Vec::new();
        for n in chunk_start..(chunk_start + 1_000).min(EVENTS) {
            let envelope = email_envelope(n);
            keys.push(registry.prepare(&envelope)?.partition_key);
            payloads.push(outbox_entry(registry, &envelope)?);
            event_ids.push(envelope.id);
        }
        let events: Vec<(&str, &[u8])> = keys
            .iter()
            .map(String::as_str)
            .zip(payloads.iter().map(Vec::as_slice))
            .collect();
        let mut tx = outbox.pool().begin().await?;
        outbox.enqueue_many(&mut tx, &events).await?;
        tx.commit().await?;
    }
    Ok(event_ids)
}

/// Messages published on the subscription's topic so far.
async fn published(broker: &dyn Broker) -> anyhow::Result<u64> {
    Ok(broker
        .stats()
        .await?
        .into_iter()
        .find(|stats| stats.name == SUBSCRIPTION)
        .context("subscription missing from stats")?
        .published)
}

/// The event id of every message the subscription holds, acked.
async fn drain(broker: &dyn Broker) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    loop {
        let batch = broker
            .fetch(SUBSCRIPTION, 1_000, Duration::from_millis(20))
            .await?;
        if batch.is_empty() {
            return Ok(ids);
        }
        let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
        for delivery in batch {
            ids.push(Envelope::from_json_slice(&delivery.message.payload)?.id);
        }
        broker.ack(SUBSCRIPTION, &tags).await?;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_resumes_by_itself_after_postgresql_restarts() -> anyhow::Result<()> {
    let mut server = private_postgres(None).await?;
    let url = format!("postgres://postgres@127.0.0.1:{}/postgres", server.port());
    // The test's own view (enqueue, ping, counts) and the relay's outbox have separate
    // pools, so that the relay recovers on its own connections.
    let probe = PostgresOutbox::connect(&url, TABLE)
        .await
        .with_context(|| format!("private postgresql unreachable: {}", server.log_tail()))?;
    probe.migrate().await?;
    let registry = Arc::new(Registry::standard());
    let enqueued = enqueue_events(&probe, &registry).await?;
    ensure!(probe.pending_count().await? == EVENTS as u64);

    let broker_dir = tempfile::tempdir()?;
    let broker = Arc::new(EmbeddedBroker::open(broker_dir.path())?);
    broker
        .ensure_subscription(&SubscriptionConfig::new(SUBSCRIPTION, "emails"))
        .await?;
    let relay_outbox: Arc<dyn Outbox> = Arc::new(PostgresOutbox::connect(&url, TABLE).await?);
    let relay = OutboxRelay::new(
        relay_outbox,
        Publisher::new(broker.clone(), registry.clone()),
        RELAY_BATCH,
    );
    let shutdown = CancellationToken::new();
    let relaying = tokio::spawn(relay.run(shutdown.clone(), Duration::from_millis(5)));

    let started = Instant::now();
    while published(broker.as_ref()).await? < RELAYED_BEFORE_OUTAGE {
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "only {} events relayed in 30 s before the outage",
            published(broker.as_ref()).await?
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.kill();
    let killed_at = Instant::now();
    let published_at_kill = published(broker.as_ref()).await?;

    // Once orphaned backends noticed their postmaster is gone, nothing answers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let ping_started = Instant::now();
    let ping_in_outage = probe.ping().await;
    let ping_failed_after = ping_started.elapsed();
    ensure!(
        ping_in_outage.is_err(),
        "ping answered {:?} after the kill",
        killed_at.elapsed()
    );
    let published_in_outage_start = published(broker.as_ref()).await?;
    tokio::time::sleep(OUTAGE.saturating_sub(killed_at.elapsed())).await;
    let published_before_restart = published(broker.as_ref()).await?;
    ensure!(
        published_before_restart == published_in_outage_start,
        "events were published while postgresql was down: {published_in_outage_start} → \
         {published_before_restart}"
    );

    server
        .spawn()
        .await
        .context("postgresql did not start again")?;
    let restarted_at = Instant::now();
    let down_for = restarted_at.duration_since(killed_at);
    let mut ping_answered_after = None;
    let mut relaying_after = None;
    let drained_after = loop {
        if ping_answered_after.is_none() && probe.ping().await.is_ok() {
            ping_answered_after = Some(restarted_at.elapsed());
        }
        if relaying_after.is_none() && published(broker.as_ref()).await? > published_before_restart
        {
            relaying_after = Some(restarted_at.elapsed());
        }
        if ping_answered_after.is_some() && probe.pending_count().await? == 0 {
            break restarted_at.elapsed();
        }
        if restarted_at.elapsed() > DRAIN_BUDGET {
            shutdown.cancel();
            bail!(
                "not drained {DRAIN_BUDGET:?} after the restart: ping answered after \
                 {ping_answered_after:?}, relaying after {relaying_after:?}, {} published; {}",
                published(broker.as_ref()).await?,
                server.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), relaying)
        .await
        .context("the relay did not stop when cancelled")??;

    let delivered = drain(broker.as_ref()).await?;
    let distinct: BTreeSet<&str> = delivered.iter().map(String::as_str).collect();
    let relaying_after = relaying_after.context("the broker never grew after the restart")?;
    println!(
        "postgresql restart: {EVENTS} events, killed with {published_at_kill} relayed, \
         down {:.1} s; ping failed in {} ms during the outage; after the restart: ping \
         answered in {} ms, relaying again in {} ms, drained in {:.1} s; broker got {} \
         messages, {} distinct event ids ({} published twice)",
        down_for.as_secs_f64(),
        ping_failed_after.as_millis(),
        ping_answered_after.unwrap_or_default().as_millis(),
        relaying_after.as_millis(),
        drained_after.as_secs_f64(),
        delivered.len(),
        distinct.len(),
        delivered.len() - distinct.len(),
    );
    ensure!(
        distinct == enqueued.iter().map(String::as_str).collect(),
        "{} of {EVENTS} event ids reached the broker",
        distinct.len()
    );
    ensure!(
        relaying_after <= RECOVERY_BUDGET,
        "the relay took {relaying_after:?} to publish again after the restart (budget \
         {RECOVERY_BUDGET:?})"
    );
    Ok(())
}
