//! The one error type of the contacts crate, with a matchable kind and a retryability
//! verdict that [`ContactDiscovery`](crate::ContactDiscovery) turns into an outcome.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactErrorKind {
    /// The configuration is unusable.
    InvalidConfig,
    /// The store or the broker failed; trying again may work.
    Unavailable,
    /// A stored record cannot be read back.
    Corrupt,
}

/// Contact discovery, its store or its publishing failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ContactError {
    kind: ContactErrorKind,
    message: String,
}

impl ContactError {
    /// A new error of `kind`; `message` is lowercase, context first.
    pub fn new(kind: ContactErrorKind, message: impl Into<String>) -> Self {
        ContactError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ContactErrorKind::InvalidConfig, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ContactErrorKind::Unavailable, message)
    }

    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ContactErrorKind::Corrupt, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ContactErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == ContactErrorKind::Unavailable
    }
}

impl From<switchyard_state::BlockingTaskFailed> for ContactError {
    fn from(err: switchyard_state::BlockingTaskFailed) -> Self {
        ContactError::unavailable(err.to_string())
    }
}
