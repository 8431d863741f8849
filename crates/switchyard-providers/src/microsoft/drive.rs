//! OneDrive `driveItem`s: which are office files ([`DriveFile`]), and a downloaded file
//! parsed into a [`Document`] ([`document`]).
//!
//! A delta item with a `folder` facet (deleted or not) or the `root` facet is ignored; one
//! with a `deleted` facet (or `@removed`) removes the document its name's extension
//! tells, and is ignored when it has no name (OneDrive for Business omits it) or another
//! extension; a `file` named `.docx`, `.xlsx`, `.xlsm` or `.pptx` is a [`DriveFile`];
//! other files are ignored.
//!
//! [`document`] runs the office importers (`switchyard_office::read_file`) on the bytes
//! written to a temporary file: it blocks, so async callers run it on a blocking thread.

use chrono::{DateTime, Utc};
use serde_json::Value;
use switchyard_contracts::{AnyOfficeEvent, Document, DocumentKind, SyncType};
use switchyard_office::{ImportOptions, SourceFile, SourceKind, read_file};

use super::change::{Change, Item, date, text};

/// A Word, Excel or PowerPoint file of a drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriveFile {
    /// The drive item id.
    pub id: String,
    /// The file name, with its extension.
    pub name: String,
    /// Word, sheet or presentation, by the extension.
    pub kind: DocumentKind,
    /// The file's size.
    pub size_bytes: u64,
    /// When the file last changed (`lastModifiedDateTime`).
    pub last_modified: Option<DateTime<Utc>>,
    /// Who last changed it, else who created it (`lastModifiedBy`, `createdBy`).
    pub author: Option<String>,
}

/// The change the drive item `id` describes.
pub(super) fn drive_change(id: String, item: &Value) -> Change {
    if item.get("folder").is_some() || item.get("root").is_some() {
        return Change::Ignored("a folder".to_string());
    }
    let name = text(item, "name");
    let kind = name.as_deref().and_then(office_kind);
    if item.get("deleted").is_some() || item.get("@removed").is_some() {
        return match kind {
            Some((kind, _)) => Change::Removed {
                kind: kind.document(),
                id,
            },
            None => Change::Ignored("a deleted item that is not an office document".to_string()),
        };
    }
    let (Some((kind, _)), Some(name), Some(_)) = (kind, name, item.get("file")) else {
        return Change::Ignored("not an office document".to_string());
    };
    let last_modified = date(item, "lastModifiedDateTime");
    let author = ["lastModifiedBy", "createdBy"]
        .iter()
        .find_map(|by| text(&item[by]["user"], "displayName"));
    Change::Upsert {
        item: Item::File(DriveFile {
            id,
            name,
            kind,
            size_bytes: item["size"].as_u64().unwrap_or_default(),
            last_modified,
            author,
        }),
        last_modified,
    }
}

/// The document kind and importer of a file name, when it names an office document.
fn office_kind(name: &str) -> Option<(DocumentKind, SourceKind)> {
    let (_, extension) = name.rsplit_once('.')?;
    match extension.to_ascii_lowercase().as_str() {
        "docx" => Some((DocumentKind::Word, SourceKind::Docx)),
        "xlsx" => Some((DocumentKind::Sheet, SourceKind::Xlsx)),
        "xlsm" => Some((DocumentKind::Sheet, SourceKind::Xlsm)),
        "pptx" => Some((DocumentKind::Presentation, SourceKind::Pptx)),
        _ => None,
    }
}

