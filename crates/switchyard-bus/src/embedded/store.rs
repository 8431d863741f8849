//! The bus database itself: its tables, and the durable operations the broker runs on the
//! blocking pool or its writer thread (group commit of publishes, fetch, retention,
//! recovery of the previous process's deliveries). The layout and the durability rules
//! are described in the module documentation of `embedded.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{SystemTime, UNIX_EPOCH};

use redb::{Database, Durability, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, oneshot};

use super::routed::{Router, decode_entry, routed_table};
use crate::record;
use crate::{BusError, BusErrorKind, Delivery, DeliveryTag, Message, is_pattern};

pub(super) const TOPICS: TableDefinition<&str, u64> = TableDefinition::new("topics");
pub(super) const SUBSCRIPTIONS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("subscriptions");
/// Publish requests one group commit takes at most.
pub(super) const MAX_GROUP_COMMIT_REQUESTS: usize = 256;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SubscriptionState {
    pub(super) topic: String,
    pub(super) cursor: u64,
    pub(super) ack_deadline_ms: u64,
}

impl SubscriptionState {
    /// Whether it reads a pattern of topics, from a private log of its own.
    pub(super) fn is_pattern(&self) -> bool {
        is_pattern(&self.topic)
    }

    /// The table of the log it reads: its topic's, or its private one.
    pub(super) fn log_table(&self, name: &str) -> String {
        if self.is_pattern() {
            routed_table(name)
        } else {
            log_table(&self.topic)
        }
    }

    /// The concrete topic and the message of an entry of the log it reads.
    fn decode(&self, entry: &[u8], seq: u64) -> Result<(String, Message), BusError> {
        if self.is_pattern() {
            decode_entry(entry, seq)
        } else {
            Ok((self.topic.clone(), record::decode(entry, seq)?))
        }
    }
}

pub(super) struct PublishRequest {
    pub(super) topic: String,
    pub(super) records: Vec<Vec<u8>>,
    pub(super) done: oneshot::Sender<Result<(), BusError>>,
}

/// Wakes fetchers waiting on a topic when something is published to it.
#[derive(Default)]
pub(super) struct TopicWakers(Mutex<HashMap<String, Arc<Notify>>>);

impl TopicWakers {
    pub(super) fn get(&self, topic: &str) -> Arc<Notify> {
        let mut map = self.0.lock().expect("waker map lock is never poisoned");
        map.entry(topic.to_string()).or_default().clone()
    }
}

pub(super) fn log_table(topic: &str) -> String {
    format!("log/{topic}")
}

pub(super) fn pending_table(subscription: &str) -> String {
    format!("pending/{subscription}")
}

/// A pending delivery: (redeliver at, ms since epoch; deliveries so far; retries asked for
/// by consumers through `nack`).
pub(super) type Pending = (u64, u32, u32);

pub(super) fn pending_def(name: &str) -> TableDefinition<'_, u64, Pending> {
    TableDefinition::new(name)
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

pub(super) fn storage<E: std::fmt::Display>(context: &'static str) -> impl Fn(E) -> BusError {
    move |err| BusError::storage(context, err)
}

pub(super) fn load_subscriptions(
    db: &Database,
) -> Result<HashMap<String, SubscriptionState>, BusError> {
    let txn = db
        .begin_write()
        .map_err(storage("failed to open the bus"))?;
    let mut map = HashMap::new();
    {
        let table = txn
            .open_table(SUBSCRIPTIONS)
            .map_err(storage("failed to open subscriptions"))?;
        txn.open_table(TOPICS)
            .map_err(storage("failed to open topics"))?;
        txn.open_table(super::routed::PATTERN_LOGS)
            .map_err(storage("failed to open pattern logs"))?;
        for entry in table
            .iter()
            .map_err(storage("failed to read subscriptions"))?
        {
            let (name, value) = entry.map_err(storage("failed to read subscriptions"))?;
            let state: SubscriptionState =
                serde_json::from_slice(value.value()).map_err(|err| {
                    BusError::new(
                        BusErrorKind::Corrupt,
                        format!("failed to decode subscription `{}`: {err}", name.value()),
                    )
                })?;
            map.insert(name.value().to_string(), state);
        }
    }
    release_deliveries_of_previous_process(&txn, map.keys())?;
    txn.commit().map_err(storage("failed to open the bus"))?;
    Ok(map)
}

