//! The `.ics` importer: every VEVENT of a file becomes a [`CalendarItem`] with its times
//! in UTC, every VTODO a [`Todo`](switchyard_contracts::Todo) (see `calendar_todo.rs`).
//! VJOURNAL and the other components are skipped.
//!
//! Events are numbered `VEVENT 1`, `VEVENT 2`, … and to-dos `VTODO 1`, … across the
//! whole file, so that a rejection or warning points at the one it is about. An event
//! with a DTSTART calcard cannot read as a date is rejected; the rest of the file still
//! imports. An event or to-do without UID is imported under a derived id ([`derived_uid`])
//! with a warning. A file holding calendars but no event or to-do, or nothing but
//! blanks, is skipped with the warning `no events or todos`; one with no calendar at all
//! is rejected.
//!
//! What free/busy needs travels with each event: its `STATUS` and `TRANSP`, every
//! `RRULE`, the `EXDATE`s (named like a `RECURRENCE-ID`) and `RDATE`s (in UTC), an
//! overridden occurrence's `RANGE=THISANDFUTURE`, and the `VTIMEZONE` text of a zone
//! whose name alone means nothing, so that its recurrences can be expanded elsewhere.

use calcard::common::PartialDateTime;
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarEntry, ICalendarParameterName,
    ICalendarPeriod, ICalendarProperty, ICalendarStatus, ICalendarTransparency, ICalendarValue,
};
use calcard::{Entry, Parser};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use switchyard_contracts::{AnyOfficeEvent, Attendee, CalendarItem, CalendarStatus, TimeSlot};
use switchyard_timezone::TimeZones;

use crate::calendar_todo::convert_todo;
use crate::ical::{calendar_user, date_time, duration, text, to_utc, value_text};
use crate::item::{EventStamp, ImportItem};

/// Reads every VEVENT of an iCalendar file. Invalid UTF-8 is replaced, not rejected.
pub(crate) fn read_calendar(bytes: &[u8], stamp: &EventStamp) -> Vec<ImportItem> {
    let text = String::from_utf8_lossy(bytes);
    let mut parser = Parser::new(&text);
    let mut items = Vec::new();
    let mut calendars = 0;
    let mut counts = ComponentCounts::default();
    // Each entry consumes input; the bound guards against a parser that would not.
    for _ in 0..=text.len() {
        match parser.entry() {
            Entry::ICalendar(calendar) => {
                calendars += 1;
                read_components(&calendar, &mut counts, stamp, &mut items);
            }
            Entry::Eof => break,
            Entry::TooManyComponents => {
                items.push(Err(stamp.reject("file", "too many components")));
                break;
            }
            Entry::UnterminatedComponent(name) => {
                items.push(Err(stamp.reject("file", format!("unterminated {name}"))));
            }
            Entry::UnexpectedComponentEnd { expected, found } => {
                let reason = format!(
                    "END:{} where END:{} was expected",
                    found.as_str(),
                    expected.as_str()
                );
                items.push(Err(stamp.reject("file", reason)));
            }
            // Stray lines between components carry nothing to import.
            _ => {}
        }
    }
    let blank = text.trim().is_empty();
    if calendars == 0 && items.is_empty() && !blank {
        items.push(Err(stamp.reject("file", "no iCalendar data found")));
    } else if counts.events + counts.todos == 0 && items.is_empty() {
        stamp.skip("file", "no events or todos");
    }
    items
}

