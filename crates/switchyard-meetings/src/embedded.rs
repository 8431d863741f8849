//! [`RedbMeetingStore`]: the embedded [`MeetingStore`] in one redb file,
//! `{data_dir}/meetings.redb`.
//!
//! # Layout
//! Every table is keyed by `(user_id, storage key)`, where the storage key is
//! `calendar/{item id}` or `booking/{item id}`; redb orders tuple keys by user first, so
//! each user's rows are one contiguous range (the per-user index), and the overridden
//! occurrences `calendar/{uid}#{recurrence id}` of a series sit right after it.
//! - table `meetings`: → format byte `1`, then the JSON of the stored meeting (its
//!   version fingerprint and its [`MeetingContext`]);
//! - table `tombstones`: → the `last_updated` of the delete, in microseconds since the
//!   epoch, so that a late older version of a deleted meeting stays out;
//! - table `busy_spans`: → `(start, end)` in epoch seconds of every busy meeting, with
//!   `end = i64::MAX` for a busy recurring series: availability reads this small index
//!   and loads only the meetings that may touch its window.
//!
//! # Durability
//! A batch of changes is one fsynced transaction; redb's copy-on-write commits keep it
//! whole across crashes, so the three tables always agree.

use std::collections::BTreeMap;
use std::path::Path;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redb::{Durability, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use switchyard_state::{EmbeddedDatabase, OpenDatabaseError};

use crate::context::storage_key;
use crate::error::{read_failed, unavailable, write_failed};
use crate::store::{Version, span_of, verdict};
use crate::{
    Applied, MeetingChange, MeetingContext, MeetingSource, MeetingStore, MeetingsError,
    MeetingsErrorKind,
};

type Key<'a> = (&'a str, &'a str);

const MEETINGS: TableDefinition<Key, &[u8]> = TableDefinition::new("meetings");
const TOMBSTONES: TableDefinition<Key, i64> = TableDefinition::new("tombstones");
const BUSY_SPANS: TableDefinition<Key, (i64, i64)> = TableDefinition::new("busy_spans");
/// The first byte of every stored meeting.
const FORMAT_V1: u8 = 1;
/// The file name in the data directory.
const MEETINGS_FILE_NAME: &str = "meetings.redb";
/// Page cache of the meetings database (redb's default is 1 GiB).
const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// A stored meeting: its context and the fingerprint part of its version.
#[derive(Serialize, Deserialize)]
struct StoredMeeting {
    fingerprint: u64,
    context: MeetingContext,
}

impl StoredMeeting {
    fn version(&self) -> Version {
        Version {
            last_updated_micros: self.context.last_updated.timestamp_micros(),
            deleted: false,
            fingerprint: self.fingerprint,
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![FORMAT_V1];
        serde_json::to_writer(&mut bytes, self).expect("stored meetings serialize to JSON");
        bytes
    }

    fn decode(user_id: &str, key: &str, bytes: &[u8]) -> Result<Self, MeetingsError> {
        let corrupt = |reason: String| {
            MeetingsError::new(
                MeetingsErrorKind::Corrupt,
                format!("stored meeting `{key}` of user `{user_id}` is damaged: {reason}"),
            )
        };
        match bytes.split_first() {
            Some((&FORMAT_V1, json)) => {
                serde_json::from_slice(json).map_err(|err| corrupt(err.to_string()))
            }
            Some((format, _)) => Err(corrupt(format!("unknown format {format}"))),
            None => Err(corrupt("empty record".to_string())),
        }
    }
}

/// The embedded meeting store. Cloning is cheap; clones share one database.
#[derive(Clone)]
pub struct RedbMeetingStore {
    db: EmbeddedDatabase,
}

impl std::fmt::Debug for RedbMeetingStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbMeetingStore")
            .field("path", &self.path())
            .finish()
    }
}

