//! Time zones of calendar data, shared by the iCalendar importer and availability.
//!
//! A `TZID` is resolved first by name, as calcard does it (IANA names, Windows and other
//! well-known names, a VTIMEZONE's `X-LIC-LOCATION` or Microsoft CDO id). A VTIMEZONE whose
//! name means nothing is evaluated from its own STANDARD/DAYLIGHT observances: `DTSTART`,
//! `RDATE`, and yearly `RRULE`s by month and weekday (or month day), which is what real
//! VTIMEZONEs contain; other rules count only at their `DTSTART`. Such a zone travels in
//! the calendar contract as its VTIMEZONE text ([`TimeZones::definition`]), and
//! [`Zone::defined`] reads it back. Values without zone (floating) and zones nobody can
//! resolve are taken as UTC.
//!
//! Hand-written because neither calcard nor chrono-tz evaluates a VTIMEZONE's own rules:
//! calcard only maps its name to a known zone.

use std::collections::HashMap;
use std::str::FromStr;

use calcard::common::timezone::Tz;
use calcard::common::{DateTimeResult, PartialDateTime};
use calcard::icalendar::{
    ICalendar, ICalendarComponent, ICalendarComponentType, ICalendarFrequency, ICalendarProperty,
    ICalendarRecurrenceRule, ICalendarValue, ICalendarWeekday,
};
use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveDateTime, TimeDelta, Utc, Weekday};
use switchyard_contracts::local_to_utc;

/// One time zone: a known one, or one defined by its VTIMEZONE's observances.
#[derive(Debug, Clone)]
pub struct Zone(ZoneKind);

#[derive(Debug, Clone)]
enum ZoneKind {
    Known(Tz),
    Defined(Vec<Observance>),
}

impl Zone {
    /// The zone `name` means (IANA, Windows and other well-known names, or a fixed
    /// offset); `None` for names nobody knows.
    pub fn named(name: &str) -> Option<Zone> {
        Tz::from_str(name.trim())
            .ok()
            .filter(|tz| !tz.is_floating())
            .map(|tz| Zone(ZoneKind::Known(tz)))
    }

    /// The zone `tzid` as defined by `definition`, a `VTIMEZONE` component in iCalendar
    /// text (as [`TimeZones::definition`] gives it); `None` when the text defines no
    /// zone of that name.
    pub fn defined(tzid: &str, definition: &str) -> Option<Zone> {
        let text = format!(
            "BEGIN:VCALENDAR\r\n{}\r\nEND:VCALENDAR\r\n",
            definition.trim()
        );
        let calendar = ICalendar::parse(&text).ok()?;
        TimeZones::new(&calendar).zone(tzid)
    }

    /// Whether the zone is UTC (or a zero offset) all year.
    pub fn is_utc(&self) -> bool {
        match &self.0 {
            ZoneKind::Known(tz) => tz.is_utc(),
            ZoneKind::Defined(observances) => observances.iter().all(|observance| {
                observance.offset_to_secs == 0 && observance.offset_from_secs == 0
            }),
        }
    }

    /// The instant of the wall-clock time `local` in this zone. A time a daylight-saving
    /// change skips or repeats resolves as [`local_to_utc`] says for known zones.
    pub fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match &self.0 {
            ZoneKind::Known(tz) => local_to_utc(tz, local),
            ZoneKind::Defined(observances) => {
                let offset = TimeDelta::seconds(i64::from(offset_at(observances, local)));
                local.checked_sub_signed(offset).unwrap_or(local).and_utc()
            }
        }
    }

    /// The wall-clock time in this zone at `instant`.
    pub fn to_local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        match &self.0 {
            ZoneKind::Known(tz) => instant.with_timezone(tz).naive_local(),
            ZoneKind::Defined(observances) => {
                // The local time is the instant plus one of the offsets the zone uses:
                // the one that converts back to the same instant.
                let utc = instant.naive_utc();
                observances
                    .iter()
                    .flat_map(|observance| [observance.offset_to_secs, observance.offset_from_secs])
                    .filter_map(|secs| utc.checked_add_signed(TimeDelta::seconds(i64::from(secs))))
                    .find(|local| self.to_utc(*local) == instant)
                    .unwrap_or(utc)
            }
        }
    }
}

