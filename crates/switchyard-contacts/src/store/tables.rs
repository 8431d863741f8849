//! The tables of the redb contact store and the transaction-level logic over them:
//! reading and folding contributions, applying item changes, marking contacts dirty.
//! The layout is documented in the `redb` module.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use super::PublishedState;
use crate::{ContactError, Contribution, EmailContact, ItemChange};

pub(super) const CONTACTS: TableDefinition<&str, &[u8]> = TableDefinition::new("contacts");
pub(super) const CONTRIBUTIONS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("contributions");
pub(super) const ITEMS: TableDefinition<&str, &[u8]> = TableDefinition::new("items");
pub(super) const DIRTY: TableDefinition<&str, u64> = TableDefinition::new("dirty");
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
pub(super) const GENERATION: &str = "generation";

/// The row of a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredContact {
    pub(super) contact: Option<EmailContact>,
    pub(super) published: Option<PublishedState>,
}

/// The row of a source item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct StoredItem {
    pub(super) version: DateTime<Utc>,
    pub(super) addresses: Vec<String>,
    pub(super) deleted: bool,
}

pub(super) type StoreResult<T> = Result<T, ContactError>;

pub(super) fn unavailable<E: std::fmt::Display>(
    context: &'static str,
) -> impl Fn(E) -> ContactError {
    move |err| ContactError::unavailable(format!("{context}: {err}"))
}

pub(super) fn key2(a: &str, b: &str) -> String {
    format!("{a}\0{b}")
}

pub(super) fn key3(a: &str, b: &str, c: &str) -> String {
    format!("{a}\0{b}\0{c}")
}

/// The bounds of every key starting with `prefix` followed by NUL.
pub(super) fn prefix_range(prefix: &str) -> (String, String) {
    (format!("{prefix}\0"), format!("{prefix}\u{1}"))
}

/// The parts of a NUL-joined key.
pub(super) fn parts(key: &str) -> Vec<&str> {
    key.split('\0').collect()
}

pub(super) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("stored values serialize to JSON")
}

pub(super) fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(|err| {
        ContactError::corrupt(format!(
            "contact store row `{}` is damaged: {err}",
            key.replace('\0', "/")
        ))
    })
}

pub(super) fn get<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> StoreResult<Option<T>> {
    match table
        .get(key)
        .map_err(unavailable("failed to read contacts"))?
    {
        Some(value) => decode(key, value.value()).map(Some),
        None => Ok(None),
    }
}

/// `(key, value)` of every row whose key starts with `prefix\0`.
pub(super) fn scan<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    prefix: &str,
) -> StoreResult<Vec<(String, T)>> {
    let (start, end) = prefix_range(prefix);
    let mut rows = Vec::new();
    for row in table
        .range(start.as_str()..end.as_str())
        .map_err(unavailable("failed to read contacts"))?
    {
        let (key, value) = row.map_err(unavailable("failed to read contacts"))?;
        rows.push((key.value().to_string(), decode(key.value(), value.value())?));
    }
    Ok(rows)
}

/// Removes every row whose key starts with `prefix\0`; returns their keys.
pub(super) fn remove_prefix<V: redb::Value + 'static>(
    table: &mut redb::Table<&'static str, V>,
    prefix: &str,
) -> StoreResult<Vec<String>> {
    let (start, end) = prefix_range(prefix);
    let keys: Vec<String> = table
        .range(start.as_str()..end.as_str())
        .map_err(unavailable("failed to read contacts"))?
        .map(|row| row.map(|(key, _)| key.value().to_string()))
        .collect::<Result<_, _>>()
        .map_err(unavailable("failed to read contacts"))?;
    for key in &keys {
        table
            .remove(key.as_str())
            .map_err(unavailable("failed to write contacts"))?;
    }
    Ok(keys)
}

/// The tables of one write transaction.
pub(super) struct Tables<'txn> {
    pub(super) contacts: redb::Table<'txn, &'static str, &'static [u8]>,
    pub(super) contributions: redb::Table<'txn, &'static str, &'static [u8]>,
    pub(super) items: redb::Table<'txn, &'static str, &'static [u8]>,
    pub(super) dirty: redb::Table<'txn, &'static str, u64>,
    pub(super) meta: redb::Table<'txn, &'static str, u64>,
}

impl<'txn> Tables<'txn> {
    pub(super) fn open(txn: &'txn WriteTransaction) -> StoreResult<Self> {
        let open = unavailable("failed to open contact tables");
        Ok(Tables {
            contacts: txn.open_table(CONTACTS).map_err(&open)?,
            contributions: txn.open_table(CONTRIBUTIONS).map_err(&open)?,
            items: txn.open_table(ITEMS).map_err(&open)?,
            dirty: txn.open_table(DIRTY).map_err(&open)?,
            meta: txn.open_table(META).map_err(&open)?,
        })
    }

    pub(super) fn put<T: Serialize>(
        table: &mut redb::Table<'txn, &'static str, &'static [u8]>,
        key: &str,
        value: &T,
    ) -> StoreResult<()> {
        table
            .insert(key, encode(value).as_slice())
            .map_err(unavailable("failed to write contacts"))?;
        Ok(())
    }

    pub(super) fn remove(
        table: &mut redb::Table<'txn, &'static str, &'static [u8]>,
        key: &str,
    ) -> StoreResult<bool> {
        Ok(table
            .remove(key)
            .map_err(unavailable("failed to write contacts"))?
            .is_some())
    }

