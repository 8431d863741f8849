//! [`RabbitBroker`]: the [`Broker`] trait on a RabbitMQ server. The mapping itself is
//! described in the crate documentation; this file owns the connection, the shared
//! channels (publisher confirms, declarations) and the per-topic bookkeeping; what is
//! declared on the server lives in `declare`, delayed retries in `retry`, the queues of
//! unrouted messages in `topic_queue`.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::{
    BasicAckOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, ExchangeKind};
use switchyard_bus::{
    Broker, BusError, BusErrorKind, Delivery, DeliveryTag, Message, PublishRoute,
    SubscriptionConfig, SubscriptionStats, TopicStats, is_pattern, validate_pattern,
};

use crate::RabbitOptions;
use crate::channels::{ChannelSlot, in_order, settle_all};
use crate::codec::{self, Meta, SeqClock};
use crate::error::{amqp, is_not_found, unknown_subscription};
use crate::link::{Link, Open};
use crate::names;
use crate::subscription::{InFlight, Subscription, reject_all};

mod declare;
mod retry;
mod topic_queue;

use declare::{declare_queue, declare_topic_queue};

/// How long a consumer may receive nothing, holding nothing, before the broker checks
/// whether its queue has ready messages it should have been given.
const STALL_CHECK_PERIOD: Duration = Duration::from_secs(10);

/// A [`Broker`] on RabbitMQ. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct RabbitBroker {
    inner: Arc<Inner>,
}

struct Inner {
    link: Link,
    /// With the namespace applied ([`RabbitOptions::on_server`]).
    options: RabbitOptions,
    /// Publisher confirms are on; carries publishes and retry copies.
    publisher: ChannelSlot,
    /// Declarations (never passive: a 404 would close the channel under the others).
    admin: ChannelSlot,
    /// Passive queue counts and exchange checks, which a missing object answers by
    /// closing the channel: apart from the declarations, so a 404 never fails a
    /// declaration in flight (a nack's retry queue, a subscription's queue).
    probe: ChannelSlot,
    /// The connection generation whose topology is declared.
    declared_for: AtomicU64,
    /// Held while the topology is declared on a new connection.
    declaring: tokio::sync::Mutex<()>,
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
    /// [`RabbitOptions::ca_file`]) and declares the exchanges. Fails when the server
    /// cannot be reached now; afterwards the broker connects again by itself whenever the
    /// connection dies (see the crate documentation).
    pub async fn connect(url: &str, options: RabbitOptions) -> Result<Self, BusError> {
        options.validate()?;
        let ca_pem = match &options.ca_file {
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
        };
        let link = Link::connect(url, ca_pem, options.connect_timeout()).await?;
        let broker = RabbitBroker {
            inner: Arc::new(Inner {
                link,
                options: options.on_server(),
                publisher: ChannelSlot::new(true),
                admin: ChannelSlot::new(false),
                probe: ChannelSlot::new(false),
                declared_for: AtomicU64::new(0),
                declaring: tokio::sync::Mutex::new(()),
                subscriptions: RwLock::new(HashMap::new()),
                topics: Mutex::new(BTreeMap::new()),
                seq: SeqClock::default(),
                topic_queue_reader: tokio::sync::Mutex::new(()),
            }),
        };
        broker.connection().await?;
        Ok(broker)
    }

    /// The open connection, with this broker's topology declared on it: after the
    /// connection was opened again, the exchanges, every subscription's queue and binding
    /// and the retry queues in use are declared again before anyone uses it (a server that
    /// lost them, a new node, gets them back; on one that kept them, this changes nothing).
    async fn connection(&self) -> Result<Open, BusError> {
        let open = self.inner.link.get().await?;
        if self.inner.declared_for.load(Ordering::Acquire) < open.generation {
            let _declaring = self.inner.declaring.lock().await;
            if self.inner.declared_for.load(Ordering::Acquire) < open.generation {
                // Bounded: a declaration without an answer (seen after a node restart, on a
                // connection whose socket stayed open) would hold every caller here.
                self.inner
                    .link
                    .answered(open.generation, "declaring the topology", async {
                        let channel = self.inner.admin.get(&open).await?;
                        self.declare_topology(&channel).await
                    })
                    .await?;
                self.inner
                    .declared_for
                    .fetch_max(open.generation, Ordering::AcqRel);
            }
        }
        Ok(open)
    }

    /// Acks every delivery, waiting for the server at most the answer timeout; fails with
    /// `context` and the first failure.
    async fn ack_all(&self, entries: &[InFlight], context: &str) -> Result<(), BusError> {
        let acks = entries
            .iter()
            .map(|entry| entry.acker.ack(BasicAckOptions::default()));
        settle_all(acks, self.inner.link.answer_timeout(), context).await
    }

    /// Runs `request` on the shared declarations channel, bounded like every request
    /// (`Link::answered`); `what` names it in the error.
    async fn on_admin<T, F, Fut>(&self, what: &str, request: F) -> Result<T, BusError>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<T, BusError>>,
    {
        self.on_slot(&self.inner.admin, what, request).await
    }

