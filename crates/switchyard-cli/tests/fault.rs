//! The fault suite: `switchyard serve` on an engine of this test's own (a private server
//! on a free loopback port, never the machine's shared one), 20 000 emails imported
//! through its HTTP API by `switchyard import --server`, and the engine taken away for
//! 10 s in the middle of the run, then started again on the same port and store.
//!
//! After each case: no process was restarted by hand; `/health/ready` answered 503 naming
//! the engine during the outage and 200 after; the import that ran across the outage
//! finished by itself; and the index holds each of the 20 000 emails exactly once. Each
//! case prints how long the node took to be ready and to consume again after the engine
//! came back (target: within 5 s).
//!
//! One case per engine: RabbitMQ (`--bus amqp://…`), NATS JetStream (`--bus nats://…`,
//! store kept), Redis (`--state redis://…`, append-only file kept) and PostgreSQL
//! (`--outbox postgres://…`, restarted while the relay drains it).

mod support;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use support::{Server, binary, search};
use switchyard_bus::{
    PrivateServer, private_nats, private_postgres, private_rabbitmq, private_redis,
};

const EMAILS: usize = 20_000;
const USER: &str = "fault-user";
const DOWNTIME: Duration = Duration::from_secs(10);
/// Consuming must resume within this after the engine is back.
const RECOVERY_TARGET: Duration = Duration::from_secs(5);
/// The whole case must finish within this.
const CASE_BUDGET: Duration = Duration::from_secs(300);

/// One case at a time: four engines, their nodes and imports at once would measure the
/// machine's two cores, not the recovery.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Waits for the other cases to finish; held for the whole case.
fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The engine under test: how to reach it, and which readiness entry names it.
struct Engine {
    server: PrivateServer,
    /// The global flags pointing `serve` at it.
    flags: Vec<String>,
    /// `bus`, `state` or `outbox`.
    readiness_name: &'static str,
    /// How the emails arrive.
    load: Load,
}

/// Where the emails come from during the run.
enum Load {
    /// `switchyard import --server` of an mbox, through the HTTP API.
    Import,
    /// An application enqueueing them in the PostgreSQL outbox at this URL, in batches,
    /// retrying a batch that failed; the node's relay publishes them.
    Outbox(String),
}

/// What feeds the node, running in the background.
enum Feeder {
    Import(Child),
    Outbox(tokio::task::JoinHandle<anyhow::Result<()>>),
}

impl Feeder {
    /// Whether it is still going; panics when it stopped failing.
    fn running(&mut self, runtime: &tokio::runtime::Runtime, log: &Path) -> bool {
        match self {
            Feeder::Import(child) => match child.try_wait().expect("import status") {
                None => true,
                Some(status) => {
                    assert!(status.success(), "the import failed: {}", tail(log, 30));
                    false
                }
            },
            Feeder::Outbox(handle) => {
                if !handle.is_finished() {
                    return true;
                }
                runtime
                    .block_on(handle)
                    .expect("the enqueuer ran")
                    .expect("every batch was enqueued");
                false
            }
        }
    }
}

