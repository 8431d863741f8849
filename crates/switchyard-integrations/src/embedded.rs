//! [`RedbIntegrationStore`]: integrations in `{data_dir}/integrations.redb`, one row per
//! (user, integration id) holding the [`StoredIntegration`] as JSON (its refresh token
//! sealed). Each call is one transaction.

use std::path::Path;

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use switchyard_state::{EmbeddedDatabase, OpenDatabaseError};

use crate::store::{IntegrationError, IntegrationErrorKind, IntegrationStore, StoredIntegration};

/// (user id, integration id) → the stored integration as JSON.
const INTEGRATIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("integrations");
/// The file name in the data directory.
const FILE_NAME: &str = "integrations.redb";
/// Page cache (integrations are few and small).
const CACHE_BYTES: usize = 1024 * 1024;

/// Integrations kept in the data directory.
#[derive(Debug, Clone)]
pub struct RedbIntegrationStore {
    db: EmbeddedDatabase,
}

impl RedbIntegrationStore {
    /// Opens (or creates) `{data_dir}/integrations.redb`.
    pub fn open(data_dir: &Path) -> Result<Self, OpenDatabaseError> {
        let db = EmbeddedDatabase::open(data_dir, FILE_NAME, CACHE_BYTES, |txn| {
            txn.open_table(INTEGRATIONS)?;
            Ok(())
        })?;
        Ok(RedbIntegrationStore { db })
    }
}

fn failed(what: &'static str) -> impl Fn(&dyn std::fmt::Display) -> IntegrationError {
    move |err| IntegrationError::new(IntegrationErrorKind::Unavailable, format!("{what}: {err}"))
}

fn decode(bytes: &[u8]) -> Result<StoredIntegration, IntegrationError> {
    serde_json::from_slice(bytes).map_err(|err| {
        IntegrationError::new(
            IntegrationErrorKind::Unavailable,
            format!("a stored integration is unreadable: {err}"),
        )
    })
}

#[async_trait]
impl IntegrationStore for RedbIntegrationStore {
    async fn put(&self, stored: StoredIntegration) -> Result<(), IntegrationError> {
        let bytes = serde_json::to_vec(&stored).expect("integrations serialize to JSON");
        self.db
            .run(move |db| {
                let fail = failed("failed to store an integration");
                let txn = db.begin_write().map_err(|err| fail(&err))?;
                {
                    let mut table = txn.open_table(INTEGRATIONS).map_err(|err| fail(&err))?;
                    let key = (
                        stored.integration.user_id.as_str(),
                        stored.integration.id.as_str(),
                    );
                    table
                        .insert(key, bytes.as_slice())
                        .map_err(|err| fail(&err))?;
                }
                txn.commit().map_err(|err| fail(&err))
            })
            .await
    }

    async fn get(&self, user_id: &str, id: &str) -> Result<StoredIntegration, IntegrationError> {
        let (user_id, id) = (user_id.to_string(), id.to_string());
        self.db
            .run(move |db| {
                let fail = failed("failed to read an integration");
                let txn = db.begin_read().map_err(|err| fail(&err))?;
                let table = txn.open_table(INTEGRATIONS).map_err(|err| fail(&err))?;
                match table
                    .get((user_id.as_str(), id.as_str()))
                    .map_err(|err| fail(&err))?
                {
                    Some(bytes) => decode(bytes.value()),
                    None => Err(IntegrationError::not_found(&user_id, &id)),
                }
            })
            .await
    }

    async fn list(&self, user_id: &str) -> Result<Vec<StoredIntegration>, IntegrationError> {
        let user_id = user_id.to_string();
        let mut found = self
            .db
            .run(move |db| {
                let fail = failed("failed to list integrations");
                let txn = db.begin_read().map_err(|err| fail(&err))?;
                let table = txn.open_table(INTEGRATIONS).map_err(|err| fail(&err))?;
                let mut found = Vec::new();
                for row in table
                    .range((user_id.as_str(), "")..)
                    .map_err(|err| fail(&err))?
                {
                    let (key, bytes) = row.map_err(|err| fail(&err))?;
                    if key.value().0 != user_id {
                        break;
                    }
                    found.push(decode(bytes.value())?);
                }
                Ok::<_, IntegrationError>(found)
            })
            .await?;
        found.sort_by_key(|stored| stored.integration.created_at);
        Ok(found)
    }

    async fn all(&self, limit: usize) -> Result<Vec<StoredIntegration>, IntegrationError> {
        self.db
            .run(move |db| {
                let fail = failed("failed to list integrations");
                let txn = db.begin_read().map_err(|err| fail(&err))?;
                let table = txn.open_table(INTEGRATIONS).map_err(|err| fail(&err))?;
                let mut found = Vec::new();
                for row in table.iter().map_err(|err| fail(&err))?.take(limit) {
                    let (_, bytes) = row.map_err(|err| fail(&err))?;
                    found.push(decode(bytes.value())?);
                }
                Ok(found)
            })
            .await
    }

    async fn delete(&self, user_id: &str, id: &str) -> Result<bool, IntegrationError> {
        let (user_id, id) = (user_id.to_string(), id.to_string());
        self.db
            .run(move |db| {
                let fail = failed("failed to delete an integration");
                let txn = db.begin_write().map_err(|err| fail(&err))?;
                let removed = {
                    let mut table = txn.open_table(INTEGRATIONS).map_err(|err| fail(&err))?;
                    table
                        .remove((user_id.as_str(), id.as_str()))
                        .map_err(|err| fail(&err))?
                        .is_some()
                };
                txn.commit().map_err(|err| fail(&err))?;
                Ok(removed)
            })
            .await
    }
}
