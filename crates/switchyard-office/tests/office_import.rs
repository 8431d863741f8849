//! Imports of this crate's own fixtures (`tests/fixtures`): office documents, to-dos in
//! iCalendar and JSON Lines, and broken files that must become rejections.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use switchyard_contracts::{
    AnyOfficeEvent, Document, DocumentBody, DocumentKind, Mailbox, Slide, SyncType, Task, Todo,
    WordBlock,
};
use switchyard_office::{
    ImportItem, ImportOptions, SourceFile, SourceKind, discover, document_id, read_file,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn import_path(path: &Path) -> Vec<ImportItem> {
    let file = SourceFile {
        kind: SourceKind::from_path(path).expect("known extension"),
        size_bytes: std::fs::metadata(path).expect("file exists").len(),
        path: path.to_path_buf(),
        mail_folder: None,
    };
    let options = ImportOptions {
        user_id: "alice".into(),
        sync_type: SyncType::Backfill,
    };
    let mut reader = read_file(&file, &options);
    let items: Vec<ImportItem> = reader.by_ref().collect();
    assert_eq!(reader.bytes_read(), file.size_bytes, "{}", path.display());
    items
}

fn only_document(path: &Path) -> Document {
    let mut items = import_path(path);
    assert_eq!(items.len(), 1, "{items:?}");
    match items.remove(0) {
        Ok(AnyOfficeEvent::Document(event)) => event.item,
        other => panic!("{}: expected a document, got {other:?}", path.display()),
    }
}

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("test times parse")
}

/// Each item as `Ok(kind id)` or `Err(location: reason)`.
fn outcomes(items: &[ImportItem]) -> Vec<Result<String, String>> {
    items
        .iter()
        .map(|item| match item {
            Ok(event) => Ok(format!("{:?} {}", event.kind(), event.item_id())),
            Err(rejection) => Err(format!("{}: {}", rejection.location, rejection.reason)),
        })
        .collect()
}

#[test]
fn a_docx_gives_headings_paragraphs_and_tables_in_reading_order() {
    let path = fixture("par-known-styles.docx");
    let document = only_document(&path);
    assert_eq!(document.kind, DocumentKind::Word);
    assert_eq!(document.id, document_id(&path));
    // No dc:title: the file name.
    assert_eq!(document.title, "par-known-styles");
    assert_eq!(document.author.as_deref(), Some("Steve Canny"));
    assert_eq!(document.last_modified, Some(utc("2014-12-25T06:49:00Z")));
    assert_eq!(document.size_bytes, std::fs::metadata(&path).unwrap().len());
    let paragraph = |text: &str| WordBlock::Paragraph { text: text.into() };
    assert_eq!(
        document.body,
        Some(DocumentBody::Word {
            blocks: vec![
                paragraph("no specified style"),
                paragraph("missing style"),
                WordBlock::Heading {
                    level: 1,
                    text: "Heading 1".into()
                },
                paragraph("Body Text"),
            ]
        })
    );

    let document = only_document(&fixture("blk-paras-and-tables.docx"));
    let Some(DocumentBody::Word { blocks }) = document.body else {
        panic!("not a Word body");
    };
    assert_eq!(
        blocks,
        vec![
            paragraph("Lorem ipsum dolor sit amet, consectetur adipiscing elit."),
            // The nested table is written into its cell, between the cell's paragraphs.
            WordBlock::Table {
                rows: vec![vec!["Text before\nTable\nBetween\nText after".into()]]
            },
            paragraph("Donec semper facilisis metus finibus malesuada."),
        ]
    );
}

#[test]
fn a_pptx_gives_slides_in_order_with_notes() {
    let document = only_document(&fixture("sld-notes.pptx"));
    assert_eq!(document.kind, DocumentKind::Presentation);
    assert_eq!(document.title, "Presentation");
    assert_eq!(document.author.as_deref(), Some("python-pptx"));
    assert_eq!(
        document.body,
        Some(DocumentBody::Presentation {
            slides: vec![
                Slide {
                    number: 1,
                    notes: "Notes".into(),
                    ..Slide::default()
                },
                Slide {
                    number: 2,
                    ..Slide::default()
                },
            ]
        })
    );
}

