//! The crate's error type: what can go wrong while loading courier definitions.
//!
//! Detection itself never fails: text that holds no valid number yields no detection.

use thiserror::Error;

/// What kind of definition problem a [`ShipmentsError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShipmentsErrorKind {
    /// A courier file is not valid JSON or does not have the documented shape.
    InvalidCourierFile,
    /// A regex of a definition compiles on neither engine.
    InvalidPattern,
    /// A checksum names an algorithm this crate does not implement, or lacks its constants.
    UnsupportedChecksum,
    /// A definition is inconsistent, e.g. a checksum without a `CheckDigit` group.
    InvalidDefinition,
}

/// A courier definition that could not be loaded; the message names the file or the
/// definition (`{courier_code}/{format name}`) first.
#[derive(Debug, Error)]
#[error("{context}: {detail}")]
pub struct ShipmentsError {
    kind: ShipmentsErrorKind,
    context: String,
    detail: String,
}

impl ShipmentsError {
    pub(crate) fn new(
        kind: ShipmentsErrorKind,
        context: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            context: context.into(),
            detail: detail.into(),
        }
    }

    /// What went wrong, for matching.
    pub fn kind(&self) -> ShipmentsErrorKind {
        self.kind
    }
}
