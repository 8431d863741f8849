//! Errors of the state store, with a matchable kind and a retryability verdict.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateErrorKind {
    /// The store could not be reached or written; trying again may work.
    Unavailable,
    /// A stored entry could not be read back.
    Corrupt,
    /// Another process holds the embedded store.
    InUse,
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

/// An embedded redb database could not be opened by
/// [`open_database`](crate::open_database).
///
/// Each crate that owns a database maps it to its own error type, keeping
/// [`is_in_use`](Self::is_in_use) as its `InUse` kind: the CLI relies on that kind to
/// detect a running server.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct OpenDatabaseError {
    in_use: bool,
    message: String,
}

impl OpenDatabaseError {
    pub(crate) fn in_use(path: &std::path::Path) -> Self {
        OpenDatabaseError {
            in_use: true,
            message: format!(
                "failed to open {}: another switchyard process is using it",
                path.display()
            ),
        }
    }

    pub(crate) fn unavailable(message: String) -> Self {
        OpenDatabaseError {
            in_use: false,
            message,
        }
    }

    /// Whether another process holds the database; otherwise trying again may work.
    pub fn is_in_use(&self) -> bool {
        self.in_use
    }
}

impl From<OpenDatabaseError> for StateError {
    fn from(err: OpenDatabaseError) -> Self {
        let kind = if err.is_in_use() {
            StateErrorKind::InUse
        } else {
            StateErrorKind::Unavailable
        };
        StateError::new(kind, err.message)
    }
}
