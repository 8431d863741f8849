//! Expands a recurring meeting into its occurrences within a window, in the meeting's own
//! time zone, so that a weekly 09:00 Europe/Berlin meeting stays at 09:00 local time
//! across daylight-saving changes.
//!
//! The rule engine is calcard's (already in the workspace for the ics importer; its
//! `datecalc` is a port of the `rrule` crate): the meeting is written back as a one-event
//! iCalendar with `DTSTART;TZID=…` in local time, and `ICalendar::expand_dates` evaluates
//! it. A daily or weekly rule without `COUNT` first has its `DTSTART` moved forward by
//! whole periods to just before the window, which keeps the same occurrences but saves
//! walking years of history; every expansion stops after [`MAX_OCCURRENCES`].
//!
//! Time zones resolve like calcard resolves a `TZID` (IANA, Windows and other well-known
//! names); a zone nobody can resolve is taken as UTC.

use std::str::FromStr;

use calcard::common::timezone::Tz;
use calcard::icalendar::dates::TimeOrDelta;
use calcard::icalendar::{ICalendar, ICalendarProperty, ICalendarValue};
use chrono::{DateTime, Days, NaiveDateTime, TimeDelta, Utc};

use switchyard_contracts::TimeSlot;

use crate::{MeetingContext, MeetingsError};

/// At most this many occurrences are produced by one expansion.
pub(crate) const MAX_OCCURRENCES: usize = 20_000;

/// One occurrence of a recurring meeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Occurrence {
    /// Start, in UTC.
    pub(crate) start: DateTime<Utc>,
    /// End, in UTC.
    pub(crate) end: DateTime<Utc>,
    /// The start in the series' local time, which a `RECURRENCE-ID` names.
    pub(crate) local_start: NaiveDateTime,
}

impl Occurrence {
    /// Whether an overridden occurrence's `RECURRENCE-ID` names this occurrence.
    pub(crate) fn is_named_by(&self, recurrence_id: &str) -> bool {
        let date = self.local_start.format("%Y%m%d").to_string();
        match recurrence_id.split_once('T') {
            None => recurrence_id == date,
            Some(_) if recurrence_id.ends_with('Z') => {
                recurrence_id == self.start.format("%Y%m%dT%H%M%SZ").to_string()
            }
            Some(_) => {
                recurrence_id.get(..15)
                    == Some(
                        self.local_start
                            .format("%Y%m%dT%H%M%S")
                            .to_string()
                            .as_str(),
                    )
            }
        }
    }
}

/// Resolves a time-zone name the way calcard resolves a `TZID`.
pub(crate) fn resolve_time_zone(name: &str) -> Option<Tz> {
    Tz::from_str(name.trim())
        .ok()
        .filter(|tz| !tz.is_floating())
}

/// The occurrences of the recurring `meeting` that overlap `[from, to)`, sorted by start,
/// or why its rule cannot be evaluated.
pub(crate) fn expand(
    meeting: &MeetingContext,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, String> {
    let rule = meeting
        .recurrence
        .as_deref()
        .ok_or("the meeting does not repeat")?;
    let rule = rule.trim();
    let rule = rule
        .strip_prefix("RRULE:")
        .or_else(|| rule.strip_prefix("rrule:"))
        .unwrap_or(rule);
    if rule.is_empty() || rule.contains(['\r', '\n']) {
        return Err(format!("unreadable RRULE `{rule}`"));
    }
    let start = meeting.start.ok_or("the meeting has no start")?;
    let end = meeting.end.unwrap_or(start).max(start);
    let duration = end - start;

    // All-day meetings repeat on dates; others in their zone's local time.
    let zone = if meeting.all_day {
        None
    } else {
        meeting
            .time_zone
            .as_deref()
            .and_then(resolve_time_zone)
            .filter(|tz| matches!(tz, Tz::Tz(_)) && !tz.is_utc())
    };
    let local_start = match &zone {
        Some(tz) => start.with_timezone(tz).naive_local(),
        None => start.naive_utc(),
    };
    let local_start = fast_forward(rule, local_start, from, duration);
    let local_end = local_start + duration;

    let property = |name: &str, local: NaiveDateTime| match (&zone, meeting.all_day) {
        (_, true) => format!("{name};VALUE=DATE:{}", local.format("%Y%m%d")),
        (Some(tz), false) => format!(
            "{name};TZID={}:{}",
            tz.name().unwrap_or_default(),
            local.format("%Y%m%dT%H%M%S")
        ),
        (None, false) => format!("{name}:{}", local.format("%Y%m%dT%H%M%SZ")),
    };
    let calendar_text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:expand\r\n{}\r\n{}\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        property("DTSTART", local_start),
        property("DTEND", local_end),
    );
    let calendar = ICalendar::parse(&calendar_text)
        .map_err(|entry| format!("unreadable RRULE `{rule}`: {entry:?}"))?;
    let rule_parsed = calendar
        .components
        .iter()
        .filter_map(|component| component.property(&ICalendarProperty::Rrule))
        .any(|entry| {
            matches!(
                entry.values.first(),
                Some(ICalendarValue::RecurrenceRule(_))
            )
        });
    if !rule_parsed {
        return Err(format!("unreadable RRULE `{rule}`"));
    }
    let expansion = calendar.expand_dates(Tz::UTC, MAX_OCCURRENCES);
    if let Some(error) = expansion.errors.first() {
        return Err(format!("invalid RRULE `{rule}`: {:?}", error.error));
    }
    let mut occurrences: Vec<Occurrence> = expansion
        .events
        .into_iter()
        .filter_map(|event| {
            let occurrence_start = event.start.with_timezone(&Utc);
            let occurrence_end = match event.end {
                TimeOrDelta::Time(end) => end.with_timezone(&Utc),
                TimeOrDelta::Delta(delta) => occurrence_start + delta,
            };
            let overlaps = occurrence_start < to
                && (occurrence_end > from || (occurrence_start >= from && duration.is_zero()));
            overlaps.then(|| Occurrence {
                start: occurrence_start,
                end: occurrence_end.max(occurrence_start),
                local_start: event.start.naive_local(),
            })
        })
        .collect();
    occurrences.sort_by_key(|occurrence| occurrence.start);
    occurrences.dedup();
    Ok(occurrences)
}

