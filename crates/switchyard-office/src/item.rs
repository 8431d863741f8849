//! What every importer yields: [`ImportItem`], an event or the [`Rejection`] of one item,
//! and [`EventStamp`], the metadata every event read from one file shares (built from
//! the caller's [`ImportOptions`] and the file). Knows no file format.

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
