//! [`NatsBroker`]: the [`Broker`] on JetStream: the connection, and the trait methods,
//! which delegate setup to `topology` and message traffic to `delivery`, and implement
//! the read-only ones (browse, topics, stats) and `remove` here.
//!
//! The crate docs explain the mapping; this file must not know the wire layout of a
//! message (that is `codec`) nor the API subjects (that is `api`).

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use async_trait::async_trait;
use futures_util::StreamExt;
use switchyard_bus::{
    Broker, BusError, BusErrorKind, Delivery, DeliveryTag, Message, SubscriptionConfig,
    SubscriptionStats, TopicStats,
};
use tracing::{debug, instrument};

use crate::NatsOptions;
use crate::api::JetStreamApi;
use crate::codec::{
    decode_message, pattern_of_description, stream_name, subject_name, subscription_of,
    topic_of_subject, validate_topic,
};
use crate::delivery::{Settle, SubscriptionState};
use crate::error::unavailable;

/// Message deletions sent at once per `remove`.
const REMOVE_CONCURRENCY: usize = 64;

/// How long a readiness ping waits for JetStream.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest pause between two reconnection attempts: a restarted server is in use again
/// within about this long of accepting connections.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The pause before the second reconnection attempt; it doubles up to
/// [`MAX_RECONNECT_DELAY`].
const FIRST_RECONNECT_DELAY: Duration = Duration::from_millis(100);

/// How often the client pings the server; two unanswered pings count as a lost connection
/// (one the operating system did not report closed, such as a vanished host).
const PING_INTERVAL: Duration = Duration::from_secs(10);

/// A [`Broker`] on NATS JetStream. Cheap to clone; clones share the connection and the
/// in-memory delivery state.
#[derive(Clone)]
pub struct NatsBroker {
    inner: Arc<Inner>,
}

/// The state shared by clones of a [`NatsBroker`].
pub(crate) struct Inner {
    pub(crate) client: async_nats::Client,
    pub(crate) context: jetstream::Context,
    pub(crate) api: JetStreamApi,
    pub(crate) options: NatsOptions,
    /// Topic → stream name, for streams known to exist with the right subject.
    pub(crate) streams: RwLock<HashMap<String, String>>,
    /// Subscriptions ensured or found on the server by this process.
    pub(crate) subscriptions: RwLock<HashMap<String, Arc<SubscriptionState>>>,
}

/// `url` without its user info, for messages.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_string(),
    }
}

/// The pause before reconnection attempt `attempt` (1 is the first after losing the
/// connection): none, then [`FIRST_RECONNECT_DELAY`] doubling up to
/// [`MAX_RECONNECT_DELAY`], each scaled by a random 50 to 100 % so that the clients of a
/// restarted server do not reconnect in lockstep. (async-nats' default grows to 4 s.)
fn reconnect_delay(attempt: usize) -> Duration {
    if attempt <= 1 {
        return Duration::ZERO;
    }
    let doublings = u32::try_from(attempt - 2).unwrap_or(u32::MAX).min(16);
    let delay = FIRST_RECONNECT_DELAY
        .saturating_mul(1 << doublings)
        .min(MAX_RECONNECT_DELAY);
    delay.mul_f64(0.5 + 0.5 * random_fraction())
}

/// A random number in `[0, 1)`, from the standard library's randomly keyed hasher.
fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1_u64 << 53) as f64
}

impl NatsBroker {
    /// Connects to the NATS server at `url` (`nats://host:4222`, or `tls://host:4222` for
    /// TLS with rustls; credentials in the URL if any) and checks that JetStream answers.
    /// Fails with a retryable error when the server is unreachable.
    pub async fn connect(url: &str, options: NatsOptions) -> Result<NatsBroker, BusError> {
        options.validate()?;
        // Reconnection never gives up (async-nats' default); requests made meanwhile wait
        // in the client for at most `request_timeout`.
        let mut connect_options = async_nats::ConnectOptions::new()
            .name("switchyard")
            .connection_timeout(options.connect_timeout)
            .request_timeout(Some(options.request_timeout))
            .reconnect_delay_callback(reconnect_delay)
            .ping_interval(PING_INTERVAL);
        if let Some(ca_file) = &options.ca_file {
            connect_options = connect_options
                .add_root_certificates(ca_file.clone())
                .require_tls(true);
        }
        let client = connect_options.connect(url).await.map_err(|err| {
            unavailable(
                &format!("failed to connect to NATS at {}", redact(url)),
                err,
            )
        })?;
        let context = jetstream::ContextBuilder::new()
            .timeout(options.request_timeout)
            // Dropped acknowledgement futures give their in-flight permit back after this.
            .ack_timeout(options.request_timeout)
            .max_ack_inflight(options.max_publish_inflight)
            .build(client.clone());
        let api = JetStreamApi::new(context.clone());
        api.check_account().await?;
        Ok(NatsBroker {
            inner: Arc::new(Inner {
                client,
                context,
                api,
                options,
                streams: RwLock::default(),
                subscriptions: RwLock::default(),
            }),
        })
    }

