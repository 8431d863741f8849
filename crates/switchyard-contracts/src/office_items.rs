//! The office items, each a normalized [`OfficeItem`] that travels in an
//! [`OfficeEvent`](crate::OfficeEvent): mail, calendar items and contacts; documents and
//! their fragments; tasks and todos; and the internal tools' items (LLM chats, shipment
//! updates, meeting polls and bookings).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{DataKind, OfficeEvent};

/// A normalized office item that can travel in an [`OfficeEvent`].
pub trait OfficeItem: Serialize + DeserializeOwned + Clone {
    /// The data type of the item (for documents and fragments, it depends on the item).
    fn kind(&self) -> DataKind;
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
    /// The mail folder the message was filed in, its levels separated by `/`
    /// (`INBOX`, `Work/Projects`), when the source has folders (a Maildir).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    /// What the user did with the message, when the source keeps it (Maildir flags);
    /// all `false` when it does not.
    #[serde(default, skip_serializing_if = "EmailFlags::is_empty")]
    pub flags: EmailFlags,
}

/// The state of an email in its mailbox, as mail clients keep it (Maildir's `:2,` flags,
/// IMAP's system flags). Every flag is `false` when absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct EmailFlags {
    /// Seen (Maildir `S`, IMAP `\Seen`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read: bool,
    /// Replied to (Maildir `R`, IMAP `\Answered`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub answered: bool,
    /// Flagged for attention (Maildir `F`, IMAP `\Flagged`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub flagged: bool,
    /// Marked for deletion (Maildir `T`, IMAP `\Deleted`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub trashed: bool,
    /// A draft (Maildir `D`, IMAP `\Draft`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub draft: bool,
}

impl EmailFlags {
    /// Whether no flag is set.
    pub fn is_empty(&self) -> bool {
        *self == EmailFlags::default()
    }
}

impl OfficeItem for Email {
    fn kind(&self) -> DataKind {
        DataKind::Email
    }
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
    /// Further recurrence rules of the same series: an iCalendar event may have several
    /// `RRULE`s, and its occurrences are the union of all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub more_recurrences: Vec<String>,
    /// Occurrences removed from the series (`EXDATE`), each named like an overridden
    /// occurrence's `RECURRENCE-ID`: `YYYYMMDD` (that day's occurrence),
    /// `YYYYMMDDTHHMMSS` in the series' `time_zone`, or `YYYYMMDDTHHMMSSZ` in UTC.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excluded_dates: Vec<String>,
    /// Occurrences added to the series (`RDATE`), in UTC: a date or date-time lasts as
    /// long as the event, a period as written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub added_occurrences: Vec<TimeSlot>,
    /// Whether the event takes place (`STATUS`), when the source says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CalendarStatus>,
    /// The event does not take its attendees' time (`TRANSP:TRANSPARENT`, "show as
    /// free").
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub transparent: bool,
    /// For an overridden occurrence: it also replaces every later occurrence of the
    /// series (`RANGE=THISANDFUTURE`), shifted by as much as it moved this one.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub this_and_future: bool,
    /// The definition of `time_zone` as an iCalendar `VTIMEZONE` component, when its
    /// name is not a zone every reader knows (a custom `TZID`): recurrences repeat in
    /// the local time it defines.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_zone_definition: Option<String>,
}

/// Whether a calendar event takes place (iCalendar `STATUS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalendarStatus {
    /// It takes place.
    Confirmed,
    /// It may take place.
    Tentative,
    /// The organizer cancelled it.
    Cancelled,
}

impl OfficeItem for CalendarItem {
    fn kind(&self) -> DataKind {
        DataKind::Calendar
    }
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
    /// How relevant the contact is to the user (contact discovery's score: recency and
    /// weighted counts); search ranks contacts higher with it. Absent for address-book
    /// contacts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relevance: Option<f64>,
}

impl OfficeItem for Contact {
    fn kind(&self) -> DataKind {
        DataKind::Contact
    }
    fn item_id(&self) -> &str {
        &self.id
    }
}