/// The id of a VEVENT or VTODO without UID: `sha256:` and the 64 lowercase hex digits of
/// the SHA-256 of its place in the file (`VEVENT 3`, a line feed) followed by its
/// properties as calcard writes them (sub-components such as VALARM left out). Reading
/// the same file again gives the same ids, so importing it again adds nothing; equal
/// components at different places get different ids. Inserting a component before it
/// changes the id, as its place changes.
fn derived_uid(component: &ICalendarComponent, location: &str) -> String {
    let mut text = format!("{location}\n");
    for entry in &component.entries {
        // Writing to a String cannot fail.
        let _ = entry.write_to(&mut text);
    }
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

/// The UID of `component`, else its [`derived_uid`] (and whether it was derived).
fn uid_of(component: &ICalendarComponent, location: &str) -> (String, bool) {
    match component.uid().map(str::trim).filter(|uid| !uid.is_empty()) {
        Some(uid) => (uid.to_string(), false),
        None => (derived_uid(component, location), true),
    }
}

/// VEVENTs and VTODOs seen so far in a file, for rejection locations.
#[derive(Default)]
struct ComponentCounts {
    events: usize,
    todos: usize,
}

fn read_components(
    calendar: &ICalendar,
    counts: &mut ComponentCounts,
    stamp: &EventStamp,
    items: &mut Vec<ImportItem>,
) {
    let zones = TimeZones::new(calendar);
    for component in &calendar.components {
        let (location, item) = match component.component_type {
            ICalendarComponentType::VEvent => {
                counts.events += 1;
                let location = format!("VEVENT {}", counts.events);
                let (uid, derived) = uid_of(component, &location);
                let item = convert_event(component, &zones, &uid).map(|(item, last_updated)| {
                    AnyOfficeEvent::Calendar(stamp.event(item, last_updated))
                });
                (location, item.map(|item| (item, derived.then_some(uid))))
            }
            ICalendarComponentType::VTodo => {
                counts.todos += 1;
                let location = format!("VTODO {}", counts.todos);
                let (uid, derived) = uid_of(component, &location);
                let item = convert_todo(component, &zones, &uid).map(|(item, last_updated)| {
                    AnyOfficeEvent::Todo(stamp.event(item, last_updated))
                });
                (location, item.map(|item| (item, derived.then_some(uid))))
            }
            _ => continue,
        };
        items.push(match item {
            Ok((item, derived_uid)) => {
                if let Some(uid) = derived_uid {
                    stamp.warn(
                        &location,
                        format!("missing UID: id {uid} derived from its content and place"),
                    );
                }
                Ok(item)
            }
            Err(reason) => Err(stamp.reject(location, reason)),
        });
    }
}

/// One VEVENT with its `uid` (read or derived) as a calendar item and its last
/// modification, or why it cannot be.
fn convert_event(
    event: &ICalendarComponent,
    zones: &TimeZones,
    uid: &str,
) -> Result<(CalendarItem, Option<DateTime<Utc>>), String> {
    let id = match event.property(&ICalendarProperty::RecurrenceId) {
        Some(entry) => format!("{uid}#{}", value_text(entry)),
        None => uid.to_string(),
    };

    let mut item = CalendarItem {
        id,
        title: text(event, &ICalendarProperty::Summary).unwrap_or_default(),
        description: text(event, &ICalendarProperty::Description).unwrap_or_default(),
        location: text(event, &ICalendarProperty::Location),
        ..CalendarItem::default()
    };

    if let Some(entry) = event.property(&ICalendarProperty::Dtstart) {
        let Some((value, has_time)) = date_time(entry) else {
            return Err(format!("unparsable DTSTART `{}`", value_text(entry)));
        };
        item.all_day = !has_time;
        item.time_zone = entry.tz_id().map(str::to_string);
        let start = to_utc(&value, has_time, entry, zones);
        let end = match event.property(&ICalendarProperty::Dtend).and_then(|entry| {
            date_time(entry).map(|(value, has_time)| to_utc(&value, has_time, entry, zones))
        }) {
            Some(end) => Some(end),
            None => match duration(event) {
                Some(duration) => start.checked_add_signed(duration),
                None if item.all_day => start.checked_add_signed(TimeDelta::days(1)),
                None => Some(start),
            },
        };
        item.start = Some(start);
        item.end = end;
    }

    item.organizer = event
        .property(&ICalendarProperty::Organizer)
        .and_then(calendar_user);
    item.attendees = event
        .properties(&ICalendarProperty::Attendee)
        .filter_map(|entry| {
            let status = entry
                .parameter(&ICalendarParameterName::Partstat)
                .and_then(|status| status.as_text())
                .map(str::to_string);
            calendar_user(entry).map(|mailbox| Attendee { mailbox, status })
        })
        .collect();
    let mut rules = event
        .properties(&ICalendarProperty::Rrule)
        .map(value_text)
        .filter(|rule| !rule.is_empty());
    item.recurrence = rules.next();
    item.more_recurrences = rules.collect();
    let series_zone = event
        .property(&ICalendarProperty::Dtstart)
        .and_then(|entry| entry.tz_id());
    item.excluded_dates = event
        .properties(&ICalendarProperty::Exdate)
        .flat_map(|entry| excluded_dates(entry, series_zone, zones))
        .collect();
    let duration = match (item.start, item.end) {
        (Some(start), Some(end)) => end - start,
        _ => TimeDelta::zero(),
    };
    item.added_occurrences = event
        .properties(&ICalendarProperty::Rdate)
        .flat_map(|entry| added_occurrences(entry, duration, zones))
        .collect();
    item.status = match event.status() {
        Some(ICalendarStatus::Confirmed) => Some(CalendarStatus::Confirmed),
        Some(ICalendarStatus::Tentative) => Some(CalendarStatus::Tentative),
        Some(ICalendarStatus::Cancelled) => Some(CalendarStatus::Cancelled),
        _ => None,
    };
    item.transparent = event
        .property(&ICalendarProperty::Transp)
        .and_then(|entry| entry.values.first())
        .is_some_and(|value| {
            matches!(
                value,
                ICalendarValue::Transparency(ICalendarTransparency::Transparent)
            )
        });
    item.this_and_future = event
        .property(&ICalendarProperty::RecurrenceId)
        .is_some_and(|entry| entry.parameter(&ICalendarParameterName::Range).is_some());
    item.time_zone_definition = item
        .time_zone
        .as_deref()
        .and_then(|tzid| zones.definition(tzid))
        .map(str::to_string);

    let last_updated = [ICalendarProperty::LastModified, ICalendarProperty::Dtstamp]
        .iter()
        .filter_map(|property| event.property(property))
        .find_map(|entry| {
            date_time(entry).map(|(value, has_time)| to_utc(&value, has_time, entry, zones))
        });
    Ok((item, last_updated))
}

/// The occurrences an `EXDATE` names, as the contract's `excluded_dates` write them: a
/// date as `YYYYMMDD`; a date-time in the series' own zone (or floating, like a floating
/// series) as local `YYYYMMDDTHHMMSS`; any other in UTC with `Z`.
fn excluded_dates<'a>(
    entry: &'a ICalendarEntry,
    series_zone: Option<&'a str>,
    zones: &'a TimeZones,
) -> impl Iterator<Item = String> + 'a {
    entry.values.iter().filter_map(move |value| {
        let ICalendarValue::PartialDateTime(value) = value else {
            return None;
        };
        let date_time = value.to_date_time()?;
        let local = date_time.date_time;
        Some(if !value.has_time() {
            local.format("%Y%m%d").to_string()
        } else if date_time.offset.is_none() && entry.tz_id() == series_zone {
            local.format("%Y%m%dT%H%M%S").to_string()
        } else {
            zones
                .to_utc(&date_time, entry.tz_id())
                .format("%Y%m%dT%H%M%SZ")
                .to_string()
        })
    })
}

