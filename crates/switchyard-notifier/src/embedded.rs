//! [`RedbJournalStore`]: the embedded [`JournalStore`] in one redb file,
//! `{data_dir}/notifier.redb`.
//!
//! # Layout
//! - table `notifier_users`: `user_id` → `(latest_seq, pruned_through)`; the user's
//!   journal is exactly the sequence numbers `(pruned_through, latest_seq]`;
//! - table `notifier_signals`: `(user_id, seq)` → format byte `1`, then the JSON of
//!   the stored signal (recorded time in microseconds since the epoch, doc type, item
//!   id, operation, dedupe key); tuple keys keep each user's signals one contiguous
//!   range in sequence order;
//! - table `notifier_dedupe`: `(user_id, dedupe key)` → `seq`, removed together with
//!   the signal it points at.
//!
//! # Durability and recovery
//! An append (with the retention it triggers) is one fsynced transaction; redb's
//! copy-on-write commits keep it whole across crashes, so the three tables always agree
//! and a reopened journal resumes at the same sequence numbers. Deleting the file resets
//! every journal: clients then get a `reset` (their ids are newer than the journal's).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize};
use switchyard_contracts::Operation;
use switchyard_state::{EmbeddedDatabase, OpenDatabaseError};

use crate::error::unavailable;
use crate::{
    JournalEntry, JournalStore, NewSignal, NotifierError, NotifierErrorKind, Replay, Retention,
    Signal,
};

const USERS: TableDefinition<&str, (u64, u64)> = TableDefinition::new("notifier_users");
const SIGNALS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("notifier_signals");
const DEDUPE: TableDefinition<(&str, &str), u64> = TableDefinition::new("notifier_dedupe");
/// The first byte of every stored signal.
const FORMAT_V1: u8 = 1;
/// The file name in the data directory.
const NOTIFIER_FILE_NAME: &str = "notifier.redb";
/// Page cache of the journal (redb's default is 1 GiB; signals are small).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A signal as stored.
#[derive(Serialize, Deserialize)]
struct StoredSignal {
    recorded_at_micros: i64,
    #[serde(rename = "type")]
    doc_type: String,
    id: String,
    operation: Operation,
    dedupe_key: String,
}

impl StoredSignal {
    fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![FORMAT_V1];
        serde_json::to_writer(&mut bytes, self).expect("stored signals serialize to JSON");
        bytes
    }

    fn decode(user_id: &str, seq: u64, bytes: &[u8]) -> Result<Self, NotifierError> {
        let corrupt = |reason: String| {
            NotifierError::new(
                NotifierErrorKind::Corrupt,
                format!("stored signal {seq} of user `{user_id}` is damaged: {reason}"),
            )
        };
        match bytes.split_first() {
            Some((&FORMAT_V1, json)) => {
                serde_json::from_slice(json).map_err(|err| corrupt(err.to_string()))
            }
            Some((format, _)) => Err(corrupt(format!("unknown format {format}"))),
            None => Err(corrupt("empty record".to_string())),
        }
    }

    fn into_entry(self, user_id: &str, seq: u64) -> JournalEntry {
        JournalEntry {
            user_id: user_id.to_string(),
            seq,
            recorded_at: DateTime::from_timestamp_micros(self.recorded_at_micros)
                .unwrap_or_default(),
            signal: Signal {
                doc_type: self.doc_type,
                id: self.id,
                operation: self.operation,
            },
        }
    }
}

/// The embedded journal store. Cloning is cheap; clones share one database.
#[derive(Clone)]
pub struct RedbJournalStore {
    db: EmbeddedDatabase,
    retention: Retention,
}

impl std::fmt::Debug for RedbJournalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbJournalStore")
            .field("path", &self.path())
            .field("retention", &self.retention)
            .finish()
    }
}

impl RedbJournalStore {
    /// Opens (or creates) `{data_dir}/notifier.redb`. Fails if another process holds it.
    pub fn open(data_dir: &Path, retention: Retention) -> Result<Self, OpenDatabaseError> {
        let db = EmbeddedDatabase::open(data_dir, NOTIFIER_FILE_NAME, CACHE_BYTES, |txn| {
            txn.open_table(USERS)?;
            txn.open_table(SIGNALS)?;
            txn.open_table(DEDUPE)?;
            Ok(())
        })?;
        Ok(RedbJournalStore { db, retention })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }
}

fn read_failed<E: std::fmt::Display>(err: E) -> NotifierError {
    unavailable("failed to read the notifier journal")(err)
}

