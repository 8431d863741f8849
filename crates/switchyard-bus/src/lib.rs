//! Switchyard's message bus: the [`Broker`] abstraction every backend implements, and
//! [`EmbeddedBroker`], the default engine, durable on local disk.
//!
//! The bus carries opaque messages (headers, optional partition key, payload bytes) on
//! named topics. It knows nothing of envelopes or event types.
//!
//! ```
//! # tokio_test();
//! # fn tokio_test() {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use switchyard_bus::{Broker, EmbeddedBroker, Message, SubscriptionConfig};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let broker = EmbeddedBroker::open(dir.path()).unwrap();
//! broker.ensure_subscription(&SubscriptionConfig::new("indexer", "emails")).await.unwrap();
//! broker.publish("emails", vec![Message::new(b"hello".to_vec())]).await.unwrap();
//! let batch = broker.fetch("indexer", 10, Duration::from_secs(1)).await.unwrap();
//! assert_eq!(batch[0].message.payload, b"hello");
//! broker.ack("indexer", &[batch[0].tag]).await.unwrap();
//! # });
//! # }
//! ```
#![warn(missing_docs)]

mod backoff;
mod broker;
#[cfg(feature = "testsuite")]
mod down_broker;
mod embedded;
mod error;
pub mod measure;
mod pattern;
#[cfg(feature = "testsuite")]
mod private_engines;
#[cfg(feature = "testsuite")]
mod private_postgres;
#[cfg(feature = "testsuite")]
mod private_rabbitmq;
#[cfg(feature = "testsuite")]
mod private_server;
mod record;
#[cfg(feature = "testsuite")]
mod reserved_port;
#[cfg(feature = "testsuite")]
mod test_tls;
#[cfg(feature = "testsuite")]
mod testsuite;

pub use backoff::Backoff;
pub use broker::{
    Broker, Delivery, DeliveryTag, Message, PublishRoute, REPUBLISHED_FROM_HEADER,
    SubscriptionConfig, SubscriptionStats, TopicStats, validate_topic,
};
#[cfg(feature = "testsuite")]
pub use down_broker::DownBroker;
pub use embedded::EmbeddedBroker;
pub use error::{BusError, BusErrorKind};
pub use pattern::{
    DEAD_LETTER_SUFFIX, is_dead_letter_topic, is_pattern, pattern_matches, validate_pattern,
};
#[cfg(feature = "testsuite")]
pub use private_engines::{private_nats, private_redis};
#[cfg(feature = "testsuite")]
pub use private_postgres::private_postgres;
#[cfg(feature = "testsuite")]
pub use private_rabbitmq::private_rabbitmq;
#[cfg(feature = "testsuite")]
pub use private_server::{PrivateServer, PrivateServerBuilder, ServerArgs};
#[cfg(feature = "testsuite")]
pub use reserved_port::ReservedPort;
#[cfg(feature = "testsuite")]
pub use test_tls::{TestTls, TestTlsFiles, certificate_error, tls_round_trip};
#[cfg(feature = "testsuite")]
pub use testsuite::{conformance_suite, pattern_conformance_suite};