/// The occurrences an `RDATE` adds, in UTC: a date or date-time lasting `duration`, a
/// period from its start to its end (or for its duration).
fn added_occurrences<'a>(
    entry: &'a ICalendarEntry,
    duration: TimeDelta,
    zones: &'a TimeZones,
) -> impl Iterator<Item = TimeSlot> + 'a {
    let at = move |value: &PartialDateTime| {
        let date_time = value.to_date_time()?;
        Some(to_utc(&date_time, value.has_time(), entry, zones))
    };
    entry.values.iter().filter_map(move |value| {
        let (start, end) = match value {
            ICalendarValue::PartialDateTime(value) => {
                let start = at(value)?;
                (start, start.checked_add_signed(duration)?)
            }
            ICalendarValue::Period(ICalendarPeriod::Range { start, end }) => (at(start)?, at(end)?),
            ICalendarValue::Period(ICalendarPeriod::Duration { start, duration }) => {
                let start = at(start)?;
                (start, start.checked_add_signed(duration.to_time_delta()?)?)
            }
            _ => return None,
        };
        Some(TimeSlot {
            start,
            end: end.max(start),
        })
    })
}

#[cfg(test)]
mod tests {
    use switchyard_contracts::Mailbox;

    use super::*;
    use crate::item::test_stamp;

