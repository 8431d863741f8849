//! The [`Broker`] trait and the value types that cross it.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::BusError;

/// One message on a topic: headers, an optional partition key and opaque payload bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Partition key: messages with the same key keep their publish order.
    pub key: Option<String>,
    /// Header names and values, in order.
    pub headers: Vec<(String, String)>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// A message with only a payload.
    pub fn new(payload: Vec<u8>) -> Self {
        Message {
            payload,
            ..Message::default()
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Identifies one delivery of a message to a subscription, for `ack` and `nack`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeliveryTag(pub u64);

/// A message handed to a subscriber.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Pass back to `ack` or `nack`.
    pub tag: DeliveryTag,
    /// The concrete topic it was published on, never a pattern (a pattern subscription
    /// tells its topics apart by it).
    pub topic: String,
    /// The message itself.
    pub message: Message,
    /// 1 on first delivery, then one more for every redelivery.
    pub delivery_count: u32,
    /// How many times a consumer asked to retry it (`nack`); redeliveries after an
    /// expired ack deadline or a `release` do not count.
    pub retry_count: u32,
}

/// A durable named subscription: every subscription of a topic receives every message
/// published to it (fan-out); consumers sharing one subscription share its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionConfig {
    /// Unique name, e.g. `search-indexer-emails`.
    pub name: String,
    /// The topic it reads, or a pattern of topics ([`is_pattern`](crate::is_pattern)):
    /// `.`-separated words where `*` stands for one word and `#` for zero or more, as in
    /// AMQP binding keys (`email.#`, `subscription.*`; rules in
    /// [`validate_pattern`](crate::validate_pattern)). A pattern subscription receives
    /// every message published on a topic the pattern matches, once, beside the
    /// subscriptions of those topics; never one of a dead-letter topic
    /// ([`is_dead_letter_topic`](crate::is_dead_letter_topic): `{topic}.dlq.v1`,
    /// `email.errors`), which only an exact subscription to it receives. Whether a backend
    /// supports patterns, and from which message a new pattern subscription starts, its
    /// documentation says.
    pub topic: String,
    /// How long a fetched message may stay unacknowledged before it is delivered again.
    pub ack_deadline: Duration,
}

impl SubscriptionConfig {
    /// Subscription `name` on `topic` with a 60 s ack deadline.
    pub fn new(name: impl Into<String>, topic: impl Into<String>) -> Self {
        SubscriptionConfig {
            name: name.into(),
            topic: topic.into(),
            ack_deadline: Duration::from_secs(60),
        }
    }

    /// The same subscription with another ack deadline.
    pub fn with_ack_deadline(mut self, ack_deadline: Duration) -> Self {
        self.ack_deadline = ack_deadline;
        self
    }
}

/// What a topic holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicStats {
    /// Topic name.
    pub name: String,
    /// Messages ever published on it.
    pub published: u64,
    /// Messages it still holds (not yet acknowledged by every subscription, or all of
    /// them when it has no subscription).
    pub held: u64,
}

/// Where a subscription stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionStats {
    /// Subscription name.
    pub name: String,
    /// Its topic.
    pub topic: String,
    /// Messages ever published on the topic.
    pub published: u64,
    /// Messages not yet delivered to this subscription.
    pub backlog: u64,
    /// Messages delivered or waiting for redelivery, not yet acknowledged.
    pub unacked: u64,
}

impl SubscriptionStats {
    /// Messages this subscription has still to finish: `backlog + unacked`.
    pub fn lag(&self) -> u64 {
        self.backlog + self.unacked
    }
}

/// A header marking a deliberate second publication of a message, e.g. a dead letter
/// redriven: its value names the occasion (the dead letter's id). Engines that drop
/// repeated publishes of one `ce-id` (NATS's `Nats-Msg-Id` window) count `ce-id` plus this
/// value as the message's identity, so the republished copy is not taken for a retry of
/// the first publish.
pub const REPUBLISHED_FROM_HEADER: &str = "X-Republished-From";

/// Checks the topic name rule every backend shares: 1 to 200 characters of
/// `[A-Za-z0-9_.-]`, so that a name valid on one engine is a plain subject, routing key
/// and file name on every one (no wildcards: `publish` refuses a pattern).
pub fn validate_topic(topic: &str) -> Result<(), BusError> {
    let valid = !topic.is_empty()
        && topic.len() <= 200
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if valid {
        Ok(())
    } else {
        Err(BusError::new(
            crate::BusErrorKind::InvalidArgument,
            format!("invalid topic name `{topic}`: 1 to 200 of [A-Za-z0-9_.-]"),
        ))
    }
}

/// A message broker: durable topics and subscriptions with at-least-once delivery.
#[async_trait]
pub trait Broker: Send + Sync + 'static {
    /// Appends `messages` to `topic`; returns once they are durable.
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), BusError>;

    /// Creates the subscription if it does not exist (idempotent). A new subscription
    /// starts at the oldest message the topic still holds.
    async fn ensure_subscription(&self, config: &SubscriptionConfig) -> Result<(), BusError>;

    /// Up to `max_messages` messages of the subscription: first those whose ack deadline
    /// or nack delay has passed, then new ones. Waits up to `max_wait` when there is none.
    async fn fetch(
        &self,
        subscription: &str,
        max_messages: usize,
        max_wait: Duration,
    ) -> Result<Vec<Delivery>, BusError>;

    /// Marks deliveries as done: they are never delivered again.
    async fn ack(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError>;

    /// Gives deliveries back for a retry: delivered again after `redeliver_after`, with
    /// `retry_count` one higher. Other messages keep flowing meanwhile.
    async fn nack(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        redeliver_after: Duration,
    ) -> Result<(), BusError>;

    /// Gives deliveries back untouched (a consumer shutting down): delivered again at once,
    /// without counting a retry.
    async fn release(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError>;

    /// Reads up to `limit` messages of `topic` with a sequence above `after`, without
    /// delivering them to anyone (dead-letter tooling).
    async fn browse(
        &self,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Message)>, BusError>;

    /// Deletes messages of `topic` by sequence; returns how many existed.
    async fn remove(&self, topic: &str, seqs: &[u64]) -> Result<u64, BusError>;

    /// Every topic that was ever published to.
    async fn topics(&self) -> Result<Vec<TopicStats>, BusError>;

    /// Where every subscription stands.
    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError>;

    /// Checks that the engine answers now, within a short bound (a round trip, or the
    /// state of a live connection): what a readiness probe asks. An embedded engine in
    /// this process always answers.
    async fn ping(&self) -> Result<(), BusError>;

    /// Whether the subscription exists on the engine (created by any process).
    async fn has_subscription(&self, name: &str) -> Result<bool, BusError> {
        Ok(self.stats().await?.iter().any(|stats| stats.name == name))
    }

    /// For each topic, what carries a publish to it on the engine and whether that exists
    /// now: what a health check of a publishing service asks. Engines that make what a
    /// publish needs on the way (the embedded bus; NATS, whose streams a publish creates)
    /// report each topic as its own destination, present once the engine answers.
    async fn publish_routes(&self, topics: &[&str]) -> Result<Vec<PublishRoute>, BusError> {
        self.ping().await?;
        Ok(topics
            .iter()
            .map(|topic| PublishRoute {
                topic: topic.to_string(),
                destination: topic.to_string(),
                exists: true,
            })
            .collect())
    }
}

/// Where a publish to a topic goes on the engine ([`Broker::publish_routes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRoute {
    /// The topic.
    pub topic: String,
    /// The engine's object that carries it, e.g. a RabbitMQ exchange.
    pub destination: String,
    /// Whether it exists now.
    pub exists: bool,
}
