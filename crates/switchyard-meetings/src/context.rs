//! The [`MeetingContext`]: what the meetings consumer keeps about one calendar item (or
//! booked slot) of one user, read from an office event, and the [`MeetingChange`] an
//! event turns into.
//!
//! A meeting is cancelled when its `STATUS` says so or its title has the prefix Outlook
//! and Exchange write (`Canceled: …`), declined by the user's own attendee status, and
//! free when marked transparent; the calendar contract carries no online-meeting field,
//! so the link is found among URLs in the location or description.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_contracts::{
    Attendee, CalendarEvent, CalendarStatus, Mailbox, MeetingBookingEvent, OfficeEvent, OfficeItem,
    Operation, TimeSlot,
};

/// Where a meeting context comes from; part of its identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingSource {
    /// A calendar item from `calendars`.
    Calendar,
    /// A booked slot from `meeting_bookings`.
    Booking,
}

impl MeetingSource {
    /// The prefix of this source's storage keys.
    pub(crate) fn key_prefix(self) -> &'static str {
        match self {
            MeetingSource::Calendar => "calendar/",
            MeetingSource::Booking => "booking/",
        }
    }
}

/// The storage key of an item within one user's meetings: `calendar/{id}` or
/// `booking/{id}`.
pub(crate) fn storage_key(source: MeetingSource, item_id: &str) -> String {
    format!("{}{item_id}", source.key_prefix())
}

/// Whether a meeting takes the user's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MeetingStatus {
    /// It takes place and the user has not declined it: busy.
    Confirmed,
    /// The organizer cancelled it: not busy.
    Cancelled,
    /// The user declined it: not busy.
    Declined,
    /// It takes place but is marked as free time (`TRANSP:TRANSPARENT`): not busy.
    Free,
}

/// The video-conferencing service of an online meeting link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnlineMeetingService {
    /// Microsoft Teams (`teams.microsoft.com`, `teams.live.com`).
    Teams,
    /// Zoom (`*.zoom.us`, `*.zoom.com`, `*.zoomgov.com`).
    Zoom,
    /// Google Meet (`meet.google.com`).
    GoogleMeet,
    /// Webex (`*.webex.com`).
    Webex,
}

/// A link to join a meeting online.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnlineMeeting {
    /// The service.
    pub service: OnlineMeetingService,
    /// The join URL, as written in the item.
    pub url: String,
}

/// What the meetings consumer knows about one meeting of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeetingContext {
    /// Whose meeting it is.
    pub user_id: String,
    /// Calendar item or booking.
    pub source: MeetingSource,
    /// The provider's id (`UID`, or `UID#RECURRENCE-ID` for an overridden occurrence).
    pub item_id: String,
    /// The id of the series it belongs to: the item id without its `#RECURRENCE-ID`.
    pub series_id: String,
    /// For an overridden occurrence, the `RECURRENCE-ID` it replaces
    /// (`YYYYMMDD`, `YYYYMMDDTHHMMSS` in the series' zone, or `…Z` in UTC).
    pub recurrence_id: Option<String>,
    /// Summary.
    pub title: String,
    /// Organizer.
    pub organizer: Option<Mailbox>,
    /// Attendees with their participation status.
    pub attendees: Vec<Attendee>,
    /// Start, in UTC.
    pub start: Option<DateTime<Utc>>,
    /// End, in UTC.
    pub end: Option<DateTime<Utc>>,
    /// Date-only (all-day) meeting.
    pub all_day: bool,
    /// The time zone the meeting was written in; recurrences repeat in its local time.
    pub time_zone: Option<String>,
    /// Location text.
    pub location: Option<String>,
    /// The online meeting link found in the location or description.
    pub online_meeting: Option<OnlineMeeting>,
    /// The `RRULE` value when the meeting repeats (never set on an overridden occurrence).
    pub recurrence: Option<String>,
    /// Further `RRULE`s of the series; its occurrences are the union of all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more_recurrences: Vec<String>,
    /// Occurrences removed from the series (`EXDATE`), named like a `recurrence_id`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_dates: Vec<String>,
    /// Occurrences added to the series (`RDATE`), in UTC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub added_occurrences: Vec<TimeSlot>,
    /// For an overridden occurrence: it also replaces every later occurrence, shifted by
    /// as much as it moved this one (`RANGE=THISANDFUTURE`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub this_and_future: bool,
    /// The `VTIMEZONE` text of `time_zone` when its name alone is not a known zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone_definition: Option<String>,
    /// Whether it takes the user's time.
    pub status: MeetingStatus,
    /// When it last changed at the provider; the newest version wins.
    pub last_updated: DateTime<Utc>,
    /// Where it came from (`ics`, `msgraph`, …).
    pub provider: String,
}

