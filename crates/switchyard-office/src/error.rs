//! The crate's error type: a path named by the caller that cannot be read at all.
//!
//! Problems below that level (an unreadable folder entry, a broken message, an event
//! without UID) are not errors but [`Rejection`](crate::Rejection)s, so that the rest of
//! the import goes on.

use std::path::{Path, PathBuf};

/// Why an import could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// A path given to [`discover`](crate::discover) could not be read.
    #[error("failed to read {}: {source}", path.display())]
    Read {
        /// The path that failed.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

impl ImportError {
    /// The path this error is about.
    pub fn path(&self) -> &Path {
        match self {
            ImportError::Read { path, .. } => path,
        }
    }
}
