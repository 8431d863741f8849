//! What every importer yields: [`ImportItem`], an event or the [`Rejection`] of one item;
//! [`ImportWarning`], what was imported on a guess or left out without being wrong; and
//! [`EventStamp`], the metadata every event read from one file shares (built from the
//! caller's [`ImportOptions`] and the file), which also collects the file's warnings.
//! Knows no file format.

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use switchyard_contracts::{AnyOfficeEvent, OfficeEvent, OfficeItem, Operation, SyncType};

use crate::source::SourceFile;

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

/// What an [`ImportWarning`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarningKind {
    /// The item was imported, with values the importer had to derive (an id from a hash,
    /// a date from the file's time) because the input lacked them.
    Derived,
    /// Nothing was imported from the file or message, on purpose: a calendar without
    /// events or to-dos, a contacts file without cards, a trashed Maildir message.
    Skipped,
}

/// Something the user should know that is not a rejection: an item imported with
/// derived values, or a file skipped for having nothing to import. Like a [`Rejection`],
/// it names the file, the place in it and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportWarning {
    /// The file.
    pub file: PathBuf,
    /// Where in the file, as for a [`Rejection`]: `message 3 at byte 10234`, `VEVENT 2`,
    /// `message` (an `.eml` or Maildir message), or `file`.
    pub location: String,
    /// What was missing and what was used instead, or why nothing was imported,
    /// lowercase, e.g. `no events or todos`.
    pub reason: String,
    /// Imported with derived values, or skipped.
    pub kind: WarningKind,
}

impl ImportWarning {
    pub(crate) fn skipped(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ImportWarning {
            file: file.into(),
            location: "file".into(),
            reason: reason.into(),
            kind: WarningKind::Skipped,
        }
    }
}

/// `skipped FILE: reason` for a skipped file, `FILE, LOCATION: reason` otherwise (the
/// caller adds a word such as `warning` before it, as before a [`Rejection`]).
impl fmt::Display for ImportWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            WarningKind::Skipped => write!(f, "skipped {}: {}", self.file.display(), self.reason),
            WarningKind::Derived => write!(
                f,
                "{}, {}: {}",
                self.file.display(),
                self.location,
                self.reason
            ),
        }
    }
}

/// What every event read from one file shares.
pub(crate) struct EventStamp {
    pub(crate) file: PathBuf,
    provider: &'static str,
    user_id: String,
    sync_type: SyncType,
    /// `last_updated` of items that carry no date of their own.
    pub(crate) file_modified: DateTime<Utc>,
    /// The warnings about this file's items, until the reader hands them out.
    warnings: RefCell<Vec<ImportWarning>>,
}

impl EventStamp {
    /// The stamp of the events read from `file` for `options`, with `file_modified` for
    /// items that carry no date of their own.
    pub(crate) fn new(
        file: &SourceFile,
        options: &ImportOptions,
        file_modified: DateTime<Utc>,
    ) -> Self {
        EventStamp {
            file: file.path.clone(),
            provider: file.kind.provider(),
            user_id: options.user_id.clone(),
            sync_type: options.sync_type,
            file_modified,
            warnings: RefCell::default(),
        }
    }

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

    /// Records that the item at `location` was imported with derived values.
    pub(crate) fn warn(&self, location: impl Into<String>, reason: impl Into<String>) {
        self.warnings.borrow_mut().push(ImportWarning {
            file: self.file.clone(),
            location: location.into(),
            reason: reason.into(),
            kind: WarningKind::Derived,
        });
    }

    /// Records that nothing at `location` was imported, on purpose.
    pub(crate) fn skip(&self, location: impl Into<String>, reason: impl Into<String>) {
        self.warnings.borrow_mut().push(ImportWarning {
            file: self.file.clone(),
            location: location.into(),
            reason: reason.into(),
            kind: WarningKind::Skipped,
        });
    }

    /// The warnings recorded since the last call.
    pub(crate) fn take_warnings(&self) -> Vec<ImportWarning> {
        self.warnings.take()
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
        warnings: RefCell::default(),
    }
}
