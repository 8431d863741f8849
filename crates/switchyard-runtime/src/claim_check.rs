//! The claim check: a payload above a threshold (256 KiB by default) is stored in the
//! state store and the event travels with a reference (`dataref`), its size and SHA-256.
//! Consumers resolve it transparently; a missing or corrupt blob is a retryable failure,
//! and a dead letter with the reason once retries run out.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use switchyard_contracts::{ContractError, Envelope, MAX_PAYLOAD_BYTES, Registry};
use switchyard_state::{StateError, StateStore};

use crate::KeyTtls;

/// Prefix of `dataref` values that point into the state store.
const DATAREF_PREFIX: &str = "state:";

/// Why a payload could not be stored by reference.
#[derive(Debug, thiserror::Error)]
pub enum OffloadError {
    /// The event breaks its contract.
    #[error(transparent)]
    Invalid(#[from] ContractError),
    /// The state store failed.
    #[error("failed to store a claim-check payload: {0}")]
    State(#[from] StateError),
}

/// Stores large payloads by reference, and resolves references.
#[derive(Clone)]
pub struct ClaimCheck {
    state: Arc<dyn StateStore>,
    threshold_bytes: usize,
    ttls: KeyTtls,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl ClaimCheck {
    /// A claim check in `state` for payloads over 256 KiB.
    pub fn new(state: Arc<dyn StateStore>, ttls: KeyTtls) -> Self {
        ClaimCheck {
            state,
            threshold_bytes: MAX_PAYLOAD_BYTES,
            ttls,
        }
    }

    /// The same with another threshold.
    pub fn with_threshold(mut self, threshold_bytes: usize) -> Self {
        self.threshold_bytes = threshold_bytes;
        self
    }

    /// `envelope` with its payload stored by reference when it is over the threshold
    /// (checked against its schema first), or `None` when it travels inline.
    pub async fn offload(
        &self,
        registry: &Registry,
        envelope: &Envelope,
    ) -> Result<Option<Envelope>, OffloadError> {
        let Some(data) = &envelope.data else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(data).expect("a JSON value always serializes");
        if bytes.len() <= self.threshold_bytes {
            return Ok(None);
        }
        let partition_key = registry.check_large_payload(envelope)?;
        let (key, class) = registry
            .claim_check_key(envelope)
            .ok_or_else(|| ContractError::UnknownEventType(envelope.event_type.clone()))?;
        self.state
            .put_many(
                std::slice::from_ref(&key),
                &bytes,
                Some(self.ttls.get(class)),
            )
            .await?;
        let mut reference = envelope.clone();
        reference.data = None;
        reference.dataref = Some(format!("{DATAREF_PREFIX}{key}"));
        reference.datasize = Some(bytes.len() as u64);
        reference.datasha256 = Some(sha256_hex(&bytes));
        reference.partitionkey = Some(partition_key);
        if reference.userid.is_none() {
            reference.userid = envelope.userid.clone();
        }
        Ok(Some(reference))
    }

    /// Puts the stored payload back into `envelope` when it carries a reference.
    /// The error says what is wrong; callers retry it.
    pub async fn resolve(&self, envelope: &mut Envelope) -> Result<(), String> {
        let Some(reference) = envelope.dataref.clone() else {
            return Ok(());
        };
        let key = reference
            .strip_prefix(DATAREF_PREFIX)
            .ok_or_else(|| format!("claim check: unsupported dataref `{reference}`"))?;
        let bytes = self
            .state
            .get(key)
            .await
            .map_err(|err| format!("claim check: failed to read `{key}`: {err}"))?
            .ok_or_else(|| {
                format!("claim check: payload `{key}` is missing (expired or deleted)")
            })?;
        if let Some(expected) = &envelope.datasha256
            && *expected != sha256_hex(&bytes)
        {
            return Err(format!(
                "claim check: payload `{key}` is corrupt: SHA-256 differs"
            ));
        }
        let data = serde_json::from_slice(&bytes)
            .map_err(|err| format!("claim check: payload `{key}` is not JSON: {err}"))?;
        envelope.data = Some(data);
        envelope.dataref = None;
        envelope.datasize = None;
        envelope.datasha256 = None;
        Ok(())
    }
}
