//! The store kit: [`EmbeddedDatabase`], how every embedded redb store of switchyard (the
//! bus, state, contacts, meetings and notifier stores) opens its file in a data directory
//! and runs its blocking work, and the two errors that brings: [`OpenDatabaseError`],
//! whose [`is_in_use`](OpenDatabaseError::is_in_use) is the one way a held file (a running
//! server) reads everywhere, and [`BlockingTaskFailed`].

use std::error::Error;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, WriteTransaction};

/// One embedded redb database of a data directory, shared by its store and the blocking
/// tasks working on it. Cloning is cheap; clones share the database.
#[derive(Clone)]
pub struct EmbeddedDatabase {
    db: Arc<Database>,
    path: Arc<PathBuf>,
}

impl std::fmt::Debug for EmbeddedDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedDatabase")
            .field("path", &self.path)
            .finish()
    }
}

impl EmbeddedDatabase {
    /// Opens (or creates) the file `file_name` in `dir` with a page cache of
    /// `cache_bytes`, creating `dir` first, then runs `create_tables` in one first write
    /// transaction so that every table exists before the first read.
    ///
    /// Fails with [`OpenDatabaseError::is_in_use`] when another process holds the file (a
    /// running switchyard server, for the CLI); every other failure names the file.
    pub fn open(
        dir: &Path,
        file_name: &str,
        cache_bytes: usize,
        create_tables: impl FnOnce(&WriteTransaction) -> Result<(), Box<dyn Error + Send + Sync>>,
    ) -> Result<Self, OpenDatabaseError> {
        let path = dir.join(file_name);
        std::fs::create_dir_all(dir).map_err(|err| {
            OpenDatabaseError::unavailable(format!("failed to create {}: {err}", dir.display()))
        })?;
        let db = Database::builder()
            .set_cache_size(cache_bytes)
            .create(&path)
            .map_err(|err| match err {
                redb::DatabaseError::DatabaseAlreadyOpen => OpenDatabaseError::in_use(&path),
                other => OpenDatabaseError::unavailable(format!(
                    "failed to open {}: {other}",
                    path.display()
                )),
            })?;
        let tables_failed = |err: &dyn std::fmt::Display| {
            OpenDatabaseError::unavailable(format!(
                "failed to create the tables of {}: {err}",
                path.display()
            ))
        };
        let txn = db.begin_write().map_err(|err| tables_failed(&err))?;
        create_tables(&txn).map_err(|err| tables_failed(&err))?;
        txn.commit().map_err(|err| tables_failed(&err))?;
        Ok(EmbeddedDatabase {
            db: Arc::new(db),
            path: Arc::new(path),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The database, for work that may block the calling thread.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// Runs `work` on the database on tokio's blocking pool (redb calls block on disk).
    /// A task that panics or is cancelled fails with [`BlockingTaskFailed`], as `E`.
    pub async fn run<T, E>(
        &self,
        work: impl FnOnce(&Database) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<BlockingTaskFailed> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || work(&this.db))
            .await
            .map_err(|err| BlockingTaskFailed {
                path: self.path.to_path_buf(),
                reason: err.to_string(),
            })?
    }
}

/// An embedded redb database could not be opened by [`EmbeddedDatabase::open`].
///
/// Every embedded store's `open` returns it as is, so that the CLI tells a file held by
/// a running server ([`is_in_use`](Self::is_in_use)) from any other failure in one place.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OpenDatabaseError {
    in_use: bool,
    message: String,
}

impl OpenDatabaseError {
    fn in_use(path: &Path) -> Self {
        OpenDatabaseError {
            in_use: true,
            message: format!(
                "failed to open {}: another switchyard process is using it",
                path.display()
            ),
        }
    }

    /// The database could not be opened for another reason than being held (a store
    /// whose open does more than open its file uses it for those steps too).
    pub fn unavailable(message: impl Into<String>) -> Self {
        OpenDatabaseError {
            in_use: false,
            message: message.into(),
        }
    }

    /// Whether another process holds the database; otherwise trying again may work.
    pub fn is_in_use(&self) -> bool {
        self.in_use
    }
}

/// The blocking task of an [`EmbeddedDatabase::run`] panicked or was cancelled (at
/// shutdown). Each store's error type converts it into its retryable kind.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the task working on {} failed: {reason}", path.display())]
pub struct BlockingTaskFailed {
    path: PathBuf,
    reason: String,
}

#[cfg(test)]
mod tests {
    use redb::{ReadableDatabase, ReadableTableMetadata, TableDefinition};

    use super::*;

    const PROBE: TableDefinition<&str, u64> = TableDefinition::new("probe");

    fn open_probe(dir: &Path) -> Result<EmbeddedDatabase, OpenDatabaseError> {
        EmbeddedDatabase::open(dir, "probe.redb", 1 << 20, |txn| {
            txn.open_table(PROBE)?;
            Ok(())
        })
    }

    /// Checks whether `err` says the file is in use and that its message starts with
    /// `message`.
    fn check(err: OpenDatabaseError, in_use: bool, message: &str) {
        assert_eq!(err.is_in_use(), in_use);
        assert!(err.to_string().starts_with(message), "{err}");
    }

    #[test]
    fn open_creates_the_directory_and_the_tables() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_probe(&dir.path().join("a/b")).unwrap();
        assert_eq!(db.path(), dir.path().join("a/b/probe.redb"));
        let txn = db.database().begin_read().unwrap();
        assert_eq!(txn.open_table(PROBE).unwrap().len().unwrap(), 0);
    }

    #[test]
    fn open_reports_a_held_file_as_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _held = open_probe(dir.path()).unwrap();
        let in_use = format!(
            "failed to open {}: another switchyard process",
            dir.path().join("probe.redb").display()
        );
        check(open_probe(dir.path()).unwrap_err(), true, &in_use);
    }

    #[test]
    fn open_names_the_path_of_other_failures() {
        let dir = tempfile::tempdir().unwrap();
        // A directory where the file should be.
        std::fs::create_dir(dir.path().join("probe.redb")).unwrap();
        let not_a_file = format!(
            "failed to open {}: ",
            dir.path().join("probe.redb").display()
        );
        check(open_probe(dir.path()).unwrap_err(), false, &not_a_file);
        let other = dir.path().join("other.redb");
        let no_tables = format!("failed to create the tables of {}: boom", other.display());
        let err = EmbeddedDatabase::open(dir.path(), "other.redb", 1 << 20, |_| Err("boom".into()))
            .unwrap_err();
        check(err, false, &no_tables);
    }

    #[derive(Debug)]
    struct Failed(String);

    impl From<BlockingTaskFailed> for Failed {
        fn from(err: BlockingTaskFailed) -> Self {
            Failed(err.to_string())
        }
    }

    #[tokio::test]
    async fn run_returns_the_work_result_and_reports_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let db = open_probe(dir.path()).unwrap();
        let tables = db
            .run(|db| {
                let txn = db.begin_read().map_err(|err| Failed(err.to_string()))?;
                txn.open_table(PROBE)
                    .map_err(|err| Failed(err.to_string()))?
                    .len()
                    .map_err(|err| Failed(err.to_string()))
            })
            .await
            .unwrap();
        assert_eq!(tables, 0);
        let Failed(message) = db
            .run(|_| -> Result<(), Failed> { panic!("boom") })
            .await
            .unwrap_err();
        let expected = format!("the task working on {} failed", db.path().display());
        assert!(message.starts_with(&expected), "{message}");
    }
}
