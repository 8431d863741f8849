//! `switchyard bench identity --bus amqp://…` measures how the identity events reach
//! RabbitMQ: publish latency at a steady rate with publisher confirms (the identity
//! team's target is a p99 under 50 ms; ours is under 5 ms), through Switchyard — the
//! `Publisher` on `smap.events`, exactly as an identity change publishes after its commit —
//! beside plain lapin at the same rate, twice: with the payload alone, and with the very
//! AMQP message Switchyard sends (its CloudEvents and switchyard headers, `mandatory`),
//! which tells the cost of the message's shape on the server from the cost of
//! Switchyard's client path; and with dual publish on (each event and its legacy copy for
//! `smtp_send_email_exc`) beside off. Every pass runs open loop ([`paced`]): each publish
//! starts on time, so a slow confirm cannot hide the wait it causes.
//!
//! # `bench identity --json` keys (stable)
//!
//! - `benchmark`: `"identity"`; `bus`: `"rabbitmq"`; `rate`, `events`, `payload_bytes`;
//! - `raw`, `raw_same_message`, `switchyard`, `dual_publish`: each `{p50_ms, p99_ms,
//!   max_ms}`;
//! - `ratio`: `switchyard_p50`, `switchyard_p99` (over raw), `same_message_p50`,
//!   `same_message_p99` (switchyard over raw_same_message), `dual_publish_p50`,
//!   `dual_publish_p99` (dual over single);
//! - `target_p99_ms`: 5, `identity_team_target_p99_ms`: 50;
//! - `peak_rss_bytes`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use serde_json::json;
use switchyard_bus::SubscriptionConfig;
use switchyard_bus::measure::{paced, percentile_us};
use switchyard_contracts::Registry;
use switchyard_contracts::identity::{EMAIL_VERIFICATION_REQUESTED, EmailVerificationPayload};
use switchyard_identity::{LEGACY_EXCHANGE, prepare_events};
use switchyard_runtime::Publisher;

/// The shape of one `bench identity` run.
pub(super) struct IdentityWorkload {
    /// Events per second.
    pub(super) rate: f64,
    /// Events per pass.
    pub(super) events: usize,
}

/// Percentiles of one pass, in milliseconds.
fn figures(latencies: &[Duration]) -> serde_json::Value {
    json!({
        "p50_ms": percentile_us(latencies, 0.50) / 1000.0,
        "p99_ms": percentile_us(latencies, 0.99) / 1000.0,
        "max_ms": percentile_us(latencies, 1.0) / 1000.0,
    })
}

