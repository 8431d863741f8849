//! The fake Graph's change notifications: `/v1.0/subscriptions` (create, renew,
//! reauthorize, delete) as Graph documents them, and helpers with which a test plays
//! Graph's part towards a webhook receiver: change notifications
//! ([`FakeMicrosoft::notify`], [`FakeMicrosoft::notify_forged`]), lifecycle notifications
//! ([`FakeMicrosoft::send_lifecycle`]) and a subscription Graph drops
//! ([`FakeMicrosoft::remove_subscription`]).
//!
//! Creating a subscription first validates `notificationUrl`, then
//! `lifecycleNotificationUrl`, as Graph does: a `POST {url}?validationToken={token}`
//! (form-encoded, so spaces are `+`, and the token holds characters that must be
//! decoded) with an empty `text/plain` body, answered within 10 seconds by 200,
//! `text/plain` and the decoded token, else the create fails with 400
//! `InvalidRequest`. Every route answers 401 without `Authorization: Bearer access-…`.
//! Callbacks go to loopback URLs only, through reqwest, so the process installs a rustls
//! crypto provider first, as for the production clients.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::FakeMicrosoft;
use crate::microsoft::max_subscription_lifetime;

/// The tenant the fake's notifications name.
const FAKE_TENANT_ID: &str = "84bd8158-6d4d-4958-8b9f-9d6445542f95";
/// The user the fake's mailbox belongs to.
const FAKE_USER_ID: &str = "2b4e5a8c-9d1f-4c3b-8a6e-7f0d1c2b3a4e";
/// Change notifications the fake sent, numbering the items they name.
static NOTIFICATIONS_SENT: AtomicUsize = AtomicUsize::new(0);
/// How long Graph waits for a validation answer.
const VALIDATION_DEADLINE: Duration = Duration::from_secs(10);

/// A subscription the fake Graph holds.
#[derive(Debug, Clone)]
pub struct FakeSubscription {
    /// Its id, a GUID.
    pub id: String,
    /// The resource it watches, as created.
    pub resource: String,
    /// `created,updated,deleted`, as created.
    pub change_type: String,
    /// Where change notifications go.
    pub notification_url: String,
    /// Where lifecycle notifications go, if anywhere.
    pub lifecycle_notification_url: Option<String>,
    /// The state its notifications carry.
    pub client_state: Option<String>,
    /// When it ends.
    pub expiration: DateTime<Utc>,
    /// Times it was reauthorized.
    pub reauthorizations: usize,
}

impl FakeSubscription {
    fn to_json(&self, base_url: &str) -> Value {
        json!({
            "@odata.context": format!("{base_url}/v1.0/$metadata#subscriptions/$entity"),
            "id": self.id,
            "resource": self.resource,
            "applicationId": "24d3b144-21ae-4080-943f-7067b395b913",
            "changeType": self.change_type,
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": graph_time(self.expiration),
            "creatorId": FAKE_USER_ID,
            "latestSupportedTlsVersion": "v1_2",
        })
    }
}

/// The subscription routes, merged into the fake's router.
pub(super) fn routes() -> Router<Arc<FakeMicrosoft>> {
    Router::new()
        .route("/v1.0/subscriptions", post(create))
        .route(
            "/v1.0/subscriptions/{id}",
            patch(renew).delete(delete).get(read),
        )
        .route("/v1.0/subscriptions/{id}/reauthorize", post(reauthorize))
}

