//! Connecting a Microsoft 365 account through the API of a real `serve`, pointed at a
//! local fake of Microsoft's token endpoint and Graph (only the base URLs differ from
//! production): the history arrives as a backfill job whose progress the owner reads,
//! every item becomes searchable for its owner only, no credential is ever answered or
//! stored in the clear, and disconnecting forgets the account. A server killed (-9)
//! mid-backfill resumes it with exact counts; then Graph's subscription handshake reaches
//! the webhook, a change notification streams the change into search, a forged one is
//! refused and audited, and a disconnect with `purge=true` removes the account's items.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::Server;

const MESSAGES: usize = 45;

#[test]
fn a_connected_microsoft_account_is_backfilled_for_its_owner_only() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(switchyard_providers::fake::start(|fake| {
        fake.messages = MESSAGES;
        fake.page_size = 10;
    }));
    let data = tempfile::tempdir().unwrap();
    let token_url = fake.token_url();
    let server = Server::start_with_env(
        data.path(),
        &[],
        &[
            ("SWITCHYARD_MICROSOFT_GRAPH_URL", &fake.base_url),
            ("SWITCHYARD_MICROSOFT_TOKEN_URL", &token_url),
            (
                "SWITCHYARD_MICROSOFT_CLIENT_ID",
                "00001111-aaaa-2222-bbbb-3333cccc4444",
            ),
            ("SWITCHYARD_MICROSOFT_CLIENT_SECRET", "client-secret-value"),
        ],
    );
    let alice = server.token("alice", "write");
    let bob = server.token("bob", "write");

    // A body without a grant, or an unknown data type, is refused and names why.
    let (status, body) = server.post_as(
        &alice,
        "/v1/integrations",
        r#"{"provider": "microsoft", "data_types": ["emails"]}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("refresh_token"),
        "{body}"
    );
    let (status, _) = server.post_as(
        &alice,
        "/v1/integrations",
        r#"{"provider": "microsoft", "refresh_token": "x", "data_types": ["faxes"]}"#,
    );
    assert!(status == 400 || status == 422, "{status}");

    let (status, integration) = server.post_as(
        &alice,
        "/v1/integrations",
        r#"{"provider": "microsoft", "refresh_token": "user-granted-refresh-token", "data_types": ["emails"]}"#,
    );
    assert_eq!(status, 201, "{integration}");
    assert_eq!(integration["state"], "active");
    let id = integration["id"].as_str().unwrap().to_string();
    let job = integration["backfill_job"].as_str().unwrap().to_string();

    let deadline = Instant::now() + Duration::from_secs(60);
    let progress = loop {
        let (status, progress) = server.get_as(&alice, &format!("/v1/backfill/{job}"));
        assert_eq!(status, 200, "{progress}");
        if progress["state"] != "running" {
            break progress;
        }
        assert!(
            Instant::now() < deadline,
            "the backfill did not end: {progress}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        progress["state"],
        "done",
        "{progress}\n{}",
        server.log_tail(20)
    );
    assert_eq!(progress["total"], MESSAGES);
    assert_eq!(progress["done"], MESSAGES);
    assert_eq!(progress["failed"], 0);
    assert_eq!(progress["percent"], 100.0);
    assert_eq!(
        progress["cursor"]["data_types"],
        serde_json::json!(["emails"])
    );

    // The CLI reads the same through the server holding the data directory, and starts
    // a second backfill that it watches to its end.
    // The last JSON document printed (`--watch` off a terminal prints one a second).
    let json = |output: std::process::Output| -> Value {
        serde_json::Deserializer::from_slice(&output.stdout)
            .into_iter::<Value>()
            .last()
            .expect("the CLI prints JSON")
            .expect("the CLI prints JSON")
    };
    let status = json(server.run_client(
        data.path(),
        &["backfill", "status", &job, "--user", "alice"],
    ));
    assert_eq!(
        (&status["state"], &status["done"]),
        (&Value::from("done"), &Value::from(MESSAGES))
    );
    let again = json(server.run_client(
        data.path(),
        &[
            "backfill",
            "start",
            &id,
            "--data-types",
            "emails",
            "--user",
            "alice",
        ],
    ));
    let second = again["id"].as_str().unwrap().to_string();
    assert_ne!(second, job);
    let watched = json(server.run_client(
        data.path(),
        &["backfill", "status", &second, "--watch", "--user", "alice"],
    ));
    assert_eq!(
        (&watched["state"], &watched["done"]),
        (&Value::from("done"), &Value::from(MESSAGES))
    );
    let listed = json(server.run_client(data.path(), &["backfill", "list", "--user", "alice"]));
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), job.as_str()]);
    // A data type the integration does not read is refused, naming it.
    let (status, body) = server.post_as(
        &alice,
        "/v1/backfill",
        &format!(r#"{{"integration": "{id}", "data_types": ["files"]}}"#),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("does not read files"),
        "{body}"
    );

    server.wait_until_indexed();
    let (_, found) = server.get_as(&alice, "/v1/search?q=figures&type=email&limit=100");
    assert_eq!(found["hits"].as_array().unwrap().len(), MESSAGES, "{found}");

    // Bob sees neither the account, nor its job, nor its mail.
    let (status, _) = server.get_as(&bob, &format!("/v1/backfill/{job}"));
    assert_eq!(status, 404);
    let (status, _) = server.get_as(&bob, &format!("/v1/integrations/{id}"));
    assert_eq!(status, 404);
    let (_, listed) = server.get_as(&bob, "/v1/integrations");
    assert_eq!(listed, Value::Array(Vec::new()));
    let (_, found) = server.get_as(&bob, "/v1/search?q=figures");
    assert!(found["hits"].as_array().unwrap().is_empty(), "{found}");
    let (status, _) = server.delete_as(&bob, &format!("/v1/integrations/{id}"));
    assert_eq!(status, 404);

    // No answer and no stored byte holds a credential.
    let (_, listed) = server.get_as(&alice, "/v1/integrations");
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let text = listed.to_string();
    assert!(
        !text.contains("refresh") && !text.contains("access-"),
        "{text}"
    );
    let stored = std::fs::read(data.path().join("integrations.redb")).unwrap();
    for secret in [
        "user-granted-refresh-token",
        "refresh-1",
        "client-secret-value",
    ] {
        assert!(
            !stored
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "{secret} is stored in the clear"
        );
    }
    let log = std::fs::read_to_string(Server::log_path(data.path())).unwrap();
    assert!(!log.contains("user-granted-refresh-token") && !log.contains("access-1"));

    let (status, gone) = server.delete_as(&alice, &format!("/v1/integrations/{id}"));
    assert_eq!(status, 200, "{gone}");
    let (status, _) = server.get_as(&alice, &format!("/v1/integrations/{id}"));
    assert_eq!(status, 404);
}

