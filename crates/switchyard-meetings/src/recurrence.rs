//! Expands a recurring meeting into its occurrences within a window, in the meeting's own
//! time zone, so that a weekly 09:00 Europe/Berlin meeting stays at 09:00 local time
//! across daylight-saving changes.
//!
//! The occurrences of a series are those of each of its `RRULE`s plus its added dates
//! (`RDATE`), minus its excluded dates (`EXDATE`), as RFC 5545 gathers them. The rule
//! engine is calcard's (already in the workspace for the ics importer; its `datecalc` is
//! a port of the `rrule` crate): each rule is written back as a one-event iCalendar with
//! a floating `DTSTART` in the series' local time, `ICalendar::expand_dates` evaluates it,
//! and each local occurrence is converted to UTC through the series' zone, which may be
//! one the calendar file defined itself ([`switchyard_timezone::Zone`]). An `UNTIL` in
//! UTC is first converted to that local time, as calcard compares it with floating
//! times as written. A daily or weekly rule without `COUNT` first has its `DTSTART`
//! moved forward by whole periods to just before the window, which keeps the same
//! occurrences but saves walking years of history; a rule whose `UNTIL` ends before the
//! window yields nothing; every expansion stops after [`MAX_OCCURRENCES`].
//!
//! [`series_occurrences`] then puts overridden occurrences in place: each replaces the
//! occurrence its `RECURRENCE-ID` names, and one with `RANGE=THISANDFUTURE` also moves
//! (or, when it takes no time, removes) every later occurrence.

use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarProperty, ICalendarValue};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, Utc};

use switchyard_contracts::TimeSlot;
use switchyard_timezone::Zone;

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
    /// Whether an overridden occurrence's `RECURRENCE-ID` (or an excluded date) names
    /// this occurrence.
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

    fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.start < to && (self.end > from || (self.start >= from && self.start == self.end))
    }
}

/// The local time a series repeats in: its zone's wall clock, or UTC for all-day series,
/// floating times and zones nobody can resolve.
struct SeriesClock {
    zone: Option<Zone>,
}

impl SeriesClock {
    fn of(meeting: &MeetingContext) -> Self {
        let zone = if meeting.all_day {
            None
        } else {
            meeting.time_zone.as_deref().and_then(|name| {
                meeting
                    .time_zone_definition
                    .as_deref()
                    .and_then(|definition| Zone::defined(name, definition))
                    .or_else(|| Zone::named(name))
            })
        };
        SeriesClock {
            zone: zone.filter(|zone| !zone.is_utc()),
        }
    }

    fn to_local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        match &self.zone {
            Some(zone) => zone.to_local(instant),
            None => instant.naive_utc(),
        }
    }

    fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match &self.zone {
            Some(zone) => zone.to_utc(local),
            None => local.and_utc(),
        }
    }
}

