//! Free/busy from an `.ics` file as a calendar app writes it, read by the ics importer
//! and kept by the [`MeetingsHandler`]: a weekly meeting with an `EXDATE`, an `RDATE`, a
//! cancelled occurrence and an `UNTIL` in UTC, a series with two `RRULE`s, a transparent
//! and a cancelled event, all in a zone the file defines under a name nobody knows, over
//! ten days that cross the 2024 European daylight-saving change (Sunday 31 March).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchyard_contracts::{AnyOfficeEvent, SyncType};
use switchyard_meetings::{
    AvailabilityOptions, MeetingStatus, MeetingStore, MeetingsHandler, RedbMeetingStore,
    availability,
};
use switchyard_office::{ImportOptions, discover, read_file};
use switchyard_runtime::{Handler, Incoming, Outcome};

const USER: &str = "alice@example.com";

/// Central European time under a name no zone database knows, defined by its rules.
const CALENDAR: &str = "BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Switchyard tests//EN\r
BEGIN:VTIMEZONE\r
TZID:Headquarters Time\r
BEGIN:STANDARD\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:sync\r
SUMMARY:Team sync\r
DTSTART;TZID=Headquarters Time:20240306T100000\r
DTEND;TZID=Headquarters Time:20240306T103000\r
RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR;UNTIL=20240405T080000Z\r
EXDATE;TZID=Headquarters Time:20240329T100000\r
RDATE;TZID=Headquarters Time:20240402T150000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:sync\r
RECURRENCE-ID;TZID=Headquarters Time:20240403T100000\r
SUMMARY:Team sync\r
STATUS:CANCELLED\r
DTSTART;TZID=Headquarters Time:20240403T100000\r
DTEND;TZID=Headquarters Time:20240403T103000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:walk\r
SUMMARY:Lunch walk\r
DTSTART;TZID=Headquarters Time:20240325T123000\r
DTEND;TZID=Headquarters Time:20240325T130000\r
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20240409T000000Z\r
RRULE:FREQ=WEEKLY;BYDAY=TH;UNTIL=20240405T000000Z\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:focus\r
SUMMARY:Focus time\r
TRANSP:TRANSPARENT\r
DTSTART;TZID=Headquarters Time:20240328T130000\r
DTEND;TZID=Headquarters Time:20240328T150000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:offsite\r
SUMMARY:Offsite\r
STATUS:CANCELLED\r
DTSTART;TZID=Headquarters Time:20240328T090000\r
DTEND;TZID=Headquarters Time:20240328T170000\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:review\r
SUMMARY:Review\r
DTSTART;TZID=Headquarters Time:20240404T090000\r
DTEND;TZID=Headquarters Time:20240404T100000\r
END:VEVENT\r
END:VCALENDAR\r
";

fn utc(text: &str) -> DateTime<Utc> {
    text.parse().expect("test times parse")
}

/// Imports `text` as an `.ics` file and hands every event to a meetings store.
async fn store_of(text: &str) -> anyhow::Result<(tempfile::TempDir, Arc<RedbMeetingStore>)> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("calendar.ics");
    std::fs::write(&path, text)?;
    let discovery = discover(&[path])?;
    let options = ImportOptions {
        user_id: USER.into(),
        sync_type: SyncType::Backfill,
    };
    let mut events: Vec<AnyOfficeEvent> = Vec::new();
    for file in &discovery.files {
        for item in read_file(file, &options) {
            events.push(item.map_err(|rejection| anyhow::anyhow!("{rejection:?}"))?);
        }
    }
    assert_eq!(events.len(), 6, "{events:#?}");
    let store = Arc::new(RedbMeetingStore::open(dir.path())?);
    let handler = MeetingsHandler::new(store.clone());
    let batch: Vec<Incoming<AnyOfficeEvent>> = events
        .into_iter()
        .enumerate()
        .map(|(position, event)| Incoming::new(event, format!("e{position}")))
        .collect();
    let count = batch.len();
    assert_eq!(handler.handle(batch).await, vec![Outcome::Done; count]);
    Ok((dir, store))
}

#[tokio::test]
async fn busy_blocks_honour_exdate_rdate_cancellations_and_transparency() -> anyhow::Result<()> {
    let (_dir, store) = store_of(CALENDAR).await?;
    let found = availability(
        store.as_ref(),
        USER,
        utc("2024-03-27T00:00:00Z"),
        utc("2024-04-06T00:00:00Z"),
        &AvailabilityOptions::default(),
    )
    .await?;
    let busy: Vec<(String, String, Vec<String>)> = found
        .busy
        .iter()
        .map(|block| {
            (
                block.start.format("%m-%d %H:%M").to_string(),
                block.end.format("%H:%M").to_string(),
                block.item_ids.clone(),
            )
        })
        .collect();
    let block = |start: &str, end: &str, id: &str| {
        (start.to_string(), end.to_string(), vec![id.to_string()])
    };
    assert_eq!(
        busy,
        [
            // 10:00 local is 09:00Z before the change and 08:00Z after it.
            block("03-27 09:00", "09:30", "sync"),
            // The second RRULE's Thursday; the transparent focus time and the cancelled
            // offsite on the same day take no time.
            block("03-28 11:30", "12:00", "walk"),
            // Friday 29 March is excluded.
            block("04-01 08:00", "08:30", "sync"),
            block("04-01 10:30", "11:00", "walk"),
            // The added date: 15:00 local on Tuesday.
            block("04-02 13:00", "13:30", "sync"),
            // Wednesday 3 April's occurrence is cancelled.
            block("04-04 07:00", "08:00", "review"),
            block("04-04 10:30", "11:00", "walk"),
            // UNTIL=20240405T080000Z is 10:00 local: the last occurrence stays.
            block("04-05 08:00", "08:30", "sync"),
        ]
    );

    let meetings = store.user_meetings(USER).await?;
    let status = |id: &str| {
        meetings
            .iter()
            .find(|meeting| meeting.item_id == id)
            .map(|meeting| meeting.status)
    };
    assert_eq!(status("focus"), Some(MeetingStatus::Free));
    assert_eq!(status("offsite"), Some(MeetingStatus::Cancelled));
    assert_eq!(
        status("sync#20240403T100000"),
        Some(MeetingStatus::Cancelled)
    );
    Ok(())
}

#[tokio::test]
async fn a_window_after_the_series_ended_is_free() -> anyhow::Result<()> {
    let (_dir, store) = store_of(CALENDAR).await?;
    let found = availability(
        store.as_ref(),
        USER,
        utc("2024-05-01T00:00:00Z"),
        utc("2024-05-08T00:00:00Z"),
        &AvailabilityOptions::default(),
    )
    .await?;
    assert!(found.busy.is_empty(), "{:?}", found.busy);
    Ok(())
}
