//! Errors of the runtime: publishing and the consumer loop.

use switchyard_bus::BusError;
use switchyard_state::StateError;

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

/// Publishing failed on infrastructure; refused events are reported, not errors.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The broker failed.
    #[error("failed to publish: {0}")]
    Bus(#[from] BusError),
    /// The claim-check store failed.
    #[error("failed to publish: {0}")]
    State(#[from] StateError),
}
