//! Errors of the runtime: publishing and consuming.

use switchyard_bus::BusError;
use switchyard_contracts::ContractError;
use switchyard_state::StateError;

/// An envelope could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The envelope breaks its contract; nothing of the call was published.
    #[error("event {event_id} rejected: {source}")]
    Invalid {
        /// Id of the offending event.
        event_id: String,
        /// What is wrong.
        source: ContractError,
    },
    /// The broker refused or failed.
    #[error("failed to publish: {0}")]
    Bus(#[from] BusError),
}

impl PublishError {
    /// Whether publishing the same events again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PublishError::Invalid { .. } => false,
            PublishError::Bus(err) => err.is_retryable(),
        }
    }
}

/// One consumer step failed on infrastructure (broker or state), not on an event.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The broker failed.
    #[error("broker: {0}")]
    Bus(#[from] BusError),
    /// The state store failed.
    #[error("state: {0}")]
    State(#[from] StateError),
}