impl FakeMicrosoft {
    fn lock_subscriptions(&self) -> std::sync::MutexGuard<'_, Vec<FakeSubscription>> {
        self.subscriptions
            .lock()
            .expect("the fake's locks are never poisoned")
    }

    /// The subscription `target` names by id, or else the first watching `target`.
    fn find_subscription(&self, target: &str) -> Option<FakeSubscription> {
        let subscriptions = self.lock_subscriptions();
        subscriptions
            .iter()
            .find(|subscription| subscription.id == target)
            .or_else(|| {
                subscriptions
                    .iter()
                    .find(|subscription| subscription.resource == target)
            })
            .cloned()
    }

    /// Posts a change notification (shaped like Graph's `created` message notification)
    /// to the `notificationUrl` of the subscription `target` names (its id or its
    /// resource), with the subscription's `clientState`; returns the receiver's status.
    pub async fn notify(&self, target: &str) -> Result<u16, String> {
        self.post_change(target, None).await
    }

    /// As [`notify`](Self::notify), with a `clientState` the subscription never had, as
    /// a forger would.
    pub async fn notify_forged(&self, target: &str) -> Result<u16, String> {
        self.post_change(target, Some("forged-client-state")).await
    }

    async fn post_change(&self, target: &str, forged_state: Option<&str>) -> Result<u16, String> {
        let subscription = self
            .find_subscription(target)
            .ok_or_else(|| format!("no fake subscription is or watches {target}"))?;
        let number = NOTIFICATIONS_SENT.fetch_add(1, Ordering::Relaxed);
        let (collection, item) = changed_item(&subscription.resource);
        let item_id = format!("AAMk{item}{number:05}=");
        let mut notification = json!({
            "id": format!("lsgTZMr9KwAAA{number}"),
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": graph_time(subscription.expiration),
            "changeType": "created",
            "resource": format!("Users/{FAKE_USER_ID}/{collection}/{item_id}"),
            "tenantId": FAKE_TENANT_ID,
            "resourceData": {
                "@odata.type": format!("#Microsoft.Graph.{item}"),
                "@odata.id": format!("Users/{FAKE_USER_ID}/{collection}/{item_id}"),
                "@odata.etag": "W/\"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf\"",
                "id": item_id,
            },
        });
        if let Some(state) = forged_state.or(subscription.client_state.as_deref()) {
            notification["clientState"] = state.into();
        }
        deliver(
            &subscription.notification_url,
            &json!({"value": [notification]}),
        )
        .await
    }

    /// Posts a lifecycle notification `event` (`missed`, `reauthorizationRequired`,
    /// `subscriptionRemoved`, or any other name) for the subscription `subscription_id`
    /// to its `lifecycleNotificationUrl`; returns the receiver's status. Before
    /// `subscriptionRemoved` the fake drops the subscription, as Graph does.
    pub async fn send_lifecycle(&self, subscription_id: &str, event: &str) -> Result<u16, String> {
        let subscription = self
            .find_subscription(subscription_id)
            .ok_or_else(|| format!("no fake subscription {subscription_id}"))?;
        let url = subscription
            .lifecycle_notification_url
            .clone()
            .ok_or_else(|| format!("subscription {subscription_id} has no lifecycle URL"))?;
        if event == "subscriptionRemoved" {
            self.remove_subscription(subscription_id);
        }
        let mut notification = json!({
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": graph_time(subscription.expiration),
            "tenantId": FAKE_TENANT_ID,
            "lifecycleEvent": event,
        });
        if let Some(state) = &subscription.client_state {
            notification["clientState"] = state.as_str().into();
        }
        deliver(&url, &json!({"value": [notification]})).await
    }

    /// Drops the subscription `id`, as Graph does when it removes one; whether it had it.
    pub fn remove_subscription(&self, id: &str) -> bool {
        let mut subscriptions = self.lock_subscriptions();
        let before = subscriptions.len();
        subscriptions.retain(|subscription| subscription.id != id);
        subscriptions.len() < before
    }
}

/// The collection and type of the items a subscription to `resource` reports.
fn changed_item(resource: &str) -> (&'static str, &'static str) {
    let resource = resource.to_ascii_lowercase();
    if resource.contains("events") {
        ("Events", "Event")
    } else if resource.contains("contacts") {
        ("Contacts", "Contact")
    } else if resource.contains("todo") {
        ("Tasks", "TodoTask")
    } else {
        ("Messages", "Message")
    }
}

