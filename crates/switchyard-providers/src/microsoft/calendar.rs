//! A Graph `event` as a [`CalendarItem`]: `subject` the title, the body as text (with the
//! online meeting's join URL appended), `start`/`end` (`{dateTime, timeZone}`) in UTC,
//! `isAllDay`, the organizer, the attendees with their response as iCalendar's
//! `PARTSTAT` (`ACCEPTED`, `DECLINED`, `TENTATIVE`, `NEEDS-ACTION`), `location.displayName`,
//! `isCancelled` as [`CalendarStatus::Cancelled`] and `showAs: free` as transparent.
//!
//! The calendar view returns each occurrence of a series as an event of its own (its own
//! id, `type: occurrence` or `exception`), so each is mapped as itself and never carries
//! the series' rule; only an event that is not an instance (a series master, read some
//! other way) has its `recurrence` written as an `RRULE` value, where the pattern has
//! one: daily, weekly, absolute and relative monthly and yearly, with the interval and
//! the range's end date or number of occurrences.

use chrono::{NaiveDate, NaiveTime};
use serde_json::Value;
use switchyard_contracts::{Attendee, CalendarItem, CalendarStatus};
use switchyard_timezone::Zone;

use super::change::{body_text, flag, mailbox, text, zoned_date};

/// The event `id` of a Graph `event`.
pub(super) fn calendar_item(id: String, item: &Value) -> CalendarItem {
    let mut description = item.get("body").map(body_text).unwrap_or_default();
    let join_url =
        text(&item["onlineMeeting"], "joinUrl").or_else(|| text(item, "onlineMeetingUrl"));
    if let Some(url) = join_url {
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        description.push_str(&format!("Join the online meeting: {url}"));
    }
    let time_zone =
        text(item, "originalStartTimeZone").or_else(|| text(&item["start"], "timeZone"));
    let is_instance = matches!(
        item["type"].as_str(),
        Some("occurrence") | Some("exception")
    );
    let all_day = flag(item.get("isAllDay"));
    CalendarItem {
        id,
        title: item["subject"].as_str().unwrap_or_default().to_string(),
        description,
        start: zoned_date(&item["start"]),
        end: zoned_date(&item["end"]),
        all_day,
        time_zone,
        organizer: mailbox(&item["organizer"]),
        attendees: item["attendees"]
            .as_array()
            .map(|attendees| attendees.iter().filter_map(attendee).collect())
            .unwrap_or_default(),
        location: text(&item["location"], "displayName"),
        recurrence: (!is_instance)
            .then(|| rrule(&item["recurrence"], all_day))
            .flatten(),
        status: flag(item.get("isCancelled")).then_some(CalendarStatus::Cancelled),
        transparent: item["showAs"].as_str() == Some("free"),
        ..CalendarItem::default()
    }
}

/// A Graph `attendee`, its response as a `PARTSTAT`.
fn attendee(attendee: &Value) -> Option<Attendee> {
    let status = attendee["status"]["response"]
        .as_str()
        .map(|response| match response {
            "accepted" | "organizer" => "ACCEPTED",
            "declined" => "DECLINED",
            "tentativelyAccepted" => "TENTATIVE",
            _ => "NEEDS-ACTION",
        });
    Some(Attendee {
        mailbox: mailbox(attendee)?,
        status: status.map(str::to_string),
    })
}

