//! [`EmbeddedBroker`]: the default engine, one redb file (`bus.redb`) in the data directory.
//! This file is the broker (the `Broker` trait, subscriptions in memory, the writer thread's
//! lifetime); `store.rs` holds the tables and the durable operations on them, `routed.rs`
//! the private logs of pattern subscriptions.
//!
//! # Layout
//! - table `topics`: topic name → next sequence number to assign (sequences start at 1);
//! - table `subscriptions`: subscription name → JSON `{topic, cursor, ack_deadline_ms}`,
//!   where `cursor` is the next sequence never yet delivered to that subscription;
//! - table `log/{topic}`: sequence → message record (byte layout in `record.rs`);
//! - table `pending/{subscription}`: sequence → (redeliver at, ms since epoch; deliveries;
//!   retries) for every message delivered or nacked and not yet acknowledged;
//! - table `pattern_logs`: pattern subscription name → next sequence of its private log;
//! - table `routed/{subscription}`: a pattern subscription's private log, sequence → entry:
//!   `u8` length of the concrete topic, the topic (UTF-8), then the message record as in
//!   `log/{topic}`; its `cursor` and `pending` count in this log's sequences.
//!
//! # Pattern subscriptions
//! A subscription whose topic is a pattern (`email.#`) reads its own log, as a RabbitMQ
//! queue bound with the pattern would: the group-commit transaction that appends a message
//! to its topic also appends it to the private log of every pattern subscription that
//! matches the topic, with the topic, so `Delivery::topic` is the concrete one. Which
//! subscriptions exist is read inside that transaction, so a subscription created
//! concurrently gets each message once, either by routing or by the copy below. A new
//! pattern subscription starts with a copy of what the matching topics still hold, in
//! publish order (by publish time across topics), then receives what is published after.
//! Neither the routing nor the copy ever touches a dead-letter topic (`pattern_matches`
//! never matches one), so a pattern subscription cannot take a dead letter out of the
//! topic log that `browse` reads.
//!
//! # Durability and recovery
//! Publishes are group-committed: one writer thread takes every publish request waiting
//! and commits them in one fsynced transaction, so concurrent or batched publishers share a
//! disk sync. `publish` returns only after that commit. Acks commit durably too. A fetch
//! commits without fsync: if the process dies before a later durable commit, the fetch is
//! forgotten and its messages are simply delivered again (at-least-once). Opening the
//! store makes every unacknowledged delivery of the previous process due at once. Redb's
//! copy-on-write commits make every transaction all-or-nothing, so a `kill -9` at any
//! moment leaves the last durable state, with nothing to repair.
//!
//! # Retention
//! A message is deleted once every subscription of its topic has acknowledged it. A topic
//! keeps everything while it has no subscription; a new subscription starts at the oldest
//! message still held. A message that pattern subscriptions took and no subscription of
//! its topic reads is not kept in the topic log at all (each pattern subscription has its
//! copy; the topic's sequence still advances), so only messages nothing took stay for
//! `browse` (dead letters, which patterns never take). A private log loses what its
//! subscription acknowledged.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use switchyard_state::{EmbeddedDatabase, OpenDatabaseError};
use tokio::sync::oneshot;

use crate::record;

use crate::{
    Broker, BusError, BusErrorKind, Delivery, DeliveryTag, Message, SubscriptionConfig,
    SubscriptionStats, TopicStats, is_pattern, validate_pattern, validate_topic,
};
// The broker is the one user of its store's tables and operations.
use store::*;

/// Page cache of the bus database. Readers mostly want the newest pages (the log tail and
/// the pending tables), so a modest cache serves them; redb's 1 GiB default would make
/// the resident size grow with the backlog.
const CACHE_BYTES: usize = 64 * 1024 * 1024;
/// The embedded broker. Cloning is cheap; clones share one database.
#[derive(Clone)]
pub struct EmbeddedBroker {
    inner: Arc<Inner>,
}

struct Inner {
    db: EmbeddedDatabase,
    subscriptions: RwLock<HashMap<String, SubscriptionState>>,
    wakers: Arc<TopicWakers>,
    writer: Mutex<Option<(mpsc::Sender<PublishRequest>, JoinHandle<()>)>>,
}

