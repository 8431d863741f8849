//! Office data events: one generic [`OfficeEvent`] carrying sync metadata around a
//! normalized item ([`Email`], [`CalendarItem`], [`Contact`]), and the [`DataKind`] that
//! maps each item type to its event type and topic.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{ContractError, Envelope, JSON_CONTENT_TYPE, Topic};

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

/// The office data types, each with its event type and topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataKind {
    /// Email messages, on `emails`.
    Email,
    /// Calendar events, on `calendars`.
    Calendar,
    /// Contacts, on `contacts`.
    Contact,
}

impl DataKind {
    /// Every kind, in a stable order.
    pub const ALL: [DataKind; 3] = [DataKind::Email, DataKind::Calendar, DataKind::Contact];

    /// The CloudEvents `type` of this kind's events.
    pub fn event_type(self) -> &'static str {
        match self {
            DataKind::Email => "switchyard.office.email",
            DataKind::Calendar => "switchyard.office.calendar",
            DataKind::Contact => "switchyard.office.contact",
        }
    }

    /// The topic this kind's events travel on.
    pub fn topic(self) -> Topic {
        match self {
            DataKind::Email => Topic::emails(),
            DataKind::Calendar => Topic::calendars(),
            DataKind::Contact => Topic::contacts(),
        }
    }

    /// The search document type name: `email`, `calendar` or `contact`.
    pub fn doc_type(self) -> &'static str {
        match self {
            DataKind::Email => "email",
            DataKind::Calendar => "calendar",
            DataKind::Contact => "contact",
        }
    }

    /// The kind whose events have this CloudEvents `type`.
    pub fn from_event_type(event_type: &str) -> Result<Self, ContractError> {
        DataKind::ALL
            .into_iter()
            .find(|kind| kind.event_type() == event_type)
            .ok_or_else(|| ContractError::UnknownEventType(event_type.to_string()))
    }
}

/// A normalized office item that can travel in an [`OfficeEvent`].
pub trait OfficeItem: Serialize + DeserializeOwned + Clone {
    /// The data type of the item.
    const KIND: DataKind;
    /// The provider's stable id of the item.
    fn item_id(&self) -> &str;
}

/// A mailbox: optional display name and address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Mailbox {
    /// Display name, when the source gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The address, e.g. `alice@example.com`.
    #[serde(default)]
    pub address: String,
}

impl Mailbox {
    /// `Name <address>` or the bare address.
    pub fn display(&self) -> String {
        match &self.name {
            Some(name) if !name.is_empty() => format!("{name} <{}>", self.address),
            _ => self.address.clone(),
        }
    }
}

/// An email message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Email {
    /// Provider message id (the `Message-ID` for files).
    pub id: String,
    /// Conversation id, when the provider has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// Sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Mailbox>,
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Carbon-copy recipients.
    pub cc: Vec<Mailbox>,
    /// Blind carbon-copy recipients.
    pub bcc: Vec<Mailbox>,
    /// Subject line.
    pub subject: String,
    /// Sent date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<DateTime<Utc>>,
    /// Plain-text body.
    pub body_text: String,
    /// File names of the attachments.
    pub attachment_names: Vec<String>,
}

impl OfficeItem for Email {
    const KIND: DataKind = DataKind::Email;
    fn item_id(&self) -> &str {
        &self.id
    }
}

/// A calendar attendee.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attendee {
    /// Who.
    #[serde(flatten)]
    pub mailbox: Mailbox,
    /// Participation status (`ACCEPTED`, `DECLINED`, …) when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A calendar event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct CalendarItem {
    /// Provider id (`UID`, plus `RECURRENCE-ID` for an overridden occurrence).
    pub id: String,
    /// Summary.
    pub title: String,
    /// Description.
    pub description: String,
    /// Start, in UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// End, in UTC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// True for date-only (all-day) events.
    pub all_day: bool,
    /// The IANA or source time zone the event was written in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Organizer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organizer: Option<Mailbox>,
    /// Attendees.
    pub attendees: Vec<Attendee>,
    /// Location text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Recurrence rule (`RRULE` value), when the event repeats.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recurrence: Option<String>,
}

impl OfficeItem for CalendarItem {
    const KIND: DataKind = DataKind::Calendar;
    fn item_id(&self) -> &str {
        &self.id
    }
}

/// A contact card.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Contact {
    /// Provider id (`UID` for vCards).
    pub id: String,
    /// Formatted name.
    pub display_name: String,
    /// Given name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Email addresses.
    pub emails: Vec<String>,
    /// Phone numbers.
    pub phones: Vec<String>,
    /// Organization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
}

impl OfficeItem for Contact {
    const KIND: DataKind = DataKind::Contact;
    fn item_id(&self) -> &str {
        &self.id
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

/// An email event, on `emails`.
pub type EmailEvent = OfficeEvent<Email>;
/// A calendar event, on `calendars`.
pub type CalendarEvent = OfficeEvent<CalendarItem>;
/// A contact event, on `contacts`.
pub type ContactEvent = OfficeEvent<Contact>;

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
        Ok(())
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
        let mut envelope = Envelope::new(T::KIND.event_type(), source, data);
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
}

impl AnyOfficeEvent {
    /// What happened to the item.
    pub fn operation(&self) -> Operation {
        match self {
            AnyOfficeEvent::Email(event) => event.operation,
            AnyOfficeEvent::Calendar(event) => event.operation,
            AnyOfficeEvent::Contact(event) => event.operation,
        }
    }

    /// Sets the batch the inner event is sent in.
    pub fn set_batch_id(&mut self, batch_id: &str) {
        let field = match self {
            AnyOfficeEvent::Email(event) => &mut event.batch_id,
            AnyOfficeEvent::Calendar(event) => &mut event.batch_id,
            AnyOfficeEvent::Contact(event) => &mut event.batch_id,
        };
        *field = batch_id.to_string();
    }

    /// The kind of the inner item.
    pub fn kind(&self) -> DataKind {
        match self {
            AnyOfficeEvent::Email(_) => DataKind::Email,
            AnyOfficeEvent::Calendar(_) => DataKind::Calendar,
            AnyOfficeEvent::Contact(_) => DataKind::Contact,
        }
    }

    /// The envelope of the inner event.
    pub fn to_envelope(
        &self,
        source: &str,
        correlation_id: &str,
    ) -> Result<Envelope, ContractError> {
        match self {
            AnyOfficeEvent::Email(event) => event.to_envelope(source, correlation_id),
            AnyOfficeEvent::Calendar(event) => event.to_envelope(source, correlation_id),
            AnyOfficeEvent::Contact(event) => event.to_envelope(source, correlation_id),
        }
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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