/// Which office application a document belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// A Word document (`.docx`).
    #[default]
    Word,
    /// An Excel workbook (`.xlsx`, `.xls`, `.ods`).
    Sheet,
    /// A PowerPoint deck (`.pptx`).
    Presentation,
}

impl DocumentKind {
    /// The data kind of documents of this kind.
    pub fn document(self) -> DataKind {
        match self {
            DocumentKind::Word => DataKind::WordDocument,
            DocumentKind::Sheet => DataKind::SheetDocument,
            DocumentKind::Presentation => DataKind::PresentationDocument,
        }
    }

    /// The data kind of fragments of documents of this kind.
    pub fn fragment(self) -> DataKind {
        match self {
            DocumentKind::Word => DataKind::WordFragment,
            DocumentKind::Sheet => DataKind::SheetFragment,
            DocumentKind::Presentation => DataKind::PresentationFragment,
        }
    }
}

/// A Word, Excel or PowerPoint document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Document {
    /// Provider id of the document.
    pub id: String,
    /// Word, sheet or presentation; it decides the topic.
    pub kind: DocumentKind,
    /// Title (or file name).
    pub title: String,
    /// Author, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Last modification at the provider.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<DateTime<Utc>>,
    /// Size of the original file.
    pub size_bytes: u64,
    /// The extracted content, shaped by the kind of document; absent when only metadata
    /// changed. A large body travels by claim check like any large payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<DocumentBody>,
}

/// The content of a document, kept in the shape its kind has so that a chunker can cut it
/// where it reads well: at headings, sheets and blocks of rows, slides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DocumentBody {
    /// A Word document: blocks in reading order.
    Word {
        /// Headings, paragraphs and tables.
        blocks: Vec<WordBlock>,
    },
    /// A workbook: its sheets in order.
    Sheet {
        /// The sheets.
        sheets: Vec<Sheet>,
    },
    /// A slide deck: its slides in order.
    Presentation {
        /// The slides.
        slides: Vec<Slide>,
    },
}

/// One block of a Word document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WordBlock {
    /// A heading (`Heading 1` is level 1; `Title` is level 0).
    Heading {
        /// Outline level.
        level: u8,
        /// Its text.
        text: String,
    },
    /// A paragraph of body text.
    Paragraph {
        /// Its text.
        text: String,
    },
    /// A table, row by row, cell text in order.
    Table {
        /// The rows.
        rows: Vec<Vec<String>>,
    },
}

/// One sheet of a workbook.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Sheet {
    /// The sheet's name.
    pub name: String,
    /// The header row (the first non-empty row), so that every block of rows reads on
    /// its own.
    pub header: Vec<String>,
    /// The rows below the header, cell values as text.
    pub rows: Vec<Vec<String>>,
}

/// One slide of a deck.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Slide {
    /// Slide number, from 1.
    pub number: u32,
    /// The title placeholder's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The other text on the slide, shape by shape.
    pub body: String,
    /// The speaker notes.
    pub notes: String,
}

/// A searchable piece of a document: a section, a block of rows, a slide.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Fragment {
    /// Deterministic id: the same document always gives the same fragment ids.
    pub id: String,
    /// The kind of the document it belongs to; it decides the topic.
    pub kind: DocumentKind,
    /// Id of the document it belongs to.
    pub parent_id: String,
    /// Title of the document it belongs to.
    pub parent_title: String,
    /// Position in the document, from 0.
    pub position: u32,
    /// Heading, sheet name or slide title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Its own text.
    pub text: String,
}

/// A task of a task list (planner, project tool).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Task {
    /// Provider id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Longer text.
    pub description: String,
    /// Provider status (`notStarted`, `completed`, …).
    pub status: String,
    /// Due date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
}

/// A personal todo (`VTODO`, To Do lists).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct Todo {
    /// Provider id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Notes.
    pub notes: String,
    /// `needs-action`, `in-process`, `completed` or `cancelled`.
    pub status: String,
    /// Due date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due: Option<DateTime<Utc>>,
    /// Who it is assigned to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Mailbox>,
}

