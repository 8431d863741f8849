//! The outbox relay: publishes the events a domain write committed to an [`Outbox`], then
//! marks them sent.
//!
//! Write side: [`outbox_entry`] checks an envelope with [`Registry::prepare`] when the
//! domain write is built, so an invalid event fails the write instead of the relay, and
//! stores the prepared [`Outbound`] as JSON. Relay side: [`OutboxRelay`] reads pending
//! entries oldest first, publishes them, and only then marks them sent, so a crash at any
//! point publishes an event again rather than losing it (at-least-once; consumers
//! deduplicate by event id or idempotency key).
//!
//! An entry that does not decode is never dropped: it stays pending, is logged once, is
//! counted in every [`RelayReport`] and is stepped over so it cannot block newer events.
//! Knows no backend: any [`Outbox`] and any broker behind the [`Publisher`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchyard_bus::BusError;
use switchyard_contracts::{ContractError, Envelope, Outbound, Registry};
use switchyard_state::{Outbox, OutboxEntry, StateError};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::Publisher;

/// Longest pause between relay attempts while the outbox or broker keeps failing. It
/// bounds how long the relay takes to notice an engine is back, so it stays short: a
/// failing round is cheap for the engines (a refused connection; a PostgreSQL pool
/// already waits its acquire timeout before failing), and the warning it logs is one
/// line per round.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A relay round failed on infrastructure; nothing was marked sent that was not published.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The outbox store failed.
    #[error("outbox: {0}")]
    State(#[from] StateError),
    /// The broker failed.
    #[error("broker: {0}")]
    Bus(#[from] BusError),
}

impl OutboxError {
    /// Whether the same round may succeed later.
    pub fn is_retryable(&self) -> bool {
        match self {
            OutboxError::State(err) => err.is_retryable(),
            OutboxError::Bus(err) => err.is_retryable(),
        }
    }
}

/// The outbox entry for `envelope`: checked by `registry` now, so that a bad event fails
/// the domain write that carries it, and serialized as the prepared [`Outbound`].
pub fn outbox_entry(registry: &Registry, envelope: &Envelope) -> Result<Vec<u8>, ContractError> {
    let outbound = registry.prepare(envelope)?;
    Ok(serde_json::to_vec(&outbound).expect("an Outbound always serializes to JSON"))
}

/// What one relay round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayReport {
    /// Events published and marked sent.
    pub published: usize,
    /// Ids of pending entries that do not decode as an [`Outbound`]: left pending, not
    /// published. They need an operator.
    pub undecodable: Vec<u64>,
}

/// Publishes what an [`Outbox`] holds. One relay per outbox: two would publish the same
/// entries twice (harmless, but wasted).
pub struct OutboxRelay {
    outbox: Arc<dyn Outbox>,
    publisher: Publisher,
    batch_size: usize,
    /// Ends an idle pause early: a writer that just committed events calls `notify_one`.
    wake: Arc<Notify>,
    /// Entries known not to decode, stepped over in every round.
    undecodable: Mutex<BTreeSet<u64>>,
}

impl OutboxRelay {
    /// A relay from `outbox` through `publisher`, up to `batch_size` events per round.
    pub fn new(outbox: Arc<dyn Outbox>, publisher: Publisher, batch_size: usize) -> Self {
        OutboxRelay {
            outbox,
            publisher,
            batch_size: batch_size.max(1),
            wake: Arc::new(Notify::new()),
            undecodable: Mutex::new(BTreeSet::new()),
        }
    }

