//! What the broker declares on the server, and again on every new connection: the
//! exchanges, topic, dead-letter and fanout (each with its alternate exchange of unrouted
//! messages), each subscription's queue and bindings (with its dead-letter arguments), the
//! retry queues in use, and the queues of unrouted messages.

use lapin::Channel;
use lapin::ExchangeKind;
use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use switchyard_bus::{BusError, BusErrorKind, SubscriptionConfig, is_pattern};

use super::{RabbitBroker, long_string, retry};
use crate::error::{amqp, reply_code};
use crate::names;

impl RabbitBroker {
    pub(super) async fn declare_topology(&self, channel: &Channel) -> Result<(), BusError> {
        for exchange in self.inner.options.exchanges() {
            declare_exchange(channel, exchange, ExchangeKind::Topic).await?;
        }
        for exchange in self.inner.options.dead_letter_exchanges() {
            declare_exchange(channel, &exchange, ExchangeKind::Topic).await?;
        }
        for exchange in self.inner.options.fanout_exchange_names() {
            declare_exchange(channel, &exchange, ExchangeKind::Fanout).await?;
        }
        for local in self.local_topics().values_mut() {
            local.queue_declared = false;
        }
        for subscription in self.all_subscriptions() {
            let config = subscription.config();
            self.declare_subscription_queue(channel, &config).await?;
            let delays = subscription.retry_delays();
            for delay_ms in delays {
                let queue = names::retry_queue(&subscription.queue, delay_ms);
                declare_queue(
                    channel,
                    &queue,
                    retry::arguments(&subscription.queue, delay_ms),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Declares the queue of a subscription and binds it to its topic or pattern (and,
    /// with dead-letter settings, the dead-letter topic's queue of unrouted messages).
    pub(super) async fn declare_subscription_queue(
        &self,
        channel: &Channel,
        config: &SubscriptionConfig,
    ) -> Result<(), BusError> {
        let options = &self.inner.options;
        let queue = options.queue_of(&config.name);
        let mut arguments = FieldTable::default();
        // A pattern has no one dead-letter topic: what the server drops from its queue is
        // lost, as without the setting (the runtime's own dead letters name the topic).
        if let Some(suffix) = options
            .dead_letter_suffix
            .as_ref()
            .filter(|_| !is_pattern(&config.topic))
        {
            let dead_letter_topic = format!("{}{suffix}", config.topic);
            // The dead-letter exchange, which no pattern binds to.
            let exchange = options.exchange_for(&dead_letter_topic);
            // Nobody subscribes to dead letters: they wait in the topic's own queue.
            declare_topic_queue(channel, &exchange, &dead_letter_topic).await?;
            arguments.insert("x-dead-letter-exchange".into(), long_string(&exchange));
            arguments.insert(
                "x-dead-letter-routing-key".into(),
                long_string(&dead_letter_topic),
            );
        }
        declare_queue(channel, &queue, arguments).await?;
        for (exchange, key) in options.bindings_of(&config.topic) {
            bind(channel, &queue, &exchange, &key).await?;
        }
        Ok(())
    }
}

/// Declares `exchange` (durable, of `kind`: topic or fanout) and its alternate exchange
/// of unrouted messages.
async fn declare_exchange(
    channel: &Channel,
    exchange: &str,
    kind: ExchangeKind,
) -> Result<(), BusError> {
    let kind_name = match kind {
        ExchangeKind::Fanout => "fanout",
        _ => "topic",
    };
    let unrouted = names::unrouted_exchange(exchange);
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
                     {kind_name} exchange with alternate-exchange `{unrouted}`): delete it or \
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
        .exchange_declare(exchange.into(), kind, durable, arguments)
        .await
        .map_err(|err| refused(exchange, err))
}

/// Declares a durable queue; one that exists with other arguments is refused, naming it.
pub(super) async fn declare_queue(
    channel: &Channel,
    queue: &str,
    arguments: FieldTable,
) -> Result<(), BusError> {
    channel
        .queue_declare(queue.into(), QueueDeclareOptions::durable(), arguments)
        .await
        .map(|_| ())
        .map_err(|err| {
            if reply_code(&err) == Some(406) {
                BusError::new(
                    BusErrorKind::InvalidArgument,
                    format!(
                        "queue `{queue}` exists with other settings (an older version, another \
                         dead-letter setting or another deployment without its own \
                         namespace made it): delete it and run `switchyard topics setup`, or \
                         give this deployment a namespace: {err}"
                    ),
                )
            } else {
                amqp(&format!("failed to declare queue `{queue}`"), err)
            }
        })
}

async fn bind(channel: &Channel, queue: &str, exchange: &str, key: &str) -> Result<(), BusError> {
    channel
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

/// Declares the queue of `topic`'s unrouted messages and binds it to the alternate
/// exchange of `exchange`.
pub(super) async fn declare_topic_queue(
    channel: &Channel,
    exchange: &str,
    topic: &str,
) -> Result<(), BusError> {
    let queue = names::topic_queue(exchange, topic);
    declare_queue(channel, &queue, FieldTable::default()).await?;
    bind(channel, &queue, &names::unrouted_exchange(exchange), topic).await
}
