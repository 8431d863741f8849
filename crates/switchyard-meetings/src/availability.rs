//! Availability: the busy blocks of a user's meetings within a window (recurring meetings
//! expanded, overridden occurrences in place of the ones they replace, overlaps merged)
//! and the free slots between them, optionally only within working hours and only when
//! long enough. Times are UTC in and out.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveTime, TimeDelta, Utc, Weekday};
use serde::{Deserialize, Serialize};

use switchyard_timezone::Zone;

use crate::recurrence;
use crate::{MeetingContext, MeetingStore, MeetingsError};

/// A `[start, end)` stretch of time in UTC.
type Interval = (DateTime<Utc>, DateTime<Utc>);

/// The longest window one availability query may span.
pub const MAX_AVAILABILITY_WINDOW_DAYS: i64 = 366;

/// How to compute availability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AvailabilityOptions {
    /// Only report free slots within these hours; `None` (the default) reports every gap.
    pub working_hours: Option<WorkingHours>,
    /// Free slots shorter than this are left out (default 0: every gap).
    pub min_slot_minutes: u32,
    /// Count all-day meetings as busy (default false: without a "show as" field in the
    /// contract, all-day items are mostly holidays, birthdays and reminders).
    pub all_day_busy: bool,
}

/// The hours of the week a user can meet, in their local time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkingHours {
    /// IANA (or Windows) time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// The working days.
    pub days: Vec<Weekday>,
    /// Start of the working day, local time.
    pub start: NaiveTime,
    /// End of the working day, local time; after `start`.
    pub end: NaiveTime,
}

impl WorkingHours {
    /// Monday to Friday, 09:00 to 17:00 in `time_zone`.
    pub fn office_week(time_zone: impl Into<String>) -> Self {
        WorkingHours {
            time_zone: time_zone.into(),
            days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            start: NaiveTime::from_hms_opt(9, 0, 0).expect("09:00 is a time"),
            end: NaiveTime::from_hms_opt(17, 0, 0).expect("17:00 is a time"),
        }
    }

    /// The working intervals (UTC) of the local days that can touch `[from, to)`.
    fn intervals(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Interval>, MeetingsError> {
        let zone = Zone::named(&self.time_zone).ok_or_else(|| {
            MeetingsError::invalid(format!(
                "invalid working hours: unknown time zone `{}`",
                self.time_zone
            ))
        })?;
        if self.start >= self.end {
            return Err(MeetingsError::invalid(format!(
                "invalid working hours: start {} is not before end {}",
                self.start, self.end
            )));
        }
        let mut intervals = Vec::new();
        let first_day = zone.to_local(from).date() - Days::new(1);
        let last_day = zone.to_local(to).date() + Days::new(1);
        for day in first_day.iter_days().take_while(|day| *day <= last_day) {
            if !self.days.contains(&chrono::Datelike::weekday(&day)) {
                continue;
            }
            let start = zone.to_utc(day.and_time(self.start));
            let end = zone.to_utc(day.and_time(self.end));
            let (start, end) = (start.max(from), end.min(to));
            if start < end {
                intervals.push((start, end));
            }
        }
        Ok(intervals)
    }
}

/// When a user is busy and free within a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Availability {
    /// Busy blocks, sorted, not overlapping, clipped to the window.
    pub busy: Vec<BusyBlock>,
    /// Free slots between them, sorted.
    pub free: Vec<FreeSlot>,
}

/// A stretch of time taken by one or more meetings (overlapping or touching meetings
/// are one block).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusyBlock {
    /// Start, in UTC.
    pub start: DateTime<Utc>,
    /// End, in UTC.
    pub end: DateTime<Utc>,
    /// The item ids of the meetings in the block, each once, in order of start.
    pub item_ids: Vec<String>,
}

/// A stretch of free time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreeSlot {
    /// Start, in UTC.
    pub start: DateTime<Utc>,
    /// End, in UTC.
    pub end: DateTime<Utc>,
}

/// The availability of `user_id` in `[from, to)`, from the meetings `store` holds.
pub async fn availability(
    store: &dyn MeetingStore,
    user_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    options: &AvailabilityOptions,
) -> Result<Availability, MeetingsError> {
    check_window(from, to)?;
    let meetings = store.meetings_in_window(user_id, from, to).await?;
    let options = Arc::new(options.clone());
    // Expanding many recurring series is CPU work; keep it off the async workers.
    tokio::task::spawn_blocking(move || compute_availability(&meetings, from, to, &options))
        .await
        .map_err(crate::error::unavailable("availability task failed"))?
}

