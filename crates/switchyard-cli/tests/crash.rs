//! Crash safety: `kill -9` of an import and of a server mid-way, then restarts. Every
//! event that was accepted must be indexed exactly once.

mod support;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use support::{Server, binary, run, search};

const EMAILS: usize = 6000;

/// Accepted events on the `emails` topic, read from the bus itself.
fn accepted_emails(data_dir: &std::path::Path) -> u64 {
    let output = run(data_dir, &["status"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    stats
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["topic"] == "emails")
        .map_or(0, |s| s["published"].as_u64().unwrap())
}

fn indexed_ids(data_dir: &std::path::Path) -> Vec<String> {
    search(
        data_dir,
        "crash",
        "",
        &["--type", "email", "--limit", "100000"],
    )
    .iter()
    .map(|hit| hit["id"].as_str().unwrap().to_string())
    .collect()
}

fn assert_exactly_once(ids: &[String], expected: u64) {
    let unique: HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a document was indexed twice");
    assert_eq!(
        ids.len() as u64,
        expected,
        "indexed documents differ from accepted events"
    );
}

/// Generates the mbox and kills an import of it once it has published some batches but
/// before it finished; returns the accepted email count.
fn kill_an_import_midway(mbox: &std::path::Path, data: &std::path::Path) -> u64 {
    let generated = binary()
        .args(["bench", "generate-mbox", "--emails", &EMAILS.to_string()])
        .arg(mbox)
        .output()
        .unwrap();
    assert!(generated.status.success());

    let mut import = binary()
        .args([
            "import",
            mbox.to_str().unwrap(),
            "--user",
            "crash",
            "--data-dir",
        ])
        .arg(data)
        .env("SWITCHYARD_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(import.stderr.take().unwrap());
    let mut batches = 0;
    for line in stderr.lines() {
        if line.unwrap().contains("batch published") {
            batches += 1;
            if batches == 3 {
                break;
            }
        }
    }
    assert_eq!(batches, 3, "import ended before publishing three batches");
    import.kill().unwrap();
    import.wait().unwrap();
    let accepted = accepted_emails(data);
    assert!(
        accepted > 0 && accepted < EMAILS as u64,
        "killed too late or too early: {accepted}"
    );
    accepted
}

#[test]
fn killed_import_and_server_lose_and_duplicate_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let mbox = scratch.path().join("big.mbox");
    let data = scratch.path().join("data");
    // 1. Kill an import once it has published some batches but before it finished.
    let accepted = kill_an_import_midway(&mbox, &data);

    // 2. A server picks up the backlog; kill it while it is indexing, then restart it.
    let server = Server::start(&data);
    let started = Instant::now();
    loop {
        let lag = server.status()["indexer_lag"].as_u64().unwrap();
        if lag < accepted {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server indexed nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    server.kill();
    let server = Server::start(&data);
    server.wait_until_indexed();
    drop(server);
    assert_exactly_once(&indexed_ids(&data), accepted);

    // 3. Importing the whole file again completes it, still with one document per email.
    let output = run(
        &data,
        &["import", mbox.to_str().unwrap(), "--user", "crash"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_exactly_once(&indexed_ids(&data), EMAILS as u64);
}

#[test]
fn sigterm_finishes_in_flight_batches_and_loses_nothing() {
    let scratch = tempfile::tempdir().unwrap();
    let mbox = scratch.path().join("big.mbox");
    let data = scratch.path().join("data");
    let accepted = kill_an_import_midway(&mbox, &data);

    let mut server = Server::start(&data);
    let started = Instant::now();
    while server.status()["indexer_lag"].as_u64().unwrap() == accepted {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server indexed nothing"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let terminated = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let stopping = Instant::now();
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(40),
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(exit.success(), "serve exited with {exit:?}");
    drop(server);

    // The batch in hand was finished and acknowledged: nothing is left in flight.
    let output = run(&data, &["status"]);
    let stats: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for subscription in stats.as_array().unwrap() {
        assert_eq!(subscription["unacked"], 0, "{subscription}");
    }
    let server = Server::start(&data);
    server.wait_until_indexed();
    drop(server);
    assert_exactly_once(&indexed_ids(&data), accepted);
}