impl MeetingContext {
    /// The context of a calendar event's item (whatever its operation).
    pub fn from_calendar_event(event: &CalendarEvent) -> Self {
        let item = &event.item;
        let (series_id, recurrence_id) = split_recurrence_id(&item.id);
        let status =
            if item.status == Some(CalendarStatus::Cancelled) || is_cancelled_title(&item.title) {
                MeetingStatus::Cancelled
            } else if user_declined(&event.user_id, &item.attendees) {
                MeetingStatus::Declined
            } else if item.transparent {
                MeetingStatus::Free
            } else {
                MeetingStatus::Confirmed
            };
        // What shapes a series means nothing on one overridden occurrence.
        let is_series = recurrence_id.is_none();
        fn series_only<T: Clone>(is_series: bool, values: &[T]) -> Vec<T> {
            if is_series {
                values.to_vec()
            } else {
                Vec::new()
            }
        }
        let online_meeting = [item.location.as_deref(), Some(item.description.as_str())]
            .into_iter()
            .flatten()
            .find_map(find_online_meeting);
        MeetingContext {
            user_id: event.user_id.clone(),
            source: MeetingSource::Calendar,
            item_id: item.id.clone(),
            series_id,
            recurrence: item
                .recurrence
                .as_deref()
                .map(str::trim)
                .filter(|rule| !rule.is_empty() && is_series)
                .map(str::to_string),
            more_recurrences: series_only(is_series, &item.more_recurrences),
            excluded_dates: series_only(is_series, &item.excluded_dates),
            added_occurrences: series_only(is_series, &item.added_occurrences),
            this_and_future: item.this_and_future && !is_series,
            time_zone_definition: item.time_zone_definition.clone(),
            recurrence_id,
            title: item.title.clone(),
            organizer: item.organizer.clone(),
            attendees: item.attendees.clone(),
            start: item.start,
            end: item.end,
            all_day: item.all_day,
            time_zone: item.time_zone.clone(),
            location: item.location.clone(),
            online_meeting,
            status,
            last_updated: event.last_updated,
            provider: event.provider.clone(),
        }
    }

    /// The context of a booking event: the booked slot, busy for the event's user.
    pub fn from_booking_event(event: &MeetingBookingEvent) -> Self {
        let item = &event.item;
        MeetingContext {
            user_id: event.user_id.clone(),
            source: MeetingSource::Booking,
            item_id: item.id.clone(),
            series_id: item.id.clone(),
            recurrence_id: None,
            title: item.title.clone(),
            organizer: Some(item.organizer.clone()),
            attendees: vec![Attendee {
                mailbox: item.attendee.clone(),
                status: None,
            }],
            start: item.slot.as_ref().map(|slot| slot.start),
            end: item.slot.as_ref().map(|slot| slot.end),
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
            last_updated: event.last_updated,
            provider: event.provider.clone(),
        }
    }

    /// Whether it takes the user's time.
    pub fn is_busy(&self) -> bool {
        self.status == MeetingStatus::Confirmed && self.start.is_some()
    }

    /// Whether it is the master of a recurring series: it has a rule or added dates.
    pub fn is_recurring(&self) -> bool {
        self.recurrence_id.is_none()
            && (self.recurrence.is_some()
                || !self.more_recurrences.is_empty()
                || !self.added_occurrences.is_empty())
    }

    pub(crate) fn storage_key(&self) -> String {
        storage_key(self.source, &self.item_id)
    }
}

