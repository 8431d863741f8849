//! Switchyard's document chunking: Word, Excel and PowerPoint documents become fragments
//! that each read on their own, for search.
//!
//! - [`chunk`] is pure and lazy: `&Document` → an iterator of
//!   [`Fragment`](switchyard_contracts::Fragment)s, one built at
//!   a time. Word documents are cut at heading sections (text led by the heading path),
//!   longer sections at paragraphs then sentences (`text-splitter`, character sizing);
//!   sheets per sheet or block of rows, each under the sheet name and header row; decks
//!   one fragment per slide with its notes. Ids are `{document id}#{position}`.
//! - [`Chunker`] is the consumer [`Handler`](switchyard_runtime::Handler) that publishes
//!   a document event's fragments as fragment events, deletes fragments an update or a
//!   delete left behind (counts kept under `chunks:{user}:{document}` in the state store),
//!   and holds at most [`ChunkingConfig::max_bytes_in_flight`] bytes of events at once.
//! - [`chunk_text_bench`] is what `switchyard bench chunking` times.
//!
//! The crate knows no broker or store engine: it talks to them through the runtime's
//! `Publisher` and the `StateStore` trait.
//!
//! ```
//! use switchyard_chunking::{ChunkingConfig, chunk};
//! use switchyard_contracts::{Document, DocumentBody, DocumentKind, WordBlock};
//!
//! let document = Document {
//!     id: "doc-1".into(),
//!     kind: DocumentKind::Word,
//!     title: "Travel policy".into(),
//!     body: Some(DocumentBody::Word {
//!         blocks: vec![
//!             WordBlock::Heading { level: 1, text: "Trains".into() },
//!             WordBlock::Paragraph { text: "Second class for trips under four hours.".into() },
//!             WordBlock::Heading { level: 1, text: "Hotels".into() },
//!             WordBlock::Paragraph { text: "Up to 150 EUR a night.".into() },
//!         ],
//!     }),
//!     ..Document::default()
//! };
//! let fragments: Vec<_> = chunk(&document, &ChunkingConfig::default()).unwrap().collect();
//! assert_eq!(fragments.len(), 2);
//! assert_eq!(fragments[1].id, "doc-1#1");
//! assert_eq!(fragments[1].title.as_deref(), Some("Hotels"));
//! assert_eq!(fragments[1].text, "Hotels\n\nUp to 150 EUR a night.");
//! ```
//!
//! Running the consumer (the wiring `node.rs` does):
//!
//! ```no_run
//! # async fn example(broker: std::sync::Arc<dyn switchyard_bus::Broker>,
//! #     state: std::sync::Arc<dyn switchyard_state::StateStore>,
//! #     registry: std::sync::Arc<switchyard_contracts::Registry>) {
//! use switchyard_bus::SubscriptionConfig;
//! use switchyard_chunking::{Chunker, ChunkingConfig};
//! use switchyard_runtime::{Consumer, ConsumerConfig, Publisher};
//!
//! let publisher = Publisher::new(broker.clone(), registry.clone());
//! let chunker = Chunker::new(publisher, state.clone(), ChunkingConfig::default()).unwrap();
//! let config = ConsumerConfig::new(SubscriptionConfig::new("chunker-word", "word_documents"));
//! let consumer = Consumer::new(broker, state, registry, config, chunker);
//! consumer.run(tokio_util::sync::CancellationToken::new()).await;
//! # }
//! ```
#![warn(missing_docs)]

mod bench;
mod chunker;
mod config;
mod error;
mod fragments;
mod presentation;
mod sheet;
mod text;
mod word;

pub use bench::chunk_text_bench;
pub use chunker::{
    CHUNKER_SOURCE, ChunkReport, Chunker, TOMBSTONE_TTL, chunk_state_key, subscriptions,
};
pub use config::{ChunkingConfig, MAX_FRAGMENT_CHARS_LIMIT, MIN_BYTES_IN_FLIGHT};
pub use error::{ChunkingError, ChunkingErrorKind};
pub use fragments::{Fragments, check_body, chunk, fragment_id};