    /// Runs `request` on the shared channel of `slot`, bounded like every request
    /// (`Link::answered`); `what` names it in the error.
    async fn on_slot<T, F, Fut>(
        &self,
        slot: &ChannelSlot,
        what: &str,
        request: F,
    ) -> Result<T, BusError>
    where
        F: FnOnce(Channel) -> Fut,
        Fut: Future<Output = Result<T, BusError>>,
    {
        let open = self.connection().await?;
        self.inner
            .link
            .answered(open.generation, what, async {
                let channel = slot.get(&open).await?;
                request(channel).await
            })
            .await
    }

    /// The options it was connected with, as on the server: exchange names carry the
    /// namespace.
    pub fn options(&self) -> &RabbitOptions {
        &self.inner.options
    }

    /// Stops every consumer (the server requeues what they held) and closes the
    /// connection. Clones of this broker fail with [`BusErrorKind::Closed`] afterwards.
    pub async fn close(&self) -> Result<(), BusError> {
        for subscription in self.all_subscriptions() {
            subscription.stop().await;
        }
        self.inner.link.close().await
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
        let queue = self.inner.options.queue_of(name);
        if let Some(subscription) = &removed {
            subscription.stop().await;
            let delays = subscription.retry_delays();
            for delay_ms in delays {
                self.delete_queue(&names::retry_queue(&queue, delay_ms))
                    .await?;
            }
        }
        self.delete_queue(&queue).await
    }

    /// Deletes the queue keeping `topic`'s unrouted messages (what `browse` reads), with
    /// its messages. Returns whether it existed.
    pub async fn delete_topic(&self, topic: &str) -> Result<bool, BusError> {
        names::validate_topic(topic)?;
        if let Some(local) = self.local_topics().get_mut(topic) {
            local.queue_declared = false;
        }
        self.delete_queue(&names::topic_queue(
            &self.inner.options.exchange_for(topic),
            topic,
        ))
        .await
    }