/// What one event asks of the store.
#[derive(Debug, Clone, PartialEq)]
pub enum MeetingChange {
    /// Create or replace the context, unless a newer version is stored.
    Upsert(Box<MeetingContext>),
    /// Forget the meeting, unless a newer version is stored; a tombstone keeps late
    /// older versions out.
    Delete {
        /// Whose meeting.
        user_id: String,
        /// Calendar item or booking.
        source: MeetingSource,
        /// The provider's id.
        item_id: String,
        /// When it was deleted at the provider.
        last_updated: DateTime<Utc>,
    },
}

impl MeetingChange {
    /// The change a calendar event asks for.
    pub fn from_calendar_event(event: &CalendarEvent) -> Self {
        Self::from_event(event, MeetingSource::Calendar, || {
            MeetingContext::from_calendar_event(event)
        })
    }

    /// The change a booking event asks for.
    pub fn from_booking_event(event: &MeetingBookingEvent) -> Self {
        Self::from_event(event, MeetingSource::Booking, || {
            MeetingContext::from_booking_event(event)
        })
    }

    fn from_event<T: OfficeItem>(
        event: &OfficeEvent<T>,
        source: MeetingSource,
        context: impl FnOnce() -> MeetingContext,
    ) -> Self {
        match event.operation {
            Operation::Delete => MeetingChange::Delete {
                user_id: event.user_id.clone(),
                source,
                item_id: event.item.item_id().to_string(),
                last_updated: event.last_updated,
            },
            Operation::Create | Operation::Update => MeetingChange::Upsert(Box::new(context())),
        }
    }
}

/// Splits `UID#RECURRENCE-ID` (as the ics importer writes overridden occurrences) into
/// the series id and the recurrence id; other ids have no recurrence id.
fn split_recurrence_id(item_id: &str) -> (String, Option<String>) {
    match item_id.rsplit_once('#') {
        Some((series, recurrence_id))
            if !series.is_empty() && is_ical_date_or_date_time(recurrence_id) =>
        {
            (series.to_string(), Some(recurrence_id.to_string()))
        }
        _ => (item_id.to_string(), None),
    }
}

/// `YYYYMMDD`, `YYYYMMDDTHHMMSS`, optionally followed by `Z` or an offset `±HHMM`.
fn is_ical_date_or_date_time(text: &str) -> bool {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let (date, time) = match text.split_once('T') {
        Some((date, time)) => (date, Some(time)),
        None => (text, None),
    };
    let time_ok = time.is_none_or(|time| {
        let clock = time.get(..6).unwrap_or_default();
        let zone = time.get(6..).unwrap_or_default();
        digits(clock)
            && clock.len() == 6
            && (zone.is_empty()
                || zone == "Z"
                || (zone.len() == 5 && zone.starts_with(['+', '-']) && digits(&zone[1..])))
    });
    date.len() == 8 && digits(date) && time_ok
}

/// Outlook and Exchange prefix the summary of a cancelled meeting.
fn is_cancelled_title(title: &str) -> bool {
    let lower = title.trim_start().to_lowercase();
    ["canceled:", "cancelled:", "canceled -", "cancelled -"]
        .iter()
        .any(|prefix| lower.starts_with(prefix))
}

/// Whether the user (when the user id is an address) declined as an attendee.
fn user_declined(user_id: &str, attendees: &[Attendee]) -> bool {
    attendees.iter().any(|attendee| {
        attendee.mailbox.address.eq_ignore_ascii_case(user_id)
            && attendee
                .status
                .as_deref()
                .is_some_and(|status| status.eq_ignore_ascii_case("declined"))
    })
}

/// The first Teams, Zoom, Meet or Webex join URL in `text`.
pub(crate) fn find_online_meeting(text: &str) -> Option<OnlineMeeting> {
    let mut rest = text;
    while let Some(at) = find_scheme(rest) {
        let candidate = &rest[at..];
        let end = candidate
            .find(|c: char| c.is_whitespace() || "<>\"'()[]{},;|".contains(c))
            .unwrap_or(candidate.len());
        let url = candidate[..end].trim_end_matches(['.', ':', '!', '?']);
        if let Some(service) = classify_url(url) {
            return Some(OnlineMeeting {
                service,
                url: url.to_string(),
            });
        }
        rest = &candidate[end.max(1)..];
    }
    None
}

