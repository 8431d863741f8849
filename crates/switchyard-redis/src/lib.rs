//! Switchyard's state store on Redis: [`RedisState`] implements
//! [`StateStore`](switchyard_state::StateStore) over a reconnecting
//! [`ConnectionManager`](redis::aio::ConnectionManager), with retries on transient errors
//! and a circuit breaker that fails calls fast while Redis is down.
//!
//! Keys are the callers' (idempotency keys, office keys), optionally behind a namespace;
//! values are plain Redis strings; TTLs are Redis's own. See [`RedisState`] for how
//! `purge_expired` counts expired entries through the store's expiry index.
//!
//! Knows keys and bytes only, like every state backend; reading `REDIS_URL` is the
//! binary's job.
//!
//! ```no_run
//! # async fn example() -> Result<(), switchyard_state::StateError> {
//! use std::time::Duration;
//! use switchyard_redis::{RedisState, RedisStateConfig};
//! use switchyard_state::StateStore;
//!
//! let config = RedisStateConfig::new("redis://127.0.0.1:6379/0").with_namespace("switchyard:");
//! let state = RedisState::connect(config).await?;
//! let keys = vec!["idempotency:abc".to_string()];
//! state.put_many(&keys, b"", Some(Duration::from_secs(3600))).await?;
//! assert_eq!(state.contains_many(&keys).await?, vec![true]);
//! let expired = state.purge_expired().await?;
//! # let _ = expired;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod breaker;
mod config;
#[cfg(feature = "bench")]
mod raw_bench;
mod state;

pub use breaker::CircuitState;
pub use config::{DEFAULT_REDIS_URL, RedisStateConfig};
#[cfg(feature = "bench")]
pub use raw_bench::raw_hincrby;
pub use state::{PURGE_CHUNK, RedisState};
