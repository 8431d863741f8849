//! Office data events: one generic [`OfficeEvent`] carrying sync metadata around a
//! normalized item (the items are in `office_items.rs`), [`AnyOfficeEvent`] for any of
//! them, and the [`DataKind`] that maps each item type to its event type and topic.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    CalendarEvent, ContactEvent, ContractError, DocumentEvent, EmailEvent, Envelope, FragmentEvent,
    JSON_CONTENT_TYPE, LlmChatEvent, MeetingBookingEvent, MeetingPollEvent, OfficeItem,
    ShipmentEvent, TaskEvent, TodoEvent, Topic,
};

/// What happened to the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    /// The item is new.
    Create,
    /// The item changed; the event carries its whole new state.
    Update,
    /// The item is gone; only its id matters.
    Delete,
}

/// How the item reached Switchyard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncType {
    /// Historical import, in batches.
    Backfill,
    /// Live change (webhook, delta).
    Streaming,
}

/// The office data types, each with its event type, topic and search document type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataKind {
    /// Email messages, on `emails`.
    Email,
    /// Calendar events, on `calendars`.
    Calendar,
    /// Contacts, on `contacts`.
    Contact,
    /// Word documents, on `word_documents`.
    WordDocument,
    /// Sections of Word documents, on `word_fragments`.
    WordFragment,
    /// Workbooks, on `sheet_documents`.
    SheetDocument,
    /// Sheets or blocks of rows, on `sheet_fragments`.
    SheetFragment,
    /// Slide decks, on `presentation_documents`.
    PresentationDocument,
    /// Slides, on `presentation_fragments`.
    PresentationFragment,
    /// Tasks of task lists, on `task_documents`.
    Task,
    /// Personal todos, on `todos`.
    Todo,
    /// LLM chats, on `llm_chats`.
    LlmChat,
    /// Shipment status changes, on `shipment_events`.
    Shipment,
    /// Meeting polls, on `meeting_polls`.
    MeetingPoll,
    /// Meeting bookings, on `meeting_bookings`.
    MeetingBooking,
}

/// `(kind, CloudEvents type, topic, search document type)`, one row per kind.
const KINDS: [(DataKind, &str, &str, &str); 15] = [
    (
        DataKind::Email,
        "switchyard.office.email",
        "emails",
        "email",
    ),
    (
        DataKind::Calendar,
        "switchyard.office.calendar",
        "calendars",
        "calendar",
    ),
    (
        DataKind::Contact,
        "switchyard.office.contact",
        "contacts",
        "contact",
    ),
    (
        DataKind::WordDocument,
        "switchyard.office.word_document",
        "word_documents",
        "word",
    ),
    (
        DataKind::WordFragment,
        "switchyard.office.word_fragment",
        "word_fragments",
        "word_fragment",
    ),
    (
        DataKind::SheetDocument,
        "switchyard.office.sheet_document",
        "sheet_documents",
        "sheet",
    ),
    (
        DataKind::SheetFragment,
        "switchyard.office.sheet_fragment",
        "sheet_fragments",
        "sheet_fragment",
    ),
    (
        DataKind::PresentationDocument,
        "switchyard.office.presentation_document",
        "presentation_documents",
        "presentation",
    ),
    (
        DataKind::PresentationFragment,
        "switchyard.office.presentation_fragment",
        "presentation_fragments",
        "presentation_fragment",
    ),
    (
        DataKind::Task,
        "switchyard.office.task",
        "task_documents",
        "task",
    ),
    (DataKind::Todo, "switchyard.office.todo", "todos", "todo"),
    (
        DataKind::LlmChat,
        "switchyard.tools.llm_chat",
        "llm_chats",
        "llm_chat",
    ),
    (
        DataKind::Shipment,
        "switchyard.tools.shipment",
        "shipment_events",
        "shipment",
    ),
    (
        DataKind::MeetingPoll,
        "switchyard.tools.meeting_poll",
        "meeting_polls",
        "meeting_poll",
    ),
    (
        DataKind::MeetingBooking,
        "switchyard.tools.meeting_booking",
        "meeting_bookings",
        "meeting_booking",
    ),
];

