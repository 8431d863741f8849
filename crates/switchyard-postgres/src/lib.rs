//! Switchyard's transactional outbox on PostgreSQL.
//!
//! A service writes its domain rows and the events they cause in one SQL transaction:
//! [`PostgresOutbox::enqueue`] joins the caller's transaction, so either both commit or
//! neither does. [`PostgresOutbox`] also implements [`Outbox`](switchyard_state::Outbox),
//! so the runtime's `OutboxRelay` publishes from it unchanged; several relays can run at
//! once, each with its own instance, and events of one partition key still leave in order
//! (see [`PostgresOutbox`] for the claiming rules and their limits).
//!
//! Payloads are opaque bytes here (in Switchyard, an `Outbound` as JSON from
//! `switchyard_runtime::outbox_entry`). Statements are built at run time from the
//! validated table name; there are no compile-time query macros, so building needs no
//! database. Reading `DATABASE_URL` is the binary's job.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard_postgres::PostgresOutbox;
//! use switchyard_state::Outbox;
//!
//! let outbox = PostgresOutbox::connect("postgres://postgres@127.0.0.1:5432/test", "outbox").await?;
//! outbox.migrate().await?;
//!
//! // The domain write and its event, in one transaction.
//! let mut tx = outbox.pool().begin().await?;
//! sqlx::query("UPDATE orders SET state = 'paid' WHERE id = 42").execute(&mut *tx).await?;
//! outbox.enqueue(&mut tx, "order-42", br#"{"type":"order.paid"}"#).await?;
//! tx.commit().await?;
//!
//! // The relay side: claim, publish, mark sent.
//! let claimed = outbox.pending(100).await?;
//! let ids: Vec<u64> = claimed.iter().map(|entry| entry.id).collect();
//! outbox.mark_sent(&ids).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod outbox;
mod table;

pub use error::{PostgresOutboxError, PostgresOutboxErrorKind};
pub use outbox::{DEFAULT_LEASE, PostgresOutbox};
