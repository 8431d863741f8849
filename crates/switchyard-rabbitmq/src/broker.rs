//! [`RabbitBroker`]: the [`Broker`] trait on a RabbitMQ server. The mapping itself is
//! described in the crate documentation; this file owns the connection, the shared
//! channels (publisher confirms, declarations) and the per-topic bookkeeping; delayed
//! retries live in `retry`, the queues of unrouted messages in `topic_queue`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::tcp::OwnedTLSConfig;
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties,
    DefaultConnectionBuilder, ExchangeKind,
};
use switchyard_bus::{
    Broker, BusError, BusErrorKind, Delivery, DeliveryTag, Message, SubscriptionConfig,
    SubscriptionStats, TopicStats,
};

use crate::RabbitOptions;
use crate::channels::{ChannelSlot, in_order};
use crate::codec::{self, Meta, SeqClock};
use crate::error::{amqp, is_not_found, reply_code, unknown_subscription};
use crate::names;
use crate::subscription::{InFlight, Subscription, reject_all};

mod retry;
mod topic_queue;

/// A [`Broker`] on RabbitMQ. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    connection: Connection,
    options: RabbitOptions,
    /// Publisher confirms are on; carries publishes and retry copies.
    publisher: ChannelSlot,
    /// Declarations and passive queue counts (a missing queue closes the channel).
    admin: ChannelSlot,
    subscriptions: RwLock<HashMap<String, Arc<Subscription>>>,
    topics: Mutex<BTreeMap<String, LocalTopic>>,
    seq: SeqClock,
    /// `browse` and `remove` take a topic queue's messages out and put them back: one at a
    /// time in this process.
    topic_queue_reader: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct LocalTopic {
    published: u64,
    queue_declared: bool,
}