/// Only one process holds the store and its consumers live in that process, so whatever
/// was delivered and not acknowledged when the store was last closed (or the process
/// died) will never be acknowledged: make it due now rather than at its old deadline.
pub(super) fn release_deliveries_of_previous_process<'a>(
    txn: &redb::WriteTransaction,
    subscriptions: impl Iterator<Item = &'a String>,
) -> Result<(), BusError> {
    let now = now_ms();
    for name in subscriptions {
        let pending_name = pending_table(name);
        let mut pending = txn
            .open_table(pending_def(&pending_name))
            .map_err(storage("failed to open pending table"))?;
        let waiting: Vec<(u64, Pending)> = pending
            .iter()
            .map_err(storage("failed to read pending"))?
            .filter_map(|entry| entry.ok())
            .filter(|(_, value)| value.value().0 > now)
            .map(|(seq, value)| (seq.value(), value.value()))
            .collect();
        for (seq, (_, count, retries)) in waiting {
            pending
                .insert(seq, (now, count, retries))
                .map_err(storage("failed to update pending"))?;
        }
    }
    Ok(())
}

pub(super) fn group_commit_loop(
    db: &Database,
    requests: &mpsc::Receiver<PublishRequest>,
    wakers: &TopicWakers,
) {
    while let Ok(first) = requests.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP_COMMIT_REQUESTS {
            match requests.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let result = append(db, &group);
        match &result {
            Ok(patterns) => {
                for pattern in patterns {
                    wakers.get(pattern).notify_waiters();
                }
            }
            Err(err) => {
                tracing::error!(error = %err, requests = group.len(), "bus publish commit failed");
            }
        }
        let result = result.map(|_| ());
        for request in group {
            if result.is_ok() {
                wakers.get(&request.topic).notify_waiters();
            }
            let _ = request.done.send(result.clone());
        }
    }
}

/// Commits a group of publishes; returns the patterns whose subscriptions took some, so
/// their fetchers are woken.
pub(super) fn append(db: &Database, group: &[PublishRequest]) -> Result<Vec<String>, BusError> {
    let txn = db
        .begin_write()
        .map_err(storage("failed to begin publish"))?;
    let mut router = Router::load(&txn)?;
    let mut woken = HashSet::new();
    {
        let mut topics = txn
            .open_table(TOPICS)
            .map_err(storage("failed to open topics"))?;
        for request in group {
            let name = log_table(&request.topic);
            let mut log = txn
                .open_table(TableDefinition::<u64, &[u8]>::new(&name))
                .map_err(storage("failed to open topic log"))?;
            let mut next = topics
                .get(request.topic.as_str())
                .map_err(storage("failed to read topic"))?
                .map_or(1, |seq| seq.value());
            let (matched, keep) = router.route(&txn, &request.topic, &request.records)?;
            woken.extend(matched);
            for record in &request.records {
                if keep {
                    log.insert(next, record.as_slice())
                        .map_err(storage("failed to append"))?;
                }
                next += 1;
            }
            topics
                .insert(request.topic.as_str(), next)
                .map_err(storage("failed to append"))?;
        }
    }
    router.save(&txn)?;
    txn.commit().map_err(storage("failed to commit publish"))?;
    Ok(woken.into_iter().collect())
}

