//! [`RedbContactStore`]: the contact store in one redb file (`contacts.redb` in the data
//! directory).
//!
//! # Layout
//! Keys are UTF-8 strings whose parts are joined by NUL (`\0`), so that one user's rows,
//! or one contact's contributions, are one range scan:
//! - `contacts`: `{user}\0{address}` → JSON `{contact, published}` (contact `null` while
//!   a delete of a published contact waits to be published);
//! - `contributions`: `{user}\0{address}\0{item_ref}` → JSON [`Contribution`];
//! - `items`: `{user}\0{item_ref}` → JSON `{version, addresses, deleted}`;
//! - `dirty`: `{user}\0{address}` → generation (u64);
//! - `meta`: `generation` → the last generation handed out.
//!
//! User ids and item ids holding a NUL are refused (skipped with a warning).
//!
//! # Durability
//! Every call is one fsynced write transaction (redb copy-on-write), so a batch's
//! contributions, contacts and dirty marks survive or vanish together.

use std::collections::BTreeSet;
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use switchyard_state::{EmbeddedDatabase, OpenDatabaseError};
use tracing::warn;

use super::tables::{
    CONTACTS, CONTRIBUTIONS, DIRTY, ITEMS, StoreResult, StoredContact, StoredItem, Tables, decode,
    get, key2, parts, prefix_range, remove_prefix, scan, unavailable,
};
use super::{
    ApplyReport, ContactStore, DirtyContact, ForgottenContact, ItemEntry, Publication, Settled,
    UserExport,
};
use crate::{Contribution, EmailContact, ItemChange, Scoring, contact_id, normalize_address};

/// The store's file in the data directory.
const CONTACTS_FILE_NAME: &str = "contacts.redb";

/// Page cache of the contacts database (redb's default is 1 GiB).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// The embedded contact store. Cloning is cheap; clones share one database.
#[derive(Clone)]
pub struct RedbContactStore {
    db: EmbeddedDatabase,
    scoring: Scoring,
}

fn forgotten(user: &str, address: &str) -> ForgottenContact {
    ForgottenContact {
        user_id: user.to_string(),
        address: address.to_string(),
        contact_id: contact_id(address),
    }
}

fn valid_key_part(part: &str) -> bool {
    !part.contains('\0')
}

impl RedbContactStore {
    /// Opens (or creates) `{data_dir}/contacts.redb`, scoring with `scoring`. Fails if
    /// another process holds it.
    pub fn open(data_dir: &Path, scoring: Scoring) -> Result<Self, OpenDatabaseError> {
        let db = EmbeddedDatabase::open(data_dir, CONTACTS_FILE_NAME, CACHE_BYTES, |txn| {
            Tables::open(txn)?;
            Ok(())
        })?;
        Ok(RedbContactStore { db, scoring })
    }

    /// Runs `work` on the tables in one durable write transaction.
    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Tables<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.db
            .run(move |db| {
                let txn = db
                    .begin_write()
                    .map_err(unavailable("failed to write contacts"))?;
                let result = {
                    let mut tables = Tables::open(&txn)?;
                    work(&mut tables)?
                };
                txn.commit()
                    .map_err(unavailable("failed to commit contacts"))?;
                Ok(result)
            })
            .await
    }

    /// Runs `work` in one read transaction.
    async fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&redb::ReadTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.db
            .run(move |db| {
                let txn = db
                    .begin_read()
                    .map_err(unavailable("failed to read contacts"))?;
                work(&txn)
            })
            .await
    }
}

fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> StoreResult<redb::ReadOnlyTable<K, V>> {
    txn.open_table(table)
        .map_err(unavailable("failed to read contacts"))
}

#[async_trait]
impl ContactStore for RedbContactStore {
    fn scoring(&self) -> &Scoring {
        &self.scoring
    }