pub(super) async fn identity(
    url: Option<&str>,
    workload: &IdentityWorkload,
    json_output: bool,
) -> anyhow::Result<()> {
    let url = url
        .filter(|url| url.starts_with("amqp://") || url.starts_with("amqps://"))
        .context("bench identity measures RabbitMQ: give --bus amqp://…")?;
    ensure!(
        workload.events > 0 && workload.rate > 0.0,
        "--events and --rate must be positive"
    );
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let urls = crate::backends::EngineUrls {
        bus: Some(url.to_string()),
        ..crate::backends::EngineUrls::default()
    };
    let engines = crate::backends::open(&urls, dir.path())
        .await
        .map_err(anyhow::Error::new)?;
    // Queues of this run on both destinations, so that nothing goes unrouted.
    let id = uuid::Uuid::now_v7().simple();
    let subscriptions = [
        (format!("bench-identity-{id}"), EMAIL_VERIFICATION_REQUESTED),
        (format!("bench-identity-legacy-{id}"), LEGACY_EXCHANGE),
    ];
    for (name, topic) in &subscriptions {
        engines
            .broker
            .ensure_subscription(&SubscriptionConfig::new(name, *topic))
            .await?;
    }
    let registry = Arc::new(Registry::standard());
    let publisher = Publisher::new(engines.broker.clone(), registry.clone());
    // Prepared before the clock starts: production checks the contract when it commits.
    let events = |dual_publish: bool| -> anyhow::Result<Vec<_>> {
        (0..workload.events)
            .map(|index| {
                let user_id = format!("bench-{index}");
                let payload = EmailVerificationPayload {
                    user_id: user_id.clone(),
                    recipient: format!("user{index}@example.com"),
                    otp_code: format!("{:06}", index % 1_000_000),
                    locale: "en".into(),
                    expires_at: chrono::Utc::now() + chrono::Duration::minutes(10),
                };
                prepare_events(
                    &registry,
                    dual_publish,
                    EMAIL_VERIFICATION_REQUESTED,
                    &user_id,
                    serde_json::to_value(payload).expect("a payload serializes"),
                )
                .map_err(anyhow::Error::new)
            })
            .collect()
    };
    let measure = |events: Vec<Vec<switchyard_contracts::Outbound>>| {
        let events = Arc::new(events);
        let publisher = publisher.clone();
        async move {
            paced(workload.rate, workload.events, |index| {
                let (publisher, events) = (publisher.clone(), events.clone());
                async move { publisher.publish_prepared(events[index].clone()).await }
            })
            .await
        }
    };
    let single_events = events(false)?;
    let sent = &single_events[0][0];
    let message = switchyard_bus::Message {
        key: Some(sent.partition_key.clone()),
        headers: sent.headers.clone(),
        payload: sent.payload.clone(),
    };
    let payload = message.payload.clone();
    let single = measure(single_events).await;
    let dual = match &single {
        Ok(_) => Some(measure(events(true)?).await),
        Err(_) => None,
    };
    drop(publisher);
    drop(engines);
    for (name, topic) in &subscriptions {
        switchyard_rabbitmq::remove_bench_queues(url, name, topic)
            .await
            .context("failed to delete the bench queues")?;
    }
    let single = single.context("publishing through switchyard failed")?;
    let dual = dual
        .expect("measured after the single pass succeeded")
        .context("dual publishing through switchyard failed")?;
    let raw =
        switchyard_rabbitmq::raw_amqp_paced(url, &message, false, workload.rate, workload.events)
            .await
            .context("raw AMQP benchmark failed")?;
    let same_message =
        switchyard_rabbitmq::raw_amqp_paced(url, &message, true, workload.rate, workload.events)
            .await
            .context("raw AMQP benchmark failed")?;

    let ratio = |a: &[Duration], b: &[Duration], quantile: f64| {
        percentile_us(a, quantile) / percentile_us(b, quantile).max(f64::MIN_POSITIVE)
    };
    let result = json!({
        "benchmark": "identity",
        "bus": "rabbitmq",
        "rate": workload.rate,
        "events": workload.events,
        "payload_bytes": payload.len(),
        "raw": figures(&raw),
        "raw_same_message": figures(&same_message),
        "switchyard": figures(&single),
        "dual_publish": figures(&dual),
        "ratio": {
            "switchyard_p50": ratio(&single, &raw, 0.50),
            "switchyard_p99": ratio(&single, &raw, 0.99),
            "same_message_p50": ratio(&single, &same_message, 0.50),
            "same_message_p99": ratio(&single, &same_message, 0.99),
            "dual_publish_p50": ratio(&dual, &single, 0.50),
            "dual_publish_p99": ratio(&dual, &single, 0.99),
        },
        "target_p99_ms": 5,
        "identity_team_target_p99_ms": 50,
        "peak_rss_bytes": super::peak_rss_bytes(),
    });
    if json_output {
        println!("{result}");
        return Ok(());
    }
    println!(
        "identity events on rabbitmq: {} events at {}/s with confirms, {} bytes each",
        workload.events,
        workload.rate,
        payload.len()
    );
    println!(
        "{:<22} {:>9} {:>9} {:>9}",
        "pass", "p50 ms", "p99 ms", "max ms"
    );
    for (label, latencies) in [
        ("raw lapin", &raw),
        ("raw, same message", &same_message),
        ("switchyard", &single),
        ("switchyard dual", &dual),
    ] {
        println!(
            "{label:<22} {:>9.2} {:>9.2} {:>9.2}",
            percentile_us(latencies, 0.50) / 1000.0,
            percentile_us(latencies, 0.99) / 1000.0,
            percentile_us(latencies, 1.0) / 1000.0
        );
    }
    println!(
        "switchyard/raw p50 {:.2} p99 {:.2}; over the same message p50 {:.2} p99 {:.2}; dual/single p50 {:.2} p99 {:.2}; peak RSS {} MiB",
        ratio(&single, &raw, 0.50),
        ratio(&single, &raw, 0.99),
        ratio(&single, &same_message, 0.50),
        ratio(&single, &same_message, 0.99),
        ratio(&dual, &single, 0.50),
        ratio(&dual, &single, 0.99),
        super::peak_rss_bytes().unwrap_or_default() / 1_048_576
    );
    Ok(())
}
