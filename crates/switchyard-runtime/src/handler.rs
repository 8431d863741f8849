//! The [`Handler`] trait: a consumer's domain logic, free of delivery concerns.

use async_trait::async_trait;
use switchyard_contracts::{ContractError, Envelope};

/// Why a handler failed on a batch.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// A passing failure (disk full, lock busy): the batch is delivered again later.
    #[error("retryable: {0}")]
    Retryable(String),
    /// The batch can never succeed as it is.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// A consumer's domain logic: how to read an event, how to recognize one already handled,
/// and what to do with a batch.
///
/// `handle` may see an event again after a crash between its success and the runtime
/// recording the idempotency keys, so its effect must be safe to repeat (an upsert, not an
/// increment).
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The decoded event the handler works on.
    type Event: Send + 'static;

    /// Decodes and validates an envelope's payload.
    fn decode(&self, envelope: &Envelope) -> Result<Self::Event, ContractError>;

    /// The key that identifies this event's effect: equal keys mean "already done".
    fn idempotency_key(&self, event: &Self::Event) -> String;

    /// Applies a batch; on success every event of it is done.
    async fn handle(&self, events: Vec<Self::Event>) -> Result<(), HandlerError>;
}
