//! Reading one file: [`read_file`] picks the importer by [`SourceKind`] and returns a
//! [`FileReader`] that yields events and [`Rejection`]s, tracks the bytes consumed and
//! hands out the [`ImportWarning`]s of what it read.

use std::fs::File;
use std::io::{BufReader, Read};

use chrono::{DateTime, Utc};

use crate::item::{EventStamp, ImportItem, ImportOptions, ImportWarning, Rejection};
use crate::jsonl::JsonlReader;
use crate::limits::{ImportLimits, human_bytes};
use crate::mail::{MboxReader, read_eml, too_large};
use crate::maildir::read_maildir_message;
use crate::source::{SourceFile, SourceKind};
use crate::{calendar, contact, document};

/// Streams the items of one file. See [`read_file`].
pub struct FileReader {
    state: State,
    /// `None` when the file could not be opened.
    stamp: Option<EventStamp>,
    bytes_read: u64,
    size_bytes: u64,
}

enum State {
    /// Mailboxes are split message by message, never held whole in memory.
    Mbox(Box<MboxReader<BufReader<File>>>),
    /// JSON Lines are read line by line.
    Jsonl(Box<JsonlReader<BufReader<File>>>),
    /// Files parsed whole at the first `next` (one message, a calendar, vCards, one
    /// office document, which is streamed from its zip package rather than loaded).
    Whole(Option<(File, SourceFile)>, ImportLimits),
    Items(std::vec::IntoIter<ImportItem>),
}

impl FileReader {
    /// Bytes of the file consumed so far, at most its size at discovery. Mailboxes advance
    /// message by message; other files jump to their full size at the first item.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.min(self.size_bytes)
    }

    /// The warnings about what was read since the last call: items imported with
    /// derived values (an id hashed from the content, a date from the file's time) and,
    /// once the reader is done, a file skipped for having nothing to import. Call it
    /// after each `next()`; a file read whole has all its warnings after the first.
    pub fn take_warnings(&mut self) -> Vec<ImportWarning> {
        self.stamp
            .as_ref()
            .map(EventStamp::take_warnings)
            .unwrap_or_default()
    }
}

impl Iterator for FileReader {
    type Item = ImportItem;

    fn next(&mut self) -> Option<ImportItem> {
        loop {
            let stamp = match (&mut self.state, &self.stamp) {
                (State::Items(items), _) => return items.next(),
                (_, Some(stamp)) => stamp,
                (_, None) => return None,
            };
            match &mut self.state {
                State::Mbox(reader) => {
                    let item = reader.next_item(stamp);
                    self.bytes_read = if item.is_some() {
                        reader.bytes_read()
                    } else {
                        self.size_bytes
                    };
                    return item;
                }
                State::Jsonl(reader) => {
                    let item = reader.next_item(stamp);
                    self.bytes_read = if item.is_some() {
                        reader.bytes_read()
                    } else {
                        self.size_bytes
                    };
                    return item;
                }
                State::Whole(pending, limits) => {
                    let items = match pending.take() {
                        Some((handle, file)) => {
                            read_whole(handle, stamp, &file, self.size_bytes, limits)
                        }
                        None => Vec::new(),
                    };
                    self.state = State::Items(items.into_iter());
                    self.bytes_read = self.size_bytes;
                }
                State::Items(items) => return items.next(),
            }
        }
    }
}

/// Opens `file` and streams its items as events of `options.user_id`.
///
/// Never fails: a file that cannot be opened or read yields one rejection at location
/// `file`. An `.mbox` is read message by message and a `.jsonl` line by line; `.eml`,
/// `.ics` and `.vcf` files are read whole, at the first call to `next`. An office
/// document (`.docx`, `.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`, `.pptx`) gives one
/// `Document` event or one rejection, also at the first call to `next`; see the crate
/// documentation for what is extracted.
///
/// Reads under the default [`ImportLimits`]; see [`read_file_with_limits`].
pub fn read_file(file: &SourceFile, options: &ImportOptions) -> FileReader {
    read_file_with_limits(file, options, &ImportLimits::default())
}