fn write_failed<E: std::fmt::Display>(err: E) -> NotifierError {
    unavailable("failed to write the notifier journal")(err)
}

/// The tables an append writes.
struct WriteTables<'txn> {
    users: Table<'txn, &'static str, (u64, u64)>,
    signals: Table<'txn, (&'static str, u64), &'static [u8]>,
    dedupe: Table<'txn, (&'static str, &'static str), u64>,
}

impl WriteTables<'_> {
    fn open(txn: &WriteTransaction) -> Result<WriteTables<'_>, NotifierError> {
        Ok(WriteTables {
            users: txn.open_table(USERS).map_err(write_failed)?,
            signals: txn.open_table(SIGNALS).map_err(write_failed)?,
            dedupe: txn.open_table(DEDUPE).map_err(write_failed)?,
        })
    }

    /// `(latest_seq, pruned_through)` of a user.
    fn cursor(&self, user_id: &str) -> Result<(u64, u64), NotifierError> {
        Ok(self
            .users
            .get(user_id)
            .map_err(read_failed)?
            .map(|value| value.value())
            .unwrap_or((0, 0)))
    }

    /// Removes the user's oldest signals while `expired` says so; returns how many went.
    fn prune_user(
        &mut self,
        user_id: &str,
        retention: Retention,
        now: DateTime<Utc>,
    ) -> Result<u64, NotifierError> {
        let (latest, mut pruned_through) = self.cursor(user_id)?;
        let cutoff_micros = retention.max_age.map(|age| {
            let age_micros = i64::try_from(age.as_micros()).unwrap_or(i64::MAX);
            now.timestamp_micros().saturating_sub(age_micros)
        });
        let mut removed = 0;
        while pruned_through < latest {
            let seq = pruned_through + 1;
            let over_count = retention
                .max_signals_per_user
                .is_some_and(|max| latest - pruned_through > max);
            let Some(bytes) = self.signals.get((user_id, seq)).map_err(read_failed)? else {
                // The journal is contiguous, so this is damage; skip past it.
                tracing::warn!(seq, "notifier journal misses a signal, skipping it");
                pruned_through = seq;
                continue;
            };
            let stored = StoredSignal::decode(user_id, seq, bytes.value())?;
            drop(bytes);
            let too_old = cutoff_micros.is_some_and(|cutoff| stored.recorded_at_micros < cutoff);
            if !over_count && !too_old {
                break;
            }
            self.signals.remove((user_id, seq)).map_err(write_failed)?;
            let key = (user_id, stored.dedupe_key.as_str());
            // The dedupe row may already point at a newer copy only if it was reused,
            // which appends never do; remove it only when it is this signal's.
            if self
                .dedupe
                .get(key)
                .map_err(read_failed)?
                .map(|s| s.value())
                == Some(seq)
            {
                self.dedupe.remove(key).map_err(write_failed)?;
            }
            pruned_through = seq;
            removed += 1;
        }
        if removed > 0 {
            self.users
                .insert(user_id, (latest, pruned_through))
                .map_err(write_failed)?;
        }
        Ok(removed)
    }
}

fn commit(txn: WriteTransaction) -> Result<(), NotifierError> {
    txn.commit()
        .map_err(unavailable("failed to commit the notifier journal"))
}

fn begin_write(db: &Database) -> Result<WriteTransaction, NotifierError> {
    let mut txn = db.begin_write().map_err(write_failed)?;
    txn.set_durability(Durability::Immediate)
        .map_err(write_failed)?;
    Ok(txn)
}

