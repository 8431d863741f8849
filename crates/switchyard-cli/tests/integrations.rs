//! Connecting a Microsoft 365 account through the API of a real `serve`, pointed at a
//! local fake of Microsoft's token endpoint and Graph (only the base URLs differ from
//! production): the mail history arrives as a backfill job whose progress the owner
//! reads, every message becomes searchable for its owner only, no credential is ever
//! answered or stored in the clear, and disconnecting forgets the account.

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