impl DataKind {
    /// Every kind, in a stable order.
    pub const ALL: [DataKind; 15] = {
        let mut all = [DataKind::Email; 15];
        let mut i = 0;
        while i < KINDS.len() {
            all[i] = KINDS[i].0;
            i += 1;
        }
        all
    };

    fn row(self) -> &'static (DataKind, &'static str, &'static str, &'static str) {
        KINDS
            .iter()
            .find(|row| row.0 == self)
            .expect("every kind has a row in KINDS")
    }

    /// The CloudEvents `type` of this kind's events.
    pub fn event_type(self) -> &'static str {
        self.row().1
    }

    /// The name of the topic this kind's events travel on.
    pub fn topic_name(self) -> &'static str {
        self.row().2
    }

    /// The topic this kind's events travel on.
    pub fn topic(self) -> Topic {
        Topic::new(self.topic_name()).expect("office topic names are valid")
    }

    /// The search document type name: `email`, `word`, `word_fragment`, `todo`, ….
    pub fn doc_type(self) -> &'static str {
        self.row().3
    }

    /// The kind whose events have this CloudEvents `type`.
    pub fn from_event_type(event_type: &str) -> Result<Self, ContractError> {
        KINDS
            .iter()
            .find(|row| row.1 == event_type)
            .map(|row| row.0)
            .ok_or_else(|| ContractError::UnknownEventType(event_type.to_string()))
    }

    /// The kind whose search documents have this type name.
    pub fn from_doc_type(doc_type: &str) -> Option<Self> {
        KINDS.iter().find(|row| row.3 == doc_type).map(|row| row.0)
    }
}

/// An office item with its sync metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(bound(deserialize = "T: DeserializeOwned"))]
pub struct OfficeEvent<T> {
    /// What happened to the item.
    pub operation: Operation,
    /// The batch this event was sent in.
    pub batch_id: String,
    /// When the item last changed at the provider.
    pub last_updated: DateTime<Utc>,
    /// When Switchyard read it.
    pub sync_timestamp: DateTime<Utc>,
    /// Backfill or streaming.
    pub sync_type: SyncType,
    /// Where it came from: `mbox`, `eml`, `ics`, `vcf`, `msgraph`, `gmail`, …
    pub provider: String,
    /// Whose data it is.
    pub user_id: String,
    /// The item itself.
    pub item: T,
}

/// Schema version of every office payload defined here.
pub(crate) const OFFICE_SCHEMA_VERSION: u32 = 1;

impl<T: OfficeItem> OfficeEvent<T> {
    /// A new event read now, with `last_updated` set to now; set it to the item's own
    /// modification time when the source has one.
    pub fn new(
        operation: Operation,
        sync_type: SyncType,
        provider: impl Into<String>,
        user_id: impl Into<String>,
        batch_id: impl Into<String>,
        item: T,
    ) -> Self {
        let now = Utc::now();
        OfficeEvent {
            operation,
            batch_id: batch_id.into(),
            last_updated: now,
            sync_timestamp: now,
            sync_type,
            provider: provider.into(),
            user_id: user_id.into(),
            item,
        }
    }

    /// Checks the fields every office event needs.
    pub fn validate(&self) -> Result<(), ContractError> {
        for (field, value) in [
            ("data.user_id", &self.user_id),
            ("data.batch_id", &self.batch_id),
            ("data.provider", &self.provider),
            ("data.item.id", &self.item.item_id().to_string()),
        ] {
            if value.trim().is_empty() {
                return Err(ContractError::missing(field));
            }
        }
        crate::check_user_id(&self.user_id)
            .map_err(|err| ContractError::invalid("data.user_id", err.to_string()))
    }

    /// Wraps the event in an envelope: type and topic from the item kind, subject = item
    /// id, partition key = user id, `correlationid` = the job or request.
    pub fn to_envelope(
        &self,
        source: &str,
        correlation_id: &str,
    ) -> Result<Envelope, ContractError> {
        self.validate()?;
        let data = serde_json::to_value(self)
            .map_err(|err| ContractError::invalid("data", err.to_string()))?;
        let mut envelope = Envelope::new(self.item.kind().event_type(), source, data);
        envelope.time = Some(self.last_updated);
        envelope.subject = Some(self.item.item_id().to_string());
        envelope.correlationid = Some(correlation_id.to_string());
        envelope.userid = Some(self.user_id.clone());
        envelope.partitionkey = Some(self.user_id.clone());
        envelope.schemaversion = Some(OFFICE_SCHEMA_VERSION);
        Ok(envelope)
    }