#[async_trait]
impl JournalStore for RedbJournalStore {
    async fn append(
        &self,
        signals: Vec<NewSignal>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, NotifierError> {
        if signals.is_empty() {
            return Ok(Vec::new());
        }
        let retention = self.retention;
        self.db
            .run(move |db| {
                let txn = begin_write(db)?;
                let added = {
                    let mut tables = WriteTables::open(&txn)?;
                    let mut cursors: BTreeMap<String, (u64, u64)> = BTreeMap::new();
                    let mut added = Vec::new();
                    for new in signals {
                        let user_id = new.user_id.as_str();
                        let dedupe_row = (user_id, new.dedupe_key.as_str());
                        if tables
                            .dedupe
                            .get(dedupe_row)
                            .map_err(read_failed)?
                            .is_some()
                        {
                            continue;
                        }
                        let cursor = match cursors.get_mut(user_id) {
                            Some(cursor) => cursor,
                            None => {
                                let cursor = tables.cursor(user_id)?;
                                cursors.entry(user_id.to_string()).or_insert(cursor)
                            }
                        };
                        cursor.0 += 1;
                        let seq = cursor.0;
                        let stored = StoredSignal {
                            recorded_at_micros: now.timestamp_micros(),
                            doc_type: new.signal.doc_type.clone(),
                            id: new.signal.id.clone(),
                            operation: new.signal.operation,
                            dedupe_key: new.dedupe_key.clone(),
                        };
                        tables
                            .signals
                            .insert((user_id, seq), stored.encode().as_slice())
                            .map_err(write_failed)?;
                        tables
                            .dedupe
                            .insert(dedupe_row, seq)
                            .map_err(write_failed)?;
                        added.push(JournalEntry {
                            user_id: new.user_id,
                            seq,
                            recorded_at: now,
                            signal: new.signal,
                        });
                    }
                    for (user_id, cursor) in &cursors {
                        tables
                            .users
                            .insert(user_id.as_str(), *cursor)
                            .map_err(write_failed)?;
                        tables.prune_user(user_id, retention, now)?;
                    }
                    added
                };
                commit(txn)?;
                Ok(added)
            })
            .await
    }

    async fn read_after(
        &self,
        user_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Replay, NotifierError> {
        let user_id = user_id.to_string();
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let users = txn.open_table(USERS).map_err(read_failed)?;
                let (latest_seq, pruned_through) = users
                    .get(user_id.as_str())
                    .map_err(read_failed)?
                    .map(|value| value.value())
                    .unwrap_or((0, 0));
                if after_seq < pruned_through || after_seq > latest_seq {
                    return Ok(Replay::Gap { latest_seq });
                }
                let signals = txn.open_table(SIGNALS).map_err(read_failed)?;
                let mut entries = Vec::new();
                let range = (user_id.as_str(), after_seq + 1)..=(user_id.as_str(), latest_seq);
                for row in signals.range(range).map_err(read_failed)?.take(limit) {
                    let (key, value) = row.map_err(read_failed)?;
                    let seq = key.value().1;
                    entries.push(
                        StoredSignal::decode(&user_id, seq, value.value())?
                            .into_entry(&user_id, seq),
                    );
                }
                Ok(Replay::Entries(entries))
            })
            .await
    }

