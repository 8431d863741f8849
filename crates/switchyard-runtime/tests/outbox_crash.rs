//! Crash test of the transactional outbox: a child process commits domain writes with
//! their events and relays them concurrently until it is killed with SIGKILL; the parent
//! then reopens the same data directory, relays the rest and checks that every committed
//! write's event reached the topic at least once, and no event exists without its write.
//!
//! The child is this test binary run again with `--exact child_writer_and_relay` and
//! `SWITCHYARD_OUTBOX_CHILD_DIR` set; without that variable the child test does nothing.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use switchyard_bus::{Broker, EmbeddedBroker, SubscriptionConfig};
use switchyard_contracts::{Email, EmailEvent, Envelope, Operation, Registry, SyncType};
use switchyard_runtime::{OutboxRelay, Publisher, outbox_entry};
use switchyard_state::{EmbeddedState, Outbox, StateStore, StateWrite};
use tokio_util::sync::CancellationToken;

const CHILD_DIR_VAR: &str = "SWITCHYARD_OUTBOX_CHILD_DIR";
/// The parent kills the child once it has committed at least this many writes.
const KILL_AFTER_WRITES: u64 = 400;
/// A child left alone stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(30);
const SUBSCRIPTION: &str = "crash-check";

fn open(dir: &Path) -> anyhow::Result<(Arc<EmbeddedBroker>, Arc<EmbeddedState>, OutboxRelay)> {
    let broker = Arc::new(EmbeddedBroker::open(&dir.join("bus"))?);
    let state = Arc::new(EmbeddedState::open(&dir.join("state"))?);
    let publisher = Publisher::new(broker.clone(), Arc::new(Registry::standard()));
    let relay = OutboxRelay::new(state.clone(), publisher, 32);
    Ok((broker, state, relay))
}

fn item_id(n: u64) -> String {
    format!("<crash-{n}@example.com>")
}

fn domain_key(n: u64) -> String {
    format!("mail:{n}")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The child: commits numbered writes, each with its email event, while a relay runs,
/// printing `committed {n} pending {count}` after each, until killed.
#[test]
fn child_writer_and_relay() -> anyhow::Result<()> {
    let Some(dir) = std::env::var_os(CHILD_DIR_VAR) else {
        return Ok(());
    };
    runtime().block_on(async move {
        let dir = Path::new(&dir);
        let (broker, state, relay) = open(dir)?;
        broker
            .ensure_subscription(&SubscriptionConfig::new(SUBSCRIPTION, "emails"))
            .await?;
        let registry = Registry::standard();
        tokio::spawn(relay.run(CancellationToken::new(), Duration::from_millis(1)));
        let started = Instant::now();
        for n in 0.. {
            let email = Email {
                id: item_id(n),
                subject: format!("crash {n}"),
                ..Email::default()
            };
            let envelope = EmailEvent::new(
                Operation::Create,
                SyncType::Backfill,
                "mbox",
                "alice",
                "crash",
                email,
            )
            .to_envelope("switchyard://crash-test", "crash")?;
            let write = StateWrite::new()
                .put(domain_key(n), envelope.id.clone().into_bytes(), None)
                .event(outbox_entry(&registry, &envelope)?);
            state.commit(write).await?;
            let pending = state.pending_count().await?;
            println!("committed {n} pending {pending}");
            if started.elapsed() > CHILD_LIFETIME {
                break;
            }
        }
        anyhow::Ok(())
    })
}

/// A progress line of the child: (write number, pending outbox entries).
fn parse_progress(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("committed ")?;
    let (n, pending) = rest.split_once(" pending ")?;
    Some((n.parse().ok()?, pending.trim().parse().ok()?))
}

#[test]
fn outbox_loses_nothing_when_killed_mid_relay() -> anyhow::Result<()> {
    if std::env::var_os(CHILD_DIR_VAR).is_some() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", "child_writer_and_relay", "--nocapture"])
        .env(CHILD_DIR_VAR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("failed to start the child")?;
    let stdout = child.stdout.take().context("child stdout")?;
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    // Kill once enough writes are in and the relay is behind.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    let killed_at = loop {
        let Some(remaining) = deadline.checked_duration_since(Instant::now()) else {
            child.kill()?;
            anyhow::bail!("the child never got far enough: last progress {last:?}");
        };
        let line = lines
            .recv_timeout(remaining)
            .with_context(|| format!("child output ended, last progress {last:?}"))?;
        let Some((n, pending)) = parse_progress(&line) else {
            continue;
        };
        last = Some((n, pending));
        if n + 1 >= KILL_AFTER_WRITES && pending > 0 {
            child.kill()?;
            break (n, pending);
        }
    };
    child.wait()?;
    let (last_reported, pending_at_kill) = killed_at;

    runtime().block_on(async move {
        let (broker, state, relay) = open(dir.path())?;
        let pending_after_restart = state.pending_count().await?;

        // The committed writes: a prefix 0..committed, since the child commits in order.
        let mut event_ids = HashMap::new();
        let mut n = 0;
        while let Some(event_id) = state.get(&domain_key(n)).await? {
            event_ids.insert(String::from_utf8(event_id)?, n);
            n += 1;
        }
        let committed = n;
        for beyond in committed..committed + 100 {
            anyhow::ensure!(
                state.get(&domain_key(beyond)).await?.is_none(),
                "write {beyond} present after missing write {committed}"
            );
        }
        anyhow::ensure!(
            committed > last_reported,
            "write {last_reported} was reported committed but is missing"
        );

        while relay.relay_once().await?.published > 0 {}
        anyhow::ensure!(state.pending_count().await? == 0, "outbox not drained");

        let mut deliveries = 0;
        let mut items = HashSet::new();
        let mut delivered_events = HashSet::new();
        loop {
            let batch = broker
                .fetch(SUBSCRIPTION, 1000, Duration::from_millis(50))
                .await?;
            if batch.is_empty() {
                break;
            }
            let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
            for delivery in batch {
                let envelope = Envelope::from_json_slice(&delivery.message.payload)?;
                deliveries += 1;
                items.insert(envelope.subject.clone().context("event without subject")?);
                delivered_events.insert(envelope.id);
            }
            broker.ack(SUBSCRIPTION, &tags).await?;
        }

        for (event_id, n) in &event_ids {
            anyhow::ensure!(
                delivered_events.contains(event_id),
                "event of committed write {n} was lost"
            );
            anyhow::ensure!(items.contains(&item_id(*n)), "item of write {n} was lost");
        }
        anyhow::ensure!(
            delivered_events.len() as u64 == committed && items.len() as u64 == committed,
            "{} distinct events and {} distinct items delivered for {committed} writes",
            delivered_events.len(),
            items.len()
        );
        let duplicates = deliveries - committed;
        println!(
            "killed after write {last_reported} with {pending_at_kill} pending; \
             {committed} writes committed, {pending_after_restart} pending after restart; \
             {deliveries} deliveries, {duplicates} duplicates, {} distinct items",
            items.len()
        );
        anyhow::Ok(())
    })
}
