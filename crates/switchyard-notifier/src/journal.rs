//! [`Journal`]: the durable per-user journals of a [`JournalStore`] plus live fan-out.
//! Recording a batch appends it to the store, then hands each new entry to its user's
//! bounded broadcast channel; a stream that falls behind that buffer reads the journal
//! instead, so a slow client never blocks the handler or other clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::broadcast;

use crate::{JournalEntry, JournalStore, NewSignal, NotifierConfig, NotifierError, Replay};

/// How often recording also sweeps every user's journal for expired signals.
const FULL_PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// The per-user journals and their live subscribers. Cloning is cheap; clones share
/// everything.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn JournalStore>,
    config: NotifierConfig,
    /// One bounded channel per user with a connected stream.
    live: Mutex<HashMap<String, broadcast::Sender<Arc<JournalEntry>>>>,
    /// Held from append to fan-out, so each user's entries reach the channel in
    /// sequence order even when several consumers record at once.
    writer: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal over `store`; fails if `config` does not validate. The store's own
    /// retention should be `config.retention()`.
    pub fn new(
        store: Arc<dyn JournalStore>,
        config: NotifierConfig,
    ) -> Result<Self, NotifierError> {
        config.validate()?;
        Ok(Journal {
            inner: Arc::new(Inner {
                store,
                config,
                live: Mutex::new(HashMap::new()),
                writer: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// The settings.
    pub fn config(&self) -> &NotifierConfig {
        &self.inner.config
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn JournalStore> {
        &self.inner.store
    }

    /// Appends `signals` (skipping redeliveries), then wakes the streams of their users.
    /// Returns the entries added.
    pub async fn record(
        &self,
        signals: Vec<NewSignal>,
    ) -> Result<Vec<JournalEntry>, NotifierError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let mut last_full_prune = self.inner.writer.lock().await;
        let now = Utc::now();
        if last_full_prune.is_none_or(|at| at.elapsed() >= FULL_PRUNE_INTERVAL) {
            let pruned = self.inner.store.prune_expired(now).await?;
            if pruned > 0 {
                tracing::debug!(pruned, "expired signals pruned");
            }
            *last_full_prune = Some(Instant::now());
        }
        let added = self.inner.store.append(signals, now).await?;
        self.fan_out(&added);
        Ok(added)
    }

    fn fan_out(&self, added: &[JournalEntry]) {
        let mut live = self
            .inner
            .live
            .lock()
            .expect("live channel map is not poisoned");
        live.retain(|_, sender| sender.receiver_count() > 0);
        for entry in added {
            if let Some(sender) = live.get(&entry.user_id) {
                // An error means every receiver left since the sweep; nothing to do.
                let _ = sender.send(Arc::new(entry.clone()));
            }
        }
    }

    /// A live feed of `user_id`'s new entries, holding at most
    /// `live_buffer_signals`; a receiver that lags gets `RecvError::Lagged` and should
    /// catch up with [`Journal::read_after`].
    pub fn subscribe(&self, user_id: &str) -> broadcast::Receiver<Arc<JournalEntry>> {
        let mut live = self
            .inner
            .live
            .lock()
            .expect("live channel map is not poisoned");
        live.entry(user_id.to_string())
            .or_insert_with(|| broadcast::channel(self.inner.config.live_buffer_signals).0)
            .subscribe()
    }

    /// Up to `replay_page_signals` of `user_id`'s entries after `after_seq`, or a gap.
    pub async fn read_after(&self, user_id: &str, after_seq: u64) -> Result<Replay, NotifierError> {
        self.inner
            .store
            .read_after(user_id, after_seq, self.inner.config.replay_page_signals)
            .await
    }

    /// The newest sequence number of `user_id` (0 before the first signal).
    pub async fn latest_seq(&self, user_id: &str) -> Result<u64, NotifierError> {
        self.inner.store.latest_seq(user_id).await
    }
}
