//! [`EmbeddedState`]: the state store and its transactional outbox in one redb file
//! (`state/state.redb`) of the data directory.
//!
//! # Layout
//! - table `kv`: key (UTF-8) → value bytes prefixed by the expiry time as a big-endian u64
//!   of milliseconds since the Unix epoch (0: never expires);
//! - table `outbox`: sequence (u64, from 1) → event bytes, opaque to this crate;
//! - table `outbox_meta`: `next_id` → the next sequence to assign. It only grows, so a
//!   sequence is never reused even after every entry was marked sent and deleted (a
//!   stale `mark_sent` can then never delete a newer event);
//! - tables `jobs` and `jobs_by_owner`: job progress, laid out in `embedded/jobs.rs`.
//!
//! # Durability and recovery
//! Every write is one fsynced transaction; redb's copy-on-write commits keep it whole
//! across crashes. [`EmbeddedState::commit`] puts domain writes and their outbox entries in
//! one such transaction, so either both survive or neither does. `mark_sent` commits
//! without fsync: if the process dies before a later durable commit, the entries come back
//! pending and are published again (at-least-once), never lost.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition,
    WriteTransaction,
};

mod jobs;

use crate::outbox::DomainOp;
use crate::{
    EmbeddedDatabase, OpenDatabaseError, Outbox, OutboxEntry, StateError, StateErrorKind,
    StateStore, StateWrite,
};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
const OUTBOX_META: TableDefinition<&str, u64> = TableDefinition::new("outbox_meta");
const NEXT_ID: &str = "next_id";
const NEVER: u64 = 0;
/// Page cache of the state database (redb's default is 1 GiB).
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The embedded state store. Cloning is cheap; clones share one database.
#[derive(Clone)]
pub struct EmbeddedState {
    db: EmbeddedDatabase,
}

