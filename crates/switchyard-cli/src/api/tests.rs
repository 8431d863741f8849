//! The access rules of every route in [`routes`], driven over HTTP against a node on a
//! temporary data directory: a route added to the table is tested here without a line
//! more, and it cannot be served without an [`Access`]. Also the guards around the
//! routes, and the answer to events the bus cannot take.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard_auth::{AuditLog, Authenticator, Scope, TokenStore};
use switchyard_bus::DownBroker;
use switchyard_contracts::Registry;
use switchyard_runtime::{PublishRetry, Publisher};

use super::*;
use crate::backends::EngineUrls;
use crate::config::Settings;
use crate::node::Node;

struct Api {
    base: String,
    client: reqwest::Client,
    tokens: TokenStore,
    audit_log: std::path::PathBuf,
    _node: Node,
}

impl Api {
    async fn start(dir: &Path, http: HttpSettings) -> Api {
        Api::start_with(dir, http, |_| {}).await
    }

    /// A node's API whose handler state `adjust` changed first.
    async fn start_with(dir: &Path, http: HttpSettings, adjust: impl FnOnce(&mut ApiState)) -> Api {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let settings =
            Settings::resolve(None, Some(dir.to_path_buf()), None, EngineUrls::default()).unwrap();
        let node = Node::open(&settings).await.map_err(|_| "open").unwrap();
        let tokens = TokenStore::in_data_dir(dir);
        let audit_log = dir.join("audit.jsonl");
        let control = Arc::new(AccessControl::new(
            Authenticator::new(TokenStore::in_data_dir(dir), None),
            None,
            AuditLog::open(&audit_log).unwrap(),
            http.rate_limit,
        ));
        let integrations = crate::integrations::Integrations::open(&settings, &node).unwrap();
        let mut state = ApiState::new(&node, control.clone(), integrations);
        adjust(&mut state);
        let app = router(state, node.journal.clone(), control, &http).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Api {
            base,
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            tokens,
            audit_log,
            _node: node,
        }
    }

    fn token(&self, user: &str, scope: Scope) -> String {
        self.tokens.create(user, scope, None, "test").unwrap().1
    }

    /// Sends `method path?query` with `token` (and `body` as JSON); status and body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}?{query}", self.base))
            .timeout(Duration::from_secs(5));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    fn audit(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.audit_log)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

fn http() -> HttpSettings {
    HttpSettings {
        max_body_bytes: 1 << 20,
        request_timeout: Duration::from_secs(10),
        allowed_origins: Vec::new(),
        allowed_hosts: vec!["127.0.0.1".into()],
        rate_limit: RateLimit {
            per_second: NonZeroU32::new(1000).unwrap(),
            burst: NonZeroU32::new(1000).unwrap(),
        },
    }
}

/// An email event of `user`.
fn email(user: &str, id: &str) -> Value {
    json!({
        "specversion": "1.0", "id": format!("ev-{user}-{id}"), "source": "/test",
        "type": "switchyard.office.email", "datacontenttype": "application/json",
        "data": {
            "operation": "create", "batch_id": "b", "last_updated": "2024-01-01T00:00:00Z",
            "sync_timestamp": "2024-01-01T00:00:00Z", "sync_type": "streaming",
            "provider": "test", "user_id": user,
            "item": {"id": id, "subject": "Quarterly invoice"}
        }
    })
}

/// The body a route needs to get past parsing (the access check comes first anyway).
fn body_for(path: &str, user: &str) -> Option<Value> {
    match path {
        "/v1/events" => Some(email(user, "m1")),
        "/v1/dlq/redrive" | "/v1/dlq/purge" => Some(json!({"confirm": true})),
        "/v1/register" => Some(
            json!({"email": format!("{user}@example.com"), "password": "correct horse 9", "locale": "en"}),
        ),
        "/v1/verify" => Some(json!({"email": format!("{user}@example.com"), "otp": "000000"})),
        "/v1/verify/resend" => Some(json!({"email": format!("{user}@example.com")})),
        "/v1/subscriptions" => {
            Some(json!({"user_id": user, "plan_code": "pro", "status": "active"}))
        }
        "/v1/subscriptions/{id}/cancel" => {
            Some(json!({"reason": "user_requested", "effective_until": "2999-01-01T00:00:00Z"}))
        }
        "/v1/subscriptions/{id}/status" => Some(json!({"status": "active", "reason": "paid"})),
        _ => None,
    }
}

#[tokio::test]
async fn every_route_refuses_another_users_data_and_the_audit_log_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(dir.path(), http()).await;
    let alice = api.token("alice", Scope::Write);
    let alice_read = api.token("alice", Scope::Read);
    let admin = api.token("ops", Scope::Admin);
    let table = routes();
    assert!(
        table.iter().any(|r| r.access == Access::Handler),
        "the stream is in the table"
    );

