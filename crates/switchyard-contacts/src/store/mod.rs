//! The [`ContactStore`] trait: where contacts, their per-item contributions and the
//! publishing state live, and the values it trades in. [`RedbContactStore`] is the
//! embedded implementation.
//!
//! # Idempotency
//! A contact is never incremented in place. The store keeps one [`Contribution`] per
//! (user, address, source item) and an item index (user, item) → (version, addresses);
//! applying an [`ItemChange`] replaces the item's previous contributions:
//! - an older version than the one indexed is skipped (superseded);
//! - an unchanged contribution (a replay) writes nothing;
//! - a new contribution is folded into the contact;
//! - a changed or removed one (a newer version, a delete) rebuilds the contact from its
//!   remaining contributions.
//!
//! So redelivering any event, any number of times, leaves the store as it was.
//!
//! # Publishing
//! Every contact whose fold changed is marked dirty with a fresh generation in the same
//! transaction (a small outbox). The handler reads dirty contacts, decides, publishes and
//! then [`settle`](ContactStore::settle)s them; a crash or a failed publish leaves them
//! dirty for the next batch. Settling clears a mark only if its generation is unchanged,
//! so a change made meanwhile is never lost.

mod redb;
mod tables;
#[cfg(test)]
mod tests;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ContactError, Contribution, EmailContact, ItemChange, Scoring};

pub use self::redb::RedbContactStore;

/// What was last published for a contact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishedState {
    /// The score it was published with.
    pub score: f64,
    /// The display name it was published with.
    pub display_name: String,
    /// Its `last_updated`, strictly increasing per contact.
    pub at: DateTime<Utc>,
}

/// A contact with a change not yet settled.
#[derive(Debug, Clone, PartialEq)]
pub struct DirtyContact {
    /// Whose contact.
    pub user_id: String,
    /// The normalized address.
    pub address: String,
    /// The mark's generation, to hand back to [`ContactStore::settle`].
    pub generation: u64,
    /// The contact now; `None` once its last contribution is gone.
    pub contact: Option<EmailContact>,
    /// What was last published for it.
    pub published: Option<PublishedState>,
}

/// What was published for a dirty contact.
#[derive(Debug, Clone, PartialEq)]
pub enum Publication {
    /// Nothing: the change was not meaningful.
    Nothing,
    /// The contact document, with this state.
    Published(PublishedState),
    /// A delete of the contact document (its last contribution is gone).
    Deleted,
}

/// A dirty contact handled: its mark is cleared (if its generation is unchanged), its
/// publishing state follows `publication`, and a contact without contributions is
/// removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    /// Whose contact.
    pub user_id: String,
    /// The normalized address.
    pub address: String,
    /// The generation read from [`DirtyContact`].
    pub generation: u64,
    /// What was published.
    pub publication: Publication,
}

/// What [`ContactStore::apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Item changes applied.
    pub applied: usize,
    /// Item changes older than the version already applied, skipped.
    pub superseded: usize,
    /// Contacts whose fold changed (marked dirty).
    pub contacts_changed: usize,
}

/// A contact removed by `forget` or retention: the CLI deletes its search document
/// `(user_id, "contact", contact_id)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ForgottenContact {
    /// Whose contact.
    pub user_id: String,
    /// The normalized address.
    pub address: String,
    /// The id of its contact document: `discovered:{address}`.
    pub contact_id: String,
}

/// A contact with its score.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedContact {
    /// The contact.
    pub contact: EmailContact,
    /// Its score now.
    pub score: f64,
}

/// One source item as indexed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemEntry {
    /// `{source}:{item id}`.
    pub item_ref: String,
    /// The version applied (the event's `last_updated`).
    pub version: DateTime<Utc>,
    /// The addresses it contributes to, sorted.
    pub addresses: Vec<String>,
    /// Whether it was deleted (a tombstone that keeps older versions out).
    pub deleted: bool,
}

/// Everything stored for one user, in key order (an export, and a test's state dump).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UserExport {
    /// Contacts (with or without contributions) and their publishing state.
    pub contacts: Vec<(Option<EmailContact>, Option<PublishedState>)>,
    /// `(address, item_ref, contribution)`.
    pub contributions: Vec<(String, String, Contribution)>,
    /// The item index.
    pub items: Vec<ItemEntry>,
    /// Addresses with a change not yet settled.
    pub dirty: Vec<String>,
}

/// Where discovered contacts live. Every method is one transaction.
#[async_trait]
pub trait ContactStore: Send + Sync {
    /// How contacts are scored (for [`top`](ContactStore::top) and publishing).
    fn scoring(&self) -> &Scoring;

    /// Applies item changes in order, in one transaction (see the module docs).
    async fn apply(&self, changes: Vec<ItemChange>) -> Result<ApplyReport, ContactError>;

    /// Up to `limit` dirty contacts, of every user.
    async fn dirty(&self, limit: usize) -> Result<Vec<DirtyContact>, ContactError>;

    /// Settles dirty contacts in one transaction.
    async fn settle(&self, settled: Vec<Settled>) -> Result<(), ContactError>;

    /// One contact of `user` by address (normalized or not).
    async fn contact(
        &self,
        user: &str,
        address: &str,
    ) -> Result<Option<EmailContact>, ContactError>;

    /// Every contact of `user`, by address.
    async fn contacts(&self, user: &str) -> Result<Vec<EmailContact>, ContactError>;

    /// The `limit` best contacts of `user`, highest score first (ties by address).
    async fn top(&self, user: &str, limit: usize) -> Result<Vec<RankedContact>, ContactError> {
        let scoring = self.scoring();
        let now = scoring.clock().now();
        let mut ranked: Vec<RankedContact> = self
            .contacts(user)
            .await?
            .into_iter()
            .map(|contact| RankedContact {
                score: scoring.score_at(&contact, now),
                contact,
            })
            .collect();
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then_with(|| a.contact.address.cmp(&b.contact.address))
        });
        ranked.truncate(limit);
        Ok(ranked)
    }

    /// Removes `user`'s contacts (all of them, with the item index, or the one at
    /// `address`); returns what was removed, for the search index.
    async fn forget(
        &self,
        user: &str,
        address: Option<&str>,
    ) -> Result<Vec<ForgottenContact>, ContactError>;

    /// Removes the contacts (of `user`, or of everyone) last seen before `cutoff`, and
    /// item tombstones older than it; returns the contacts removed.
    async fn drop_not_seen_since(
        &self,
        user: Option<&str>,
        cutoff: DateTime<Utc>,
    ) -> Result<Vec<ForgottenContact>, ContactError>;

    /// Everything stored for `user`.
    async fn export(&self, user: &str) -> Result<UserExport, ContactError>;
}
