//! `switchyard bench`: throughput benchmarks of the embedded node, printed as text or as
//! one JSON object (machine-readable, for tracking figures over time).
//!
//! `ingest` writes N synthetic emails to an mbox file, imports it through the same path as
//! `switchyard import`, waits until every email is searchable and checks the count.
//! `consume` measures the consumer runtime alone (no-op handler), dedupe on and off.
//!
//! `backfill` measures a Microsoft mail backfill from a local fake Graph beside the file
//! import of the same messages (see `backfill.rs`).
//!
//! `bus` measures one bus against its raw engine (see `bus.rs`), `jobs` job progress on
//! the embedded state engine and Redis against raw `HINCRBY` (see `jobs.rs`); `chunking`
//! and `search` measure the document side (see `documents.rs`).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Subcommand;
use indicatif::ProgressBar;
use serde_json::json;
use switchyard_bus::{Broker, EmbeddedBroker, SubscriptionConfig};
use switchyard_contracts::{
    ContractError, Email, EmailEvent, Envelope, Operation, Registry, SyncType,
};
use switchyard_runtime::{Consumer, ConsumerConfig, Handler, Incoming, Outcome, Publisher};
use switchyard_state::{EmbeddedState, StateStore};

use crate::config::Settings;
use crate::import::{self, Destination};
use crate::node::Node;

mod backfill;
mod bus;
mod documents;
#[cfg(feature = "rabbitmq")]
mod identity;
mod jobs;
mod mailer;

