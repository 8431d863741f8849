//! End-to-end behaviour of the meetings consumer on a written-out fortnight around the
//! 2024 European daylight-saving change: events go through envelopes and the
//! [`MeetingsHandler`] into a [`RedbMeetingStore`], then availability is read back.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use switchyard_contracts::{
    AnyOfficeEvent, Attendee, CalendarEvent, CalendarItem, Email, EmailEvent, Mailbox,
    MeetingBooking, MeetingBookingEvent, OfficeEvent, OfficeItem, Operation, SyncType, TimeSlot,
};
use switchyard_meetings::{
    Applied, Availability, AvailabilityOptions, FreeSlot, MeetingChange, MeetingContext,
    MeetingSource, MeetingStatus, MeetingStore, MeetingsError, MeetingsErrorKind, MeetingsHandler,
    OnlineMeetingService, RedbMeetingStore, WorkingHours, availability,
};
use switchyard_runtime::{Handler, Incoming, Outcome};

const ALICE: &str = "alice@example.com";
const BERLIN: &str = "Europe/Berlin";

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("test times parse")
}

/// A calendar item of Europe/Berlin, its times given in UTC.
fn item(id: &str, title: &str, start: &str, end: &str) -> CalendarItem {
    CalendarItem {
        id: id.into(),
        title: title.into(),
        start: Some(utc(start)),
        end: Some(utc(end)),
        time_zone: Some(BERLIN.into()),
        organizer: Some(Mailbox {
            name: Some("Olga".into()),
            address: "olga@example.com".into(),
        }),
        attendees: vec![Attendee {
            mailbox: Mailbox {
                name: None,
                address: ALICE.into(),
            },
            status: Some("ACCEPTED".into()),
        }],
        ..CalendarItem::default()
    }
}

fn stamped<T: OfficeItem>(
    operation: Operation,
    user: &str,
    updated: &str,
    item: T,
) -> OfficeEvent<T> {
    let mut event = OfficeEvent::new(operation, SyncType::Streaming, "msgraph", user, "b1", item);
    event.last_updated = utc(updated);
    event.sync_timestamp = utc("2024-03-01T00:00:00Z");
    event
}

fn calendar(operation: Operation, updated: &str, item: CalendarItem) -> AnyOfficeEvent {
    AnyOfficeEvent::Calendar(stamped(operation, ALICE, updated, item))
}

const T1: &str = "2024-03-01T10:00:00Z";
const T2: &str = "2024-03-02T10:00:00Z";
const T3: &str = "2024-03-03T10:00:00Z";

