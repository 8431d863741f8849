//! What a data directory tells the commands run on it (issue 14): `serve` records where it
//! listens (`serve.json`), so `import`, `status` and `dlq` find it on any port without
//! being told, and a record left by a killed server misleads neither a later `serve` nor
//! a client.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Server, binary, fixtures, run, stdout};
use switchyard_bus::ReservedPort;

/// The serve record of `data_dir`, as JSON; `None` when there is none.
fn serve_record(data_dir: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(data_dir.join("serve.json")).ok()?;
    Some(serde_json::from_str(&text).expect("the serve record is JSON"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        stdout(output),
        stderr(output)
    );
}

#[test]
fn import_status_and_dlq_find_a_server_on_another_port_from_its_record() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let record = serve_record(data.path()).expect("serve wrote its record");
    assert_eq!(
        format!("http://{}", record["address"].as_str().unwrap()),
        server.base_url,
        "{record}"
    );
    assert_eq!(record["pid"], server.child.id(), "{record}");

    // No --server, --listen or SWITCHYARD_LISTEN: the record says where the server is.
    let good = fixtures().join("good");
    let import = run(
        data.path(),
        &["import", good.to_str().unwrap(), "--user", "carol"],
    );
    assert_success(&import, "import");
    assert!(
        stdout(&import).starts_with("imported "),
        "{}",
        stdout(&import)
    );
    // The server indexed it (import waits for that).
    let (_, found) = server.get("/v1/search?q=Christmas&user=carol");
    assert_eq!(found["hits"].as_array().unwrap().len(), 1, "{found}");

    let status = run(data.path(), &["status"]);
    assert_success(&status, "status");
    let subscriptions: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        subscriptions
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "search-indexer-calendars" && s["published"] == 3),
        "{subscriptions}"
    );

    let dlq = run(data.path(), &["dlq", "list", "--json"]);
    assert_success(&dlq, "dlq list");
    let listing: Value = serde_json::from_slice(&dlq.stdout).unwrap();
    assert_eq!(listing["entries"], serde_json::json!([]), "{listing}");
}

/// A `serve` child killed when dropped, if the test ends before it stops.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_on_port_zero_records_and_logs_the_port_it_got_and_removes_the_record_on_sigterm() {
    let scratch = tempfile::tempdir().unwrap();
    let data = scratch.path().join("data");
    let log_path = scratch.path().join("serve.log");
    let mut serving = Serving(
        binary()
            .env("SWITCHYARD_LOG", "info")
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap())
            .spawn()
            .expect("serve starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let record = loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("switchyard serving")
            && let Some(record) = serve_record(&data)
        {
            break record;
        }
        assert!(
            serving.0.try_wait().unwrap().is_none() && Instant::now() < deadline,
            "serve did not come up: {log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let address = record["address"].as_str().unwrap().to_string();
    let port: u16 = address.rsplit(':').next().unwrap().parse().unwrap();
    assert_ne!(port, 0, "{record}");
    // The log names the address bound, not the one asked for.
    let log = std::fs::read_to_string(&log_path).unwrap();
    let serving_line = log.lines().find(|line| line.contains("switchyard serving"));
    assert!(
        serving_line.is_some_and(|line| line.contains(&address)),
        "{log}"
    );

    let status = run(&data, &["status"]);
    assert_success(&status, "status");

    let terminated = Command::new("kill")
        .args(["-TERM", &serving.0.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(40);
    let exit = loop {
        if let Some(exit) = serving.0.try_wait().unwrap() {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(exit.success(), "serve exited with {exit:?}");
    assert_eq!(serve_record(&data), None, "the record outlived its server");
}

#[test]
fn a_record_left_by_a_killed_server_misleads_neither_serve_nor_a_client() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(data.path());
    first.kill();
    let stale = serve_record(data.path()).expect("a killed server leaves its record");

    // Nothing holds the data directory: the commands open it themselves.
    let calendar = fixtures().join("good").join("calendar");
    let import = run(
        data.path(),
        &["import", calendar.to_str().unwrap(), "--user", "carol"],
    );
    assert_success(&import, "import beside a stale record");

    // A later serve replaces the record, saying so, and a client finds it there.
    let second = Server::start(data.path());
    assert!(
        second
            .log_tail(100)
            .contains("replacing the serve record of a server that did not stop cleanly"),
        "{}",
        second.log_tail(100)
    );
    let record = serve_record(data.path()).unwrap();
    assert_eq!(record["pid"], second.child.id(), "{record}");
    let status = run(data.path(), &["status"]);
    assert_success(&status, "status");

    // A stale record beside a server that holds the data directory (as if the record were
    // left over) is ignored with a warning, and the error names what was tried where.
    let record_path = data.path().join("serve.json");
    let nobody = ReservedPort::new().unwrap();
    let nobody_listen = format!("127.0.0.1:{}", nobody.port());
    std::fs::write(&record_path, stale.to_string()).unwrap();
    let status = run(data.path(), &["status", "--listen", &nobody_listen]);
    assert_eq!(status.status.code(), Some(2), "{}", stderr(&status));
    assert!(
        stderr(&status).contains(&format!(
            "error: the data directory {} is in use, but its serve record {} is stale: its \
             process {} has exited, and no server answers at http://{nobody_listen} (the \
             --listen address): pass --server",
            data.path().display(),
            record_path.display(),
            stale["pid"]
        )),
        "{}",
        stderr(&status)
    );
    // Its process lives (this test's), but nothing answers where it says.
    let silent = ReservedPort::new().unwrap();
    let mute = serde_json::json!({
        "pid": std::process::id(),
        "address": format!("127.0.0.1:{}", silent.port()),
    });
    std::fs::write(&record_path, mute.to_string()).unwrap();
    let status = run(data.path(), &["status", "--listen", &nobody_listen]);
    assert_eq!(status.status.code(), Some(2), "{}", stderr(&status));
    assert!(
        stderr(&status).contains(&format!(
            "is stale: nothing answers at http://127.0.0.1:{}, where process {} listened",
            silent.port(),
            std::process::id()
        )),
        "{}",
        stderr(&status)
    );
    // Told where the server is, a client warns about the record and goes on.
    let second_listen = second.base_url.trim_start_matches("http://");
    let status = run(data.path(), &["status", "--listen", second_listen]);
    assert_success(&status, "status with --listen beside a stale record");
    assert!(
        stderr(&status).contains("ignoring the serve record"),
        "{}",
        stderr(&status)
    );
}
