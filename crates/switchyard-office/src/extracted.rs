//! What a format reader (`docx.rs`, `pptx.rs`, `spreadsheet.rs`) hands back for one
//! office document: [`ExtractedDocument`], which `document.rs` wraps in an event. Knows
//! no file format and no event metadata.

use switchyard_contracts::{DocumentBody, DocumentKind};

use crate::ooxml::CoreProperties;

/// What a format reader extracted from one file.
pub(crate) struct ExtractedDocument {
    pub(crate) kind: DocumentKind,
    pub(crate) properties: CoreProperties,
    pub(crate) body: DocumentBody,
}