    pub(super) fn contact(&self, key: &str) -> StoreResult<Option<StoredContact>> {
        get(&self.contacts, key)
    }

    /// Writes a contact row, or removes it when it holds nothing.
    pub(super) fn put_contact(&mut self, key: &str, stored: &StoredContact) -> StoreResult<()> {
        if stored.contact.is_none() && stored.published.is_none() {
            Self::remove(&mut self.contacts, key)?;
        } else {
            Self::put(&mut self.contacts, key, stored)?;
        }
        Ok(())
    }

    /// Folds one more contribution into the contact.
    pub(super) fn add_contribution(
        &mut self,
        user: &str,
        address: &str,
        mailing_list: bool,
        contribution: &Contribution,
    ) -> StoreResult<()> {
        let key = key2(user, address);
        let mut stored = self.contact(&key)?.unwrap_or(StoredContact {
            contact: None,
            published: None,
        });
        match &mut stored.contact {
            Some(contact) => {
                contact.mailing_list = mailing_list;
                contact.add(contribution);
            }
            None => {
                stored.contact = Some(EmailContact::first(
                    user,
                    address,
                    mailing_list,
                    contribution,
                ))
            }
        }
        self.put_contact(&key, &stored)
    }

    /// Refolds the contact from its contributions; returns whether it changed.
    pub(super) fn rebuild(
        &mut self,
        user: &str,
        address: &str,
        mailing_list: Option<bool>,
    ) -> StoreResult<bool> {
        let key = key2(user, address);
        let mut stored = self.contact(&key)?.unwrap_or(StoredContact {
            contact: None,
            published: None,
        });
        let mailing_list = mailing_list
            .or(stored.contact.as_ref().map(|contact| contact.mailing_list))
            .unwrap_or(false);
        let contributions: Vec<(String, Contribution)> = scan(&self.contributions, &key)?;
        let contact = EmailContact::fold(
            user,
            address,
            mailing_list,
            contributions.iter().map(|(_, contribution)| contribution),
        );
        if contact == stored.contact {
            return Ok(false);
        }
        stored.contact = contact;
        self.put_contact(&key, &stored)?;
        Ok(true)
    }

    /// Applies one item change, adding the contacts whose fold changed to `changed`;
    /// returns false when the change was superseded by a newer version.
    pub(super) fn apply(
        &mut self,
        change: &ItemChange,
        changed: &mut BTreeSet<(String, String)>,
    ) -> StoreResult<bool> {
        let user = change.user_id.as_str();
        let item_key = key2(user, &change.item_ref);
        let previous: Option<StoredItem> = get(&self.items, &item_key)?;
        if let Some(previous) = &previous
            && change.version < previous.version
        {
            return Ok(false);
        }
        let observations: BTreeMap<&str, _> = change
            .observations
            .iter()
            .map(|observation| (observation.address.as_str(), observation))
            .collect();
        let mut rebuild: BTreeMap<String, Option<bool>> = BTreeMap::new();
        for address in previous.iter().flat_map(|previous| &previous.addresses) {
            if !observations.contains_key(address.as_str())
                && Self::remove(
                    &mut self.contributions,
                    &key3(user, address, &change.item_ref),
                )?
            {
                rebuild.insert(address.clone(), None);
            }
        }
        for (address, observation) in &observations {
            let key = key3(user, address, &change.item_ref);
            let contribution = Contribution {
                roles: observation.roles.clone(),
                name: observation.name.clone(),
                seen_at: change.seen_at,
            };
            match get::<Contribution>(&self.contributions, &key)? {
                Some(old) if old == contribution => {}
                Some(_) => {
                    Self::put(&mut self.contributions, &key, &contribution)?;
                    rebuild.insert(address.to_string(), Some(observation.mailing_list));
                }
                None => {
                    Self::put(&mut self.contributions, &key, &contribution)?;
                    self.add_contribution(user, address, observation.mailing_list, &contribution)?;
                    changed.insert((user.to_string(), address.to_string()));
                }
            }
        }
        for (address, mailing_list) in rebuild {
            if self.rebuild(user, &address, mailing_list)? {
                changed.insert((user.to_string(), address));
            }
        }
        let item = StoredItem {
            version: change.version,
            addresses: observations
                .keys()
                .map(|address| address.to_string())
                .collect(),
            deleted: change.deleted,
        };
        if previous.as_ref() != Some(&item) {
            Self::put(&mut self.items, &item_key, &item)?;
        }
        Ok(true)
    }

    /// Marks contacts dirty with a fresh generation.
    pub(super) fn mark_dirty(&mut self, changed: &BTreeSet<(String, String)>) -> StoreResult<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let generation = self
            .meta
            .get(GENERATION)
            .map_err(unavailable("failed to read contacts"))?
            .map_or(0, |value| value.value())
            + 1;
        self.meta
            .insert(GENERATION, generation)
            .map_err(unavailable("failed to write contacts"))?;
        for (user, address) in changed {
            self.dirty
                .insert(key2(user, address).as_str(), generation)
                .map_err(unavailable("failed to write contacts"))?;
        }
        Ok(())
    }

    /// Removes one contact with its contributions and dirty mark; returns whether it
    /// existed.
    pub(super) fn remove_contact(&mut self, user: &str, address: &str) -> StoreResult<bool> {
        let key = key2(user, address);
        remove_prefix(&mut self.contributions, &key)?;
        self.dirty
            .remove(key.as_str())
            .map_err(unavailable("failed to write contacts"))?;
        Self::remove(&mut self.contacts, &key)
    }
}
