//! Switchyard's file importers: they turn local `.mbox`, `.eml`, `.ics` and `.vcf` files
//! into office events ([`AnyOfficeEvent`] from `switchyard-contracts`).
//!
//! The crate reads files and nothing else: it knows no broker, HTTP or search index.
//! [`discover`] walks folders and lists the importable files with their sizes;
//! [`read_file`] streams one file as a [`FileReader`], an iterator of [`ImportItem`]s:
//! either an event or a [`Rejection`] naming the file, the place in it and the reason.
//! A rejection never stops the rest of the file, and no input makes the importer panic.
//!
//! Events come out with `operation: create`, the sync type and user of [`ImportOptions`],
//! `provider` = the file kind (`mbox`, `eml`, `ics`, `vcf`) and an **empty `batch_id`**:
//! the caller assigns batch ids when it groups events into batches
//! (`AnyOfficeEvent::set_batch_id`), and an event fails `validate()` until it has one.
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
//!
//! let discovery = discover(&[folder.path().to_path_buf()]).unwrap();
//! assert!(discovery.rejections.is_empty());
//! let options = ImportOptions { user_id: "alice".into(), sync_type: SyncType::Backfill };
//! let total_bytes = discovery.total_bytes();
//! for file in &discovery.files {
//!     let mut reader = read_file(file, &options);
//!     while let Some(item) = reader.next() {
//!         match item {
//!             Ok(AnyOfficeEvent::Email(event)) => assert_eq!(event.item.subject, "Hello"),
//!             Ok(other) => panic!("unexpected {:?}", other.kind()),
//!             Err(rejection) => eprintln!("skipped {rejection}"),
//!         }
//!         // Progress within this file, e.g. for a byte-based progress bar.
//!         assert!(reader.bytes_read() <= total_bytes);
//!     }
//! }
//! ```
#![warn(missing_docs)]

mod calendar;
mod contact;
mod discover;
mod error;
mod mail;
mod reader;
mod timezone;

pub use discover::{Discovery, SourceFile, SourceKind, discover};
pub use error::ImportError;
pub use reader::{FileReader, ImportItem, ImportOptions, Rejection, read_file};
