//! Delayed retries: `nack` stores a copy of each delivery in a retry queue
//! `{subscription}.retry.{delay_ms}`, from which RabbitMQ dead-letters it back into the
//! subscription queue after the delay; then it acks the original.

use std::time::Duration;

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use switchyard_bus::{BusError, BusErrorKind, DeliveryTag};
use tokio::time::Instant;

use super::{RabbitBroker, long_string};
use crate::codec::{self, Meta};
use crate::names;
use crate::subscription::{InFlight, Subscription, reject_all};

impl RabbitBroker {
    pub(super) async fn retry_later(
        &self,
        subscription: &str,
        tags: &[DeliveryTag],
        redeliver_after: Duration,
    ) -> Result<(), BusError> {
        let state = self.subscription(subscription)?;
        let entries = state.settle(tags);
        if entries.is_empty() {
            return Ok(());
        }
        let delay_ms = names::delay_ms(redeliver_after);
        let copied = async {
            let queue = self.ensure_retry_queue(&state, delay_ms).await?;
            let copies: Vec<(BasicProperties, &[u8])> = entries
                .iter()
                .map(|entry| (retry_copy(entry), entry.message.payload.as_slice()))
                .collect();
            let unroutable = self.publish_confirmed("", &queue, &copies).await?;
            if unroutable.is_empty() {
                Ok(())
            } else {
                state
                    .retry_queues
                    .lock()
                    .expect("retry queue lock is never poisoned")
                    .remove(&delay_ms);
                Err(BusError::new(
                    BusErrorKind::Unavailable,
                    format!("failed to schedule a retry: retry queue `{queue}` vanished"),
                ))
            }
        };
        if let Err(err) = copied.await {
            // No copy is safely stored: give the originals back rather than lose them (a
            // failure is logged there; the server requeues them when the channel closes).
            let _ = reject_all(&entries, true, self.inner.link.answer_timeout()).await;
            return Err(err);
        }
        self.ack_all(
            &entries,
            &format!(
                "failed to ack retried deliveries of `{subscription}` (they will come back twice)"
            ),
        )
        .await
    }

    /// The queue where `subscription`'s nacked deliveries wait `delay_ms`: each message
    /// expires after the delay and is dead-lettered through the default exchange straight
    /// into the subscription queue. The queue deletes itself once unused for
    /// `x-expires`; declaring it again at least every half of that keeps every waiting
    /// message's expiry before the queue's.
    async fn ensure_retry_queue(
        &self,
        subscription: &Subscription,
        delay_ms: u64,
    ) -> Result<String, BusError> {
        let queue = names::retry_queue(&subscription.queue, delay_ms);
        let expires_ms = expires_ms(delay_ms);
        let fresh = subscription
            .retry_queues
            .lock()
            .expect("retry queue lock is never poisoned")
            .get(&delay_ms)
            .is_some_and(|declared| declared.elapsed() < Duration::from_millis(expires_ms / 2));
        if fresh {
            return Ok(queue);
        }
        self.declare_queue(&queue, arguments(&subscription.queue, delay_ms))
            .await?;
        subscription
            .retry_queues
            .lock()
            .expect("retry queue lock is never poisoned")
            .insert(delay_ms, Instant::now());
        Ok(queue)
    }
}

/// How long a retry queue of `delay_ms` may stand unused before it deletes itself.
fn expires_ms(delay_ms: u64) -> u64 {
    2 * delay_ms + 60_000
}

/// The arguments of the retry queue of subscription queue `queue` for `delay_ms`: each
/// message expires after the delay and goes back to `queue` through the default exchange.
pub(super) fn arguments(queue: &str, delay_ms: u64) -> FieldTable {
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-message-ttl".into(),
        AMQPValue::LongLongInt(delay_ms as i64),
    );
    arguments.insert(
        "x-expires".into(),
        AMQPValue::LongLongInt(expires_ms(delay_ms) as i64),
    );
    arguments.insert("x-dead-letter-exchange".into(), long_string(""));
    arguments.insert("x-dead-letter-routing-key".into(), long_string(queue));
    arguments
}

/// The copy of a nacked delivery that waits in a retry queue: same content and position,
/// one more retry, the deliveries so far, and the topic it was published on.
fn retry_copy(entry: &InFlight) -> BasicProperties {
    let properties = codec::encode(
        &entry.message,
        Meta {
            seq: entry.meta.seq,
            retries: entry.meta.retries.saturating_add(1),
            prior_deliveries: entry.delivery_count,
        },
    );
    codec::with_topic(properties, &entry.topic)
}