/// The fortnight's events, in delivery order, late older versions included.
fn events() -> Vec<AnyOfficeEvent> {
    let mut standup = item(
        "standup",
        "Standup",
        "2024-01-08T08:00:00Z",
        "2024-01-08T08:15:00Z",
    );
    standup.recurrence = Some("FREQ=WEEKLY;BYDAY=MO,WE".into());
    standup.location = Some("https://teams.microsoft.com/l/meetup-join/19%3astandup".into());
    let mut review = item(
        "review",
        "Design review",
        "2024-03-26T13:00:00Z",
        "2024-03-26T14:00:00Z",
    );
    review.description = "Join https://us02web.zoom.us/j/123456789 on time".into();
    let mut declined = item(
        "declined",
        "Optional talk",
        "2024-04-04T09:00:00Z",
        "2024-04-04T10:00:00Z",
    );
    declined.attendees[0].status = Some("DECLINED".into());
    let bob = AnyOfficeEvent::Calendar(stamped(
        Operation::Create,
        "bob@example.com",
        T1,
        item(
            "bob-only",
            "Bob's",
            "2024-03-25T10:00:00Z",
            "2024-03-25T12:00:00Z",
        ),
    ));
    let email = AnyOfficeEvent::Email(EmailEvent::new(
        Operation::Create,
        SyncType::Streaming,
        "mbox",
        ALICE,
        "b1",
        Email {
            id: "<1@x>".into(),
            ..Email::default()
        },
    ));
    let booking = AnyOfficeEvent::MeetingBooking(stamped(
        Operation::Create,
        ALICE,
        T1,
        MeetingBooking {
            id: "booking-1".into(),
            title: "Intro call".into(),
            slot: Some(TimeSlot {
                start: utc("2024-04-05T12:00:00Z"),
                end: utc("2024-04-05T13:00:00Z"),
            }),
            organizer: Mailbox {
                name: None,
                address: ALICE.into(),
            },
            attendee: Mailbox {
                name: None,
                address: "guest@example.org".into(),
            },
            poll_id: None,
        },
    ));
    let moved_first = item(
        "moved",
        "1:1",
        "2024-03-29T08:00:00Z",
        "2024-03-29T09:00:00Z",
    );
    let moved_later = item(
        "moved",
        "1:1",
        "2024-04-02T09:00:00Z",
        "2024-04-02T10:00:00Z",
    );
    let budget = item(
        "budget",
        "Budget",
        "2024-03-28T09:00:00Z",
        "2024-03-28T10:00:00Z",
    );
    let mut budget_cancelled = budget.clone();
    budget_cancelled.title = "Canceled: Budget".into();
    let deleted = item(
        "deleted",
        "Gone",
        "2024-04-04T11:00:00Z",
        "2024-04-04T12:00:00Z",
    );
    vec![
        calendar(Operation::Create, T1, standup),
        // Wednesday's standup moved from 09:00 to 10:00 local time.
        calendar(
            Operation::Create,
            T2,
            item(
                "standup#20240327T090000",
                "Standup (late)",
                "2024-03-27T09:00:00Z",
                "2024-03-27T09:15:00Z",
            ),
        ),
        calendar(Operation::Create, T1, review),
        calendar(
            Operation::Create,
            T1,
            item(
                "overlap",
                "Hallway chat",
                "2024-03-26T13:30:00Z",
                "2024-03-26T15:00:00Z",
            ),
        ),
        // A 15-minute gap on Friday, shorter than the 30-minute minimum.
        calendar(
            Operation::Create,
            T1,
            item(
                "sync",
                "Sync",
                "2024-03-29T09:00:00Z",
                "2024-03-29T09:45:00Z",
            ),
        ),
        calendar(
            Operation::Create,
            T1,
            item(
                "lunch",
                "Lunch",
                "2024-03-29T10:00:00Z",
                "2024-03-29T11:00:00Z",
            ),
        ),
        calendar(Operation::Create, T1, budget),
        calendar(Operation::Update, T2, budget_cancelled),
        calendar(Operation::Create, T1, moved_first.clone()),
        calendar(Operation::Update, T3, moved_later),
        // The first version arrives again, late.
        calendar(Operation::Update, T1, moved_first),
        calendar(Operation::Create, T1, deleted.clone()),
        calendar(
            Operation::Delete,
            T2,
            CalendarItem {
                id: "deleted".into(),
                ..CalendarItem::default()
            },
        ),
        // The create arrives again after the delete.
        calendar(Operation::Create, T1, deleted),
        calendar(Operation::Create, T1, declined),
        bob,
        email,
        booking,
    ]
}

/// Sends `events` through envelopes and the handler; every outcome must be `Done`.
async fn deliver(handler: &MeetingsHandler, events: Vec<AnyOfficeEvent>) {
    let batch: Vec<Incoming<AnyOfficeEvent>> = events
        .into_iter()
        .enumerate()
        .map(|(position, event)| {
            let envelope = event
                .to_envelope("/test", "scenario")
                .expect("events are valid");
            let decoded = handler.decode(&envelope).expect("envelopes decode");
            assert_eq!(decoded, event);
            Incoming::new(decoded, format!("e{position}"))
        })
        .collect();
    let count = batch.len();
    let outcomes = handler.handle(batch).await;
    assert_eq!(outcomes, vec![Outcome::Done; count]);
}