/// The time zones one calendar defines or names.
pub struct TimeZones {
    /// VTIMEZONEs whose name (or `X-LIC-LOCATION`, CDO id) is a known zone.
    named: HashMap<String, Tz>,
    /// VTIMEZONEs evaluated from their observances, with their iCalendar text.
    defined: HashMap<String, (Zone, String)>,
}

impl TimeZones {
    /// The zones `calendar` defines in its VTIMEZONEs.
    pub fn new(calendar: &ICalendar) -> Self {
        let mut named = HashMap::new();
        let mut defined = HashMap::new();
        for zone in calendar.timezones() {
            if let Some((name, tz)) = zone.timezone() {
                if Tz::from_str(name).is_err() {
                    // Known only through this definition: keep its text for readers of
                    // the contract.
                    defined.insert(
                        name.to_string(),
                        (Zone(ZoneKind::Known(tz)), vtimezone_text(calendar, zone)),
                    );
                }
                named.insert(name.to_string(), tz);
                continue;
            }
            let Some(name) = text_of(zone, &ICalendarProperty::Tzid) else {
                continue;
            };
            let observances: Vec<Observance> = zone
                .component_ids
                .iter()
                .filter_map(|id| calendar.components.get(*id as usize))
                .filter_map(Observance::new)
                .collect();
            if !observances.is_empty() {
                defined.insert(
                    name.to_string(),
                    (
                        Zone(ZoneKind::Defined(observances)),
                        vtimezone_text(calendar, zone),
                    ),
                );
            }
        }
        TimeZones { named, defined }
    }

    /// The zone `tzid` names: the calendar's own definition first, then the name alone.
    pub fn zone(&self, tzid: &str) -> Option<Zone> {
        if let Some(tz) = self.named.get(tzid) {
            return Some(Zone(ZoneKind::Known(*tz)));
        }
        Zone::named(tzid).or_else(|| self.defined.get(tzid).map(|(zone, _)| zone.clone()))
    }

    /// The VTIMEZONE text defining `tzid`, when the name alone does not say which zone it
    /// is (a custom `TZID`): what a reader needs beside the name.
    pub fn definition(&self, tzid: &str) -> Option<&str> {
        self.defined.get(tzid).map(|(_, text)| text.as_str())
    }

    /// `value` in UTC: its own offset wins, then `tzid`, else it is taken as UTC.
    pub fn to_utc(&self, value: &DateTimeResult, tzid: Option<&str>) -> DateTime<Utc> {
        let local = value.date_time;
        if let Some(offset) = value.offset {
            return local_to_utc(&offset, local);
        }
        match tzid.and_then(|tzid| self.zone(tzid)) {
            Some(zone) => zone.to_utc(local),
            None => local.and_utc(),
        }
    }
}

/// `zone` (a VTIMEZONE of `calendar`) and its observances as iCalendar text.
fn vtimezone_text(calendar: &ICalendar, zone: &ICalendarComponent) -> String {
    let mut text = String::new();
    write_component(calendar, zone, &mut text);
    text
}

fn write_component(calendar: &ICalendar, component: &ICalendarComponent, text: &mut String) {
    let name = component.component_type.as_str();
    text.push_str(&format!("BEGIN:{name}\r\n"));
    for entry in &component.entries {
        // Writing to a String cannot fail.
        let _ = entry.write_to(text);
    }
    for child in component
        .component_ids
        .iter()
        .filter_map(|id| calendar.components.get(*id as usize))
    {
        write_component(calendar, child, text);
    }
    text.push_str(&format!("END:{name}\r\n"));
}

fn text_of<'a>(component: &'a ICalendarComponent, property: &ICalendarProperty) -> Option<&'a str> {
    component
        .property(property)
        .and_then(|entry| entry.values.first())
        .and_then(ICalendarValue::as_text)
}

/// One STANDARD or DAYLIGHT part of a VTIMEZONE.
#[derive(Debug, Clone)]
struct Observance {
    start: NaiveDateTime,
    offset_from_secs: i32,
    offset_to_secs: i32,
    rule: Option<YearlyRule>,
    extra_onsets: Vec<NaiveDateTime>,
}

/// A yearly onset rule: month plus nth weekday or month day, bounded by UNTIL or COUNT.
#[derive(Debug, Clone)]
struct YearlyRule {
    month: u32,
    day: RuleDay,
    until: Option<NaiveDateTime>,
    last_year: Option<i32>,
}