/// A Graph `patternedRecurrence` as an `RRULE` value, when its pattern has one. The
/// range's end date is the end of that day in the recurrence's time zone (a date for
/// all-day events).
fn rrule(recurrence: &Value, all_day: bool) -> Option<String> {
    let pattern = &recurrence["pattern"];
    let days = || -> Option<String> {
        let days: Vec<&str> = pattern["daysOfWeek"]
            .as_array()?
            .iter()
            .filter_map(|day| weekday(day.as_str()?))
            .collect();
        (!days.is_empty()).then(|| days.join(","))
    };
    let ordinal = match pattern["index"].as_str().unwrap_or("first") {
        "first" => "1",
        "second" => "2",
        "third" => "3",
        "fourth" => "4",
        "last" => "-1",
        _ => return None,
    };
    let month_day = pattern["dayOfMonth"]
        .as_u64()
        .filter(|day| (1..=31).contains(day));
    let month = pattern["month"]
        .as_u64()
        .filter(|month| (1..=12).contains(month));
    let mut parts = match pattern["type"].as_str()? {
        "daily" => vec!["FREQ=DAILY".to_string()],
        "weekly" => vec!["FREQ=WEEKLY".to_string(), format!("BYDAY={}", days()?)],
        "absoluteMonthly" => vec!["FREQ=MONTHLY".into(), format!("BYMONTHDAY={}", month_day?)],
        "relativeMonthly" => vec![
            "FREQ=MONTHLY".into(),
            format!("BYDAY={}", prefixed(&days()?, ordinal)),
        ],
        "absoluteYearly" => vec![
            "FREQ=YEARLY".into(),
            format!("BYMONTH={}", month?),
            format!("BYMONTHDAY={}", month_day?),
        ],
        "relativeYearly" => vec![
            "FREQ=YEARLY".into(),
            format!("BYMONTH={}", month?),
            format!("BYDAY={}", prefixed(&days()?, ordinal)),
        ],
        _ => return None,
    };
    if let Some(interval) = pattern["interval"]
        .as_u64()
        .filter(|interval| *interval > 1)
    {
        parts.push(format!("INTERVAL={interval}"));
    }
    if pattern["type"] == "weekly"
        && let Some(first) = pattern["firstDayOfWeek"].as_str().and_then(weekday)
    {
        parts.push(format!("WKST={first}"));
    }
    let range = &recurrence["range"];
    match range["type"].as_str() {
        Some("numbered") => {
            let count = range["numberOfOccurrences"]
                .as_u64()
                .filter(|count| *count > 0)?;
            parts.push(format!("COUNT={count}"));
        }
        Some("endDate") => {
            let end = NaiveDate::parse_from_str(range["endDate"].as_str()?, "%Y-%m-%d").ok()?;
            parts.push(if all_day {
                format!("UNTIL={}", end.format("%Y%m%d"))
            } else {
                let local = end.and_time(NaiveTime::from_hms_opt(23, 59, 59)?);
                let until = range["recurrenceTimeZone"]
                    .as_str()
                    .and_then(Zone::named)
                    .map_or_else(|| local.and_utc(), |zone| zone.to_utc(local));
                format!("UNTIL={}", until.format("%Y%m%dT%H%M%SZ"))
            });
        }
        _ => {}
    }
    Some(parts.join(";"))
}

