//! Switchyard's runtime: the [`Publisher`] that puts envelopes on their topics, and the
//! [`Consumer`] loop that takes them off: fetch a batch → decode → upcast → deduplicate →
//! handle → remember idempotency keys → ack.
//!
//! A consumer's domain logic is a [`Handler`]; the runtime owns delivery concerns.
//!
//! ```no_run
//! # async fn example(broker: std::sync::Arc<dyn switchyard_bus::Broker>,
//! #     state: std::sync::Arc<dyn switchyard_state::StateStore>,
//! #     registry: std::sync::Arc<switchyard_contracts::Registry>,
//! #     handler: impl switchyard_runtime::Handler) {
//! use switchyard_bus::SubscriptionConfig;
//! use switchyard_runtime::{Consumer, ConsumerConfig};
//!
//! let config = ConsumerConfig::new(SubscriptionConfig::new("search-indexer-emails", "emails"));
//! let consumer = Consumer::new(broker, state, registry, config, handler);
//! consumer.run(tokio_util::sync::CancellationToken::new()).await;
//! # }
//! ```
#![warn(missing_docs)]

mod consumer;
mod error;
mod handler;
mod publisher;

pub use consumer::{Consumer, ConsumerConfig, StepReport};
pub use error::RuntimeError;
pub use handler::{Handler, HandlerError};
pub use publisher::{PublishReport, Publisher, RejectedEvent};
