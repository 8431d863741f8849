//! Switchyard's runtime: the [`Publisher`] that puts envelopes on their topics (with the
//! [`ClaimCheck`] for large payloads), the [`Consumer`] loop that takes them off (decode →
//! validate → deduplicate → resolve claim checks → handle → record keys → ack, retry with
//! backoff or dead-letter), the [`DeadLetterQueue`] tooling, the [`OutboxRelay`], and the
//! runtime's Prometheus metrics.
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

mod claim_check;
mod consumer;
mod dead_letter;
mod error;
mod handler;
mod health;
mod key_ttls;
mod metrics;
mod outbox;
mod publisher;
#[cfg(feature = "testsuite")]
mod testsuite;

pub use claim_check::{ClaimCheck, OffloadError};
pub use consumer::{Consumer, ConsumerConfig, RetryPolicy, StepReport};
pub use dead_letter::{
    DLQ_SUFFIX, DeadLetter, DeadLetterCount, DeadLetterEntry, DeadLetterFilter, DeadLetterPage,
    DeadLetterQueue, FailedBy, FailureKind, dlq_topic,
};
pub use error::{PublishError, RuntimeError};
pub use handler::{Handler, Incoming, Outcome, apply_changes};
pub use health::{ConsumerHealth, FailingConsumer};
pub use key_ttls::KeyTtls;
pub use metrics::{encode_metrics, encode_metrics_with};
pub use outbox::{OutboxError, OutboxRelay, RelayReport, outbox_entry};
pub use publisher::{PublishReport, PublishRetry, Publisher, RejectedEvent};
/// Named by every consumer's subscriptions.
pub use switchyard_bus::SubscriptionConfig;
#[cfg(feature = "testsuite")]
pub use testsuite::{
    Recorder, Seen, fast_retry_registry, office_envelope, runtime_conformance_suite,
};
