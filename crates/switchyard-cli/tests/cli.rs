//! End-to-end tests of the `switchyard` binary on the embedded engines: import, search,
//! the HTTP API, bad input.

mod support;

use std::collections::HashSet;

use serde_json::json;
use support::{Server, fixtures, run, search, stdout};

fn ids(hits: &[serde_json::Value]) -> Vec<String> {
    hits.iter()
        .map(|hit| hit["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn imported_samples_are_searchable_per_user_and_type() {
    let data = tempfile::tempdir().unwrap();
    let output = run(
        data.path(),
        &[
            "import",
            fixtures().join("good").to_str().unwrap(),
            "--user",
            "alice",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout(&output).contains("rejected 0"),
        "{}",
        stdout(&output)
    );

    let luks = search(data.path(), "alice", "LUKS", &[]);
    assert!(!luks.is_empty());
    assert!(
        luks.iter().all(|hit| hit["doc_type"] == "email"),
        "{luks:?}"
    );
    assert!(luks.iter().all(|hit| hit["score"].as_f64().unwrap() > 0.0));
    assert!(
        luks[0]["title"].as_str().unwrap().contains("LUKS"),
        "{luks:?}"
    );

    let christmas = search(data.path(), "alice", "Christmas", &[]);
    assert_eq!(christmas.len(), 1, "{christmas:?}");
    assert_eq!(christmas[0]["doc_type"], "calendar");
    assert_eq!(christmas[0]["title"], "Orthodox Christmas");

    let contact = search(data.path(), "alice", "Novosibirsk", &["--type", "contact"]);
    assert_eq!(contact.len(), 1, "{contact:?}");
    assert!(contact[0]["title"].as_str().unwrap().contains("Daffy"));
    assert!(search(data.path(), "alice", "Novosibirsk", &["--type", "email"]).is_empty());

    assert!(
        search(data.path(), "bob", "LUKS", &[]).is_empty(),
        "bob sees alice's mail"
    );
    assert!(search(data.path(), "bob", "", &[]).is_empty());
}

#[test]
fn importing_twice_leaves_one_document_per_item() {
    let data = tempfile::tempdir().unwrap();
    let folder = fixtures().join("good");
    let first = run(
        data.path(),
        &["import", folder.to_str().unwrap(), "--user", "alice"],
    );
    assert!(first.status.success());
    let before = ids(&search(data.path(), "alice", "", &["--limit", "1000"]));
    let second = run(
        data.path(),
        &["import", folder.to_str().unwrap(), "--user", "alice"],
    );
    assert!(second.status.success());
    let after = ids(&search(data.path(), "alice", "", &["--limit", "1000"]));
    assert!(before.len() >= 8, "{before:?}");
    let unique: HashSet<_> = after.iter().collect();
    assert_eq!(unique.len(), after.len(), "duplicate documents: {after:?}");
    assert_eq!(
        before.iter().collect::<HashSet<_>>(),
        unique,
        "a re-import changed the set of documents"
    );
}

#[test]
fn bad_files_are_named_and_the_rest_is_imported() {
    let data = tempfile::tempdir().unwrap();
    let output = run(
        data.path(),
        &[
            "import",
            fixtures().join("good").to_str().unwrap(),
            fixtures().join("broken").to_str().unwrap(),
            "--user",
            "alice",
        ],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "a rejection must fail the exit code"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken_dtstart.ics"), "{stderr}");
    assert!(stderr.contains("VEVENT"), "{stderr}");
    assert!(
        stdout(&output).contains("rejected 1"),
        "{}",
        stdout(&output)
    );
    assert_eq!(search(data.path(), "alice", "Christmas", &[]).len(), 1);
}

fn email_event(id: &str, user: &str, item_id: &str, subject: &str) -> serde_json::Value {
    json!({
        "specversion": "1.0",
        "id": id,
        "source": "/tests/http",
        "type": "switchyard.office.email",
        "datacontenttype": "application/json",
        "data": {
            "operation": "create",
            "batch_id": "b1",
            "last_updated": "2024-01-01T00:00:00Z",
            "sync_timestamp": "2024-01-01T00:00:00Z",
            "sync_type": "streaming",
            "provider": "gmail",
            "user_id": user,
            "item": { "id": item_id, "subject": subject, "body_text": "migration of the zebras" }
        }
    })
}

#[test]
fn http_api_accepts_valid_events_and_names_the_field_of_invalid_ones() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let alice = server.token("alice", "write");
    let post = |body: &str| server.post_as(&alice, "/v1/events", body);

    let (status, body) = post(&email_event("e1", "alice", "m1", "Zebra plans").to_string());
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1);

    let mut missing_user = email_event("e2", "alice", "m2", "Other");
    missing_user["data"]
        .as_object_mut()
        .unwrap()
        .remove("user_id");
    let (status, body) = post(&missing_user.to_string());
    assert_eq!(status, 400);
    assert_eq!(body["field"], "data.user_id", "{body}");

    let mut bad_time = email_event("e3", "alice", "m3", "Other");
    bad_time["time"] = json!("not a time");
    let (status, body) = post(&bad_time.to_string());
    assert_eq!(
        (status, body["field"].clone()),
        (400, json!("time")),
        "{body}"
    );

    // One bad event in an array: the others are published, the bad one named.
    let batch = json!([email_event("e4", "alice", "m4", "Giraffe notes"), {"specversion": "1.0"}]);
    let (status, body) = post(&batch.to_string());
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["rejected"][0]["index"], 1, "{body}");

    let (status, _) = post("{not json");
    assert_eq!(status, 400);

    server.wait_until_indexed();
    // A user token searches its own data, with or without `user`.
    let (status, body) = server.get_as(&alice, "/v1/search?q=zebra");
    assert_eq!(status, 200);
    let hits = body["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "{body}");
    assert_eq!(hits[0]["id"], "m1");
    let (_, body) = server.get_as(&alice, "/v1/search?q=giraffe&user=alice");
    assert_eq!(body["hits"].as_array().unwrap().len(), 1, "{body}");
    // Another user's data: refused, and bob's own search does not see alice's mail.
    let (status, _) = server.get_as(&alice, "/v1/search?q=zebra&user=bob");
    assert_eq!(status, 403);
    let bob = server.token("bob", "read");
    let (status, body) = server.get_as(&bob, "/v1/search?q=zebra");
    assert_eq!((status, body["hits"].clone()), (200, json!([])), "{body}");
    let (status, _) = support::get(&format!("{}/v1/search?q=zebra", server.base_url)).unwrap();
    assert_eq!(status, 401, "a search without a credential must be refused");
    let audit = std::fs::read_to_string(data.path().join("audit/audit.jsonl")).unwrap();
    assert!(
        audit
            .lines()
            .any(|line| line.contains("\"target_user\":\"bob\"") && line.contains("refused")),
        "{audit}"
    );
}

#[test]
fn import_sends_to_the_running_server_that_holds_the_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    server.run_client(
        data.path(),
        &[
            "import",
            fixtures().join("good").to_str().unwrap(),
            "--user",
            "carol",
        ],
    );
    // import waits until the server has indexed what it sent.
    let (_, body) = server.get("/v1/search?q=Christmas&user=carol");
    assert_eq!(body["hits"].as_array().unwrap().len(), 1, "{body}");
}

#[test]
fn catalog_check_passes_on_the_shipped_event_sets() {
    let data = tempfile::tempdir().unwrap();
    let output = run(data.path(), &["catalog", "check"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{}{stderr}", stdout(&output));
    assert!(stderr.contains("0 violations"), "{stderr}");
}

#[test]
fn http_api_accepts_any_registered_event_type_and_checks_its_schema() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let created = json!({
        "specversion": "1.0", "id": "s-1", "source": "/billing", "type": "subscription.created",
        "data": {"subscription_id": "sub-1", "user_id": "u-1", "plan_code": "pro", "status": "trialing"}
    });
    let (status, body) = server.post("/v1/events", &created.to_string());
    assert_eq!(status, 202, "{body}");
    let mut missing = created.clone();
    missing["data"].as_object_mut().unwrap().remove("plan_code");
    let (status, body) = server.post("/v1/events", &missing.to_string());
    assert_eq!(status, 400);
    assert_eq!(body["field"], "data.plan_code", "{body}");
}

#[test]
fn dead_letters_are_listed_purged_and_counted_in_metrics_over_cli_and_http() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    // An email dated in the year 2999 is valid on the wire, but the indexer refuses
    // future timestamps: it is dead-lettered at once (the other consumers take it).
    let mut future = email_event("future-1", "dora", "m-future", "From the future");
    future["data"]["last_updated"] = json!("2999-01-01T00:00:00Z");
    let (status, body) = server.post("/v1/events", &future.to_string());
    assert_eq!(status, 202, "{body}");
    server.wait_until_indexed();

    let (_, listing) = server.get("/v1/dlq");
    assert_eq!(listing["counts"][0]["topic"], "emails", "{listing}");
    assert_eq!(listing["counts"][0]["error_type"], "permanent", "{listing}");
    assert_eq!(listing["entries"][0]["event_id"], "future-1");

    let port = server.base_url.rsplit(':').next().unwrap().to_string();
    let cli = |args: &[&str]| {
        support::binary()
            .args(args)
            .arg("--data-dir")
            .arg(data.path())
            .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
            .output()
            .unwrap()
    };
    let list = cli(&["dlq", "list", "--json"]);
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed["entries"].as_array().unwrap().len(), 1);

    let unconfirmed = cli(&["dlq", "purge", "--all"]);
    assert_eq!(unconfirmed.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unconfirmed.stderr).contains("--yes"));
    let purged = cli(&["dlq", "purge", "--all", "--yes"]);
    assert_eq!(
        stdout(&purged).trim(),
        "purged 1",
        "{}",
        String::from_utf8_lossy(&purged.stderr)
    );

    let cleanup = cli(&["state", "cleanup"]);
    assert!(
        stdout(&cleanup).starts_with("deleted "),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );

    support::tls_provider();
    let metrics = reqwest::blocking::get(format!("{}/metrics", server.base_url))
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("switchyard_consumer_events_total{subscription=\"search-indexer-emails\",outcome=\"dead_lettered\"} 1"),
        "{metrics}"
    );
}

