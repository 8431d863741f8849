//! What the chunker remembers per document in the state store: how many fragments it
//! last published and the `last_updated` of the document version they came from.
//!
//! Key: `chunks:{user_id}:{document_id}` (the `{class}:{user}:…` shape of the other state
//! keys). Value: JSON `{"fragments": N, "last_updated": "RFC 3339"}`. A live record has no
//! time-to-live: it must outlive any number of quiet months so that the next update can
//! delete fragments that no longer exist. A deleted document leaves a tombstone
//! (`fragments: 0`) for [`TOMBSTONE_TTL`], so that an older create or update delivered
//! late does not bring its fragments back.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_state::StateStore;

use crate::ChunkingError;

/// How long a deleted document's tombstone stays: as long as fragment keys live.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The state key of a user's document: `chunks:{user_id}:{document_id}`.
pub fn chunk_state_key(user_id: &str, document_id: &str) -> String {
    format!("chunks:{user_id}:{document_id}")
}

/// The stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ChunkRecord {
    /// Fragments published for the version below (positions `0..fragments`).
    pub fragments: u32,
    /// `last_updated` of that version.
    pub last_updated: DateTime<Utc>,
}

impl ChunkRecord {
    /// The record under `key`; an unreadable one counts as absent (logged), because a
    /// record is an optimisation for deletes, not the truth about the document.
    pub async fn load(
        state: &dyn StateStore,
        key: &str,
    ) -> Result<Option<ChunkRecord>, ChunkingError> {
        let bytes = state.get(key).await.map_err(|err| {
            ChunkingError::unavailable(format!("failed to read chunk record {key}: {err}"))
        })?;
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        match serde_json::from_slice(&bytes) {
            Ok(record) => Ok(Some(record)),
            Err(err) => {
                tracing::warn!(key = %key, error = %err, "unreadable chunk record ignored");
                Ok(None)
            }
        }
    }

    /// Stores the record under `key`, forever or for `ttl`.
    pub async fn store(
        &self,
        state: &dyn StateStore,
        key: &str,
        ttl: Option<Duration>,
    ) -> Result<(), ChunkingError> {
        let bytes = serde_json::to_vec(self).expect("chunk records serialize to JSON");
        state
            .put_many(&[key.to_string()], &bytes, ttl)
            .await
            .map_err(|err| {
                ChunkingError::unavailable(format!("failed to write chunk record {key}: {err}"))
            })
    }
}
