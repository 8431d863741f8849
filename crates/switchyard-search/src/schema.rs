//! The tantivy schema of the search index, defined once: its fields, how a
//! [`SearchDocument`] becomes a tantivy document, and the replacement key.
//!
//! This is a durable format. An index on disk is only opened when its schema equals
//! [`SearchFields::new`]'s exactly, so adding, removing or changing any field (name,
//! options, order) makes existing indexes fail with `SchemaMismatch`. Recovery is a rebuild:
//! delete the index directory and replay the office topics from their start; documents are
//! keyed by `(user_id, doc_type, id)`, so a replay converges to the same index.
//!
//! Only fields a [`crate::SearchHit`] shows (plus `content`, for snippets, and the key) are
//! stored; the type-specific fields are indexed for field queries such as `location:paris`.

use chrono::{DateTime, Utc};
use tantivy::schema::{
    DateOptions, DateTimePrecision, FAST, Field, INDEXED, IndexRecordOption, STORED, STRING,
    Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument, Term};

use crate::SearchDocument;

/// Name of the fast field empty queries sort by.
pub(crate) const UPDATED_AT: &str = "updated_at";

/// Tokenizer of every free-text field; part of the format, registered on each open.
const TEXT_TOKENIZER: &str = "switchyard_text";

/// Joins the parts of the replacement key: a control character that user ids, type names
/// and provider ids do not contain, as in the contracts' idempotency key.
const KEY_SEPARATOR: char = '\u{1f}';

/// The schema and a handle for each of its fields.
pub(crate) struct SearchFields {
    pub(crate) schema: Schema,
    key: Field,
    id: Field,
    pub(crate) user_id: Field,
    pub(crate) doc_type: Field,
    pub(crate) title: Field,
    pub(crate) content: Field,
    participants: Field,
    created_at: Field,
    updated_at: Field,
    from_address: Field,
    to_addresses: Field,
    thread_id: Field,
    attachment_names: Field,
    starts_at: Field,
    ends_at: Field,
    location: Field,
    organizer: Field,
    emails: Field,
    phones: Field,
    organization: Field,
}

impl SearchFields {
    pub(crate) fn new() -> Self {
        let mut builder = Schema::builder();
        let text = || {
            let indexing = TextFieldIndexing::default()
                .set_tokenizer(TEXT_TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions);
            TextOptions::default().set_indexing_options(indexing)
        };
        let date = || {
            DateOptions::from(INDEXED | STORED | FAST)
                .set_precision(DateTimePrecision::Microseconds)
        };
        // Struct fields are evaluated in the order written: `schema` must come last.
        SearchFields {
            key: builder.add_text_field("key", STRING | STORED),
            id: builder.add_text_field("id", STRING | STORED),
            user_id: builder.add_text_field("user_id", STRING),
            doc_type: builder.add_text_field("doc_type", STRING | STORED),
            title: builder.add_text_field("title", text().set_stored()),
            content: builder.add_text_field("content", text().set_stored()),
            participants: builder.add_text_field("participants", text().set_stored()),
            created_at: builder.add_date_field("created_at", date()),
            updated_at: builder.add_date_field(UPDATED_AT, date()),
            from_address: builder.add_text_field("from_address", text()),
            to_addresses: builder.add_text_field("to_addresses", text()),
            thread_id: builder.add_text_field("thread_id", STRING),
            attachment_names: builder.add_text_field("attachment_names", text()),
            starts_at: builder.add_date_field("starts_at", date()),
            ends_at: builder.add_date_field("ends_at", date()),
            location: builder.add_text_field("location", text()),
            organizer: builder.add_text_field("organizer", text()),
            emails: builder.add_text_field("emails", text()),
            phones: builder.add_text_field("phones", text()),
            organization: builder.add_text_field("organization", text()),
            schema: builder.build(),
        }
    }

