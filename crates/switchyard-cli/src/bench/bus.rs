//! `switchyard bench bus` measures one bus (`--bus`, embedded when absent) through the `Broker` trait, then
//! the same workload on the raw engine in the same run (plain async-nats JetStream or
//! plain lapin, from `switchyard_nats::raw_jetstream` and `switchyard_rabbitmq::raw_amqp`),
//! so the ratios show what Switchyard costs over its engine. The workload, on a fresh
//! unique topic whose subscription exists before the first publish:
//!
//! 1. throughput: `--messages` payloads of `--size` bytes, published
//!    [`PUBLISH_BATCH`] per call, each call awaited (publish-ack);
//! 2. drain: fetch [`FETCH_BATCH`] at a time and ack until every message was consumed
//!    once (the raw NATS loop pulls the same batches with double acks; the raw AMQP loop
//!    consumes with RabbitMQ's default prefetch and acks each delivery);
//! 3. latency: `--latency-samples` publishes of one message, each timed until acked.
//!
//! Streams and queues the run created are deleted at the end (the embedded bus lives in
//! a scratch directory).
//!
//! # `bench bus --json` keys (stable)
//!
//! - `benchmark`: `"bus"`; `bus`: `"embedded"`, `"nats"` or `"rabbitmq"` (never the URL);
//! - `messages`, `payload_bytes`, `publish_batch`, `fetch_batch`, `latency_samples`: the
//!   workload;
//! - `switchyard` and `raw` (`null` for the embedded bus), each an object of figures:
//!   - `publish_per_sec`: messages/s of pass 1;
//!   - `consume_per_sec`: messages/s of pass 2 alone;
//!   - `end_to_end_per_sec`: messages/s from the first publish of pass 1 until the last
//!     ack of pass 2 (consumption starts once publishing ended);
//!   - `ack_p50_us`, `ack_p99_us`: percentiles of pass 3, microseconds;
//! - `ratio` (`null` without `raw`): `switchyard / raw` for each figure key, so throughput
//!   ratios below 1 and latency ratios above 1 are Switchyard's overhead.

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;
use switchyard_bus::measure::{per_sec, percentile_us};
use switchyard_bus::{Broker, Message, SubscriptionConfig};

/// Messages per `publish` call in the throughput pass of `bench bus`.
const PUBLISH_BATCH: usize = 100;
/// Messages per `fetch` in the drain pass of `bench bus`.
const FETCH_BATCH: usize = 500;
/// How long the drain pass of `bench bus` waits for a message before it gives up.
const DRAIN_STALL_LIMIT: Duration = Duration::from_secs(30);

// The raw NATS loop must pull what the Switchyard path fetches.
#[cfg(feature = "nats")]
const _: () = assert!(FETCH_BATCH == switchyard_nats::FETCH_BATCH);

/// The shape of one `bench bus` run.
pub(super) struct BusWorkload {
    pub(super) messages: usize,
    pub(super) payload_bytes: usize,
    pub(super) latency_samples: usize,
}

/// What one side (Switchyard or the raw engine) of `bench bus` measured.
#[derive(Debug, Clone, Copy, PartialEq)]
struct BusFigures {
    publish_per_sec: f64,
    consume_per_sec: f64,
    end_to_end_per_sec: f64,
    ack_p50_us: f64,
    ack_p99_us: f64,
}

impl BusFigures {
    /// The JSON keys, in the order of [`BusFigures::values`].
    const KEYS: [&'static str; 5] = [
        "publish_per_sec",
        "consume_per_sec",
        "end_to_end_per_sec",
        "ack_p50_us",
        "ack_p99_us",
    ];
    /// What the text table calls the figures, in the same order.
    const LABELS: [&'static str; 5] = [
        "publish msgs/s",
        "consume msgs/s",
        "end-to-end msgs/s",
        "publish-ack p50 us",
        "publish-ack p99 us",
    ];

    fn values(&self) -> [f64; 5] {
        [
            self.publish_per_sec,
            self.consume_per_sec,
            self.end_to_end_per_sec,
            self.ack_p50_us,
            self.ack_p99_us,
        ]
    }

    fn to_json(self) -> serde_json::Value {
        Self::KEYS
            .iter()
            .zip(self.values())
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// `self / raw` for each figure.
    fn ratios(&self, raw: &BusFigures) -> [f64; 5] {
        let mut ratios = self.values();
        for (ratio, raw) in ratios.iter_mut().zip(raw.values()) {
            *ratio /= raw;
        }
        ratios
    }
}

/// The engine a bus URL names, as `bench bus` reports it.
fn bus_engine(url: Option<&str>) -> anyhow::Result<&'static str> {
    let Some(url) = url else {
        return Ok("embedded");
    };
    match url.split_once("://").map_or("", |(scheme, _)| scheme) {
        "nats" => Ok("nats"),
        "amqp" | "amqps" => Ok("rabbitmq"),
        scheme => anyhow::bail!("unsupported bus URL scheme `{scheme}`: use nats:// or amqp://"),
    }
}

