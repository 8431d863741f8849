//! `POST /v1/events` in the three CloudEvents HTTP content modes, against the real
//! server: binary (`ce-` headers, percent-encoded values, the data as the body),
//! structured and batched, with their refusals (415 for a body no mode reads; the index
//! and attribute of a bad event). And the official CloudEvents SDK for Python (PyPI
//! `cloudevents`, installed by `.ci/run`) as the client in binary and structured mode
//! (`support/cloudevents_sdk.py`): every event it sends is published once and searchable
//! with its data.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::Server;

/// The module the Python client needs: the SDK's HTTP binding (cloudevents 2.x).
const SDK_MODULE: &str = "cloudevents.core.bindings.http";

/// The data of an email event of `user`.
fn email_data(user: &str, item_id: &str, subject: &str) -> Value {
    json!({
        "operation": "create",
        "batch_id": "b1",
        "last_updated": "2024-05-01T10:00:00Z",
        "sync_timestamp": "2024-05-01T10:00:01Z",
        "sync_type": "streaming",
        "provider": "test",
        "user_id": user,
        "item": {"id": item_id, "subject": subject, "body_text": "field notes"}
    })
}

/// A structured-mode email event of `user`.
fn email_event(event_id: &str, user: &str, item_id: &str, subject: &str) -> Value {
    json!({
        "specversion": "1.0", "id": event_id, "source": "/test",
        "type": "switchyard.office.email", "datacontenttype": "application/json",
        "data": email_data(user, item_id, subject)
    })
}

/// POSTs `body` to `/v1/events` with `token` and `headers`: (status, JSON answer).
fn post(server: &Server, token: &str, headers: &[(&str, &str)], body: &str) -> (u16, Value) {
    support::tls_provider();
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{}/v1/events", server.base_url))
        .bearer_auth(token)
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().expect("the server answers");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

/// The binary-mode headers of an email event.
fn binary_headers<'a>(event_id: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut headers = vec![
        ("ce-specversion", "1.0"),
        ("ce-id", event_id),
        ("ce-source", "/test"),
        ("ce-type", "switchyard.office.email"),
    ];
    headers.extend_from_slice(extra);
    headers
}

/// How many events the server published on `emails`.
fn published_emails(server: &Server) -> u64 {
    let status = server.status();
    status["subscriptions"]
        .as_array()
        .unwrap_or_else(|| panic!("no subscriptions in {status}"))
        .iter()
        .find(|subscription| subscription["topic"] == "emails")
        .map_or(0, |subscription| {
            subscription["published"].as_u64().unwrap()
        })
}

/// The hits of `query` in `user`'s data.
fn hits(server: &Server, user: &str, query: &str) -> Vec<Value> {
    let (status, body) = server.get(&format!("/v1/search?q={query}&user={user}"));
    assert_eq!(status, 200, "{body}");
    body["hits"].as_array().cloned().unwrap_or_default()
}