impl RabbitBroker {
    /// Connects to `url` (`amqp://user:password@host:port/vhost`, the vhost URL-encoded:
    /// `%2f` is `/`; `amqps://…` for TLS with rustls, trusting the system's CAs and
    /// [`RabbitOptions::ca_file`]) and declares the exchanges.
    pub async fn connect(url: &str, options: RabbitOptions) -> Result<Self, BusError> {
        options.validate()?;
        let shown = redact(url);
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from("switchyard".as_bytes()));
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: match &options.ca_file {
                Some(ca_file) => Some(std::fs::read_to_string(ca_file).map_err(|err| {
                    BusError::new(
                        BusErrorKind::InvalidArgument,
                        format!(
                            "failed to read the RabbitMQ CA file {}: {err}",
                            ca_file.display()
                        ),
                    )
                })?),
                None => None,
            },
        };
        let builder = DefaultConnectionBuilder::new()
            .map_err(|err| amqp("failed to start the AMQP runtime", err))?
            .with_uri_str(url.to_string())
            .with_properties(properties)
            .with_tls_config(tls);
        let connection = tokio::time::timeout(options.connect_timeout(), builder.connect())
            .await
            .map_err(|_| {
                BusError::new(
                    BusErrorKind::Unavailable,
                    format!(
                        "failed to connect to RabbitMQ at {shown}: no answer within {:?}",
                        options.connect_timeout()
                    ),
                )
            })?
            .map_err(|err| amqp(&format!("failed to connect to RabbitMQ at {shown}"), err))?;
        let broker = RabbitBroker {
            inner: Arc::new(Inner {
                connection,
                options,
                publisher: ChannelSlot::new(true),
                admin: ChannelSlot::new(false),
                subscriptions: RwLock::new(HashMap::new()),
                topics: Mutex::new(BTreeMap::new()),
                seq: SeqClock::default(),
                topic_queue_reader: tokio::sync::Mutex::new(()),
            }),
        };
        broker.declare_exchanges().await?;
        Ok(broker)
    }

    /// The options it was connected with.
    pub fn options(&self) -> &RabbitOptions {
        &self.inner.options
    }

    /// Stops every consumer (the server requeues what they held) and closes the
    /// connection. Clones of this broker fail with [`BusErrorKind::Closed`] afterwards.
    pub async fn close(&self) -> Result<(), BusError> {
        for subscription in self.all_subscriptions() {
            subscription.stop().await;
        }
        self.inner
            .connection
            .close(200, "OK".into())
            .await
            .map_err(|err| amqp("failed to close the connection", err))
    }

    /// Deletes a subscription: its queue with every message in it, and the retry queues
    /// this process used for it. Returns whether the queue existed.
    pub async fn delete_subscription(&self, name: &str) -> Result<bool, BusError> {
        names::validate_subscription(name)?;
        let removed = self
            .inner
            .subscriptions
            .write()
            .expect("subscription lock is never poisoned")
            .remove(name);
        if let Some(subscription) = &removed {
            subscription.stop().await;
            let delays: Vec<u64> = subscription
                .retry_queues
                .lock()
                .expect("retry queue lock is never poisoned")
                .keys()
                .copied()
                .collect();
            for delay_ms in delays {
                self.delete_queue(&names::retry_queue(name, delay_ms))
                    .await?;
            }
        }
        self.delete_queue(name).await
    }

    /// Deletes the queue keeping `topic`'s unrouted messages (what `browse` reads), with
    /// its messages. Returns whether it existed.
    pub async fn delete_topic(&self, topic: &str) -> Result<bool, BusError> {
        names::validate_topic(topic)?;
        if let Some(local) = self.local_topics().get_mut(topic) {
            local.queue_declared = false;
        }
        self.delete_queue(&names::topic_queue(
            self.inner.options.exchange_for(topic),
            topic,
        ))
        .await
    }

    async fn delete_queue(&self, queue: &str) -> Result<bool, BusError> {
        let channel = self.admin().await?;
        match channel
            .queue_delete(queue.into(), QueueDeleteOptions::default())
            .await
        {
            Ok(_) => Ok(true),
            Err(err) if is_not_found(&err) => {
                self.inner.admin.discard(&channel).await;
                Ok(false)
            }
            Err(err) => Err(amqp(&format!("failed to delete queue `{queue}`"), err)),
        }
    }

    async fn declare_exchanges(&self) -> Result<(), BusError> {
        for exchange in self.inner.options.exchanges() {
            self.declare_exchange(exchange).await?;
        }
        Ok(())
    }

    async fn declare_exchange(&self, exchange: &str) -> Result<(), BusError> {
        let unrouted = names::unrouted_exchange(exchange);
        let channel = self.admin().await?;
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let refused = |name: &str, err: lapin::Error| {
            if reply_code(&err) == Some(406) {
                BusError::new(
                    BusErrorKind::InvalidArgument,
                    format!(
                        "exchange `{name}` exists with other settings (this broker needs a durable \
                         topic exchange with alternate-exchange `{unrouted}`): delete it or \
                         configure another exchange: {err}"
                    ),
                )
            } else {
                amqp(&format!("failed to declare exchange `{name}`"), err)
            }
        };
        channel
            .exchange_declare(
                unrouted.as_str().into(),
                ExchangeKind::Direct,
                durable,
                FieldTable::default(),
            )
            .await
            .map_err(|err| refused(&unrouted, err))?;
        let mut arguments = FieldTable::default();
        arguments.insert("alternate-exchange".into(), long_string(&unrouted));
        channel
            .exchange_declare(exchange.into(), ExchangeKind::Topic, durable, arguments)
            .await
            .map_err(|err| refused(exchange, err))
    }

    async fn admin(&self) -> Result<Channel, BusError> {
        self.inner.admin.get(&self.inner.connection).await
    }

    fn local_topics(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, LocalTopic>> {
        self.inner
            .topics
            .lock()
            .expect("topic lock is never poisoned")
    }

    fn subscription(&self, name: &str) -> Result<Arc<Subscription>, BusError> {
        self.inner
            .subscriptions
            .read()
            .expect("subscription lock is never poisoned")
            .get(name)
            .cloned()
            .ok_or_else(|| unknown_subscription(name))
    }

    fn all_subscriptions(&self) -> Vec<Arc<Subscription>> {
        let map = self
            .inner
            .subscriptions
            .read()
            .expect("subscription lock is never poisoned");
        let mut all: Vec<_> = map.values().cloned().collect();
        all.sort_by_key(|s| s.config().name);
        all
    }

    /// Ready messages of `queue`, or `None` when it does not exist.
    async fn ready_count(&self, queue: &str) -> Result<Option<u64>, BusError> {
        let channel = self.admin().await?;
        match channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
        {
            Ok(declared) => Ok(Some(declared.message_count().into())),
            Err(err) if is_not_found(&err) => {
                self.inner.admin.discard(&channel).await;
                Ok(None)
            }
            Err(err) => Err(amqp(&format!("failed to count queue `{queue}`"), err)),
        }
    }

    async fn declare_queue(&self, queue: &str, arguments: FieldTable) -> Result<(), BusError> {
        self.admin()
            .await?
            .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
            .await
            .map(|_| ())
            .map_err(|err| {
                if reply_code(&err) == Some(406) {
                    BusError::new(
                        BusErrorKind::InvalidArgument,
                        format!(
                            "queue `{queue}` exists with other settings (an older version or \
                             another dead-letter setting made it): delete it and run \
                             `switchyard topics setup`: {err}"
                        ),
                    )
                } else {
                    amqp(&format!("failed to declare queue `{queue}`"), err)
                }
            })
    }

    async fn bind(&self, queue: &str, exchange: &str, key: &str) -> Result<(), BusError> {
        self.admin()
            .await?
            .queue_bind(
                queue.into(),
                exchange.into(),
                key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|err| {
                amqp(
                    &format!("failed to bind queue `{queue}` to `{exchange}`"),
                    err,
                )
            })
    }

    /// Publishes on the confirm channel and waits for every confirm. Returns the indexes
    /// of the messages the server could not route (only possible when a queue they
    /// needed was deleted).
    async fn publish_confirmed(
        &self,
        exchange: &str,
        routing_key: &str,
        messages: &[(BasicProperties, &[u8])],
    ) -> Result<Vec<usize>, BusError> {
        let channel = self.inner.publisher.get(&self.inner.connection).await?;
        let exchange = ShortString::from(exchange);
        let routing_key = ShortString::from(routing_key);
        let mandatory = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };
        let mut confirms = Vec::with_capacity(messages.len());
        // Chunks bound the frames queued in the client at once.
        for chunk in messages.chunks(1024) {
            let sends = chunk.iter().map(|(properties, payload)| {
                channel.basic_publish(
                    exchange.clone(),
                    routing_key.clone(),
                    mandatory,
                    payload,
                    properties.clone(),
                )
            });
            for sent in in_order(sends).await {
                confirms.push(
                    sent.map_err(|err| {
                        amqp(&format!("failed to publish to `{routing_key}`"), err)
                    })?,
                );
            }
        }
        let mut unroutable = Vec::new();
        for (index, confirm) in confirms.into_iter().enumerate() {
            let confirmation = confirm
                .await
                .map_err(|err| amqp(&format!("failed to publish to `{routing_key}`"), err))?;
            match confirmation {
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(_)) => unroutable.push(index),
                Confirmation::Nack(_) => {
                    return Err(BusError::new(
                        BusErrorKind::Unavailable,
                        format!(
                            "failed to publish to `{routing_key}`: the server refused to store a message"
                        ),
                    ));
                }
                Confirmation::NotRequested => {
                    return Err(BusError::new(
                        BusErrorKind::Unavailable,
                        format!("failed to publish to `{routing_key}`: publisher confirms are off"),
                    ));
                }
            }
        }
        Ok(unroutable)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let map = self
            .subscriptions
            .get_mut()
            .expect("subscription lock is never poisoned");
        for subscription in map.values() {
            subscription.abort();
        }
    }
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes()))
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[async_trait]
impl Broker for RabbitBroker {
    async fn publish(&self, topic: &str, messages: Vec<Message>) -> Result<(), BusError> {
        names::validate_topic(topic)?;
        for message in &messages {
            codec::validate(message)?;
        }
        if messages.is_empty() {
            return Ok(());
        }
        self.ensure_topic_queue(topic).await?;
        let prepared: Vec<(BasicProperties, &[u8])> = messages
            .iter()
            .map(|message| {
                let meta = Meta {
                    seq: self.inner.seq.next(),
                    ..Meta::default()
                };
                (codec::encode(message, meta), message.payload.as_slice())
            })
            .collect();
        let exchange = self.inner.options.exchange_for(topic);
        let unroutable = self.publish_confirmed(exchange, topic, &prepared).await?;
        if !unroutable.is_empty() {
            // Someone deleted the topic queue: declare it again and send what bounced.
            tracing::warn!(topic = %topic, count = unroutable.len(), "topic queue missing, declared again");
            if let Some(local) = self.local_topics().get_mut(topic) {
                local.queue_declared = false;
            }
            self.ensure_topic_queue(topic).await?;
            let again: Vec<_> = unroutable.iter().map(|&i| prepared[i].clone()).collect();
            let still = self.publish_confirmed(exchange, topic, &again).await?;
            if !still.is_empty() {
                return Err(BusError::new(
                    BusErrorKind::Unavailable,
                    format!(
                        "failed to publish to `{topic}`: {} messages could not be routed",
                        still.len()
                    ),
                ));
            }
        }
        self.local_topics()
            .entry(topic.to_string())
            .or_default()
            .published += messages.len() as u64;
        Ok(())
    }

