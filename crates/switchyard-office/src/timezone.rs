//! Time zones of iCalendar values: resolves a `TZID` and converts local times to UTC.
//!
//! A `TZID` is resolved first by name, as calcard does it (IANA names, Windows and other
//! well-known names, a VTIMEZONE's `X-LIC-LOCATION` or Microsoft CDO id). A VTIMEZONE whose
//! name means nothing is evaluated from its own STANDARD/DAYLIGHT observances: `DTSTART`,
//! `RDATE`, and yearly `RRULE`s by month and weekday (or month day), which is what real
//! VTIMEZONEs contain; other rules count only at their `DTSTART`. Values without zone
//! (floating) and zones nobody can resolve are taken as UTC.

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

/// The time zones one calendar defines or names.
pub(crate) struct TimeZones {
    named: HashMap<String, Tz>,
    custom: HashMap<String, Vec<Observance>>,
}

impl TimeZones {
    pub(crate) fn new(calendar: &ICalendar) -> Self {
        let mut named = HashMap::new();
        let mut custom = HashMap::new();
        for zone in calendar.timezones() {
            if let Some((name, tz)) = zone.timezone() {
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
                custom.insert(name.to_string(), observances);
            }
        }
        TimeZones { named, custom }
    }

    /// `value` in UTC: its own offset wins, then `tzid`, else it is taken as UTC.
    pub(crate) fn to_utc(&self, value: &DateTimeResult, tzid: Option<&str>) -> DateTime<Utc> {
        let local = value.date_time;
        if let Some(offset) = value.offset {
            return local_to_utc(&offset, local);
        }
        let Some(tzid) = tzid else {
            return local.and_utc();
        };
        if let Some(tz) = self
            .named
            .get(tzid)
            .copied()
            .or_else(|| Tz::from_str(tzid).ok())
        {
            return local_to_utc(&tz, local);
        }
        match self.custom.get(tzid) {
            Some(observances) => {
                let offset = TimeDelta::seconds(i64::from(offset_at(observances, local)));
                local.checked_sub_signed(offset).unwrap_or(local).and_utc()
            }
            None => local.and_utc(),
        }
    }
}

fn text_of<'a>(component: &'a ICalendarComponent, property: &ICalendarProperty) -> Option<&'a str> {
    component
        .property(property)
        .and_then(|entry| entry.values.first())
        .and_then(ICalendarValue::as_text)
}

/// One STANDARD or DAYLIGHT part of a VTIMEZONE.
struct Observance {
    start: NaiveDateTime,
    offset_from_secs: i32,
    offset_to_secs: i32,
    rule: Option<YearlyRule>,
    extra_onsets: Vec<NaiveDateTime>,
}

/// A yearly onset rule: month plus nth weekday or month day, bounded by UNTIL or COUNT.
struct YearlyRule {
    month: u32,
    day: RuleDay,
    until: Option<NaiveDateTime>,
    last_year: Option<i32>,
}

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
