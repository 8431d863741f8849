//! Reading one file: [`read_file`] picks the importer by [`SourceKind`] and returns a
//! [`FileReader`] that yields events and [`Rejection`]s and tracks the bytes consumed.
//! Also owns the event metadata every importer stamps on its items.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use switchyard_contracts::{AnyOfficeEvent, OfficeEvent, OfficeItem, Operation, SyncType};

use crate::jsonl::JsonlReader;
use crate::limits::human_bytes;
use crate::mail::{MboxReader, read_eml, too_large};
use crate::{ImportLimits, SourceFile, SourceKind, calendar, contact, document};

/// Who the imported data belongs to and how it is synced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// The owner of the imported items, copied into every event.
    pub user_id: String,
    /// Backfill or streaming, copied into every event.
    pub sync_type: SyncType,
}

/// An item of a file that could not be imported, and why. The rest of the file goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The file.
    pub file: PathBuf,
    /// Where in the file: `message 3 at byte 10234`, `VEVENT 2`, `VTODO 1`, `card 5`,
    /// `line 7` (JSON Lines), or `file` (a whole file, e.g. a broken document).
    pub location: String,
    /// What is wrong, lowercase, e.g. `missing UID`.
    pub reason: String,
}

impl Rejection {
    pub(crate) fn new(
        file: impl Into<PathBuf>,
        location: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Rejection {
            file: file.into(),
            location: location.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {}: {}",
            self.file.display(),
            self.location,
            self.reason
        )
    }
}

impl std::error::Error for Rejection {}

/// One result of reading a file: an event, or the rejection of one item.
pub type ImportItem = Result<AnyOfficeEvent, Rejection>;

/// What every event read from one file shares.
pub(crate) struct EventStamp {
    pub(crate) file: PathBuf,
    provider: &'static str,
    user_id: String,
    sync_type: SyncType,
    /// `last_updated` of items that carry no date of their own.
    pub(crate) file_modified: DateTime<Utc>,
}

impl EventStamp {
    /// A `create` event for `item`, last updated at `last_updated` or else when the file
    /// was modified. The batch id stays empty for the caller to fill.
    pub(crate) fn event<T: OfficeItem>(
        &self,
        item: T,
        last_updated: Option<DateTime<Utc>>,
    ) -> OfficeEvent<T> {
        let mut event = OfficeEvent::new(
            Operation::Create,
            self.sync_type,
            self.provider,
            self.user_id.clone(),
            String::new(),
            item,
        );
        event.last_updated = last_updated.unwrap_or(self.file_modified);
        event
    }

    pub(crate) fn reject(
        &self,
        location: impl Into<String>,
        reason: impl Into<String>,
    ) -> Rejection {
        Rejection::new(self.file.clone(), location, reason)
    }
}

/// Streams the items of one file. See [`read_file`].
pub struct FileReader {
    state: State,
    bytes_read: u64,
    size_bytes: u64,
}

enum State {
    /// Mailboxes are split message by message, never held whole in memory.
    Mbox(Box<MboxReader<BufReader<File>>>, EventStamp),
    /// JSON Lines are read line by line.
    Jsonl(Box<JsonlReader<BufReader<File>>>, EventStamp),
    /// Files parsed whole at the first `next` (one message, a calendar, vCards, one
    /// office document, which is streamed from its zip package rather than loaded).
    Whole(Option<(File, EventStamp, SourceKind)>, ImportLimits),
    Items(std::vec::IntoIter<ImportItem>),
}

impl FileReader {
    /// Bytes of the file consumed so far, at most its size at discovery. Mailboxes advance
    /// message by message; other files jump to their full size at the first item.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read.min(self.size_bytes)
    }
}

impl Iterator for FileReader {
    type Item = ImportItem;

    fn next(&mut self) -> Option<ImportItem> {
        loop {
            match &mut self.state {
                State::Mbox(reader, stamp) => {
                    let item = reader.next_item(stamp);
                    self.bytes_read = if item.is_some() {
                        reader.bytes_read()
                    } else {
                        self.size_bytes
                    };
                    return item;
                }
                State::Jsonl(reader, stamp) => {
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
                        Some((handle, stamp, kind)) => {
                            read_whole(handle, &stamp, kind, self.size_bytes, limits)
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
    let stamp = EventStamp {
        file: file.path.clone(),
        provider: file.kind.provider(),
        user_id: options.user_id.clone(),
        sync_type: options.sync_type,
        file_modified,
    };
    let state = match file.kind {
        SourceKind::Mbox => State::Mbox(
            Box::new(MboxReader::new(BufReader::new(handle), limits)),
            stamp,
        ),
        SourceKind::Jsonl => {
            State::Jsonl(Box::new(JsonlReader::new(BufReader::new(handle))), stamp)
        }
        kind => State::Whole(Some((handle, stamp, kind)), limits.clone()),
    };
    FileReader {
        state,
        bytes_read: 0,
        size_bytes,
    }
}

fn read_whole(
    handle: File,
    stamp: &EventStamp,
    kind: SourceKind,
    discovered_size: u64,
    limits: &ImportLimits,
) -> Vec<ImportItem> {
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
    let location = if matches!(kind, SourceKind::Eml) {
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

/// A stamp for parsing bytes in unit tests, with a fixed file time.
#[cfg(test)]
pub(crate) fn test_stamp(provider: &'static str) -> EventStamp {
    EventStamp {
        file: PathBuf::from(format!("test.{provider}")),
        provider,
        user_id: "alice".into(),
        sync_type: SyncType::Backfill,
        file_modified: DateTime::from_timestamp(1_700_000_000, 0).expect("valid timestamp"),
    }
}
