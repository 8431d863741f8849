//! Switchyard's [`Broker`](switchyard_bus::Broker) on NATS JetStream: [`NatsBroker`],
//! configured by [`NatsOptions`].
//!
//! ```no_run
//! # async fn run() -> Result<(), switchyard_bus::BusError> {
//! use std::time::Duration;
//! use switchyard_bus::{Broker, Message, SubscriptionConfig};
//! use switchyard_nats::{NatsBroker, NatsOptions};
//!
//! let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
//! let broker = NatsBroker::connect(&url, NatsOptions::default()).await?;
//! broker.ensure_subscription(&SubscriptionConfig::new("indexer", "emails")).await?;
//! broker.publish("emails", vec![Message::new(b"hello".to_vec())]).await?;
//! let batch = broker.fetch("indexer", 10, Duration::from_secs(1)).await?;
//! broker.ack("indexer", &batch.iter().map(|d| d.tag).collect::<Vec<_>>()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Mapping
//!
//! - **Topic → one stream** named `{prefix}_{topic}` (`.`, `-` and other characters a
//!   stream name cannot hold become `_`; default prefix `SWITCHYARD`), capturing exactly
//!   one subject, `{prefix}.{topic}`, so that deployments with different prefixes share
//!   a server. One stream per topic, rather than one stream for all topics, keeps every topic's sequence dense (browse, `published = last_seq`),
//!   gives each topic its own limits and lets `remove` and `topics` work per stream. Two
//!   topics whose stream names collide (`a.b` and `a-b`) are refused, not merged.
//!   Streams use file storage and *limits* retention with `max_age`
//!   ([`NatsOptions::max_age`], 7 days by default): *interest* retention would drop
//!   messages published before the first subscription exists, and the bus promises that a
//!   new subscription starts at the oldest message held.
//! - **Subscription → a durable pull consumer** on the topic's stream, named after the
//!   subscription (characters a consumer name cannot hold become `_`; the exact name is
//!   kept in the consumer description). Explicit acks, `ack_wait` = the ack deadline,
//!   deliver policy *all*, unlimited deliveries. Pull rather than push: consumers sharing a
//!   subscription share its messages, and at most one message per process is
//!   delivered before a fetch asks for it.
//!   `ensure_subscription` creates the stream and the consumer when missing and updates the
//!   ack wait when it changed.
//! - **Pattern subscription** (`email.#`) **→ a stream of its own**,
//!   `{prefix}_pattern-{subscription}` (described `switchyard pattern {pattern}
//!   {subscription}`), that *sources* every topic stream whose topic the pattern matches,
//!   and a consumer on it as above. A consumer reads one stream, so a pattern spanning
//!   topics needs one stream that gathers them; patterns are matched by the bus's
//!   `pattern_matches` rather than by NATS wildcards (`>` matches one or more tokens, the
//!   bus's `#` zero or more). Sourced messages keep their subject, so `Delivery::topic` is
//!   the concrete topic. The sources follow the topics: set when the subscription is
//!   ensured, and extended when a process creates a topic stream the pattern matches (see
//!   the `patterns` module). A source starts at the oldest message its topic holds, so a
//!   new pattern subscription starts, like any other, at the oldest messages held. No
//!   pattern stream sources a dead-letter topic's stream (`{topic}.dlq.v1`,
//!   `email.errors`: the bus's `is_dead_letter_topic`), so dead letters stay out of
//!   pattern subscriptions and in the stream that `browse` reads.
//! - **Publish**: one JetStream publish per message, all sent before any acknowledgement
//!   is awaited (bounded by [`NatsOptions::max_publish_inflight`]); `publish` returns once
//!   the stream acknowledged every message. Headers keep their names, values and order;
//!   the key travels in `Switchyard-Key`; `Nats-Msg-Id` = the `ce-id` header, so a batch
//!   re-published after a partial failure is stored once within
//!   [`NatsOptions::duplicate_window`].
//! - **Fetch**: pull requests without `expires`, at most one open per subscription and
//!   process: a `no_wait` request for the batch takes what is there; when it finds nothing,
//!   a request for one message waits (and stays open across fetches until a message
//!   comes), then a `no_wait` request takes the rest, so a partial batch is returned as
//!   soon as it is there. A request is never abandoned while the server may hold it: what
//!   it delivers after a fetch returned is kept for the next fetch. (nats-server before
//!   2.10.14 can park a redelivery until the next ack wait when a pull request expires as
//!   it falls due; see the `pull` module.) The delivery tag is the stream sequence;
//!   `delivery_count` is JetStream's delivered count.
//! - **Settle**: `ack` sends `+ACK`, `nack` `-NAK` with the delay, `release` a plain `-NAK`
//!   (redelivered at once); each waits for the server's confirmation (double ack), so an
//!   acknowledged message is durably acknowledged. Unknown tags are ignored.
//! - **Browse / remove**: direct reads by sequence (`STREAM.MSG.GET`, next message of the
//!   subject, so deleted sequences are skipped) and `STREAM.MSG.DELETE`.
//! - **Stats**: `topics()` lists the prefix's streams (`published` = last sequence,
//!   `held` = messages); `stats()` every consumer of those streams (`backlog` =
//!   `num_pending`, `unacked` = `num_ack_pending`, which includes nacked messages waiting
//!   out their delay).
//!
//! # Connection loss
//!
//! The client reconnects for ever: at once, then after pauses doubling from 0.1 s up to
//! 1 s, each shortened at random by up to half. Calls made meanwhile wait in the client
//! for at most [`NatsOptions::request_timeout`] and then fail as unavailable (retryable).
//! A publish waits for each message's acknowledgement at most `request_timeout` from its
//! sending, so a batch fails within about one timeout of its last message, not one per
//! message; what failed so may still have been stored, and publishing it again is
//! deduplicated by `Nats-Msg-Id`. A fetch sends no pull request while disconnected: it waits within its
//! `max_wait` and fails as unavailable if the connection is not back. Pull requests sent
//! before a reconnect are replaced after it (a restarted server has forgotten them), so
//! consuming resumes by itself. `ping` answers unavailable at once while disconnected.
//!
//! # Limitations
//!
//! - **Retry counts live in this process.** JetStream cannot tell a nack from an expired
//!   ack wait, so nacks are counted in memory per (subscription, sequence). A restart
//!   resets them: a message may then get up to `max_retries` extra tries, never fewer.
//!   Likewise the ack handles of deliveries fetched before a restart are gone; those
//!   messages come back after their ack deadline.
//! - A message delivered to a fetch's waiting request after that fetch returned is held
//!   in this process until the next fetch of the subscription; if none comes within the
//!   ack deadline, the server redelivers it.
//! - Messages leave a stream by age (`max_age`) or `remove`, not when every subscription
//!   acknowledged them: `held` counts acknowledged messages too.
//! - A publish acknowledgement means the server stored the message; a single server
//!   flushes its files to disk periodically, so use `replicas: 3` for power-loss safety.
//! - NATS trims spaces around header values (and the key); headers named
//!   `Switchyard-Key`, `Switchyard-Header-Order` or `Nats-Msg-Id` are reserved.
//! - Topics must be literal NATS subjects (no whitespace, `*`, `>`, a `#` token, empty
//!   tokens or leading `$`).
//! - **Pattern subscriptions** see the sources of the topic streams they match as of the
//!   last time their stream or a matching topic stream was set up: a topic stream created
//!   by a process of an older version, or whose sourcing failed (a warning is logged),
//!   joins when the pattern subscription is next ensured.
//!   Their stream drops a sourced message whose `Nats-Msg-Id` it stored less than 100 ms
//!   before (the shortest duplicate window), e.g. a message and its dead letter published
//!   within 100 ms of each other to two topics one pattern matches.
#![warn(missing_docs)]

mod api;
mod broker;
mod codec;
mod config;
mod delivery;
mod error;
mod patterns;
mod pull;
#[cfg(feature = "bench")]
mod raw_bench;
mod topology;

pub use broker::NatsBroker;
pub use config::NatsOptions;
#[cfg(feature = "bench")]
pub use raw_bench::{
    ACK_CONCURRENCY, FETCH_BATCH, RawJetStreamFigures, raw_jetstream, remove_bench_topic,
};