    async fn delete_queue(&self, queue: &str) -> Result<bool, BusError> {
        self.on_admin(&format!("deleting queue `{queue}`"), |channel| async move {
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
        })
        .await
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
        let probe = &self.inner.probe;
        self.on_slot(
            probe,
            &format!("counting queue `{queue}`"),
            |channel| async move {
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
                        self.inner.probe.discard(&channel).await;
                        Ok(None)
                    }
                    Err(err) => Err(amqp(&format!("failed to count queue `{queue}`"), err)),
                }
            },
        )
        .await
    }

    /// Whether `exchange` exists on the server now (a passive declare; a missing exchange
    /// closes the channel, which is then replaced).
    async fn exchange_exists(&self, exchange: &str) -> Result<bool, BusError> {
        let probe = &self.inner.probe;
        self.on_slot(
            probe,
            &format!("checking exchange `{exchange}`"),
            |channel| async move {
                match channel
                    .exchange_declare(
                        exchange.into(),
                        ExchangeKind::Topic,
                        ExchangeDeclareOptions {
                            passive: true,
                            ..ExchangeDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await
                {
                    Ok(()) => Ok(true),
                    Err(err) if is_not_found(&err) => {
                        self.inner.probe.discard(&channel).await;
                        Ok(false)
                    }
                    Err(err) => Err(amqp(&format!("failed to check exchange `{exchange}`"), err)),
                }
            },
        )
        .await
    }

    async fn declare_queue(&self, queue: &str, arguments: FieldTable) -> Result<(), BusError> {
        self.on_admin(
            &format!("declaring queue `{queue}`"),
            |channel| async move { declare_queue(&channel, queue, arguments).await },
        )
        .await
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
        let open = self.connection().await?;
        let link = &self.inner.link;
        let channel = link
            .answered(
                open.generation,
                "opening the publishing channel",
                self.inner.publisher.get(&open),
            )
            .await?;
        let what = format!("publishing to `{routing_key}`");
        let mut unroutable = Vec::new();
        // Chunks bound the frames queued in the client at once; each chunk's confirms
        // come within the answer timeout or the connection is given up.
        for (chunk_index, chunk) in messages.chunks(PUBLISH_CHUNK).enumerate() {
            let bounced = link
                .answered(
                    open.generation,
                    &what,
                    publish_chunk(&channel, exchange, routing_key, chunk),
                )
                .await?;
            unroutable.extend(bounced.into_iter().map(|i| chunk_index * PUBLISH_CHUNK + i));
        }
        Ok(unroutable)
    }
}

/// Messages sent before their confirms are awaited.
const PUBLISH_CHUNK: usize = 1024;

/// Publishes `messages` on the confirm channel and waits for their confirms; returns the
/// indexes of those the server could not route.
async fn publish_chunk(
    channel: &Channel,
    exchange: &str,
    routing_key: &str,
    messages: &[(BasicProperties, &[u8])],
) -> Result<Vec<usize>, BusError> {
    let exchange = ShortString::from(exchange);
    let routing_key = ShortString::from(routing_key);
    let mandatory = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let sends = messages.iter().map(|(properties, payload)| {
        channel.basic_publish(
            exchange.clone(),
            routing_key.clone(),
            mandatory,
            payload,
            properties.clone(),
        )
    });
    let mut confirms = Vec::with_capacity(messages.len());
    for sent in in_order(sends).await {
        confirms
            .push(sent.map_err(|err| amqp(&format!("failed to publish to `{routing_key}`"), err))?);
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
        let unroutable = self.publish_confirmed(&exchange, topic, &prepared).await?;
        if !unroutable.is_empty() {
            // Someone deleted the topic queue: declare it again and send what bounced.
            tracing::warn!(topic = %topic, count = unroutable.len(), "topic queue missing, declared again");
            if let Some(local) = self.local_topics().get_mut(topic) {
                local.queue_declared = false;
            }
            self.ensure_topic_queue(topic).await?;
            let again: Vec<_> = unroutable.iter().map(|&i| prepared[i].clone()).collect();
            let still = self.publish_confirmed(&exchange, topic, &again).await?;
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
        if is_pattern(&config.topic) {
            validate_pattern(&config.topic)?;
        } else {
            names::validate_topic(&config.topic)?;
        }
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
        self.on_admin(
            &format!("declaring the queue of `{}`", config.name),
            |channel| async move { self.declare_subscription_queue(&channel, config).await },
        )
        .await?;
        self.inner
            .subscriptions
            .write()
            .expect("subscription lock is never poisoned")
            .entry(config.name.clone())
            .or_insert_with(|| {
                Arc::new(Subscription::new(
                    config.clone(),
                    self.inner.options.queue_of(&config.name),
                    self.inner.link.answer_timeout(),
                ))
            });
        if !is_pattern(&config.topic) {
            self.local_topics().entry(config.topic.clone()).or_default();
        }
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
        let open = self.connection().await?;
        self.inner
            .link
            .answered(
                open.generation,
                &format!("starting the consumer of `{subscription}`"),
                state.ensure_consumer(&open, prefetch),
            )
            .await?;
        let deliveries = state
            .fetch(
                max_messages.min(usize::from(prefetch)),
                max_wait,
                self.inner.options.fetch_linger(),
            )
            .await?;
        if deliveries.is_empty() && state.quiet_for(STALL_CHECK_PERIOD) {
            // A consumer that holds nothing while its queue has ready messages is stalled
            // (seen once after a node restart: deliveries the server still counted as
            // unacked on the channel, none of them held here). Starting it again closes
            // the channel, so the server requeues whatever it still counted.
            if let Some(ready) = self.ready_count(&state.queue).await?
                && ready > 0
            {
                tracing::warn!(
                    subscription,
                    ready,
                    "consumer stalled with messages ready, starting it again"
                );
                state.stop().await;
            }
        }
        Ok(deliveries)
    }

    async fn ack(&self, subscription: &str, tags: &[DeliveryTag]) -> Result<(), BusError> {
        let state = self.subscription(subscription)?;
        let entries = state.settle(tags);
        self.ack_all(
            &entries,
            &format!("failed to ack deliveries of `{subscription}` (they will be delivered again)"),
        )
        .await
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
        reject_all(&state.settle(tags), true, self.inner.link.answer_timeout())
            .await
            .map_err(|err| {
                BusError::new(
                    err.kind(),
                    format!("failed to release deliveries of `{subscription}`: {err}"),
                )
            })
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
        let queue = self.inner.options.queue_of(name);
        Ok(self.ready_count(&queue).await?.is_some())
    }

    async fn publish_routes(&self, topics: &[&str]) -> Result<Vec<PublishRoute>, BusError> {
        let mut routes = Vec::with_capacity(topics.len());
        for topic in topics {
            let exchange = self.inner.options.exchange_for(topic).into_owned();
            let exists = self.exchange_exists(&exchange).await?;
            routes.push(PublishRoute {
                topic: topic.to_string(),
                destination: exchange,
                exists,
            });
        }
        Ok(routes)
    }

    async fn ping(&self) -> Result<(), BusError> {
        // A dead connection is opened again here (at most once per backoff pause), so a
        // readiness probe also brings an idle broker back.
        self.connection().await.map(|_| ())
    }

    async fn stats(&self) -> Result<Vec<SubscriptionStats>, BusError> {
        let mut stats = Vec::new();
        for subscription in self.all_subscriptions() {
            let config = subscription.config();
            let queue = self.inner.options.queue_of(&config.name);
            let ready = self.ready_count(&queue).await?.unwrap_or(0);
            let delays = subscription.retry_delays();
            let mut waiting_retry = 0;
            for delay_ms in delays {
                match self
                    .ready_count(&names::retry_queue(&queue, delay_ms))
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
