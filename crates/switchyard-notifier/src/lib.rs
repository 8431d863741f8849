//! Switchyard's live notifier: tells a user's front end, within a second, that one of
//! their items was created, changed or deleted — the document type, item id and
//! operation as a [`Signal`], never the content — so it can refetch.
//!
//! - [`Notifier`], a runtime [`Handler`](switchyard_runtime::Handler) on every office
//!   topic (its [`subscriptions`], `notifier-{topic}`), turns each event into a signal
//!   for its user.
//! - The [`Journal`] keeps each user's signals with per-user, strictly increasing ids
//!   in a [`JournalStore`] (embedded: [`RedbJournalStore`], `{data_dir}/notifier.redb`)
//!   within a retention window (count per user and/or age), dedupes redeliveries on the
//!   item version, and fans new signals out to live streams over bounded channels.
//! - [`stream_router`] serves `GET /v1/stream?user=…` as Server-Sent Events with
//!   `Last-Event-ID` resume, a `reset` event when the window no longer covers the
//!   client, heartbeats, and per-user authorization ([`StreamAuth`]; signed tokens
//!   `{user}:{expires_at}:{hex hmac-sha256}`, see [`TokenSigner`]).
//!
//! **Boundary:** no broker or index code; the journal store is its only I/O besides the
//! HTTP streams, and it reads no environment variable.
//!
//! ```no_run
//! # async fn example(data_dir: &std::path::Path, secret: &str)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use switchyard_notifier::{
//!     Journal, Notifier, NotifierConfig, RedbJournalStore, StreamAuth, stream_router,
//!     subscriptions,
//! };
//!
//! let config = NotifierConfig::default();
//! let store = RedbJournalStore::open(data_dir, config.retention())?;
//! let journal = Journal::new(Arc::new(store), config)?;
//!
//! // Run by one `Consumer` per subscription, each with the same handler.
//! let notifier = Notifier::new(journal.clone());
//! let consumer_configs = subscriptions(journal.config());
//!
//! // Merged into the node's HTTP API; tokens signed with `SWITCHYARD_NOTIFIER_SECRET`.
//! let auth = StreamAuth::signed(secret)?;
//! let _api: axum::Router = axum::Router::new().merge(stream_router(journal, auth));
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod auth;
mod config;
mod embedded;
mod error;
mod handler;
mod http;
mod journal;
mod signal;
mod store;

pub use auth::{AuthFailure, StreamAuth, StreamAuthorizer, TokenSigner, UserTokens};
pub use config::{NotifierConfig, Retention};
pub use embedded::RedbJournalStore;
pub use error::{NotifierError, NotifierErrorKind};
pub use handler::{Notifier, subscriptions};
pub use http::{STREAM_PATH, stream_router};
pub use journal::Journal;
pub use signal::{JournalEntry, NewSignal, Signal};
pub use store::{JournalStore, Replay};
