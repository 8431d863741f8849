//! Switchyard's broker backend on RabbitMQ: [`RabbitBroker`] implements the bus's
//! [`Broker`](switchyard_bus::Broker) trait over AMQP 0-9-1 (the `lapin` client) and
//! passes its conformance suite.
//!
//! # The mapping, and why
//!
//! | Bus concept | RabbitMQ |
//! |---|---|
//! | event set | one durable **topic exchange** per event set: [`RabbitOptions::exchange`] (`switchyard.events` by default), and [`RabbitOptions::topic_exchanges`] for the topics of other sets (the identity set's go through `smap.events`) |
//! | legacy fanout topic | [`RabbitOptions::fanout_exchanges`]: a topic listed there goes to a durable **fanout exchange** of its name (`smtp_send_email_exc`), which legacy consumers bind their own queues to; its subscriptions bind there too |
//! | topic | routing key (`[A-Za-z0-9_.-]`, so never a wildcard) |
//! | subscription | durable queue named after it, bound with the topic as binding key |
//! | dead-letter topic (`{topic}.dlq.v1`, `email.errors`: `switchyard_bus::is_dead_letter_topic`) | routing key of the **dead-letter exchange** `{exchange}.dead-letters` (durable topic exchange, with its own alternate exchange) of the topic exchange its topic goes through, one per topic exchange; no pattern binds to it (below) |
//! | pattern subscription (`email.#`, `subscription.*`) | durable queue bound with the pattern as binding key to every exchange a matching topic may be published to (below), never to a dead-letter exchange |
//! | publish | persistent messages (`delivery_mode` 2) on a publisher-confirm channel; returns when every message is confirmed, i.e. stored by every queue it reached |
//! | headers, key | AMQP headers, plus `x-switchyard-key` and `x-switchyard-header-order` (see below) |
//! | fetch | one consumer per subscription and process, prefetch [`RabbitOptions::prefetch`], buffering pushed deliveries |
//! | ack deadline | enforced by this client: an unsettled delivery older than the deadline is rejected with requeue, so the server delivers it again |
//! | server-side dead letters | with [`RabbitOptions::dead_letter_suffix`], a subscription queue's `x-dead-letter-exchange` is the dead-letter exchange of its topic, routing key `{topic}.dlq.v1`: what the server drops (a length or TTL policy, a reject without requeue) joins the runtime's dead letters there |
//! | nack(delay) | a copy goes to `{subscription}.retry.{delay_ms}` (message TTL = delay, dead-lettered through the default exchange back into the subscription queue), then the original is acked |
//! | release | reject with requeue |
//! | browse, remove, topics | `{exchange}:{topic}` queues of unrouted messages (below) |
//!
//! **Fan-out and competition.** Each subscription is its own queue, so every subscription
//! of a topic receives every message; consumers sharing a subscription share its queue
//! and compete for its messages, across processes too.
//!
//! **Pattern subscriptions.** A topic exchange gives binding keys exactly the bus's pattern
//! meaning (`*` one word, `#` zero or more), so a pattern subscription is a queue bound
//! with the pattern. Topics of one pattern may go through several exchanges, so the queue
//! is bound to the default [`RabbitOptions::exchange`] (where every unlisted topic goes),
//! to each exchange of [`RabbitOptions::topic_exchanges`] whose topic (or whose topic's
//! dead-letter topic) the pattern matches, and to the fanout exchange of each fanout topic
//! it matches; a message is published to one exchange, so it reaches the queue once.
//! `Delivery::topic` is the message's routing key, and a retry copy carries its topic in
//! `x-switchyard-topic` (it comes back with the retry queue's name as routing key). A
//! pattern subscription starts empty like any other; [`RabbitOptions::dead_letter_suffix`]
//! does not apply to its queue (a pattern names no one dead-letter topic), so what the
//! server itself drops from it is lost.
//!
//! **Dead-letter topics.** A pattern never matches a dead-letter topic (the bus's rule),
//! but a binding key cannot exclude topics: `email.#` bound to an exchange takes
//! `email.errors` published there. So dead-letter topics go through exchanges of their
//! own, `{exchange}.dead-letters`, one per topic exchange (the identity set's
//! `email.verification.requested.dlq.v1` through `smap.events.dead-letters`; a fanout
//! topic's through the default exchange's), which pattern bindings leave out. Nothing
//! takes a dead letter there but an exact subscription to its topic, so it stays in
//! `{exchange}.dead-letters:{topic}` for `browse`, `remove` and `topics()`, like any
//! unrouted message. [`RabbitOptions::exchange_for`] gives the exchange of any topic.
//!
//! **Fanout exchanges.** A topic in [`RabbitOptions::fanout_exchanges`] is published, with
//! the topic as routing key, to a durable fanout exchange of its name (namespace applied),
//! declared with an alternate exchange like the topic exchanges: what no queue is bound
//! for (no legacy consumer, no subscription) waits in `{name}:{topic}` for `browse`. Its
//! dead-letter topic goes to the topic exchange, not to the legacy consumers. An existing
//! exchange of that name must have the same settings (durable fanout, alternate-exchange
//! `{name}.unrouted`), else connecting fails naming it.
//!
//! **Messages nobody subscribed to.** RabbitMQ drops a message no queue is bound for. To
//! keep them (dead-letter topics usually have no subscription), each topic exchange (and
//! dead-letter exchange) has an *alternate exchange* `{exchange}.unrouted` (direct), where
//! each topic published to has a durable queue `{exchange}:{topic}` bound with the topic
//! as key. A
//! message reaches that queue only when no subscription took it, so it costs nothing for
//! subscribed topics, and it lasts until `remove`. `browse` takes every message of that
//! queue without acking, sorts them by position, and gives them all back (RabbitMQ puts
//! requeued messages back in their places); `remove` acks the named ones. A position is
//! the `x-switchyard-seq` header, set once at publish: nanoseconds since the Unix epoch,
//! strictly increasing per process. Positions stay valid while other messages come and
//! go, so `remove` never deletes the wrong message, which plain queue offsets could not
//! promise.
//!
//! **Redelivery counts.** Classic queues only say whether a delivery is a redelivery, so
//! `delivery_count` is 1, or 2 for any redelivery, plus the deliveries before the last
//! `nack` (carried by the retry copy in `x-switchyard-deliveries`). `retry_count` is exact:
//! the retry copy carries `x-switchyard-retries`.
//!
//! **Delayed retries without blocking.** A retry queue holds messages of one delay only,
//! so the oldest always expires first and a long delay never holds up a short one; the
//! subscription queue keeps flowing meanwhile. Retry queues delete themselves
//! (`x-expires`) after standing unused for twice their delay plus a minute.
//!
//! # Limitations
//!
//! - **Counts are partly local.** AMQP offers no listing of queues and no count of
//!   messages ever published, and reports only *ready* messages of a queue. So `published`
//!   counts what this process published (at least what is held), `topics()` lists the
//!   topics this process used plus [`RabbitOptions::known_topics`], and `stats()` lists
//!   the subscriptions ensured in this process, counting as unacked only deliveries this
//!   process holds and retries waiting in retry queues this process used.
//! - **Subscriptions start empty.** A new subscription gets messages published after it
//!   was created, not older ones (they may sit in the topic's unrouted queue).
//! - **A subscription must be ensured in the process that fetches from it**, which is how
//!   its topic and ack deadline are known; otherwise `fetch` reports
//!   [`UnknownSubscription`](switchyard_bus::BusErrorKind::UnknownSubscription). Binding
//!   one subscription name to two topics from two processes is not detected.
//! - **Order.** A queue is FIFO, so per-key order holds for first deliveries; a redelivery
//!   (release, expired deadline) goes back near the head, and a retry to the tail.
//! - **`browse` reads the whole topic queue** on every call, one message at a time: fine
//!   for dead letters, not for large backlogs. Concurrent `browse`/`remove` from several
//!   processes see each other's messages as missing while they run.
//!
//! # Reconnection
//!
//! The broker owns one connection and opens it again whenever it dies (a node restart,
//! a network drop): the next call that needs the server reconnects, with a growing,
//! jittered pause between failed attempts (100 ms up to 1 s) during which calls fail at
//! once with [`Unavailable`](switchyard_bus::BusErrorKind::Unavailable). On the new
//! connection it declares its topology again (exchanges, every subscription's queue and
//! binding, the retry queues in use; topic queues on their next publish), and each
//! subscription's consumer starts again on its next `fetch`. What the old connection held
//! unacked, the server requeues; acks of deliveries fetched on it are skipped (those
//! messages come again, so consumers must deduplicate, as the runtime does); a publish
//! whose confirms were outstanding fails and is sent again by its caller.
//! [`Broker::ping`](switchyard_bus::Broker::ping) also reconnects, so a readiness probe
//! brings an idle broker back.
//!
//! No call waits on the server for ever: each request (a declaration, a channel, a
//! consumer's start, a chunk of publishes and its confirms, a settle) gets at most
//! `connect_timeout_ms`. A request without an answer fails with `Unavailable` and the
//! connection is given up, so the next call opens a new one; a settle without an answer
//! fails the same way and its deliveries come again.
//!
//! # Namespaces
//!
//! [`RabbitOptions::namespace`] puts `{namespace}.` before the name of every object the
//! broker creates (exchanges, subscription and retry queues, the queues of unrouted
//! messages), so several deployments share one server without seeing each other.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), switchyard_bus::BusError> {
//! use std::time::Duration;
//! use switchyard_bus::{Broker, Message, SubscriptionConfig};
//! use switchyard_rabbitmq::{DEFAULT_AMQP_URL, RabbitBroker, RabbitOptions};
//!
//! let broker = RabbitBroker::connect(DEFAULT_AMQP_URL, RabbitOptions::default()).await?;
//! broker.ensure_subscription(&SubscriptionConfig::new("indexer", "emails")).await?;
//! broker.publish("emails", vec![Message::new(b"hello".to_vec())]).await?;
//! let batch = broker.fetch("indexer", 10, Duration::from_secs(1)).await?;
//! broker.ack("indexer", &[batch[0].tag]).await?;
//! broker.close().await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod broker;
mod channels;
mod codec;
mod config;
mod error;
mod link;
mod names;
#[cfg(feature = "bench")]
mod raw_bench;
mod subscription;

pub use broker::RabbitBroker;
pub use config::{AMQP_URL_ENV, DEFAULT_AMQP_URL, DEFAULT_EXCHANGE, RabbitOptions};
#[cfg(feature = "bench")]
pub use raw_bench::{RawAmqpFigures, raw_amqp, raw_amqp_paced, remove_bench_queues};
