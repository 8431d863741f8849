//! The search schema as data: every field of every document type, defined once in
//! [`SEARCH_FIELDS`]. The tantivy schema is built from this table, [`crate::SearchDocument`]
//! writes values only under names it lists (a test checks it), and schema generators for
//! other engines (a Vespa application package) read it as their single input.
//!
//! Knows nothing of tantivy: names, value types, and whether a field is indexed, kept as
//! an attribute (sortable, filterable, rangeable), returned with hits, or searched by
//! free text that names no field.

use switchyard_contracts::DataKind;

/// The value type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Free text: tokenized into words, lowercased, accents folded.
    Text,
    /// An exact string (ids, addresses, statuses), matched as a whole.
    Keyword,
    /// An instant, with microsecond precision, in UTC.
    Date,
    /// An unsigned integer.
    Integer,
}

/// Which document types carry a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocTypes {
    /// Every document, whatever its type (including kinds indexed generically).
    All,
    /// Only documents of these kinds.
    Only(&'static [DataKind]),
}

impl DocTypes {
    /// Whether documents of `doc_type` (a [`DataKind::doc_type`] name) carry the field.
    pub fn includes(self, doc_type: &str) -> bool {
        match self {
            DocTypes::All => true,
            DocTypes::Only(kinds) => kinds.iter().any(|kind| kind.doc_type() == doc_type),
        }
    }
}

/// One field of the search schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldDefinition {
    /// The field name, in queries (`location:paris`) and in every engine's schema.
    pub name: &'static str,
    /// Its value type.
    pub field_type: FieldType,
    /// Whether a document may hold several values.
    pub multi_valued: bool,
    /// Whether the field can be matched by a query (an inverted index; Vespa `index` for
    /// text, `attribute: fast-search` for the others).
    pub indexed: bool,
    /// Whether it is kept column-wise for sorting, range filters and ranking (a tantivy
    /// fast field; a Vespa `attribute`).
    pub attribute: bool,
    /// Whether hits can return its value (tantivy `STORED`; a Vespa `summary`).
    pub stored: bool,
    /// Weight of the field when free text names no field; `None` keeps it out of those
    /// searches (it can still be matched by name).
    pub default_search_boost: Option<f32>,
    /// The document types that carry it.
    pub doc_types: DocTypes,
    /// What it holds, for humans and generated schema comments.
    pub description: &'static str,
}

const EMAIL: &[DataKind] = &[DataKind::Email];
const CALENDAR: &[DataKind] = &[DataKind::Calendar];
const CONTACT: &[DataKind] = &[DataKind::Contact];
const DOCUMENTS: &[DataKind] = &[
    DataKind::WordDocument,
    DataKind::SheetDocument,
    DataKind::PresentationDocument,
];
const FRAGMENTS: &[DataKind] = &[
    DataKind::WordFragment,
    DataKind::SheetFragment,
    DataKind::PresentationFragment,
];
const WITH_PARTICIPANTS: &[DataKind] = &[
    DataKind::Email,
    DataKind::Calendar,
    DataKind::Contact,
    DataKind::WordDocument,
    DataKind::SheetDocument,
    DataKind::PresentationDocument,
    DataKind::Todo,
    DataKind::MeetingPoll,
    DataKind::MeetingBooking,
];
const SCHEDULED: &[DataKind] = &[
    DataKind::Calendar,
    DataKind::MeetingPoll,
    DataKind::MeetingBooking,
];
const WITH_ORGANIZER: &[DataKind] = &[
    DataKind::Calendar,
    DataKind::MeetingPoll,
    DataKind::MeetingBooking,
];
const WITH_STATUS: &[DataKind] = &[DataKind::Task, DataKind::Todo, DataKind::Shipment];
const WITH_DUE: &[DataKind] = &[DataKind::Task, DataKind::Todo];

/// Shorthand for the table below: a single-valued, indexed, non-attribute, unstored
/// field that free text does not search.
const fn field(
    name: &'static str,
    field_type: FieldType,
    doc_types: DocTypes,
    description: &'static str,
) -> FieldDefinition {
    FieldDefinition {
        name,
        field_type,
        multi_valued: false,
        indexed: true,
        attribute: false,
        stored: false,
        default_search_boost: None,
        doc_types,
        description,
    }
}

