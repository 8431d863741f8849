//! The token endpoint and Graph delta paging against a local fake of Microsoft's
//! services, serving the documented payloads of `shared/testdata/providers/msgraph`
//! with their links pointed at the fake: token refresh and `invalid_grant`, a delta query
//! from its start to its `deltaLink` and on to the next round, a 429 with `Retry-After`
//! honoured by every request to the same mailbox, a 410 as an expired cursor, and links
//! to other hosts refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use switchyard_auth::SecretString;
use switchyard_providers::microsoft::{Change, Cursor, Item, Resource, change};
use switchyard_providers::{DataType, GraphClient, ProviderErrorKind, Throttle, TokenEndpoint};

const ACCESS_TOKEN: &str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik5HVEZ2ZEstZnl0aEV1Q...";

/// What the fake has seen and still has to do.
#[derive(Default)]
struct Fake {
    base_url: String,
    /// Requests per page key, in order.
    requests: Mutex<Vec<String>>,
    /// Page keys answered once with 429 and `Retry-After` before their page.
    throttle_once: Mutex<HashMap<String, String>>,
    /// Refresh tokens the token endpoint was asked to redeem.
    refreshes: Mutex<Vec<String>>,
}

fn sample(name: &str) -> Value {
    let path = switchyard_office::shared_testdata()
        .join("providers/msgraph")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).expect("shared sample is there"))
        .expect("shared sample is JSON")
}

/// A documented page with its links pointing at the fake.
fn page(fake: &Fake, name: &str) -> Response {
    let text = serde_json::to_string(&sample(name))
        .unwrap()
        .replace("https://graph.microsoft.com", &fake.base_url);
    ([("content-type", "application/json")], text).into_response()
}