    fn read(body: &str) -> Vec<ImportItem> {
        let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n");
        read_calendar(ics.as_bytes(), &test_stamp("ics"))
    }

    fn event(properties: &str) -> String {
        format!("BEGIN:VEVENT\r\n{properties}END:VEVENT\r\n")
    }

    /// Reads one VEVENT made of `properties` and checks the item against `expected`.
    fn check(properties: &str, expected: CalendarItem) {
        let items = read(&event(properties));
        assert_eq!(items.len(), 1, "{items:?}");
        match &items[0] {
            Ok(AnyOfficeEvent::Calendar(event)) => assert_eq!(event.item, expected),
            other => panic!("{properties}: expected a calendar event, got {other:?}"),
        }
    }

    fn utc(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().expect("test times parse"))
    }

    #[test]
    fn carries_what_free_busy_needs() {
        check(
            "UID:f\r\nDTSTART;TZID=Europe/Berlin:20240108T100000\r\n\
             DTEND;TZID=Europe/Berlin:20240108T110000\r\n\
             RRULE:FREQ=WEEKLY;BYDAY=MO\r\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1\r\n\
             EXDATE;TZID=Europe/Berlin:20240115T100000,20240122T100000\r\n\
             EXDATE:20240129T090000Z\r\nEXDATE;TZID=America/New_York:20240205T040000\r\n\
             EXDATE;VALUE=DATE:20240212\r\n\
             RDATE;TZID=Europe/Berlin:20240110T150000\r\n\
             RDATE;VALUE=PERIOD:20240111T120000Z/20240111T140000Z,20240112T120000Z/PT30M\r\n\
             STATUS:TENTATIVE\r\nTRANSP:TRANSPARENT\r\n",
            CalendarItem {
                id: "f".into(),
                start: utc("2024-01-08T09:00:00Z"),
                end: utc("2024-01-08T10:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
                recurrence: Some("FREQ=WEEKLY;BYDAY=MO".into()),
                more_recurrences: vec!["FREQ=MONTHLY;BYMONTHDAY=1".into()],
                // Dates in the series' zone stay local; others are named in UTC.
                excluded_dates: vec![
                    "20240115T100000".into(),
                    "20240122T100000".into(),
                    "20240129T090000Z".into(),
                    "20240205T090000Z".into(),
                    "20240212".into(),
                ],
                added_occurrences: vec![
                    TimeSlot {
                        start: utc("2024-01-10T14:00:00Z").unwrap(),
                        end: utc("2024-01-10T15:00:00Z").unwrap(),
                    },
                    TimeSlot {
                        start: utc("2024-01-11T12:00:00Z").unwrap(),
                        end: utc("2024-01-11T14:00:00Z").unwrap(),
                    },
                    TimeSlot {
                        start: utc("2024-01-12T12:00:00Z").unwrap(),
                        end: utc("2024-01-12T12:30:00Z").unwrap(),
                    },
                ],
                status: Some(CalendarStatus::Tentative),
                transparent: true,
                ..CalendarItem::default()
            },
        );
        // A cancelled occurrence for this and every later one, in a zone the file
        // defines under its own name: the definition travels with it.
        let zone = "BEGIN:VTIMEZONE\r\nTZID:Studio\r\nBEGIN:STANDARD\r\n\
                    DTSTART:19700101T000000\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\n\
                    END:STANDARD\r\nEND:VTIMEZONE\r\n";
        let items = read(&format!(
            "{zone}{}",
            event(
                "UID:g\r\nRECURRENCE-ID;RANGE=THISANDFUTURE;TZID=Studio:20240108T100000\r\n\
                 DTSTART;TZID=Studio:20240108T100000\r\nSTATUS:CANCELLED\r\n"
            )
        ));
        let Some(Ok(AnyOfficeEvent::Calendar(event))) = items.first() else {
            panic!("expected a calendar event, got {items:?}");
        };
        assert_eq!(event.item.id, "g#20240108T100000");
        assert_eq!(event.item.start, utc("2024-01-08T07:00:00Z"));
        assert_eq!(event.item.status, Some(CalendarStatus::Cancelled));
        assert!(event.item.this_and_future);
        let definition = event
            .item
            .time_zone_definition
            .as_deref()
            .unwrap_or_default();
        assert!(
            definition.starts_with("BEGIN:VTIMEZONE\r\nTZID:Studio\r\n")
                && definition.contains("TZOFFSETTO:+0300")
                && definition.ends_with("END:STANDARD\r\nEND:VTIMEZONE\r\n"),
            "{definition}"
        );
        // A zone known by name needs no definition.
        check(
            "UID:h\r\nDTSTART;TZID=Europe/Berlin:20240108T100000\r\n",
            CalendarItem {
                id: "h".into(),
                start: utc("2024-01-08T09:00:00Z"),
                end: utc("2024-01-08T09:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
                ..CalendarItem::default()
            },
        );
    }

    #[test]
    fn converts_vevents() {
        check(
            "UID:a\r\nSUMMARY:Standup\r\nDESCRIPTION:Daily\\, short\r\nLOCATION:Room 1\r\n\
             DTSTART:20240102T090000Z\r\nDTEND:20240102T091500Z\r\n",
            CalendarItem {
                id: "a".into(),
                title: "Standup".into(),
                description: "Daily, short".into(),
                location: Some("Room 1".into()),
                start: utc("2024-01-02T09:00:00Z"),
                end: utc("2024-01-02T09:15:00Z"),
                ..CalendarItem::default()
            },
        );
        // TZID by IANA name, DURATION instead of DTEND.
        check(
            "UID:b\r\nDTSTART;TZID=Europe/Berlin:20240701T100000\r\nDURATION:PT1H30M\r\n",
            CalendarItem {
                id: "b".into(),
                start: utc("2024-07-01T08:00:00Z"),
                end: utc("2024-07-01T09:30:00Z"),
                time_zone: Some("Europe/Berlin".into()),
                ..CalendarItem::default()
            },
        );
        // Floating time is taken as UTC; no DTEND or DURATION means a zero-length event.
        check(
            "UID:c\r\nDTSTART:20240102T090000\r\n",
            CalendarItem {
                id: "c".into(),
                start: utc("2024-01-02T09:00:00Z"),
                end: utc("2024-01-02T09:00:00Z"),
                ..CalendarItem::default()
            },
        );
        // DATE values are all-day; without DTEND the event lasts the day.
        check(
            "UID:d\r\nDTSTART;VALUE=DATE:20240102\r\n",
            CalendarItem {
                id: "d".into(),
                all_day: true,
                start: utc("2024-01-02T00:00:00Z"),
                end: utc("2024-01-03T00:00:00Z"),
                ..CalendarItem::default()
            },
        );
        // An overridden occurrence carries its RECURRENCE-ID in the id.
        check(
            "UID:e\r\nRECURRENCE-ID;TZID=Europe/Berlin:20240108T100000\r\n\
             DTSTART;TZID=Europe/Berlin:20240108T110000\r\n\
             DTEND;TZID=Europe/Berlin:20240108T120000\r\n",
            CalendarItem {
                id: "e#20240108T100000".into(),
                start: utc("2024-01-08T10:00:00Z"),
                end: utc("2024-01-08T11:00:00Z"),
                time_zone: Some("Europe/Berlin".into()),
                ..CalendarItem::default()
            },
        );
        // People and recurrence.
        check(
            "UID:f\r\nORGANIZER;CN=Alice:mailto:alice@example.com\r\n\
             ATTENDEE;CN=Bob;PARTSTAT=ACCEPTED:MAILTO:bob@example.com\r\n\
             ATTENDEE;RSVP=TRUE:mailto:carol@example.com\r\n\
             RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=10\r\n",
            CalendarItem {
                id: "f".into(),
                organizer: Some(Mailbox {
                    name: Some("Alice".into()),
                    address: "alice@example.com".into(),
                }),
                attendees: vec![
                    Attendee {
                        mailbox: Mailbox {
                            name: Some("Bob".into()),
                            address: "bob@example.com".into(),
                        },
                        status: Some("ACCEPTED".into()),
                    },
                    Attendee {
                        mailbox: Mailbox {
                            name: None,
                            address: "carol@example.com".into(),
                        },
                        status: None,
                    },
                ],
                recurrence: Some("FREQ=WEEKLY;COUNT=10;BYDAY=MO,WE".into()),
                ..CalendarItem::default()
            },
        );
    }

    fn last_updated(properties: &str) -> DateTime<Utc> {
        match read(&event(properties)).remove(0) {
            Ok(AnyOfficeEvent::Calendar(event)) => event.last_updated,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn last_updated_prefers_last_modified_then_dtstamp_then_file_time() {
        let both = "UID:a\r\nDTSTAMP:20240101T000000Z\r\nLAST-MODIFIED:20240202T000000Z\r\n";
        assert_eq!(last_updated(both), utc("2024-02-02T00:00:00Z").unwrap());
        let stamp_only = "UID:a\r\nDTSTAMP:20240101T000000Z\r\n";
        assert_eq!(
            last_updated(stamp_only),
            utc("2024-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(last_updated("UID:a\r\n"), test_stamp("ics").file_modified);
    }

    /// Reads `body` and lists each item as `Ok(id)` or `Err("location: reason")`.
    fn outcomes(body: &str) -> Vec<Result<String, String>> {
        read(body)
            .into_iter()
            .map(|item| match item {
                Ok(AnyOfficeEvent::Calendar(event)) if event.item.id.starts_with("sha256:") => {
                    Ok("sha256:…".to_string())
                }
                Ok(AnyOfficeEvent::Calendar(event)) => Ok(event.item.id),
                Ok(AnyOfficeEvent::Todo(event)) => Ok(format!("todo {}", event.item.id)),
                Ok(other) => panic!("unexpected {other:?}"),
                Err(rejection) => Err(format!("{}: {}", rejection.location, rejection.reason)),
            })
            .collect()
    }

    #[test]
    fn broken_vevents_are_rejected_and_the_rest_imports() {
        // Issue 14: an event without UID is imported under a derived id.
        let body = [
            event("UID:one\r\nDTSTART:20240101T100000Z\r\n"),
            event("SUMMARY:no uid\r\nDTSTART:20240101T100000Z\r\n"),
            "BEGIN:VTODO\r\nUID:todo\r\nEND:VTODO\r\n".to_string(),
            event("UID:three\r\nDTSTART:INVALID-DATE\r\n"),
            event("UID:four\r\nDTSTART;VALUE=DATE:20240101\r\n"),
        ]
        .concat();
        assert_eq!(
            outcomes(&body),
            vec![
                Ok("one".to_string()),
                Ok("sha256:…".to_string()),
                Ok("todo todo".to_string()),
                Err("VEVENT 3: unparsable DTSTART `INVALID-DATE`".to_string()),
                Ok("four".to_string()),
            ]
        );
    }

    #[test]
    fn files_without_calendars_are_one_rejection() {
        let items = read_calendar(b"hello\nworld\n", &test_stamp("ics"));
        assert_eq!(items.len(), 1);
        let rejection = items[0].as_ref().unwrap_err();
        assert_eq!(rejection.location, "file");
        assert_eq!(rejection.reason, "no iCalendar data found");
        // A calendar with only to-dos imports them.
        assert_eq!(
            outcomes("BEGIN:VTODO\r\nUID:t\r\nEND:VTODO\r\n"),
            [Ok("todo t".to_string())]
        );
    }

    /// Reads `ics` and lists its warnings as `kind location: reason`.
    fn warnings(ics: &str) -> Vec<String> {
        let stamp = test_stamp("ics");
        read_calendar(ics.as_bytes(), &stamp);
        stamp
            .take_warnings()
            .iter()
            .map(|warning| {
                format!(
                    "{:?} {}: {}",
                    warning.kind, warning.location, warning.reason
                )
            })
            .collect()
    }

    #[test]
    fn files_with_nothing_to_import_are_skipped_with_a_warning() {
        // Issue 14: an empty calendar said nothing at all.
        let skipped = ["Skipped file: no events or todos".to_string()];
        let empty = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n";
        assert!(read_calendar(empty.as_bytes(), &test_stamp("ics")).is_empty());
        assert_eq!(warnings(empty), skipped);
        assert_eq!(warnings(""), skipped);
        assert_eq!(warnings(" \r\n"), skipped);
        let journal =
            "BEGIN:VCALENDAR\r\nBEGIN:VJOURNAL\r\nUID:j\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n";
        assert!(read_calendar(journal.as_bytes(), &test_stamp("ics")).is_empty());
        assert_eq!(warnings(journal), skipped);
        // Broken events are rejections, not a skipped file.
        let broken = format!(
            "BEGIN:VCALENDAR\r\n{}END:VCALENDAR\r\n",
            event("UID:x\r\nDTSTART:SOON\r\n")
        );
        assert!(warnings(&broken).is_empty());
    }

    #[test]
    fn components_without_uid_get_stable_derived_ids() {
        // Issue 14: each VEVENT without a UID was rejected.
        let ics = format!(
            "BEGIN:VCALENDAR\r\n{}{}{}BEGIN:VTODO\r\nSUMMARY:Call\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
            event("SUMMARY:Lunch\r\nDTSTART:20240101T120000Z\r\n"),
            event("SUMMARY:Lunch\r\nDTSTART:20240101T120000Z\r\n"),
            event("SUMMARY:Dinner\r\nDTSTART:20240101T190000Z\r\n"),
        );
        let ids = || -> Vec<String> {
            read_calendar(ics.as_bytes(), &test_stamp("ics"))
                .into_iter()
                .map(|item| item.expect("imported").item_id().to_string())
                .collect()
        };
        let first = ids();
        assert_eq!(first, ids(), "the same bytes give the same ids");
        assert_eq!(first.len(), 4);
        for id in &first {
            assert!(id.starts_with("sha256:") && id.len() == 7 + 64, "{id}");
        }
        // Equal events at different places are different events.
        let mut distinct = first.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 4, "{first:?}");
        let warnings = warnings(&ics);
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert_eq!(
            warnings[0],
            format!(
                "Derived VEVENT 1: missing UID: id {} derived from its content and place",
                first[0]
            )
        );
        assert!(
            warnings[3].starts_with("Derived VTODO 1: missing UID"),
            "{}",
            warnings[3]
        );
    }
}
