//! What a data directory tells the commands run on it (issue 14): `serve` records where it
//! listens (`serve.json`), so `import`, `status` and `dlq` find it on any port without
//! being told, and a record left by a killed server misleads neither a later `serve` nor
//! a client; and the subscriptions of every role exist before the first event is
//! published, so importing then serving gives the contacts, availability and shipments
//! that serving then importing gives.

mod support;

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{SHIPPING_EMAIL, Server, binary, fixtures, run, stdout};
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

const WEEKLY_MEETING: &str = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//switchyard//test//EN\r\n\
BEGIN:VEVENT\r\n\
UID:standup-1\r\n\
DTSTAMP:20240301T000000Z\r\n\
DTSTART:20240304T090000Z\r\n\
DTEND:20240304T093000Z\r\n\
RRULE:FREQ=WEEKLY;BYDAY=MO,WE\r\n\
SUMMARY:Standup\r\n\
ORGANIZER;CN=Olga Organizer:mailto:olga@example.org\r\n\
ATTENDEE;CN=Dora:mailto:dora@example.com\r\n\
ATTENDEE;CN=Arno Attendee:mailto:arno@example.org\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";

/// Waits until every subscription of `server` has finished all it was given: twice in a
/// row, nothing published, in backlog or unacked that was not before.
fn wait_until_settled(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut previous = Value::Null;
    loop {
        let subscriptions = server.status()["subscriptions"].clone();
        let idle = subscriptions
            .as_array()
            .is_some_and(|all| all.iter().all(|s| s["backlog"] == 0 && s["unacked"] == 0));
        if idle && subscriptions == previous {
            return;
        }
        assert!(Instant::now() < deadline, "still busy: {subscriptions}");
        previous = subscriptions;
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// What the domain roles answer for `user`: contacts (without their score, which decays
/// with the time of the request), availability over the standup's week and over the
/// samples' holidays, shipments.
fn domain_answers(server: &Server, user: &str) -> Vec<(&'static str, Value)> {
    let mut contacts = server
        .get(&format!("/v1/contacts?user={user}&limit=1000"))
        .1;
    for contact in contacts["contacts"].as_array_mut().unwrap() {
        contact.as_object_mut().unwrap().remove("score");
    }
    let week =
        format!("/v1/availability?user={user}&from=2024-03-11T00:00:00Z&to=2024-03-16T00:00:00Z");
    let holidays =
        format!("/v1/availability?user={user}&from=2022-01-01T00:00:00Z&to=2022-03-31T00:00:00Z");
    vec![
        ("contacts", contacts),
        ("availability of the standup's week", server.get(&week).1),
        ("availability of the holidays", server.get(&holidays).1),
        (
            "shipments",
            server.get(&format!("/v1/shipments?user={user}")).1,
        ),
    ]
}

#[test]
fn import_then_serve_gives_what_serve_then_import_gives() {
    let inputs = tempfile::tempdir().unwrap();
    std::fs::write(inputs.path().join("shipping.eml"), SHIPPING_EMAIL).unwrap();
    std::fs::write(inputs.path().join("standup.ics"), WEEKLY_MEETING).unwrap();
    let good = fixtures().join("good");
    let import_args = [
        "import",
        good.to_str().unwrap(),
        inputs.path().to_str().unwrap(),
        "--user",
        "dora",
    ];

    // Imported before any server ran: only the pipeline's consumers ran then.
    let imported_first = tempfile::tempdir().unwrap();
    assert_success(&run(imported_first.path(), &import_args), "import");
    let late_server = Server::start(imported_first.path());
    wait_until_settled(&late_server);
    let late = domain_answers(&late_server, "dora");

    // Imported into a running server.
    let served_first = tempfile::tempdir().unwrap();
    let early_server = Server::start(served_first.path());
    assert_success(&run(served_first.path(), &import_args), "import");
    wait_until_settled(&early_server);
    let early = domain_answers(&early_server, "dora");

    // What is compared is there at all.
    let (_, contacts) = &early[0];
    let addresses: Vec<&str> = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    for expected in [
        "orders@shop.example",
        "olga@example.org",
        "berrange@redhat.com",
    ] {
        assert!(addresses.contains(&expected), "{expected}: {contacts}");
    }
    let (_, week) = &early[1];
    assert_eq!(week["busy"].as_array().unwrap().len(), 2, "{week}");
    let (_, shipments) = &early[3];
    assert_eq!(
        shipments["shipments"].as_array().unwrap().len(),
        1,
        "{shipments}"
    );

    for ((what, served_then_imported), (_, imported_then_served)) in early.iter().zip(&late) {
        assert_eq!(
            imported_then_served, served_then_imported,
            "{what}: import then serve differs from serve then import"
        );
    }
}
