//! The one error type of the chunking crate, with a matchable kind and a retryability
//! verdict that the [`Chunker`](crate::Chunker) turns into an outcome.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkingErrorKind {
    /// The document can never be chunked as it is (its body does not match its kind, a
    /// fragment was refused by the registry): dead-lettered.
    InvalidDocument,
    /// The configuration is unusable.
    InvalidConfig,
    /// The broker or the state store failed; trying again may work.
    Unavailable,
}

/// Chunking or publishing a document failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ChunkingError {
    kind: ChunkingErrorKind,
    message: String,
}

impl ChunkingError {
    /// A new error of `kind`.
    pub fn new(kind: ChunkingErrorKind, message: impl Into<String>) -> Self {
        ChunkingError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn invalid_document(message: impl Into<String>) -> Self {
        Self::new(ChunkingErrorKind::InvalidDocument, message)
    }

    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Self::new(ChunkingErrorKind::InvalidConfig, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ChunkingErrorKind::Unavailable, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> ChunkingErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == ChunkingErrorKind::Unavailable
    }
}
