//! A local fake of Microsoft's services for tests (feature `testsuite`), answering as the
//! Microsoft identity platform and Graph document it: a token endpoint whose refresh
//! tokens rotate (and can be revoked), and a Graph mail delta query over generated
//! messages in pages, ending with a delta link. Point the production clients at
//! [`FakeMicrosoft::base_url`]; nothing else changes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

mod subscriptions;
pub use subscriptions::FakeSubscription;

/// What the fake has seen, and how it answers.
#[derive(Debug, Default)]
pub struct FakeMicrosoft {
    /// Where it listens: `http://127.0.0.1:PORT`, the Graph URL and the token endpoint's
    /// origin.
    pub base_url: String,
    /// Refresh tokens the token endpoint was asked to redeem, in order.
    pub seen: Mutex<Vec<String>>,
    /// Refresh tokens it refuses from now on.
    pub revoked: Mutex<Vec<String>>,
    /// `expires_in` of the access tokens it grants.
    pub lifetime_secs: Mutex<i64>,
    /// Messages in the mailbox's inbox.
    pub messages: usize,
    /// Messages per delta page.
    pub page_size: usize,
    /// How long each delta page takes.
    pub page_delay: Duration,
    /// Delta pages served (the same page may be served again after a resume).
    pub pages_served: Mutex<usize>,
    /// Change-notification subscriptions Graph holds (`fake/subscriptions.rs`).
    pub subscriptions: Mutex<Vec<FakeSubscription>>,
}

impl FakeMicrosoft {
    /// The token endpoint's URL.
    pub fn token_url(&self) -> String {
        format!("{}/common/oauth2/v2.0/token", self.base_url)
    }
}

async fn token(
    State(fake): State<Arc<FakeMicrosoft>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let count = {
        let mut seen = fake
            .seen
            .lock()
            .expect("the fake's locks are never poisoned");
        seen.push(presented.clone());
        seen.len()
    };
    let scope = form.get("scope").map(String::as_str).unwrap_or_default();
    if !scope.starts_with("offline_access https://graph.microsoft.com/") {
        let error = serde_json::json!({
            "error": "invalid_scope",
            "error_description": format!("AADSTS70011: The provided scope {scope:?} is not valid.")
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    if fake
        .revoked
        .lock()
        .expect("the fake's locks are never poisoned")
        .contains(&presented)
    {
        let error = serde_json::json!({
            "error": "invalid_grant",
            "error_description": "AADSTS50173: The provided grant has expired due to it being revoked."
        });
        return (StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
    }
    axum::Json(serde_json::json!({
        "access_token": format!("access-{count}"),
        "token_type": "Bearer",
        "expires_in": *fake.lifetime_secs.lock().expect("the fake's locks are never poisoned"),
        "refresh_token": format!("refresh-{count}"),
    }))
    .into_response()
}

/// Message `n` as Graph writes it in a delta page.
fn message(n: usize) -> serde_json::Value {
    serde_json::json!({
        "@odata.type": "#microsoft.graph.message",
        "id": format!("AAMkMessage{n:05}="),
        "subject": format!("Quarterly update {n}"),
        "lastModifiedDateTime": "2024-03-01T10:00:00Z",
        "sentDateTime": "2024-03-01T09:59:00Z",
        "conversationId": format!("AAQkConversation{}", n / 3),
        "isRead": n.is_multiple_of(2),
        "from": {"emailAddress": {"name": "Dana Swope", "address": "danas@contoso.com"}},
        "toRecipients": [{"emailAddress": {"name": "Adele Vance", "address": "adelev@contoso.com"}}],
        "body": {"contentType": "text", "content": format!("The figures of update {n} are in.")},
    })
}

/// The inbox's delta query: `?$skiptoken=N` starts at message N; the last page links to
/// `?$deltatoken=latest`, which has no changes.
async fn delta(State(fake): State<Arc<FakeMicrosoft>>, uri: Uri) -> Response {
    tokio::time::sleep(fake.page_delay).await;
    *fake
        .pages_served
        .lock()
        .expect("the fake's locks are never poisoned") += 1;
    let query = uri.query().unwrap_or_default();
    let link = |token: String| {
        format!(
            "{}/v1.0/me/mailFolders/inbox/messages/delta?{token}",
            fake.base_url
        )
    };
    if query.contains("deltatoken=latest") {
        return axum::Json(
            serde_json::json!({"value": [], "@odata.deltaLink": link("$deltatoken=latest".into())}),
        )
        .into_response();
    }
    let start: usize = query
        .split('&')
        .find_map(|part| part.strip_prefix("$skiptoken="))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let end = (start + fake.page_size).min(fake.messages);
    let value: Vec<serde_json::Value> = (start..end).map(message).collect();
    let mut page = serde_json::json!({"value": value});
    if end < fake.messages {
        page["@odata.nextLink"] = link(format!("$skiptoken={end}")).into();
    } else {
        page["@odata.deltaLink"] = link("$deltatoken=latest".into()).into();
    }
    axum::Json(page).into_response()
}

/// Starts the fake on a free loopback port of the current tokio runtime, with
/// `configure` setting the mailbox up (10 messages a page, tokens for an hour, unless it
/// says otherwise).
///
/// # Panics
/// When no loopback port can be bound.
pub async fn start(configure: impl FnOnce(&mut FakeMicrosoft)) -> Arc<FakeMicrosoft> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port is free");
    let mut fake = FakeMicrosoft {
        base_url: format!(
            "http://{}",
            listener
                .local_addr()
                .expect("a bound listener has an address")
        ),
        lifetime_secs: Mutex::new(3599),
        page_size: 10,
        ..FakeMicrosoft::default()
    };
    configure(&mut fake);
    let fake = Arc::new(fake);
    let app = Router::new()
        .route("/common/oauth2/v2.0/token", post(token))
        .route("/v1.0/me/mailFolders/inbox/messages/delta", get(delta))
        .merge(subscriptions::routes())
        .with_state(fake.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            tracing::error!(error = %err, "the fake Microsoft server stopped");
        }
    });
    fake
}
