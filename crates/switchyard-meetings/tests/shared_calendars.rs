//! Runs the shared calendar corpus (`shared/testdata/calendar`, read by the ics
//! importer) through the [`MeetingsHandler`]: every event must be handled, and every
//! stored recurring series must expand or fall back without failing availability.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchyard_contracts::{AnyOfficeEvent, SyncType};
use switchyard_meetings::{
    AvailabilityOptions, MeetingStore, MeetingsHandler, RedbMeetingStore, availability,
};
use switchyard_office::{ImportOptions, discover, read_file, shared_testdata};
use switchyard_runtime::{Handler, Incoming, Outcome};

const USER: &str = "corpus@example.com";

#[tokio::test]
async fn shared_calendars_go_through_the_handler() -> anyhow::Result<()> {
    let corpus = shared_testdata().join("calendar");
    let discovery = discover(&[corpus])?;
    let options = ImportOptions {
        user_id: USER.into(),
        sync_type: SyncType::Backfill,
    };
    let mut events = Vec::new();
    let mut rejections = 0;
    for file in &discovery.files {
        for item in read_file(file, &options) {
            match item {
                Ok(event) => events.push(event),
                Err(_) => rejections += 1,
            }
        }
    }
    let calendar_events = events
        .iter()
        .filter(|event| matches!(event, AnyOfficeEvent::Calendar(_)))
        .count();

    let dir = tempfile::tempdir()?;
    let store = Arc::new(RedbMeetingStore::open(dir.path())?);
    let handler = MeetingsHandler::new(store.clone());
    for chunk in events.chunks(100) {
        let batch: Vec<Incoming<AnyOfficeEvent>> = chunk
            .iter()
            .cloned()
            .enumerate()
            .map(|(position, event)| Incoming::new(event, format!("e{position}")))
            .collect();
        let count = batch.len();
        assert_eq!(handler.handle(batch).await, vec![Outcome::Done; count]);
    }

    let meetings = store.user_meetings(USER).await?;
    let recurring: Vec<_> = meetings.iter().filter(|m| m.is_recurring()).collect();
    let overrides = meetings
        .iter()
        .filter(|m| m.recurrence_id.is_some())
        .count();
    let with_links = meetings
        .iter()
        .filter(|m| m.online_meeting.is_some())
        .count();
    // Each series is expanded over the year after its start; rules calcard cannot
    // evaluate are counted (availability then takes their first occurrence only).
    let mut unexpandable = Vec::new();
    let mut expanded_occurrences = 0;
    for series in &recurring {
        let Some(start) = series.start else { continue };
        match series.occurrences(start, start + chrono::TimeDelta::days(365)) {
            Ok(occurrences) => expanded_occurrences += occurrences.len(),
            Err(err) => unexpandable.push(err.to_string()),
        }
        let to: DateTime<Utc> = start + chrono::TimeDelta::days(60);
        availability(
            store.as_ref(),
            USER,
            start,
            to,
            &AvailabilityOptions::default(),
        )
        .await?;
    }
    eprintln!(
        "shared calendars: {} files, {} events ({calendar_events} calendar, {rejections} \
         rejected), {} contexts stored, {} recurring, {overrides} overridden occurrences, \
         {with_links} with online-meeting links, {expanded_occurrences} occurrences in the \
         first year of each series, {} rules not expandable: {unexpandable:#?}",
        discovery.files.len(),
        events.len(),
        meetings.len(),
        recurring.len(),
        unexpandable.len(),
    );
    assert!(!meetings.is_empty());
    assert!(!recurring.is_empty());
    Ok(())
}