    /// The options the broker runs with.
    pub fn options(&self) -> &NatsOptions {
        &self.inner.options
    }

    /// Deletes every stream of this broker's prefix, with their messages and
    /// subscriptions: decommissioning a deployment, or cleaning up after a test. Returns
    /// how many streams there were.
    pub async fn delete_all_streams(&self) -> Result<usize, BusError> {
        let prefix = self.inner.stream_prefix();
        let mut deleted = 0;
        for name in self.inner.api.stream_names().await? {
            if name.starts_with(&prefix) && self.inner.api.delete_stream(&name).await? {
                deleted += 1;
            }
        }
        self.inner
            .streams
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.inner
            .subscriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Ok(deleted)
    }

    /// The stream holding `topic` under this broker's prefix.
    pub fn stream_name(&self, topic: &str) -> String {
        stream_name(&self.inner.options.stream_prefix, topic)
    }
}

#[async_trait]
impl Broker for NatsBroker {
    #[instrument(skip_all, fields(topic = %topic, count = messages.len()))]
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), BusError> {
        if messages.is_empty() {
            return Ok(());
        }
        self.inner.ensure_stream(topic).await?;
        let duplicates = self.inner.publish_all(topic, messages).await?;
        if duplicates > 0 {
            debug!(topic, duplicates, "publish deduplicated by ce-id");
        }
        Ok(())
    }

    async fn ensure_subscription(&self, config: &SubscriptionConfig) -> Result<(), BusError> {
        self.inner.ensure_subscription(config).await
    }

    #[instrument(skip_all, fields(subscription = %subscription, max_messages))]
    async fn fetch(
        &self,
        subscription: &str,
        max_messages: usize,
        max_wait: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        self.inner.fetch(subscription, max_messages, max_wait).await
    }

    async fn ack(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        self.inner.settle(subscription, tags, Settle::Ack).await
    }

    async fn nack(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        redeliver_after: Duration,
    ) -> Result<(), BusError> {
        self.inner
            .settle(subscription, tags, Settle::Nack(redeliver_after))
            .await
    }

    async fn release(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        self.inner.settle(subscription, tags, Settle::Release).await
    }

    async fn browse(
        &self,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Message)>, BusError> {
        validate_topic(topic)?;
        let inner = &self.inner;
        let stream = stream_name(&inner.options.stream_prefix, topic);
        let Some(info) = inner.api.stream_info(&stream).await? else {
            return Ok(Vec::new());
        };
        let subject = subject_name(&inner.options.stream_prefix, topic);
        if info.config.subjects != [subject.as_str()] {
            return Ok(Vec::new());
        }
        let last = info.state.last_sequence;
        let mut sequence = after.saturating_add(1).max(info.state.first_sequence);
        let mut found = Vec::new();
        while found.len() < limit && sequence <= last {
            // Asking for the next message of the subject skips deleted sequences.
            let Some(message) = inner.api.next_message(&stream, &subject, sequence).await? else {
                break;
            };
            if message.sequence > last {
                break;
            }
            sequence = message.sequence + 1;
            found.push((
                message.sequence,
                decode_message(message.headers.as_ref(), &message.payload),
            ));
        }
        Ok(found)
    }

    async fn remove(&self, topic: &str, seqs: &[u64]) -> Result<u64, BusError> {
        validate_topic(topic)?;
        let inner = &self.inner;
        let stream = stream_name(&inner.options.stream_prefix, topic);
        let Some(info) = inner.api.stream_info(&stream).await? else {
            return Ok(0);
        };
        if info.config.subjects != [subject_name(&inner.options.stream_prefix, topic)] {
            return Ok(0);
        }
        let held = info.state.first_sequence..=info.state.last_sequence;
        let mut unique: Vec<u64> = seqs.iter().copied().filter(|s| held.contains(s)).collect();
        unique.sort_unstable();
        unique.dedup();
        let api = &inner.api;
        let stream = &stream;
        let results: Vec<Result<bool, BusError>> = futures_util::stream::iter(unique)
            .map(|sequence| async move { api.delete_message(stream, sequence).await })
            .buffer_unordered(REMOVE_CONCURRENCY)
            .collect()
            .await;
        let mut removed = 0;
        for result in results {
            removed += u64::from(result?);
        }
        Ok(removed)
    }

    async fn topics(&self) -> Result<Vec<TopicStats>, BusError> {
        let prefix = self.inner.stream_prefix();
        let mut topics: Vec<TopicStats> = self
            .inner
            .api
            .streams()
            .await?
            .into_iter()
            .filter(|info| {
                info.config.name.starts_with(&prefix)
                    && pattern_of_description(info.config.description.as_deref()).is_none()
            })
            .map(|info| TopicStats {
                name: info
                    .config
                    .subjects
                    .first()
                    .and_then(|subject| {
                        topic_of_subject(&self.inner.options.stream_prefix, subject)
                    })
                    .map_or_else(
                        || info.config.name[prefix.len()..].to_string(),
                        str::to_string,
                    ),
                published: info.state.last_sequence,
                held: info.state.messages,
            })
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    async fn ping(&self) -> Result<(), BusError> {
        // While the client reconnects, a request would only wait in its queue.
        let state = self.inner.client.connection_state();
        if state != State::Connected {
            return Err(BusError::new(
                BusErrorKind::Unavailable,
                format!("not connected to NATS ({state})"),
            ));
        }
        // A JetStream round trip (the account info): a core connection with JetStream down
        // is not ready. Read as plain JSON: async-nats' `query_account` wants fields that
        // servers before 2.10 do not send.
        match tokio::time::timeout(PING_TIMEOUT, self.inner.api.check_account()).await {
            Ok(result) => result,
            Err(_) => Err(BusError::new(
                BusErrorKind::Unavailable,
                format!("jetstream does not answer within {PING_TIMEOUT:?}"),
            )),
        }
    }

    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
        let inner = &self.inner;
        let prefix = inner.stream_prefix();
        let mut stats = Vec::new();
        for info in inner.api.streams().await? {
            if !info.config.name.starts_with(&prefix) {
                continue;
            }
            let topic = inner
                .topic_of_stream(&info.config)
                .unwrap_or_default()
                .to_string();
            for consumer in inner.api.consumers(&info.config.name).await? {
                stats.push(SubscriptionStats {
                    name: subscription_of(&consumer.name, consumer.config.description.as_deref()),
                    topic: topic.clone(),
                    published: info.state.last_sequence,
                    backlog: consumer.num_pending,
                    unacked: u64::try_from(consumer.num_ack_pending).unwrap_or(u64::MAX),
                });
            }
        }
        stats.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delays_are_capped_and_jittered() {
        assert_eq!(reconnect_delay(0), Duration::ZERO);
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        let check = |attempt: usize, base: Duration| {
            let delay = reconnect_delay(attempt);
            assert!(
                delay >= base / 2 && delay <= base,
                "attempt {attempt}: {delay:?} not within 50-100 % of {base:?}"
            );
        };
        check(2, FIRST_RECONNECT_DELAY);
        check(3, FIRST_RECONNECT_DELAY * 2);
        check(5, FIRST_RECONNECT_DELAY * 8);
        check(6, MAX_RECONNECT_DELAY);
        check(1_000, MAX_RECONNECT_DELAY);
        check(usize::MAX, MAX_RECONNECT_DELAY);
        let spread: std::collections::HashSet<Duration> =
            (0..20).map(|_| reconnect_delay(10)).collect();
        assert!(spread.len() > 1, "no jitter: {spread:?}");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(redact("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(redact("nats://user:secret@host:4222"), "nats://…@host:4222");
    }
}
