//! The HTTP API of `switchyard serve` (axum). Every route is one row of [`routes`], with
//! its auth decision ([`Access`]); the router is built from that table only, so a route
//! cannot exist without one, and the tests drive every row with another user's token.
//!
//! Around every route: the allowed `Host` names (DNS rebinding), CORS (closed unless
//! origins are configured), a body limit (413), a request timeout (but the live stream),
//! JSON bodies for every error, and per-principal rate limits (429 with `Retry-After`).
//! Handlers are in `handlers.rs` (how `POST /v1/events` reads its body in
//! `content_modes.rs`; connected accounts and their backfills in `integrations.rs`;
//! registration, verification, subscriptions and the identity health checks in
//! `identity.rs`);
//! credentials and the audit log in `access.rs`.

mod access;
mod content_modes;
mod handlers;
mod identity;
mod integrations;
mod metrics;
mod openapi;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::handler::Handler;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{MethodFilter, MethodRouter, on};
use switchyard_auth::Scope;
use switchyard_notifier::{Journal, STREAM_PATH, stream_router};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

pub use access::{Access, AccessControl, Caller, RateLimit, StreamAccess};
pub use handlers::ApiState;
pub use openapi::ErrorBody;

/// One route: method, path, who may call it, and what serves it.
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path, with `{param}` placeholders.
    pub path: &'static str,
    /// The auth decision.
    pub access: Access,
    serve: Serve,
}

enum Serve {
    Handler(Box<MethodRouter<ApiState>>),
    /// The live stream's own router (it authorizes through [`StreamAccess`]).
    Stream,
}

fn route<H, T>(method: Method, path: &'static str, access: Access, handler: H) -> Route
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("the table uses standard methods");
    Route {
        method,
        path,
        access,
        serve: Serve::Handler(Box::new(on(filter, handler))),
    }
}

/// Every route of the API.
pub fn routes() -> Vec<Route> {
    use handlers::*;
    let read = Access::User(Scope::Read);
    let write = Access::User(Scope::Write);
    vec![
        route(Method::GET, "/health", Access::Public, health),
        route(Method::GET, "/health/live", Access::Public, live),
        route(Method::GET, "/health/ready", Access::Public, ready),
        route(
            Method::GET,
            "/health/bus",
            Access::Public,
            identity::bus_health,
        ),
        route(
            Method::GET,
            "/health/redis",
            Access::Public,
            identity::redis_health,
        ),
        route(Method::GET, "/metrics", Access::Public, metrics),
        route(
            Method::GET,
            "/openapi.json",
            Access::Public,
            openapi::openapi_json,
        ),
        route(Method::POST, "/v1/events", write, accept_events),
        route(Method::GET, "/v1/search", read, search),
        route(
            Method::GET,
            "/v1/documents/{id}/fragments",
            read,
            fragments_of,
        ),
        route(Method::GET, "/v1/fragments/{id}/parent", read, parent_of),
        route(Method::GET, "/v1/shipments", read, shipments),
        route(Method::GET, "/v1/availability", read, availability),
        route(Method::GET, "/v1/contacts", read, contacts),
        route(Method::DELETE, "/v1/contacts", write, forget_contacts),
        route(
            Method::POST,
            "/v1/integrations",
            write,
            integrations::connect,
        ),
        route(Method::GET, "/v1/integrations", read, integrations::list),
        route(
            Method::GET,
            "/v1/integrations/{id}",
            read,
            integrations::get_one,
        ),
        route(
            Method::DELETE,
            "/v1/integrations/{id}",
            write,
            integrations::disconnect,
        ),
        route(
            Method::POST,
            "/v1/backfill",
            write,
            integrations::start_backfill,
        ),
        route(
            Method::GET,
            "/v1/backfill",
            read,
            integrations::list_backfills,
        ),
        route(
            Method::GET,
            "/v1/backfill/{id}",
            read,
            integrations::backfill,
        ),
        route(
            Method::POST,
            "/v1/backfill/{id}/cancel",
            write,
            integrations::cancel_backfill,
        ),
        // Graph cannot present a credential: a delivery is believed by its clientState.
        route(
            Method::POST,
            "/v1/webhooks/microsoft",
            Access::Public,
            integrations::microsoft_webhook,
        ),
        // Whoever signs up has no credential yet: each account bounds its own attempts.
        route(
            Method::POST,
            "/v1/register",
            Access::Public,
            identity::register,
        ),
        route(Method::POST, "/v1/verify", Access::Public, identity::verify),
        route(
            Method::POST,
            "/v1/verify/resend",
            Access::Public,
            identity::resend,
        ),
        route(
            Method::POST,
            "/v1/subscriptions",
            write,
            identity::create_subscription,
        ),
        route(
            Method::GET,
            "/v1/subscriptions/{id}",
            read,
            identity::subscription,
        ),
        route(
            Method::POST,
            "/v1/subscriptions/{id}/cancel",
            write,
            identity::cancel_subscription,
        ),
        route(
            Method::POST,
            "/v1/subscriptions/{id}/status",
            write,
            identity::change_subscription_status,
        ),
        route(Method::GET, "/v1/status", Access::Admin, status),
        route(Method::GET, "/v1/dlq", Access::Admin, dead_letters),
        route(Method::POST, "/v1/dlq/redrive", Access::Admin, redrive),
        route(Method::POST, "/v1/dlq/purge", Access::Admin, purge),
        route(Method::POST, "/v1/state/cleanup", Access::Admin, cleanup),
        Route {
            method: Method::GET,
            path: STREAM_PATH,
            access: Access::Handler,
            serve: Serve::Stream,
        },
    ]
}