fn check_window(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), MeetingsError> {
    if from >= to {
        return Err(MeetingsError::invalid(format!(
            "invalid availability window: {from} is not before {to}"
        )));
    }
    if to - from > TimeDelta::days(MAX_AVAILABILITY_WINDOW_DAYS) {
        return Err(MeetingsError::invalid(format!(
            "invalid availability window: longer than {MAX_AVAILABILITY_WINDOW_DAYS} days"
        )));
    }
    Ok(())
}

/// The availability in `[from, to)` given a user's meetings: every busy meeting
/// overlapping the window (recurring series expanded, minus the occurrences their
/// overridden occurrences replace), merged, and the gaps as free slots.
pub fn compute_availability(
    meetings: &[MeetingContext],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    options: &AvailabilityOptions,
) -> Result<Availability, MeetingsError> {
    check_window(from, to)?;
    let working = options
        .working_hours
        .as_ref()
        .map(|hours| hours.intervals(from, to))
        .transpose()?;

    // Overridden occurrences replace the series occurrences they name, busy or not.
    let mut overrides: HashMap<(crate::MeetingSource, &str), Vec<&MeetingContext>> = HashMap::new();
    for meeting in meetings {
        if meeting.recurrence_id.is_some() {
            overrides
                .entry((meeting.source, meeting.series_id.as_str()))
                .or_default()
                .push(meeting);
        }
    }

    let mut spans: Vec<(DateTime<Utc>, DateTime<Utc>, &str)> = Vec::new();
    for meeting in meetings {
        if !meeting.is_busy() || (meeting.all_day && !options.all_day_busy) {
            continue;
        }
        let Some(start) = meeting.start else { continue };
        let end = meeting.end.unwrap_or(start);
        if meeting.is_recurring() {
            let replacements = overrides
                .get(&(meeting.source, meeting.series_id.as_str()))
                .map(Vec::as_slice)
                .unwrap_or_default();
            match recurrence::series_occurrences(meeting, replacements, from, to) {
                Ok(occurrences) => {
                    spans.extend(occurrences.into_iter().map(|occurrence| {
                        (occurrence.start, occurrence.end, meeting.item_id.as_str())
                    }));
                    continue;
                }
                Err(reason) => {
                    tracing::warn!(
                        item_id = %meeting.item_id,
                        reason = %reason,
                        "recurrence not expanded, counting the first occurrence only"
                    );
                }
            }
        }
        spans.push((start, end, meeting.item_id.as_str()));
    }

    let busy = merge(spans, from, to);
    let min_slot = TimeDelta::minutes(i64::from(options.min_slot_minutes));
    let free = gaps(&busy, from, to)
        .into_iter()
        .flat_map(|gap| match &working {
            None => vec![gap],
            Some(intervals) => intervals
                .iter()
                .filter_map(|(start, end)| {
                    let slot = FreeSlot {
                        start: gap.start.max(*start),
                        end: gap.end.min(*end),
                    };
                    (slot.start < slot.end).then_some(slot)
                })
                .collect(),
        })
        .filter(|slot| slot.end - slot.start >= min_slot && slot.start < slot.end)
        .collect();
    Ok(Availability { busy, free })
}

