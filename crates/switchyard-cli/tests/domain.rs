//! The domain consumers through the real binary: a server's shipments role finds a
//! tracking number in an imported email and `GET /v1/shipments` shows it with its status
//! (and search finds the shipment event); the meetings role expands a weekly meeting into
//! `GET /v1/availability`.

mod support;

use std::time::{Duration, Instant};

use support::{SHIPPING_EMAIL, Server};

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
END:VEVENT\r\n\
END:VCALENDAR\r\n";

/// Polls `path` of `server` until `done` accepts the body, for at most 30 s.
fn poll(
    server: &Server,
    path: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = server.get(path);
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn shipments_and_availability_come_from_imported_mail_and_calendars() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("shipping.eml"), SHIPPING_EMAIL).unwrap();
    std::fs::write(folder.path().join("standup.ics"), WEEKLY_MEETING).unwrap();
    let server = Server::start(data.path());
    server.run_client(
        data.path(),
        &["import", folder.path().to_str().unwrap(), "--user", "dora"],
    );

    let body = poll(&server, "/v1/shipments?user=dora", |b| {
        b["shipments"].as_array().is_some_and(|s| !s.is_empty())
    });
    let shipments = body["shipments"].as_array().unwrap();
    assert_eq!(shipments.len(), 1, "{body}");
    assert_eq!(shipments[0]["carrier"], "ups");
    assert_eq!(shipments[0]["tracking_number"], "1Z879E930346834440");
    assert_eq!(shipments[0]["status"], "in_transit");
    let (_, other) = server.get("/v1/shipments?user=eve");
    assert_eq!(other["shipments"], serde_json::json!([]), "{other}");
    // The shipment event is indexed like any other item.
    let found = poll(
        &server,
        "/v1/search?q=1Z879E930346834440&user=dora&type=shipment",
        |b| b["hits"].as_array().is_some_and(|h| !h.is_empty()),
    );
    assert_eq!(found["hits"][0]["doc_type"], "shipment", "{found}");

    // The week of 11 March: Monday and Wednesday 09:00-09:30 are busy.
    let url = "/v1/availability?user=dora&from=2024-03-11T00:00:00Z&to=2024-03-16T00:00:00Z";
    let week = poll(&server, url, |b| {
        b["busy"].as_array().is_some_and(|x| !x.is_empty())
    });
    let busy: Vec<(String, String)> = week["busy"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap().to_string(),
                b["end"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        busy,
        [
            (
                "2024-03-11T09:00:00Z".to_string(),
                "2024-03-11T09:30:00Z".to_string()
            ),
            (
                "2024-03-13T09:00:00Z".to_string(),
                "2024-03-13T09:30:00Z".to_string()
            ),
        ],
        "{week}"
    );
    assert_eq!(week["free"].as_array().unwrap().len(), 3, "{week}");
    let (status, _) = server.get("/v1/availability?user=dora&from=x&to=y");
    assert_eq!(status, 400);
}

/// Reads SSE lines from `response` until `wanted` of them start with `data:`.
fn read_events(response: reqwest::blocking::Response, wanted: usize) -> Vec<String> {
    use std::io::BufRead;
    let mut data = Vec::new();
    for line in std::io::BufReader::new(response).lines() {
        let line = line.unwrap();
        if let Some(payload) = line.strip_prefix("data:") {
            data.push(payload.trim().to_string());
            if data.len() == wanted {
                break;
            }
        }
    }
    data
}

#[test]
fn contacts_are_discovered_and_forgotten_and_the_live_stream_signals_only_its_user() {
    const SECRET: &str = "a test secret of more than thirty-two bytes";
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("shipping.eml"), SHIPPING_EMAIL).unwrap();
    let server =
        Server::start_with_env(data.path(), &[], &[("SWITCHYARD_NOTIFIER_SECRET", SECRET)]);
    let token = |user: &str| {
        let output = support::binary()
            .args(["stream-token", "--user", user])
            .env("SWITCHYARD_NOTIFIER_SECRET", SECRET)
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    support::tls_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let stream = |user: &str, token: &str| {
        client
            .get(format!("{}/v1/stream?user={user}", server.base_url))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    // Another user's token does not open dora's stream, whichever kind it is.
    assert_eq!(stream("dora", &token("eve")).status(), 403);
    assert_eq!(stream("dora", &server.token("eve", "read")).status(), 403);
    assert_eq!(stream("dora", "sy_forged_token").status(), 401);
    // The API token of dora opens it like the short-lived stream token does.
    assert_eq!(stream("dora", &server.token("dora", "read")).status(), 200);
    let dora = stream("dora", &token("dora"));
    assert_eq!(dora.status(), 200);
    let eve = stream("eve", &token("eve"));

    server.run_client(
        data.path(),
        &["import", folder.path().to_str().unwrap(), "--user", "dora"],
    );

    let signals = read_events(dora, 1);
    let signal: serde_json::Value = serde_json::from_str(&signals[0]).unwrap();
    assert_eq!(signal["type"], "email", "{signal}");
    assert_eq!(signal["operation"], "create");
    // Eve's stream carries nothing of dora's: at most heartbeats, until the timeout.
    let eve_reader = std::thread::spawn(move || read_events(eve, 1));
    std::thread::sleep(Duration::from_secs(2));
    assert!(!eve_reader.is_finished(), "eve received a signal");

    let contacts = poll(&server, "/v1/contacts?user=dora", |b| {
        b["contacts"].as_array().is_some_and(|c| !c.is_empty())
    });
    let addresses: Vec<&str> = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert!(addresses.contains(&"orders@shop.example"), "{contacts}");
    server.run_client(data.path(), &["forget", "--user", "dora"]);
    let (_, after) = server.get("/v1/contacts?user=dora");
    assert_eq!(after["contacts"], serde_json::json!([]), "{after}");
}
