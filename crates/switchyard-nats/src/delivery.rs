//! Moving messages: pipelined publishing, fetches (their pull requests are `pull`'s),
//! settling (ack, nack, release), and the delivery state JetStream does not keep for us:
//! per subscription, the ack handle of every message in flight and the nacks counted by
//! this process, both bounded in size.
//!
//! It must not know the wire layout of a message (that is `codec`).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use async_nats::Subject;
use async_nats::jetstream::context::{PublishAckFuture, PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind};
use futures_util::StreamExt;
use switchyard_bus::{BusError, BusErrorKind, Delivery, DeliveryTag, Message, is_pattern};
use tokio::time::Instant;

use crate::NatsOptions;
use crate::broker::Inner;
use crate::codec::{decode_message, encode_headers, subject_name, topic_of_subject};
use crate::error::{publish_error, unavailable};
use crate::pull::{PullTarget, Puller};

/// Acks, nacks and releases sent at once per call.
const SETTLE_CONCURRENCY: usize = 256;

/// What this process knows of one subscription.
pub(crate) struct SubscriptionState {
    pub(crate) topic: String,
    pub(crate) stream: String,
    pub(crate) consumer: String,
    /// Stream sequence → ack subject of its latest delivery, until acked, nacked or released.
    in_flight: Mutex<BoundedMap<Subject>>,
    /// Stream sequence → nacks counted by this process (lost on restart).
    retries: Mutex<BoundedMap<u32>>,
    /// The subscription's pull requests from this process.
    puller: tokio::sync::Mutex<Puller>,
}

impl SubscriptionState {
    pub(crate) fn new(
        topic: String,
        stream: String,
        consumer: String,
        options: &NatsOptions,
    ) -> Self {
        // The server holds at most `max_ack_pending` unacknowledged messages per consumer,
        // so entries beyond that are stale: acknowledged by another process, or superseded.
        let capacity = usize::try_from(options.max_ack_pending).unwrap_or(usize::MAX);
        SubscriptionState {
            topic,
            stream,
            consumer,
            in_flight: Mutex::new(BoundedMap::new(capacity)),
            retries: Mutex::new(BoundedMap::new(capacity)),
            puller: tokio::sync::Mutex::default(),
        }
    }
}

/// A map from stream sequence that forgets its oldest entries beyond a capacity.
struct BoundedMap<V> {
    entries: HashMap<u64, (V, u64)>,
    capacity: usize,
    next_stamp: u64,
}

impl<V> BoundedMap<V> {
    fn new(capacity: usize) -> Self {
        BoundedMap {
            entries: HashMap::new(),
            capacity: capacity.max(1),
            next_stamp: 0,
        }
    }

    fn get(&self, sequence: u64) -> Option<&V> {
        self.entries.get(&sequence).map(|(value, _)| value)
    }

    fn remove(&mut self, sequence: u64) -> Option<V> {
        self.entries.remove(&sequence).map(|(value, _)| value)
    }

    fn insert(&mut self, sequence: u64, value: V) {
        self.next_stamp += 1;
        self.entries.insert(sequence, (value, self.next_stamp));
        if self.entries.len() > self.capacity {
            // Forget the oldest tenth at once, so pruning stays rare.
            let keep = self.capacity - self.capacity / 10;
            let mut stamps: Vec<u64> = self.entries.values().map(|(_, stamp)| *stamp).collect();
            stamps.sort_unstable();
            let cutoff = stamps[stamps.len() - keep];
            self.entries.retain(|_, (_, stamp)| *stamp >= cutoff);
        }
    }
}