    let mut cross_user_attempts = 0;
    for route in &table {
        let path = route.path.replace("{id}", "x");
        let what = format!("{} {}", route.method, route.path);
        let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
        let body = body_for(route.path, "bob");
        let call = |token: Option<String>, query: &'static str| {
            let (method, path, body) = (method.clone(), path.clone(), body.clone());
            let api = &api;
            async move {
                api.call(method, &path, query, token.as_deref(), body.as_ref())
                    .await
            }
        };
        match route.access {
            Access::Public => {
                // The webhook answers Graph's handshake without a credential.
                let query = if route.path == "/v1/webhooks/microsoft" {
                    "validationToken=ping"
                } else {
                    ""
                };
                let (status, body) = call(None, query).await;
                match route.path {
                    // Without a credential, each answers on its own terms: a code that
                    // is not the one sent, a new code asked for too soon.
                    "/v1/verify" | "/v1/verify/resend" => assert!(
                        status == StatusCode::BAD_REQUEST
                            || status == StatusCode::TOO_MANY_REQUESTS,
                        "{what}: {status} {body}"
                    ),
                    _ => assert!(status.is_success(), "{what}: {status} {body}"),
                }
                continue;
            }
            Access::Admin => {
                let (status, body) = call(Some(alice.clone()), "").await;
                assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
                let (status, body) = call(Some(admin.clone()), "").await;
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{what} with an admin token: {status} {body}"
                );
            }
            Access::User(_) | Access::Handler => {
                let (status, body) = call(Some(alice.clone()), "user=bob").await;
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{what} as alice for bob: {body}"
                );
                cross_user_attempts += 1;
                if route.path == "/v1/events" {
                    // Without `?user=`: the event itself names bob.
                    let (status, body) = call(Some(alice.clone()), "").await;
                    assert_eq!(status, StatusCode::FORBIDDEN, "{what}: {body}");
                    cross_user_attempts += 1;
                }
            }
        }
        let (status, body) = call(None, "user=alice").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what} without a token: {body}"
        );
        let (status, _) = call(Some("sy_0000_forged".into()), "user=alice").await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{what} with a forged token"
        );
        if let Access::User(Scope::Write) = route.access {
            let (status, body) = call(Some(alice_read.clone()), "").await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{what} with a read token: {body}"
            );
        }
    }

    let refused: Vec<Value> = api
        .audit()
        .into_iter()
        .filter(|e| e["outcome"] == "refused" && e["target_user"] == "bob")
        .collect();
    assert_eq!(refused.len(), cross_user_attempts, "{refused:#?}");
    assert!(refused.iter().all(|e| e["principal"] == "alice"));
    // The refusals are counted by reason (the counters are the process's: at least).
    let metrics = api
        .client
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let counted = |reason: &str| -> u64 {
        let prefix = format!("switchyard_http_refusals_total{{reason=\"{reason}\"}} ");
        metrics
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        counted("forbidden") >= cross_user_attempts as u64,
        "{metrics}"
    );
    let guarded = table.iter().filter(|r| r.access != Access::Public).count() as u64;
    assert!(counted("unauthenticated") >= 2 * guarded, "{metrics}");
    assert!(
        metrics.trim_end().ends_with("# EOF"),
        "one exposition: {metrics}"
    );
    let logged = std::fs::read_to_string(&api.audit_log).unwrap();
    assert!(
        !logged.contains(&alice),
        "a credential reached the audit log"
    );
    assert!(
        !logged.contains("Quarterly invoice"),
        "a payload reached the audit log"
    );
}