#[derive(Debug, Clone, Copy)]
enum RuleDay {
    NthWeekday(i16, Weekday),
    MonthDay(i8),
}

impl Observance {
    fn new(component: &ICalendarComponent) -> Option<Self> {
        if !matches!(
            component.component_type,
            ICalendarComponentType::Standard | ICalendarComponentType::Daylight
        ) {
            return None;
        }
        let mut start = None;
        let mut offset_from_secs = None;
        let mut offset_to_secs = None;
        let mut rule = None;
        let mut extra_onsets = Vec::new();
        for entry in &component.entries {
            let first = entry.values.first();
            match (&entry.name, first) {
                (ICalendarProperty::Dtstart, Some(ICalendarValue::PartialDateTime(value))) => {
                    start = value.to_date_time().map(|value| value.date_time);
                }
                (ICalendarProperty::Tzoffsetfrom, Some(ICalendarValue::PartialDateTime(value))) => {
                    offset_from_secs = Some(offset_secs(value));
                }
                (ICalendarProperty::Tzoffsetto, Some(ICalendarValue::PartialDateTime(value))) => {
                    offset_to_secs = Some(offset_secs(value));
                }
                (ICalendarProperty::Rrule, Some(ICalendarValue::RecurrenceRule(value))) => {
                    rule = Some(value);
                }
                (ICalendarProperty::Rdate, _) => {
                    extra_onsets.extend(entry.values.iter().filter_map(|value| match value {
                        ICalendarValue::PartialDateTime(value) => {
                            value.to_date_time().map(|value| value.date_time)
                        }
                        _ => None,
                    }));
                }
                _ => {}
            }
        }
        let offset_to_secs = offset_to_secs?;
        let start = start?;
        Some(Observance {
            start,
            offset_from_secs: offset_from_secs.unwrap_or(offset_to_secs),
            offset_to_secs,
            rule: rule.and_then(|rule| YearlyRule::new(rule, start)),
            extra_onsets,
        })
    }

    /// The latest time at or before `local` when this observance began.
    fn latest_onset(&self, local: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut latest = None;
        let mut consider = |onset: NaiveDateTime| {
            if onset <= local && latest.is_none_or(|latest| onset > latest) {
                latest = Some(onset);
            }
        };
        consider(self.start);
        self.extra_onsets.iter().copied().for_each(&mut consider);
        if let Some(rule) = &self.rule {
            for year in [local.year() - 1, local.year()] {
                let Some(onset) = rule.onset_in(year, self.start) else {
                    continue;
                };
                let before_end = rule.until.is_none_or(|until| onset <= until)
                    && rule.last_year.is_none_or(|last| year <= last);
                if onset >= self.start && before_end {
                    consider(onset);
                }
            }
        }
        latest
    }
}

impl YearlyRule {
    fn new(rule: &ICalendarRecurrenceRule, start: NaiveDateTime) -> Option<Self> {
        if rule.freq != ICalendarFrequency::Yearly || rule.interval.is_some_and(|i| i > 1) {
            return None;
        }
        let month = u32::from(rule.bymonth.first()?.month());
        let day = match (rule.byday.first(), rule.bymonthday.first()) {
            (Some(day), _) => RuleDay::NthWeekday(day.ordwk?, weekday(&day.weekday)),
            (None, Some(month_day)) => RuleDay::MonthDay(*month_day),
            (None, None) => return None,
        };
        Some(YearlyRule {
            month,
            day,
            until: rule
                .until
                .as_ref()
                .and_then(PartialDateTime::to_date_time)
                .map(|until| until.date_time),
            last_year: rule
                .count
                .and_then(|count| i32::try_from(count).ok())
                .map(|count| start.year().saturating_add(count.saturating_sub(1))),
        })
    }

