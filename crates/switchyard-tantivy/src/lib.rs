//! Switchyard's embedded search engine on [tantivy](https://github.com/quickwit-oss/tantivy):
//! [`SearchIndex`], the `switchyard_search::SearchBackend` of one data directory's
//! `index/`, and [`bench_search`], the benchmark of that index behind
//! `switchyard bench search`.
//!
//! The index's schema is generated from `switchyard_search::SEARCH_FIELDS` (`schema.rs`,
//! a durable format); documents are written from `SearchDocument::field_values` and
//! replaced or deleted by their replacement key, so an upsert never duplicates and a
//! document's delete follows its fragments. Searches rank BM25 × the recency and contact
//! boosts of `switchyard_search`, make snippets, and fold fragments into their document
//! with `switchyard_search::FoldedResults`, as every engine does. Every read is scoped to
//! one user.
//!
//! Calls block (disk I/O, CPU); async callers use `spawn_blocking`. This crate knows
//! nothing of brokers, consumers or HTTP.
//!
//! ```
//! use switchyard_contracts::{AnyOfficeEvent, Email, EmailEvent, Operation, SyncType};
//! use switchyard_search::{SearchDocument, SearchQuery};
//! use switchyard_tantivy::SearchIndex;
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

mod bench;
mod index;
mod retrieval;
mod schema;
mod snippet;

pub use bench::{SearchBenchReport, bench_search};
pub use index::SearchIndex;
