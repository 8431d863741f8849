//! Switchyard's unified search: office items of every kind (mail, calendars, contacts,
//! documents and their fragments, tasks, todos, chats, shipments, meeting polls and
//! bookings) in one index, always queried within one user's documents.
//!
//! [`SearchDocument::from_event`] turns an office event into a document whose fields are
//! those of [`SEARCH_FIELDS`], the schema as data. A [`SearchBackend`] (the tantivy
//! [`SearchIndex`] here) upserts and deletes documents in batches, makes them durable and
//! visible with one commit, answers [`SearchQuery`]s with [`SearchResults`] where a
//! document's matching fragments fold into its [`SearchHit`], and navigates between a
//! fragment and its document. [`FoldedResults`] holds that folding for every engine, over
//! the [`MatchedHit`]s an engine reads. [`Indexer`] is the consumer handler that feeds a backend.
//! This crate knows nothing of brokers, HTTP or consumer loops; its calls block, so async
//! callers use `spawn_blocking`.
//!
//! ```
//! use switchyard_contracts::{AnyOfficeEvent, Email, EmailEvent, Operation, SyncType};
//! use switchyard_search::{SearchDocument, SearchIndex, SearchQuery};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let index = SearchIndex::open(dir.path()).unwrap();
//! let email = Email {
//!     id: "<msg-1@example.com>".into(),
//!     subject: "Quarterly budget".into(),
//!     body_text: "The budget is attached.".into(),
//!     ..Email::default()
//! };
//! let event = EmailEvent::new(Operation::Create, SyncType::Backfill, "mbox", "alice", "b1", email);
//! index.upsert(vec![SearchDocument::from_event(&AnyOfficeEvent::Email(event))]).unwrap();
//! index.commit().unwrap();
//!
//! let query = SearchQuery {
//!     text: "budget".into(),
//!     user_id: "alice".into(),
//!     limit: 10,
//!     ..SearchQuery::default()
//! };
//! let hits = index.search(&query).unwrap();
//! assert_eq!(hits[0].title, "Quarterly budget");
//! assert!(hits[0].snippet.contains("The <b>budget</b> is attached"));
//! ```
#![warn(missing_docs)]

mod backend;
mod bench;
mod document;
mod error;
mod factory;
mod fields;
mod fold;
mod index;
mod indexer;
mod query;
mod retrieval;
mod schema;
mod snippet;

pub use backend::SearchBackend;
pub use bench::{SearchBenchReport, bench_search};
pub use document::{FieldValue, MAX_CLOCK_SKEW_SECS, ParentLink, SearchDocument};
pub use error::{SearchError, SearchErrorKind};
pub use factory::DOCUMENT_CONTENT_MAX_CHARS;
pub use fields::{
    DocTypes, FieldDefinition, FieldType, SEARCH_FIELDS, field_definition, fields_of_doc_type,
};
pub use fold::{FoldedResults, MatchedHit};
pub use index::SearchIndex;
pub use indexer::Indexer;
pub use query::{
    DateField, DateRange, FragmentHit, MAX_FRAGMENTS_PER_HIT, MAX_SEARCH_HITS, SearchHit,
    SearchQuery, SearchResults, SortOrder,
};
pub use retrieval::{RECENCY_HALF_LIFE_DAYS, RECENCY_WEIGHT, contact_boost, recency_boost};
pub use snippet::escape_html;