fn fortnight() -> (DateTime<Utc>, DateTime<Utc>) {
    (utc("2024-03-25T00:00:00Z"), utc("2024-04-06T00:00:00Z"))
}

fn working_week() -> AvailabilityOptions {
    AvailabilityOptions {
        working_hours: Some(WorkingHours::office_week(BERLIN)),
        min_slot_minutes: 30,
        ..AvailabilityOptions::default()
    }
}

/// Busy blocks as `(start, end, item ids)` in UTC.
fn busy_summary(availability: &Availability) -> Vec<(String, String, Vec<String>)> {
    availability
        .busy
        .iter()
        .map(|block| {
            (
                block.start.format("%m-%d %H:%M").to_string(),
                block.end.format("%m-%d %H:%M").to_string(),
                block.item_ids.clone(),
            )
        })
        .collect()
}

fn check_busy(availability: &Availability, expected: &[(&str, &str, &[&str])]) {
    let expected: Vec<(String, String, Vec<String>)> = expected
        .iter()
        .map(|(start, end, ids)| {
            (
                start.to_string(),
                end.to_string(),
                ids.iter().map(|id| id.to_string()).collect(),
            )
        })
        .collect();
    assert_eq!(busy_summary(availability), expected);
}

fn slot(start: &str, end: &str) -> FreeSlot {
    FreeSlot {
        start: utc(start),
        end: utc(end),
    }
}

async fn open_store(dir: &std::path::Path) -> (Arc<RedbMeetingStore>, MeetingsHandler) {
    let store = Arc::new(RedbMeetingStore::open(dir).expect("store opens"));
    let handler = MeetingsHandler::new(store.clone());
    (store, handler)
}

#[tokio::test]
async fn fortnight_across_daylight_saving() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, handler) = open_store(dir.path()).await;
    deliver(&handler, events()).await;
    let (from, to) = fortnight();

    let week = availability(store.as_ref(), ALICE, from, to, &working_week()).await?;
    // The standup stays at 09:00 Berlin: 08:00Z before 2024-03-31, 07:00Z after; its
    // Wednesday 27th occurrence moved to 10:00 local; review and hallway chat merge;
    // the cancelled budget, declined talk and deleted meeting take no time; the 1:1
    // moved to April 2nd; Bob's meeting is Bob's.
    check_busy(
        &week,
        &[
            ("03-25 08:00", "03-25 08:15", &["standup"]),
            ("03-26 13:00", "03-26 15:00", &["review", "overlap"]),
            ("03-27 09:00", "03-27 09:15", &["standup#20240327T090000"]),
            ("03-29 09:00", "03-29 09:45", &["sync"]),
            ("03-29 10:00", "03-29 11:00", &["lunch"]),
            ("04-01 07:00", "04-01 07:15", &["standup"]),
            ("04-02 09:00", "04-02 10:00", &["moved"]),
            ("04-03 07:00", "04-03 07:15", &["standup"]),
            ("04-05 12:00", "04-05 13:00", &["booking-1"]),
        ],
    );
    // Free within 09:00-17:00 Berlin on weekdays, at least 30 minutes.
    assert_eq!(
        week.free,
        vec![
            slot("2024-03-25T08:15:00Z", "2024-03-25T16:00:00Z"),
            slot("2024-03-26T08:00:00Z", "2024-03-26T13:00:00Z"),
            slot("2024-03-26T15:00:00Z", "2024-03-26T16:00:00Z"),
            slot("2024-03-27T08:00:00Z", "2024-03-27T09:00:00Z"),
            slot("2024-03-27T09:15:00Z", "2024-03-27T16:00:00Z"),
            slot("2024-03-28T08:00:00Z", "2024-03-28T16:00:00Z"),
            slot("2024-03-29T08:00:00Z", "2024-03-29T09:00:00Z"),
            slot("2024-03-29T11:00:00Z", "2024-03-29T16:00:00Z"),
            slot("2024-04-01T07:15:00Z", "2024-04-01T15:00:00Z"),
            slot("2024-04-02T07:00:00Z", "2024-04-02T09:00:00Z"),
            slot("2024-04-02T10:00:00Z", "2024-04-02T15:00:00Z"),
            slot("2024-04-03T07:15:00Z", "2024-04-03T15:00:00Z"),
            slot("2024-04-04T07:00:00Z", "2024-04-04T15:00:00Z"),
            slot("2024-04-05T07:00:00Z", "2024-04-05T12:00:00Z"),
            slot("2024-04-05T13:00:00Z", "2024-04-05T15:00:00Z"),
        ]
    );

    // Without options, free slots are every gap of the window.
    let all = availability(
        store.as_ref(),
        ALICE,
        from,
        to,
        &AvailabilityOptions::default(),
    )
    .await?;
    assert_eq!(all.busy, week.busy);
    assert_eq!(
        all.free.first(),
        Some(&slot("2024-03-25T00:00:00Z", "2024-03-25T08:00:00Z"))
    );
    assert_eq!(
        all.free.last(),
        Some(&slot("2024-04-05T13:00:00Z", "2024-04-06T00:00:00Z"))
    );
    assert_eq!(all.free.len(), all.busy.len() + 1);

    // Bob sees only his own meeting.
    let bob = availability(
        store.as_ref(),
        "bob@example.com",
        from,
        to,
        &Default::default(),
    )
    .await?;
    assert_eq!(bob.busy.len(), 1);
    assert_eq!(bob.busy[0].item_ids, ["bob-only"]);
    Ok(())
}

