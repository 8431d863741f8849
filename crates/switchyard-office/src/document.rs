//! Office documents as events: runs the format reader for a `.docx`, spreadsheet or
//! `.pptx` file and wraps what it extracted in one [`Document`] event.
//!
//! A document's id is `file:` followed by the first 32 hex digits of the SHA-256 of its
//! canonical path, so re-importing an edited file replaces the document, while moving or
//! renaming it makes a new one. The title is the core property `dc:title`, else the file
//! name without extension; `size_bytes` is the file's size; `last_modified` is
//! `dcterms:modified`, else the file's modification time. The event's `last_updated` is
//! the later of the two: a tool that edits a file without updating its core properties
//! still makes a new version, which consumers must not skip as one they already have.
//! A file that cannot be read whole (malformed, truncated, encrypted) is one rejection at
//! location `file`: no partial document is published.

use std::fs::File;
use std::path::Path;

use sha2::{Digest, Sha256};
use switchyard_contracts::{AnyOfficeEvent, Document};

use crate::item::{EventStamp, ImportItem};
use crate::limits::ImportLimits;
use crate::source::SourceKind;
use crate::{docx, pptx, spreadsheet};

/// Reads one office document into a single event, or the rejection of the file.
pub(crate) fn read_document(
    file: File,
    size_bytes: u64,
    kind: SourceKind,
    stamp: &EventStamp,
    limits: &ImportLimits,
) -> ImportItem {
    let extracted = match kind {
        SourceKind::Docx => docx::read_docx(file, limits),
        SourceKind::Pptx => pptx::read_pptx(file, limits),
        kind => spreadsheet::read_spreadsheet(file, &stamp.file, kind, limits),
    };
    let extracted = extracted.map_err(|reason| stamp.reject("file", reason))?;
    let last_modified = extracted.properties.modified.unwrap_or(stamp.file_modified);
    let version = last_modified.max(stamp.file_modified);
    let title = extracted
        .properties
        .title
        .unwrap_or_else(|| file_title(&stamp.file));
    let document = Document {
        id: document_id(&stamp.file),
        kind: extracted.kind,
        title,
        author: extracted.properties.creator,
        last_modified: Some(last_modified),
        size_bytes,
        body: Some(extracted.body),
    };
    Ok(AnyOfficeEvent::Document(
        stamp.event(document, Some(version)),
    ))
}

/// `file:` + 32 hex digits of the SHA-256 of the canonical path (the path as given
/// when it cannot be canonicalised).
pub fn document_id(path: &Path) -> String {
    let canonical = std::fs::canonicalize(path)
        .or_else(|_| std::path::absolute(path))
        .unwrap_or_else(|_| path.to_path_buf());
    let digest = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    format!("file:{}", &hex::encode(digest)[..32])
}

/// The file name without its extension.
fn file_title(path: &Path) -> String {
    path.file_stem()
        .or_else(|| path.file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_canonical_path_not_the_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.docx");
        std::fs::write(&path, "one").unwrap();
        let first = document_id(&path);
        assert!(first.starts_with("file:") && first.len() == 37, "{first}");
        std::fs::write(&path, "two").unwrap();
        assert_eq!(document_id(&path), first);
        // The same file named through `..` is the same document.
        let roundabout = dir.path().join("sub/../report.docx");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(document_id(&roundabout), first);
        assert_ne!(document_id(&dir.path().join("other.docx")), first);
        assert_eq!(file_title(&path), "report");
    }
}
