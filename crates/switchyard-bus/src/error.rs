//! Errors of the bus: one type with a matchable kind and a retryability verdict.

/// What went wrong, for callers that decide whether to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusErrorKind {
    /// The engine's storage or connection failed; trying again may work.
    Unavailable,
    /// The named subscription does not exist.
    UnknownSubscription,
    /// The arguments break a rule (topic name, subscription bound to another topic…).
    InvalidArgument,
    /// Stored data could not be read back: the store is damaged.
    Corrupt,
    /// The broker was shut down.
    Closed,
}

/// A bus operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct BusError {
    kind: BusErrorKind,
    message: String,
}

impl BusError {
    /// A new error of `kind`.
    pub fn new(kind: BusErrorKind, message: impl Into<String>) -> Self {
        BusError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> BusErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, BusErrorKind::Unavailable)
    }

    pub(crate) fn storage(context: &str, err: impl std::fmt::Display) -> Self {
        BusError::new(BusErrorKind::Unavailable, format!("{context}: {err}"))
    }
}

impl From<switchyard_state::BlockingTaskFailed> for BusError {
    fn from(err: switchyard_state::BlockingTaskFailed) -> Self {
        BusError::new(BusErrorKind::Unavailable, err.to_string())
    }
}