#[tokio::test]
async fn contexts_keep_what_the_meeting_needs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, handler) = open_store(dir.path()).await;
    deliver(&handler, events()).await;

    let standup = store
        .get(ALICE, MeetingSource::Calendar, "standup")
        .await?
        .expect("standup is stored");
    assert_eq!(standup.title, "Standup");
    assert_eq!(
        standup.recurrence.as_deref(),
        Some("FREQ=WEEKLY;BYDAY=MO,WE")
    );
    assert_eq!(standup.time_zone.as_deref(), Some(BERLIN));
    assert_eq!(
        standup.organizer.as_ref().map(|o| o.address.as_str()),
        Some("olga@example.com")
    );
    assert_eq!(standup.attendees.len(), 1);
    let link = standup.online_meeting.expect("teams link found");
    assert_eq!(link.service, OnlineMeetingService::Teams);

    let review = store
        .get(ALICE, MeetingSource::Calendar, "review")
        .await?
        .expect("review is stored");
    assert_eq!(
        review.online_meeting.map(|link| link.service),
        Some(OnlineMeetingService::Zoom)
    );

    let moved = store
        .get(ALICE, MeetingSource::Calendar, "moved")
        .await?
        .unwrap();
    assert_eq!(moved.start, Some(utc("2024-04-02T09:00:00Z")));
    assert_eq!(moved.last_updated, utc(T3));

    let budget = store
        .get(ALICE, MeetingSource::Calendar, "budget")
        .await?
        .unwrap();
    assert_eq!(budget.status, MeetingStatus::Cancelled);
    let declined = store
        .get(ALICE, MeetingSource::Calendar, "declined")
        .await?
        .unwrap();
    assert_eq!(declined.status, MeetingStatus::Declined);
    assert_eq!(
        store.get(ALICE, MeetingSource::Calendar, "deleted").await?,
        None
    );

    let occurrence = store
        .get(ALICE, MeetingSource::Calendar, "standup#20240327T090000")
        .await?
        .unwrap();
    assert_eq!(occurrence.series_id, "standup");
    assert_eq!(occurrence.recurrence_id.as_deref(), Some("20240327T090000"));

    let booking = store
        .get(ALICE, MeetingSource::Booking, "booking-1")
        .await?
        .unwrap();
    assert!(booking.is_busy());
    // Nine calendar contexts (the deleted one is gone) and one booking.
    assert_eq!(store.user_meetings(ALICE).await?.len(), 10);
    assert_eq!(store.user_meetings("bob@example.com").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn redelivery_and_replay_change_nothing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (store, handler) = open_store(dir.path()).await;
    let (from, to) = fortnight();
    deliver(&handler, events()).await;
    let meetings = store.user_meetings(ALICE).await?;
    let week = availability(store.as_ref(), ALICE, from, to, &working_week()).await?;

    // Every event again, in order, one by one, then in reverse order.
    for event in events() {
        deliver(&handler, vec![event]).await;
    }
    let mut reversed = events();
    reversed.reverse();
    deliver(&handler, reversed).await;
    assert_eq!(store.user_meetings(ALICE).await?, meetings);
    assert_eq!(
        availability(store.as_ref(), ALICE, from, to, &working_week()).await?,
        week
    );

    // A fresh store fed the events in reverse order ends in the same state.
    let other_dir = tempfile::tempdir()?;
    let (other, other_handler) = open_store(other_dir.path()).await;
    let mut reversed = events();
    reversed.reverse();
    deliver(&other_handler, reversed).await;
    assert_eq!(other.user_meetings(ALICE).await?, meetings);

    // The store's own verdicts: a redelivery is unchanged, an older version stale.
    let standup = meetings
        .iter()
        .find(|meeting| meeting.item_id == "standup")
        .unwrap()
        .clone();
    let mut older = standup.clone();
    older.last_updated = utc("2024-02-01T00:00:00Z");
    older.title = "Old standup".into();
    assert_eq!(
        store
            .apply(vec![
                MeetingChange::Upsert(Box::new(standup)),
                MeetingChange::Upsert(Box::new(older))
            ])
            .await?,
        [Applied::Unchanged, Applied::Stale]
    );
    Ok(())
}