pub(super) async fn bus(
    url: Option<&str>,
    workload: &BusWorkload,
    json_output: bool,
) -> anyhow::Result<()> {
    ensure!(workload.messages > 0, "--messages must be positive");
    let engine = bus_engine(url)?;
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let urls = crate::backends::EngineUrls {
        bus: url.map(str::to_string),
        ..crate::backends::EngineUrls::default()
    };
    let engines = crate::backends::open(&urls, dir.path())
        .await
        .map_err(anyhow::Error::new)?;
    let id = uuid::Uuid::now_v7().simple();
    let topic = format!("bench.bus.{id}");
    let subscription = format!("bench-bus-{id}");
    let switchyard = bus_switchyard_pass(engines.broker.as_ref(), &topic, &subscription, workload)
        .await
        .context("switchyard bus benchmark failed");
    drop(engines);
    let cleanup = remove_bus_bench_objects(url, &subscription, &topic).await;
    let switchyard = switchyard?;
    cleanup?;
    let raw = bus_raw_pass(url, workload).await?;

    let ratio = raw.map(|raw| switchyard.ratios(&raw));
    let result = json!({
        "benchmark": "bus",
        "bus": engine,
        "messages": workload.messages,
        "payload_bytes": workload.payload_bytes,
        "publish_batch": PUBLISH_BATCH,
        "fetch_batch": FETCH_BATCH,
        "latency_samples": workload.latency_samples,
        "switchyard": switchyard.to_json(),
        "raw": raw.map(BusFigures::to_json),
        "ratio": ratio.map(|ratio| BusFigures::KEYS
            .iter()
            .zip(ratio)
            .map(|(key, value)| (key.to_string(), json!(value)))
            .collect::<serde_json::Map<_, _>>()),
    });
    if json_output {
        println!("{result}");
        return Ok(());
    }
    println!(
        "bus {engine}: {} messages of {} bytes (publish batch {PUBLISH_BATCH}, fetch batch {FETCH_BATCH}, {} latency samples)",
        workload.messages, workload.payload_bytes, workload.latency_samples
    );
    println!(
        "{:<20} {:>12} {:>12} {:>8}",
        "figure", "switchyard", "raw", "ratio"
    );
    for (index, label) in BusFigures::LABELS.iter().enumerate() {
        let shown = |value: Option<f64>, decimals: usize| {
            value.map_or("-".to_string(), |value| format!("{value:.decimals$}"))
        };
        println!(
            "{label:<20} {:>12} {:>12} {:>8}",
            shown(Some(switchyard.values()[index]), 0),
            shown(raw.map(|raw| raw.values()[index]), 0),
            shown(ratio.map(|ratio| ratio[index]), 2),
        );
    }
    Ok(())
}

/// The `bench bus` workload through the `Broker` trait.
async fn bus_switchyard_pass(
    broker: &dyn Broker,
    topic: &str,
    subscription: &str,
    workload: &BusWorkload,
) -> anyhow::Result<BusFigures> {
    broker
        .ensure_subscription(&SubscriptionConfig::new(subscription, topic))
        .await?;
    let payload = vec![b'x'; workload.payload_bytes];
    let started = Instant::now();
    let mut published = 0;
    while published < workload.messages {
        let count = PUBLISH_BATCH.min(workload.messages - published);
        let batch = (0..count).map(|_| Message::new(payload.clone())).collect();
        broker.publish(topic, batch).await?;
        published += count;
    }
    let publish_elapsed = started.elapsed();
    let drain_started = Instant::now();
    let mut consumed = 0;
    let mut last_progress = Instant::now();
    while consumed < workload.messages {
        let batch = broker
            .fetch(subscription, FETCH_BATCH, Duration::from_millis(100))
            .await?;
        if batch.is_empty() {
            ensure!(
                last_progress.elapsed() < DRAIN_STALL_LIMIT,
                "only {consumed} of {} messages arrived",
                workload.messages
            );
            continue;
        }
        last_progress = Instant::now();
        let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
        broker.ack(subscription, &tags).await?;
        consumed += tags.len();
    }
    let drain_elapsed = drain_started.elapsed();
    let end_to_end_elapsed = started.elapsed();
    let mut latencies = Vec::with_capacity(workload.latency_samples);
    for _ in 0..workload.latency_samples {
        let sent = Instant::now();
        broker
            .publish(topic, vec![Message::new(payload.clone())])
            .await?;
        latencies.push(sent.elapsed());
    }
    latencies.sort_unstable();
    Ok(BusFigures {
        publish_per_sec: per_sec(workload.messages, publish_elapsed),
        consume_per_sec: per_sec(workload.messages, drain_elapsed),
        end_to_end_per_sec: per_sec(workload.messages, end_to_end_elapsed),
        ack_p50_us: percentile_us(&latencies, 0.50),
        ack_p99_us: percentile_us(&latencies, 0.99),
    })
}