#[tokio::test]
async fn scopes_own_data_and_admin_reach() {
    let dir = tempfile::tempdir().unwrap();
    let api = Api::start(dir.path(), http()).await;
    let alice = api.token("alice", Scope::Write);
    let alice_read = api.token("alice", Scope::Read);
    let admin = api.token("ops", Scope::Admin);

    let (status, body) = api
        .call(
            Method::POST,
            "/v1/events",
            "",
            Some(&alice),
            Some(&email("alice", "m1")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/events",
            "",
            Some(&alice_read),
            Some(&email("alice", "m2")),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a read token sends nothing");
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/search",
            "q=invoice",
            Some(&alice_read),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/search",
            "q=invoice&user=alice",
            Some(&alice_read),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "`user` may repeat the principal");
    let (status, body) = api
        .call(
            Method::GET,
            "/v1/search",
            "q=x&user=a%3Ab",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // An admin may act for anyone, and that is audited.
    let (status, body) = api
        .call(Method::GET, "/v1/contacts", "user=bob", Some(&admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/events",
            "",
            Some(&admin),
            Some(&email("bob", "m3")),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert!(api.audit().iter().any(|e| e["outcome"] == "allowed"
        && e["principal"] == "ops"
        && e["target_user"] == "bob"
        && e["action"] == "GET /v1/contacts"));

    // Identity events are an admin's.
    let identity = json!({
        "specversion": "1.0", "id": "s-1", "source": "/billing", "type": "subscription.created",
        "data": {"subscription_id": "sub-1", "user_id": "alice", "plan_code": "pro", "status": "trialing"}
    });
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/events",
            "",
            Some(&alice),
            Some(&identity),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (status, body) = api
        .call(
            Method::POST,
            "/v1/events",
            "",
            Some(&admin),
            Some(&identity),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    // Revoked tokens stop at once.
    let id = alice.split('_').nth(1).unwrap().to_string();
    assert!(api.tokens.revoke(&id).unwrap());
    let (status, _) = api
        .call(Method::GET, "/v1/search", "q=x", Some(&alice), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bodies_content_types_hosts_origins_and_rates_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = http();
    settings.max_body_bytes = 4096;
    settings.allowed_origins = vec!["https://app.example.com".into()];
    settings.rate_limit = RateLimit {
        per_second: NonZeroU32::new(1).unwrap(),
        burst: NonZeroU32::new(3).unwrap(),
    };
    let api = Api::start(dir.path(), settings).await;
    let alice = api.token("alice", Scope::Write);
    let url = |path: &str| format!("{}{path}", api.base);

    let big = vec![email("alice", &"x".repeat(8000))];
    let response = api
        .client
        .post(url("/v1/events"))
        .bearer_auth(&alice)
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");

    let response = api
        .client
        .post(url("/v1/events"))
        .bearer_auth(&alice)
        .header("content-type", "text/plain")
        .body(email("alice", "m1").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let response = api
        .client
        .get(url("/health"))
        .header("host", "evil.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::MISDIRECTED_REQUEST);

    let preflight = |origin: &'static str| {
        api.client
            .request(Method::OPTIONS, url("/v1/search"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("https://app.example.com").await.unwrap();
    assert_eq!(
        allowed
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://app.example.com"
    );
    let refused = preflight("https://evil.example.com").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = api
            .client
            .get(url("/v1/shipments"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            break;
        }
    }
    assert_eq!(
        statuses.last(),
        Some(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Another principal has its own budget.
    let bob = api.token("bob", Scope::Read);
    let (status, _) = api
        .call(Method::GET, "/v1/shipments", "", Some(&bob), None)
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_bus_still_refuses_after_the_retries_get_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let retry = PublishRetry {
        budget: Duration::from_millis(300),
        ..PublishRetry::default()
    };
    let api = Api::start_with(dir.path(), http(), |state| {
        let registry = Arc::new(Registry::standard());
        state.publisher = Publisher::new(Arc::new(DownBroker), registry).with_retry(retry);
    })
    .await;
    let alice = api.token("alice", Scope::Write);
    let started = std::time::Instant::now();
    let response = api
        .client
        .post(format!("{}/v1/events", api.base))
        .bearer_auth(&alice)
        .json(&email("alice", "m1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() >= retry.budget,
        "answered before the publisher's retries were spent"
    );
    assert_eq!(response.headers()["retry-after"], "5");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "failed to publish: broker down", "{body}");
}