#[test]
fn binary_structured_and_batched_modes_and_their_refusals() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let alice = server.token("alice", "write");

    // Binary mode: the percent-encoded subject, the data as the body; the answer is the
    // one of the other modes.
    let body = email_data("alice", "m-bin", "Walrus census").to_string();
    let headers = binary_headers(
        "ev-bin",
        &[
            ("ce-subject", "Gr%C3%BC%C3%9Fe%20%22100%25%22"),
            (
                "ce-traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
            ("content-type", "application/json; charset=utf-8"),
        ],
    );
    let (status, answer) = post(&server, &alice, &headers, &body);
    assert_eq!(status, 202, "{answer}");
    assert_eq!(
        answer,
        json!({"accepted": 1, "ids": ["ev-bin"], "rejected": []})
    );

    // Binary mode without an attribute: the event (index 0) and the header are named.
    let headers: Vec<_> = binary_headers("ev-x", &[("content-type", "application/json")])
        .into_iter()
        .filter(|(name, _)| *name != "ce-id")
        .collect();
    let (status, answer) = post(&server, &alice, &headers, &body);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(
        (&answer["field"], &answer["index"]),
        (&json!("ce-id"), &json!(0)),
        "{answer}"
    );
    assert!(
        answer["error"].as_str().unwrap().contains("ce-id"),
        "{answer}"
    );
    let headers = binary_headers("ev-x", &[("ce-time", "yesterday")]);
    let (status, answer) = post(&server, &alice, &headers, &body);
    assert_eq!(
        (status, &answer["field"]),
        (400, &json!("ce-time")),
        "{answer}"
    );
    // The payload is checked as in structured mode.
    let headers = binary_headers("ev-x", &[("content-type", "application/json")]);
    let mut no_user = email_data("alice", "m-x", "x");
    no_user.as_object_mut().unwrap().remove("user_id");
    let (status, answer) = post(&server, &alice, &headers, &no_user.to_string());
    assert_eq!(
        (status, &answer["field"]),
        (400, &json!("data.user_id")),
        "{answer}"
    );
    // The same auth decision: another user's event is refused.
    let bob_mail = email_data("bob", "m-bob", "Not yours").to_string();
    let (status, answer) = post(&server, &alice, &headers, &bob_mail);
    assert_eq!(status, 403, "{answer}");
    // Binary-mode data that is not JSON.
    let headers = binary_headers("ev-x", &[("content-type", "text/plain")]);
    let (status, answer) = post(&server, &alice, &headers, "Walrus");
    assert_eq!(status, 415, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("JSON"),
        "{answer}"
    );

    // Structured mode: one event.
    let structured = [(
        "content-type",
        "application/cloudevents+json; charset=utf-8",
    )];
    let event = email_event("ev-str", "alice", "m-str", "Narwhal tusks");
    let (status, answer) = post(&server, &alice, &structured, &event.to_string());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["ids"], json!(["ev-str"]), "{answer}");
    let (status, answer) = post(&server, &alice, &structured, &json!([event]).to_string());
    assert_eq!(status, 400, "an array is a batch: {answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("application/cloudevents-batch+json"),
        "{answer}"
    );

    // Batched mode: an array; a bad event is named by index and attribute.
    let batched = [("content-type", "application/cloudevents-batch+json")];
    let mut bad_time = email_event("ev-b2", "alice", "m-b2", "x");
    bad_time["time"] = json!("yesterday");
    let batch = json!([
        email_event("ev-b1", "alice", "m-b1", "Beluga songs"),
        bad_time
    ]);
    let (status, answer) = post(&server, &alice, &batched, &batch.to_string());
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["ids"], json!(["ev-b1"]), "{answer}");
    assert_eq!(
        (
            &answer["rejected"][0]["index"],
            &answer["rejected"][0]["field"]
        ),
        (&json!(1), &json!("time")),
        "{answer}"
    );
    let (status, answer) = post(&server, &alice, &batched, &event.to_string());
    assert_eq!(status, 400, "a batch is an array: {answer}");
    let (status, answer) = post(&server, &alice, &batched, "[1]");
    assert_eq!((status, &answer["index"]), (400, &json!(0)), "{answer}");

    // Content types no mode reads: 415, saying what to send.
    for content_type in [
        Some("text/plain"),
        Some("application/cloudevents+xml"),
        Some("application/cloudevents-batch+avro"),
        None,
    ] {
        let headers: Vec<_> = content_type
            .map(|value| ("content-type", value))
            .into_iter()
            .collect();
        let (status, answer) = post(&server, &alice, &headers, &event.to_string());
        assert_eq!(status, 415, "{content_type:?}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap()
                .contains("application/cloudevents"),
            "{content_type:?}: {answer}"
        );
    }

    // What was accepted is indexed once, with its data.
    server.wait_until_indexed();
    assert_eq!(published_emails(&server), 3);
    for (query, item) in [
        ("walrus", "m-bin"),
        ("narwhal", "m-str"),
        ("beluga", "m-b1"),
    ] {
        let found = hits(&server, "alice", query);
        assert_eq!(found.len(), 1, "{query}: {found:?}");
        assert_eq!(found[0]["id"], item, "{query}: {found:?}");
    }
}

/// Fails, saying how to install it, when `python3` cannot import the SDK.
fn require_python_sdk() {
    let output = Command::new("python3")
        .args(["-c", &format!("import {SDK_MODULE}")])
        .output()
        .expect("python3 runs: the CloudEvents SDK test needs it");
    assert!(
        output.status.success(),
        "the CloudEvents SDK for Python is not importable by python3 ({SDK_MODULE}): install \
         it with `python3 -m pip install 'cloudevents>=2,<3'` (.ci/run does when it is \
         missing)\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_python_sdk_sends_in_binary_and_structured_mode() {
    require_python_sdk();
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let alice = server.token("alice", "write");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/cloudevents_sdk.py");
    let output = Command::new("python3")
        .arg(&script)
        .args([server.base_url.as_str(), alice.as_str(), "alice"])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed:\n{stdout}{}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let sent: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON line per request"))
        .collect();
    let modes: Vec<(&str, &str)> = sent
        .iter()
        .map(|line| {
            (
                line["client"].as_str().unwrap(),
                line["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        [
            ("binding", "binary"),
            ("binding", "binary"),
            ("binding", "structured"),
            ("v1", "binary"),
            ("v1", "structured"),
        ]
    );
    for line in &sent {
        assert_eq!(line["status"], 202, "{line}");
        assert_eq!(
            line["answer"],
            json!({"accepted": 1, "ids": [line["id"]], "rejected": []}),
            "{line}"
        );
    }

    server.wait_until_indexed();
    assert_eq!(
        published_emails(&server),
        sent.len() as u64,
        "each event published once"
    );
    for line in &sent {
        let subject = line["subject"].as_str().unwrap();
        let word = subject.split(' ').next().unwrap().to_lowercase();
        let found = hits(&server, "alice", &word);
        assert_eq!(found.len(), 1, "{line}: {found:?}");
        assert_eq!(found[0]["id"], line["item"], "{line}: {found:?}");
        assert_eq!(found[0]["title"], subject, "{line}: {found:?}");
    }
}
