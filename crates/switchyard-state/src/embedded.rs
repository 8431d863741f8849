//! [`EmbeddedState`]: the state store in one redb file (`state.redb`) of the data directory.
//!
//! Layout: table `kv`, key (UTF-8) → value bytes prefixed by the expiry time as a
//! big-endian u64 of milliseconds since the Unix epoch (0: never expires). Every write is
//! one fsynced transaction; redb's copy-on-write commits keep it whole across crashes.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, TableDefinition};

use crate::{StateError, StateErrorKind, StateStore};

const KV: TableDefinition<&str, &[u8]> = TableDefinition::new("kv");
const NEVER: u64 = 0;
/// Page cache of the state database (redb's default is 1 GiB).
const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// The embedded state store. Cloning is cheap; clones share one database.
#[derive(Clone)]
pub struct EmbeddedState {
    db: Arc<Database>,
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

/// Runs `work` on the `kv` table in one durable write transaction.
fn write_kv<T>(
    db: &Database,
    work: impl FnOnce(&mut redb::Table<&str, &[u8]>) -> Result<T, StateError>,
) -> Result<T, StateError> {
    let txn = db
        .begin_write()
        .map_err(unavailable("failed to write state"))?;
    let result = {
        let mut table = txn
            .open_table(KV)
            .map_err(unavailable("failed to write state"))?;
        work(&mut table)?
    };
    txn.commit()
        .map_err(unavailable("failed to commit state"))?;
    Ok(result)
}

impl EmbeddedState {
    /// Opens (or creates) the store in `dir`. Fails if another process holds it.
    pub fn open(dir: &Path) -> Result<Self, StateError> {
        std::fs::create_dir_all(dir).map_err(|err| {
            StateError::new(
                StateErrorKind::Unavailable,
                format!("failed to create {}: {err}", dir.display()),
            )
        })?;
        let path = dir.join("state.redb");
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|err| {
                let reason = match err {
                    redb::DatabaseError::DatabaseAlreadyOpen => {
                        "another switchyard process is using it".to_string()
                    }
                    other => other.to_string(),
                };
                StateError::new(
                    StateErrorKind::Unavailable,
                    format!("failed to open {}: {reason}", path.display()),
                )
            })?;
        let txn = db
            .begin_write()
            .map_err(unavailable("failed to open state"))?;
        txn.open_table(KV)
            .map_err(unavailable("failed to open state"))?;
        txn.commit().map_err(unavailable("failed to open state"))?;
        Ok(EmbeddedState { db: Arc::new(db) })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(unavailable("state task failed"))?
    }
}

#[async_trait]
impl StateStore for EmbeddedState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let key = key.to_string();
        self.blocking(move |db| {
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
        let expires_at = ttl.map_or(NEVER, |ttl| now_ms() + ttl.as_millis() as u64);
        let mut entry = expires_at.to_be_bytes().to_vec();
        entry.extend_from_slice(value);
        let keys = keys.to_vec();
        self.blocking(move |db| {
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
        self.blocking(move |db| {
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
        self.blocking(move |db| {
            let now = now_ms();
            write_kv(db, |table| {
                let mut deleted = 0;
                for key in &keys {
                    let removed = table
                        .remove(key.as_str())
                        .map_err(unavailable("failed to write state"))?;
                    deleted +=
                        u64::from(removed.is_some_and(|entry| entry_is_live(entry.value(), now)));
                }
                Ok(deleted)
            })
        })
        .await
    }

    async fn purge_expired(&self) -> Result<u64, StateError> {
        self.blocking(|db| {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| name.to_string()).collect()
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
}