/// One message of an LLM chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// `user`, `assistant` or `system`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// A conversation with an LLM tool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct LlmChat {
    /// Chat id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Model that answered.
    pub model: String,
    /// Messages in order.
    pub messages: Vec<ChatMessage>,
}

/// A shipment status seen in email.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct ShipmentUpdate {
    /// `{carrier}:{tracking_number}`.
    pub id: String,
    /// Carrier (`ups`, `fedex`, …).
    pub carrier: String,
    /// Tracking number.
    pub tracking_number: String,
    /// `label_created`, `in_transit`, `out_for_delivery`, `delivered` or `exception`.
    pub status: String,
    /// Emails the status was read from.
    pub source_email_ids: Vec<String>,
}

/// A proposed time slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimeSlot {
    /// Start.
    pub start: DateTime<Utc>,
    /// End.
    pub end: DateTime<Utc>,
}

/// A poll to find a meeting time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MeetingPoll {
    /// Poll id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Organizer.
    pub organizer: Mailbox,
    /// Proposed slots.
    pub options: Vec<TimeSlot>,
    /// Who is asked.
    pub participants: Vec<Mailbox>,
}

/// A booked meeting slot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default)]
pub struct MeetingBooking {
    /// Booking id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slot: Option<TimeSlot>,
    /// Organizer.
    pub organizer: Mailbox,
    /// Who booked.
    pub attendee: Mailbox,
    /// The poll it settles, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poll_id: Option<String>,
}

/// Implements [`OfficeItem`] for an item type of one data kind with an `id` field.
macro_rules! office_item {
    ($($item:ty => $kind:expr),* $(,)?) => {$(
        impl OfficeItem for $item {
            fn kind(&self) -> DataKind {
                $kind
            }
            fn item_id(&self) -> &str {
                &self.id
            }
        }
    )*};
}

office_item! {
    Task => DataKind::Task,
    Todo => DataKind::Todo,
    LlmChat => DataKind::LlmChat,
    ShipmentUpdate => DataKind::Shipment,
    MeetingPoll => DataKind::MeetingPoll,
    MeetingBooking => DataKind::MeetingBooking,
}

impl OfficeItem for Document {
    fn kind(&self) -> DataKind {
        self.kind.document()
    }
    fn item_id(&self) -> &str {
        &self.id
    }
}

impl OfficeItem for Fragment {
    fn kind(&self) -> DataKind {
        self.kind.fragment()
    }
    fn item_id(&self) -> &str {
        &self.id
    }
}

/// An email event, on `emails`.
pub type EmailEvent = OfficeEvent<Email>;
/// A calendar event, on `calendars`.
pub type CalendarEvent = OfficeEvent<CalendarItem>;
/// A contact event, on `contacts`.
pub type ContactEvent = OfficeEvent<Contact>;

/// A document event, on `word_documents`, `sheet_documents` or `presentation_documents`.
pub type DocumentEvent = OfficeEvent<Document>;
/// A fragment event, on `word_fragments`, `sheet_fragments` or `presentation_fragments`.
pub type FragmentEvent = OfficeEvent<Fragment>;
/// A task event, on `task_documents`.
pub type TaskEvent = OfficeEvent<Task>;
/// A todo event, on `todos`.
pub type TodoEvent = OfficeEvent<Todo>;
/// An LLM chat event, on `llm_chats`.
pub type LlmChatEvent = OfficeEvent<LlmChat>;
/// A shipment event, on `shipment_events`.
pub type ShipmentEvent = OfficeEvent<ShipmentUpdate>;
/// A meeting poll event, on `meeting_polls`.
pub type MeetingPollEvent = OfficeEvent<MeetingPoll>;
/// A meeting booking event, on `meeting_bookings`.
pub type MeetingBookingEvent = OfficeEvent<MeetingBooking>;
