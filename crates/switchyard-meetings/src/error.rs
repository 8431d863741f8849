//! Errors of the meetings crate, with a matchable kind and a retryability verdict.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeetingsErrorKind {
    /// The store could not be opened, read or written; trying again may work.
    Unavailable,
    /// A stored meeting could not be read back.
    Corrupt,
    /// The caller asked for something that cannot be answered (an empty window, an
    /// unknown time zone, working hours that end before they start).
    InvalidInput,
}

/// A meetings operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct MeetingsError {
    kind: MeetingsErrorKind,
    message: String,
}

impl MeetingsError {
    /// A new error of `kind`; `message` is lowercase, context first.
    pub fn new(kind: MeetingsErrorKind, message: impl Into<String>) -> Self {
        MeetingsError {
            kind,
            message: message.into(),
        }
    }

    /// An [`MeetingsErrorKind::InvalidInput`] error.
    pub fn invalid(message: impl Into<String>) -> Self {
        MeetingsError::new(MeetingsErrorKind::InvalidInput, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> MeetingsErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == MeetingsErrorKind::Unavailable
    }
}

impl From<switchyard_state::BlockingTaskFailed> for MeetingsError {
    fn from(err: switchyard_state::BlockingTaskFailed) -> Self {
        MeetingsError::new(MeetingsErrorKind::Unavailable, err.to_string())
    }
}

/// Maps any displayable failure to an [`MeetingsErrorKind::Unavailable`] error with
/// `context` in front.
pub(crate) fn unavailable<E: std::fmt::Display>(
    context: &'static str,
) -> impl Fn(E) -> MeetingsError {
    move |err| MeetingsError::new(MeetingsErrorKind::Unavailable, format!("{context}: {err}"))
}

/// A failed read of the meetings store.
pub(crate) fn read_failed<E: std::fmt::Display>(err: E) -> MeetingsError {
    MeetingsError::new(
        MeetingsErrorKind::Unavailable,
        format!("failed to read meetings: {err}"),
    )
}

/// A failed write of the meetings store.
pub(crate) fn write_failed<E: std::fmt::Display>(err: E) -> MeetingsError {
    MeetingsError::new(
        MeetingsErrorKind::Unavailable,
        format!("failed to write meetings: {err}"),
    )
}
