//! VTODO components of `.ics` files as [`Todo`]s; the file itself is read by `calendar.rs`,
//! the values by `ical.rs`.
//!
//! - `id` = UID (with `#` and the RECURRENCE-ID for an overridden occurrence, as for
//!   events); a VTODO without UID gets an id derived from its content and place, with
//!   a warning (`calendar.rs`).
//! - `title` = SUMMARY, `notes` = DESCRIPTION (empty when absent).
//! - `status`: STATUS `NEEDS-ACTION`, `IN-PROCESS`, `COMPLETED`, `CANCELLED` become
//!   `needs-action`, `in-process`, `completed`, `cancelled`. Without a STATUS (or with
//!   one outside those four), a COMPLETED date or PERCENT-COMPLETE of 100 means
//!   `completed`, a PERCENT-COMPLETE above 0 `in-process`, anything else `needs-action`.
//! - `due` = DUE in UTC, else DTSTART + DURATION; a date without time is its midnight
//!   UTC. An unreadable DUE is rejected rather than dropped.
//! - `assignee` = the first ATTENDEE with an address (CN as name). ORGANIZER is not
//!   used: it names who assigned the to-do, not who does it.
//! - The event's `last_updated` is LAST-MODIFIED, else DTSTAMP, else the file's time.

use calcard::icalendar::{ICalendarComponent, ICalendarProperty, ICalendarStatus, ICalendarValue};
use chrono::{DateTime, Utc};
use switchyard_contracts::Todo;
use switchyard_timezone::TimeZones;

use crate::ical::{calendar_user, date_time, duration, text, to_utc, value_text};

/// One VTODO with its `uid` (read or derived) as a todo and its last modification, or
/// why it cannot be.
pub(crate) fn convert_todo(
    todo: &ICalendarComponent,
    zones: &TimeZones,
    uid: &str,
) -> Result<(Todo, Option<DateTime<Utc>>), String> {
    let id = match todo.property(&ICalendarProperty::RecurrenceId) {
        Some(entry) => format!("{uid}#{}", value_text(entry)),
        None => uid.to_string(),
    };
    let time_of = |property: &ICalendarProperty| -> Result<Option<DateTime<Utc>>, String> {
        let Some(entry) = todo.property(property) else {
            return Ok(None);
        };
        match date_time(entry) {
            Some((value, has_time)) => Ok(Some(to_utc(&value, has_time, entry, zones))),
            None => Err(format!(
                "unparsable {} `{}`",
                property.as_str(),
                value_text(entry)
            )),
        }
    };
    let due = match time_of(&ICalendarProperty::Due)? {
        Some(due) => Some(due),
        None => match (time_of(&ICalendarProperty::Dtstart)?, duration(todo)) {
            (Some(start), Some(duration)) => start.checked_add_signed(duration),
            _ => None,
        },
    };
    let completed = time_of(&ICalendarProperty::Completed)
        .ok()
        .flatten()
        .is_some();
    let assignee = todo
        .properties(&ICalendarProperty::Attendee)
        .filter_map(calendar_user)
        .find(|mailbox| !mailbox.address.is_empty());
    let item = Todo {
        id,
        title: text(todo, &ICalendarProperty::Summary).unwrap_or_default(),
        notes: text(todo, &ICalendarProperty::Description).unwrap_or_default(),
        status: status(todo, completed).to_string(),
        due,
        assignee,
    };
    let last_updated = [ICalendarProperty::LastModified, ICalendarProperty::Dtstamp]
        .iter()
        .find_map(|property| time_of(property).ok().flatten());
    Ok((item, last_updated))
}

fn status(todo: &ICalendarComponent, completed: bool) -> &'static str {
    match todo.status() {
        Some(ICalendarStatus::NeedsAction) => return "needs-action",
        Some(ICalendarStatus::InProcess) => return "in-process",
        Some(ICalendarStatus::Completed) => return "completed",
        Some(ICalendarStatus::Cancelled) => return "cancelled",
        _ => {}
    }
    let percent = todo
        .property(&ICalendarProperty::PercentComplete)
        .and_then(|entry| entry.values.first())
        .and_then(|value| match value {
            ICalendarValue::Integer(percent) => Some(*percent),
            other => other.as_text()?.trim().parse().ok(),
        })
        .unwrap_or(0);
    if completed || percent >= 100 {
        "completed"
    } else if percent > 0 {
        "in-process"
    } else {
        "needs-action"
    }
}

#[cfg(test)]
mod tests {
    use switchyard_contracts::{AnyOfficeEvent, Mailbox};

    use super::*;
    use crate::calendar::read_calendar;
    use crate::item::{ImportItem, test_stamp};

