//! The search document: one flat shape for every office item kind, its values by field
//! name (the names of [`crate::SEARCH_FIELDS`]), and the timestamp checks every document
//! passes before it is indexed. Knows nothing of tantivy or of how documents are stored;
//! the factory from events lives in `factory.rs`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};

use crate::{SearchError, SearchErrorKind};

/// How far in the future `last_updated` and `sync_timestamp` may lie (clocks of
/// providers and importers drift); anything later is rejected at indexing time.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// Joins the parts of the replacement key: a control character that user ids, type names
/// and provider ids do not contain, as in the contracts' idempotency key.
const KEY_SEPARATOR: char = '\u{1f}';

/// One indexed item: common fields for every kind plus the optional fields of its kind.
///
/// A document is identified by `(user_id, doc_type, id)`; indexing a document with the same
/// triple replaces the previous one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchDocument {
    /// The provider's item id.
    pub id: String,
    /// Whose item it is; every query is scoped to one user.
    pub user_id: String,
    /// The [`switchyard_contracts::DataKind::doc_type`] name: `email`, `word`,
    /// `word_fragment`, `todo`, ….
    pub doc_type: String,
    /// Subject, title, contact name, fragment heading.
    pub title: String,
    /// The searchable body text.
    pub content: String,
    /// People involved, as `Name <address>` or bare addresses.
    pub participants: Vec<String>,
    /// The participants' addresses, lowercased, for the exact participant filter.
    pub addresses: Vec<String>,
    /// When the item came into being (sent date, event start, or first seen).
    pub created_at: DateTime<Utc>,
    /// The event's `last_updated`: when the item last changed at the provider.
    pub last_updated: DateTime<Utc>,
    /// The event's `sync_timestamp`: when Switchyard read it.
    pub sync_timestamp: DateTime<Utc>,
    /// Email: the sender's address.
    pub from_address: Option<String>,
    /// Email: the `To` addresses.
    pub to_addresses: Vec<String>,
    /// Email: the conversation id.
    pub thread_id: Option<String>,
    /// Email: the attachment file names.
    pub attachment_names: Vec<String>,
    /// Calendar, booking: the start; poll: each proposed slot's start.
    pub starts_at: Vec<DateTime<Utc>>,
    /// Calendar, booking: the end; poll: each proposed slot's end.
    pub ends_at: Vec<DateTime<Utc>>,
    /// Calendar: the location text.
    pub location: Option<String>,
    /// Calendar, poll, booking: the organizer, as `Name <address>` or a bare address.
    pub organizer: Option<String>,
    /// Contact: the email addresses.
    pub emails: Vec<String>,
    /// Contact: the phone numbers.
    pub phones: Vec<String>,
    /// Contact: the organization.
    pub organization: Option<String>,
    /// Contact: discovery's relevance score, in thousandths; it raises the contact's
    /// rank (see `crate::contact_boost`).
    pub relevance_milli: Option<u64>,
    /// Word, sheet, presentation: the author.
    pub author: Option<String>,
    /// Fragments: the document they belong to and where in it.
    pub parent: Option<ParentLink>,
    /// Task, todo, shipment: the status.
    pub status: Option<String>,
    /// Task, todo: the due date.
    pub due_at: Option<DateTime<Utc>>,
    /// Todo: who it is assigned to.
    pub assignee: Option<String>,
    /// LLM chat: the model that answered.
    pub model: Option<String>,
    /// Shipment: the carrier.
    pub carrier: Option<String>,
    /// Shipment: the tracking number.
    pub tracking_number: Option<String>,
    /// Shipment: the emails the status was read from.
    pub source_email_ids: Vec<String>,
    /// Meeting booking: the poll it settles.
    pub poll_id: Option<String>,
}

/// Where a fragment sits: the document it belongs to and its position there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParentLink {
    /// The document's id.
    pub id: String,
    /// The document's type (`word`, `sheet`, `presentation`).
    pub doc_type: String,
    /// The document's title.
    pub title: String,
    /// The fragment's position in the document, from 0.
    pub position: u32,
}

/// A field value, typed as its [`crate::FieldType`].
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// A [`crate::FieldType::Text`] or [`crate::FieldType::Keyword`] value.
    Text(Cow<'a, str>),
    /// A [`crate::FieldType::Date`] value.
    Date(DateTime<Utc>),
    /// A [`crate::FieldType::Integer`] value.
    Integer(u64),
}