/// Posts `body` as JSON to `url` (a loopback URL); the receiver's status.
async fn deliver(url: &str, body: &Value) -> Result<u16, String> {
    let url = loopback(url)?;
    let response = callback_client()
        .post(url)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_string())
        .send()
        .await
        .map_err(|err| format!("notification to {url} failed: {err}"))?;
    Ok(response.status().as_u16())
}

fn callback_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(VALIDATION_DEADLINE)
        .no_proxy()
        .build()
        .expect("an HTTP client with a timeout builds")
}

/// `url` if it is on loopback: the fake calls nothing else.
fn loopback(url: &str) -> Result<&str, String> {
    ["http://127.0.0.1:", "http://localhost:", "http://[::1]:"]
        .iter()
        .any(|prefix| url.starts_with(prefix))
        .then_some(url)
        .ok_or_else(|| format!("the fake calls back loopback URLs only, not {url}"))
}

fn graph_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// A Graph error answer, rendered as Graph writes them.
struct GraphError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": graph_time(Utc::now()),
                    "request-id": "35ad7e5f-9a4e-4c0e-9d4b-1c6f6f0b2d31",
                    "client-request-id": "35ad7e5f-9a4e-4c0e-9d4b-1c6f6f0b2d31",
                },
            }
        });
        (self.status, axum::Json(body)).into_response()
    }
}

fn invalid(message: impl Into<String>) -> GraphError {
    GraphError {
        status: StatusCode::BAD_REQUEST,
        code: "InvalidRequest",
        message: message.into(),
    }
}

fn not_found() -> GraphError {
    GraphError {
        status: StatusCode::NOT_FOUND,
        code: "ResourceNotFound",
        message: "The object was not found.".to_string(),
    }
}

/// 401 unless the request carries one of the fake token endpoint's access tokens.
fn authorized(headers: &HeaderMap) -> Result<(), GraphError> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match bearer {
        Some(token) if token.starts_with("access-") => Ok(()),
        _ => Err(GraphError {
            status: StatusCode::UNAUTHORIZED,
            code: "InvalidAuthenticationToken",
            message: "Access token validation failure.".to_string(),
        }),
    }
}

/// The JSON object of a request body, or Graph's 400.
fn json_body(body: &[u8]) -> Result<serde_json::Map<String, Value>, GraphError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(GraphError {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequest",
            message: "Invalid JSON in the request body.".to_string(),
        }),
    }
}

/// An expiration within the resource's maximum, or Graph's 400.
fn expiration(
    body: &serde_json::Map<String, Value>,
    resource: &str,
) -> Result<DateTime<Utc>, GraphError> {
    let expiration = body
        .get("expirationDateTime")
        .and_then(Value::as_str)
        .and_then(|time| DateTime::parse_from_rfc3339(time).ok())
        .map(|time| time.with_timezone(&Utc))
        .ok_or_else(|| invalid("expirationDateTime is required and must be a date and time."))?;
    let now = Utc::now();
    let longest = max_subscription_lifetime(resource);
    if expiration <= now {
        return Err(invalid("Subscription expiration must be in the future."));
    }
    if expiration > now + longest {
        return Err(invalid(format!(
            "Subscription expiration can only be {} minutes in the future.",
            longest.num_minutes()
        )));
    }
    Ok(expiration)
}

/// Graph's validation of `url`: the reason it failed, if it did.
async fn validate(url: &str, id: &str) -> Result<(), String> {
    let url = loopback(url)?;
    // Opaque, with spaces and characters a receiver must decode, like Graph's.
    let token = format!(
        "Validation: Testing client application reachability for subscription Request-Id: {id} &token=a+b%/ü"
    );
    let response = callback_client()
        .post(url)
        .query(&[("validationToken", &token)])
        .header("content-type", "text/plain; charset=utf-8")
        .body("")
        .send()
        .await
        .map_err(|err| format!("no answer: {err}"))?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let answer = response
        .text()
        .await
        .map_err(|err| format!("answer cut short: {err}"))?;
    if status != StatusCode::OK {
        return Err(format!("answered HTTP {status}"));
    }
    if !content_type.starts_with("text/plain") {
        return Err(format!("answered {content_type:?}, not text/plain"));
    }
    if answer != token {
        return Err("did not echo the decoded validationToken".to_string());
    }
    Ok(())
}