/// A downloaded drive file parsed by the office importers into a [`Document`] whose id
/// is the drive item id, title the file name without extension unless the document has
/// a title, and `last_modified` the drive item's; the reason when it cannot be read.
pub fn document(file: &DriveFile, bytes: &[u8]) -> Result<Document, String> {
    let (kind, extension) = match office_kind(&file.name) {
        Some((_, kind)) => (kind, kind.provider()),
        None => match file.kind {
            DocumentKind::Word => (SourceKind::Docx, "docx"),
            DocumentKind::Sheet => (SourceKind::Xlsx, "xlsx"),
            DocumentKind::Presentation => (SourceKind::Pptx, "pptx"),
        },
    };
    let stem = match file.name.rsplit_once('.') {
        Some((stem, _)) if office_kind(&file.name).is_some() => stem,
        _ => file.name.as_str(),
    };
    // The importer titles an untitled document after its file: name the temporary
    // file after the drive file, in characters every file system takes.
    let local_stem: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " -_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let local_stem = if local_stem.trim().is_empty() {
        "document".to_string()
    } else {
        local_stem
    };
    let folder = tempfile::tempdir()
        .map_err(|err| format!("failed to make a temporary folder for {}: {err}", file.name))?;
    let path = folder.path().join(format!("{local_stem}.{extension}"));
    std::fs::write(&path, bytes)
        .map_err(|err| format!("failed to write {} to a temporary file: {err}", file.name))?;
    let source = SourceFile {
        path,
        kind,
        size_bytes: bytes.len() as u64,
        mail_folder: None,
    };
    let options = ImportOptions {
        user_id: String::new(),
        sync_type: SyncType::Backfill,
    };
    let mut document = match read_file(&source, &options).next() {
        Some(Ok(AnyOfficeEvent::Document(event))) => event.item,
        Some(Ok(_)) | None => return Err(format!("{}: no document in the file", file.name)),
        Some(Err(rejection)) => return Err(format!("{}: {}", file.name, rejection.reason)),
    };
    document.id = file.id.clone();
    if document.title == local_stem {
        document.title = stem.to_string();
    }
    document.last_modified = file.last_modified.or(document.last_modified);
    document.author = document.author.or_else(|| file.author.clone());
    Ok(document)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use switchyard_contracts::{DataKind, DocumentBody, WordBlock};

    use super::*;
    use crate::DataType;
    use crate::microsoft::change;
    use crate::microsoft::change::tests::sample;

    fn check(item: Value, expected: Change) {
        assert_eq!(change(DataType::Files, &item).unwrap(), expected, "{item}");
    }

    fn ignored(reason: &str) -> Change {
        Change::Ignored(reason.to_string())
    }

    #[test]
    fn documented_drive_pages_give_folders_files_and_deletions() {
        let first = sample("driveitem-delta-page1-nextLink-with-deleted.json");
        let last = sample("driveitem-delta-last-page-deltaLink.json");
        let changes: Vec<Change> = first["value"]
            .as_array()
            .unwrap()
            .iter()
            .chain(last["value"].as_array().unwrap())
            .map(|item| change(DataType::Files, item).unwrap())
            .collect();
        assert_eq!(
            changes,
            [
                ignored("a folder"),
                ignored("not an office document"),
                ignored("a deleted item that is not an office document"),
                ignored("a folder"),
                ignored("not an office document"),
            ]
        );
    }

    #[test]
    fn office_files_by_extension() {
        check(
            json!({"id": "f1", "name": "Budget 2024.XLSM", "size": 4096, "file": {},
                   "lastModifiedDateTime": "2024-03-01T10:00:00Z",
                   "lastModifiedBy": {"user": {"displayName": "Dana Swope"}}}),
            Change::Upsert {
                item: Item::File(DriveFile {
                    id: "f1".into(),
                    name: "Budget 2024.XLSM".into(),
                    kind: DocumentKind::Sheet,
                    size_bytes: 4096,
                    last_modified: Some("2024-03-01T10:00:00Z".parse().unwrap()),
                    author: Some("Dana Swope".into()),
                }),
                last_modified: Some("2024-03-01T10:00:00Z".parse().unwrap()),
            },
        );
        check(
            json!({"id": "f2", "name": "deck.pptx", "deleted": {"state": "deleted"}}),
            Change::Removed {
                kind: DataKind::PresentationDocument,
                id: "f2".into(),
            },
        );
        check(
            json!({"id": "f3", "deleted": {}}),
            ignored("a deleted item that is not an office document"),
        );
        check(
            json!({"id": "f4", "name": "docx", "file": {}}),
            ignored("not an office document"),
        );
        check(
            json!({"id": "r", "root": {}, "folder": {}}),
            ignored("a folder"),
        );
        assert_eq!(
            change(DataType::Files, &json!({"name": "a.docx"})).unwrap_err(),
            "drive item without `id`"
        );
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name),
        )
        .expect("the fixture is there")
    }

    #[test]
    fn downloaded_files_become_documents_titled_after_the_file() {
        let file = DriveFile {
            id: "01WORD".into(),
            name: "Q3: links/notes.docx".into(),
            kind: DocumentKind::Word,
            size_bytes: 0,
            last_modified: Some("2024-03-01T10:00:00Z".parse().unwrap()),
            author: Some("Dana Swope".into()),
        };
        let word = document(&file, &fixture("par-hyperlinks.docx")).unwrap();
        assert_eq!(word.id, "01WORD");
        assert_eq!(word.kind, DocumentKind::Word);
        assert_eq!(word.title, "Q3: links/notes");
        assert_eq!(word.author.as_deref(), Some("Steve Canny"));
        assert_eq!(word.last_modified, file.last_modified);
        let Some(DocumentBody::Word { blocks }) = &word.body else {
            panic!("expected a Word body");
        };
        assert_eq!(
            blocks.first(),
            Some(&WordBlock::Paragraph {
                text: "No hyperlinks".into()
            })
        );

        // A deck with a title keeps it.
        let deck = DriveFile {
            id: "01DECK".into(),
            name: "deck.pptx".into(),
            kind: DocumentKind::Presentation,
            ..file.clone()
        };
        let presentation = document(&deck, &fixture("txt-text.pptx")).unwrap();
        assert_eq!(
            (presentation.title.as_str(), presentation.kind),
            ("Presentation", DocumentKind::Presentation)
        );

        let broken = document(&file, b"not a zip").unwrap_err();
        assert!(broken.starts_with("Q3: links/notes.docx: "), "{broken}");
    }
}
