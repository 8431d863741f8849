//! The same pipeline on the distributed engines of this machine: NATS JetStream or RabbitMQ
//! as the bus, Redis as state, PostgreSQL as the outbox. A fresh user per run keeps runs
//! apart on the long-lived servers.

mod support;

use support::{Server, fixtures, run};
use switchyard_bus::Broker;
use switchyard_nats::{NatsBroker, NatsOptions};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn engines(bus: &str) -> Vec<String> {
    vec![
        "--bus".into(),
        bus.into(),
        "--state".into(),
        env_or("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "--outbox".into(),
        env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ]
}

fn pipeline_runs_on(bus: &str) {
    let data = tempfile::tempdir().unwrap();
    let flags = engines(bus);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let user = format!(
        "dist-{}-{}",
        std::process::id(),
        bus.split(':').next().unwrap()
    );

    let mut setup = vec!["topics", "setup"];
    setup.extend(&flags);
    let output = run(data.path(), &setup);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let server = Server::start_with(data.path(), &flags);
    let good = fixtures().join("good");
    let mut import = vec!["import", good.to_str().unwrap(), "--user", &user];
    import.extend(&flags);
    server.run_client(data.path(), &import);
    let (_, body) = server.get(&format!("/v1/search?q=Christmas&user={user}"));
    assert_eq!(body["hits"].as_array().unwrap().len(), 1, "{body}");
    let (_, body) = server.get(&format!("/v1/search?q=LUKS&user={user}"));
    assert!(!body["hits"].as_array().unwrap().is_empty(), "{body}");
}

#[test]
fn pipeline_runs_on_nats_redis_and_postgres() {
    pipeline_runs_on(&env_or("NATS_URL", "nats://127.0.0.1:4222"));
}

#[test]
fn pipeline_runs_on_rabbitmq_redis_and_postgres() {
    pipeline_runs_on(&env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"));
}

/// Deletes the NATS streams of a test's namespace when dropped.
struct DeleteStreams {
    url: String,
    namespace: String,
}

impl Drop for DeleteStreams {
    fn drop(&mut self) {
        let runtime = tokio::runtime::Runtime::new().expect("a runtime for the cleanup");
        runtime.block_on(async {
            let options = NatsOptions::default().with_stream_prefix(&self.namespace);
            match NatsBroker::connect(&self.url, options).await {
                Ok(broker) => {
                    if let Err(err) = broker.delete_all_streams().await {
                        eprintln!("streams of {} left behind: {err}", self.namespace);
                    }
                }
                Err(err) => eprintln!("streams of {} left behind: {err}", self.namespace),
            }
        });
    }
}

/// Handled and duplicate counts of one process's `search-indexer-emails`, from `/metrics`.
fn indexer_counts(server: &Server) -> (u64, u64) {
    support::tls_provider();
    let text = reqwest::blocking::get(format!("{}/metrics", server.base_url))
        .and_then(|response| response.text())
        .unwrap_or_default();
    let count = |outcome: &str| -> u64 {
        text.lines()
            .filter(|line| {
                line.starts_with("switchyard_consumer_events_total{")
                    && line.contains("subscription=\"search-indexer-emails\"")
                    && line.contains(&format!("outcome=\"{outcome}\""))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    (count("handled"), count("duplicate"))
}

/// Two `serve --roles indexer` processes on one NATS subscription, each with its own
/// embedded state (so neither could hide a repeat by deduplication): between them they
/// handle every email exactly once, and both get a share.
///
/// Competing consumers promise no split: a process that keeps up may legitimately take
/// everything. So the emails are all published before the indexers start together on the
/// backlog, and a share is required only when the backlog outlasted [`SHARE_WINDOW`]
/// after both were up: by then each had pulled with messages waiting. Exactly-once is
/// checked on every run.
#[test]
fn two_indexer_processes_share_the_work_and_handle_each_event_once() {
    // Enough that on a typical run the backlog outlasts SHARE_WINDOW.
    const EMAILS: u64 = 6000;
    let namespace = format!(
        "SYC{}{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let bus = env_or("NATS_URL", "nats://127.0.0.1:4222");
    // Dropped last, after the servers: the namespace's streams go, passed or failed.
    let _streams = DeleteStreams {
        url: bus.clone(),
        namespace: namespace.clone(),
    };
    let flags = ["--bus", bus.as_str(), "--bus-namespace", namespace.as_str()];
    let scratch = tempfile::tempdir().unwrap();
    let mbox = scratch.path().join("mail.mbox");
    let output = run(
        scratch.path(),
        &[
            "bench",
            "generate-mbox",
            "--emails",
            &EMAILS.to_string(),
            mbox.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let mut setup = vec!["topics", "setup", "--roles", "indexer"];
    setup.extend(flags);
    assert!(run(scratch.path(), &setup).status.success());

    // Everything is on the stream before an indexer starts, so both meet a backlog. The
    // import waits for the indexers to finish, so it runs beside them.
    let import_log = scratch.path().join("import.log");
    let mut import = support::binary()
        .args(["import", mbox.to_str().unwrap(), "--user", "competing"])
        .args(flags)
        .arg("--data-dir")
        .arg(scratch.path().join("importer"))
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&import_log).unwrap())
        .spawn()
        .expect("the import starts");
    let published_by = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while published_to_indexer(&bus, &namespace) < EMAILS {
        assert!(
            std::time::Instant::now() < published_by,
            "the import did not publish {EMAILS} emails: {}",
            std::fs::read_to_string(&import_log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut serve_flags = flags.to_vec();
    serve_flags.extend(["--roles", "indexer"]);
    let (a, b) = std::thread::scope(|scope| {
        let a = scope.spawn(|| Server::start_with(dir_a.path(), &serve_flags));
        let b = scope.spawn(|| Server::start_with(dir_b.path(), &serve_flags));
        (a.join().unwrap(), b.join().unwrap())
    });
    let both_up = std::time::Instant::now();

    let deadline = both_up + std::time::Duration::from_secs(120);
    loop {
        let ((handled_a, dup_a), (handled_b, dup_b)) = (indexer_counts(&a), indexer_counts(&b));
        if handled_a + handled_b >= EMAILS || std::time::Instant::now() > deadline {
            let busy_for = both_up.elapsed();
            // Let any straggling redelivery show up before judging.
            std::thread::sleep(std::time::Duration::from_secs(2));
            let ((handled_a, dup_a), (handled_b, dup_b)) = (indexer_counts(&a), indexer_counts(&b));
            assert_eq!(
                handled_a + handled_b,
                EMAILS,
                "handled {handled_a} + {handled_b}, duplicates {dup_a} + {dup_b}"
            );
            assert_eq!(dup_a + dup_b, 0, "an event was delivered twice");
            if busy_for >= SHARE_WINDOW {
                assert!(
                    handled_a > 0 && handled_b > 0,
                    "one process did all the work over {busy_for:?}: {handled_a} and {handled_b}"
                );
            } else {
                eprintln!(
                    "the backlog was gone {busy_for:?} after both indexers were up, too soon \
                     to require a share: {handled_a} and {handled_b}"
                );
            }
            break;
        }
        let _ = (dup_a, dup_b);
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let status = import.wait().expect("the import ends");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&import_log).unwrap_or_default()
    );
}

/// How many messages the `search-indexer-emails` subscription of `namespace` was offered.
fn published_to_indexer(url: &str, namespace: &str) -> u64 {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime for the stats");
    runtime.block_on(async {
        let options = NatsOptions::default().with_stream_prefix(namespace);
        let Ok(broker) = NatsBroker::connect(url, options).await else {
            return 0;
        };
        broker
            .stats()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|stats| stats.name == "search-indexer-emails")
            .map(|stats| stats.published)
            .sum()
    })
}

/// How long a backlog must last with both indexers up before each must have had a share.
/// While messages wait, a fetch is answered at once (its take, or the pull request it left
/// open), so this is many fetch rounds of each process.
const SHARE_WINDOW: std::time::Duration = std::time::Duration::from_millis(500);