/// Waits until the backfill `job` leaves `running`; its last progress.
fn finished(server: &Server, token: &str, job: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, progress) = server.get_as(token, &format!("/v1/backfill/{job}"));
        assert_eq!(status, 200, "{progress}");
        if progress["state"] != "running" {
            return progress;
        }
        assert!(
            Instant::now() < deadline,
            "the backfill did not end: {progress}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Hits of `query` of `kind` for `token`'s user.
fn hits(server: &Server, token: &str, query: &str, kind: &str) -> Vec<Value> {
    let (status, found) = server.get_as(
        token,
        &format!("/v1/search?q={query}&type={kind}&limit=500"),
    );
    assert_eq!(status, 200, "{found}");
    found["hits"].as_array().unwrap().clone()
}

#[test]
fn a_killed_server_resumes_the_backfill_then_webhooks_stream_changes() {
    const MAIL: usize = 60;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(switchyard_providers::fake::start(|fake| {
        fake.messages = MAIL;
        fake.events = 6;
        fake.contacts = 4;
        fake.todo_lists = 1;
        fake.tasks_per_list = 3;
        fake.files = 3;
        fake.page_size = 4;
        fake.page_delay = Duration::from_millis(60);
    }));
    let total = MAIL + 6 + 4 + 3 + 3;
    let data = tempfile::tempdir().unwrap();
    let token_url = fake.token_url();
    let env = [
        ("SWITCHYARD_MICROSOFT_GRAPH_URL", fake.base_url.as_str()),
        ("SWITCHYARD_MICROSOFT_TOKEN_URL", &token_url),
        (
            "SWITCHYARD_MICROSOFT_CLIENT_ID",
            "00001111-aaaa-2222-bbbb-3333cccc4444",
        ),
        ("SWITCHYARD_MICROSOFT_CLIENT_SECRET", "client-secret-value"),
        (
            "SWITCHYARD_MICROSOFT_WEBHOOK_URL",
            "{base_url}/v1/webhooks/microsoft",
        ),
        ("SWITCHYARD_MICROSOFT_POLL_SECS", "3600"),
    ];
    let server = Server::start_with_env(data.path(), &[], &env);
    let alice = server.token("alice", "write");
    let bob = server.token("bob", "write");
    let (status, integration) = server.post_as(
        &alice,
        "/v1/integrations",
        r#"{"provider": "microsoft", "refresh_token": "granted",
            "data_types": ["emails", "calendars", "contacts", "todos", "files"]}"#,
    );
    assert_eq!(status, 201, "{integration}");
    let id = integration["id"].as_str().unwrap().to_string();
    let job = integration["backfill_job"].as_str().unwrap().to_string();

    // Kill -9 once a few pages are in, and start again on the same data directory.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, progress) = server.get_as(&alice, &format!("/v1/backfill/{job}"));
        if progress["done"].as_u64().unwrap_or(0) >= 12 {
            assert_eq!(progress["state"], "running", "killed too late: {progress}");
            break;
        }
        assert!(Instant::now() < deadline, "no progress: {progress}");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill();
    let server = Server::start_with_env(data.path(), &[], &env);
    let progress = finished(&server, &alice, &job);
    assert_eq!(
        progress["state"],
        "done",
        "{progress}\n{}",
        server.log_tail(30)
    );
    assert_eq!(
        (&progress["total"], &progress["done"], &progress["failed"]),
        (&Value::from(total), &Value::from(total), &Value::from(0))
    );

    // Every item exactly once in alice's search, none in bob's.
    server.wait_until_indexed();
    assert_eq!(hits(&server, &alice, "figures", "email").len(), MAIL);
    assert_eq!(hits(&server, &alice, "sync", "calendar").len(), 6);
    assert_eq!(hits(&server, &alice, "contact", "contact").len(), 4);
    assert_eq!(hits(&server, &alice, "task", "todo").len(), 3);
    assert!(hits(&server, &bob, "figures", "email").is_empty());
    // The drive's Word file was downloaded and read into a searchable document.
    let (_, found) = server.get_as(&alice, "/v1/search?q=hyperlinks&limit=50");
    assert!(!found["hits"].as_array().unwrap().is_empty(), "{found}");
    let (_, found) = server.get_as(&bob, "/v1/search?q=hyperlinks&limit=50");
    assert!(found["hits"].as_array().unwrap().is_empty(), "{found}");

    // Once the history is read, every feed is subscribed: Graph's handshake reached
    // the webhook through the real route.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fake.subscriptions.lock().unwrap().len() < 6 {
        assert!(
            Instant::now() < deadline,
            "not subscribed: {}",
            server.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    tls_client_handshake(&server);

    // A genuine notification streams a new message into search.
    let inbox = fake
        .subscriptions
        .lock()
        .unwrap()
        .iter()
        .find(|sub| sub.resource.contains("inbox"))
        .map(|sub| sub.id.clone())
        .expect("the inbox is subscribed");
    let added = fake.add(switchyard_integrations::DataType::Emails);
    assert_eq!(runtime.block_on(fake.notify(&inbox)).unwrap(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    while hits(&server, &alice, "figures", "email").len() < MAIL + 1 {
        assert!(
            Instant::now() < deadline,
            "{added} not streamed: {}",
            server.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the syncs that notification (and the first one after the backfill) started end.
    std::thread::sleep(Duration::from_millis(500));

    // A forged one is refused and audited, and reads nothing: the next message stays
    // unread until a genuine signal.
    let unread = fake.add(switchyard_integrations::DataType::Emails);
    assert_eq!(runtime.block_on(fake.notify_forged(&inbox)).unwrap(), 403);
    let audit = std::fs::read_to_string(data.path().join("audit/audit.jsonl")).unwrap();
    assert!(
        audit.contains("/v1/webhooks/microsoft") && audit.contains("clientState"),
        "{audit}"
    );
    std::thread::sleep(Duration::from_millis(500));
    server.wait_until_indexed();
    assert_eq!(
        hits(&server, &alice, "figures", "email").len(),
        MAIL + 1,
        "{unread} was read on a forged signal"
    );

    // Disconnecting with purge deletes the subscriptions and every item downstream.
    let (status, gone) = server.delete_as(&alice, &format!("/v1/integrations/{id}?purge=true"));
    assert_eq!(status, 200, "{gone}");
    assert!(fake.subscriptions.lock().unwrap().is_empty());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !hits(&server, &alice, "figures", "email").is_empty() {
        assert!(
            Instant::now() < deadline,
            "not purged: {}",
            server.log_tail(30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.wait_until_indexed();
    assert!(hits(&server, &alice, "sync", "calendar").is_empty());
}

/// The handshake straight: the URL-decoded `validationToken` comes back as text.
fn tls_client_handshake(server: &Server) {
    support::tls_provider();
    let response = reqwest::blocking::Client::new()
        .post(format!(
            "{}/v1/webhooks/microsoft?validationToken=Validation%3A%20Testing%20client%20application%20reachability%20for%20subscription%20Request-Id%3A%20abc",
            server.base_url
        ))
        .header("content-type", "text/plain; charset=utf-8")
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert_eq!(
        response.text().unwrap(),
        "Validation: Testing client application reachability for subscription Request-Id: abc"
    );
}