async fn create(
    State(fake): State<Arc<FakeMicrosoft>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    authorized(&headers)?;
    let body = json_body(&body)?;
    let text = |name: &str| body.get(name).and_then(Value::as_str).map(str::to_string);
    let (Some(resource), Some(change_type), Some(notification_url)) = (
        text("resource"),
        text("changeType"),
        text("notificationUrl"),
    ) else {
        return Err(invalid(
            "resource, changeType and notificationUrl are required.",
        ));
    };
    let lifecycle_notification_url = text("lifecycleNotificationUrl");
    let client_state = text("clientState");
    if client_state
        .as_ref()
        .is_some_and(|state| state.chars().count() > 128)
    {
        return Err(invalid("clientState must be at most 128 characters."));
    }
    let expiration = expiration(&body, &resource)?;
    let mut random = [0u8; 6];
    getrandom::fill(&mut random).expect("the operating system's random source is available");
    let id = format!(
        "7f105c7d-2dc5-4530-{:04x}-{}",
        fake.lock_subscriptions().len(),
        hex::encode(random)
    );
    let urls = std::iter::once(&notification_url).chain(lifecycle_notification_url.as_ref());
    for url in urls {
        let reason = match tokio::time::timeout(VALIDATION_DEADLINE, validate(url, &id)).await {
            Ok(Ok(())) => continue,
            Ok(Err(reason)) => reason,
            Err(_) => "no answer within 10 s".to_string(),
        };
        tracing::info!(url, reason, "fake Graph: subscription validation failed");
        return Err(invalid(format!(
            "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request. ({url}: {reason})"
        )));
    }
    let subscription = FakeSubscription {
        id,
        resource,
        change_type,
        notification_url,
        lifecycle_notification_url,
        client_state,
        expiration,
        reauthorizations: 0,
    };
    let answer = subscription.to_json(&fake.base_url);
    fake.lock_subscriptions().push(subscription);
    Ok((StatusCode::CREATED, axum::Json(answer)).into_response())
}

async fn read(
    State(fake): State<Arc<FakeMicrosoft>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, GraphError> {
    authorized(&headers)?;
    let subscriptions = fake.lock_subscriptions();
    let subscription = subscriptions
        .iter()
        .find(|subscription| subscription.id == id)
        .ok_or_else(not_found)?;
    Ok(axum::Json(subscription.to_json(&fake.base_url)).into_response())
}

async fn renew(
    State(fake): State<Arc<FakeMicrosoft>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, GraphError> {
    authorized(&headers)?;
    let body = json_body(&body)?;
    let mut subscriptions = fake.lock_subscriptions();
    let subscription = subscriptions
        .iter_mut()
        .find(|subscription| subscription.id == id)
        .ok_or_else(not_found)?;
    subscription.expiration = expiration(&body, &subscription.resource)?;
    Ok(axum::Json(subscription.to_json(&fake.base_url)).into_response())
}

async fn reauthorize(
    State(fake): State<Arc<FakeMicrosoft>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    authorized(&headers)?;
    let mut subscriptions = fake.lock_subscriptions();
    let subscription = subscriptions
        .iter_mut()
        .find(|subscription| subscription.id == id)
        .ok_or_else(not_found)?;
    subscription.reauthorizations += 1;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete(
    State(fake): State<Arc<FakeMicrosoft>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, GraphError> {
    authorized(&headers)?;
    if fake.remove_subscription(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_found())
    }
}