/// [`read_file`] under `limits`: a message, calendar, contact file or office document
/// past one of them is one rejection naming the limit and its config key, read no
/// further than needed to tell (a mailbox goes on with its next message).
pub fn read_file_with_limits(
    file: &SourceFile,
    options: &ImportOptions,
    limits: &ImportLimits,
) -> FileReader {
    let size_bytes = file.size_bytes;
    let handle = match File::open(&file.path) {
        Ok(handle) => handle,
        Err(err) => {
            let rejection = Rejection::new(&file.path, "file", format!("failed to open: {err}"));
            return FileReader {
                state: State::Items(vec![Err(rejection)].into_iter()),
                stamp: None,
                bytes_read: 0,
                size_bytes,
            };
        }
    };
    let file_modified = handle
        .metadata()
        .and_then(|metadata| metadata.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let stamp = EventStamp::new(file, options, file_modified);
    let state = match file.kind {
        SourceKind::Mbox => State::Mbox(Box::new(MboxReader::new(BufReader::new(handle), limits))),
        SourceKind::Jsonl => State::Jsonl(Box::new(JsonlReader::new(BufReader::new(handle)))),
        _ => State::Whole(Some((handle, file.clone())), limits.clone()),
    };
    FileReader {
        state,
        stamp: Some(stamp),
        bytes_read: 0,
        size_bytes,
    }
}

fn read_whole(
    handle: File,
    stamp: &EventStamp,
    file: &SourceFile,
    discovered_size: u64,
    limits: &ImportLimits,
) -> Vec<ImportItem> {
    let kind = file.kind;
    let size_bytes = handle
        .metadata()
        .map(|metadata| metadata.len())
        .unwrap_or(discovered_size);
    if kind.is_document() {
        return vec![document::read_document(
            handle, size_bytes, kind, stamp, limits,
        )];
    }
    let (max_bytes, too_large_reason) = match kind {
        SourceKind::Ics => (
            limits.max_ics_bytes,
            format!(
                "file larger than the {} limit per .ics file (import.max_ics_bytes)",
                human_bytes(limits.max_ics_bytes)
            ),
        ),
        SourceKind::Vcf => (
            limits.max_vcf_bytes,
            format!(
                "file larger than the {} limit per .vcf file (import.max_vcf_bytes)",
                human_bytes(limits.max_vcf_bytes)
            ),
        ),
        _ => (limits.max_email_bytes, too_large(limits)),
    };
    let location = if matches!(kind, SourceKind::Eml | SourceKind::Maildir) {
        "message"
    } else {
        "file"
    };
    if size_bytes > max_bytes {
        return vec![Err(stamp.reject(location, too_large_reason))];
    }
    // The file may have grown since: never read more than one byte past the limit.
    let mut bytes = Vec::new();
    if let Err(err) = handle
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return vec![Err(stamp.reject("file", format!("failed to read: {err}")))];
    }
    if bytes.len() as u64 > max_bytes {
        return vec![Err(stamp.reject(location, too_large_reason))];
    }
    match kind {
        SourceKind::Mbox | SourceKind::Eml => vec![read_eml(&bytes, stamp, limits)],
        SourceKind::Maildir => read_maildir_message(&bytes, stamp, limits, file),
        SourceKind::Ics => calendar::read_calendar(&bytes, stamp),
        SourceKind::Vcf => contact::read_contacts(&bytes, stamp),
        // Streamed and document kinds are read above or by their own state.
        SourceKind::Jsonl
        | SourceKind::Docx
        | SourceKind::Xlsx
        | SourceKind::Xlsm
        | SourceKind::Xlsb
        | SourceKind::Xls
        | SourceKind::Ods
        | SourceKind::Pptx => Vec::new(),
    }
}