impl EmbeddedBroker {
    /// Opens (or creates) the broker in `dir`. Fails if another process holds it.
    pub fn open(dir: &Path) -> Result<Self, OpenDatabaseError> {
        let db = EmbeddedDatabase::open(dir, "bus.redb", CACHE_BYTES, |_| Ok(()))?;
        let subscriptions = load_subscriptions(db.database())
            .map_err(|err| OpenDatabaseError::unavailable(err.to_string()))?;
        let wakers = Arc::new(TopicWakers::default());
        let (sender, receiver) = mpsc::channel();
        let writer = {
            let db = db.clone();
            let wakers = wakers.clone();
            std::thread::Builder::new()
                .name("switchyard-bus-writer".into())
                .spawn(move || group_commit_loop(db.database(), &receiver, &wakers))
                .map_err(|err| {
                    OpenDatabaseError::unavailable(format!(
                        "failed to start the bus writer thread: {err}"
                    ))
                })?
        };
        Ok(EmbeddedBroker {
            inner: Arc::new(Inner {
                db,
                subscriptions: RwLock::new(subscriptions),
                wakers,
                writer: Mutex::new(Some((sender, writer))),
            }),
        })
    }

    fn subscription(&self, name: &str) -> Result<SubscriptionState, BusError> {
        let map = self
            .inner
            .subscriptions
            .read()
            .expect("subscription lock is never poisoned");
        map.get(name).cloned().ok_or_else(|| {
            BusError::new(
                BusErrorKind::UnknownSubscription,
                format!("unknown subscription `{name}`"),
            )
        })
    }

    /// Makes pending deliveries due after `delay`; a retry also counts one more retry.
    async fn reschedule(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        delay: Duration,
        is_retry: bool,
    ) -> Result<(), BusError> {
        let topic = self.subscription(subscription)?.topic;
        if tags.is_empty() {
            return Ok(());
        }
        let name = subscription.to_string();
        let tags = tags.to_vec();
        let redeliver_at = now_ms() + delay.as_millis() as u64;
        self.inner
            .db
            .run(move |db| {
                let txn = db.begin_write().map_err(storage("failed to begin nack"))?;
                {
                    let pending_name = pending_table(&name);
                    let mut pending = txn
                        .open_table(pending_def(&pending_name))
                        .map_err(storage("failed to open pending table"))?;
                    for tag in &tags {
                        let current = pending
                            .get(tag.0)
                            .map_err(storage("failed to read pending"))?
                            .map(|value| value.value());
                        if let Some((_, count, retries)) = current {
                            let retries = retries + u32::from(is_retry);
                            pending
                                .insert(tag.0, (redeliver_at, count, retries))
                                .map_err(storage("failed to nack"))?;
                        }
                    }
                }
                txn.commit().map_err(storage("failed to commit nack"))
            })
            .await?;
        self.inner.wakers.get(&topic).notify_waiters();
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Close the channel, then wait for the writer so the database file is released
        // when the last handle is gone (a reopen in the same process must succeed).
        let writer = self.writer.get_mut().ok().and_then(Option::take);
        if let Some((sender, handle)) = writer {
            drop(sender);
            let _ = handle.join();
        }
    }
}