async fn token(
    State(fake): State<Arc<Fake>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let refresh_token = form.get("refresh_token").cloned().unwrap_or_default();
    fake.refreshes.lock().unwrap().push(refresh_token.clone());
    assert_eq!(form["client_id"], "00001111-aaaa-2222-bbbb-3333cccc4444");
    assert_eq!(form["client_secret"], "sampleCredentia1s");
    assert_eq!(form["grant_type"], "refresh_token");
    if refresh_token == "revoked" {
        let error = serde_json::json!({
            "error": "invalid_grant",
            "error_description": "AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: 1"
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    let exchange = sample("oauth2-token-refresh.exchange.json");
    axum::Json(exchange["response"]["body"].clone()).into_response()
}

async fn graph(State(fake): State<Arc<Fake>>, headers: HeaderMap, uri: Uri) -> Response {
    assert_eq!(
        headers["authorization"].to_str().unwrap(),
        format!("Bearer {ACCESS_TOKEN}")
    );
    assert!(
        headers["prefer"]
            .to_str()
            .unwrap()
            .contains("outlook.body-content-type=\"text\"")
    );
    let query = uri.query().unwrap_or_default().to_string();
    let key = query
        .split('&')
        .find(|part| {
            part.starts_with("%24skiptoken")
                || part.starts_with("$skiptoken")
                || part.starts_with("%24deltatoken")
                || part.starts_with("$deltatoken")
        })
        .and_then(|part| part.split_once('='))
        .map(|(_, token)| token.to_string())
        .unwrap_or_else(|| "start".to_string());
    fake.requests.lock().unwrap().push(key.clone());
    if let Some(retry_after) = fake.throttle_once.lock().unwrap().remove(&key) {
        let exchange = sample("throttling-429.exchange.json");
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after)],
            axum::Json(exchange["response"]["body"].clone()),
        )
            .into_response();
    }
    match key.as_str() {
        "start" => page(&fake, "messages-delta-round1-page1-nextLink.json"),
        "GwcBoTmPuoTQWfcsAbkYM" => page(&fake, "messages-delta-round1-page2-nextLink.json"),
        "GwcBoTmPKILK4jLH7mAd1lLU" => page(&fake, "messages-delta-round1-page3-deltaLink.json"),
        "GwcBoTmPuoGNlgXgF1nyUNMXY" => page(&fake, "messages-delta-round2-removed-and-updated.json"),
        "expired" => (
            StatusCode::GONE,
            axum::Json(serde_json::json!({"error": {"code": "syncStateNotFound", "message": "The sync state is gone."}})),
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the fake on a free loopback port.
async fn start() -> Arc<Fake> {
    // The binary installs ring as the process's TLS provider; so does each test.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let fake = Arc::new(Fake {
        base_url,
        ..Fake::default()
    });
    let app = Router::new()
        .route("/common/oauth2/v2.0/token", post(token))
        .route("/v1.0/{*path}", get(graph))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

fn endpoint(fake: &Fake) -> TokenEndpoint {
    TokenEndpoint::new(
        &format!("{}/common/oauth2/v2.0/token", fake.base_url),
        "00001111-aaaa-2222-bbbb-3333cccc4444",
        Some(SecretString::new("sampleCredentia1s")),
    )
}

fn quick_throttle() -> Throttle {
    Throttle::new(Duration::from_secs(10), 4, Duration::from_millis(50))
}

#[tokio::test]
async fn refresh_tokens_become_access_tokens_and_invalid_grant_needs_reauth() {
    let fake = start().await;
    let grant = endpoint(&fake)
        .refresh(
            &SecretString::new("good"),
            "https://graph.microsoft.com/mail.read",
        )
        .await
        .unwrap();
    assert_eq!(grant.access_token.expose(), ACCESS_TOKEN);
    // The documented answer rotates the refresh token.
    assert_eq!(
        grant.refresh_token.as_ref().map(SecretString::expose),
        Some("AwABAAAAvPM1KaPlrEqdFSBzjqfTGAMxZGUTdM0t4B4...")
    );
    let lifetime = grant.expires_at - chrono::Utc::now();
    assert!(
        (3590..=3599).contains(&lifetime.num_seconds()),
        "{lifetime}"
    );
    assert!(grant.expires_within(chrono::TimeDelta::hours(2), chrono::Utc::now()));
    assert!(!grant.expires_within(chrono::TimeDelta::minutes(5), chrono::Utc::now()));

    let error = endpoint(&fake)
        .refresh(&SecretString::new("revoked"), "mail.read")
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NeedsReauth);
    let message = error.to_string();
    assert!(
        message.contains("HTTP 400 Bad Request invalid_grant AADSTS70008"),
        "{message}"
    );
    assert!(
        !message.contains("revoked") && !message.contains("Trace ID"),
        "{message}"
    );
    // Asked once: a refused grant is never retried.
    assert_eq!(
        fake.refreshes.lock().unwrap().as_slice(),
        ["good", "revoked"]
    );
}

/// Follows a delta query from `url` to its delta link; returns the item ids per change
/// (`-id` for removals) and the delta link.
async fn follow(client: &GraphClient, url: &str) -> (Vec<String>, String) {
    let token = SecretString::new(ACCESS_TOKEN);
    let mut url = url.to_string();
    let mut ids = Vec::new();
    loop {
        let page = client
            .page("adele@contoso.com", &url, &token)
            .await
            .unwrap();
        for item in &page.items {
            ids.push(match change(DataType::Emails, item).unwrap() {
                Change::Upsert {
                    item: Item::Email(email),
                    ..
                } => email.id,
                Change::Removed { id, .. } => format!("-{id}"),
                other => panic!("not a message change: {other:?}"),
            });
        }
        match page.cursor {
            Cursor::Next(next) => url = next,
            Cursor::Delta(delta) => return (ids, delta),
        }
    }
}

#[tokio::test]
async fn delta_queries_page_to_their_delta_link_and_honour_retry_after() {
    let fake = start().await;
    fake.throttle_once
        .lock()
        .unwrap()
        .insert("GwcBoTmPuoTQWfcsAbkYM".into(), "2".into());
    let client = GraphClient::new(&fake.base_url, quick_throttle());
    let start_url = client.delta_url(&Resource::Mail {
        folder: "inbox".into(),
    });
    let started = Instant::now();
    let (ids, delta) = follow(&client, &start_url).await;
    let waited = started.elapsed();
    assert_eq!(
        ids,
        [
            "AAMkADNkNAAASq35xAAA=",
            "AQMkADNkNAAAVRMKAAAAA==",
            "AQMkADNkNAAAgWkAAAA",
            "AQMkADNkNAAAgWJAAAA",
            "AAMkADk0MGFkODE3LWEAAA=",
        ]
    );
    assert!(
        delta.ends_with("$deltatoken=GwcBoTmPuoGNlgXgF1nyUNMXY"),
        "{delta}"
    );
    // Retry-After: 2 was waited (plus at most a tenth of jitter), once.
    assert!(waited >= Duration::from_secs(2), "{waited:?}");
    assert!(waited < Duration::from_secs(6), "{waited:?}");
    assert_eq!(
        fake.requests.lock().unwrap().as_slice(),
        [
            "start",
            "GwcBoTmPuoTQWfcsAbkYM",
            "GwcBoTmPuoTQWfcsAbkYM",
            "GwcBoTmPKILK4jLH7mAd1lLU"
        ]
    );

    // The next round, from the delta link: a removal and an update.
    let (ids, _) = follow(&client, &delta).await;
    assert_eq!(
        ids,
        [
            "-AAMkADk0MGFkODE3LWE4MmYtNDRhOS0Dh_6qB-pB2Sa2pUum19a6YAAKnLuxoAAA=",
            "AAMkADNkNAAASq35xAAA=",
        ]
    );
}

#[tokio::test]
async fn a_throttled_mailbox_holds_every_request_to_it() {
    let fake = start().await;
    fake.throttle_once
        .lock()
        .unwrap()
        .insert("start".into(), "2".into());
    let client = GraphClient::new(&fake.base_url, quick_throttle());
    let token = SecretString::new(ACCESS_TOKEN);
    let start_url = client.delta_url(&Resource::Mail {
        folder: "inbox".into(),
    });
    let first = {
        let (client, token, url) = (client.clone(), token.clone(), start_url.clone());
        tokio::spawn(async move { client.page("adele@contoso.com", &url, &token).await })
    };
    // Once the first request was throttled, a second worker on the same mailbox waits
    // too instead of asking again at once.
    while fake.requests.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let second_url = format!(
        "{}/v1.0/me/mailfolders('x')/messages/delta?$skiptoken=GwcBoTmPuoTQWfcsAbkYM",
        fake.base_url
    );
    client
        .page("adele@contoso.com", &second_url, &token)
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    first.await.unwrap().unwrap();
    assert_eq!(fake.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn expired_cursors_and_foreign_links_are_told_apart() {
    let fake = start().await;
    let client = GraphClient::new(&fake.base_url, quick_throttle());
    let token = SecretString::new(ACCESS_TOKEN);
    let expired = format!(
        "{}/v1.0/me/mailfolders('x')/messages/delta?$deltatoken=expired",
        fake.base_url
    );
    let error = client
        .page("adele@contoso.com", &expired, &token)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::CursorExpired);
    assert!(
        error
            .to_string()
            .contains("HTTP 410 Gone syncStateNotFound"),
        "{error}"
    );

    let foreign = "https://attacker.example/v1.0/me/messages/delta?$deltatoken=x";
    let error = client
        .page("adele@contoso.com", foreign, &token)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::Invalid);
    assert_eq!(
        error.to_string(),
        format!(
            "refusing to follow a delta link outside {}: https://attacker.example",
            fake.base_url
        )
    );
    assert_eq!(fake.requests.lock().unwrap().as_slice(), ["expired"]);
}