impl RedbMeetingStore {
    /// Opens (or creates) `{data_dir}/meetings.redb`. Fails if another process holds it.
    pub fn open(data_dir: &Path) -> Result<Self, OpenDatabaseError> {
        let db = EmbeddedDatabase::open(data_dir, MEETINGS_FILE_NAME, CACHE_BYTES, |txn| {
            txn.open_table(MEETINGS)?;
            txn.open_table(TOMBSTONES)?;
            txn.open_table(BUSY_SPANS)?;
            Ok(())
        })?;
        Ok(RedbMeetingStore { db })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        self.db.path()
    }
}

/// The tables a batch of changes writes.
struct WriteTables<'txn> {
    meetings: Table<'txn, Key<'static>, &'static [u8]>,
    tombstones: Table<'txn, Key<'static>, i64>,
    spans: Table<'txn, Key<'static>, (i64, i64)>,
}

impl WriteTables<'_> {
    fn open(txn: &WriteTransaction) -> Result<WriteTables<'_>, MeetingsError> {
        Ok(WriteTables {
            meetings: txn.open_table(MEETINGS).map_err(write_failed)?,
            tombstones: txn.open_table(TOMBSTONES).map_err(write_failed)?,
            spans: txn.open_table(BUSY_SPANS).map_err(write_failed)?,
        })
    }

    /// The stored version of `(user, key)`: its record's, else its tombstone's.
    fn stored_version(&self, user_id: &str, key: &str) -> Result<Option<Version>, MeetingsError> {
        if let Some(bytes) = self.meetings.get((user_id, key)).map_err(read_failed)? {
            return StoredMeeting::decode(user_id, key, bytes.value()).map(|m| Some(m.version()));
        }
        Ok(self
            .tombstones
            .get((user_id, key))
            .map_err(read_failed)?
            .map(|micros| Version {
                last_updated_micros: micros.value(),
                deleted: true,
                fingerprint: 0,
            }))
    }

    fn apply(&mut self, change: MeetingChange) -> Result<Applied, MeetingsError> {
        match change {
            MeetingChange::Upsert(context) => {
                let (user_id, key) = (context.user_id.clone(), context.storage_key());
                let incoming = Version::of_context(&context);
                let applied = verdict(self.stored_version(&user_id, &key)?, incoming);
                if applied != Applied::Stored {
                    return Ok(applied);
                }
                let span = span_of(&context);
                let stored = StoredMeeting {
                    fingerprint: incoming.fingerprint,
                    context: *context,
                };
                let row = (user_id.as_str(), key.as_str());
                self.meetings
                    .insert(row, stored.encode().as_slice())
                    .map_err(write_failed)?;
                self.tombstones.remove(row).map_err(write_failed)?;
                match span {
                    Some(span) => self.spans.insert(row, span).map(drop),
                    None => self.spans.remove(row).map(drop),
                }
                .map_err(write_failed)?;
                Ok(Applied::Stored)
            }
            MeetingChange::Delete {
                user_id,
                source,
                item_id,
                last_updated,
            } => {
                let key = storage_key(source, &item_id);
                let incoming = Version::of_delete(last_updated);
                let applied = verdict(self.stored_version(&user_id, &key)?, incoming);
                if applied != Applied::Deleted {
                    return Ok(applied);
                }
                let row = (user_id.as_str(), key.as_str());
                self.meetings.remove(row).map_err(write_failed)?;
                self.spans.remove(row).map_err(write_failed)?;
                self.tombstones
                    .insert(row, incoming.last_updated_micros)
                    .map_err(write_failed)?;
                Ok(Applied::Deleted)
            }
        }
    }
}

/// Reads the meetings of `user_id` whose storage keys are in `[start_key, end_key)`.
fn read_range(
    table: &impl ReadableTable<Key<'static>, &'static [u8]>,
    user_id: &str,
    start_key: &str,
    end_key: Option<&str>,
    into: &mut BTreeMap<String, MeetingContext>,
) -> Result<(), MeetingsError> {
    for row in table.range((user_id, start_key)..).map_err(read_failed)? {
        let (key, value) = row.map_err(read_failed)?;
        let (row_user, row_key) = key.value();
        if row_user != user_id || end_key.is_some_and(|end| row_key >= end) {
            break;
        }
        let stored = StoredMeeting::decode(user_id, row_key, value.value())?;
        into.insert(row_key.to_string(), stored.context);
    }
    Ok(())
}