#[test]
fn a_workbook_gives_sheets_with_readable_dates() {
    let document = only_document(&fixture("date.xlsx"));
    assert_eq!(document.kind, DocumentKind::Sheet);
    let Some(DocumentBody::Sheet { sheets }) = document.body else {
        panic!("not a sheet body");
    };
    assert_eq!(sheets.len(), 1);
    assert_eq!(sheets[0].name, "Sheet1");
    assert_eq!(sheets[0].header, ["2021-01-01", "15"]);
    assert_eq!(sheets[0].rows, [["2021-01-02", "16"], ["255:10:10", "17"]]);
}

#[test]
fn encrypted_truncated_and_fake_documents_are_rejected_with_a_reason() {
    let items = import_path(&fixture("pass_protected.xlsx"));
    assert_eq!(
        outcomes(&items),
        [Err(
            "file: encrypted (password-protected) file: cannot be read without the password"
                .to_string()
        )]
    );

    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(fixture("par-known-styles.docx")).unwrap();
    let cases = [
        ("truncated.docx", original[..original.len() / 2].to_vec()),
        (
            "truncated.pptx",
            std::fs::read(fixture("sld-notes.pptx")).unwrap()[..5000].to_vec(),
        ),
        (
            "truncated.xlsx",
            std::fs::read(fixture("date.xlsx")).unwrap()[..3000].to_vec(),
        ),
        ("text.docx", b"just some text".to_vec()),
        ("empty.pptx", Vec::new()),
        ("garbage.ods", vec![0xff; 100]),
        ("garbage.xls", vec![0xff; 100]),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let items = import_path(&path);
        assert_eq!(items.len(), 1, "{name}: {items:?}");
        let rejection = items[0].as_ref().expect_err(name);
        assert_eq!(rejection.location, "file", "{name}");
        assert!(
            rejection.reason.starts_with("not a valid"),
            "{name}: {}",
            rejection.reason
        );
    }

    // A zip that is no Word document.
    let path = dir.path().join("other.docx");
    std::fs::copy(fixture("date.xlsx"), &path).unwrap();
    let items = import_path(&path);
    assert_eq!(
        outcomes(&items),
        [Err(
            "file: not a Word document: xl/workbook.xml is no w:document".to_string()
        )]
    );
    let path = dir.path().join("other.pptx");
    std::fs::copy(fixture("par-known-styles.docx"), &path).unwrap();
    assert_eq!(
        outcomes(&import_path(&path)),
        [Err(
            "file: not a PowerPoint presentation: word/document.xml is no p:presentation"
                .to_string()
        )]
    );
}

#[test]
fn re_importing_an_edited_document_keeps_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.pptx");
    std::fs::copy(fixture("sld-notes.pptx"), &path).unwrap();
    let first = only_document(&path);
    // The "edit": another deck saved under the same name.
    std::fs::remove_file(&path).unwrap();
    std::fs::copy(fixture("date.xlsx"), dir.path().join("x.xlsx")).unwrap();
    std::fs::copy(fixture("sld-notes.pptx"), &path).unwrap();
    let second = only_document(&path);
    assert_eq!(first.id, second.id);
    assert_ne!(first.id, only_document(&dir.path().join("x.xlsx")).id);
}

