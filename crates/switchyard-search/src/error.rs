//! The one error type of the search crate: which search operation failed, as a matchable
//! kind, and whether retrying (redelivering the batch) can help.

/// What kind of search operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchErrorKind {
    /// The index directory could not be opened or created, or holds no index.
    Open,
    /// The index on disk was built with a different schema; rebuild it.
    SchemaMismatch,
    /// Another writer (usually another process) holds the index lock: the name every
    /// embedded store of the workspace uses for it.
    InUse,
    /// A write was attempted on an index opened with `open_read_only`.
    ReadOnly,
    /// Adding, deleting or committing documents failed.
    Write,
    /// Running a query or reading its hits failed.
    Query,
    /// A document cannot be indexed as it is (a timestamp in the future or unreadable);
    /// retrying cannot help.
    InvalidDocument,
}

/// A search index operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SearchError {
    kind: SearchErrorKind,
    message: String,
}

impl SearchError {
    /// A new error of `kind`; `message` starts with its context, in lowercase.
    pub fn new(kind: SearchErrorKind, message: impl Into<String>) -> Self {
        SearchError {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> SearchErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later, so a consumer should leave its batch
    /// unacknowledged for redelivery rather than dead-letter it.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, SearchErrorKind::InUse | SearchErrorKind::Write)
    }
}