impl SearchDocument {
    /// Every value of the document by field name, in [`crate::SEARCH_FIELDS`] order; a
    /// multi-valued field appears once per value, an absent value not at all.
    ///
    /// This is what an engine indexes, so a backend writes documents from it and never
    /// from the struct fields directly.
    pub fn field_values(&self) -> Vec<(&'static str, FieldValue<'_>)> {
        let mut out = Values(Vec::with_capacity(24));
        out.owned("key", document_key(&self.user_id, &self.doc_type, &self.id));
        out.texts("id", [&self.id]);
        out.texts("user_id", [&self.user_id]);
        out.texts("doc_type", [&self.doc_type]);
        out.texts("title", [&self.title]);
        out.texts("content", [&self.content]);
        out.texts("participants", &self.participants);
        out.texts("addresses", &self.addresses);
        out.dates("created_at", [self.created_at]);
        out.dates("last_updated", [self.last_updated]);
        out.dates("sync_timestamp", [self.sync_timestamp]);
        out.texts("from_address", &self.from_address);
        out.texts("to_addresses", &self.to_addresses);
        out.texts("thread_id", &self.thread_id);
        out.texts("attachment_names", &self.attachment_names);
        out.dates("starts_at", self.starts_at.iter().copied());
        out.dates("ends_at", self.ends_at.iter().copied());
        out.texts("location", &self.location);
        out.texts("organizer", &self.organizer);
        out.texts("emails", &self.emails);
        out.texts("phones", &self.phones);
        out.texts("organization", &self.organization);
        if let Some(relevance) = self.relevance_milli {
            out.0
                .push(("relevance_milli", FieldValue::Integer(relevance)));
        }
        out.texts("author", &self.author);
        if let Some(parent) = &self.parent {
            out.texts("parent_id", [&parent.id]);
            out.texts("parent_doc_type", [&parent.doc_type]);
            out.owned(
                "parent_key",
                document_key(&self.user_id, &parent.doc_type, &parent.id),
            );
            out.texts("parent_title", [&parent.title]);
            out.0
                .push(("position", FieldValue::Integer(u64::from(parent.position))));
        }
        out.texts("status", &self.status);
        out.dates("due_at", self.due_at);
        out.texts("assignee", &self.assignee);
        out.texts("model", &self.model);
        out.texts("carrier", &self.carrier);
        out.texts("tracking_number", &self.tracking_number);
        out.texts("source_email_ids", &self.source_email_ids);
        out.texts("poll_id", &self.poll_id);
        out.0
    }

    /// The value of the `key` field of the document `(user_id, doc_type, id)`, and of the
    /// `parent_key` field of its fragments: what an engine replaces and deletes a document
    /// (and its fragments) by.
    pub fn replacement_key(user_id: &str, doc_type: &str, id: &str) -> String {
        document_key(user_id, doc_type, id)
    }

