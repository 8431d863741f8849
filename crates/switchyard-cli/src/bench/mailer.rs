//! `switchyard bench mailer --smtp smtp://127.0.0.1:2525` measures the mailer against a
//! local SMTP server that accepts everything (`python3 -m aiosmtpd -n -l
//! 127.0.0.1:2525`): N verification events published on the embedded bus, then the
//! mailer role's consumer (subscription `smtp_send_email_v2` on `email.#`, dedupe, the
//! handler's render and send) until its lag is 0; beside it, in the same run, the same
//! emails sent straight through lettre as many at a time as the mailer sends one batch.
//!
//! # `bench mailer --json` keys (stable)
//!
//! - `benchmark`: `"mailer"`; `messages`, `concurrency`;
//! - `switchyard_per_sec`, `raw_per_sec`: emails per second; `ratio`: switchyard / raw;
//! - `peak_rss_bytes`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;
use switchyard_bus::measure::per_sec;
use switchyard_contracts::identity::EMAIL_VERIFICATION_REQUESTED;
use switchyard_contracts::{Envelope, Registry};
use switchyard_mailer::{Mailer, MailerConfig, bench_payload, raw_smtp};
use switchyard_runtime::{Consumer, Publisher};
use tokio_util::sync::CancellationToken;

/// Events per publish call while filling the bus.
const PUBLISH_BATCH: usize = 500;

pub(super) async fn mailer(
    smtp_url: &str,
    messages: usize,
    json_output: bool,
) -> anyhow::Result<()> {
    ensure!(messages > 0, "--messages must be positive");
    let config = MailerConfig::default()
        .with_smtp_url(smtp_url)
        .with_tls(switchyard_mailer::SmtpTls::None)
        .with_env(|name| std::env::var(name).ok());
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let engines = crate::backends::open(&crate::backends::EngineUrls::default(), dir.path())
        .await
        .map_err(anyhow::Error::new)?;
    let registry = Arc::new(Registry::standard());
    let consumer_config = switchyard_mailer::subscriptions(&config)
        .into_iter()
        .next()
        .context("the mailer declares its subscription")?;
    let subscription = consumer_config.subscription.name.clone();
    engines
        .broker
        .ensure_subscription(&consumer_config.subscription)
        .await?;
    let publisher = Publisher::new(engines.broker.clone(), registry.clone());
    let envelopes: Vec<Envelope> = (0..messages)
        .map(|index| {
            Envelope::new(
                EMAIL_VERIFICATION_REQUESTED,
                "switchyard/bench",
                serde_json::to_value(bench_payload(index)).expect("a payload serializes"),
            )
        })
        .collect();
    for chunk in envelopes.chunks(PUBLISH_BATCH) {
        let report = publisher.publish(chunk).await?;
        ensure!(report.rejected.is_empty(), "{:?}", report.rejected);
    }

    let concurrency = config.batch_size;
    let shutdown = CancellationToken::new();
    let consumer = Consumer::new(
        engines.broker.clone(),
        engines.state.clone(),
        registry,
        consumer_config,
        Mailer::new(&config)?,
    );
    let started = Instant::now();
    let running = tokio::spawn(consumer.run(shutdown.child_token()));
    loop {
        let stats = engines.broker.stats().await?;
        let lag = stats
            .iter()
            .find(|stats| stats.name == subscription)
            .map_or(u64::MAX, |stats| stats.lag());
        if lag == 0 {
            break;
        }
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "the mailer did not finish: lag {lag}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let switchyard_elapsed = started.elapsed();
    shutdown.cancel();
    let _ = running.await;
    let dead_letters = engines
        .broker
        .topics()
        .await?
        .into_iter()
        .find(|topic| topic.name == switchyard_mailer::MAILER_DEAD_LETTER_TOPIC)
        .map_or(0, |topic| topic.published);
    ensure!(
        dead_letters == 0,
        "{dead_letters} emails were dead-lettered: is an SMTP server accepting mail at {smtp_url}?"
    );

    let raw_elapsed = raw_smtp(&config, messages, concurrency)
        .await
        .context("raw SMTP benchmark failed")?;
    let switchyard_per_sec = per_sec(messages, switchyard_elapsed);
    let raw_per_sec = per_sec(messages, raw_elapsed);
    let ratio = switchyard_per_sec / raw_per_sec;
    let result = json!({
        "benchmark": "mailer",
        "messages": messages,
        "concurrency": concurrency,
        "switchyard_per_sec": switchyard_per_sec,
        "raw_per_sec": raw_per_sec,
        "ratio": ratio,
        "peak_rss_bytes": super::peak_rss_bytes(),
    });
    if json_output {
        println!("{result}");
    } else {
        println!(
            "mailer: {messages} verification emails to {smtp_url}: mailer role {switchyard_per_sec:.0}/s, plain lettre ({concurrency} at a time) {raw_per_sec:.0}/s, ratio {ratio:.2}; peak RSS {} MiB",
            super::peak_rss_bytes().unwrap_or_default() / 1_048_576
        );
    }
    Ok(())
}
