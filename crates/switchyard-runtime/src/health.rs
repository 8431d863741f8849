//! [`ConsumerHealth`]: which consumers of this process are running and which are stuck on
//! a failing engine, as their loops report it, for readiness probes and status.
//!
//! A consumer is *failing* from its first failed step until its next successful one; the
//! first failure is logged at WARN, repeats only at DEBUG, and the recovery at INFO with
//! how long it took, so an outage of one engine is a handful of log lines, not one per
//! consumer per pause.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Shared by the consumers of one process (clones share the board).
#[derive(Debug, Clone, Default)]
pub struct ConsumerHealth {
    board: Arc<Mutex<BTreeMap<String, Entry>>>,
}

#[derive(Debug)]
struct Entry {
    failing: Option<Failing>,
}

#[derive(Debug)]
struct Failing {
    since: Instant,
    error: String,
}

/// A consumer whose steps fail, as [`ConsumerHealth::failing`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailingConsumer {
    /// Its subscription.
    pub subscription: String,
    /// The last error of its steps.
    pub error: String,
    /// How long its steps have been failing.
    pub for_duration: Duration,
}

impl ConsumerHealth {
    fn board(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.board
            .lock()
            .expect("consumer health lock is never poisoned")
    }

    /// A consumer of `subscription` runs (until [`ConsumerHealth::stopped`]).
    pub(crate) fn started(&self, subscription: &str) {
        self.board()
            .insert(subscription.to_string(), Entry { failing: None });
    }

    /// A step of `subscription`'s consumer succeeded.
    pub(crate) fn succeeded(&self, subscription: &str) {
        let mut board = self.board();
        let Some(entry) = board.get_mut(subscription) else {
            return;
        };
        if let Some(failing) = entry.failing.take() {
            tracing::info!(
                subscription,
                after_ms = failing.since.elapsed().as_millis() as u64,
                "consumer running again"
            );
        }
    }

    /// A step of `subscription`'s consumer failed with `error`.
    pub(crate) fn failed(&self, subscription: &str, error: &str) {
        let mut board = self.board();
        let entry = board
            .entry(subscription.to_string())
            .or_insert(Entry { failing: None });
        match &mut entry.failing {
            Some(failing) => {
                tracing::debug!(subscription, error, "consumer step failed again, retrying");
                failing.error = error.to_string();
            }
            None => {
                tracing::warn!(subscription, error, "consumer step failed, retrying");
                entry.failing = Some(Failing {
                    since: Instant::now(),
                    error: error.to_string(),
                });
            }
        }
    }

    /// The consumer of `subscription` stopped (shutdown).
    pub(crate) fn stopped(&self, subscription: &str) {
        self.board().remove(subscription);
    }

    /// How many consumers run.
    pub fn running(&self) -> usize {
        self.board().len()
    }

    /// The consumers whose steps fail now, by subscription.
    pub fn failing(&self) -> Vec<FailingConsumer> {
        self.board()
            .iter()
            .filter_map(|(subscription, entry)| {
                entry.failing.as_ref().map(|failing| FailingConsumer {
                    subscription: subscription.clone(),
                    error: failing.error.clone(),
                    for_duration: failing.since.elapsed(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_fails_until_its_next_successful_step() {
        let health = ConsumerHealth::default();
        health.started("indexer");
        health.started("contacts");
        assert!(health.failing().is_empty());
        health.failed("indexer", "bus down");
        health.failed("indexer", "bus still down");
        let failing = health.failing();
        assert_eq!(failing.len(), 1);
        assert_eq!(failing[0].subscription, "indexer");
        assert_eq!(failing[0].error, "bus still down");
        health.succeeded("indexer");
        assert!(health.failing().is_empty());
        assert_eq!(health.running(), 2);
        health.stopped("contacts");
        assert_eq!(health.running(), 1);
    }
}