    /// Checks the event timestamps the index sorts by: neither `last_updated` nor
    /// `sync_timestamp` may lie more than [`MAX_CLOCK_SKEW_SECS`] after `now`.
    ///
    /// Fails with [`SearchErrorKind::InvalidDocument`] naming the event field
    /// (`data.last_updated`, `data.sync_timestamp`); such a document is never indexed.
    pub fn check_timestamps(&self, now: DateTime<Utc>) -> Result<(), SearchError> {
        let latest = now + chrono::Duration::seconds(MAX_CLOCK_SKEW_SECS);
        for (field, value) in [
            ("data.last_updated", self.last_updated),
            ("data.sync_timestamp", self.sync_timestamp),
        ] {
            if value > latest {
                return Err(SearchError::new(
                    SearchErrorKind::InvalidDocument,
                    format!(
                        "rejected {} {} of user {}: {field} {} is {} s in the future \
                         (at most {MAX_CLOCK_SKEW_SECS} s of clock skew allowed)",
                        self.doc_type,
                        self.id,
                        self.user_id,
                        value.to_rfc3339(),
                        (value - now).num_seconds(),
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Collects `(name, value)` pairs, one per value.
struct Values<'a>(Vec<(&'static str, FieldValue<'a>)>);

impl<'a> Values<'a> {
    fn texts(&mut self, name: &'static str, values: impl IntoIterator<Item = &'a String>) {
        self.0.extend(
            values
                .into_iter()
                .map(|value| (name, FieldValue::Text(Cow::Borrowed(value.as_str())))),
        );
    }

    fn owned(&mut self, name: &'static str, value: String) {
        self.0.push((name, FieldValue::Text(Cow::Owned(value))));
    }

    fn dates(&mut self, name: &'static str, values: impl IntoIterator<Item = DateTime<Utc>>) {
        self.0.extend(
            values
                .into_iter()
                .map(|value| (name, FieldValue::Date(value))),
        );
    }
}

/// The replacement key of the document `(user_id, doc_type, id)`.
pub(crate) fn document_key(user_id: &str, doc_type: &str, id: &str) -> String {
    format!("{user_id}{KEY_SEPARATOR}{doc_type}{KEY_SEPARATOR}{id}")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::{DocTypes, FieldType, SEARCH_FIELDS, field_definition};

    fn at(second: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_714_564_800 + second, 0).unwrap()
    }

    /// A document with every field set, so that every name it writes is checked.
    fn full(doc_type: &str) -> SearchDocument {
        let some = |value: &str| Some(value.to_string());
        let many = |value: &str| vec![value.to_string()];
        SearchDocument {
            id: "1".into(),
            user_id: "alice".into(),
            doc_type: doc_type.into(),
            title: "t".into(),
            content: "c".into(),
            participants: many("Bob <bob@x.com>"),
            addresses: many("bob@x.com"),
            created_at: at(0),
            last_updated: at(0),
            sync_timestamp: at(0),
            from_address: some("bob@x.com"),
            to_addresses: many("carol@x.com"),
            thread_id: some("t1"),
            attachment_names: many("a.pdf"),
            starts_at: vec![at(1), at(2)],
            ends_at: vec![at(3)],
            location: some("here"),
            organizer: some("bob@x.com"),
            emails: many("bob@x.com"),
            phones: many("+1"),
            organization: some("Acme"),
            relevance_milli: Some(1500),
            author: some("Bob"),
            parent: Some(ParentLink {
                id: "d".into(),
                doc_type: "word".into(),
                title: "Doc".into(),
                position: 4,
            }),
            status: some("done"),
            due_at: Some(at(9)),
            assignee: some("bob@x.com"),
            model: some("m"),
            carrier: some("ups"),
            tracking_number: some("1Z"),
            source_email_ids: many("<1@x>"),
            poll_id: some("p1"),
        }
    }

    #[test]
    fn every_value_is_written_under_a_defined_name_of_its_type_in_schema_order() {
        let doc = full("email");
        let values = doc.field_values();
        let mut last_position = 0;
        for (name, value) in &values {
            let definition = field_definition(name).unwrap_or_else(|| panic!("{name}"));
            let expected = match value {
                FieldValue::Text(_) => [FieldType::Text, FieldType::Keyword].as_slice(),
                FieldValue::Date(_) => &[FieldType::Date],
                FieldValue::Integer(_) => &[FieldType::Integer],
            };
            assert!(expected.contains(&definition.field_type), "{name}");
            let position = SEARCH_FIELDS
                .iter()
                .position(|field| field.name == *name)
                .unwrap();
            assert!(position >= last_position, "{name} is out of order");
            last_position = position;
            if !definition.multi_valued {
                assert_eq!(
                    values.iter().filter(|(other, _)| other == name).count(),
                    1,
                    "{name}"
                );
            }
        }
        // Every defined field is written by a document that has everything.
        for field in SEARCH_FIELDS {
            assert!(
                values.iter().any(|(name, _)| *name == field.name),
                "{} is never written",
                field.name
            );
        }
        assert!(values.contains(&(
            "parent_key",
            FieldValue::Text(document_key("alice", "word", "d").into())
        )));
        assert!(values.contains(&("position", FieldValue::Integer(4))));
        assert!(matches!(
            field_definition("key").unwrap().doc_types,
            DocTypes::All
        ));
    }

    #[test]
    fn timestamps_in_the_future_are_rejected_naming_the_field() {
        let now = at(0);
        let check = |last_updated: i64, sync_timestamp: i64| {
            SearchDocument {
                last_updated: at(last_updated),
                sync_timestamp: at(sync_timestamp),
                ..full("todo")
            }
            .check_timestamps(now)
        };
        assert!(check(0, 0).is_ok());
        assert!(check(-86_400, MAX_CLOCK_SKEW_SECS).is_ok(), "skew allowed");
        let err = check(MAX_CLOCK_SKEW_SECS + 1, 0).unwrap_err();
        assert_eq!(err.kind(), SearchErrorKind::InvalidDocument);
        assert!(!err.is_retryable());
        assert!(err.to_string().contains("data.last_updated"), "{err}");
        assert!(
            err.to_string().starts_with("rejected todo 1 of user alice"),
            "{err}"
        );
        let err = check(0, 3_600).unwrap_err();
        assert!(err.to_string().contains("data.sync_timestamp"), "{err}");
        assert!(err.to_string().contains("3600 s in the future"), "{err}");
    }
}