    fn from_envelope(envelope: &Envelope) -> Result<Self, ContractError> {
        let data = envelope
            .data
            .as_ref()
            .ok_or_else(|| ContractError::missing("data"))?;
        let event: Self = serde_path_to_error::deserialize(data)
            .map_err(|err| ContractError::at_path("data", err))?;
        event.validate()?;
        if event.item.kind().event_type() != envelope.event_type {
            return Err(ContractError::invalid(
                "data.item.kind",
                format!(
                    "a {} item cannot travel as `{}`",
                    event.item.kind().doc_type(),
                    envelope.event_type
                ),
            ));
        }
        if let Some(user) = &envelope.userid
            && user != &event.user_id
        {
            return Err(ContractError::invalid(
                "userid",
                format!("`{user}` differs from data.user_id `{}`", event.user_id),
            ));
        }
        Ok(event)
    }
}

/// An office event of any kind, as decoded from an envelope.
#[derive(Debug, Clone, PartialEq)]
pub enum AnyOfficeEvent {
    /// From `emails`.
    Email(EmailEvent),
    /// From `calendars`.
    Calendar(CalendarEvent),
    /// From `contacts`.
    Contact(ContactEvent),
    /// From `word_documents`, `sheet_documents` or `presentation_documents`.
    Document(DocumentEvent),
    /// From `word_fragments`, `sheet_fragments` or `presentation_fragments`.
    Fragment(FragmentEvent),
    /// From `task_documents`.
    Task(TaskEvent),
    /// From `todos`.
    Todo(TodoEvent),
    /// From `llm_chats`.
    LlmChat(LlmChatEvent),
    /// From `shipment_events`.
    Shipment(ShipmentEvent),
    /// From `meeting_polls`.
    MeetingPoll(MeetingPollEvent),
    /// From `meeting_bookings`.
    MeetingBooking(MeetingBookingEvent),
}

/// Runs `$body` with `$event` bound to the inner event, whatever its item type.
macro_rules! with_event {
    ($any:expr, $event:ident => $body:expr) => {
        match $any {
            AnyOfficeEvent::Email($event) => $body,
            AnyOfficeEvent::Calendar($event) => $body,
            AnyOfficeEvent::Contact($event) => $body,
            AnyOfficeEvent::Document($event) => $body,
            AnyOfficeEvent::Fragment($event) => $body,
            AnyOfficeEvent::Task($event) => $body,
            AnyOfficeEvent::Todo($event) => $body,
            AnyOfficeEvent::LlmChat($event) => $body,
            AnyOfficeEvent::Shipment($event) => $body,
            AnyOfficeEvent::MeetingPoll($event) => $body,
            AnyOfficeEvent::MeetingBooking($event) => $body,
        }
    };
}

impl AnyOfficeEvent {
    /// What happened to the item.
    pub fn operation(&self) -> Operation {
        with_event!(self, event => event.operation)
    }

    /// Whose item it is.
    pub fn user_id(&self) -> &str {
        with_event!(self, event => &event.user_id)
    }

    /// The provider's id of the item.
    pub fn item_id(&self) -> &str {
        with_event!(self, event => event.item.item_id())
    }

    /// When the item last changed.
    pub fn last_updated(&self) -> DateTime<Utc> {
        with_event!(self, event => event.last_updated)
    }

    /// The item as JSON.
    pub fn item_json(&self) -> serde_json::Value {
        with_event!(self, event => serde_json::to_value(&event.item))
            .expect("office items serialize to JSON")
    }

    /// Sets the batch the inner event is sent in.
    pub fn set_batch_id(&mut self, batch_id: &str) {
        with_event!(self, event => event.batch_id = batch_id.to_string())
    }

    /// The kind of the inner item.
    pub fn kind(&self) -> DataKind {
        with_event!(self, event => event.item.kind())
    }

    /// The envelope of the inner event.
    pub fn to_envelope(
        &self,
        source: &str,
        correlation_id: &str,
    ) -> Result<Envelope, ContractError> {
        with_event!(self, event => event.to_envelope(source, correlation_id))
    }
}

