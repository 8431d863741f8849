//! Switchyard's file importers: they turn local files into office events
//! ([`AnyOfficeEvent`](switchyard_contracts::AnyOfficeEvent) from `switchyard-contracts`):
//!
//! | files | events |
//! |---|---|
//! | `.mbox`, `.eml` | one `Email` per message (`mail-parser`) |
//! | Maildir folders (`cur/`, `new/`, Maildir++ `.Work.Projects/`) | one `Email` per message, with its `folder` and `flags` |
//! | `.ics` | one `CalendarItem` per VEVENT, one `Todo` per VTODO (`calcard`) |
//! | `.vcf` | one `Contact` per vCard (`calcard`) |
//! | `.jsonl` | one `Todo` or `Task` per line (format below) |
//! | `.docx` | one Word `Document`: headings, paragraphs, tables in reading order |
//! | `.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods` | one sheet `Document`: a header and rows per worksheet (`calamine`) |
//! | `.pptx` | one presentation `Document`: slides with title, body text and notes |
//!
//! The crate reads files and nothing else: it knows no broker, HTTP or search index.
//! [`discover`] walks folders and lists the importable files with their sizes;
//! [`read_file`] streams one file as a [`FileReader`], an iterator of [`ImportItem`]s:
//! either an event or a [`Rejection`] naming the file, the place in it and the reason.
//! A rejection never stops the rest of the file, and no input makes the importer panic.
//! What is imported on a guess, or left out on purpose, is an [`ImportWarning`] with the
//! same file, place and reason, handed out by [`FileReader::take_warnings`] (and, for
//! trashed Maildir messages, in [`Discovery::warnings`]): a message without `From`,
//! `Message-ID` or `Date` (its id then hashed from its bytes, its date and sender taken
//! from the mbox separator line or the file's time), a VEVENT or VTODO without UID (its
//! id hashed from its content and place), a calendar without events or to-dos, a blank
//! `.vcf`. Only input that is no message or calendar at all is rejected.
//! [`read_file_with_limits`] bounds what one file may cost ([`ImportLimits`]: sizes per
//! email, `.ics` and `.vcf`, inflated bytes, parts and compression ratio per document,
//! rows and cells per sheet); past a limit the file, or the mbox message, is one
//! rejection naming the limit and its config key. [`discover_with`] follows symlinks out
//! of a walked folder only when [`DiscoverOptions::follow_symlinks`] is set.
//!
//! Events come out with `operation: create`, the sync type and user of [`ImportOptions`],
//! `provider` = the file kind ([`SourceKind::provider`]: `mbox`, `eml`, `maildir`, `ics`,
//! `vcf`, `jsonl`, `docx`, `xlsx`, `xlsm`, `xlsb`, `xls`, `ods`, `pptx`) and an **empty
//! `batch_id`**: the caller assigns batch ids when it groups events into batches
//! (`AnyOfficeEvent::set_batch_id`), and an event fails `validate()` until it has one.
//!
//! # Office documents
//!
//! Each document file is one `Document` event whose id is [`document_id`] of its path
//! (`file:` + 32 hex digits of the SHA-256 of the canonical path): re-importing an edited
//! file replaces the document; moving it makes a new one. The title is the core property
//! `dc:title`, else the file name without extension; `author` is `dc:creator`;
//! `last_modified` (and the event's `last_updated`) is `dcterms:modified`, else the
//! file's modification time; `size_bytes` is the file's size. Zip packages are streamed
//! part by part and their XML event by event, never loaded whole. A malformed, truncated
//! or password-protected file is one rejection at location `file` with the reason (for
//! example `encrypted (password-protected) file: cannot be read without the password`).
//! Office lock files (`~$name.docx`) are not discovered. Details per format: the module
//! docs of `docx.rs`, `spreadsheet.rs` and `pptx.rs`.
//!
//! # To-dos in iCalendar files
//!
//! A VTODO becomes a `Todo`: `id` = UID, `title` = SUMMARY, `notes` = DESCRIPTION,
//! `status` = STATUS in lower case (`needs-action`, `in-process`, `completed`,
//! `cancelled`; without STATUS it follows COMPLETED / PERCENT-COMPLETE), `due` = DUE
//! (else DTSTART + DURATION) in UTC, `assignee` = the first ATTENDEE with an address.
//! A VTODO with an unreadable DUE is rejected as `VTODO n`; one without UID is imported
//! under a derived id, with a warning.
//!
//! # JSON Lines format for todos and tasks (`.jsonl`)
//!
//! A `.jsonl` file is UTF-8 text (a leading BOM is allowed) with one JSON object per
//! line; blank lines are skipped. Each object is a todo or a task, told apart by `type`:
//!
//! ```text
//! {"type":"todo","id":"todo-1","title":"Renew passport","status":"in-process","due":"2024-05-01","assignee":"Bob Smith <bob@example.com>"}
//! {"type":"task","id":"task-7","title":"Ship v2","description":"Release notes too","status":"notStarted","due":"2024-06-01T17:00:00+02:00"}
//! ```
//!
//! | field | type | required | meaning |
//! |---|---|---|---|
//! | `type` | `"todo"` or `"task"` | yes | the kind of item |
//! | `id` | string, not blank | yes | the provider's id; importing the same id again replaces the item |
//! | `title` | string, not blank | yes | the title |
//! | `status` | string | no | todo: `needs-action` (default), `in-process`, `completed` or `cancelled`; task: any non-blank text (default `notStarted`) |
//! | `due` | string | no | an RFC 3339 date-time (`2024-05-01T17:00:00Z`, `…+02:00`) or a date (`2024-05-01`, taken as midnight UTC) |
//! | `last_updated` | string | no | RFC 3339 date-time of the last change; else the file's modification time |
//! | `notes` | string | no, todo only | the todo's notes |
//! | `assignee` | string or object | no, todo only | `"bob@example.com"`, `"Bob Smith <bob@example.com>"` or `{"name": "Bob Smith", "address": "bob@example.com"}` (`name` optional); the address must be a valid email address |
//! | `description` | string | no, task only | the task's longer text |
//!
//! A `null` value is the same as an absent field. Any other field is an error, so that a
//! misspelt field never disappears silently.
//!
//! ## Rejections
//!
//! A line that breaks a rule is rejected as a whole and the rest of the file goes on.
//! The rejection's location is `line N` (from 1, blank lines counted) and its reason names
//! the field:
//!
//! - ``missing required field `id` ``
//! - ``invalid field `assignee`: `bob@` is not a valid email address``
//! - ``invalid field `due`: `tomorrow` is neither an RFC 3339 date-time nor a YYYY-MM-DD date``
//! - ``invalid field `status`: `done` is not one of needs-action, in-process, completed, cancelled``
//! - ``invalid field `title`: expected a string, found a number``, ``invalid field `id`: blank``
//! - ``unknown field `titel` for a todo``
//!
//! or, for the line as a whole, `invalid JSON: …`, `not a JSON object`, `invalid UTF-8`
//! and `line longer than 1048576 bytes`.
//!
//! Lines are read one at a time; events carry `provider: jsonl`.
//!
//! # Example
//!
//! ```
//! use switchyard_contracts::{AnyOfficeEvent, SyncType};
//! use switchyard_office::{ImportOptions, discover, read_file};
//!
//! let folder = tempfile::tempdir().unwrap();
//! std::fs::write(
//!     folder.path().join("hello.eml"),
//!     "From: Alice <alice@example.com>\r\nMessage-ID: <1@example.com>\r\n\
//!      Subject: Hello\r\n\r\nHi Bob\r\n",
//! )
//! .unwrap();
//! std::fs::write(
//!     folder.path().join("todos.jsonl"),
//!     "{\"type\":\"todo\",\"id\":\"t1\",\"title\":\"Reply to Bob\",\"assignee\":\"alice@example.com\"}\n\
//!      {\"type\":\"todo\",\"id\":\"t2\",\"title\":\"Oops\",\"assignee\":\"not an address\"}\n",
//! )
//! .unwrap();
//!
//! let discovery = discover(&[folder.path().to_path_buf()]).unwrap();
//! assert!(discovery.rejections.is_empty());
//! let options = ImportOptions { user_id: "alice".into(), sync_type: SyncType::Backfill };
//! let total_bytes = discovery.total_bytes();
//! let mut rejected = Vec::new();
//! for file in &discovery.files {
//!     let mut reader = read_file(file, &options);
//!     while let Some(item) = reader.next() {
//!         match item {
//!             Ok(AnyOfficeEvent::Email(event)) => assert_eq!(event.item.subject, "Hello"),
//!             Ok(AnyOfficeEvent::Todo(event)) => assert_eq!(event.item.title, "Reply to Bob"),
//!             Ok(other) => panic!("unexpected {:?}", other.kind()),
//!             Err(rejection) => rejected.push(format!("{}: {}", rejection.location, rejection.reason)),
//!         }
//!         // Progress within this file, e.g. for a byte-based progress bar.
//!         assert!(reader.bytes_read() <= total_bytes);
//!     }
//! }
//! assert_eq!(
//!     rejected,
//!     ["line 2: invalid field `assignee`: `not an address` is not a valid email address"]
//! );
//! ```
#![warn(missing_docs)]

mod calendar;
mod calendar_todo;
mod contact;
mod discover;
mod document;
mod docx;
mod error;
mod extracted;
mod ical;
mod item;
mod jsonl;
mod limits;
mod mail;
mod maildir;
mod mbox_separator;
mod ooxml;
mod pptx;
mod reader;
mod source;
mod spreadsheet;
#[cfg(feature = "testsuite")]
mod testdata;

pub use discover::{DiscoverOptions, Discovery, discover, discover_with};
pub use document::document_id;
pub use error::ImportError;
pub use item::{ImportItem, ImportOptions, ImportWarning, Rejection, WarningKind};
pub use limits::ImportLimits;
pub use reader::{FileReader, read_file, read_file_with_limits};
pub use source::{SourceFile, SourceKind};
#[cfg(feature = "testsuite")]
pub use testdata::{TESTDATA_ENV, shared_testdata};
