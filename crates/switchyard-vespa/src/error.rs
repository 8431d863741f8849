//! The error type of the Vespa crate for what is not a search operation: writing and
//! validating the application package, and building a client for an endpoint. Search
//! operations report `switchyard_search::SearchError`, as the `SearchBackend` trait says.

use std::path::PathBuf;

/// What kind of Vespa operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VespaErrorKind {
    /// A file of the application package could not be written or read.
    Io,
    /// The application package breaks a rule Vespa would reject it for.
    InvalidPackage,
    /// The endpoint URL is unusable, or the HTTP client could not be built.
    InvalidEndpoint,
}

/// A Vespa package or client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VespaError {
    /// A package file could not be written or read.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`write`, `read`, `create directory`).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The package in `dir` is invalid; every problem found is listed.
    #[error("invalid vespa application package in {}: {}", dir.display(), problems.join("; "))]
    InvalidPackage {
        /// The package directory.
        dir: PathBuf,
        /// One sentence per problem, naming the file.
        problems: Vec<String>,
    },
    /// The endpoint URL cannot be used.
    #[error("invalid vespa endpoint {url:?}: {reason}")]
    InvalidEndpoint {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
}

impl VespaError {
    /// The kind of failure.
    pub fn kind(&self) -> VespaErrorKind {
        match self {
            VespaError::Io { .. } => VespaErrorKind::Io,
            VespaError::InvalidPackage { .. } => VespaErrorKind::InvalidPackage,
            VespaError::InvalidEndpoint { .. } => VespaErrorKind::InvalidEndpoint,
        }
    }
}
