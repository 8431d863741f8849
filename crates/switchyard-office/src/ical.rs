//! iCalendar values as the importers want them, shared by VEVENTs (`calendar.rs`) and
//! VTODOs (`calendar_todo.rs`): dates and date-times in UTC, durations, text, and
//! calendar users as mailboxes. Reads properties and their values; what a component
//! means is left to its importer.

use calcard::common::{DateTimeResult, PartialDateTime};
use calcard::icalendar::{
    ICalendarComponent, ICalendarEntry, ICalendarParameterName, ICalendarProperty, ICalendarValue,
};
use chrono::{DateTime, TimeDelta, Utc};
use switchyard_contracts::Mailbox;
use switchyard_timezone::TimeZones;

/// The first value of `entry` as a date or date-time, with whether it has a time.
pub(crate) fn date_time(entry: &ICalendarEntry) -> Option<(DateTimeResult, bool)> {
    match entry.values.first()? {
        ICalendarValue::PartialDateTime(value) if value.has_date() => {
            Some((value.to_date_time()?, value.has_time()))
        }
        _ => None,
    }
}

/// A date-time in UTC; a date (all-day) is its midnight in UTC, whatever the zone.
pub(crate) fn to_utc(
    value: &DateTimeResult,
    has_time: bool,
    entry: &ICalendarEntry,
    zones: &TimeZones,
) -> DateTime<Utc> {
    if has_time {
        zones.to_utc(value, entry.tz_id())
    } else {
        value.date_time.and_utc()
    }
}

pub(crate) fn duration(event: &ICalendarComponent) -> Option<TimeDelta> {
    match event
        .property(&ICalendarProperty::Duration)?
        .values
        .first()?
    {
        ICalendarValue::Duration(duration) => duration.to_time_delta(),
        _ => None,
    }
}

pub(crate) fn text(component: &ICalendarComponent, property: &ICalendarProperty) -> Option<String> {
    component
        .property(property)
        .map(value_text)
        .filter(|text| !text.is_empty())
}

/// The value of `entry` as iCalendar text: dates in their basic format, rules as written.
pub(crate) fn value_text(entry: &ICalendarEntry) -> String {
    match entry.values.first() {
        Some(ICalendarValue::PartialDateTime(value)) => format_date_time(value),
        Some(ICalendarValue::RecurrenceRule(rule)) => rule.to_string(),
        Some(value) => value.as_text().unwrap_or_default().trim().to_string(),
        None => String::new(),
    }
}

/// `YYYYMMDD`, `YYYYMMDDTHHMMSS` or `YYYYMMDDTHHMMSSZ`, as in iCalendar.
fn format_date_time(value: &PartialDateTime) -> String {
    let mut text = format!(
        "{:04}{:02}{:02}",
        value.year.unwrap_or(0),
        value.month.unwrap_or(0),
        value.day.unwrap_or(0)
    );
    if value.has_time() {
        text.push_str(&format!(
            "T{:02}{:02}{:02}",
            value.hour.unwrap_or(0),
            value.minute.unwrap_or(0),
            value.second.unwrap_or(0)
        ));
        match (value.tz_hour, value.tz_minute.unwrap_or(0)) {
            (Some(0), 0) => text.push('Z'),
            (Some(hour), minute) => {
                let sign = if value.tz_minus { '-' } else { '+' };
                text.push_str(&format!("{sign}{hour:02}{minute:02}"));
            }
            (None, _) => {}
        }
    }
    text
}

/// An ORGANIZER or ATTENDEE: address without `mailto:`, `CN` as name.
pub(crate) fn calendar_user(entry: &ICalendarEntry) -> Option<Mailbox> {
    let address = entry
        .calendar_address()
        .unwrap_or_default()
        .trim()
        .to_string();
    let name = entry
        .parameter(&ICalendarParameterName::Cn)
        .and_then(|name| name.as_text())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty());
    (name.is_some() || !address.is_empty()).then_some(Mailbox { name, address })
}
