//! The office items beyond mail, calendars and contacts: documents and their fragments,
//! tasks and todos, and the internal tools' items (LLM chats, shipment updates, meeting
//! polls and bookings). Each travels in an [`OfficeEvent`](crate::OfficeEvent).

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{DataKind, Mailbox, OfficeEvent, OfficeItem};

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