    /// The same relay, woken from an idle pause by `wake` (`notify_one`): a writer that
    /// has just committed events calls it, so they leave without waiting out the pause.
    /// A wake while a round runs is kept for the next pause.
    pub fn with_wake(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Publishes up to `batch_size` pending events, oldest first, then marks them sent.
    #[tracing::instrument(skip_all, fields(batch_size = self.batch_size))]
    pub async fn relay_once(&self) -> Result<RelayReport, OutboxError> {
        let known_bad = self.undecodable().clone();
        let entries = self
            .outbox
            .pending(self.batch_size + known_bad.len())
            .await?;
        if entries.is_empty() {
            return Ok(RelayReport::default());
        }
        let batch_size = self.batch_size;
        // Decoding a full batch of JSON takes milliseconds: keep it off the async workers.
        let batch = match tokio::task::spawn_blocking(move || {
            decode(entries, &known_bad, batch_size)
        })
        .await
        {
            Ok(batch) => batch,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // The runtime is shutting down; nothing was published or marked.
            Err(_) => return Ok(RelayReport::default()),
        };
        for (id, err) in &batch.newly_undecodable {
            tracing::error!(entry = id, error = %err, "outbox entry does not decode, left pending");
        }
        self.undecodable()
            .extend(batch.newly_undecodable.iter().map(|(id, _)| *id));
        if !batch.events.is_empty() {
            self.publisher.publish_prepared(batch.events).await?;
            self.outbox.mark_sent(&batch.ids).await?;
        }
        Ok(RelayReport {
            published: batch.ids.len(),
            undecodable: batch.undecodable,
        })
    }

    /// Relays until `shutdown`: rounds follow each other while there is work, pause
    /// `idle_wait` when there is none (or until woken, see [`OutboxRelay::with_wake`]),
    /// and back off (doubling, up to 2 s) on errors.
    /// Cancelling may cut a round between publish and mark: its events are published again
    /// by the next relay, as after a crash.
    pub async fn run(self, shutdown: CancellationToken, idle_wait: Duration) {
        let mut backoff = idle_wait;
        while !shutdown.is_cancelled() {
            let round = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                round = self.relay_once() => round,
            };
            let pause = match round {
                Ok(report) => {
                    backoff = idle_wait;
                    if report.published > 0 {
                        continue;
                    }
                    idle_wait
                }
                Err(err) => {
                    tracing::warn!(error = %err, retryable = err.is_retryable(), "outbox relay failed, retrying");
                    backoff = (backoff * 2).clamp(Duration::from_millis(100), MAX_BACKOFF);
                    backoff
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }

    fn undecodable(&self) -> std::sync::MutexGuard<'_, BTreeSet<u64>> {
        // The set stays consistent even if a holder panicked: inserts are atomic.
        self.undecodable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One round's entries, decoded.
struct DecodedBatch {
    ids: Vec<u64>,
    events: Vec<Outbound>,
    /// Every undecodable entry met, known before or not.
    undecodable: Vec<u64>,
    newly_undecodable: Vec<(u64, serde_json::Error)>,
}

/// Decodes up to `batch_size` entries, stepping over those in `known_bad`.
fn decode(entries: Vec<OutboxEntry>, known_bad: &BTreeSet<u64>, batch_size: usize) -> DecodedBatch {
    let mut batch = DecodedBatch {
        ids: Vec::with_capacity(entries.len()),
        events: Vec::with_capacity(entries.len()),
        undecodable: Vec::new(),
        newly_undecodable: Vec::new(),
    };
    for entry in entries {
        if known_bad.contains(&entry.id) {
            batch.undecodable.push(entry.id);
            continue;
        }
        if batch.events.len() == batch_size {
            break;
        }
        match serde_json::from_slice::<Outbound>(&entry.payload) {
            Ok(event) => {
                batch.ids.push(entry.id);
                batch.events.push(event);
            }
            Err(err) => {
                batch.undecodable.push(entry.id);
                batch.newly_undecodable.push((entry.id, err));
            }
        }
    }
    batch
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use switchyard_bus::{Broker, EmbeddedBroker, SubscriptionConfig};
    use switchyard_contracts::{Email, EmailEvent, Operation, SyncType};
    use switchyard_state::{EmbeddedState, StateStore, StateWrite};

    use super::*;

    struct Fixture {
        _dirs: (tempfile::TempDir, tempfile::TempDir),
        broker: Arc<EmbeddedBroker>,
        state: Arc<EmbeddedState>,
        registry: Arc<Registry>,
        relay: OutboxRelay,
    }

    async fn fixture(batch_size: usize) -> Fixture {
        let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let broker = Arc::new(EmbeddedBroker::open(dirs.0.path()).unwrap());
        let state = Arc::new(EmbeddedState::open(dirs.1.path()).unwrap());
        let registry = Arc::new(Registry::standard());
        broker
            .ensure_subscription(&SubscriptionConfig::new("s", "emails"))
            .await
            .unwrap();
        let publisher = Publisher::new(broker.clone(), registry.clone());
        let relay = OutboxRelay::new(state.clone(), publisher, batch_size);
        Fixture {
            _dirs: dirs,
            broker,
            state,
            registry,
            relay,
        }
    }

    fn email_envelope(n: usize) -> Envelope {
        let email = Email {
            id: format!("<msg-{n}@example.com>"),
            subject: format!("mail {n}"),
            ..Email::default()
        };
        EmailEvent::new(
            Operation::Create,
            SyncType::Backfill,
            "mbox",
            "alice",
            "batch-1",
            email,
        )
        .to_envelope("switchyard://test", "job-1")
        .unwrap()
    }

    /// Commits `count` domain writes, each with its email event; returns the event ids.
    async fn commit_emails(fixture: &Fixture, range: std::ops::Range<usize>) -> Vec<String> {
        commit_emails_to(&fixture.state, &fixture.registry, range).await
    }

    async fn commit_emails_to(
        state: &EmbeddedState,
        registry: &Registry,
        range: std::ops::Range<usize>,
    ) -> Vec<String> {
        let mut event_ids = Vec::new();
        for n in range {
            let envelope = email_envelope(n);
            let entry = outbox_entry(registry, &envelope).unwrap();
            let write = StateWrite::new()
                .put(format!("mail:{n}"), b"imported".to_vec(), None)
                .event(entry);
            state.commit(write).await.unwrap();
            event_ids.push(envelope.id);
        }
        event_ids
    }

    /// Everything the subscription holds, as event ids (acked).
    async fn drain(broker: &EmbeddedBroker) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let batch = broker
                .fetch("s", 1000, Duration::from_millis(20))
                .await
                .unwrap();
            if batch.is_empty() {
                return seen;
            }
            let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
            for delivery in batch {
                let envelope = Envelope::from_json_slice(&delivery.message.payload).unwrap();
                seen.push(envelope.id);
            }
            broker.ack("s", &tags).await.unwrap();
        }
    }

    #[tokio::test]
    async fn a_wake_ends_the_idle_pause() {
        let fixture = fixture(64).await;
        let wake = Arc::new(Notify::new());
        let shutdown = CancellationToken::new();
        let relay = fixture.relay.with_wake(wake.clone());
        let running = tokio::spawn(relay.run(shutdown.clone(), Duration::from_secs(3600)));
        // The first round finds nothing: the relay pauses for an hour.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let committed = commit_emails_to(&fixture.state, &fixture.registry, 0..3).await;
        let woken = Instant::now();
        wake.notify_one();
        let mut relayed = Vec::new();
        while relayed.len() < committed.len() && woken.elapsed() < Duration::from_secs(5) {
            relayed.extend(drain(&fixture.broker).await);
        }
        assert_eq!(relayed, committed);
        assert!(woken.elapsed() < Duration::from_secs(5));
        shutdown.cancel();
        running.await.unwrap();
    }

    #[tokio::test]
    async fn relays_every_committed_event_once() {
        let fixture = fixture(64).await;
        let committed = commit_emails(&fixture, 0..150).await;
        assert_eq!(fixture.state.pending_count().await.unwrap(), 150);
        assert_eq!(
            fixture.state.get("mail:7").await.unwrap(),
            Some(b"imported".to_vec())
        );

        let mut published = Vec::new();
        loop {
            let report = fixture.relay.relay_once().await.unwrap();
            assert_eq!(report.undecodable, Vec::<u64>::new());
            if report.published == 0 {
                break;
            }
            published.push(report.published);
        }
        assert_eq!(published, [64, 64, 22]);
        assert_eq!(fixture.state.pending_count().await.unwrap(), 0);
        assert_eq!(drain(&fixture.broker).await, committed);

        assert_eq!(
            fixture.relay.relay_once().await.unwrap(),
            RelayReport::default()
        );
        assert_eq!(drain(&fixture.broker).await, Vec::<String>::new());
    }

    #[tokio::test]
    async fn keeps_published_message_shape() {
        let fixture = fixture(10).await;
        let envelope = email_envelope(1);
        let expected = fixture.registry.prepare(&envelope).unwrap();
        let write = StateWrite::new().event(outbox_entry(&fixture.registry, &envelope).unwrap());
        fixture.state.commit(write).await.unwrap();
        fixture.relay.relay_once().await.unwrap();
        let delivery = fixture
            .broker
            .fetch("s", 10, Duration::from_millis(20))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(delivery.topic, expected.topic);
        assert_eq!(delivery.message.key.as_deref(), Some("alice"));
        assert_eq!(delivery.message.headers, expected.headers);
        assert_eq!(delivery.message.payload, expected.payload);
    }

    #[tokio::test]
    async fn invalid_event_fails_the_write_side() {
        let registry = Registry::standard();
        let mut envelope = email_envelope(1);
        envelope.event_type = "no.such.type".to_string();
        assert!(outbox_entry(&registry, &envelope).is_err());
    }

    #[tokio::test]
    async fn undecodable_entry_stays_pending_and_blocks_nothing() {
        let fixture = fixture(2).await;
        // Two bad entries fill a whole batch; the good ones behind them must still flow.
        fixture
            .state
            .commit(
                StateWrite::new()
                    .event(b"not json".to_vec())
                    .event(b"{}".to_vec()),
            )
            .await
            .unwrap();
        let committed = commit_emails(&fixture, 0..3).await;

        let first = fixture.relay.relay_once().await.unwrap();
        assert_eq!(first.published, 0);
        assert_eq!(first.undecodable, [1, 2]);
        let second = fixture.relay.relay_once().await.unwrap();
        assert_eq!((second.published, second.undecodable), (2, vec![1, 2]));
        let third = fixture.relay.relay_once().await.unwrap();
        assert_eq!((third.published, third.undecodable), (1, vec![1, 2]));
        let idle = fixture.relay.relay_once().await.unwrap();
        assert_eq!((idle.published, idle.undecodable), (0, vec![1, 2]));

        assert_eq!(drain(&fixture.broker).await, committed);
        let left: Vec<u64> = fixture
            .state
            .pending(10)
            .await
            .unwrap()
            .iter()
            .map(|entry| entry.id)
            .collect();
        assert_eq!(left, [1, 2]);
    }

    #[tokio::test]
    async fn run_relays_until_cancelled() {
        let fixture = fixture(100).await;
        let shutdown = CancellationToken::new();
        let Fixture {
            _dirs,
            broker,
            state,
            registry,
            relay,
        } = fixture;
        let running = tokio::spawn(relay.run(shutdown.clone(), Duration::from_millis(5)));
        let envelope = email_envelope(1);
        let write = StateWrite::new().event(outbox_entry(&registry, &envelope).unwrap());
        state.commit(write).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while state.pending_count().await.unwrap() > 0 {
            assert!(
                Instant::now() < deadline,
                "the relay did not mark the event sent"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(drain(&broker).await, [envelope.id]);
        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("the relay stops when cancelled")
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn relay_throughput() {
        let count = 2000;
        let fixture = fixture(256).await;
        let write = (0..count).fold(StateWrite::new(), |write, n| {
            write.event(outbox_entry(&fixture.registry, &email_envelope(n)).unwrap())
        });
        fixture.state.commit(write).await.unwrap();
        let entry_bytes = fixture.state.pending(1).await.unwrap()[0].payload.len();
        let envelope_bytes = fixture
            .registry
            .prepare(&email_envelope(0))
            .unwrap()
            .payload
            .len();
        let started = Instant::now();
        let mut relayed = 0;
        while relayed < count {
            relayed += fixture.relay.relay_once().await.unwrap().published;
        }
        let elapsed = started.elapsed();
        println!(
            "relayed {count} events in {elapsed:?}: {:.0} events/s (outbox entry {entry_bytes} bytes for a {envelope_bytes}-byte envelope)",
            count as f64 / elapsed.as_secs_f64()
        );
        assert_eq!(drain(&fixture.broker).await.len(), count);
    }
}