impl FieldDefinition {
    const fn multi(mut self) -> Self {
        self.multi_valued = true;
        self
    }
    const fn attribute(mut self) -> Self {
        self.attribute = true;
        self
    }
    const fn stored(mut self) -> Self {
        self.stored = true;
        self
    }
    const fn searched(mut self, boost: f32) -> Self {
        self.default_search_boost = Some(boost);
        self
    }
}

use DocTypes::{All, Only};
use FieldType::{Date, Integer, Keyword, Text};

/// Every field of the search schema, in schema order.
///
/// Changing this table changes the on-disk format: an existing tantivy index then fails
/// to open with `SchemaMismatch` and is rebuilt by replaying the office topics.
pub const SEARCH_FIELDS: &[FieldDefinition] = &[
    field(
        "key",
        Keyword,
        All,
        "replacement key: user id, doc type and id joined by U+001F",
    ),
    field("id", Keyword, All, "the provider's item id").stored(),
    field(
        "user_id",
        Keyword,
        All,
        "whose item it is; every query filters on it",
    ),
    field(
        "doc_type",
        Keyword,
        All,
        "the document type (`email`, `word`, `word_fragment`, `todo`, …)",
    )
    .stored(),
    field("title", Text, All, "subject, title, name, fragment heading")
        .stored()
        .searched(2.0),
    field(
        "content",
        Text,
        All,
        "the searchable body; a bounded prefix of the text for documents",
    )
    .stored()
    .searched(1.0),
    field(
        "participants",
        Text,
        Only(WITH_PARTICIPANTS),
        "people involved, as `Name <address>` or bare addresses",
    )
    .multi()
    .stored()
    .searched(1.0),
    field(
        "addresses",
        Keyword,
        Only(WITH_PARTICIPANTS),
        "the lowercased addresses of the participants, for the participant filter",
    )
    .multi(),
    field(
        "created_at",
        Date,
        All,
        "when the item came into being: sent date, start, or first seen",
    )
    .attribute()
    .stored(),
    field(
        "last_updated",
        Date,
        All,
        "the event's `last_updated`: the last change at the provider",
    )
    .attribute()
    .stored(),
    field(
        "sync_timestamp",
        Date,
        All,
        "the event's `sync_timestamp`: when Switchyard read the item",
    )
    .attribute()
    .stored(),
    field("from_address", Text, Only(EMAIL), "the sender's address").searched(1.0),
    field("to_addresses", Text, Only(EMAIL), "the `To` addresses")
        .multi()
        .searched(1.0),
    field("thread_id", Keyword, Only(EMAIL), "the conversation id"),
    field(
        "attachment_names",
        Text,
        Only(EMAIL),
        "the attachment file names",
    )
    .multi()
    .searched(1.0),
    field(
        "starts_at",
        Date,
        Only(SCHEDULED),
        "event start, booked slot start, or each proposed slot's start",
    )
    .multi()
    .attribute(),
    field(
        "ends_at",
        Date,
        Only(SCHEDULED),
        "event end, booked slot end, or each proposed slot's end",
    )
    .multi()
    .attribute(),
    field("location", Text, Only(CALENDAR), "the location text").searched(1.0),
    field(
        "organizer",
        Text,
        Only(WITH_ORGANIZER),
        "the organizer, as `Name <address>` or a bare address",
    )
    .searched(1.0),
    field(
        "emails",
        Text,
        Only(CONTACT),
        "the contact's email addresses",
    )
    .multi()
    .searched(1.0),
    field("phones", Text, Only(CONTACT), "the contact's phone numbers")
        .multi()
        .searched(1.0),
    field(
        "organization",
        Text,
        Only(CONTACT),
        "the contact's organization",
    )
    .searched(1.0),
    field(
        "relevance_milli",
        Integer,
        Only(CONTACT),
        "contact discovery's relevance score in thousandths; ranks contacts",
    )
    .attribute(),
    field("author", Text, Only(DOCUMENTS), "the document's author").searched(1.0),
    field(
        "parent_id",
        Keyword,
        Only(FRAGMENTS),
        "id of the document the fragment belongs to",
    )
    .stored(),
    field(
        "parent_doc_type",
        Keyword,
        Only(FRAGMENTS),
        "doc type of the document the fragment belongs to (`word`, `sheet`, `presentation`)",
    )
    .stored(),
    field(
        "parent_key",
        Keyword,
        Only(FRAGMENTS),
        "replacement key of the parent document; deleting the document deletes by it",
    ),
    field(
        "parent_title",
        Text,
        Only(FRAGMENTS),
        "title of the document the fragment belongs to; weighted low, so that a fragment \
         ranks by its own text while words of the title can still complete a match",
    )
    .stored()
    .searched(0.5),
    field(
        "position",
        Integer,
        Only(FRAGMENTS),
        "the fragment's position in its document, from 0",
    )
    .attribute()
    .stored(),
    field(
        "status",
        Keyword,
        Only(WITH_STATUS),
        "task, todo or shipment status as the provider spells it",
    ),
    field("due_at", Date, Only(WITH_DUE), "the due date").attribute(),
    field(
        "assignee",
        Text,
        Only(&[DataKind::Todo]),
        "who the todo is assigned to",
    )
    .searched(1.0),
    field(
        "model",
        Keyword,
        Only(&[DataKind::LlmChat]),
        "the model that answered",
    ),
    field(
        "carrier",
        Text,
        Only(&[DataKind::Shipment]),
        "the carrier (`ups`, `fedex`, …)",
    )
    .searched(1.0),
    field(
        "tracking_number",
        Text,
        Only(&[DataKind::Shipment]),
        "the tracking number",
    )
    .searched(1.0),
    field(
        "source_email_ids",
        Keyword,
        Only(&[DataKind::Shipment]),
        "the emails the shipment status was read from",
    )
    .multi(),
    field(
        "poll_id",
        Keyword,
        Only(&[DataKind::MeetingBooking]),
        "the meeting poll a booking settles",
    ),
];