/// Clips spans to `[from, to)`, drops empty ones, and merges overlapping or touching
/// spans into blocks.
fn merge(
    mut spans: Vec<(DateTime<Utc>, DateTime<Utc>, &str)>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<BusyBlock> {
    spans.sort();
    let mut blocks: Vec<BusyBlock> = Vec::new();
    for (start, end, item_id) in spans {
        let (start, end) = (start.max(from), end.min(to));
        if start >= end {
            continue;
        }
        match blocks.last_mut() {
            Some(block) if start <= block.end => {
                block.end = block.end.max(end);
                if !block.item_ids.iter().any(|id| id == item_id) {
                    block.item_ids.push(item_id.to_string());
                }
            }
            _ => blocks.push(BusyBlock {
                start,
                end,
                item_ids: vec![item_id.to_string()],
            }),
        }
    }
    blocks
}

/// The gaps of `[from, to)` between sorted, disjoint blocks.
fn gaps(busy: &[BusyBlock], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<FreeSlot> {
    let mut free = Vec::new();
    let mut cursor = from;
    for block in busy {
        if block.start > cursor {
            free.push(FreeSlot {
                start: cursor,
                end: block.start,
            });
        }
        cursor = cursor.max(block.end);
    }
    if cursor < to {
        free.push(FreeSlot {
            start: cursor,
            end: to,
        });
    }
    free
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("test times parse")
    }

    fn span(
        start: &str,
        end: &str,
        id: &'static str,
    ) -> (DateTime<Utc>, DateTime<Utc>, &'static str) {
        (utc(start), utc(end), id)
    }

    #[test]
    fn merges_overlapping_and_touching_spans() {
        let blocks = merge(
            vec![
                span("2024-01-01T10:30:00Z", "2024-01-01T11:30:00Z", "b"),
                span("2024-01-01T10:00:00Z", "2024-01-01T11:00:00Z", "a"),
                span("2024-01-01T11:30:00Z", "2024-01-01T12:00:00Z", "c"),
                span("2024-01-01T13:00:00Z", "2024-01-01T13:00:00Z", "empty"),
                span("2024-01-01T14:00:00Z", "2024-01-01T15:00:00Z", "d"),
                span("2024-01-01T14:15:00Z", "2024-01-01T14:45:00Z", "d"),
                span("2024-01-01T23:00:00Z", "2024-01-02T01:00:00Z", "late"),
            ],
            utc("2024-01-01T00:00:00Z"),
            utc("2024-01-02T00:00:00Z"),
        );
        let summary: Vec<(String, String, Vec<String>)> = blocks
            .iter()
            .map(|block| {
                (
                    block.start.format("%H:%M").to_string(),
                    block.end.format("%H:%M").to_string(),
                    block.item_ids.clone(),
                )
            })
            .collect();
        let expected = [
            ("10:00", "12:00", vec!["a", "b", "c"]),
            ("14:00", "15:00", vec!["d"]),
            ("23:00", "00:00", vec!["late"]),
        ];
        assert_eq!(summary.len(), expected.len(), "{summary:?}");
        for (got, want) in summary.iter().zip(expected) {
            assert_eq!((got.0.as_str(), got.1.as_str()), (want.0, want.1));
            assert_eq!(got.2, want.2);
        }
        let free = gaps(
            &blocks,
            utc("2024-01-01T00:00:00Z"),
            utc("2024-01-02T00:00:00Z"),
        );
        assert_eq!(
            free,
            vec![
                FreeSlot {
                    start: utc("2024-01-01T00:00:00Z"),
                    end: utc("2024-01-01T10:00:00Z"),
                },
                FreeSlot {
                    start: utc("2024-01-01T12:00:00Z"),
                    end: utc("2024-01-01T14:00:00Z"),
                },
                FreeSlot {
                    start: utc("2024-01-01T15:00:00Z"),
                    end: utc("2024-01-01T23:00:00Z"),
                },
            ]
        );
    }

    #[test]
    fn working_hours_follow_local_time() {
        let hours = WorkingHours::office_week("Europe/Berlin");
        // Fri 2024-03-29 (CET) and Mon 2024-04-01 (CEST); the weekend is skipped.
        let intervals = hours
            .intervals(utc("2024-03-29T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
            .unwrap();
        assert_eq!(
            intervals,
            vec![
                (utc("2024-03-29T08:00:00Z"), utc("2024-03-29T16:00:00Z")),
                (utc("2024-04-01T07:00:00Z"), utc("2024-04-01T15:00:00Z")),
            ]
        );
        let unknown = WorkingHours::office_week("Mars/Olympus_Mons");
        let err = unknown
            .intervals(utc("2024-03-29T00:00:00Z"), utc("2024-04-02T00:00:00Z"))
            .unwrap_err();
        assert_eq!(err.kind(), crate::MeetingsErrorKind::InvalidInput);
        assert!(
            err.to_string().starts_with("invalid working hours"),
            "{err}"
        );
    }

    #[test]
    fn windows_are_checked() {
        let at = utc("2024-01-01T00:00:00Z");
        assert!(compute_availability(&[], at, at, &AvailabilityOptions::default()).is_err());
        assert!(
            compute_availability(&[], at, at + TimeDelta::days(400), &Default::default()).is_err()
        );
        let empty =
            compute_availability(&[], at, at + TimeDelta::hours(1), &Default::default()).unwrap();
        assert_eq!(
            empty.free,
            vec![FreeSlot {
                start: at,
                end: at + TimeDelta::hours(1)
            }]
        );
    }
}
