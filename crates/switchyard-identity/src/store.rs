//! Where accounts and subscriptions live: [`IdentityStore`], one shape for every backend —
//! read a record, decide, then write it and the events the decision causes to the
//! transactional outbox in one transaction, so no account exists without its event and
//! no event without its account. [`EmbeddedIdentityStore`] keeps records in the embedded
//! state store (`state.redb`) beside its outbox; the PostgreSQL store is in `postgres.rs`.

use std::sync::Arc;

use async_trait::async_trait;
use switchyard_state::{EmbeddedState, Outbox, StateStore, StateWrite};

use crate::IdentityError;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// An [`Account`](crate::Account), by normalized address.
    Account,
    /// A [`Subscription`](crate::Subscription), by id.
    Subscription,
}

impl RecordKind {
    /// Its name in keys and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Account => "account",
            RecordKind::Subscription => "subscription",
        }
    }
}

/// An event for the outbox: its partition key and the prepared message
/// (`switchyard_runtime::outbox_entry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Events of one key leave the outbox in order.
    pub partition_key: String,
    /// The serialized `Outbound`.
    pub payload: Vec<u8>,
}

/// What a [`Change`] decided: the record's new value (`None` leaves it as it is), the
/// events to append, and the answer to give once both are committed (a wrong code is
/// an error for the caller, but its counted attempt must be stored).
pub struct Update {
    /// The record's new value.
    pub value: Option<Vec<u8>>,
    /// Events committed with it.
    pub events: Vec<OutboxEvent>,
    /// Returned after the commit.
    pub then: Result<(), IdentityError>,
}

impl Update {
    /// Writes `value` with `events`, then succeeds.
    pub fn write(value: Vec<u8>, events: Vec<OutboxEvent>) -> Self {
        Update {
            value: Some(value),
            events,
            then: Ok(()),
        }
    }
}

/// A decision over a record's current value (`None`: there is none). An `Err` changes
/// nothing.
pub type Change = Box<dyn FnOnce(Option<&[u8]>) -> Result<Update, IdentityError> + Send>;

/// Records, each changed with its events in one transaction.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// The record's value.
    async fn get(&self, kind: RecordKind, key: &str) -> Result<Option<Vec<u8>>, IdentityError>;

    /// Reads the record, applies `change`, and commits its value and events together;
    /// changes of one record run one at a time. Returns the outbox ids of the events, or
    /// the change's own answer.
    async fn update(
        &self,
        kind: RecordKind,
        key: &str,
        change: Change,
    ) -> Result<Vec<u64>, IdentityError>;

    /// The outbox the events go to, for marking them sent once published.
    fn outbox(&self) -> Arc<dyn Outbox>;
}

/// Records in the embedded state store, events in its outbox. One process holds the
/// store, so a lock in this process orders the changes.
pub struct EmbeddedIdentityStore {
    state: Arc<EmbeddedState>,
    lock: tokio::sync::Mutex<()>,
}

impl EmbeddedIdentityStore {
    /// The store inside `state`.
    pub fn new(state: Arc<EmbeddedState>) -> Self {
        EmbeddedIdentityStore {
            state,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

fn state_key(kind: RecordKind, key: &str) -> String {
    format!("identity:{}:{key}", kind.as_str())
}

#[async_trait]
impl IdentityStore for EmbeddedIdentityStore {
    async fn get(&self, kind: RecordKind, key: &str) -> Result<Option<Vec<u8>>, IdentityError> {
        Ok(self.state.get(&state_key(kind, key)).await?)
    }

    async fn update(
        &self,
        kind: RecordKind,
        key: &str,
        change: Change,
    ) -> Result<Vec<u64>, IdentityError> {
        let _one_at_a_time = self.lock.lock().await;
        let key = state_key(kind, key);
        let current = self.state.get(&key).await?;
        let update = change(current.as_deref())?;
        let mut write = StateWrite::new();
        if let Some(value) = update.value {
            write = write.put(key, value, None);
        }
        for event in update.events {
            write = write.event(event.payload);
        }
        let ids = self.state.commit(write).await?;
        update.then.map(|()| ids)
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.state.clone()
    }
}