/// Each day of `days` (`MO,TU`) with the ordinal `ordinal` (`1MO,1TU`).
fn prefixed(days: &str, ordinal: &str) -> String {
    days.split(',')
        .map(|day| format!("{ordinal}{day}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A Graph `dayOfWeek` as iCalendar's two letters.
fn weekday(day: &str) -> Option<&'static str> {
    Some(match day {
        "monday" => "MO",
        "tuesday" => "TU",
        "wednesday" => "WE",
        "thursday" => "TH",
        "friday" => "FR",
        "saturday" => "SA",
        "sunday" => "SU",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::DataType;
    use crate::microsoft::change::tests::sample;
    use crate::microsoft::{Change, Item, change};

    fn event(item: &Value) -> CalendarItem {
        match change(DataType::Calendars, item).unwrap() {
            Change::Upsert {
                item: Item::Calendar(event),
                ..
            } => event,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    #[test]
    fn a_documented_event_becomes_a_calendar_item() {
        let item = event(&sample("event-get.json"));
        assert!(item.id.starts_with("AAMkAGVmMDEzMTM4"));
        assert_eq!(item.title, "New Product Regulations Touchpoint");
        assert!(
            item.description
                .starts_with("New Product Regulations Strategy Online Touchpoint Meeting"),
            "{}",
            item.description
        );
        assert!(!item.description.contains('<'), "{}", item.description);
        assert_eq!(
            item.start.map(|date| date.to_rfc3339()).as_deref(),
            Some("2014-11-03T17:00:00+00:00")
        );
        assert_eq!(
            item.end.map(|date| date.to_rfc3339()).as_deref(),
            Some("2014-11-03T17:30:00+00:00")
        );
        assert_eq!(item.time_zone.as_deref(), Some("UTC"));
        assert_eq!(item.location.as_deref(), Some("Conf Room Rainier"));
        assert_eq!(
            item.organizer
                .as_ref()
                .map(|organizer| organizer.address.as_str()),
            Some("engineering@M365x214355.onmicrosoft.com")
        );
        let attendees: Vec<(&str, Option<&str>)> = item
            .attendees
            .iter()
            .map(|attendee| {
                (
                    attendee.mailbox.address.as_str(),
                    attendee.status.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            attendees,
            [
                (
                    "engineering@M365x214355.onmicrosoft.com",
                    Some("NEEDS-ACTION")
                ),
                ("IrvinS@M365x214355.onmicrosoft.com", Some("NEEDS-ACTION")),
            ]
        );
        assert_eq!(
            (item.status, item.transparent, item.recurrence),
            (None, false, None)
        );
    }

    #[test]
    fn delta_pages_give_events_and_removals() {
        let page = sample("events-delta-round1-page1-nextLink.json");
        let first = event(&page["value"][0]);
        assert_eq!(
            (first.id.as_str(), first.title.as_str()),
            ("AAMkADNVxRAAA=", "Plan shopping list")
        );
        assert_eq!(
            first.start.map(|date| date.to_rfc3339()).as_deref(),
            Some("2016-12-09T20:30:00+00:00")
        );
        assert!(first.attendees.is_empty() && first.description.is_empty());
        let added = event(&sample("events-delta-round2-removed-and-added.json")["value"][1]);
        assert_eq!(added.location.as_deref(), Some("Chapel of Saint Ignatius"));
    }

    #[test]
    fn responses_cancellation_free_time_and_meetings() {
        let item = event(&json!({
            "id": "e1",
            "subject": "Sync",
            "body": {"contentType": "text", "content": "Agenda"},
            "start": {"dateTime": "2024-03-04T09:00:00.0000000", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2024-03-04T10:00:00.0000000", "timeZone": "Europe/Berlin"},
            "isCancelled": true,
            "showAs": "free",
            "onlineMeeting": {"joinUrl": "https://teams.example/join/1"},
            "attendees": [
                {"status": {"response": "accepted"}, "emailAddress": {"address": "a@x.com"}},
                {"status": {"response": "declined"}, "emailAddress": {"address": "b@x.com"}},
                {"status": {"response": "tentativelyAccepted"}, "emailAddress": {"address": "c@x.com"}},
                {"status": {"response": "notResponded"}, "emailAddress": {"address": "d@x.com"}},
                {"status": {"response": "accepted"}, "emailAddress": {}},
            ],
        }));
        assert_eq!(
            item.start.map(|date| date.to_rfc3339()).as_deref(),
            Some("2024-03-04T08:00:00+00:00")
        );
        assert_eq!(
            item.description,
            "Agenda\n\nJoin the online meeting: https://teams.example/join/1"
        );
        assert_eq!(item.status, Some(CalendarStatus::Cancelled));
        assert!(item.transparent);
        let statuses: Vec<&str> = item
            .attendees
            .iter()
            .filter_map(|attendee| attendee.status.as_deref())
            .collect();
        assert_eq!(
            statuses,
            ["ACCEPTED", "DECLINED", "TENTATIVE", "NEEDS-ACTION"]
        );
    }

    fn check_rrule(recurrence: Value, all_day: bool, expected: Option<&str>) {
        assert_eq!(
            rrule(&recurrence, all_day).as_deref(),
            expected,
            "{recurrence}"
        );
    }

    #[test]
    fn recurrence_patterns_become_rrules() {
        check_rrule(
            json!({"pattern": {"type": "daily", "interval": 1}, "range": {"type": "noEnd"}}),
            false,
            Some("FREQ=DAILY"),
        );
        check_rrule(
            json!({"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "thursday"], "firstDayOfWeek": "sunday"},
                   "range": {"type": "endDate", "endDate": "2017-06-30", "recurrenceTimeZone": "Pacific Standard Time"}}),
            false,
            Some("FREQ=WEEKLY;BYDAY=MO,TH;INTERVAL=2;WKST=SU;UNTIL=20170701T065959Z"),
        );
        check_rrule(
            json!({"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 15},
                   "range": {"type": "numbered", "numberOfOccurrences": 10}}),
            false,
            Some("FREQ=MONTHLY;BYMONTHDAY=15;COUNT=10"),
        );
        check_rrule(
            json!({"pattern": {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 24, "month": 12},
                   "range": {"type": "endDate", "endDate": "2030-12-31"}}),
            true,
            Some("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=24;UNTIL=20301231"),
        );
        check_rrule(
            json!({"pattern": {"type": "relativeMonthly", "interval": 3, "daysOfWeek": ["friday"], "index": "last"}}),
            false,
            Some("FREQ=MONTHLY;BYDAY=-1FR;INTERVAL=3"),
        );
        check_rrule(
            json!({"pattern": {"type": "weekly", "daysOfWeek": []}}),
            false,
            None,
        );
        check_rrule(json!(null), false, None);
        // An occurrence of a series is an item of its own, without the series' rule.
        let occurrence = json!({"id": "o1", "type": "occurrence",
            "recurrence": {"pattern": {"type": "daily", "interval": 1}}});
        assert_eq!(event(&occurrence).recurrence, None);
        let master = json!({"id": "m1", "type": "seriesMaster",
            "recurrence": {"pattern": {"type": "daily", "interval": 1}}});
        assert_eq!(event(&master).recurrence.as_deref(), Some("FREQ=DAILY"));
    }
}