    async fn latest_seq(&self, user_id: &str) -> Result<u64, NotifierError> {
        let user_id = user_id.to_string();
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let users = txn.open_table(USERS).map_err(read_failed)?;
                Ok(users
                    .get(user_id.as_str())
                    .map_err(read_failed)?
                    .map_or(0, |value| value.value().0))
            })
            .await
    }

    async fn prune_expired(&self, now: DateTime<Utc>) -> Result<u64, NotifierError> {
        if self.retention.max_age.is_none() {
            return Ok(0);
        }
        let retention = self.retention;
        self.db
            .run(move |db| {
                let retention = Retention {
                    max_signals_per_user: None,
                    ..retention
                };
                let txn = begin_write(db)?;
                let removed = {
                    let mut tables = WriteTables::open(&txn)?;
                    let mut users = BTreeSet::new();
                    for row in tables.users.iter().map_err(read_failed)? {
                        let (user, cursor) = row.map_err(read_failed)?;
                        let (latest, pruned_through) = cursor.value();
                        if pruned_through < latest {
                            users.insert(user.value().to_string());
                        }
                    }
                    let mut removed = 0;
                    for user_id in &users {
                        removed += tables.prune_user(user_id, retention, now)?;
                    }
                    removed
                };
                commit(txn)?;
                Ok(removed)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn signal(user: &str, id: &str, minute: u32) -> NewSignal {
        let updated = format!("2024-01-01T00:{minute:02}:00Z");
        NewSignal::new(
            user,
            "email",
            id,
            Operation::Update,
            updated.parse().expect("a time"),
        )
    }

    fn seqs(replay: &Replay) -> Vec<u64> {
        match replay {
            Replay::Entries(entries) => entries.iter().map(|entry| entry.seq).collect(),
            Replay::Gap { .. } => panic!("unexpected gap: {replay:?}"),
        }
    }

    fn by_count(max: u64) -> Retention {
        Retention {
            max_signals_per_user: Some(max),
            max_age: None,
        }
    }

    #[tokio::test]
    async fn sequence_numbers_are_per_user_and_dedupe_skips_redeliveries() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = RedbJournalStore::open(dir.path(), by_count(100))?;
        let now = Utc::now();
        let added = store
            .append(
                vec![
                    signal("alice", "a", 1),
                    signal("bob", "b", 1),
                    signal("alice", "a", 1),
                    signal("alice", "a", 2),
                ],
                now,
            )
            .await?;
        let got: Vec<_> = added.iter().map(|e| (e.user_id.as_str(), e.seq)).collect();
        assert_eq!(got, [("alice", 1), ("bob", 1), ("alice", 2)]);
        assert!(
            store
                .append(vec![signal("alice", "a", 2)], now)
                .await?
                .is_empty()
        );
        assert_eq!(store.latest_seq("alice").await?, 2);
        assert_eq!(store.latest_seq("carol").await?, 0);
        assert_eq!(seqs(&store.read_after("alice", 0, 10).await?), [1, 2]);
        assert_eq!(seqs(&store.read_after("alice", 1, 10).await?), [2]);
        assert_eq!(seqs(&store.read_after("alice", 0, 1).await?), [1]);
        assert_eq!(
            seqs(&store.read_after("carol", 0, 10).await?),
            Vec::<u64>::new()
        );
        assert_eq!(
            store.read_after("alice", 7, 10).await?,
            Replay::Gap { latest_seq: 2 }
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_count_window_drops_the_oldest_and_reports_gaps() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = RedbJournalStore::open(dir.path(), by_count(3))?;
        let batch = (0..5)
            .map(|i| signal("alice", &format!("m{i}"), i))
            .collect();
        store.append(batch, Utc::now()).await?;
        assert_eq!(seqs(&store.read_after("alice", 2, 10).await?), [3, 4, 5]);
        assert_eq!(
            store.read_after("alice", 1, 10).await?,
            Replay::Gap { latest_seq: 5 }
        );
        // A pruned signal's dedupe key goes with it: the redelivery counts as new.
        let again = store
            .append(vec![signal("alice", "m0", 0)], Utc::now())
            .await?;
        assert_eq!(again.iter().map(|e| e.seq).collect::<Vec<_>>(), [6]);
        // The kept one still dedupes.
        assert!(
            store
                .append(vec![signal("alice", "m4", 4)], Utc::now())
                .await?
                .is_empty()
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_age_window_drops_old_signals() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let retention = Retention {
            max_signals_per_user: None,
            max_age: Some(Duration::from_secs(60)),
        };
        let store = RedbJournalStore::open(dir.path(), retention)?;
        let t0: DateTime<Utc> = "2024-01-01T00:00:00Z".parse()?;
        store.append(vec![signal("alice", "old", 0)], t0).await?;
        store.append(vec![signal("bob", "old", 0)], t0).await?;
        let t1 = t0 + chrono::Duration::seconds(50);
        store.append(vec![signal("alice", "new", 1)], t1).await?;
        // Appending at t2 prunes alice's first signal; bob's goes with the sweep.
        let t2 = t0 + chrono::Duration::seconds(90);
        store.append(vec![signal("alice", "newer", 2)], t2).await?;
        assert_eq!(seqs(&store.read_after("alice", 1, 10).await?), [2, 3]);
        assert_eq!(seqs(&store.read_after("bob", 0, 10).await?), [1]);
        assert_eq!(store.prune_expired(t2).await?, 1);
        assert_eq!(
            store.read_after("bob", 0, 10).await?,
            Replay::Gap { latest_seq: 1 }
        );
        assert_eq!(
            seqs(&store.read_after("bob", 1, 10).await?),
            Vec::<u64>::new()
        );
        Ok(())
    }

    #[tokio::test]
    async fn the_journal_survives_reopening() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        {
            let store = RedbJournalStore::open(dir.path(), by_count(10))?;
            store
                .append(
                    vec![signal("alice", "a", 1), signal("alice", "b", 1)],
                    Utc::now(),
                )
                .await?;
        }
        let store = RedbJournalStore::open(dir.path(), by_count(10))?;
        assert_eq!(store.latest_seq("alice").await?, 2);
        let Replay::Entries(entries) = store.read_after("alice", 0, 10).await? else {
            panic!("expected entries");
        };
        assert_eq!(entries[1].signal.id, "b");
        assert!(
            store
                .append(vec![signal("alice", "a", 1)], Utc::now())
                .await?
                .is_empty()
        );
        let next = store
            .append(vec![signal("alice", "c", 1)], Utc::now())
            .await?;
        assert_eq!(next[0].seq, 3);
        Ok(())
    }

    #[test]
    fn a_second_open_reports_in_use() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let _first = RedbJournalStore::open(dir.path(), by_count(1))?;
        let err = RedbJournalStore::open(dir.path(), by_count(1)).expect_err("held");
        assert!(err.is_in_use(), "{err}");
        Ok(())
    }
}