    fn onset_in(&self, year: i32, start: NaiveDateTime) -> Option<NaiveDateTime> {
        let first = NaiveDate::from_ymd_opt(year, self.month, 1)?;
        let last = first
            .checked_add_months(chrono::Months::new(1))?
            .pred_opt()?;
        let date = match self.day {
            RuleDay::NthWeekday(ordinal, weekday) if ordinal > 0 => {
                let ahead = (7 + weekday.num_days_from_monday()
                    - first.weekday().num_days_from_monday())
                    % 7;
                let weeks = u64::from(ordinal.unsigned_abs() - 1);
                first.checked_add_days(Days::new(u64::from(ahead) + 7 * weeks))?
            }
            RuleDay::NthWeekday(ordinal, weekday) => {
                let back = (7 + last.weekday().num_days_from_monday()
                    - weekday.num_days_from_monday())
                    % 7;
                let weeks = u64::from(ordinal.unsigned_abs().max(1) - 1);
                last.checked_sub_days(Days::new(u64::from(back) + 7 * weeks))?
            }
            RuleDay::MonthDay(day) if day > 0 => first.with_day(u32::from(day.unsigned_abs()))?,
            RuleDay::MonthDay(day) => {
                last.checked_sub_days(Days::new(u64::from(day.unsigned_abs().max(1) - 1)))?
            }
        };
        (date.month() == self.month).then(|| date.and_time(start.time()))
    }
}

fn weekday(weekday: &ICalendarWeekday) -> Weekday {
    match weekday {
        ICalendarWeekday::Monday => Weekday::Mon,
        ICalendarWeekday::Tuesday => Weekday::Tue,
        ICalendarWeekday::Wednesday => Weekday::Wed,
        ICalendarWeekday::Thursday => Weekday::Thu,
        ICalendarWeekday::Friday => Weekday::Fri,
        ICalendarWeekday::Saturday => Weekday::Sat,
        ICalendarWeekday::Sunday => Weekday::Sun,
    }
}

fn offset_secs(value: &PartialDateTime) -> i32 {
    let secs =
        i32::from(value.tz_hour.unwrap_or(0)) * 3600 + i32::from(value.tz_minute.unwrap_or(0)) * 60;
    if value.tz_minus { -secs } else { secs }
}