    async fn ensure_subscription(&self, config: &SubscriptionConfig) -> Result<(), BusError> {
        names::validate_topic(&config.topic)?;
        names::validate_subscription(&config.name)?;
        if let Ok(existing) = self.subscription(&config.name) {
            let topic = existing.config().topic;
            if topic != config.topic {
                return Err(BusError::new(
                    BusErrorKind::InvalidArgument,
                    format!(
                        "subscription `{}` already reads topic `{topic}`, not `{}`",
                        config.name, config.topic
                    ),
                ));
            }
            existing.set_ack_deadline(config.ack_deadline);
            return Ok(());
        }
        let exchange = self.inner.options.exchange_for(&config.topic);
        let mut arguments = FieldTable::default();
        if let Some(suffix) = &self.inner.options.dead_letter_suffix {
            let dead_letter_topic = format!("{}{suffix}", config.topic);
            // Nobody subscribes to dead letters: they wait in the topic's own queue.
            self.ensure_topic_queue(&dead_letter_topic).await?;
            arguments.insert("x-dead-letter-exchange".into(), long_string(exchange));
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                long_string(&dead_letter_topic),
            );
        }
        self.declare_queue(&config.name, arguments).await?;
        self.bind(&config.name, exchange, &config.topic).await?;
        self.inner
            .subscriptions
            .write()
            .expect("subscription lock is never poisoned")
            .entry(config.name.clone())
            .or_insert_with(|| Arc::new(Subscription::new(config.clone())));
        self.local_topics().entry(config.topic.clone()).or_default();
        Ok(())
    }

    async fn fetch(
        &self,
        subscription: &str,
        max_messages: usize,
        max_wait: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        let state = self.subscription(subscription)?;
        let prefetch = self.inner.options.prefetch;
        state
            .ensure_consumer(&self.inner.connection, prefetch)
            .await?;
        state
            .fetch(
                max_messages.min(usize::from(prefetch)),
                max_wait,
                self.inner.options.fetch_linger(),
            )
            .await
    }

    async fn ack(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        let state = self.subscription(subscription)?;
        let entries = state.settle(tags);
        match ack_all(&entries).await {
            None => Ok(()),
            Some(err) => Err(amqp(
                &format!(
                    "failed to ack deliveries of `{subscription}` (they will be delivered again)"
                ),
                err,
            )),
        }
    }

    async fn nack(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        redeliver_after: Duration,
    ) -> Result<(), BusError> {
        self.retry_later(subscription, tags, redeliver_after).await
    }

    async fn release(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        let state = self.subscription(subscription)?;
        match reject_all(&state.settle(tags), true).await {
            None => Ok(()),
            Some(err) => Err(amqp(
                &format!("failed to release deliveries of `{subscription}`"),
                err,
            )),
        }
    }

    async fn browse(
        &self,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Message)>, BusError> {
        self.browse_topic_queue(topic, after, limit).await
    }

    async fn remove(&self, topic: &str, seqs: &[u64]) -> Result<u64, BusError> {
        self.remove_from_topic_queue(topic, seqs).await
    }

    async fn topics(&self) -> Result<Vec<TopicStats>, BusError> {
        self.topic_stats().await
    }

    async fn has_subscription(&self, name: &str) -> Result<bool, BusError> {
        // AMQP cannot list queues, but a passive declare tells whether one exists.
        Ok(self.ready_count(name).await?.is_some())
    }

    async fn ping(&self) -> Result<(), BusError> {
        if self.inner.connection.status().connected() {
            Ok(())
        } else {
            Err(BusError::new(
                BusErrorKind::Unavailable,
                "the connection to RabbitMQ is down",
            ))
        }
    }

    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
        let mut stats = Vec::new();
        for subscription in self.all_subscriptions() {
            let config = subscription.config();
            let ready = self.ready_count(&config.name).await?.unwrap_or(0);
            let delays: Vec<u64> = subscription
                .retry_queues
                .lock()
                .expect("retry queue lock is never poisoned")
                .keys()
                .copied()
                .collect();
            let mut waiting_retry = 0;
            for delay_ms in delays {
                match self
                    .ready_count(&names::retry_queue(&config.name, delay_ms))
                    .await?
                {
                    Some(count) => waiting_retry += count,
                    None => {
                        // Expired after standing empty: nothing waits there any more.
                        subscription
                            .retry_queues
                            .lock()
                            .expect("retry queue lock is never poisoned")
                            .remove(&delay_ms);
                    }
                }
            }
            let local = subscription.local_counts();
            let backlog = ready + local.buffered;
            let unacked = local.in_flight + waiting_retry;
            let published = self
                .local_topics()
                .get(&config.topic)
                .map_or(0, |t| t.published);
            stats.push(SubscriptionStats {
                name: config.name,
                topic: config.topic,
                published: published.max(backlog + unacked),
                backlog,
                unacked,
            });
        }
        Ok(stats)
    }
}

/// Acks every delivery; returns the first failure.
async fn ack_all(entries: &[InFlight]) -> Option<lapin::Error> {
    in_order(
        entries
            .iter()
            .map(|entry| entry.acker.ack(BasicAckOptions::default())),
    )
    .await
    .into_iter()
    .find_map(Result::err)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact("amqp://user@host/"), "amqp://user@host/");
    }
}
