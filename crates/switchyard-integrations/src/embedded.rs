//! [`RedbIntegrationStore`]: integrations in `{data_dir}/integrations.redb`, one row per
//! (user, integration id) holding the [`StoredIntegration`] as JSON (its secrets sealed),
//! an index from each feed's subscription id to its integration (kept in the same
//! transaction as the row), and the ledger of the items each feed delivered. Each call is
//! one transaction.

use std::path::Path;

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use switchyard_state::{EmbeddedDatabase, OpenDatabaseError};

use switchyard_contracts::DataKind;

use crate::store::{
    IntegrationError, IntegrationErrorKind, IntegrationStore, LedgerItem, StoredIntegration,
};

/// (user id, integration id) → the stored integration as JSON.
const INTEGRATIONS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("integrations");
/// Subscription id → (user id, integration id).
const SUBSCRIPTIONS: TableDefinition<&str, (&str, &str)> = TableDefinition::new("subscriptions");
/// (integration id, feed key, item id) → (generation, doc type of its data kind).
const LEDGER: TableDefinition<(&str, &str, &str), (u64, &str)> = TableDefinition::new("ledger");
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
            txn.open_table(SUBSCRIPTIONS)?;
            txn.open_table(LEDGER)?;
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
                    let (user_id, id) = (
                        stored.integration.user_id.as_str(),
                        stored.integration.id.as_str(),
                    );
                    let previous = table
                        .insert((user_id, id), bytes.as_slice())
                        .map_err(|err| fail(&err))?
                        .map(|bytes| decode(bytes.value()))
                        .transpose()?;
                    let mut index = txn.open_table(SUBSCRIPTIONS).map_err(|err| fail(&err))?;
                    for old in previous.iter().flat_map(subscription_ids) {
                        index.remove(old.as_str()).map_err(|err| fail(&err))?;
                    }
                    for new in subscription_ids(&stored) {
                        index
                            .insert(new.as_str(), (user_id, id))
                            .map_err(|err| fail(&err))?;
                    }
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
                    let removed = table
                        .remove((user_id.as_str(), id.as_str()))
                        .map_err(|err| fail(&err))?
                        .map(|bytes| decode(bytes.value()))
                        .transpose()?;
                    let mut index = txn.open_table(SUBSCRIPTIONS).map_err(|err| fail(&err))?;
                    for old in removed.iter().flat_map(subscription_ids) {
                        index.remove(old.as_str()).map_err(|err| fail(&err))?;
                    }
                    let mut ledger = txn.open_table(LEDGER).map_err(|err| fail(&err))?;
                    ledger
                        .retain_in(
                            (id.as_str(), "", "")..(id.as_str(), "\u{10FFFF}", ""),
                            |_, _| false,
                        )
                        .map_err(|err| fail(&err))?;
                    removed.is_some()
                };
                txn.commit().map_err(|err| fail(&err))?;
                Ok(removed)
            })
            .await
    }

    async fn by_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<Option<(String, String)>, IntegrationError> {
        let subscription_id = subscription_id.to_string();
        self.db
            .run(move |db| {
                let fail = failed("failed to read the subscription index");
                let txn = db.begin_read().map_err(|err| fail(&err))?;
                let table = txn.open_table(SUBSCRIPTIONS).map_err(|err| fail(&err))?;
                Ok(table
                    .get(subscription_id.as_str())
                    .map_err(|err| fail(&err))?
                    .map(|owner| {
                        let (user_id, id) = owner.value();
                        (user_id.to_string(), id.to_string())
                    }))
            })
            .await
    }

    async fn record_items(
        &self,
        id: &str,
        feed: &str,
        generation: u64,
        seen: Vec<LedgerItem>,
        gone: Vec<String>,
    ) -> Result<(), IntegrationError> {
        if seen.is_empty() && gone.is_empty() {
            return Ok(());
        }
        let (id, feed) = (id.to_string(), feed.to_string());
        self.db
            .run(move |db| {
                let fail = failed("failed to record a feed's items");
                let txn = db.begin_write().map_err(|err| fail(&err))?;
                {
                    let mut ledger = txn.open_table(LEDGER).map_err(|err| fail(&err))?;
                    for item in &seen {
                        let key = (id.as_str(), feed.as_str(), item.id.as_str());
                        // Never lower: a stream of the stored feed may record an item a
                        // resync of a newer generation has read already.
                        let seen_at = ledger
                            .get(key)
                            .map_err(|err| fail(&err))?
                            .map_or(generation, |row| row.value().0.max(generation));
                        ledger
                            .insert(key, (seen_at, item.kind.doc_type()))
                            .map_err(|err| fail(&err))?;
                    }
                    for item in &gone {
                        ledger
                            .remove((id.as_str(), feed.as_str(), item.as_str()))
                            .map_err(|err| fail(&err))?;
                    }
                }
                txn.commit().map_err(|err| fail(&err))
            })
            .await
    }

    async fn items_before(
        &self,
        id: &str,
        feed: &str,
        generation: u64,
    ) -> Result<Vec<LedgerItem>, IntegrationError> {
        let (id, feed) = (id.to_string(), feed.to_string());
        self.db
            .run(move |db| {
                let fail = failed("failed to read a feed's items");
                let txn = db.begin_read().map_err(|err| fail(&err))?;
                let ledger = txn.open_table(LEDGER).map_err(|err| fail(&err))?;
                let mut found = Vec::new();
                for row in ledger
                    .range((id.as_str(), feed.as_str(), "")..)
                    .map_err(|err| fail(&err))?
                {
                    let (key, value) = row.map_err(|err| fail(&err))?;
                    let (row_id, row_feed, item) = key.value();
                    if row_id != id || row_feed != feed {
                        break;
                    }
                    let (seen_at, doc_type) = value.value();
                    if seen_at < generation {
                        found.push(ledger_item(item, doc_type)?);
                    }
                }
                Ok(found)
            })
            .await
    }

    async fn items(&self, id: &str) -> Result<Vec<(String, LedgerItem)>, IntegrationError> {
        let id = id.to_string();
        self.db
            .run(move |db| {
                let fail = failed("failed to read an integration's items");
                let txn = db.begin_read().map_err(|err| fail(&err))?;
                let ledger = txn.open_table(LEDGER).map_err(|err| fail(&err))?;
                let mut found = Vec::new();
                for row in ledger
                    .range((id.as_str(), "", "")..)
                    .map_err(|err| fail(&err))?
                {
                    let (key, value) = row.map_err(|err| fail(&err))?;
                    let (row_id, feed, item) = key.value();
                    if row_id != id {
                        break;
                    }
                    found.push((feed.to_string(), ledger_item(item, value.value().1)?));
                }
                Ok(found)
            })
            .await
    }
}

/// The subscription ids of `stored`'s feeds.
fn subscription_ids(stored: &StoredIntegration) -> impl Iterator<Item = String> + '_ {
    stored
        .feeds
        .iter()
        .filter_map(|feed| feed.subscription.as_ref().map(|sub| sub.id.clone()))
}

fn ledger_item(id: &str, doc_type: &str) -> Result<LedgerItem, IntegrationError> {
    let kind = DataKind::from_doc_type(doc_type).ok_or_else(|| {
        IntegrationError::new(
            IntegrationErrorKind::Unavailable,
            format!("the ledger names an unknown data kind {doc_type:?}"),
        )
    })?;
    Ok(LedgerItem {
        id: id.to_string(),
        kind,
    })
}
