//! Switchyard's shared state: a key-value store whose entries may expire, used for
//! idempotency keys (and, later, claim-check blobs), job progress, and a transactional
//! outbox: domain writes and the events they cause commit together, and a relay publishes
//! the events afterwards.
//!
//! [`StateStore`] is the key-value abstraction, [`JobProgressStore`] the job progress
//! (counts, the one call that finishes a job, states, checkpoints) and [`Outbox`] the
//! relay side of the outbox; [`EmbeddedState`] keeps all three in one redb file, and its
//! [`commit`](EmbeddedState::commit) applies a [`StateWrite`] in one transaction.
//! [`EmbeddedDatabase`] is the store kit: how every embedded redb store of switchyard
//! opens its file in a data directory (a file held by a running server reads the same
//! everywhere: [`OpenDatabaseError::is_in_use`]) and runs its blocking work.
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
//!
//! // A domain write and its event, all-or-nothing; a relay publishes the event later.
//! use switchyard_state::{Outbox, StateWrite};
//! let write = StateWrite::new()
//!     .put("order:42", b"paid".to_vec(), None)
//!     .event(b"order 42 paid".to_vec());
//! let ids = state.commit(write).await.unwrap();
//! let pending = state.pending(100).await.unwrap();
//! assert_eq!(pending[0].id, ids[0]);
//! state.mark_sent(&ids).await.unwrap();
//! assert_eq!(state.pending_count().await.unwrap(), 0);
//!
//! // A job of two items, counted by its workers: the call that completes it is told so.
//! use switchyard_state::{ItemOutcome, JobId, JobOwner, JobProgressStore, JobSpec, JobState};
//! let job = JobId::new("0190f3c2-backfill").unwrap();
//! let spec = JobSpec::new(JobOwner::new("alice").unwrap(), "import", Duration::from_secs(300));
//! state.init(&job, &spec.unwrap()).await.unwrap();
//! state.set_total(&job, 2).await.unwrap();
//! assert!(!state.mark_done(&job, ItemOutcome::Ok).await.unwrap().finished());
//! assert!(state.mark_done(&job, ItemOutcome::Failed).await.unwrap().finished());
//! let progress = state.progress(&job).await.unwrap().unwrap();
//! assert_eq!((progress.state, progress.done, progress.failed), (JobState::Failed, 1, 1));
//! assert_eq!(progress.reason.as_deref(), Some("1 of 2 items failed"));
//! # });
//! ```
#![warn(missing_docs)]

mod database;
mod embedded;
mod error;
mod jobs;
mod outbox;
mod store;
#[cfg(feature = "testsuite")]
mod testsuite;

pub use database::{BlockingTaskFailed, EmbeddedDatabase, OpenDatabaseError};
pub use embedded::EmbeddedState;
pub use error::{StateError, StateErrorKind};
pub use jobs::{
    ItemOutcome, JobCursor, JobFailureReason, JobId, JobOwner, JobProgress, JobProgressStore,
    JobSpec, JobState, JobUpdate, MAX_JOB_CURSOR_BYTES, MAX_JOB_ID_BYTES, MAX_JOB_KIND_BYTES,
    MAX_JOB_OWNER_BYTES, MAX_JOB_REASON_BYTES, MAX_JOB_TOTAL, MAX_LISTED_JOBS, MAX_STALL_AFTER,
    check_job_total,
};
pub use outbox::{Outbox, OutboxEntry, StateWrite};
pub use store::StateStore;
#[cfg(feature = "testsuite")]
pub use testsuite::{job_conformance_suite, state_conformance_suite};
