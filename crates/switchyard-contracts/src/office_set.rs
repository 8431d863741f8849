//! The office event set: one data-type topic per kind of office item, partitioned by
//! user, plus the legacy `EmailBackfillEvent` (a batch of emails on `email-backfill`)
//! that is upcast into `EmailEvent`s on arrival.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::office_items::{
    DocumentEvent, FragmentEvent, LlmChatEvent, MeetingBookingEvent, MeetingPollEvent,
    ShipmentEvent, TaskEvent, TodoEvent,
};
use crate::{
    CalendarEvent, ContactEvent, ContractError, DataKind, Email, EmailEvent, Envelope,
    EventDefinition, EventSet, Idempotency, KeyClass, NamingPolicy, OfficeEvent, Operation,
    SyncType,
};

/// Every topic of the office set.
pub const OFFICE_TOPICS: &[&str] = &[
    "emails",
    "calendars",
    "contacts",
    "word_documents",
    "word_fragments",
    "sheet_documents",
    "sheet_fragments",
    "presentation_documents",
    "presentation_fragments",
    "task_documents",
    "todos",
    "llm_chats",
    "shipment_events",
    "meeting_polls",
    "meeting_bookings",
    LEGACY_EMAIL_BACKFILL_TOPIC,
];

/// Topic of the legacy batched email events.
pub const LEGACY_EMAIL_BACKFILL_TOPIC: &str = "email-backfill";
/// CloudEvents type of the legacy batched email events.
pub const LEGACY_EMAIL_BACKFILL_TYPE: &str = "switchyard.office.email_backfill";

/// The legacy batch of emails some producers still send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmailBackfillEvent {
    /// The batch.
    pub batch_id: String,
    /// Whose mail it is.
    pub user_id: String,
    /// Where it came from.
    pub provider: String,
    /// When it was read.
    pub sync_timestamp: DateTime<Utc>,
    /// The emails.
    pub emails: Vec<Email>,
}

const DOMAIN: &str = "office";