/// Enqueues the emails in the outbox at `url` (the node created its table), 500 per
/// transaction, a batch every 50 ms; a failed batch is retried until it commits (a batch
/// whose commit was lost in the outage may be enqueued twice: consumers deduplicate).
async fn enqueue_emails(url: String) -> anyhow::Result<()> {
    use switchyard_contracts::{Email, Registry};
    use switchyard_runtime::{office_envelope, outbox_entry};
    let registry = Registry::standard();
    let started = Instant::now();
    let outbox = switchyard_postgres::PostgresOutbox::connect(&url, OUTBOX_TABLE).await?;
    for first in (0..EMAILS).step_by(500) {
        let events: Vec<(String, Vec<u8>)> = (first..first + 500)
            .map(|i| {
                let email = Email {
                    id: format!("outbox-email-{i:05}"),
                    subject: format!("outbox report {i}"),
                    ..Email::default()
                };
                let envelope = office_envelope(USER, email);
                let payload = outbox_entry(&registry, &envelope).expect("a valid event");
                (USER.to_string(), payload)
            })
            .collect();
        let batch: Vec<(&str, &[u8])> = events
            .iter()
            .map(|(key, payload)| (key.as_str(), payload.as_slice()))
            .collect();
        loop {
            let enqueued = async {
                let mut tx = outbox.pool().begin().await?;
                outbox.enqueue_many(&mut tx, &batch).await?;
                tx.commit().await?;
                anyhow::Ok(())
            };
            match enqueued.await {
                Ok(()) => break,
                Err(err) => {
                    anyhow::ensure!(
                        started.elapsed() < CASE_BUDGET,
                        "enqueueing still fails: {err:#}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// The outbox table the node uses.
const OUTBOX_TABLE: &str = "switchyard_outbox";

/// A generated mbox of `EMAILS` emails.
fn mbox(dir: &Path) -> std::path::PathBuf {
    let mbox = dir.join("fault.mbox");
    let generated = binary()
        .args(["bench", "generate-mbox", "--emails", &EMAILS.to_string()])
        .arg(&mbox)
        .output()
        .expect("the binary runs");
    assert!(generated.status.success(), "{generated:?}");
    mbox
}

/// Indexed emails of the test user (ids), after the server stopped.
fn indexed_ids(data_dir: &Path) -> Vec<String> {
    search(
        data_dir,
        USER,
        "",
        &["--type", "email", "--limit", "100000"],
    )
    .iter()
    .map(|hit| hit["id"].as_str().expect("hits have ids").to_string())
    .collect()
}

/// How many emails the indexer has acked so far, from `/v1/status` (`None` while the bus
/// cannot say).
fn indexer_acked(server: &Server) -> Option<u64> {
    let status = server.status();
    status["subscriptions"].as_array()?.iter().find_map(|s| {
        (s["name"] == "search-indexer-emails").then(|| {
            let published = s["published"].as_u64().unwrap_or(0);
            let backlog = s["backlog"].as_u64().unwrap_or(0);
            let unacked = s["unacked"].as_u64().unwrap_or(0);
            published.saturating_sub(backlog + unacked)
        })
    })
}

fn readiness(server: &Server) -> (u16, serde_json::Value) {
    support::get(&format!("{}/health/ready", server.base_url)).expect("serve answers")
}

/// `switchyard import --server` of the mbox as the test user, in the background.
fn start_import(server: &Server, data_dir: &Path, mbox: &Path, log: &Path) -> Child {
    let token = server.token(USER, "write");
    binary()
        .args(["import"])
        .arg(mbox)
        .args(["--user", USER, "--server", &server.base_url, "--data-dir"])
        .arg(data_dir)
        .env("SWITCHYARD_TOKEN", token)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("import log"))
        .spawn()
        .expect("import starts")
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Copies the node's log out of the scratch directory when the case ends, passed or
/// failed (it runs while a failing case unwinds), for a look at what the node did.
struct KeepLog {
    from: std::path::PathBuf,
    to: std::path::PathBuf,
}

impl Drop for KeepLog {
    fn drop(&mut self) {
        let _ = std::fs::copy(&self.from, &self.to);
    }
}

/// What one case measured.
#[derive(Debug)]
struct Recovery {
    /// Engine back (accepting connections) → `/health/ready` 200.
    ready_after: Duration,
    /// Engine back → the indexer acked more emails.
    consuming_after: Duration,
    /// The whole run, import start to everything indexed.
    total: Duration,
}

/// Runs one case: serve on `engine`, import across a 10 s outage, check everything.
fn survive_an_outage(engine: Engine, runtime: &tokio::runtime::Runtime) -> Recovery {
    let Engine {
        mut server,
        flags,
        readiness_name,
        load,
    } = engine;
    let scratch = tempfile::tempdir().expect("a scratch directory");
    let data = scratch.path().join("data");
    let mbox = mbox(scratch.path());
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    // As an operator does before the first serve on a distributed bus.
    let setup = support::run(&data, &[&["topics", "setup"], &flags[..]].concat());
    assert!(setup.status.success(), "topics setup failed: {setup:?}");
    let node = Server::start_with(&data, &flags);
    let _kept = KeepLog {
        from: Server::log_path(&data),
        to: std::env::temp_dir().join(format!("switchyard-fault-{readiness_name}.serve.log")),
    };
    assert_eq!(
        readiness(&node).0,
        200,
        "not ready before the outage: {:?}",
        readiness(&node).1
    );

    let import_log = scratch.path().join("import.log");
    let started = Instant::now();
    let mut feeder = match load {
        Load::Import => Feeder::Import(start_import(&node, &data, &mbox, &import_log)),
        Load::Outbox(url) => Feeder::Outbox(runtime.spawn(enqueue_emails(url))),
    };
    // Take the engine away once a fifth of the emails is indexed.
    while indexer_acked(&node).unwrap_or(0) < (EMAILS / 5) as u64 {
        assert!(
            started.elapsed() < CASE_BUDGET,
            "nothing indexed before the outage: {}",
            node.log_tail(20)
        );
        assert!(
            feeder.running(runtime, &import_log),
            "the load ended before the outage"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let down_at = Instant::now();

    // Readiness says so, naming the engine, for as long as it is away.
    let mut saw_unready = false;
    while down_at.elapsed() < DOWNTIME {
        let (code, body) = readiness(&node);
        if down_at.elapsed() > Duration::from_secs(5) {
            assert_eq!(code, 503, "ready while {readiness_name} is down: {body}");
        }
        if code == 503 {
            let engine = body["engines"]
                .as_array()
                .and_then(|engines| engines.iter().find(|e| e["engine"] == readiness_name))
                .unwrap_or_else(|| panic!("no {readiness_name} entry: {body}"));
            assert_eq!(engine["ready"], false, "{body}");
            assert!(
                engine["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{body}"
            );
            saw_unready = true;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        saw_unready,
        "readiness never reported {readiness_name} down"
    );
    let acked_before = indexer_acked(&node).unwrap_or(0);
    runtime
        .block_on(server.spawn())
        .unwrap_or_else(|err| panic!("the engine did not start again: {err:#}"));
    let back_at = Instant::now();

    let mut ready_after = None;
    let mut consuming_after = None;
    while ready_after.is_none() || (consuming_after.is_none() && acked_before < EMAILS as u64) {
        assert!(
            back_at.elapsed() < Duration::from_secs(60),
            "no recovery within 60 s of {readiness_name} coming back (ready after {ready_after:?}, \
             consuming after {consuming_after:?}): {:?}\n{}",
            readiness(&node).1,
            node.log_tail(30)
        );
        if ready_after.is_none() && readiness(&node).0 == 200 {
            ready_after = Some(back_at.elapsed());
        }
        if consuming_after.is_none() && indexer_acked(&node).is_some_and(|n| n > acked_before) {
            consuming_after = Some(back_at.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    println!(
        "{readiness_name} back: ready after {ready_after:?}, consuming after {consuming_after:?}"
    );
    // The import (or the application's enqueueing) rode out the outage by itself.
    let deadline = started + CASE_BUDGET;
    while feeder.running(runtime, &import_log) {
        assert!(
            Instant::now() < deadline,
            "the load did not finish: {}",
            tail(&import_log, 20)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    node.wait_until_indexed();
    let total = started.elapsed();
    let (code, body) = readiness(&node);
    assert_eq!(code, 200, "not ready after the run: {body}");
    drop(node);

    let ids = indexed_ids(&data);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "an email was indexed twice");
    assert_eq!(ids.len(), EMAILS, "indexed emails differ from the input");
    Recovery {
        ready_after: ready_after.expect("set by the loop"),
        consuming_after: consuming_after.unwrap_or_default(),
        total,
    }
}

fn report(engine: &str, recovery: &Recovery) {
    println!(
        "{engine}: down {DOWNTIME:?}; ready {:?} and consuming {:?} after it was back; \
         {EMAILS} emails imported and indexed once in {:?}",
        recovery.ready_after, recovery.consuming_after, recovery.total
    );
    assert!(
        recovery.consuming_after <= RECOVERY_TARGET,
        "{engine}: consuming resumed {:?} after the engine was back (target {RECOVERY_TARGET:?})",
        recovery.consuming_after
    );
}

/// One case: starts the private engine with `start`, points `serve` at it with `flag` and
/// the URL `url` makes of its port, survives the outage and reports.
fn case<F>(
    engine: &str,
    start: F,
    flag: &str,
    url: impl Fn(u16) -> String,
    readiness_name: &'static str,
    outbox_load: bool,
) where
    F: std::future::Future<Output = anyhow::Result<PrivateServer>>,
{
    let _alone = alone();
    let runtime = runtime();
    let server = runtime
        .block_on(start)
        .unwrap_or_else(|err| panic!("a private {engine}: {err:#}"));
    let url = url(server.port());
    let load = if outbox_load {
        Load::Outbox(url.clone())
    } else {
        Load::Import
    };
    let engine_under_test = Engine {
        server,
        flags: vec![flag.into(), url],
        readiness_name,
        load,
    };
    let recovery = survive_an_outage(engine_under_test, &runtime);
    report(engine, &recovery);
}

#[test]
fn rabbitmq_restart() {
    let url = |port| format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    case(
        "RabbitMQ",
        private_rabbitmq(None),
        "--bus",
        url,
        "bus",
        false,
    );
}

#[test]
fn nats_restart() {
    let url = |port| format!("nats://127.0.0.1:{port}");
    case("NATS", private_nats(), "--bus", url, "bus", false);
}

#[test]
fn redis_restart() {
    let url = |port| format!("redis://127.0.0.1:{port}");
    case("Redis", private_redis(), "--state", url, "state", false);
}

#[test]
fn postgres_restart() {
    let url = |port| format!("postgres://postgres@127.0.0.1:{port}/postgres");
    case(
        "PostgreSQL",
        private_postgres(None),
        "--outbox",
        url,
        "outbox",
        true,
    );
}