#[async_trait]
impl Broker for EmbeddedBroker {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), BusError> {
        validate_topic(topic)?;
        if messages.is_empty() {
            return Ok(());
        }
        let published_at = now_ms();
        let records = messages
            .iter()
            .map(|message| record::encode(message, published_at))
            .collect::<Result<Vec<_>, _>>()?;
        let (done, result) = oneshot::channel();
        {
            let writer = self
                .inner
                .writer
                .lock()
                .expect("writer lock is never poisoned");
            let (sender, _) = writer
                .as_ref()
                .ok_or_else(|| BusError::new(BusErrorKind::Closed, "the bus is closed"))?;
            sender
                .send(PublishRequest {
                    topic: topic.to_string(),
                    records,
                    done,
                })
                .map_err(|_| BusError::new(BusErrorKind::Closed, "the bus writer has stopped"))?;
        }
        result
            .await
            .map_err(|_| BusError::new(BusErrorKind::Closed, "the bus writer has stopped"))?
    }

    async fn ensure_subscription(&self, config: &SubscriptionConfig) -> Result<(), BusError> {
        if is_pattern(&config.topic) {
            validate_pattern(&config.topic)?;
        } else {
            validate_topic(&config.topic)?;
        }
        if let Ok(existing) = self.subscription(&config.name) {
            if existing.topic != config.topic {
                return Err(BusError::new(
                    BusErrorKind::InvalidArgument,
                    format!(
                        "subscription `{}` already reads topic `{}`, not `{}`",
                        config.name, existing.topic, config.topic
                    ),
                ));
            }
            if existing.ack_deadline_ms == config.ack_deadline.as_millis() as u64 {
                return Ok(());
            }
        }
        let config = config.clone();
        let state = self
            .inner
            .db
            .run(move |db| {
                let txn = db
                    .begin_write()
                    .map_err(storage("failed to begin subscribe"))?;
                let state;
                {
                    let mut table = txn
                        .open_table(SUBSCRIPTIONS)
                        .map_err(storage("failed to open subscriptions"))?;
                    let existing = table
                        .get(config.name.as_str())
                        .map_err(storage("failed to read subscription"))?
                        .and_then(|bytes| {
                            serde_json::from_slice::<SubscriptionState>(bytes.value()).ok()
                        });
                    let cursor = match existing {
                        Some(existing) => existing.cursor,
                        None if is_pattern(&config.topic) => {
                            routed::copy_held_messages(&txn, &config.name, &config.topic)?;
                            1
                        }
                        None => {
                            let log_name = log_table(&config.topic);
                            let log = txn
                                .open_table(TableDefinition::<u64, &[u8]>::new(&log_name))
                                .map_err(storage("failed to open topic log"))?;
                            let oldest = log
                                .first()
                                .map_err(storage("failed to read log"))?
                                .map(|(seq, _)| seq.value());
                            let topics = txn
                                .open_table(TOPICS)
                                .map_err(storage("failed to open topics"))?;
                            let next = topics
                                .get(config.topic.as_str())
                                .map_err(storage("failed to read topic"))?
                                .map_or(1, |seq| seq.value());
                            oldest.unwrap_or(next)
                        }
                    };
                    state = SubscriptionState {
                        topic: config.topic.clone(),
                        cursor,
                        ack_deadline_ms: config.ack_deadline.as_millis() as u64,
                    };
                    let json =
                        serde_json::to_vec(&state).expect("subscription state always serializes");
                    table
                        .insert(config.name.as_str(), json.as_slice())
                        .map_err(storage("failed to store subscription"))?;
                }
                txn.commit()
                    .map_err(storage("failed to commit subscribe"))?;
                Ok::<_, BusError>((config.name, state))
            })
            .await?;
        self.inner
            .subscriptions
            .write()
            .expect("subscription lock is never poisoned")
            .insert(state.0, state.1);
        Ok(())
    }

    async fn fetch(
        &self,
        subscription: &str,
        max_messages: usize,
        max_wait: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        let state = self.subscription(subscription)?;
        let give_up_at = tokio::time::Instant::now() + max_wait;
        let waker = self.inner.wakers.get(&state.topic);
        loop {
            let notified = waker.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let name = subscription.to_string();
            let state = state.clone();
            let (deliveries, next_due) = self
                .inner
                .db
                .run(move |db| fetch_now(db, &name, &state, max_messages.max(1)))
                .await?;
            let now = tokio::time::Instant::now();
            if !deliveries.is_empty() || now >= give_up_at {
                return Ok(deliveries);
            }
            let wake_at = next_due
                .map(|due_ms| now + Duration::from_millis(due_ms.saturating_sub(now_ms())))
                .map_or(give_up_at, |due| due.min(give_up_at));
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn ack(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        let state = self.subscription(subscription)?;
        if tags.is_empty() {
            return Ok(());
        }
        let name = subscription.to_string();
        let tags = tags.to_vec();
        // Retention reads the subscriptions as of the commit, not as of the call.
        let shared = self.inner.clone();
        self.inner
            .db
            .run(move |db| {
                let txn = db.begin_write().map_err(storage("failed to begin ack"))?;
                {
                    let pending_name = pending_table(&name);
                    let mut pending = txn
                        .open_table(pending_def(&pending_name))
                        .map_err(storage("failed to open pending table"))?;
                    for tag in &tags {
                        pending.remove(tag.0).map_err(storage("failed to ack"))?;
                    }
                }
                let subscriptions = shared
                    .subscriptions
                    .read()
                    .expect("subscription lock is never poisoned")
                    .clone();
                if state.is_pattern() {
                    routed::apply_retention(&txn, &name, &state)?;
                } else {
                    apply_retention(&txn, &state.topic, &subscriptions)?;
                }
                txn.commit().map_err(storage("failed to commit ack"))
            })
            .await
    }

    async fn nack(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        redeliver_after: Duration,
    ) -> Result<(), BusError> {
        self.reschedule(subscription, tags, redeliver_after, true)
            .await
    }

    async fn release(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        self.reschedule(subscription, tags, Duration::ZERO, false)
            .await
    }

    async fn browse(
        &self,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Message)>, BusError> {
        let topic = topic.to_string();
        self.inner
            .db
            .run(move |db| {
                let txn = db.begin_read().map_err(storage("failed to begin browse"))?;
                let log_name = log_table(&topic);
                let log = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&log_name)) {
                    Ok(log) => log,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                    Err(err) => return Err(BusError::storage("failed to open topic log", err)),
                };
                let mut found = Vec::new();
                for entry in log
                    .range(after + 1..)
                    .map_err(storage("failed to read log"))?
                    .take(limit)
                {
                    let (seq, bytes) = entry.map_err(storage("failed to read log"))?;
                    found.push((seq.value(), record::decode(bytes.value(), seq.value())?));
                }
                Ok(found)
            })
            .await
    }

    async fn remove(&self, topic: &str, seqs: &[u64]) -> Result<u64, BusError> {
        let topic = topic.to_string();
        let seqs = seqs.to_vec();
        self.inner
            .db
            .run(move |db| {
                let txn = db
                    .begin_write()
                    .map_err(storage("failed to begin remove"))?;
                let mut removed = 0;
                {
                    let log_name = log_table(&topic);
                    let mut log = txn
                        .open_table(TableDefinition::<u64, &[u8]>::new(&log_name))
                        .map_err(storage("failed to open topic log"))?;
                    for seq in seqs {
                        removed += u64::from(
                            log.remove(seq)
                                .map_err(storage("failed to remove"))?
                                .is_some(),
                        );
                    }
                }
                txn.commit().map_err(storage("failed to commit remove"))?;
                Ok(removed)
            })
            .await
    }

    async fn topics(&self) -> Result<Vec<TopicStats>, BusError> {
        self.inner
            .db
            .run(|db| {
                let txn = db.begin_read().map_err(storage("failed to begin topics"))?;
                let topics = txn
                    .open_table(TOPICS)
                    .map_err(storage("failed to open topics"))?;
                let mut found = Vec::new();
                for entry in topics.iter().map_err(storage("failed to read topics"))? {
                    let (name, next) = entry.map_err(storage("failed to read topics"))?;
                    let log_name = log_table(name.value());
                    let held = match txn.open_table(TableDefinition::<u64, &[u8]>::new(&log_name)) {
                        Ok(log) => log.len().map_err(storage("failed to read log"))?,
                        Err(redb::TableError::TableDoesNotExist(_)) => 0,
                        Err(err) => return Err(BusError::storage("failed to open topic log", err)),
                    };
                    found.push(TopicStats {
                        name: name.value().to_string(),
                        published: next.value() - 1,
                        held,
                    });
                }
                Ok(found)
            })
            .await
    }

    async fn ping(&self) -> Result<(), BusError> {
        Ok(())
    }

    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
        let shared = self.inner.clone();
        self.inner
            .db
            .run(move |db| {
                let subscriptions = shared
                    .subscriptions
                    .read()
                    .expect("subscription lock is never poisoned")
                    .clone();
                let txn = db.begin_read().map_err(storage("failed to begin stats"))?;
                let topics = txn
                    .open_table(TOPICS)
                    .map_err(storage("failed to open topics"))?;
                let subscription_table = txn
                    .open_table(SUBSCRIPTIONS)
                    .map_err(storage("failed to open subscriptions"))?;
                let mut stats = Vec::with_capacity(subscriptions.len());
                let pattern_logs = txn
                    .open_table(routed::PATTERN_LOGS)
                    .map_err(storage("failed to open pattern logs"))?;
                for (name, state) in subscriptions {
                    // A pattern subscription counts what was routed to its private log.
                    let next = if state.is_pattern() {
                        routed::next_of(&pattern_logs, &name)?
                    } else {
                        topics
                            .get(state.topic.as_str())
                            .map_err(storage("failed to read topic"))?
                            .map_or(1, |seq| seq.value())
                    };
                    let cursor = subscription_table
                        .get(name.as_str())
                        .map_err(storage("failed to read subscription"))?
                        .and_then(|bytes| {
                            serde_json::from_slice::<SubscriptionState>(bytes.value()).ok()
                        })
                        .map_or(state.cursor, |stored| stored.cursor);
                    let pending_name = pending_table(&name);
                    let unacked = match txn.open_table(pending_def(&pending_name)) {
                        Ok(table) => table.len().map_err(storage("failed to read pending"))?,
                        Err(redb::TableError::TableDoesNotExist(_)) => 0,
                        Err(err) => {
                            return Err(BusError::storage("failed to open pending table", err));
                        }
                    };
                    stats.push(SubscriptionStats {
                        name,
                        topic: state.topic,
                        published: next - 1,
                        backlog: next.saturating_sub(cursor),
                        unacked,
                    });
                }
                stats.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(stats)
            })
            .await
    }
}

mod routed;
mod store;

#[cfg(test)]
mod tests;
