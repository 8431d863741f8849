//! [`IndexerConfig`], the `[indexer]` settings, and [`subscriptions`]: the indexer's
//! subscriptions on every office topic, sized and retried by that config.

use std::time::Duration;

use serde::Deserialize;
use switchyard_contracts::DataKind;
use switchyard_contracts::office_set::LEGACY_EMAIL_BACKFILL_TOPIC;
use switchyard_runtime::{ConsumerConfig, RetryPolicy, SubscriptionConfig};

/// How the search indexer's consumers fetch, commit and retry (`[indexer]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IndexerConfig {
    /// Events per fetch from a subscription (default 50).
    pub batch_size: usize,
    /// Most events indexed in one commit while a backlog lasts (default 1000); the
    /// consumer goes on fetching full batches until it holds this many. One commit per
    /// 50 events would index about 8 times slower.
    pub commit_batch_size: usize,
    /// Seconds a fetched batch may stay unacknowledged before redelivery (default 120).
    pub ack_deadline_secs: u64,
    /// Retries of a failed batch when its events carry no `X-Max-Retries` (default 3).
    pub max_retries: u32,
    /// Delays before retry 1, 2, … in ms, when events carry no `X-Backoff-Ms`.
    pub backoff_ms: Vec<u64>,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        let retry = RetryPolicy::default();
        IndexerConfig {
            batch_size: 50,
            commit_batch_size: 1000,
            ack_deadline_secs: 120,
            max_retries: retry.max_retries,
            backoff_ms: retry
                .backoff
                .iter()
                .map(|delay| delay.as_millis() as u64)
                .collect(),
        }
    }
}

/// An `[indexer]` setting is out of range.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid indexer config: {0}")]
pub struct InvalidIndexerConfig(String);

impl IndexerConfig {
    /// Checks that batches hold at least one event and that retries have a delay.
    pub fn validate(&self) -> Result<(), InvalidIndexerConfig> {
        for (field, value) in [
            ("batch_size", self.batch_size),
            ("commit_batch_size", self.commit_batch_size),
        ] {
            if value == 0 {
                return Err(InvalidIndexerConfig(format!(
                    "indexer.{field} must be at least 1"
                )));
            }
        }
        if self.backoff_ms.is_empty() {
            return Err(InvalidIndexerConfig(
                "indexer.backoff_ms needs at least one delay".into(),
            ));
        }
        Ok(())
    }

    /// The retry schedule of events without retry headers.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy {
            max_retries: self.max_retries,
            backoff: self
                .backoff_ms
                .iter()
                .copied()
                .map(Duration::from_millis)
                .collect(),
        }
    }
}

/// The indexer's subscriptions: `search-indexer-{topic}` on every office topic and on
/// the legacy email backfill topic, sized and retried by `config`.
pub fn subscriptions(config: &IndexerConfig) -> Vec<ConsumerConfig> {
    let deadline = Duration::from_secs(config.ack_deadline_secs);
    DataKind::ALL
        .iter()
        .map(|kind| kind.topic_name())
        .chain([LEGACY_EMAIL_BACKFILL_TOPIC])
        .map(|topic| {
            let subscription = SubscriptionConfig::new(format!("search-indexer-{topic}"), topic)
                .with_ack_deadline(deadline);
            ConsumerConfig::new(subscription)
                .with_batch_size(config.batch_size)
                .with_handle_batch_size(config.commit_batch_size)
                .with_retry(config.retry())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_runtime_retries_and_valid() {
        let config = IndexerConfig::default();
        config.validate().unwrap();
        assert_eq!(config.retry(), RetryPolicy::default());
    }

    #[test]
    fn empty_batches_and_retries_without_delay_are_refused() {
        for (config, field) in [
            (
                IndexerConfig {
                    batch_size: 0,
                    ..IndexerConfig::default()
                },
                "indexer.batch_size",
            ),
            (
                IndexerConfig {
                    commit_batch_size: 0,
                    ..IndexerConfig::default()
                },
                "indexer.commit_batch_size",
            ),
            (
                IndexerConfig {
                    backoff_ms: Vec::new(),
                    ..IndexerConfig::default()
                },
                "indexer.backoff_ms",
            ),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err}");
        }
    }

    #[test]
    fn every_office_topic_and_the_legacy_backfill_get_one_subscription() {
        let config = IndexerConfig {
            batch_size: 7,
            commit_batch_size: 70,
            ..IndexerConfig::default()
        };
        let subscriptions = subscriptions(&config);
        assert_eq!(subscriptions.len(), DataKind::ALL.len() + 1);
        let emails = subscriptions
            .iter()
            .find(|consumer| consumer.subscription.topic == "emails")
            .unwrap();
        assert_eq!(emails.subscription.name, "search-indexer-emails");
        assert_eq!(emails.subscription.ack_deadline, Duration::from_secs(120));
        assert_eq!((emails.batch_size, emails.handle_batch_size), (7, 70));
        assert!(
            subscriptions
                .iter()
                .any(|consumer| consumer.subscription.topic == LEGACY_EMAIL_BACKFILL_TOPIC)
        );
    }
}