/// The benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Import N synthetic emails and wait until all are searchable.
    Ingest {
        /// How many emails.
        #[arg(long, default_value_t = 10_000)]
        emails: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Consumer throughput with a no-op handler, with dedupe on and off.
    Consume {
        /// How many events.
        #[arg(long, default_value_t = 50_000)]
        events: usize,
        /// Events per batch.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Publish, consume and publish-ack latency of the bus (`--bus`, embedded when
    /// absent), through Switchyard and through the raw engine, with their ratios.
    Bus {
        /// Messages in the throughput pass.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Payload size in bytes.
        #[arg(long = "size", default_value_t = 1024)]
        payload_bytes: usize,
        /// Single-message publishes in the latency pass.
        #[arg(long, default_value_t = 2_000)]
        latency_samples: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// A Microsoft mail backfill of N messages from a local fake Graph until all are
    /// searchable, beside the file import of the same messages, with their ratio.
    Backfill {
        /// How many messages.
        #[arg(long, default_value_t = 10_000)]
        messages: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Job progress `mark_done` calls per second from concurrent workers: embedded, and
    /// with `--state redis://…` on Redis beside raw `HINCRBY`, with their ratio.
    Jobs {
        /// `mark_done` calls, one job's items.
        #[arg(long, default_value_t = 10_000)]
        marks: usize,
        /// Concurrent workers sharing the calls.
        #[arg(long, default_value_t = 100)]
        workers: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Identity events on RabbitMQ (`--bus amqp://…`): publish latency at a steady rate
    /// with confirms, through Switchyard beside plain lapin, and dual publish beside single.
    Identity {
        /// Events per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Events per pass.
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// The mailer role's emails per second against a local SMTP server that accepts
    /// everything, beside plain lettre sends of the same emails.
    Mailer {
        /// The SMTP server, e.g. `smtp://127.0.0.1:2525` (`python3 -m aiosmtpd -n -l
        /// 127.0.0.1:2525`); plain, no TLS.
        #[arg(long)]
        smtp: String,
        /// How many emails.
        #[arg(long, default_value_t = 2_000)]
        messages: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Chunking throughput (MB/s) of a text file at a chunk size.
    Chunking {
        /// The text to split.
        #[arg(long)]
        text: std::path::PathBuf,
        /// Most characters per chunk.
        #[arg(long, default_value_t = 1000)]
        chunk_chars: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Search latency (p50/p99) over N mixed documents of every type.
    Search {
        /// How many documents to index.
        #[arg(long, default_value_t = 100_000)]
        docs: usize,
        /// How many queries to time.
        #[arg(long, default_value_t = 1_000)]
        queries: usize,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Write the synthetic emails of `ingest` to an mbox file, for tests and manual runs.
    GenerateMbox {
        /// How many emails.
        #[arg(long, default_value_t = 10_000)]
        emails: usize,
        /// The file to write.
        out: std::path::PathBuf,
    },
}

/// Runs one benchmark with the tuning of `settings` (its data directory is not used:
/// benchmarks run in a scratch directory).
pub async fn run(command: BenchCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest { emails, json } => ingest(emails, json, settings).await,
        BenchCommand::Consume {
            events,
            batch_size,
            json,
        } => consume(events, batch_size, json).await,
        BenchCommand::Bus {
            messages,
            payload_bytes,
            latency_samples,
            json,
        } => {
            let workload = bus::BusWorkload {
                messages,
                payload_bytes,
                latency_samples,
            };
            bus::bus(settings.engines.bus.as_deref(), &workload, json).await
        }
        BenchCommand::Backfill { messages, json } => {
            backfill::backfill(messages, json, settings).await
        }
        BenchCommand::Jobs {
            marks,
            workers,
            json,
        } => {
            let workload = jobs::JobsWorkload { marks, workers };
            jobs::jobs(&settings.engines, &workload, json).await
        }
        #[cfg(feature = "rabbitmq")]
        BenchCommand::Identity { rate, events, json } => {
            let workload = identity::IdentityWorkload { rate, events };
            identity::identity(settings.engines.bus.as_deref(), &workload, json).await
        }
        #[cfg(not(feature = "rabbitmq"))]
        BenchCommand::Identity { .. } => {
            anyhow::bail!("bench identity needs the rabbitmq feature")
        }
        BenchCommand::Mailer {
            smtp,
            messages,
            json,
        } => mailer::mailer(&smtp, messages, json).await,
        BenchCommand::Chunking {
            text,
            chunk_chars,
            json,
        } => documents::chunking(&text, chunk_chars, json),
        BenchCommand::Search {
            docs,
            queries,
            json,
        } => tokio::task::spawn_blocking(move || documents::search(docs, queries, json)).await?,
        BenchCommand::GenerateMbox { emails, out } => {
            let bytes = write_mbox(&out, emails)
                .with_context(|| format!("failed to write {}", out.display()))?;
            println!("wrote {emails} emails ({bytes} bytes) to {}", out.display());
            Ok(())
        }
    }
}

const USER: &str = "bench-user";
const WORDS: &[&str] = &[
    "quarterly",
    "report",
    "invoice",
    "meeting",
    "project",
    "deadline",
    "budget",
    "review",
    "contract",
    "shipment",
    "launch",
    "roadmap",
    "hiring",
    "customer",
    "feedback",
    "release",
    "design",
    "security",
    "audit",
    "travel",
    "offsite",
    "planning",
    "metrics",
    "incident",
];

/// Writes `count` emails in mbox format; returns the file size.
fn write_mbox(path: &std::path::Path, count: usize) -> anyhow::Result<u64> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    // A small deterministic generator (xorshift) keeps runs comparable.
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next_word = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        WORDS[(seed % WORDS.len() as u64) as usize]
    };
    for i in 0..count {
        let subject: Vec<&str> = (0..5).map(|_| next_word()).collect();
        let body: Vec<&str> = (0..120).map(|_| next_word()).collect();
        write!(
            out,
            "From sender{s}@example.com Mon Jan  1 00:00:00 2024\n\
             From: Sender {s} <sender{s}@example.com>\n\
             To: {USER}@example.com\n\
             Subject: {subject} {i}\n\
             Date: Mon, 1 Jan 2024 {h:02}:{m:02}:00 +0000\n\
             Message-ID: <bench-{i}@example.com>\n\n\
             {body}\n\n",
            s = i % 500,
            subject = subject.join(" "),
            h = (i / 60) % 24,
            m = i % 60,
            body = body.join(" "),
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Peak resident set size of this process, from `/proc/self/status` (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// How long a path took to bring N emails into the index.
struct Measured {
    /// Until every event was published.
    published: Duration,
    /// Until every event was searchable.
    end_to_end: Duration,
}

impl Measured {
    fn publish_per_sec(&self, events: usize) -> f64 {
        events as f64 / self.published.as_secs_f64()
    }

    fn end_to_end_per_sec(&self, events: usize) -> f64 {
        events as f64 / self.end_to_end.as_secs_f64()
    }
}

/// A node in a scratch directory of `dir`, tuned as `settings`, with its indexers
/// running.
async fn scratch_node(
    dir: &std::path::Path,
    settings: &Settings,
) -> anyhow::Result<(Node, Settings)> {
    let settings = Settings {
        data_dir: dir.join("data"),
        ..settings.clone()
    };
    let mut node = Node::open(&settings).await?;
    node.start_consumers(&[crate::topology::Role::Indexer])
        .await?;
    Ok((node, settings))
}

/// Waits until `node` has indexed `emails` emails of the bench user, checks the count,
/// and stops it.
async fn indexed_all(node: Node, emails: usize) -> anyhow::Result<()> {
    node.wait_until_indexed().await?;
    let index = node.index.clone();
    let indexed = tokio::task::spawn_blocking(move || index.count(USER, Some("email"))).await??;
    node.shutdown(crate::node::SHUTDOWN_DEADLINE).await;
    ensure!(
        indexed == emails as u64,
        "{indexed} of {emails} emails are searchable"
    );
    Ok(())
}

/// Imports the mbox `mbox` of `emails` emails as `switchyard import` does, until all
/// are searchable.
async fn measure_file_import(
    mbox: &std::path::Path,
    emails: usize,
    settings: &Settings,
) -> anyhow::Result<Measured> {
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let (node, _) = scratch_node(dir.path(), settings).await?;
    let started = Instant::now();
    let destination = Destination::Local(node.publisher.clone());
    let report = import::import(
        &[mbox.to_path_buf()],
        USER,
        &import::ReadSettings::default(),
        &destination,
        // A benchmark measures the pipeline; it does not wait out an outage.
        &import::OutageRetry {
            retry_for: Duration::ZERO,
        },
        &ProgressBar::hidden(),
    )
    .await?;
    let published = started.elapsed();
    ensure!(
        report.rejected == 0,
        "{} synthetic emails were rejected",
        report.rejected
    );
    indexed_all(node, emails).await?;
    Ok(Measured {
        published,
        end_to_end: started.elapsed(),
    })
}

async fn ingest(emails: usize, json_output: bool, settings: &Settings) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let mbox = dir.path().join("bench.mbox");
    let mbox_bytes = write_mbox(&mbox, emails)?;
    let measured = measure_file_import(&mbox, emails, settings).await?;
    let result = json!({
        "benchmark": "ingest",
        "emails": emails,
        "input_bytes": mbox_bytes,
        "publish_secs": measured.published.as_secs_f64(),
        "publish_events_per_sec": measured.publish_per_sec(emails),
        "end_to_end_secs": measured.end_to_end.as_secs_f64(),
        "end_to_end_events_per_sec": measured.end_to_end_per_sec(emails),
        "peak_rss_bytes": peak_rss_bytes(),
        "indexer_batch_size": settings.indexer.batch_size,
    });
    if json_output {
        println!("{result}");
    } else {
        println!(
            "ingest {emails} emails ({:.1} MiB): publish {:.0} events/s, end-to-end {:.0} events/s, peak RSS {} MiB",
            mbox_bytes as f64 / 1048576.0,
            measured.publish_per_sec(emails),
            measured.end_to_end_per_sec(emails),
            peak_rss_bytes().unwrap_or_default() / 1048576,
        );
    }
    Ok(())
}

/// A handler that only counts, so the runtime's own cost is what is measured.
struct CountingHandler;

#[async_trait::async_trait]
impl Handler for CountingHandler {
    type Event = ();

    fn decode(&self, _envelope: &Envelope) -> Result<(), ContractError> {
        Ok(())
    }

    async fn handle(&self, batch: Vec<Incoming<()>>) -> Vec<Outcome> {
        vec![Outcome::Done; batch.len()]
    }
}

/// Publishes `events` emails, then drains them through a consumer with dedupe on, and
/// through a second subscription with dedupe off; prints events/s of each.
async fn consume(events: usize, batch_size: usize, json_output: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus"))?);
    let state: Arc<dyn StateStore> = Arc::new(EmbeddedState::open(&dir.path().join("state"))?);
    let registry = Arc::new(Registry::standard());
    let modes = [("dedupe_on", true), ("dedupe_off", false)];
    for (name, _) in modes {
        broker
            .ensure_subscription(&SubscriptionConfig::new(name, "emails"))
            .await?;
    }
    let publisher = Publisher::new(broker.clone(), registry.clone());
    let started = Instant::now();
    for chunk_start in (0..events).step_by(1000) {
        let envelopes = (chunk_start..(chunk_start + 1000).min(events))
            .map(|i| {
                let item = Email {
                    id: format!("<bench-{i}@example.com>"),
                    subject: format!("message {i}"),
                    ..Email::default()
                };
                EmailEvent::new(
                    Operation::Create,
                    SyncType::Backfill,
                    "bench",
                    USER,
                    "bench",
                    item,
                )
                .to_envelope("/bench", "bench")
            })
            .collect::<Result<Vec<_>, _>>()?;
        publisher.publish(&envelopes).await?;
    }
    let publish_secs = started.elapsed().as_secs_f64();
    let mut result = json!({ "benchmark": "consume", "events": events, "batch_size": batch_size, "publish_events_per_sec": events as f64 / publish_secs });
    for (name, dedupe) in modes {
        let mut config = ConsumerConfig::new(SubscriptionConfig::new(name, "emails"));
        config.batch_size = batch_size;
        config.max_wait = Duration::from_millis(10);
        config.dedupe = dedupe;
        let consumer = Consumer::new(
            broker.clone(),
            state.clone(),
            registry.clone(),
            config,
            CountingHandler,
        );
        let started = Instant::now();
        let mut handled = 0;
        while handled < events {
            handled += consumer.step().await?.handled;
        }
        result[format!("{name}_events_per_sec")] =
            json!(events as f64 / started.elapsed().as_secs_f64());
    }
    if json_output {
        println!("{result}");
    } else {
        println!(
            "consume {events} events: dedupe on {:.0} events/s, dedupe off {:.0} events/s",
            result["dedupe_on_events_per_sec"]
                .as_f64()
                .unwrap_or_default(),
            result["dedupe_off_events_per_sec"]
                .as_f64()
                .unwrap_or_default(),
        );
    }
    Ok(())
}