    /// Registers the tokenizer the schema names; every opened index needs it.
    pub(crate) fn register_tokenizers(index: &Index) {
        // Words, lowercased and with accents folded, so that `jose` finds `José`.
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build();
        index.tokenizers().register(TEXT_TOKENIZER, analyzer);
    }

    /// The fields free text is matched against when a query names no field.
    pub(crate) fn default_text_fields(&self) -> Vec<Field> {
        vec![
            self.title,
            self.content,
            self.participants,
            self.from_address,
            self.to_addresses,
            self.attachment_names,
            self.location,
            self.organizer,
            self.emails,
            self.phones,
            self.organization,
        ]
    }

    /// The term that identifies one document, for replacing or deleting it.
    pub(crate) fn key_term(&self, user_id: &str, doc_type: &str, id: &str) -> Term {
        Term::from_field_text(self.key, &key(user_id, doc_type, id))
    }

    pub(crate) fn to_tantivy(&self, doc: &SearchDocument) -> TantivyDocument {
        let mut out = TantivyDocument::new();
        out.add_text(self.key, key(&doc.user_id, &doc.doc_type, &doc.id));
        let texts: [(Field, &[String]); 15] = [
            (self.id, std::slice::from_ref(&doc.id)),
            (self.user_id, std::slice::from_ref(&doc.user_id)),
            (self.doc_type, std::slice::from_ref(&doc.doc_type)),
            (self.title, std::slice::from_ref(&doc.title)),
            (self.content, std::slice::from_ref(&doc.content)),
            (self.participants, &doc.participants),
            (self.to_addresses, &doc.to_addresses),
            (self.attachment_names, &doc.attachment_names),
            (self.emails, &doc.emails),
            (self.phones, &doc.phones),
            (self.from_address, doc.from_address.as_slice()),
            (self.thread_id, doc.thread_id.as_slice()),
            (self.location, doc.location.as_slice()),
            (self.organizer, doc.organizer.as_slice()),
            (self.organization, doc.organization.as_slice()),
        ];
        for (field, values) in texts {
            for value in values {
                out.add_text(field, value);
            }
        }
        let dates = [
            (self.created_at, Some(doc.created_at)),
            (self.updated_at, Some(doc.updated_at)),
            (self.starts_at, doc.starts_at),
            (self.ends_at, doc.ends_at),
        ];
        for (field, value) in dates {
            if let Some(value) = value {
                out.add_date(field, to_tantivy_date(value));
            }
        }
        out
    }

    /// The identity and display fields of a retrieved document.
    pub(crate) fn stored_fields(&self, doc: &TantivyDocument) -> StoredFields {
        let first_text = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_str())
                .unwrap_or_default()
                .to_string()
        };
        let updated_at = doc
            .get_first(self.updated_at)
            .and_then(|value| value.as_datetime())
            .map(from_tantivy_date)
            // Every document is written with `updated_at`; a missing one reads as the epoch.
            .unwrap_or_default();
        StoredFields {
            id: first_text(self.id),
            doc_type: first_text(self.doc_type),
            title: first_text(self.title),
            content: first_text(self.content),
            participants: doc
                .get_all(self.participants)
                .filter_map(|value| value.as_str().map(str::to_string))
                .collect(),
            updated_at,
        }
    }
}

/// What a hit shows of a stored document.
pub(crate) struct StoredFields {
    pub(crate) id: String,
    pub(crate) doc_type: String,
    pub(crate) title: String,
    pub(crate) content: String,
    pub(crate) participants: Vec<String>,
    pub(crate) updated_at: DateTime<Utc>,
}

fn key(user_id: &str, doc_type: &str, id: &str) -> String {
    format!("{user_id}{KEY_SEPARATOR}{doc_type}{KEY_SEPARATOR}{id}")
}

fn to_tantivy_date(value: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(value.timestamp_micros())
}

fn from_tantivy_date(value: tantivy::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value.into_timestamp_micros()).unwrap_or_default()
}