/// Marks deliveries of one fetch and returns them, with the earliest time (ms) at which
/// another pending message of the subscription becomes due.
pub(super) fn fetch_now(
    db: &Database,
    name: &str,
    state: &SubscriptionState,
    max_messages: usize,
) -> Result<(Vec<Delivery>, Option<u64>), BusError> {
    let now = now_ms();
    let deadline = now + state.ack_deadline_ms;
    let mut txn = db.begin_write().map_err(storage("failed to begin fetch"))?;
    txn.set_durability(Durability::None)
        .map_err(storage("failed to begin fetch"))?;
    let mut deliveries = Vec::new();
    let mut next_due: Option<u64> = None;
    let mut cursor = None;
    {
        let log_name = state.log_table(name);
        let pending_name = pending_table(name);
        let log = txn
            .open_table(TableDefinition::<u64, &[u8]>::new(&log_name))
            .map_err(storage("failed to open topic log"))?;
        let mut pending = txn
            .open_table(pending_def(&pending_name))
            .map_err(storage("failed to open pending table"))?;
        let mut due = Vec::new();
        for entry in pending.iter().map_err(storage("failed to read pending"))? {
            let (seq, value) = entry.map_err(storage("failed to read pending"))?;
            let (redeliver_at, count, retries) = value.value();
            if redeliver_at <= now && due.len() < max_messages {
                due.push((seq.value(), count, retries));
            } else if redeliver_at > now {
                next_due = Some(next_due.map_or(redeliver_at, |t| t.min(redeliver_at)));
            }
        }
        for (seq, count, retries) in due {
            let Some(bytes) = log.get(seq).map_err(storage("failed to read log"))? else {
                // Retention never deletes unacknowledged messages; a missing one means the
                // store was damaged. Drop the pending mark and say so loudly.
                tracing::error!(subscription = name, seq, "pending message missing from log");
                pending
                    .remove(seq)
                    .map_err(storage("failed to update pending"))?;
                continue;
            };
            let (topic, message) = state.decode(bytes.value(), seq)?;
            pending
                .insert(seq, (deadline, count + 1, retries))
                .map_err(storage("failed to update pending"))?;
            deliveries.push(Delivery {
                tag: DeliveryTag(seq),
                topic,
                message,
                delivery_count: count + 1,
                retry_count: retries,
            });
        }
        let current = current_cursor(&txn, name, state)?;
        let mut next_cursor = current;
        if deliveries.len() < max_messages {
            let wanted = max_messages - deliveries.len();
            let before = deliveries.len();
            for entry in log
                .range(current..)
                .map_err(storage("failed to read log"))?
                .take(wanted)
            {
                let (seq, bytes) = entry.map_err(storage("failed to read log"))?;
                let seq = seq.value();
                let (topic, message) = state.decode(bytes.value(), seq)?;
                pending
                    .insert(seq, (deadline, 1, 0))
                    .map_err(storage("failed to update pending"))?;
                deliveries.push(Delivery {
                    tag: DeliveryTag(seq),
                    topic,
                    message,
                    delivery_count: 1,
                    retry_count: 0,
                });
                next_cursor = seq + 1;
            }
            if deliveries.len() - before < wanted && !state.is_pattern() {
                // The log holds nothing further: step over the sequences it never kept
                // (published while only pattern subscriptions read the topic), so the
                // backlog does not count them.
                let topics = txn
                    .open_table(TOPICS)
                    .map_err(storage("failed to open topics"))?;
                let next = topics
                    .get(state.topic.as_str())
                    .map_err(storage("failed to read topic"))?
                    .map_or(1, |seq| seq.value());
                next_cursor = next_cursor.max(next);
            }
        }
        if next_cursor != current {
            cursor = Some(next_cursor);
        }
    }
    if let Some(cursor) = cursor {
        let stored = SubscriptionState {
            cursor,
            ..state.clone()
        };
        let mut table = txn
            .open_table(SUBSCRIPTIONS)
            .map_err(storage("failed to open subscriptions"))?;
        let json = serde_json::to_vec(&stored).expect("subscription state always serializes");
        table
            .insert(name, json.as_slice())
            .map_err(storage("failed to store cursor"))?;
    }
    txn.commit().map_err(storage("failed to commit fetch"))?;
    if !deliveries.is_empty() {
        next_due = Some(next_due.map_or(deadline, |t| t.min(deadline)));
    }
    Ok((deliveries, next_due))
}

/// The stored cursor of a subscription (the in-memory copy only knows its creation value).
pub(super) fn current_cursor(
    txn: &redb::WriteTransaction,
    name: &str,
    state: &SubscriptionState,
) -> Result<u64, BusError> {
    let table = txn
        .open_table(SUBSCRIPTIONS)
        .map_err(storage("failed to open subscriptions"))?;
    let stored = table
        .get(name)
        .map_err(storage("failed to read subscription"))?;
    Ok(match stored {
        Some(bytes) => serde_json::from_slice::<SubscriptionState>(bytes.value())
            .map(|stored| stored.cursor)
            .unwrap_or(state.cursor),
        None => state.cursor,
    })
}

/// Deletes the messages of `topic` that every subscription has acknowledged.
pub(super) fn apply_retention(
    txn: &redb::WriteTransaction,
    topic: &str,
    subscriptions: &HashMap<String, SubscriptionState>,
) -> Result<(), BusError> {
    let mut low_water: Option<u64> = None;
    for (name, state) in subscriptions
        .iter()
        .filter(|(_, state)| state.topic == topic)
    {
        let pending_name = pending_table(name);
        let pending = txn
            .open_table(pending_def(&pending_name))
            .map_err(storage("failed to open pending table"))?;
        let oldest_pending = pending
            .first()
            .map_err(storage("failed to read pending"))?
            .map(|(seq, _)| seq.value());
        let cursor = current_cursor(txn, name, state)?;
        let subscription_low = oldest_pending.map_or(cursor, |seq| seq.min(cursor));
        low_water = Some(low_water.map_or(subscription_low, |low| low.min(subscription_low)));
    }
    let Some(low_water) = low_water else {
        return Ok(());
    };
    let log_name = log_table(topic);
    let mut log = txn
        .open_table(TableDefinition::<u64, &[u8]>::new(&log_name))
        .map_err(storage("failed to open topic log"))?;
    log.retain_in(..low_water, |_, _| false)
        .map_err(storage("failed to apply retention"))?;
    Ok(())
}
