//! [`JournalStore`]: where the per-user journals live. The embedded implementation is
//! [`RedbJournalStore`](crate::RedbJournalStore); other engines implement the same
//! contract.
//!
//! # Contract
//! - Each user's journal holds a contiguous run of sequence numbers
//!   `(pruned_through, latest_seq]`: appends take `latest_seq + 1`, retention removes
//!   from the oldest end only, and sequence numbers are never reused.
//! - An append whose dedupe key the user's journal still holds adds nothing, so a
//!   redelivered event yields no second signal while its first signal is in the window.
//! - An append and the retention it triggers are one durable transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{JournalEntry, NewSignal, NotifierError};

/// What the journal can say about the signals after an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// The journal holds every signal after the id: these are the next ones, oldest
    /// first (empty when the caller is up to date).
    Entries(Vec<JournalEntry>),
    /// Some signals after the id are gone (retention) or the id was never given out
    /// (a newer id than the journal's, from a wiped store): the client must refetch,
    /// then continue after `latest_seq`.
    Gap {
        /// The user's newest sequence number (0 before the first signal).
        latest_seq: u64,
    },
}

/// Durable storage of the per-user journals.
#[async_trait]
pub trait JournalStore: Send + Sync + 'static {
    /// Appends `signals` in order, skipping redeliveries (a dedupe key the user's journal
    /// holds, also within the batch), then applies the retention window to the users it
    /// touched. Returns the entries added, in order.
    async fn append(
        &self,
        signals: Vec<NewSignal>,
        now: DateTime<Utc>,
    ) -> Result<Vec<JournalEntry>, NotifierError>;

    /// Up to `limit` signals of `user_id` after `after_seq`, or a [`Replay::Gap`].
    async fn read_after(
        &self,
        user_id: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Replay, NotifierError>;

    /// The newest sequence number of `user_id` (0 before the first signal).
    async fn latest_seq(&self, user_id: &str) -> Result<u64, NotifierError>;

    /// Removes every user's signals that are older than the age bound at `now`;
    /// returns how many went.
    async fn prune_expired(&self, now: DateTime<Utc>) -> Result<u64, NotifierError>;
}
