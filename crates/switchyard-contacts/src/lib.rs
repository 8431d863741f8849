//! Switchyard's contact discovery: the people a user deals with, learned from their
//! emails, meetings, documents and todos, ranked by relevance, and published as contact
//! events for search.
//!
//! - [`observe`] turns an office event into an [`ItemChange`]: the addresses of one item
//!   with their [`Role`]s (email from / to / cc, meeting organizer / attendee, document
//!   author / mention, todo assignee), names and date; [`AddressRules`] drop the user's
//!   own addresses and automated senders, and flag mailing lists.
//! - [`ContactStore`] keeps one [`Contribution`] per (user, address, item) and folds them
//!   into [`EmailContact`]s, so a redelivered or updated item replaces its contribution
//!   instead of adding to the counters; [`RedbContactStore`] is the embedded store
//!   (`contacts.redb`). `top`, `forget` and `drop_not_seen_since` rank, erase and expire.
//! - [`forget`] (on a user's request) and [`drop_stale`] (retention) erase contacts and
//!   delete their documents from the search index.
//! - [`Scoring`] is the relevance score:
//!   `list_factor · 0.5^(age_days / half_life_days) · Σ_role weight_role · ln(1 + count_role)`.
//! - [`ContactDiscovery`] is the consumer [`Handler`](switchyard_runtime::Handler): one
//!   store transaction per batch, then a `ContactEvent` (`discovered:{address}`) for each
//!   contact that is new, gone, renamed or whose score moved by more than
//!   `publish_threshold` (relative).
//!
//! The crate knows no broker or search engine: it publishes through the runtime's
//! `Publisher` and deletes documents through the search API's `SearchBackend`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use std::sync::Arc;
//! use chrono::{TimeZone, Utc};
//! use switchyard_contacts::{
//!     AddressRules, Clock, ContactStore, ContactsConfig, RedbContactStore, Scoring, observe,
//! };
//! use switchyard_contracts::{AnyOfficeEvent, Email, EmailEvent, Mailbox, Operation, SyncType};
//!
//! let config = ContactsConfig::default();
//! let now = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
//! let dir = tempfile::tempdir().unwrap();
//! let store = RedbContactStore::open(
//!     dir.path(),
//!     Scoring::with_clock(&config, Clock::fixed(now)),
//! )
//! .unwrap();
//!
//! let email = Email {
//!     id: "<1@example.com>".into(),
//!     from: Some(Mailbox { name: Some("Bob".into()), address: "Bob@Example.com".into() }),
//!     to: vec![Mailbox { name: None, address: "alice@example.com".into() }],
//!     date: Some(now),
//!     ..Email::default()
//! };
//! let event = AnyOfficeEvent::Email(EmailEvent::new(
//!     Operation::Create, SyncType::Backfill, "mbox", "alice@example.com", "b1", email,
//! ));
//! let change = observe(&event, &AddressRules::new(&config), 50).unwrap();
//! store.apply(vec![change.clone()]).await.unwrap();
//! store.apply(vec![change]).await.unwrap(); // a redelivery changes nothing
//!
//! let top = store.top("alice@example.com", 10).await.unwrap();
//! assert_eq!(top.len(), 1, "the user's own address is not a contact");
//! assert_eq!(top[0].contact.address, "bob@example.com");
//! assert_eq!(top[0].contact.counts.email_from, 1);
//! assert_eq!(top[0].contact.display_name(), "Bob");
//! # }
//! ```
//!
//! Running the consumer (the wiring the CLI does, one per source topic):
//!
//! ```no_run
//! # async fn example(broker: std::sync::Arc<dyn switchyard_bus::Broker>,
//! #     state: std::sync::Arc<dyn switchyard_state::StateStore>,
//! #     registry: std::sync::Arc<switchyard_contracts::Registry>,
//! #     data_dir: std::path::PathBuf) {
//! use std::sync::Arc;
//! use switchyard_bus::SubscriptionConfig;
//! use switchyard_contacts::{ContactDiscovery, ContactsConfig, RedbContactStore, Scoring};
//! use switchyard_runtime::{Consumer, ConsumerConfig, Publisher};
//!
//! let config = ContactsConfig::default();
//! let store = RedbContactStore::open(&data_dir, Scoring::new(&config))
//!     .unwrap();
//! let publisher = Publisher::new(broker.clone(), registry.clone());
//! let discovery = ContactDiscovery::new(Arc::new(store), publisher, config).unwrap();
//! let subscription = SubscriptionConfig::new("contact-discovery-emails", "emails");
//! let consumer = Consumer::new(broker, state, registry, ConsumerConfig::new(subscription), discovery);
//! consumer.run(tokio_util::sync::CancellationToken::new()).await;
//! # }
//! ```
#![warn(missing_docs)]

mod address;
mod config;
mod contact;
mod discovery;
mod error;
mod forget;
mod observe;
mod score;
mod store;

pub use address::{AddressClass, AddressRules, find_addresses, normalize_address, parse_author};
pub use config::{ContactsConfig, SourceWeights};
pub use contact::{
    CONTACT_ID_PREFIX, Contribution, EmailContact, MAX_NAMES, NameSeen, Role, SourceCounts,
    contact_id,
};
pub use discovery::{
    ContactDiscovery, DISCOVERY_PROVIDER, DISCOVERY_SOURCE, Decision, DiscoveryReport, decide,
    subscriptions,
};
pub use error::{ContactError, ContactErrorKind};
pub use forget::{drop_stale, forget};
pub use observe::{ItemChange, Observation, observe};
pub use score::{Clock, Scoring};
pub use store::{
    ApplyReport, ContactStore, DirtyContact, ForgottenContact, ItemEntry, Publication,
    PublishedState, RankedContact, RedbContactStore, Settled, UserExport,
};