    async fn apply(&self, changes: Vec<ItemChange>) -> StoreResult<ApplyReport> {
        if changes.is_empty() {
            return Ok(ApplyReport::default());
        }
        self.write(move |tables| {
            let mut report = ApplyReport::default();
            let mut changed = BTreeSet::new();
            for change in &changes {
                if !valid_key_part(&change.user_id) || !valid_key_part(&change.item_ref) {
                    warn!(item = %change.item_ref.replace('\0', "\\0"), "item with a NUL in its user or id skipped");
                    continue;
                }
                if tables.apply(change, &mut changed)? {
                    report.applied += 1;
                } else {
                    report.superseded += 1;
                }
            }
            report.contacts_changed = changed.len();
            tables.mark_dirty(&changed)?;
            Ok(report)
        })
        .await
    }

    async fn dirty(&self, limit: usize) -> StoreResult<Vec<DirtyContact>> {
        self.read(move |txn| {
            let dirty = open_read(txn, DIRTY)?;
            let contacts = open_read(txn, CONTACTS)?;
            let mut found = Vec::new();
            for row in dirty
                .iter()
                .map_err(unavailable("failed to read contacts"))?
            {
                if found.len() >= limit {
                    break;
                }
                let (key, generation) = row.map_err(unavailable("failed to read contacts"))?;
                let key = key.value().to_string();
                let stored: Option<StoredContact> = get(&contacts, &key)?;
                let (contact, published) =
                    stored.map_or((None, None), |stored| (stored.contact, stored.published));
                let key_parts = parts(&key);
                found.push(DirtyContact {
                    user_id: key_parts[0].to_string(),
                    address: key_parts.get(1).copied().unwrap_or_default().to_string(),
                    generation: generation.value(),
                    contact,
                    published,
                });
            }
            Ok(found)
        })
        .await
    }

    async fn settle(&self, settled: Vec<Settled>) -> StoreResult<()> {
        if settled.is_empty() {
            return Ok(());
        }
        self.write(move |tables| {
            for settled in settled {
                let key = key2(&settled.user_id, &settled.address);
                let mark = tables
                    .dirty
                    .get(key.as_str())
                    .map_err(unavailable("failed to read contacts"))?
                    .map(|value| value.value());
                if mark == Some(settled.generation) {
                    tables
                        .dirty
                        .remove(key.as_str())
                        .map_err(unavailable("failed to write contacts"))?;
                }
                let Some(mut stored) = tables.contact(&key)? else {
                    continue;
                };
                match settled.publication {
                    Publication::Nothing => {}
                    Publication::Published(state) => stored.published = Some(state),
                    Publication::Deleted => stored.published = None,
                }
                if stored.contact.is_none() && mark == Some(settled.generation) {
                    // Nothing left to publish for it.
                    stored.published = None;
                }
                tables.put_contact(&key, &stored)?;
            }
            Ok(())
        })
        .await
    }

    async fn contact(&self, user: &str, address: &str) -> StoreResult<Option<EmailContact>> {
        let Some(address) = normalize_address(address) else {
            return Ok(None);
        };
        let key = key2(user, &address);
        self.read(move |txn| {
            let contacts = open_read(txn, CONTACTS)?;
            Ok(get::<StoredContact>(&contacts, &key)?.and_then(|stored| stored.contact))
        })
        .await
    }

    async fn contacts(&self, user: &str) -> StoreResult<Vec<EmailContact>> {
        let user = user.to_string();
        self.read(move |txn| {
            let contacts = open_read(txn, CONTACTS)?;
            Ok(scan::<StoredContact>(&contacts, &user)?
                .into_iter()
                .filter_map(|(_, stored)| stored.contact)
                .collect())
        })
        .await
    }