#[test]
fn topics_setup_creates_what_topics_check_reports_missing() {
    let data = tempfile::tempdir().unwrap();
    let before = run(data.path(), &["topics", "check"]);
    assert_eq!(before.status.code(), Some(1), "{}", stdout(&before));
    assert!(
        stdout(&before).contains("missing search-indexer-emails"),
        "{}",
        stdout(&before)
    );
    let setup = run(data.path(), &["topics", "setup", "--roles", "indexer"]);
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    assert!(stdout(&setup).contains("ok search-indexer-calendars on calendars"));
    let after = run(data.path(), &["topics", "check", "--roles", "indexer"]);
    assert!(after.status.success());
    assert!(stdout(&after).contains("0 subscriptions missing, 0 misconfigured"));
    let all = run(data.path(), &["topics", "check"]);
    assert_eq!(all.status.code(), Some(1));
    assert!(
        stdout(&all).contains("missing chunker-word_documents"),
        "{}",
        stdout(&all)
    );
    assert!(run(data.path(), &["topics", "setup"]).status.success());
    assert!(run(data.path(), &["topics", "check"]).status.success());
}

#[test]
fn serve_without_auto_create_refuses_missing_subscriptions() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "version = 1\n[subscriptions]\nauto_create = false\n",
    )
    .unwrap();
    let output = support::binary()
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(data.path().join("d"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("subscriptions missing on the bus")
            && stderr.contains("switchyard topics setup"),
        "{stderr}"
    );
}

/// Redis for state and PostgreSQL for the outbox, with the embedded bus: the same import
/// and dedupe behaviour (a fresh user per run keeps runs apart on the shared servers).
#[test]
fn redis_state_and_postgres_outbox_serve_the_same_pipeline() {
    let data = tempfile::tempdir().unwrap();
    let user = format!("redis-{}", std::process::id());
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into());
    let postgres = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let import = || {
        support::binary()
            .args([
                "import",
                fixtures().join("good").to_str().unwrap(),
                "--user",
                &user,
                "--data-dir",
            ])
            .arg(data.path())
            .args(["--state", &redis, "--outbox", &postgres])
            .output()
            .unwrap()
    };
    let first = import();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = ids(&search(data.path(), &user, "", &["--limit", "1000"]));
    assert!(before.len() >= 8, "{before:?}");
    let second = import();
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    let after = ids(&search(data.path(), &user, "", &["--limit", "1000"]));
    assert_eq!(before.len(), after.len());
}