/// The office event set.
pub fn event_set() -> EventSet {
    // Office items change after creation: a newer `last_updated` is a new effect.
    let mutable = Idempotency::Mutable {
        id: "item.id",
        version: "last_updated",
    };
    let office = |definition: EventDefinition| {
        definition
            .retention_days(7)
            .idempotency(mutable, KeyClass::OfficeData)
    };
    let fragment = |definition: EventDefinition| {
        definition
            .retention_days(30)
            .idempotency(mutable, KeyClass::Fragment)
    };
    EventSet {
        name: "office",
        description: "Office data by data type, from files and providers, partitioned by user.",
        naming: NamingPolicy::DataTypes(OFFICE_TOPICS),
        topics: OFFICE_TOPICS.to_vec(),
        partition_keys: vec![(DOMAIN, "user_id")],
        events: vec![
            office(EventDefinition::event::<EmailEvent>(
                "EmailEvent",
                DataKind::Email.event_type(),
                "emails",
                DOMAIN,
            ))
            // A message never changes once sent: its id alone names the effect.
            .idempotency(
                Idempotency::Immutable { id: "item.id" },
                KeyClass::OfficeData,
            )
            .description("An email message was created, updated or deleted."),
            office(EventDefinition::event::<CalendarEvent>(
                "CalendarEvent",
                DataKind::Calendar.event_type(),
                "calendars",
                DOMAIN,
            ))
            .description("A calendar event was created, updated or deleted."),
            office(EventDefinition::event::<ContactEvent>(
                "ContactEvent",
                DataKind::Contact.event_type(),
                "contacts",
                DOMAIN,
            ))
            .description("A contact was created, updated or deleted."),
            office(EventDefinition::event::<DocumentEvent>(
                "WordDocumentEvent",
                DataKind::WordDocument.event_type(),
                DataKind::WordDocument.topic_name(),
                DOMAIN,
            ))
            .description("A Word document changed."),
            fragment(EventDefinition::event::<FragmentEvent>(
                "WordFragmentEvent",
                DataKind::WordFragment.event_type(),
                DataKind::WordFragment.topic_name(),
                DOMAIN,
            ))
            .description("A section of a Word document, for search."),
            office(EventDefinition::event::<DocumentEvent>(
                "SheetDocumentEvent",
                DataKind::SheetDocument.event_type(),
                DataKind::SheetDocument.topic_name(),
                DOMAIN,
            ))
            .description("An Excel workbook changed."),
            fragment(EventDefinition::event::<FragmentEvent>(
                "SheetFragmentEvent",
                DataKind::SheetFragment.event_type(),
                DataKind::SheetFragment.topic_name(),
                DOMAIN,
            ))
            .description("A sheet or block of rows with its header row, for search."),
            office(EventDefinition::event::<DocumentEvent>(
                "PresentationDocumentEvent",
                DataKind::PresentationDocument.event_type(),
                DataKind::PresentationDocument.topic_name(),
                DOMAIN,
            ))
            .description("A PowerPoint presentation changed."),
            fragment(EventDefinition::event::<FragmentEvent>(
                "PresentationFragmentEvent",
                DataKind::PresentationFragment.event_type(),
                DataKind::PresentationFragment.topic_name(),
                DOMAIN,
            ))
            .description("One slide (title, body, notes), for search."),
            office(EventDefinition::event::<TaskEvent>(
                "TaskEvent",
                DataKind::Task.event_type(),
                DataKind::Task.topic_name(),
                DOMAIN,
            ))
            .description("A task of a task list changed."),
            office(EventDefinition::event::<TodoEvent>(
                "TodoEvent",
                DataKind::Todo.event_type(),
                DataKind::Todo.topic_name(),
                DOMAIN,
            ))
            .description("A personal todo changed."),
            office(EventDefinition::event::<LlmChatEvent>(
                "LlmChatEvent",
                DataKind::LlmChat.event_type(),
                DataKind::LlmChat.topic_name(),
                DOMAIN,
            ))
            .description("A conversation with an LLM tool changed."),
            office(EventDefinition::event::<ShipmentEvent>(
                "ShipmentEvent",
                DataKind::Shipment.event_type(),
                DataKind::Shipment.topic_name(),
                DOMAIN,
            ))
            .description("A shipment tracked from email changed status."),
            office(EventDefinition::event::<MeetingPollEvent>(
                "MeetingPollEvent",
                DataKind::MeetingPoll.event_type(),
                DataKind::MeetingPoll.topic_name(),
                DOMAIN,
            ))
            .description("A meeting poll was opened, changed or closed."),
            office(EventDefinition::event::<MeetingBookingEvent>(
                "MeetingBookingEvent",
                DataKind::MeetingBooking.event_type(),
                DataKind::MeetingBooking.topic_name(),
                DOMAIN,
            ))
            .description("A meeting slot was booked or cancelled."),
            office(EventDefinition::event::<EmailBackfillEvent>(
                "EmailBackfillEvent",
                LEGACY_EMAIL_BACKFILL_TYPE,
                LEGACY_EMAIL_BACKFILL_TOPIC,
                DOMAIN,
            ))
            .legacy(upcast_email_backfill)
            .idempotency(Idempotency::Batch { batch: "batch_id" }, KeyClass::Batch)
            .description("Legacy: a batch of emails; upcast into one EmailEvent per email."),
        ],
    }
}

/// One `EmailEvent` envelope per email of a legacy batch. Ids are derived from the
/// batch envelope's id, so a redelivered batch upcasts to the same events.
fn upcast_email_backfill(envelope: &Envelope) -> Result<Vec<Envelope>, ContractError> {
    let data = envelope
        .data
        .clone()
        .ok_or_else(|| ContractError::MissingField {
            field: "data".into(),
        })?;
    let batch: EmailBackfillEvent = serde_path_to_error::deserialize(data)
        .map_err(|err| ContractError::at_path("data", err))?;
    let correlation = envelope
        .correlationid
        .clone()
        .unwrap_or_else(|| batch.batch_id.clone());
    batch
        .emails
        .into_iter()
        .enumerate()
        .map(|(index, email)| {
            let event: EmailEvent = OfficeEvent {
                operation: Operation::Create,
                batch_id: batch.batch_id.clone(),
                last_updated: email.date.unwrap_or(batch.sync_timestamp),
                sync_timestamp: batch.sync_timestamp,
                sync_type: SyncType::Backfill,
                provider: batch.provider.clone(),
                user_id: batch.user_id.clone(),
                item: email,
            };
            let mut upcast = event.to_envelope(&envelope.source, &correlation)?;
            upcast.id = format!("{}#{index}", envelope.id);
            upcast.traceparent = envelope.traceparent.clone().or(upcast.traceparent);
            Ok(upcast)
        })
        .collect()
}