/// How the HTTP layer guards the node.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Largest request body, bytes.
    pub max_body_bytes: usize,
    /// Longest a request (but a live stream) may take.
    pub request_timeout: Duration,
    /// Origins whose pages may call the API (CORS); empty: none.
    pub allowed_origins: Vec<String>,
    /// Host names the API answers to; empty: any.
    pub allowed_hosts: Vec<String>,
    /// Requests per principal.
    pub rate_limit: RateLimit,
}

/// The router of every route in [`routes`], guarded by `control` and `http`.
pub fn router(
    state: ApiState,
    journal: Journal,
    control: Arc<AccessControl>,
    http: &HttpSettings,
) -> anyhow::Result<Router> {
    let mut api = Router::new();
    let mut stream = None;
    for route in routes() {
        tracing::debug!(method = %route.method, path = route.path, access = ?route.access, "route");
        match route.serve {
            Serve::Handler(handler) => {
                let handler = *handler;
                let handler = match route.access {
                    Access::Public | Access::Handler => handler,
                    access => handler.route_layer(middleware::from_fn_with_state(
                        (access, control.clone()),
                        access::authorize,
                    )),
                };
                api = api.route(route.path, handler);
            }
            Serve::Stream => {
                stream = Some(stream_router(
                    journal.clone(),
                    StreamAccess(control.clone()),
                ))
            }
        }
    }
    let api = api.with_state(state).layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        http.request_timeout,
    ));
    let mut router = match stream {
        Some(stream) => api.merge(stream),
        None => api,
    }
    .layer(DefaultBodyLimit::max(http.max_body_bytes))
    .layer(middleware::from_fn(json_errors))
    .layer(middleware::from_fn_with_state(
        Arc::new(http.allowed_hosts.clone()),
        access::check_host,
    ));
    if !http.allowed_origins.is_empty() {
        let origins = http
            .allowed_origins
            .iter()
            .map(|origin| {
                HeaderValue::from_str(origin).map_err(|_| {
                    anyhow::anyhow!("invalid CORS origin {origin:?} (http.allowed_origins)")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([
                    header::AUTHORIZATION,
                    header::CONTENT_TYPE,
                    header::HeaderName::from_static("last-event-id"),
                ])
                .max_age(Duration::from_secs(600)),
        );
    }
    Ok(router)
}

/// Gives every error a JSON body: axum's own rejections (unknown route, wrong method,
/// body over the limit, malformed JSON) answer in plain text.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase()
    } else {
        text
    };
    let mut json = access::error(status, message);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

#[cfg(test)]
mod tests;
