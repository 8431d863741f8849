//! The [`StateStore`] trait every state backend implements.

use std::time::Duration;

use async_trait::async_trait;

use crate::StateError;

/// A key-value store whose entries may carry a time-to-live. An expired entry reads as
/// absent at once; [`StateStore::purge_expired`] reclaims its space.
#[async_trait]
pub trait StateStore: Send + Sync + 'static {
    /// The value under `key`, unless absent or expired.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError>;

    /// Stores `value` under every key of `keys` in one durable write, expiring after `ttl`.
    async fn put_many(
        &self,
        keys: &[String],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError>;

    /// For each key, whether it holds a live value.
    async fn contains_many(&self, keys: &[String]) -> Result<Vec<bool>, StateError>;

    /// Deletes the keys; returns how many held a live value.
    async fn delete_many(&self, keys: &[String]) -> Result<u64, StateError>;

    /// Deletes every expired entry; returns how many.
    async fn purge_expired(&self) -> Result<u64, StateError>;

    /// Checks that the store answers now, within a short bound: what a readiness probe
    /// asks. An embedded store in this process always answers.
    async fn ping(&self) -> Result<(), StateError>;
}