/// The byte offset of the next `https://` or `http://`, in any case.
fn find_scheme(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("https://"), lower.find("http://")]
        .into_iter()
        .flatten()
        .min()
}

fn classify_url(url: &str) -> Option<OnlineMeetingService> {
    let after_scheme = url.split_once("://")?.1;
    let (host, path) = match after_scheme.find(['/', '?', '#']) {
        Some(at) => after_scheme.split_at(at),
        None => (after_scheme, ""),
    };
    let host = host
        .rsplit('@')
        .next()
        .unwrap_or(host)
        .split(':')
        .next()
        .unwrap_or(host)
        .to_ascii_lowercase();
    let on = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    let has_path = path.trim_matches('/').len() > 1;
    if host == "teams.microsoft.com" || host == "teams.live.com" {
        (has_path).then_some(OnlineMeetingService::Teams)
    } else if on("zoom.us") || on("zoom.com") || on("zoomgov.com") {
        (has_path).then_some(OnlineMeetingService::Zoom)
    } else if host == "meet.google.com" {
        (has_path).then_some(OnlineMeetingService::GoogleMeet)
    } else if on("webex.com") {
        (has_path).then_some(OnlineMeetingService::Webex)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_link(text: &str, expected: Option<(OnlineMeetingService, &str)>) {
        let found = find_online_meeting(text);
        assert_eq!(
            found.as_ref().map(|link| (link.service, link.url.as_str())),
            expected,
            "{text}"
        );
    }

    #[test]
    fn finds_online_meeting_links() {
        check_link(
            "Join: https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc/0?context=x",
            Some((
                OnlineMeetingService::Teams,
                "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc/0?context=x",
            )),
        );
        check_link(
            "<https://us02web.zoom.us/j/123456789?pwd=abc>.",
            Some((
                OnlineMeetingService::Zoom,
                "https://us02web.zoom.us/j/123456789?pwd=abc",
            )),
        );
        check_link(
            "Room 1 / HTTPS://meet.google.com/abc-defg-hij",
            Some((
                OnlineMeetingService::GoogleMeet,
                "HTTPS://meet.google.com/abc-defg-hij",
            )),
        );
        check_link(
            "see https://example.com/x then https://acme.webex.com/meet/alice.",
            Some((
                OnlineMeetingService::Webex,
                "https://acme.webex.com/meet/alice",
            )),
        );
        check_link("https://zoom.us/", None);
        check_link("https://notzoom.us/j/1", None);
        check_link("Room 1", None);
    }

    #[test]
    fn splits_recurrence_ids() {
        assert_eq!(
            split_recurrence_id("uid#20240108T100000"),
            ("uid".to_string(), Some("20240108T100000".to_string()))
        );
        assert_eq!(
            split_recurrence_id("a#b#20240108T090000Z"),
            ("a#b".to_string(), Some("20240108T090000Z".to_string()))
        );
        assert_eq!(
            split_recurrence_id("uid#20240108"),
            ("uid".to_string(), Some("20240108".to_string()))
        );
        assert_eq!(
            split_recurrence_id("uid#notes"),
            ("uid#notes".to_string(), None)
        );
        assert_eq!(
            split_recurrence_id("#20240108"),
            ("#20240108".to_string(), None)
        );
    }

    #[test]
    fn reads_cancellations_and_declines() {
        assert!(is_cancelled_title("Canceled: Weekly sync"));
        assert!(is_cancelled_title("CANCELLED: Weekly sync"));
        assert!(!is_cancelled_title("Weekly sync (not cancelled)"));
        let declined = Attendee {
            mailbox: Mailbox {
                name: None,
                address: "Alice@Example.com".into(),
            },
            status: Some("DECLINED".into()),
        };
        assert!(user_declined(
            "alice@example.com",
            std::slice::from_ref(&declined)
        ));
        assert!(!user_declined("bob@example.com", &[declined]));
    }
}
