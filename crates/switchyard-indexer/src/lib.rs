//! Switchyard's search indexer: [`Indexer`], the consumer handler that keeps a
//! `switchyard_search::SearchBackend` (whichever engine) in step with the office topics,
//! one commit per batch before the runtime acks it; its [`subscriptions`]
//! (`search-indexer-{topic}`) and their settings, [`IndexerConfig`] (`[indexer]`).
//!
//! This crate joins the runtime's consumer loop (`switchyard-runtime`'s `Handler`) to the
//! engine-agnostic search API (`switchyard-search`); it names no engine, broker or store.
//!
//! ```
//! use std::sync::Arc;
//!
//! use switchyard_contracts::{AnyOfficeEvent, Email, EmailEvent, Operation, SyncType};
//! use switchyard_indexer::Indexer;
//! use switchyard_runtime::{Handler, Incoming, Outcome};
//! use switchyard_search::SearchBackend;
//! use switchyard_tantivy::SearchIndex;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let dir = tempfile::tempdir().unwrap();
//! let index = Arc::new(SearchIndex::open(dir.path()).unwrap());
//! let indexer = Indexer::new(index.clone());
//!
//! let email = Email {
//!     id: "<msg-1@example.com>".into(),
//!     subject: "Quarterly budget".into(),
//!     ..Email::default()
//! };
//! let event = EmailEvent::new(Operation::Create, SyncType::Backfill, "mbox", "alice", "b1", email);
//! let envelope = AnyOfficeEvent::Email(event).to_envelope("/docs", "job-1").unwrap();
//!
//! // What a consumer does with each fetched batch: decode every event, then handle them.
//! let decoded = indexer.decode(&envelope).unwrap();
//! let outcomes = indexer.handle(vec![Incoming::new(decoded, envelope.id.clone())]).await;
//! assert_eq!(outcomes, [Outcome::Done]);
//! assert_eq!(SearchBackend::count(index.as_ref(), "alice", Some("email")).unwrap(), 1);
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod indexer;

pub use config::{IndexerConfig, InvalidIndexerConfig, subscriptions};
pub use indexer::Indexer;