#[async_trait]
impl MeetingStore for RedbMeetingStore {
    async fn apply(&self, changes: Vec<MeetingChange>) -> Result<Vec<Applied>, MeetingsError> {
        if changes.is_empty() {
            return Ok(Vec::new());
        }
        self.db
            .run(move |db| {
                let mut txn = db
                    .begin_write()
                    .map_err(unavailable("failed to write meetings"))?;
                txn.set_durability(Durability::Immediate)
                    .map_err(unavailable("failed to write meetings"))?;
                let applied = {
                    let mut tables = WriteTables::open(&txn)?;
                    changes
                        .into_iter()
                        .map(|change| tables.apply(change))
                        .collect::<Result<Vec<_>, _>>()?
                };
                txn.commit()
                    .map_err(unavailable("failed to commit meetings"))?;
                Ok(applied)
            })
            .await
    }

    async fn get(
        &self,
        user_id: &str,
        source: MeetingSource,
        item_id: &str,
    ) -> Result<Option<MeetingContext>, MeetingsError> {
        let (user_id, key) = (user_id.to_string(), storage_key(source, item_id));
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let table = txn.open_table(MEETINGS).map_err(read_failed)?;
                let Some(bytes) = table
                    .get((user_id.as_str(), key.as_str()))
                    .map_err(read_failed)?
                else {
                    return Ok(None);
                };
                StoredMeeting::decode(&user_id, &key, bytes.value())
                    .map(|stored| Some(stored.context))
            })
            .await
    }

    async fn user_meetings(&self, user_id: &str) -> Result<Vec<MeetingContext>, MeetingsError> {
        let user_id = user_id.to_string();
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let table = txn.open_table(MEETINGS).map_err(read_failed)?;
                let mut meetings = BTreeMap::new();
                read_range(&table, &user_id, "", None, &mut meetings)?;
                Ok(meetings.into_values().collect())
            })
            .await
    }

    async fn meetings_in_window(
        &self,
        user_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<MeetingContext>, MeetingsError> {
        let user_id = user_id.to_string();
        let (from_secs, to_secs) = (from.timestamp(), to.timestamp());
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let spans = txn.open_table(BUSY_SPANS).map_err(read_failed)?;
                let meetings = txn.open_table(MEETINGS).map_err(read_failed)?;
                // The busy index says which meetings may touch the window.
                let mut wanted = Vec::new();
                for row in spans.range((user_id.as_str(), "")..).map_err(read_failed)? {
                    let (key, span) = row.map_err(read_failed)?;
                    let (row_user, row_key) = key.value();
                    if row_user != user_id {
                        break;
                    }
                    let (start, end) = span.value();
                    // Seconds are truncated, so the bounds are inclusive; availability clips.
                    if start <= to_secs && end >= from_secs {
                        wanted.push((row_key.to_string(), end == i64::MAX));
                    }
                }
                let mut found = BTreeMap::new();
                for (key, recurring) in wanted {
                    if let Some(bytes) = meetings
                        .get((user_id.as_str(), key.as_str()))
                        .map_err(read_failed)?
                    {
                        let stored = StoredMeeting::decode(&user_id, &key, bytes.value())?;
                        found.insert(key.clone(), stored.context);
                    }
                    if recurring {
                        // Overridden occurrences `{key}#{recurrence id}` follow their series.
                        let (first, after) = (format!("{key}#"), format!("{key}$"));
                        read_range(&meetings, &user_id, &first, Some(&after), &mut found)?;
                    }
                }
                Ok(found.into_values().collect())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MeetingStatus;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("test times parse")
    }

    fn meeting(user: &str, id: &str, start: &str, end: &str, updated: &str) -> MeetingContext {
        let (series_id, recurrence_id) = match id.split_once('#') {
            Some((series, rid)) => (series.to_string(), Some(rid.to_string())),
            None => (id.to_string(), None),
        };
        MeetingContext {
            user_id: user.into(),
            source: MeetingSource::Calendar,
            item_id: id.into(),
            series_id,
            recurrence_id,
            title: id.into(),
            organizer: None,
            attendees: Vec::new(),
            start: Some(utc(start)),
            end: Some(utc(end)),
            all_day: false,
            time_zone: None,
            location: None,
            online_meeting: None,
            recurrence: None,
            more_recurrences: Vec::new(),
            excluded_dates: Vec::new(),
            added_occurrences: Vec::new(),
            this_and_future: false,
            time_zone_definition: None,
            status: MeetingStatus::Confirmed,
            last_updated: utc(updated),
            provider: "test".into(),
        }
    }

    #[tokio::test]
    async fn window_reads_use_the_busy_index() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let store = RedbMeetingStore::open(dir.path())?;
        let t0 = "2024-01-01T00:00:00Z";
        let mut series = meeting(
            "alice",
            "s",
            "2023-01-02T09:00:00Z",
            "2023-01-02T10:00:00Z",
            t0,
        );
        series.recurrence = Some("FREQ=WEEKLY".into());
        let mut moved = meeting(
            "alice",
            "s#20230109T090000Z",
            "2030-01-01T09:00:00Z",
            "2030-01-01T10:00:00Z",
            t0,
        );
        moved.status = MeetingStatus::Cancelled;
        let changes = vec![
            MeetingChange::Upsert(Box::new(series)),
            MeetingChange::Upsert(Box::new(moved)),
            MeetingChange::Upsert(Box::new(meeting(
                "alice",
                "in",
                "2024-05-01T09:00:00Z",
                "2024-05-01T10:00:00Z",
                t0,
            ))),
            MeetingChange::Upsert(Box::new(meeting(
                "alice",
                "out",
                "2024-06-01T09:00:00Z",
                "2024-06-01T10:00:00Z",
                t0,
            ))),
            MeetingChange::Upsert(Box::new(meeting(
                "bob",
                "in-bob",
                "2024-05-01T09:00:00Z",
                "2024-05-01T10:00:00Z",
                t0,
            ))),
            MeetingChange::Upsert(Box::new(meeting(
                "alicia",
                "in-alicia",
                "2024-05-01T09:00:00Z",
                "2024-05-01T10:00:00Z",
                t0,
            ))),
        ];
        assert_eq!(store.apply(changes).await?, vec![Applied::Stored; 6]);
        let found = store
            .meetings_in_window(
                "alice",
                utc("2024-05-01T00:00:00Z"),
                utc("2024-05-02T00:00:00Z"),
            )
            .await?;
        let ids: Vec<&str> = found.iter().map(|m| m.item_id.as_str()).collect();
        assert_eq!(ids, ["in", "s", "s#20230109T090000Z"]);
        assert_eq!(store.user_meetings("alice").await?.len(), 4);
        assert_eq!(store.user_meetings("bob").await?.len(), 1);
        Ok(())
    }

    #[tokio::test]
    async fn tombstones_keep_older_versions_out_across_reopen() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let created = meeting(
            "alice",
            "m",
            "2024-05-01T09:00:00Z",
            "2024-05-01T10:00:00Z",
            "2024-01-01T00:00:00Z",
        );
        let delete = MeetingChange::Delete {
            user_id: "alice".into(),
            source: MeetingSource::Calendar,
            item_id: "m".into(),
            last_updated: utc("2024-02-01T00:00:00Z"),
        };
        {
            let store = RedbMeetingStore::open(dir.path())?;
            assert_eq!(
                store
                    .apply(vec![
                        MeetingChange::Upsert(Box::new(created.clone())),
                        delete.clone()
                    ])
                    .await?,
                [Applied::Stored, Applied::Deleted]
            );
        }
        let store = RedbMeetingStore::open(dir.path())?;
        assert_eq!(
            store
                .apply(vec![MeetingChange::Upsert(Box::new(created)), delete])
                .await?,
            [Applied::Stale, Applied::Unchanged]
        );
        assert_eq!(
            store.get("alice", MeetingSource::Calendar, "m").await?,
            None
        );
        let second = RedbMeetingStore::open(dir.path()).unwrap_err();
        assert!(second.is_in_use(), "{second}");
        Ok(())
    }
}