/// The occurrences of the recurring `meeting` that overlap `[from, to)`, sorted by start,
/// or why one of its rules cannot be evaluated.
pub(crate) fn expand(
    meeting: &MeetingContext,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, String> {
    let start = meeting.start.ok_or("the meeting has no start")?;
    let duration = meeting.end.unwrap_or(start).max(start) - start;
    let clock = SeriesClock::of(meeting);
    let mut occurrences = Vec::new();
    for rule in meeting.recurrence.iter().chain(&meeting.more_recurrences) {
        occurrences.extend(expand_rule(
            meeting, rule, &clock, start, duration, from, to,
        )?);
    }
    occurrences.extend(meeting.added_occurrences.iter().map(|slot| Occurrence {
        start: slot.start,
        end: slot.end.max(slot.start),
        local_start: clock.to_local(slot.start),
    }));
    occurrences.retain(|occurrence| {
        occurrence.overlaps(from, to)
            && !meeting
                .excluded_dates
                .iter()
                .any(|excluded| occurrence.is_named_by(excluded))
    });
    occurrences.sort_by_key(|occurrence| occurrence.start);
    // An instant several rules (or a rule and an added date) produce counts once.
    occurrences.dedup_by_key(|occurrence| occurrence.start);
    Ok(occurrences)
}

/// The occurrences of one `RRULE` of `meeting` that overlap `[from, to)`.
fn expand_rule(
    meeting: &MeetingContext,
    rule: &str,
    clock: &SeriesClock,
    start: DateTime<Utc>,
    duration: TimeDelta,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, String> {
    let rule = rule.trim();
    let rule = rule
        .strip_prefix("RRULE:")
        .or_else(|| rule.strip_prefix("rrule:"))
        .unwrap_or(rule);
    if rule.is_empty() || rule.contains(['\r', '\n']) {
        return Err(format!("unreadable RRULE `{rule}`"));
    }
    let local_start = clock.to_local(start);
    let (rule, until) = until_in_local_time(rule, clock, meeting.all_day);
    let target = fast_forward_target(from, duration);
    if until.is_some_and(|until| until < target) {
        // Every occurrence ended before the window.
        return Ok(Vec::new());
    }
    let local_start = fast_forward(&rule, local_start, target);

    let dtstart = if meeting.all_day {
        format!("DTSTART;VALUE=DATE:{}", local_start.format("%Y%m%d"))
    } else {
        format!("DTSTART:{}", local_start.format("%Y%m%dT%H%M%S"))
    };
    let calendar_text = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:expand\r\n{dtstart}\r\nRRULE:{rule}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
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
    let expansion = calendar.expand_dates(Tz::Floating, MAX_OCCURRENCES);
    if let Some(error) = expansion.errors.first() {
        return Err(format!("invalid RRULE `{rule}`: {:?}", error.error));
    }
    Ok(expansion
        .events
        .into_iter()
        .map(|event| {
            let local_start = event.start.naive_local();
            let start = clock.to_utc(local_start);
            Occurrence {
                start,
                end: start + duration,
                local_start,
            }
        })
        .filter(|occurrence| occurrence.overlaps(from, to))
        .collect())
}

/// `rule` with an `UNTIL` given in UTC rewritten in the series' local time (a date for
/// an all-day series), as calcard compares `UNTIL` with the floating occurrences as
/// written; and the last local time the rule may start an occurrence at, when bounded.
fn until_in_local_time(
    rule: &str,
    clock: &SeriesClock,
    all_day: bool,
) -> (String, Option<NaiveDateTime>) {
    let mut until = None;
    let parts: Vec<String> = rule
        .split(';')
        .map(|part| {
            let Some((name, value)) = part.split_once('=') else {
                return part.to_string();
            };
            if !name.trim().eq_ignore_ascii_case("UNTIL") {
                return part.to_string();
            }
            let value = value.trim();
            let local = if let Some(utc) = value.strip_suffix(['Z', 'z']) {
                NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
                    .ok()
                    .map(|utc| clock.to_local(utc.and_utc()))
            } else {
                NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
                    .ok()
                    .or_else(|| {
                        NaiveDate::parse_from_str(value, "%Y%m%d")
                            .ok()
                            .map(|date| date.and_time(NaiveTime::MIN) + TimeDelta::days(1))
                    })
            };
            until = local;
            match local {
                Some(local) if value.ends_with(['Z', 'z']) && all_day => {
                    format!("{name}={}", local.format("%Y%m%d"))
                }
                Some(local) if value.ends_with(['Z', 'z']) => {
                    format!("{name}={}", local.format("%Y%m%dT%H%M%S"))
                }
                _ => part.to_string(),
            }
        })
        .collect();
    (parts.join(";"), until)
}

/// Where fast-forwarding may move a series' local start: one day of slack before the
/// window's start less the occurrence's duration, which covers any zone offset.
fn fast_forward_target(from: DateTime<Utc>, duration: TimeDelta) -> NaiveDateTime {
    from.naive_utc() - duration - TimeDelta::days(1)
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

/// The occurrences of `series` overlapping `[from, to)` that its `overrides` (its
/// overridden occurrences, which stand as meetings of their own) leave to it: those an
/// override names are left out; those after a this-and-future override move by as much
/// as it moved its own occurrence and take its length, or are left out when it takes no
/// time.
pub(crate) fn series_occurrences(
    series: &MeetingContext,
    overrides: &[&MeetingContext],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Occurrence>, String> {
    let clock = SeriesClock::of(series);
    // (anchor, shift, length or None when not busy), by anchor.
    let mut futures: Vec<(DateTime<Utc>, TimeDelta, Option<TimeDelta>)> = overrides
        .iter()
        .filter(|replacement| replacement.this_and_future)
        .filter_map(|replacement| {
            let anchor = named_start(series, &clock, replacement.recurrence_id.as_deref()?)?;
            let start = replacement.start?;
            let length = replacement.end.unwrap_or(start).max(start) - start;
            Some((
                anchor,
                start - anchor,
                replacement.is_busy().then_some(length),
            ))
        })
        .collect();
    futures.sort_by_key(|(anchor, _, _)| *anchor);
    // Moved occurrences may come from outside the window.
    let reach = futures
        .iter()
        .map(|(_, shift, length)| shift.abs() + length.unwrap_or_default())
        .max()
        .unwrap_or_default();
    let occurrences = expand(series, from - reach, to + reach)?;
    Ok(occurrences
        .into_iter()
        .filter(|occurrence| {
            !overrides
                .iter()
                .filter_map(|replacement| replacement.recurrence_id.as_deref())
                .any(|id| occurrence.is_named_by(id))
        })
        .filter_map(|occurrence| {
            match futures
                .iter()
                .rev()
                .find(|(anchor, _, _)| *anchor < occurrence.start)
            {
                None => Some(occurrence),
                Some((_, _, None)) => None,
                Some((_, shift, Some(length))) => {
                    let start = occurrence.start + *shift;
                    Some(Occurrence {
                        start,
                        end: start + *length,
                        local_start: occurrence.local_start + *shift,
                    })
                }
            }
        })
        .filter(|occurrence| occurrence.overlaps(from, to))
        .collect())
}

/// The start, in UTC, of the occurrence of `series` that `recurrence_id` names.
fn named_start(
    series: &MeetingContext,
    clock: &SeriesClock,
    recurrence_id: &str,
) -> Option<DateTime<Utc>> {
    if let Some(utc) = recurrence_id.strip_suffix('Z') {
        return NaiveDateTime::parse_from_str(utc, "%Y%m%dT%H%M%S")
            .ok()
            .map(|utc| utc.and_utc());
    }
    let local = match recurrence_id.get(..15) {
        Some(local) => NaiveDateTime::parse_from_str(local, "%Y%m%dT%H%M%S").ok()?,
        None => {
            let date = NaiveDate::parse_from_str(recurrence_id, "%Y%m%d").ok()?;
            let time = series
                .start
                .map(|start| clock.to_local(start).time())
                .unwrap_or(NaiveTime::MIN);
            date.and_time(time)
        }
    };
    Some(clock.to_utc(local))
}

/// Moves the local start of a daily or weekly rule without `COUNT` forward by whole
/// periods to just before `target`, which leaves every occurrence from there on
/// unchanged.
fn fast_forward(rule: &str, local_start: NaiveDateTime, target: NaiveDateTime) -> NaiveDateTime {
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
            more_recurrences: Vec::new(),
            excluded_dates: Vec::new(),
            added_occurrences: Vec::new(),
            this_and_future: false,
            time_zone_definition: None,
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
    fn until_in_utc_is_compared_in_utc() {
        // Daily 09:00 Tokyo (00:00Z); UNTIL is the third occurrence's instant in UTC.
        // Read as Tokyo wall time (00:00), it would drop that occurrence.
        let tokyo = series(
            "2024-01-01T00:00:00Z",
            "2024-01-01T01:00:00Z",
            Some("Asia/Tokyo"),
            "FREQ=DAILY;UNTIL=20240103T000000Z",
        );
        check(
            &tokyo,
            "2023-12-01T00:00:00Z",
            "2024-02-01T00:00:00Z",
            &[
                "2024-01-01T00:00:00Z",
                "2024-01-02T00:00:00Z",
                "2024-01-03T00:00:00Z",
            ],
        );
    }

    #[test]
    fn a_window_after_until_has_no_occurrences_and_no_error() {
        let ended = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T09:00:00Z",
            Some("Europe/Berlin"),
            "FREQ=WEEKLY;UNTIL=20240201T000000Z",
        );
        check(&ended, "2024-06-01T00:00:00Z", "2024-07-01T00:00:00Z", &[]);
    }

    #[test]
    fn rules_added_dates_and_excluded_dates_combine() {
        // Mondays and (second rule) Thursdays 09:00 Berlin, one Monday excluded by local
        // time, one Thursday by UTC, one Tuesday added.
        let mut mixed = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T08:30:00Z",
            Some("Europe/Berlin"),
            "FREQ=WEEKLY;BYDAY=MO",
        );
        mixed.more_recurrences = vec!["FREQ=WEEKLY;BYDAY=TH".into()];
        mixed.excluded_dates = vec!["20240108T090000".into(), "20240111T080000Z".into()];
        mixed.added_occurrences = vec![TimeSlot {
            start: utc("2024-01-09T14:00:00Z"),
            end: utc("2024-01-09T15:00:00Z"),
        }];
        check(
            &mixed,
            "2024-01-07T00:00:00Z",
            "2024-01-16T00:00:00Z",
            &["2024-01-09T14:00:00Z", "2024-01-15T08:00:00Z"],
        );
        // A custom zone travels as its definition: a VTIMEZONE called "Studio" that is
        // UTC+3 all year.
        let mut studio = series(
            "2024-01-01T06:00:00Z",
            "2024-01-01T07:00:00Z",
            Some("Studio"),
            "FREQ=DAILY;COUNT=2",
        );
        studio.time_zone_definition = Some(
            "BEGIN:VTIMEZONE\r\nTZID:Studio\r\nBEGIN:STANDARD\r\nDTSTART:19700101T000000\r\n\
             TZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
                .into(),
        );
        let occurrences = expand(
            &studio,
            utc("2024-01-01T00:00:00Z"),
            utc("2024-01-03T00:00:00Z"),
        )
        .unwrap();
        let local: Vec<String> = occurrences
            .iter()
            .map(|occurrence| occurrence.local_start.to_string())
            .collect();
        assert_eq!(local, ["2024-01-01 09:00:00", "2024-01-02 09:00:00"]);
    }

    #[test]
    fn this_and_future_overrides_move_or_end_the_rest_of_the_series() {
        let daily = series(
            "2024-01-01T08:00:00Z",
            "2024-01-01T09:00:00Z",
            None,
            "FREQ=DAILY",
        );
        // From 3 January on, one hour later and half as long.
        let mut moved = series(
            "2024-01-03T09:00:00Z",
            "2024-01-03T09:30:00Z",
            None,
            "FREQ=DAILY",
        );
        moved.recurrence = None;
        moved.recurrence_id = Some("20240103T080000Z".into());
        moved.this_and_future = true;
        let starts = |overrides: &[&MeetingContext]| -> Vec<String> {
            series_occurrences(
                &daily,
                overrides,
                utc("2024-01-01T00:00:00Z"),
                utc("2024-01-06T00:00:00Z"),
            )
            .unwrap()
            .iter()
            .map(|occurrence| {
                format!(
                    "{}-{}",
                    occurrence.start.format("%d %H:%M"),
                    occurrence.end.format("%H:%M")
                )
            })
            .collect()
        };
        // The override stands for 3 January itself.
        assert_eq!(
            starts(&[&moved]),
            [
                "01 08:00-09:00",
                "02 08:00-09:00",
                "04 09:00-09:30",
                "05 09:00-09:30"
            ]
        );
        // Cancelled from 3 January on: the series ends there.
        let mut cancelled = moved.clone();
        cancelled.status = MeetingStatus::Cancelled;
        assert_eq!(starts(&[&cancelled]), ["01 08:00-09:00", "02 08:00-09:00"]);
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