impl MeetingContext {
    /// The start and end of each occurrence of this meeting that overlaps `[from, to)`,
    /// in UTC: the expanded series for a recurring meeting, else the meeting itself.
    /// Fails with [`MeetingsErrorKind::InvalidInput`](crate::MeetingsErrorKind) when
    /// its `RRULE` cannot be evaluated.
    pub fn occurrences(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<TimeSlot>, MeetingsError> {
        let Some(start) = self.start else {
            return Ok(Vec::new());
        };
        if self.is_recurring() {
            return expand(self, from, to)
                .map(|occurrences| {
                    occurrences
                        .into_iter()
                        .map(|occurrence| TimeSlot {
                            start: occurrence.start,
                            end: occurrence.end,
                        })
                        .collect()
                })
                .map_err(|reason| {
                    MeetingsError::invalid(format!(
                        "failed to expand meeting `{}`: {reason}",
                        self.item_id
                    ))
                });
        }
        let end = self.end.unwrap_or(start).max(start);
        let overlaps = start < to && (end > from || (start == end && start >= from));
        Ok(if overlaps {
            vec![TimeSlot { start, end }]
        } else {
            Vec::new()
        })
    }
}

/// Moves the local start of a daily or weekly rule without `COUNT` forward by whole
/// periods to just before `from` (one day of slack for zone offsets), which leaves every
/// occurrence from there on unchanged.
fn fast_forward(
    rule: &str,
    local_start: NaiveDateTime,
    from: DateTime<Utc>,
    duration: TimeDelta,
) -> NaiveDateTime {
    let mut frequency = None;
    let mut interval: u64 = 1;
    for part in rule.split(';') {
        let Some((name, value)) = part.split_once('=') else {
            continue;
        };
        match name.trim().to_ascii_uppercase().as_str() {
            "FREQ" => frequency = Some(value.trim().to_ascii_uppercase()),
            "INTERVAL" => interval = value.trim().parse().unwrap_or(1).max(1),
            // Counting starts at DTSTART, so a counted rule cannot move it.
            "COUNT" => return local_start,
            _ => {}
        }
    }
    let period_days = match frequency.as_deref() {
        Some("DAILY") => interval,
        Some("WEEKLY") => interval.saturating_mul(7),
        _ => return local_start,
    };
    let target = from.naive_utc() - duration - TimeDelta::days(1);
    if target <= local_start {
        return local_start;
    }
    let behind_days = u64::try_from((target - local_start).num_days()).unwrap_or(0);
    let skip_days = behind_days / period_days * period_days;
    local_start
        .checked_add_days(Days::new(skip_days))
        .unwrap_or(local_start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MeetingSource, MeetingStatus};

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("test times parse")
    }

    fn series(start: &str, end: &str, zone: Option<&str>, rule: &str) -> MeetingContext {
        MeetingContext {
            user_id: "alice".into(),
            source: MeetingSource::Calendar,
            item_id: "s".into(),
            series_id: "s".into(),
            recurrence_id: None,
            title: "Series".into(),
            organizer: None,
            attendees: Vec::new(),
            start: Some(utc(start)),
            end: Some(utc(end)),
            all_day: false,
            time_zone: zone.map(str::to_string),
            location: None,
            online_meeting: None,
            recurrence: Some(rule.into()),
            status: MeetingStatus::Confirmed,
            last_updated: utc("2024-01-01T00:00:00Z"),
            provider: "ics".into(),
        }
    }