/// How a settle call ends a delivery.
#[derive(Clone, Copy)]
pub(crate) enum Settle {
    Ack,
    Nack(Duration),
    Release,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Inner {
    pub(crate) fn deliveries(
        &self,
        state: &SubscriptionState,
        messages: Vec<async_nats::Message>,
    ) -> Result<Vec<Delivery>, BusError> {
        let mut deliveries: Vec<Delivery> = Vec::with_capacity(messages.len());
        let mut positions: HashMap<u64, usize> = HashMap::new();
        let mut in_flight = lock(&state.in_flight);
        let mut retries = lock(&state.retries);
        for message in messages {
            let message = jetstream::Message {
                message,
                context: self.context.clone(),
            };
            let info = message
                .info()
                .map_err(|err| unavailable("failed to read delivery metadata", err))?;
            let sequence = info.stream_sequence;
            let delivery_count = u32::try_from(info.delivered).unwrap_or(u32::MAX);
            if delivery_count <= 1 {
                // A first delivery (for example to a recreated consumer) has no retries.
                retries.remove(sequence);
            }
            let retry_count = retries.get(sequence).copied().unwrap_or(0);
            let reply = message
                .message
                .reply
                .clone()
                .ok_or_else(|| unavailable("failed to read delivery", "no ack subject"))?;
            in_flight.insert(sequence, reply);
            let delivery = Delivery {
                tag: DeliveryTag(sequence),
                // A pattern subscription's stream keeps each message's own subject.
                topic: if is_pattern(&state.topic) {
                    topic_of_subject(&self.options.stream_prefix, &message.message.subject)
                        .map_or_else(|| state.topic.clone(), str::to_string)
                } else {
                    state.topic.clone()
                },
                message: decode_message(message.message.headers.as_ref(), &message.message.payload),
                delivery_count,
                retry_count,
            };
            // A message kept past its ack deadline may come twice; the later delivery holds
            // the live ack handle.
            match positions.get(&sequence) {
                Some(&position) => deliveries[position] = delivery,
                None => {
                    positions.insert(sequence, deliveries.len());
                    deliveries.push(delivery);
                }
            }
        }
        Ok(deliveries)
    }

    /// Acks, nacks or releases deliveries, waiting for the server to confirm each one.
    pub(crate) async fn settle(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        settle: Settle,
    ) -> Result<(), BusError> {
        let state = self.subscription(subscription).await?;
        let targets: Vec<(u64, Subject)> = {
            let in_flight = lock(&state.in_flight);
            tags.iter()
                .filter_map(|tag| in_flight.get(tag.0).map(|reply| (tag.0, reply.clone())))
                .collect()
        };
        let kind = match settle {
            Settle::Ack => AckKind::Ack,
            Settle::Nack(delay) if delay.is_zero() => AckKind::Nak(None),
            Settle::Nack(delay) => AckKind::Nak(Some(delay)),
            Settle::Release => AckKind::Nak(None),
        };
        let client = &self.client;
        let results: Vec<_> = futures_util::stream::iter(targets)
            .map(|(sequence, reply)| async move {
                let result = client.request(reply.clone(), kind.into()).await;
                (sequence, reply, result)
            })
            .buffer_unordered(SETTLE_CONCURRENCY)
            .collect()
            .await;
        let mut first_error = None;
        let mut in_flight = lock(&state.in_flight);
        let mut retries = lock(&state.retries);
        for (sequence, reply, result) in results {
            if let Err(err) = result {
                first_error.get_or_insert_with(|| {
                    unavailable(
                        &format!(
                            "failed to settle message {sequence} of subscription {subscription}"
                        ),
                        err,
                    )
                });
                continue;
            }
            // A redelivery may have replaced the handle meanwhile; it stays in flight.
            if in_flight.get(sequence) == Some(&reply) {
                in_flight.remove(sequence);
            }
            match settle {
                Settle::Ack => {
                    retries.remove(sequence);
                }
                Settle::Nack(_) => {
                    let count = retries.get(sequence).copied().unwrap_or(0);
                    retries.insert(sequence, count + 1);
                }
                Settle::Release => {}
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Publishes every message, then waits for every publish acknowledgement. Sending and
    /// waiting run side by side, so the in-flight bound never stalls the sender.
    pub(crate) async fn publish_all(
        &self,
        topic: &str,
        messages: Vec<Message>,
    ) -> Result<usize, BusError> {
        let mut encoded = Vec::with_capacity(messages.len());
        for message in messages {
            let headers = encode_headers(&message)?;
            encoded.push(
                PublishMessage::build()
                    .headers(headers)
                    .payload(message.payload.into()),
            );
        }
        let subject = Subject::from(subject_name(&self.options.stream_prefix, topic));
        let (ack_sender, mut ack_receiver) = tokio::sync::mpsc::channel::<(
            Instant,
            PublishAckFuture,
        )>(self.options.max_publish_inflight);
        let send = async move {
            for publish in encoded {
                let ack = self
                    .context
                    .send_publish(subject.clone(), publish)
                    .await
                    .map_err(|err| publish_error(topic, &err))?;
                let deadline = Instant::now() + self.options.request_timeout;
                if ack_sender.send((deadline, ack)).await.is_err() {
                    break;
                }
            }
            Ok::<(), BusError>(())
        };
        let confirm = async {
            let mut duplicates = 0;
            let mut first_error: Option<(BusError, bool)> = None;
            while let Some((deadline, ack)) = ack_receiver.recv().await {
                // Each acknowledgement is due `request_timeout` after its publish was sent,
                // not after the one before it was awaited: when the connection is lost
                // with many acknowledgements outstanding, the call fails within one
                // timeout, not one per message.
                let acked = tokio::time::timeout_at(deadline, ack.into_future())
                    .await
                    .unwrap_or_else(|_| Err(PublishError::new(PublishErrorKind::TimedOut)));
                match acked {
                    Ok(ack) if ack.duplicate => duplicates += 1,
                    Ok(_) => {}
                    Err(err) => {
                        let missing = err.kind() == PublishErrorKind::StreamNotFound;
                        first_error.get_or_insert((publish_error(topic, &err), missing));
                    }
                }
            }
            match first_error {
                Some(error) => Err(error),
                None => Ok(duplicates),
            }
        };
        let (sent, confirmed) = tokio::join!(send, confirm);
        sent?;
        confirmed.map_err(|(err, stream_missing)| {
            if stream_missing {
                // Deleted behind our back: the next publish creates it again.
                self.forget_stream(topic);
            }
            err
        })
    }

    pub(crate) async fn fetch(
        &self,
        subscription: &str,
        max_messages: usize,
        max_wait: Duration,
    ) -> Result<Vec<Delivery>, BusError> {
        let state = self.subscription(subscription).await?;
        if max_messages == 0 {
            return Ok(Vec::new());
        }
        let target = PullTarget {
            client: &self.client,
            request_timeout: self.options.request_timeout,
            subscription,
            stream: &state.stream,
            consumer: &state.consumer,
        };
        // Fetches of one subscription in this process take turns on its pull requests.
        let fetched = state
            .puller
            .lock()
            .await
            .fetch(&target, max_messages, max_wait)
            .await;
        match fetched {
            Ok(messages) => self.deliveries(&state, messages),
            Err(err) => {
                if err.kind() == BusErrorKind::UnknownSubscription {
                    self.forget_subscription(subscription);
                }
                Err(err)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_map_forgets_the_oldest() {
        let mut map = BoundedMap::new(10);
        for sequence in 0..11 {
            map.insert(sequence, sequence * 2);
        }
        assert_eq!(map.entries.len(), 9);
        assert!(map.get(0).is_none() && map.get(1).is_none());
        assert_eq!(map.get(10), Some(&20));
        map.insert(3, 7);
        assert_eq!(map.remove(3), Some(7));
        assert!(map.get(3).is_none());
    }
}
