//! The transactional outbox, backend-neutral: [`StateWrite`] (domain writes and the events
//! they cause, committed together by a backend) and the relay side, [`Outbox`], which a
//! relay reads and publishes from.
//!
//! Events are opaque bytes here; what they mean (and how they reach a broker) belongs to
//! the caller. Committing a [`StateWrite`] is backend-specific (a PostgreSQL outbox joins
//! the caller's SQL transaction), so only the relay side is a trait.

use std::time::Duration;

use async_trait::async_trait;

use crate::StateError;

/// One domain change of a [`StateWrite`], applied in the order it was added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DomainOp {
    Put {
        key: String,
        value: Vec<u8>,
        ttl: Option<Duration>,
    },
    Delete {
        key: String,
    },
}

/// Domain writes and the events they cause, committed all-or-nothing: the events are
/// appended to the outbox in the same transaction as the writes.
///
/// ```
/// use std::time::Duration;
/// use switchyard_state::StateWrite;
///
/// let write = StateWrite::new()
///     .put("order:42", b"paid".to_vec(), None)
///     .put("lock:42", Vec::new(), Some(Duration::from_secs(30)))
///     .delete("cart:42")
///     .event(br#"{"type":"order.paid"}"#.to_vec());
/// assert_eq!(write.event_count(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct StateWrite {
    pub(crate) ops: Vec<DomainOp>,
    pub(crate) events: Vec<Vec<u8>>,
}

impl StateWrite {
    /// An empty write.
    pub fn new() -> Self {
        StateWrite::default()
    }

    /// Stores `value` under `key`, expiring after `ttl` (counted from the commit).
    pub fn put(
        mut self,
        key: impl Into<String>,
        value: impl Into<Vec<u8>>,
        ttl: Option<Duration>,
    ) -> Self {
        self.ops.push(DomainOp::Put {
            key: key.into(),
            value: value.into(),
            ttl,
        });
        self
    }

    /// Deletes `key` (absent keys are fine).
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.ops.push(DomainOp::Delete { key: key.into() });
        self
    }

    /// Appends an event (serialized by the caller) to the outbox.
    pub fn event(mut self, payload: impl Into<Vec<u8>>) -> Self {
        self.events.push(payload.into());
        self
    }

    /// How many events the write appends.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Whether the write changes nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.events.is_empty()
    }
}

/// An event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Its sequence number: assigned at commit, increasing, never reused.
    pub id: u64,
    /// The event as the caller serialized it.
    pub payload: Vec<u8>,
}

/// The relay side of an outbox: read what is pending, mark it sent once published.
///
/// A relay publishes before it marks, so a crash between the two publishes again
/// (at-least-once); an entry leaves the outbox only through [`Outbox::mark_sent`].
#[async_trait]
pub trait Outbox: Send + Sync + 'static {
    /// Up to `limit` pending entries, oldest first.
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StateError>;

    /// Deletes the entries `ids` (ids already gone are ignored).
    async fn mark_sent(&self, ids: &[u64]) -> Result<(), StateError>;

    /// How many entries are pending.
    async fn pending_count(&self) -> Result<u64, StateError>;

    /// Checks that the outbox's database answers now, within a short bound: what a
    /// readiness probe asks.
    async fn ping(&self) -> Result<(), StateError>;
}
