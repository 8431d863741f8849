//! The [`MeetingStore`] trait and the version rule every implementation follows.
//!
//! Each (user, source, item id) holds the newest version seen, a last-writer-wins
//! register ordered by [`Version`]: `last_updated` first, then a delete before an
//! upsert of the same instant, then a fingerprint of the content. The order is total, so
//! the stored state is a function of the set of events seen, not of their order: a late
//! older version is ignored, a redelivery changes nothing, and replaying every event
//! gives the same state.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{MeetingChange, MeetingContext, MeetingSource, MeetingsError};

/// What became of one [`MeetingChange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The context was created or replaced.
    Stored,
    /// The meeting was forgotten (a tombstone keeps older versions out).
    Deleted,
    /// The same version was already stored (a redelivery).
    Unchanged,
    /// A newer version is stored; the change was ignored.
    Stale,
}

/// Where meeting contexts live. Implementations apply the version rule of this module
/// and keep each user's meetings apart, so that a query reads only that user's.
#[async_trait]
pub trait MeetingStore: Send + Sync {
    /// Applies `changes` in order, atomically; returns one verdict per change.
    async fn apply(&self, changes: Vec<MeetingChange>) -> Result<Vec<Applied>, MeetingsError>;

    /// The stored context of one meeting, if any.
    async fn get(
        &self,
        user_id: &str,
        source: MeetingSource,
        item_id: &str,
    ) -> Result<Option<MeetingContext>, MeetingsError>;

    /// Every stored context of `user_id`, cancelled ones included, by source and id.
    async fn user_meetings(&self, user_id: &str) -> Result<Vec<MeetingContext>, MeetingsError>;

    /// The contexts availability in `[from, to)` needs: at least every busy meeting that
    /// overlaps the window, every busy recurring series that may, and every overridden
    /// occurrence of those series (wherever it moved, busy or not).
    async fn meetings_in_window(
        &self,
        user_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeetingContext>, MeetingsError> {
        let meetings = self.user_meetings(user_id).await?;
        Ok(meetings
            .into_iter()
            .filter(|meeting| {
                meeting.recurrence_id.is_some()
                    || meeting.is_recurring()
                    || span_of(meeting).is_some_and(|(start, end)| {
                        start <= to.timestamp() && end >= from.timestamp()
                    })
            })
            .collect())
    }
}

/// The order of versions of one meeting; the greatest is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct Version {
    /// When the item last changed at the provider, in microseconds since the epoch.
    pub(crate) last_updated_micros: i64,
    /// A delete beats an upsert of the same instant.
    pub(crate) deleted: bool,
    /// Breaks ties between different contents of the same instant, the same way
    /// whatever their arrival order.
    pub(crate) fingerprint: u64,
}

impl Version {
    pub(crate) fn of_context(context: &MeetingContext) -> Self {
        Version {
            last_updated_micros: context.last_updated.timestamp_micros(),
            deleted: false,
            fingerprint: fingerprint(context),
        }
    }

    pub(crate) fn of_delete(last_updated: DateTime<Utc>) -> Self {
        Version {
            last_updated_micros: last_updated.timestamp_micros(),
            deleted: true,
            fingerprint: 0,
        }
    }
}

/// What to do with an incoming version given the stored one.
pub(crate) fn verdict(stored: Option<Version>, incoming: Version) -> Applied {
    match stored {
        Some(stored) if stored == incoming => Applied::Unchanged,
        Some(stored) if stored > incoming => Applied::Stale,
        _ if incoming.deleted => Applied::Deleted,
        _ => Applied::Stored,
    }
}

/// FNV-1a over the context's JSON: stable across processes and releases, unlike
/// `std`'s hasher.
fn fingerprint(context: &MeetingContext) -> u64 {
    let bytes = serde_json::to_vec(context).expect("meeting contexts serialize to JSON");
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The busy-index span of a meeting in epoch seconds: `(start, end)` for a single busy
/// meeting, `(start, i64::MAX)` for a busy series; `None` when it takes no time.
pub(crate) fn span_of(meeting: &MeetingContext) -> Option<(i64, i64)> {
    if !meeting.is_busy() {
        return None;
    }
    let start = meeting.start?;
    if meeting.is_recurring() {
        // An added date may come before the series' start.
        let first = meeting
            .added_occurrences
            .iter()
            .map(|slot| slot.start)
            .fold(start, DateTime::min);
        return Some((first.timestamp(), i64::MAX));
    }
    let end = meeting.end.unwrap_or(start).max(start);
    Some((start.timestamp(), end.timestamp()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(micros: i64, deleted: bool, fingerprint: u64) -> Version {
        Version {
            last_updated_micros: micros,
            deleted,
            fingerprint,
        }
    }

    #[test]
    fn newest_version_wins_whatever_the_order() {
        assert_eq!(verdict(None, version(1, false, 5)), Applied::Stored);
        assert_eq!(verdict(None, version(1, true, 0)), Applied::Deleted);
        assert_eq!(
            verdict(Some(version(2, false, 5)), version(1, false, 9)),
            Applied::Stale
        );
        assert_eq!(
            verdict(Some(version(2, false, 5)), version(2, false, 5)),
            Applied::Unchanged
        );
        // Same instant: a delete wins, then the greater fingerprint.
        assert_eq!(
            verdict(Some(version(2, false, 5)), version(2, true, 0)),
            Applied::Deleted
        );
        assert_eq!(
            verdict(Some(version(2, true, 0)), version(2, false, 5)),
            Applied::Stale
        );
        assert_eq!(
            verdict(Some(version(2, false, 5)), version(2, false, 9)),
            Applied::Stored
        );
        assert_eq!(
            verdict(Some(version(2, false, 9)), version(2, false, 5)),
            Applied::Stale
        );
    }
}
