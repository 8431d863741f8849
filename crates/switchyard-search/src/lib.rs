//! Switchyard's search API, the same for every engine: office items of every kind (mail,
//! calendars, contacts, documents and their fragments, tasks, todos, chats, shipments,
//! meeting polls and bookings) as one flat [`SearchDocument`], always queried within one
//! user's documents.
//!
//! [`SearchDocument::from_event`] turns an office event into a document whose fields are
//! those of [`SEARCH_FIELDS`], the schema as data that every engine's schema is generated
//! from. A [`SearchBackend`] (the tantivy `SearchIndex` of `switchyard-tantivy`, the
//! embedded default, or the Vespa client of `switchyard-vespa`) upserts and deletes
//! documents in batches, makes them durable and visible with one commit, answers
//! [`SearchQuery`]s with [`SearchResults`] where a document's matching fragments fold into
//! its [`SearchHit`], and navigates between a fragment and its document. [`FoldedResults`]
//! holds that folding for every engine, over the [`MatchedHit`]s an engine reads;
//! [`recency_boost`] and [`contact_boost`] are the ranking every engine applies, and
//! [`escape_html`] the escaping of every snippet. The consumer handler that feeds a
//! backend is `switchyard-indexer`'s `Indexer`.
//!
//! This crate holds no engine: it knows nothing of tantivy, Vespa, brokers, consumers or
//! HTTP. Backends' calls block, so async callers use `spawn_blocking`.
//!
//! ```
//! use switchyard_contracts::{AnyOfficeEvent, Email, EmailEvent, Operation, SyncType};
//! use switchyard_search::{FieldValue, SearchDocument, field_definition};
//!
//! let email = Email {
//!     id: "<msg-1@example.com>".into(),
//!     subject: "Quarterly budget".into(),
//!     body_text: "The budget is attached.".into(),
//!     ..Email::default()
//! };
//! let event = EmailEvent::new(Operation::Create, SyncType::Backfill, "mbox", "alice", "b1", email);
//! let doc = SearchDocument::from_event(&AnyOfficeEvent::Email(event));
//! assert_eq!((doc.doc_type.as_str(), doc.title.as_str()), ("email", "Quarterly budget"));
//!
//! // What an engine indexes: values named after the fields of SEARCH_FIELDS.
//! let values = doc.field_values();
//! assert!(values.iter().all(|(name, _)| field_definition(name).is_some()));
//! assert!(values.iter().any(|(name, value)| {
//!     *name == "content" && matches!(value, FieldValue::Text(text) if text.contains("budget"))
//! }));
//! ```
#![warn(missing_docs)]

mod backend;
mod document;
mod error;
mod factory;
mod fields;
mod fold;
mod query;
mod ranking;
mod snippet;

pub use backend::SearchBackend;
pub use document::{FieldValue, MAX_CLOCK_SKEW_SECS, ParentLink, SearchDocument};
pub use error::{SearchError, SearchErrorKind};
pub use factory::DOCUMENT_CONTENT_MAX_CHARS;
pub use fields::{
    DocTypes, FieldDefinition, FieldType, SEARCH_FIELDS, field_definition, fields_of_doc_type,
};
pub use fold::{FoldedResults, MatchedHit};
pub use query::{
    DateField, DateRange, FragmentHit, MAX_FRAGMENTS_PER_HIT, MAX_SEARCH_HITS, SearchHit,
    SearchQuery, SearchResults, SortOrder,
};
pub use ranking::{RECENCY_HALF_LIFE_DAYS, RECENCY_WEIGHT, contact_boost, recency_boost};
pub use snippet::escape_html;