    fn read(body: &str) -> Vec<ImportItem> {
        let ics = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{body}END:VCALENDAR\r\n");
        read_calendar(ics.as_bytes(), &test_stamp("ics"))
    }

    /// Reads one VTODO made of `properties` and checks the item against `expected`.
    fn check(properties: &str, expected: Todo) {
        let items = read(&format!("BEGIN:VTODO\r\n{properties}END:VTODO\r\n"));
        assert_eq!(items.len(), 1, "{items:?}");
        match &items[0] {
            Ok(AnyOfficeEvent::Todo(event)) => assert_eq!(event.item, expected, "{properties}"),
            other => panic!("{properties}: expected a todo, got {other:?}"),
        }
    }

    fn utc(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().expect("test times parse"))
    }

    #[test]
    fn converts_vtodos() {
        check(
            "UID:t1\r\nSUMMARY:File taxes\r\nDESCRIPTION:Form 1040\\, both\r\n\
             DUE;VALUE=DATE:20070501\r\nSTATUS:NEEDS-ACTION\r\n\
             ATTENDEE;ROLE=CHAIR:mailto:\r\n\
             ATTENDEE;CN=Bob:mailto:bob@example.com\r\nATTENDEE:mailto:carol@example.com\r\n",
            Todo {
                id: "t1".into(),
                title: "File taxes".into(),
                notes: "Form 1040, both".into(),
                status: "needs-action".into(),
                due: utc("2007-05-01T00:00:00Z"),
                assignee: Some(Mailbox {
                    name: Some("Bob".into()),
                    address: "bob@example.com".into(),
                }),
            },
        );
        check(
            "UID:t2\r\nSTATUS:IN-PROCESS\r\nDUE;TZID=Europe/Berlin:20240701T100000\r\n",
            Todo {
                id: "t2".into(),
                status: "in-process".into(),
                due: utc("2024-07-01T08:00:00Z"),
                ..Todo::default()
            },
        );
        check(
            "UID:t3\r\nSTATUS:CANCELLED\r\nDTSTART:20240101T090000Z\r\nDURATION:PT2H\r\n",
            Todo {
                id: "t3".into(),
                status: "cancelled".into(),
                due: utc("2024-01-01T11:00:00Z"),
                ..Todo::default()
            },
        );
    }

    #[test]
    fn status_falls_back_on_completion_data() {
        let status_of = |properties: &str| {
            let items = read(&format!(
                "BEGIN:VTODO\r\nUID:x\r\n{properties}END:VTODO\r\n"
            ));
            match &items[0] {
                Ok(AnyOfficeEvent::Todo(event)) => event.item.status.clone(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(status_of(""), "needs-action");
        assert_eq!(status_of("STATUS:COMPLETED\r\n"), "completed");
        assert_eq!(status_of("COMPLETED:20240101T000000Z\r\n"), "completed");
        assert_eq!(status_of("PERCENT-COMPLETE:100\r\n"), "completed");
        assert_eq!(status_of("PERCENT-COMPLETE:40\r\n"), "in-process");
        assert_eq!(
            status_of("STATUS:X-WAITING\r\nPERCENT-COMPLETE:40\r\n"),
            "in-process"
        );
    }

    #[test]
    fn broken_vtodos_are_rejected_and_the_rest_imports() {
        let body = "BEGIN:VTODO\r\nSUMMARY:no uid\r\nEND:VTODO\r\n\
                    BEGIN:VEVENT\r\nUID:e\r\nEND:VEVENT\r\n\
                    BEGIN:VTODO\r\nUID:bad\r\nDUE:SOON\r\nEND:VTODO\r\n\
                    BEGIN:VTODO\r\nUID:good\r\nLAST-MODIFIED:20240202T000000Z\r\nEND:VTODO\r\n";
        let outcomes: Vec<Result<String, String>> = read(body)
            .into_iter()
            .map(|item| match item {
                Ok(event) => {
                    let id = event.item_id();
                    let id = if id.starts_with("sha256:") {
                        "sha256:…"
                    } else {
                        id
                    };
                    Ok(format!("{:?} {id}", event.kind()))
                }
                Err(rejection) => Err(format!("{}: {}", rejection.location, rejection.reason)),
            })
            .collect();
        assert_eq!(
            outcomes,
            vec![
                Ok("Todo sha256:…".to_string()),
                Ok("Calendar e".to_string()),
                Err("VTODO 2: unparsable DUE `SOON`".to_string()),
                Ok("Todo good".to_string()),
            ]
        );
        let items =
            read("BEGIN:VTODO\r\nUID:good\r\nLAST-MODIFIED:20240202T000000Z\r\nEND:VTODO\r\n");
        assert_eq!(
            items[0].as_ref().unwrap().last_updated(),
            utc("2024-02-02T00:00:00Z").unwrap()
        );
    }
}