#[test]
fn vtodos_become_todos() {
    let items = import_path(&fixture("todos.ics"));
    assert_eq!(
        outcomes(&items),
        [
            Ok("Todo 20070313T123432Z-456553@example.com".to_string()),
            Ok("Calendar event-1".to_string()),
            // Issue 14: a VTODO without UID was rejected; its id is now derived.
            Ok(
                "Todo sha256:504ea61d8da131cdcb641c017402f6382fc1521e3695ed3c043ad1e604acde1b"
                    .to_string()
            ),
            Ok("Todo todo-done".to_string()),
        ]
    );
    let Ok(AnyOfficeEvent::Todo(event)) = &items[0] else {
        unreachable!()
    };
    assert_eq!(event.provider, "ics");
    assert_eq!(event.last_updated, utc("2007-03-13T12:34:32Z"));
    assert_eq!(
        event.item,
        Todo {
            id: "20070313T123432Z-456553@example.com".into(),
            title: "Submit Quebec Income Tax Return for 2006".into(),
            notes: "Forms are in the, usual folder".into(),
            status: "needs-action".into(),
            due: Some(utc("2007-05-01T00:00:00Z")),
            assignee: Some(Mailbox {
                name: Some("Bob".into()),
                address: "bob@example.com".into()
            }),
        }
    );
    let Ok(AnyOfficeEvent::Todo(done)) = &items[3] else {
        unreachable!()
    };
    assert_eq!(done.item.status, "completed");
    assert_eq!(done.last_updated, utc("2007-04-02T10:00:00Z"));
}

#[test]
fn jsonl_lines_become_todos_and_tasks_or_rejections() {
    let path = fixture("todos.jsonl");
    let items = import_path(&path);
    assert_eq!(
        outcomes(&items),
        [
            Ok("Todo todo-1".to_string()),
            Ok("Task task-7".to_string()),
            Err("line 4: missing required field `id`".to_string()),
            Err(
                "line 5: invalid field `assignee`: `bob@@example.com` is not a valid email address"
                    .to_string()
            ),
            Ok("Todo todo-3".to_string()),
            Err("line 7: invalid JSON: expected ident at line 1 column 2".to_string()),
            Err("line 8: unknown field `dew` for a task".to_string()),
            Ok("Todo todo-4".to_string()),
        ]
    );
    for rejection in items.iter().filter_map(|item| item.as_ref().err()) {
        assert_eq!(rejection.file, path);
    }
    let Ok(AnyOfficeEvent::Todo(todo)) = &items[0] else {
        unreachable!()
    };
    assert_eq!(todo.provider, "jsonl");
    assert_eq!(
        todo.item,
        Todo {
            id: "todo-1".into(),
            title: "Renew passport".into(),
            notes: "Photos first".into(),
            status: "in-process".into(),
            due: Some(utc("2024-05-01T00:00:00Z")),
            assignee: Some(Mailbox {
                name: Some("Bob Smith".into()),
                address: "bob@example.com".into()
            }),
        }
    );
    let Ok(AnyOfficeEvent::Task(task)) = &items[1] else {
        unreachable!()
    };
    assert_eq!(task.last_updated, utc("2024-04-01T08:00:00Z"));
    assert_eq!(
        task.item,
        Task {
            id: "task-7".into(),
            title: "Ship v2".into(),
            description: "Release notes too".into(),
            status: "notStarted".into(),
            due: Some(utc("2024-06-01T15:00:00Z")),
        }
    );
    let Ok(AnyOfficeEvent::Todo(todo)) = &items[4] else {
        unreachable!()
    };
    assert_eq!(
        todo.item.assignee,
        Some(Mailbox {
            name: Some("Carol".into()),
            address: "carol@example.org".into()
        })
    );
}

#[test]
fn the_fixture_folder_is_discovered_whole() {
    let discovery = discover(&[fixture("")]).unwrap();
    assert!(
        discovery.rejections.is_empty(),
        "{:?}",
        discovery.rejections
    );
    let kinds: Vec<SourceKind> = discovery.files.iter().map(|file| file.kind).collect();
    assert_eq!(
        kinds,
        [
            SourceKind::Docx,
            SourceKind::Xlsx,
            SourceKind::Docx,
            SourceKind::Xlsx,
            SourceKind::Pptx,
            SourceKind::Ics,
            SourceKind::Jsonl,
        ]
    );
}