/// The definition of the field called `name`, if the schema has one.
pub fn field_definition(name: &str) -> Option<&'static FieldDefinition> {
    SEARCH_FIELDS.iter().find(|field| field.name == name)
}

/// The fields documents of `doc_type` carry, in schema order.
pub fn fields_of_doc_type(doc_type: &str) -> impl Iterator<Item = &'static FieldDefinition> {
    let doc_type = doc_type.to_string();
    SEARCH_FIELDS
        .iter()
        .filter(move |field| field.doc_types.includes(&doc_type))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_lowercase() {
        let mut seen = HashSet::new();
        for field in SEARCH_FIELDS {
            assert!(seen.insert(field.name), "{} is defined twice", field.name);
            assert!(
                field
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                field.name
            );
            assert!(!field.description.is_empty(), "{}", field.name);
        }
    }

    #[test]
    fn only_text_fields_are_searched_by_default_and_only_scalars_are_attributes() {
        for field in SEARCH_FIELDS {
            if field.default_search_boost.is_some() {
                assert_eq!(field.field_type, FieldType::Text, "{}", field.name);
            }
            if field.attribute {
                assert_ne!(field.field_type, FieldType::Text, "{}", field.name);
            }
        }
    }

    #[test]
    fn every_kind_has_the_common_fields_and_only_fragments_have_parents() {
        for kind in DataKind::ALL {
            let names: Vec<_> = fields_of_doc_type(kind.doc_type())
                .map(|field| field.name)
                .collect();
            for common in [
                "id",
                "user_id",
                "doc_type",
                "title",
                "content",
                "last_updated",
            ] {
                assert!(names.contains(&common), "{kind:?} lacks {common}");
            }
            assert_eq!(
                names.contains(&"parent_id"),
                FRAGMENTS.contains(&kind),
                "{kind:?}"
            );
        }
        assert!(!fields_of_doc_type("contact").any(|field| field.name == "from_address"));
        assert_eq!(field_definition("position").unwrap().field_type, Integer);
        assert!(field_definition("nope").is_none());
    }
}
