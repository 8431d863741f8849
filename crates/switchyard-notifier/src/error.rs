//! Errors of the notifier crate, with a matchable kind and a retryability verdict.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifierErrorKind {
    /// The journal could not be opened, read or written; trying again may work.
    Unavailable,
    /// A stored signal could not be read back.
    Corrupt,
    /// The configuration or a caller's input cannot work (no retention bound, a short
    /// secret, a zero interval).
    InvalidConfig,
}

/// A notifier operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct NotifierError {
    kind: NotifierErrorKind,
    message: String,
}

impl NotifierError {
    /// A new error of `kind`; `message` is lowercase, context first.
    pub fn new(kind: NotifierErrorKind, message: impl Into<String>) -> Self {
        NotifierError {
            kind,
            message: message.into(),
        }
    }

    /// An [`NotifierErrorKind::InvalidConfig`] error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        NotifierError::new(NotifierErrorKind::InvalidConfig, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> NotifierErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == NotifierErrorKind::Unavailable
    }
}

impl From<switchyard_state::BlockingTaskFailed> for NotifierError {
    fn from(err: switchyard_state::BlockingTaskFailed) -> Self {
        NotifierError::new(NotifierErrorKind::Unavailable, err.to_string())
    }
}

/// Maps any displayable failure to an [`NotifierErrorKind::Unavailable`] error with
/// `context` in front.
pub(crate) fn unavailable<E: std::fmt::Display>(
    context: &'static str,
) -> impl Fn(E) -> NotifierError {
    move |err| NotifierError::new(NotifierErrorKind::Unavailable, format!("{context}: {err}"))
}