/// A store that is always down.
struct DownStore;

#[async_trait]
impl MeetingStore for DownStore {
    async fn apply(&self, _: Vec<MeetingChange>) -> Result<Vec<Applied>, MeetingsError> {
        Err(MeetingsError::new(
            MeetingsErrorKind::Unavailable,
            "failed to write meetings: disk full",
        ))
    }
    async fn get(
        &self,
        _: &str,
        _: MeetingSource,
        _: &str,
    ) -> Result<Option<MeetingContext>, MeetingsError> {
        Ok(None)
    }
    async fn user_meetings(&self, _: &str) -> Result<Vec<MeetingContext>, MeetingsError> {
        Ok(Vec::new())
    }
}

#[tokio::test]
async fn store_failures_are_retried_and_other_kinds_are_done() {
    let handler = MeetingsHandler::new(Arc::new(DownStore));
    let email = AnyOfficeEvent::Email(EmailEvent::new(
        Operation::Create,
        SyncType::Streaming,
        "mbox",
        ALICE,
        "b1",
        Email {
            id: "<1@x>".into(),
            ..Email::default()
        },
    ));
    let meeting = calendar(
        Operation::Create,
        T1,
        item("m", "M", "2024-03-25T10:00:00Z", "2024-03-25T11:00:00Z"),
    );
    let batch = [email, meeting]
        .into_iter()
        .map(|event| Incoming::new(event, "e"))
        .collect();
    let outcomes = handler.handle(batch).await;
    assert_eq!(outcomes[0], Outcome::Done);
    assert!(
        matches!(&outcomes[1], Outcome::Retry(reason)
            if reason == "failed to apply meeting changes: failed to write meetings: disk full"),
        "{outcomes:?}"
    );
}

#[test]
fn bookings_without_a_slot_take_no_time() {
    let event: MeetingBookingEvent = stamped(
        Operation::Create,
        ALICE,
        T1,
        MeetingBooking {
            id: "b".into(),
            ..MeetingBooking::default()
        },
    );
    assert!(!MeetingContext::from_booking_event(&event).is_busy());
    let _: CalendarEvent = stamped(Operation::Create, ALICE, T1, CalendarItem::default());
}
