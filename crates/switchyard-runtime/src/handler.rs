//! The [`Handler`] trait: a consumer's domain logic, free of delivery concerns.

use async_trait::async_trait;
use switchyard_contracts::{ContractError, Envelope};

/// One event handed to a handler, with what it may want to know about its delivery.
#[derive(Debug)]
pub struct Incoming<E> {
    /// The decoded event.
    pub event: E,
    /// Its envelope id.
    pub event_id: String,
    /// How many times it was retried before (`X-Retry-Count`).
    pub retry_count: u32,
}

/// What became of one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Handled.
    Done,
    /// A passing failure (disk full, lock busy, a service down): retried later.
    Retry(String),
    /// It can never succeed as it is: dead-lettered at once.
    Fail(String),
}

/// A consumer's domain logic: how to read an event and what to do with a batch.
///
/// `handle` may see an event again after a crash between its success and the runtime
/// recording the idempotency keys, so its effect must be safe to repeat (an upsert, not an
/// increment).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The decoded event the handler works on.
    type Event: Send + 'static;

    /// Decodes an envelope's payload; an error dead-letters the message.
    fn decode(&self, envelope: &Envelope) -> Result<Self::Event, ContractError>;

    /// Applies a batch; returns one outcome per event, in order.
    async fn handle(&self, batch: Vec<Incoming<Self::Event>>) -> Vec<Outcome>;
}