/// Decodes and validates the office payload of an envelope, by its `type`.
pub fn decode_office_event(envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
    if let Some(content_type) = &envelope.datacontenttype
        && !content_type.starts_with(JSON_CONTENT_TYPE)
    {
        return Err(ContractError::invalid(
            "datacontenttype",
            format!("`{content_type}` is not supported, expected `{JSON_CONTENT_TYPE}`"),
        ));
    }
    Ok(match DataKind::from_event_type(&envelope.event_type)? {
        DataKind::Email => AnyOfficeEvent::Email(OfficeEvent::from_envelope(envelope)?),
        DataKind::Calendar => AnyOfficeEvent::Calendar(OfficeEvent::from_envelope(envelope)?),
        DataKind::Contact => AnyOfficeEvent::Contact(OfficeEvent::from_envelope(envelope)?),
        DataKind::WordDocument | DataKind::SheetDocument | DataKind::PresentationDocument => {
            AnyOfficeEvent::Document(OfficeEvent::from_envelope(envelope)?)
        }
        DataKind::WordFragment | DataKind::SheetFragment | DataKind::PresentationFragment => {
            AnyOfficeEvent::Fragment(OfficeEvent::from_envelope(envelope)?)
        }
        DataKind::Task => AnyOfficeEvent::Task(OfficeEvent::from_envelope(envelope)?),
        DataKind::Todo => AnyOfficeEvent::Todo(OfficeEvent::from_envelope(envelope)?),
        DataKind::LlmChat => AnyOfficeEvent::LlmChat(OfficeEvent::from_envelope(envelope)?),
        DataKind::Shipment => AnyOfficeEvent::Shipment(OfficeEvent::from_envelope(envelope)?),
        DataKind::MeetingPoll => AnyOfficeEvent::MeetingPoll(OfficeEvent::from_envelope(envelope)?),
        DataKind::MeetingBooking => {
            AnyOfficeEvent::MeetingBooking(OfficeEvent::from_envelope(envelope)?)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Email;
    use serde_json::json;

    fn email_event(id: &str) -> EmailEvent {
        EmailEvent::new(
            Operation::Create,
            SyncType::Backfill,
            "mbox",
            "alice",
            "b1",
            Email {
                id: id.into(),
                subject: "Quarterly report".into(),
                ..Email::default()
            },
        )
    }

    #[test]
    fn round_trips_through_an_envelope() {
        let event = email_event("<1@x>");
        let envelope = event.to_envelope("/import", "job").unwrap();
        assert_eq!(envelope.partitionkey.as_deref(), Some("alice"));
        assert_eq!(envelope.subject.as_deref(), Some("<1@x>"));
        let bytes = envelope.to_json_bytes();
        let decoded = decode_office_event(&Envelope::from_json_slice(&bytes).unwrap()).unwrap();
        assert_eq!(decoded, AnyOfficeEvent::Email(event));
    }

    fn check_decode_error(data: serde_json::Value, field: &str) {
        let mut envelope = Envelope::new(DataKind::Email.event_type(), "/t", data);
        envelope.userid = None;
        let err = decode_office_event(&envelope).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }

    #[test]
    fn decode_errors_name_the_field() {
        let good = serde_json::to_value(email_event("<1@x>")).unwrap();
        let mut missing_user = good.clone();
        missing_user.as_object_mut().unwrap().remove("user_id");
        check_decode_error(missing_user, "data.user_id");
        let mut bad_operation = good.clone();
        bad_operation["operation"] = json!("explode");
        check_decode_error(bad_operation, "data.operation");
        let mut empty_id = good.clone();
        empty_id["item"]["id"] = json!("");
        check_decode_error(empty_id, "data.item.id");
        let mut bad_date = good;
        bad_date["item"]["date"] = json!("not a date");
        check_decode_error(bad_date, "data.item.date");
    }

    #[test]
    fn unknown_types_are_reported() {
        let envelope = Envelope::new("com.example.other", "/t", json!({}));
        assert_eq!(
            decode_office_event(&envelope).unwrap_err(),
            ContractError::UnknownEventType("com.example.other".into())
        );
    }
}