/// The `bench bus` workload on the raw engine; `None` for the embedded bus.
#[cfg_attr(
    not(all(feature = "nats", feature = "rabbitmq")),
    allow(unused_variables)
)]
async fn bus_raw_pass(
    url: Option<&str>,
    workload: &BusWorkload,
) -> anyhow::Result<Option<BusFigures>> {
    let engine = bus_engine(url)?;
    let url = url.unwrap_or_default();
    match engine {
        #[cfg(feature = "nats")]
        "nats" => {
            let raw = switchyard_nats::raw_jetstream(
                url,
                workload.messages,
                workload.payload_bytes,
                PUBLISH_BATCH,
                workload.latency_samples,
            )
            .await
            .context("raw JetStream benchmark failed")?;
            Ok(Some(BusFigures {
                publish_per_sec: raw.publish_per_sec,
                consume_per_sec: raw.consume_per_sec,
                end_to_end_per_sec: raw.end_to_end_per_sec,
                ack_p50_us: raw.ack_p50_us,
                ack_p99_us: raw.ack_p99_us,
            }))
        }
        #[cfg(feature = "rabbitmq")]
        "rabbitmq" => {
            let raw = switchyard_rabbitmq::raw_amqp(
                url,
                workload.messages,
                workload.payload_bytes,
                PUBLISH_BATCH,
                workload.latency_samples,
            )
            .await
            .context("raw AMQP benchmark failed")?;
            Ok(Some(BusFigures {
                publish_per_sec: raw.publish_per_sec,
                consume_per_sec: raw.consume_per_sec,
                end_to_end_per_sec: raw.end_to_end_per_sec,
                ack_p50_us: raw.ack_p50_us,
                ack_p99_us: raw.ack_p99_us,
            }))
        }
        _ => Ok(None),
    }
}

/// Deletes the stream or queues the Switchyard pass of `bench bus` left on a server.
#[cfg_attr(
    not(all(feature = "nats", feature = "rabbitmq")),
    allow(unused_variables)
)]
async fn remove_bus_bench_objects(
    url: Option<&str>,
    subscription: &str,
    topic: &str,
) -> anyhow::Result<()> {
    let engine = bus_engine(url)?;
    let url = url.unwrap_or_default();
    match engine {
        #[cfg(feature = "nats")]
        "nats" => {
            switchyard_nats::remove_bench_topic(url, topic)
                .await
                .context("failed to delete the bench stream")?;
        }
        #[cfg(feature = "rabbitmq")]
        "rabbitmq" => switchyard_rabbitmq::remove_bench_queues(url, subscription, topic)
            .await
            .context("failed to delete the bench queues")?,
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines_by_url() {
        assert_eq!(bus_engine(None).unwrap(), "embedded");
        assert_eq!(bus_engine(Some("nats://127.0.0.1:4222")).unwrap(), "nats");
        assert_eq!(
            bus_engine(Some("amqp://guest:guest@h/%2f")).unwrap(),
            "rabbitmq"
        );
        assert!(bus_engine(Some("kafka://h")).is_err());
    }

    #[test]
    fn figure_keys_are_stable() {
        let figures = BusFigures {
            publish_per_sec: 2.0,
            consume_per_sec: 4.0,
            end_to_end_per_sec: 1.0,
            ack_p50_us: 100.0,
            ack_p99_us: 300.0,
        };
        assert_eq!(
            figures.to_json(),
            json!({"publish_per_sec": 2.0, "consume_per_sec": 4.0, "end_to_end_per_sec": 1.0, "ack_p50_us": 100.0, "ack_p99_us": 300.0})
        );
        let raw = BusFigures {
            publish_per_sec: 4.0,
            consume_per_sec: 4.0,
            end_to_end_per_sec: 2.0,
            ack_p50_us: 50.0,
            ack_p99_us: 100.0,
        };
        assert_eq!(figures.ratios(&raw), [0.5, 1.0, 0.5, 2.0, 3.0]);
    }
}
