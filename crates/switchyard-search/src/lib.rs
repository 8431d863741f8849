//! Switchyard's unified search index: office items of every kind (email, calendar,
//! contact) in one tantivy index, always queried within one user's documents.
//!
//! [`SearchDocument::from_event`] turns an office event into a document;
//! [`SearchIndex`] upserts and deletes documents in batches, makes them durable and
//! visible with one [`SearchIndex::commit`], and answers [`SearchQuery`]s with
//! [`SearchHit`]s. This crate knows nothing of brokers, HTTP or consumer loops; its calls
//! block, so async callers use `spawn_blocking`.
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
//!     doc_type: None,
//!     limit: 10,
//! };
//! let hits = index.search(&query).unwrap();
//! assert_eq!(hits[0].title, "Quarterly budget");
//! assert!(hits[0].snippet.contains("The <b>budget</b> is attached"));
//! ```
#![warn(missing_docs)]

mod document;
mod error;
mod index;
mod indexer;
mod schema;

pub use document::SearchDocument;
pub use error::{SearchError, SearchErrorKind};
pub use index::{MAX_SEARCH_HITS, SearchHit, SearchIndex, SearchQuery};
pub use indexer::Indexer;