    async fn forget(
        &self,
        user: &str,
        address: Option<&str>,
    ) -> StoreResult<Vec<ForgottenContact>> {
        let user = user.to_string();
        let address = match address {
            Some(raw) => match normalize_address(raw) {
                Some(address) => Some(address),
                None => return Ok(Vec::new()),
            },
            None => None,
        };
        self.write(move |tables| {
            let mut forgotten_contacts = Vec::new();
            match address {
                Some(address) => {
                    if tables.remove_contact(&user, &address)? {
                        forgotten_contacts.push(forgotten(&user, &address));
                    }
                }
                None => {
                    for key in remove_prefix(&mut tables.contacts, &user)? {
                        forgotten_contacts.push(forgotten(&user, parts(&key)[1]));
                    }
                    remove_prefix(&mut tables.contributions, &user)?;
                    remove_prefix(&mut tables.items, &user)?;
                    remove_prefix(&mut tables.dirty, &user)?;
                }
            }
            Ok(forgotten_contacts)
        })
        .await
    }

    async fn drop_not_seen_since(
        &self,
        user: Option<&str>,
        cutoff: DateTime<Utc>,
    ) -> StoreResult<Vec<ForgottenContact>> {
        let user = user.map(str::to_string);
        self.write(move |tables| {
            let rows: Vec<(String, StoredContact)> = match &user {
                Some(user) => scan(&tables.contacts, user)?,
                None => {
                    let mut rows = Vec::new();
                    for row in tables
                        .contacts
                        .iter()
                        .map_err(unavailable("failed to read contacts"))?
                    {
                        let (key, value) = row.map_err(unavailable("failed to read contacts"))?;
                        rows.push((key.value().to_string(), decode(key.value(), value.value())?));
                    }
                    rows
                }
            };
            let mut dropped = Vec::new();
            for (key, stored) in rows {
                let Some(contact) = stored.contact else {
                    continue;
                };
                if contact.last_seen < cutoff {
                    let key_parts = parts(&key);
                    tables.remove_contact(key_parts[0], key_parts[1])?;
                    dropped.push(forgotten(key_parts[0], key_parts[1]));
                }
            }
            let items: Vec<(String, StoredItem)> = match &user {
                Some(user) => scan(&tables.items, user)?,
                None => {
                    let mut rows = Vec::new();
                    for row in tables
                        .items
                        .iter()
                        .map_err(unavailable("failed to read contacts"))?
                    {
                        let (key, value) = row.map_err(unavailable("failed to read contacts"))?;
                        rows.push((key.value().to_string(), decode(key.value(), value.value())?));
                    }
                    rows
                }
            };
            for (key, item) in items {
                if item.deleted && item.version < cutoff {
                    Tables::remove(&mut tables.items, &key)?;
                }
            }
            Ok(dropped)
        })
        .await
    }

    async fn export(&self, user: &str) -> StoreResult<UserExport> {
        let user = user.to_string();
        self.read(move |txn| {
            let contacts = open_read(txn, CONTACTS)?;
            let contributions = open_read(txn, CONTRIBUTIONS)?;
            let items = open_read(txn, ITEMS)?;
            let dirty = open_read(txn, DIRTY)?;
            let (start, end) = prefix_range(&user);
            let mut dirty_addresses = Vec::new();
            for row in dirty
                .range(start.as_str()..end.as_str())
                .map_err(unavailable("failed to read contacts"))?
            {
                let (key, _) = row.map_err(unavailable("failed to read contacts"))?;
                dirty_addresses.push(parts(key.value())[1].to_string());
            }
            Ok(UserExport {
                contacts: scan::<StoredContact>(&contacts, &user)?
                    .into_iter()
                    .map(|(_, stored)| (stored.contact, stored.published))
                    .collect(),
                contributions: scan::<Contribution>(&contributions, &user)?
                    .into_iter()
                    .map(|(key, contribution)| {
                        let key_parts = parts(&key);
                        (
                            key_parts[1].to_string(),
                            key_parts[2..].join("\0"),
                            contribution,
                        )
                    })
                    .collect(),
                items: scan::<StoredItem>(&items, &user)?
                    .into_iter()
                    .map(|(key, item)| ItemEntry {
                        item_ref: parts(&key)[1..].join("\0"),
                        version: item.version,
                        addresses: item.addresses,
                        deleted: item.deleted,
                    })
                    .collect(),
                dirty: dirty_addresses,
            })
        })
        .await
    }
}
