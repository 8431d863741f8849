//! Switchyard's identity flows, as an identity/subscription service runs them: accounts
//! that register and verify their address with a one-time code mailed to them, and
//! subscriptions that are created, cancelled and change status. Every change is
//! committed with the events it causes through the transactional outbox
//! ([`IdentityStore`]), then published at once to the identity event set
//! (`smap.events`: `email.verification.requested`, `subscription.*`) and, during a
//! migration, copied in the legacy shape to the fanout exchange [`LEGACY_EXCHANGE`].
//!
//! - `account.rs`: registration rules, password hashing (argon2id), the code's life.
//! - `subscription.rs`: the subscription lifecycle and its checks.
//! - `store.rs`: the store trait and the embedded store; `postgres.rs` the PostgreSQL one.
//! - `service.rs`: [`Identity`], the flows themselves; `legacy.rs` the legacy shape.
//!
//! Secrets stay out of sight: the password is kept only as its argon2id hash, the code
//! only as a digest (the plain code travels in the event to the mailer alone), and logs
//! show addresses masked (`ab***@example.com`).

mod account;
mod error;
mod legacy;
#[cfg(feature = "postgres")]
mod postgres;
mod service;
mod store;
mod subscription;

pub use account::{
    Account, CODE_LIFETIME, Locale, MAX_ATTEMPTS, MAX_SENDS_PER_WINDOW, RESEND_INTERVAL,
};
pub use error::{CodeRefusal, IdentityError};
pub use legacy::LegacyMessage;
#[cfg(feature = "postgres")]
pub use postgres::PostgresIdentityStore;
pub use service::{
    Actor, Identity, IdentitySettings, LEGACY_EXCHANGE, NewSubscription, Registered, prepare_events,
};
pub use store::{Change, EmbeddedIdentityStore, IdentityStore, OutboxEvent, RecordKind, Update};
pub use subscription::{Subscription, parse_status};