fn unavailable<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> StateError {
    move |err| StateError::new(StateErrorKind::Unavailable, format!("{context}: {err}"))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// Splits a stored entry into (expires at, value), or `None` when it is damaged.
fn split_entry(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let (expiry, value) = bytes.split_first_chunk::<8>()?;
    Some((u64::from_be_bytes(*expiry), value))
}

fn is_live(expires_at: u64, now: u64) -> bool {
    expires_at == NEVER || expires_at > now
}

/// Whether a stored entry holds a value that has not expired at `now`.
fn entry_is_live(entry: &[u8], now: u64) -> bool {
    split_entry(entry).is_some_and(|(expires_at, _)| is_live(expires_at, now))
}

/// A stored entry: `value` behind its expiry time, `ttl` counted from `now`.
fn encode_entry(value: &[u8], ttl: Option<Duration>, now: u64) -> Vec<u8> {
    let expires_at = ttl.map_or(NEVER, |ttl| now + ttl.as_millis() as u64);
    let mut entry = Vec::with_capacity(8 + value.len());
    entry.extend_from_slice(&expires_at.to_be_bytes());
    entry.extend_from_slice(value);
    entry
}

/// Runs `work` in one write transaction, committed durably unless `durability` says
/// otherwise.
fn write_txn<T>(
    db: &Database,
    durability: Durability,
    work: impl FnOnce(&WriteTransaction) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let mut txn = db
        .begin_write()
        .map_err(unavailable("failed to write state"))?;
    txn.set_durability(durability)
        .map_err(unavailable("failed to write state"))?;
    let result = work(&txn)?;
    txn.commit()
        .map_err(unavailable("failed to commit state"))?;
    Ok(result)
}

/// Runs `work` on the `kv` table in one durable write transaction.
fn write_kv<T>(
    db: &Database,
    work: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<T, StateError>,
) -> Result<T, StateError> {
    write_txn(db, Durability::Immediate, |txn| {
        let mut table = txn
            .open_table(KV)
            .map_err(unavailable("failed to write state"))?;
        work(&mut table)
    })
}

/// Applies the domain operations of a write to the `kv` table.
fn apply_domain_ops(txn: &WriteTransaction, ops: &[DomainOp], now: u64) -> Result<(), StateError> {
    let mut table = txn
        .open_table(KV)
        .map_err(unavailable("failed to write state"))?;
    for op in ops {
        match op {
            DomainOp::Put { key, value, ttl } => {
                table
                    .insert(key.as_str(), encode_entry(value, *ttl, now).as_slice())
                    .map_err(unavailable("failed to write state"))?;
            }
            DomainOp::Delete { key } => {
                table
                    .remove(key.as_str())
                    .map_err(unavailable("failed to write state"))?;
            }
        }
    }
    Ok(())
}

/// Appends `events` to the outbox; returns their sequence numbers.
fn append_events(txn: &WriteTransaction, events: &[Vec<u8>]) -> Result<Vec<u64>, StateError> {
    let mut meta = txn
        .open_table(OUTBOX_META)
        .map_err(unavailable("failed to write outbox"))?;
    let mut outbox = txn
        .open_table(OUTBOX)
        .map_err(unavailable("failed to write outbox"))?;
    let stored_next = meta
        .get(NEXT_ID)
        .map_err(unavailable("failed to read outbox"))?
        .map_or(1, |next| next.value());
    let after_last = outbox
        .last()
        .map_err(unavailable("failed to read outbox"))?
        .map_or(1, |(last, _)| last.value() + 1);
    let first = stored_next.max(after_last);
    let mut ids = Vec::with_capacity(events.len());
    for (id, event) in (first..).zip(events) {
        outbox
            .insert(id, event.as_slice())
            .map_err(unavailable("failed to write outbox"))?;
        ids.push(id);
    }
    meta.insert(NEXT_ID, first + events.len() as u64)
        .map_err(unavailable("failed to write outbox"))?;
    Ok(ids)
}

impl EmbeddedState {
    /// Opens (or creates) the store in `dir`. Fails if another process holds it.
    pub fn open(dir: &Path) -> Result<Self, OpenDatabaseError> {
        let db = EmbeddedDatabase::open(dir, "state.redb", CACHE_BYTES, |txn| {
            txn.open_table(KV)?;
            txn.open_table(OUTBOX)?;
            txn.open_table(OUTBOX_META)?;
            txn.open_table(jobs::JOBS)?;
            txn.open_table(jobs::JOBS_BY_OWNER)?;
            Ok(())
        })?;
        Ok(EmbeddedState { db })
    }

    /// Applies the domain writes of `write` and appends its events to the outbox in one
    /// durable transaction; returns the events' sequence numbers, in order.
    pub async fn commit(&self, write: StateWrite) -> Result<Vec<u64>, StateError> {
        if write.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .run(move |db| {
                write_txn(db, Durability::Immediate, |txn| {
                    apply_domain_ops(txn, &write.ops, now_ms())?;
                    append_events(txn, &write.events)
                })
            })
            .await
    }
}

#[async_trait]
impl StateStore for EmbeddedState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let key = key.to_string();
        self.db
            .run(move |db| {
                let txn = db
                    .begin_read()
                    .map_err(unavailable("failed to read state"))?;
                let table = txn
                    .open_table(KV)
                    .map_err(unavailable("failed to read state"))?;
                let Some(entry) = table
                    .get(key.as_str())
                    .map_err(unavailable("failed to read state"))?
                else {
                    return Ok(None);
                };
                let (expires_at, value) = split_entry(entry.value()).ok_or_else(|| {
                    StateError::new(
                        StateErrorKind::Corrupt,
                        format!("state entry `{key}` is damaged"),
                    )
                })?;
                Ok(is_live(expires_at, now_ms()).then(|| value.to_vec()))
            })
            .await
    }

    async fn put_many(
        &self,
        keys: &[String],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        if keys.is_empty() {
            return Ok(());
        }
        let entry = encode_entry(value, ttl, now_ms());
        let keys = keys.to_vec();
        self.db
            .run(move |db| {
                write_kv(db, |table| {
                    for key in &keys {
                        table
                            .insert(key.as_str(), entry.as_slice())
                            .map_err(unavailable("failed to write state"))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn contains_many(&self, keys: &[String]) -> Result<Vec<bool>, StateError> {
        let keys = keys.to_vec();
        self.db
            .run(move |db| {
                let now = now_ms();
                let txn = db
                    .begin_read()
                    .map_err(unavailable("failed to read state"))?;
                let table = txn
                    .open_table(KV)
                    .map_err(unavailable("failed to read state"))?;
                keys.iter()
                    .map(|key| {
                        let entry = table
                            .get(key.as_str())
                            .map_err(unavailable("failed to read state"))?;
                        Ok(entry.is_some_and(|entry| entry_is_live(entry.value(), now)))
                    })
                    .collect()
            })
            .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64, StateError> {
        let keys = keys.to_vec();
        self.db
            .run(move |db| {
                let now = now_ms();
                write_kv(db, |table| {
                    let mut deleted = 0;
                    for key in &keys {
                        let removed = table
                            .remove(key.as_str())
                            .map_err(unavailable("failed to write state"))?;
                        deleted += u64::from(
                            removed.is_some_and(|entry| entry_is_live(entry.value(), now)),
                        );
                    }
                    Ok(deleted)
                })
            })
            .await
    }

    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }

    async fn purge_expired(&self) -> Result<u64, StateError> {
        self.db
            .run(|db| {
                let now = now_ms();
                write_kv(db, |table| {
                    let mut purged = 0;
                    table
                        .retain(|_, entry| {
                            // Damaged entries are kept: `get` reports them, they are not ours to drop.
                            let expired =
                                split_entry(entry).is_some_and(|(expiry, _)| !is_live(expiry, now));
                            purged += u64::from(expired);
                            !expired
                        })
                        .map_err(unavailable("failed to purge state"))?;
                    Ok(purged)
                })
            })
            .await
    }
}

#[async_trait]
impl Outbox for EmbeddedState {
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StateError> {
        self.db
            .run(move |db| {
                let txn = db
                    .begin_read()
                    .map_err(unavailable("failed to read outbox"))?;
                let table = txn
                    .open_table(OUTBOX)
                    .map_err(unavailable("failed to read outbox"))?;
                table
                    .iter()
                    .map_err(unavailable("failed to read outbox"))?
                    .take(limit)
                    .map(|row| {
                        let (id, payload) = row.map_err(unavailable("failed to read outbox"))?;
                        Ok(OutboxEntry {
                            id: id.value(),
                            payload: payload.value().to_vec(),
                        })
                    })
                    .collect()
            })
            .await
    }

    async fn mark_sent(&self, ids: &[u64]) -> Result<(), StateError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = ids.to_vec();
        self.db
            .run(move |db| {
                // Not fsynced: losing this commit only means publishing the entries again.
                write_txn(db, Durability::None, |txn| {
                    let mut table = txn
                        .open_table(OUTBOX)
                        .map_err(unavailable("failed to write outbox"))?;
                    for id in ids {
                        table
                            .remove(id)
                            .map_err(unavailable("failed to write outbox"))?;
                    }
                    Ok(())
                })
            })
            .await
    }

    async fn ping(&self) -> Result<(), StateError> {
        Ok(())
    }

    async fn pending_count(&self) -> Result<u64, StateError> {
        self.db
            .run(|db| {
                let txn = db
                    .begin_read()
                    .map_err(unavailable("failed to read outbox"))?;
                let table = txn
                    .open_table(OUTBOX)
                    .map_err(unavailable("failed to read outbox"))?;
                table.len().map_err(unavailable("failed to read outbox"))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
    }

    #[test]
    fn a_second_open_of_the_store_reports_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _held = EmbeddedState::open(dir.path()).unwrap();
        let err = EmbeddedState::open(dir.path()).err().expect("held");
        assert!(err.is_in_use(), "{err}");
    }

    #[tokio::test]
    async fn passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        crate::state_conformance_suite(&state).await.unwrap();
    }

    #[tokio::test]
    async fn stores_reads_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        state
            .put_many(&keys(&["a", "b"]), b"v", None)
            .await
            .unwrap();
        assert_eq!(state.get("a").await.unwrap(), Some(b"v".to_vec()));
        assert_eq!(state.get("zz").await.unwrap(), None);
        assert_eq!(
            state.contains_many(&keys(&["a", "x", "b"])).await.unwrap(),
            [true, false, true]
        );
        assert_eq!(state.delete_many(&keys(&["a", "x"])).await.unwrap(), 1);
        assert_eq!(
            state.contains_many(&keys(&["a", "b"])).await.unwrap(),
            [false, true]
        );
    }

    #[tokio::test]
    async fn expired_entries_read_as_absent_and_purge_deletes_exactly_them() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        state
            .put_many(
                &keys(&["short-1", "short-2"]),
                b"",
                Some(Duration::from_millis(30)),
            )
            .await
            .unwrap();
        state
            .put_many(&keys(&["long"]), b"", Some(Duration::from_secs(3600)))
            .await
            .unwrap();
        state
            .put_many(&keys(&["forever"]), b"", None)
            .await
            .unwrap();
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(
            state
                .contains_many(&keys(&["short-1", "long", "forever"]))
                .await
                .unwrap(),
            [false, true, true]
        );
        assert_eq!(state.purge_expired().await.unwrap(), 2);
        assert_eq!(state.purge_expired().await.unwrap(), 0);
        assert_eq!(
            state
                .contains_many(&keys(&["long", "forever"]))
                .await
                .unwrap(),
            [true, true]
        );
    }

    #[tokio::test]
    async fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        EmbeddedState::open(dir.path())
            .unwrap()
            .put_many(&keys(&["k"]), b"1", None)
            .await
            .unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        assert_eq!(state.get("k").await.unwrap(), Some(b"1".to_vec()));
    }
    fn ids(entries: &[OutboxEntry]) -> Vec<u64> {
        entries.iter().map(|entry| entry.id).collect()
    }

    #[tokio::test]
    async fn commit_applies_domain_writes_and_appends_events_together() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        state
            .put_many(&keys(&["cart:1", "keep"]), b"old", None)
            .await
            .unwrap();
        let write = StateWrite::new()
            .put("order:1", b"paid".to_vec(), None)
            .put("lock:1", b"".to_vec(), Some(Duration::from_millis(30)))
            .delete("cart:1")
            .delete("absent")
            .event(b"e1".to_vec())
            .event(b"e2".to_vec());
        let committed = state.commit(write).await.unwrap();
        assert_eq!(committed, [1, 2]);
        assert_eq!(state.get("order:1").await.unwrap(), Some(b"paid".to_vec()));
        assert_eq!(
            state
                .contains_many(&keys(&["lock:1", "cart:1", "keep"]))
                .await
                .unwrap(),
            [true, false, true]
        );
        let pending = state.pending(10).await.unwrap();
        assert_eq!(
            pending,
            [
                OutboxEntry {
                    id: 1,
                    payload: b"e1".to_vec()
                },
                OutboxEntry {
                    id: 2,
                    payload: b"e2".to_vec()
                },
            ]
        );
        assert_eq!(state.pending_count().await.unwrap(), 2);
        // The TTL of a committed put works like `put_many`'s, and purging leaves the outbox.
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(state.purge_expired().await.unwrap(), 1);
        assert_eq!(state.pending_count().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn commit_applies_operations_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        let write = StateWrite::new()
            .put("a", b"1".to_vec(), None)
            .delete("a")
            .delete("b")
            .put("b", b"2".to_vec(), None);
        assert_eq!(state.commit(write).await.unwrap(), Vec::<u64>::new());
        assert_eq!(state.get("a").await.unwrap(), None);
        assert_eq!(state.get("b").await.unwrap(), Some(b"2".to_vec()));
        assert_eq!(state.commit(StateWrite::new()).await.unwrap(), []);
        assert_eq!(state.pending_count().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn pending_is_oldest_first_and_limited() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        for n in 0..5u8 {
            state
                .commit(StateWrite::new().event(vec![n]))
                .await
                .unwrap();
        }
        let pending = state.pending(3).await.unwrap();
        assert_eq!(ids(&pending), [1, 2, 3]);
        let payloads: Vec<Vec<u8>> = pending.into_iter().map(|entry| entry.payload).collect();
        assert_eq!(payloads, [vec![0], vec![1], vec![2]]);
        assert_eq!(state.pending(0).await.unwrap(), []);
    }

    #[tokio::test]
    async fn mark_sent_removes_exactly_the_given_ids_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        let write = (0..5u8).fold(StateWrite::new(), |write, n| write.event(vec![n]));
        assert_eq!(state.commit(write).await.unwrap(), [1, 2, 3, 4, 5]);
        state.mark_sent(&[2, 4, 99]).await.unwrap();
        assert_eq!(ids(&state.pending(10).await.unwrap()), [1, 3, 5]);
        state.mark_sent(&[2, 4]).await.unwrap();
        state.mark_sent(&[]).await.unwrap();
        assert_eq!(ids(&state.pending(10).await.unwrap()), [1, 3, 5]);
        assert_eq!(state.pending_count().await.unwrap(), 3);
    }

    #[tokio::test]
    async fn sequence_numbers_keep_increasing_across_reopen_and_emptying() {
        let dir = tempfile::tempdir().unwrap();
        {
            let state = EmbeddedState::open(dir.path()).unwrap();
            let write = StateWrite::new().event(b"a".to_vec()).event(b"b".to_vec());
            assert_eq!(state.commit(write).await.unwrap(), [1, 2]);
        }
        let state = EmbeddedState::open(dir.path()).unwrap();
        assert_eq!(ids(&state.pending(10).await.unwrap()), [1, 2]);
        let write = StateWrite::new().event(b"c".to_vec());
        assert_eq!(state.commit(write).await.unwrap(), [3]);
        // Emptying the outbox must not recycle ids: a stale `mark_sent(&[3])` would
        // otherwise delete a newer, unpublished event.
        state.mark_sent(&[1, 2, 3]).await.unwrap();
        drop(state);
        let state = EmbeddedState::open(dir.path()).unwrap();
        let write = StateWrite::new().event(b"d".to_vec());
        assert_eq!(state.commit(write).await.unwrap(), [4]);
        state.mark_sent(&[3]).await.unwrap();
        assert_eq!(ids(&state.pending(10).await.unwrap()), [4]);
    }

    #[tokio::test]
    async fn concurrent_commits_get_distinct_ids() {
        let dir = tempfile::tempdir().unwrap();
        let state = EmbeddedState::open(dir.path()).unwrap();
        let tasks: Vec<_> = (0..8u8)
            .map(|n| {
                let state = state.clone();
                tokio::spawn(async move {
                    let write = StateWrite::new()
                        .put(format!("k{n}"), vec![n], None)
                        .event(vec![n])
                        .event(vec![n]);
                    state.commit(write).await.unwrap()
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            let committed = task.await.unwrap();
            assert_eq!(committed[1], committed[0] + 1);
            all.extend(committed);
        }
        all.sort_unstable();
        assert_eq!(all, (1..=16).collect::<Vec<u64>>());
    }
}