    /// Expands `meeting` over `[from, to)` and compares the occurrences' UTC starts.
    fn check(meeting: &MeetingContext, from: &str, to: &str, expected_starts: &[&str]) {
        let occurrences = expand(meeting, utc(from), utc(to)).expect("rule expands");
        let starts: Vec<String> = occurrences
            .iter()
            .map(|occurrence| occurrence.start.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect();
        assert_eq!(starts, expected_starts, "{:?}", meeting.recurrence);
    }

    #[test]
    fn weekly_local_time_survives_daylight_saving() {
        // Monday 09:00 Berlin: 08:00Z in winter, 07:00Z after 2024-03-31.
        let weekly = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T08:30:00Z",
            Some("Europe/Berlin"),
            "FREQ=WEEKLY;BYDAY=MO",
        );
        check(
            &weekly,
            "2024-03-18T00:00:00Z",
            "2024-04-09T00:00:00Z",
            &[
                "2024-03-18T08:00:00Z",
                "2024-03-25T08:00:00Z",
                "2024-04-01T07:00:00Z",
                "2024-04-08T07:00:00Z",
            ],
        );
        // Without a zone, the rule repeats in UTC.
        let floating = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T08:30:00Z",
            None,
            "FREQ=WEEKLY;BYDAY=MO",
        );
        check(
            &floating,
            "2024-03-25T00:00:00Z",
            "2024-04-02T00:00:00Z",
            &["2024-03-25T08:00:00Z", "2024-04-01T08:00:00Z"],
        );
    }

    #[test]
    fn counted_and_bounded_rules_end() {
        let counted = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T09:00:00Z",
            Some("Europe/Berlin"),
            "FREQ=DAILY;COUNT=3",
        );
        check(
            &counted,
            "2023-12-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
            &[
                "2024-01-01T08:00:00Z",
                "2024-01-02T08:00:00Z",
                "2024-01-03T08:00:00Z",
            ],
        );
        let until = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T09:00:00Z",
            Some("Europe/Berlin"),
            "FREQ=WEEKLY;INTERVAL=2;UNTIL=20240201T000000Z",
        );
        check(
            &until,
            "2023-12-01T00:00:00Z",
            "2024-03-01T00:00:00Z",
            &[
                "2024-01-01T08:00:00Z",
                "2024-01-15T08:00:00Z",
                "2024-01-29T08:00:00Z",
            ],
        );
    }

    #[test]
    fn old_daily_series_are_fast_forwarded_without_shifting() {
        // A series started ten years ago still lands on its weekdays and interval.
        let old = series(
            "2014-01-06T08:00:00Z",
            "2014-01-06T08:15:00Z",
            Some("Europe/Berlin"),
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE",
        );
        let occurrences = expand(
            &old,
            utc("2024-07-01T00:00:00Z"),
            utc("2024-07-15T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(occurrences.len(), 2, "{occurrences:?}");
        for occurrence in &occurrences {
            assert_eq!(occurrence.local_start.format("%H:%M").to_string(), "09:00");
            assert_eq!(occurrence.start.format("%H:%M").to_string(), "07:00");
        }
        // 2024-07-01 is 547 weeks after 2014-01-06, an "off" week of the interval.
        assert_eq!(occurrences[0].start, utc("2024-07-08T07:00:00Z"));
        assert_eq!(occurrences[1].start, utc("2024-07-10T07:00:00Z"));
    }

    #[test]
    fn recurrence_ids_name_occurrences() {
        let occurrence = Occurrence {
            start: utc("2024-01-08T09:00:00Z"),
            end: utc("2024-01-08T10:00:00Z"),
            local_start: "2024-01-08T10:00:00".parse().unwrap(),
        };
        assert!(occurrence.is_named_by("20240108T100000"));
        assert!(occurrence.is_named_by("20240108T090000Z"));
        assert!(occurrence.is_named_by("20240108"));
        assert!(!occurrence.is_named_by("20240108T090000"));
        assert!(!occurrence.is_named_by("20240109"));
    }

    #[test]
    fn bad_rules_are_reported() {
        let bad = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T09:00:00Z",
            None,
            "FREQ=SOMETIMES",
        );
        assert!(
            expand(
                &bad,
                utc("2024-01-01T00:00:00Z"),
                utc("2024-02-01T00:00:00Z")
            )
            .is_err()
        );
    }
}
