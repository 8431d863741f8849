//! Errors of the state store, with a matchable kind and a retryability verdict.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateErrorKind {
    /// The store could not be reached or written; trying again may work.
    Unavailable,
    /// A stored entry could not be read back.
    Corrupt,
    /// The call was refused for its input (a job id too long, say); the same call will
    /// always fail.
    InvalidInput,
    /// The call names something the store does not hold (a job never created, or removed).
    NotFound,
}

/// A state operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct StateError {
    kind: StateErrorKind,
    message: String,
}

impl StateError {
    /// A new error of `kind`.
    pub fn new(kind: StateErrorKind, message: impl Into<String>) -> Self {
        StateError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> StateErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == StateErrorKind::Unavailable
    }
}

impl From<crate::BlockingTaskFailed> for StateError {
    fn from(err: crate::BlockingTaskFailed) -> Self {
        StateError::new(StateErrorKind::Unavailable, err.to_string())
    }
}