/// The UTC offset in force at `local`: that of the observance that began last, or
/// before any onset the offset the earliest observance changed from.
fn offset_at(observances: &[Observance], local: NaiveDateTime) -> i32 {
    observances
        .iter()
        .filter_map(|observance| {
            observance
                .latest_onset(local)
                .map(|onset| (onset, observance.offset_to_secs))
        })
        .max_by_key(|(onset, _)| *onset)
        .map(|(_, offset)| offset)
        .or_else(|| {
            observances
                .iter()
                .min_by_key(|observance| observance.start)
                .map(|observance| observance.offset_from_secs)
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CUSTOM_NEW_YORK: &str = "BEGIN:VCALENDAR\r\n\
BEGIN:VTIMEZONE\r\nTZID:custom_America/New_York\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:19870405T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=4;BYDAY=1SU;UNTIL=20060402T070000Z\r\n\
TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nDTSTART:19671029T020000\r\n\
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL=20061029T060000Z\r\n\
TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n\
BEGIN:DAYLIGHT\r\nDTSTART:20070311T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\n\
TZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nEND:DAYLIGHT\r\n\
BEGIN:STANDARD\r\nDTSTART:20071104T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\n\
TZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nEND:STANDARD\r\n\
END:VTIMEZONE\r\n\
BEGIN:VTIMEZONE\r\nTZID:Office Time\r\nX-LIC-LOCATION:Europe/Berlin\r\nEND:VTIMEZONE\r\n\
END:VCALENDAR\r\n";

    /// Converts the local time `local` (`YYYY-MM-DDTHH:MM:SS`) in `tzid` and compares
    /// with `expected_utc`.
    fn check(tzid: Option<&str>, local: &str, expected_utc: &str) {
        let calendar = ICalendar::parse(CUSTOM_NEW_YORK).expect("test calendar parses");
        let zones = TimeZones::new(&calendar);
        let value = DateTimeResult {
            date_time: local.parse().expect("test times parse"),
            offset: None,
        };
        let utc = zones.to_utc(&value, tzid);
        assert_eq!(
            utc.format("%Y-%m-%dT%H:%M:%S").to_string(),
            expected_utc,
            "{tzid:?} {local}"
        );
    }

    #[test]
    fn converts_local_times_to_utc() {
        // Custom VTIMEZONE rules: EDT (-4) in summer, EST (-5) in winter, across the
        // 2007 US rule change (second Sunday of March 2007 = March 11).
        check(
            Some("custom_America/New_York"),
            "2014-08-29T08:00:00",
            "2014-08-29T12:00:00",
        );
        check(
            Some("custom_America/New_York"),
            "2014-01-15T08:00:00",
            "2014-01-15T13:00:00",
        );
        check(
            Some("custom_America/New_York"),
            "2007-03-10T12:00:00",
            "2007-03-10T17:00:00",
        );
        check(
            Some("custom_America/New_York"),
            "2007-03-12T12:00:00",
            "2007-03-12T16:00:00",
        );
        check(
            Some("custom_America/New_York"),
            "2005-04-01T12:00:00",
            "2005-04-01T17:00:00",
        );
        check(
            Some("custom_America/New_York"),
            "2005-04-04T12:00:00",
            "2005-04-04T16:00:00",
        );
        check(
            Some("custom_America/New_York"),
            "2005-10-31T12:00:00",
            "2005-10-31T17:00:00",
        );
        // IANA names, with and without a VTIMEZONE; X-LIC-LOCATION.
        check(
            Some("Europe/Berlin"),
            "2024-07-01T10:00:00",
            "2024-07-01T08:00:00",
        );
        check(
            Some("Europe/Berlin"),
            "2024-01-01T10:00:00",
            "2024-01-01T09:00:00",
        );
        check(
            Some("Office Time"),
            "2024-01-01T10:00:00",
            "2024-01-01T09:00:00",
        );
        // Windows names, as calcard maps them.
        check(
            Some("W. Europe Standard Time"),
            "2024-01-01T10:00:00",
            "2024-01-01T09:00:00",
        );
        // Daylight-saving gap: 02:30 does not exist on 2024-03-31 in Berlin, so it is read
        // with the offset before the gap (+01:00), as RFC 5545 says.
        check(
            Some("Europe/Berlin"),
            "2024-03-31T02:30:00",
            "2024-03-31T01:30:00",
        );
        // Floating and unknown zones are taken as UTC.
        check(None, "2024-01-01T10:00:00", "2024-01-01T10:00:00");
        check(
            Some("Mars/Olympus_Mons"),
            "2024-01-01T10:00:00",
            "2024-01-01T10:00:00",
        );
    }

    #[test]
    fn a_definition_travels_as_text_and_converts_both_ways() {
        let calendar = ICalendar::parse(CUSTOM_NEW_YORK).expect("test calendar parses");
        let zones = TimeZones::new(&calendar);
        // Known names need no definition; "Office Time" is known only through its own.
        assert!(zones.definition("Europe/Berlin").is_none());
        assert!(zones.definition("Office Time").is_some());
        let text = zones
            .definition("custom_America/New_York")
            .expect("the custom zone has a definition");
        let zone = Zone::defined("custom_America/New_York", text).expect("the text defines it");
        assert!(Zone::defined("Elsewhere", text).is_none());
        for (local, utc) in [
            ("2014-08-29T08:00:00", "2014-08-29T12:00:00Z"),
            ("2014-01-15T08:00:00", "2014-01-15T13:00:00Z"),
            ("2007-03-12T12:00:00", "2007-03-12T16:00:00Z"),
        ] {
            let local: NaiveDateTime = local.parse().unwrap();
            let utc: DateTime<Utc> = utc.parse().unwrap();
            assert_eq!(zone.to_utc(local), utc);
            assert_eq!(zone.to_local(utc), local);
        }
        assert!(!zone.is_utc());
        let berlin = Zone::named("Europe/Berlin").unwrap();
        let summer: DateTime<Utc> = "2024-07-01T08:00:00Z".parse().unwrap();
        assert_eq!(berlin.to_local(summer).to_string(), "2024-07-01 10:00:00");
        assert!(Zone::named("UTC").unwrap().is_utc());
        assert!(Zone::named("Mars/Olympus_Mons").is_none());
    }

    #[test]
    fn explicit_offsets_win() {
        let calendar = ICalendar::parse(CUSTOM_NEW_YORK).expect("test calendar parses");
        let zones = TimeZones::new(&calendar);
        let value = DateTimeResult {
            date_time: "2024-01-01T10:00:00".parse().unwrap(),
            offset: chrono::FixedOffset::east_opt(2 * 3600),
        };
        let utc = zones.to_utc(&value, Some("custom_America/New_York"));
        assert_eq!(utc.to_rfc3339(), "2024-01-01T08:00:00+00:00");
    }
}
