//! Switchyard's shared state: a key-value store whose entries may expire, used for
//! idempotency keys (and, later, claim-check blobs and job progress).
//!
//! [`StateStore`] is the abstraction; [`EmbeddedState`] keeps it in one redb file.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use std::time::Duration;
//! use switchyard_state::{EmbeddedState, StateStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let state = EmbeddedState::open(dir.path()).unwrap();
//! let keys = vec!["idempotency:abc".to_string()];
//! state.put_many(&keys, b"", Some(Duration::from_secs(3600))).await.unwrap();
//! assert_eq!(state.contains_many(&keys).await.unwrap(), vec![true]);
//! # });
//! ```
#![warn(missing_docs)]

mod embedded;
mod error;
mod store;

pub use embedded::EmbeddedState;
pub use error::{StateError, StateErrorKind};
pub use store::StateStore;
