//! The topic queues `{exchange}:{topic}`: what keeps a topic's messages that no
//! subscription took, and `browse`, `remove` and `topics` over them.

use std::collections::BTreeSet;

use lapin::Channel;
use lapin::options::{BasicAckOptions, BasicGetOptions};
use switchyard_bus::{Broker, BusError, Message, SubscriptionStats, TopicStats};

use super::{RabbitBroker, declare_topic_queue};
use crate::channels::{close_quietly, give_back};
use crate::codec;
use crate::error::{amqp, is_not_found};
use crate::names;

/// A message of a topic queue taken out by `browse` or `remove`.
struct Kept {
    seq: u64,
    message: Message,
    delivery_tag: u64,
}

impl RabbitBroker {
    /// The queue that keeps what no subscription of `topic` takes, declared once per
    /// process (again after a publish found it missing).
    pub(super) async fn ensure_topic_queue(&self, topic: &str) -> Result<(), BusError> {
        if self
            .local_topics()
            .get(topic)
            .is_some_and(|t| t.queue_declared)
        {
            return Ok(());
        }
        let exchange = self.inner.options.exchange_for(topic);
        self.on_admin(
            &format!("declaring the queue of topic `{topic}`"),
            |channel| async move { declare_topic_queue(&channel, &exchange, topic).await },
        )
        .await?;
        self.local_topics()
            .entry(topic.to_string())
            .or_default()
            .queue_declared = true;
        Ok(())
    }

    /// Takes every message of `topic`'s queue out on a channel of its own (unacked, so a
    /// failure anywhere gives them back when the channel closes), with the generation of
    /// its connection; each request is bounded (`Link::answered`). `None` when the queue
    /// does not exist.
    async fn take_topic_queue(
        &self,
        topic: &str,
    ) -> Result<Option<(Channel, Vec<Kept>, u64)>, BusError> {
        let queue = names::topic_queue(&self.inner.options.exchange_for(topic), topic);
        // Asked first on the probe channel, which exists for the 404 a missing queue gets
        // (a dead-letter topic nothing failed into yet has none): the channel of our own
        // below is then never closed by the server, whose close could fail the next
        // channel opened on this connection.
        if self.ready_count(&queue).await?.is_none() {
            return Ok(None);
        }
        let open = self.connection().await?;
        let link = &self.inner.link;
        let channel = link
            .answered(open.generation, "opening a channel", async {
                open.connection
                    .create_channel()
                    .await
                    .map_err(|err| amqp("failed to open a channel", err))
            })
            .await?;
        let reading = format!("reading queue `{queue}`");
        let mut kept = Vec::new();
        loop {
            let got = link
                .answered(open.generation, &reading, async {
                    Ok(channel
                        .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: false })
                        .await)
                })
                .await?;
            match got {
                Ok(Some(got)) => {
                    let delivery = got.delivery;
                    let (message, meta) = codec::decode(&delivery.properties, delivery.data);
                    // Foreign messages carry no position: their place in the queue stands in.
                    let seq = if meta.seq == 0 {
                        kept.len() as u64 + 1
                    } else {
                        meta.seq
                    };
                    kept.push(Kept {
                        seq,
                        message,
                        delivery_tag: delivery.delivery_tag,
                    });
                }
                Ok(None) => return Ok(Some((channel, kept, open.generation))),
                Err(err) if is_not_found(&err) => return Ok(None),
                Err(err) => {
                    // Bounded like every request: without an answer the connection is given up.
                    let closing = async {
                        close_quietly(&channel).await;
                        Ok(())
                    };
                    let _ = link
                        .answered(open.generation, "closing a channel", closing)
                        .await;
                    return Err(amqp(&format!("failed to read queue `{queue}`"), err));
                }
            }
        }
    }

    pub(super) async fn browse_topic_queue(
        &self,
        topic: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, Message)>, BusError> {
        names::validate_topic(topic)?;
        let _reading = self.inner.topic_queue_reader.lock().await;
        let Some((channel, mut kept, generation)) = self.take_topic_queue(topic).await? else {
            return Ok(Vec::new());
        };
        let last_tag = kept.iter().map(|k| k.delivery_tag).max();
        self.inner
            .link
            .answered(
                generation,
                &format!("giving back topic `{topic}`"),
                give_back(&channel, last_tag),
            )
            .await?;
        kept.sort_by_key(|k| k.seq);
        Ok(kept
            .into_iter()
            .filter(|k| k.seq > after)
            .take(limit)
            .map(|k| (k.seq, k.message))
            .collect())
    }

    pub(super) async fn remove_from_topic_queue(
        &self,
        topic: &str,
        seqs: &[u64],
    ) -> Result<u64, BusError> {
        names::validate_topic(topic)?;
        let wanted: BTreeSet<u64> = seqs.iter().copied().collect();
        let _reading = self.inner.topic_queue_reader.lock().await;
        let Some((channel, kept, generation)) = self.take_topic_queue(topic).await? else {
            return Ok(0);
        };
        let removing = async {
            let mut removed = 0;
            for k in kept.iter().filter(|k| wanted.contains(&k.seq)) {
                if let Err(err) = channel
                    .basic_ack(k.delivery_tag, BasicAckOptions::default())
                    .await
                {
                    close_quietly(&channel).await;
                    return Err(amqp(&format!("failed to remove from `{topic}`"), err));
                }
                removed += 1;
            }
            let last_tag = kept
                .iter()
                .filter(|k| !wanted.contains(&k.seq))
                .map(|k| k.delivery_tag)
                .max();
            // Closing waits for the server, so the acks are done when this returns.
            give_back(&channel, last_tag).await?;
            Ok(removed)
        };
        self.inner
            .link
            .answered(
                generation,
                &format!("removing from topic `{topic}`"),
                removing,
            )
            .await
    }

    pub(super) async fn topic_stats(&self) -> Result<Vec<TopicStats>, BusError> {
        let stats = self.stats().await?;
        let mut names: BTreeSet<String> = self.local_topics().keys().cloned().collect();
        names.extend(self.inner.options.known_topics.iter().cloned());
        let mut topics = Vec::new();
        for name in names {
            let queue = names::topic_queue(&self.inner.options.exchange_for(&name), &name);
            let local = self.local_topics().get(&name).map_or(0, |t| t.published);
            let unrouted = match self.ready_count(&queue).await? {
                Some(count) => count,
                // Never published to through this mapping (or the queue was deleted).
                None if local == 0 => continue,
                None => 0,
            };
            let subscribed = stats
                .iter()
                .filter(|s| s.topic == name)
                .map(SubscriptionStats::lag)
                .max()
                .unwrap_or(0);
            let held = unrouted + subscribed;
            topics.push(TopicStats {
                name,
                published: local.max(held),
                held,
            });
        }
        Ok(topics)
    }
}
