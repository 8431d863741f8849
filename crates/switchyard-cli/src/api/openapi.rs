//! The OpenAPI 3.1 description of the API (`GET /openapi.json`), generated from the code:
//! each handler's `#[utoipa::path]` gives its parameters, bodies and own errors; the
//! route table ([`routes`]) gives every operation its security (bearer, or none for the
//! public routes) and the errors of the layers around it (401, 403, 413, 421, 429, 503).
//! A test checks that the document and the table name the same operations.

use axum::Json;
use axum::http::Method;
use serde::Serialize;
use utoipa::OpenApi;
use utoipa::ToSchema;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, RefOr, ResponseBuilder};

use super::{Access, routes};
use crate::readiness::{EngineReadiness, FailingConsumerReport, ReadinessReport};

/// The body of every error: what went wrong, and for events which one and where.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, naming the field or limit.
    pub error: String,
    /// The offending field (`data.item.id`), for events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The offending event's position in the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    /// Every refused event of the request, when none was valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<Vec<RejectedItem>>,
    /// Why a verification code was refused: `wrong_code`, `expired`, `too_many_attempts`
    /// or `already_verified`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ErrorBody {
    /// An error with only a message.
    pub fn new(message: impl std::fmt::Display) -> Self {
        ErrorBody {
            error: message.to_string(),
            field: None,
            index: None,
            rejected: None,
            reason: None,
        }
    }
}

/// One refused event of a request.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RejectedItem {
    /// Its position in the request.
    pub index: usize,
    /// What is wrong with it.
    pub error: String,
    /// Where.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// The answer to `POST /v1/events`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AcceptedEvents {
    /// How many events were published.
    pub accepted: usize,
    /// Their ids, in request order.
    pub ids: Vec<String>,
    /// The events refused, the others being published all the same.
    pub rejected: Vec<RejectedItem>,
}

/// `GET /v1/stream` lives in switchyard-notifier; its description lives here.
#[utoipa::path(get, path = "/v1/stream", tag = "stream",
    params(("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose signals: the caller's own, unless the token is an admin's"),
        ("access_token" = Option<String>, Query, description = "The credential, for browsers' EventSource (which cannot send headers): an API token, a JWT or a short-lived stream token"),
        ("last_event_id" = Option<String>, Query, description = "Resume after this id (also the Last-Event-ID header)")),
    responses((status = 200, description = "Server-Sent Events: `item` signals, `reset`, heartbeats", content_type = "text/event-stream", body = String),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 429, description = "Too many streams open for this user", body = ErrorBody),
        (status = 503, description = "Too many streams open on this node", body = ErrorBody)))]
#[allow(dead_code)] // described, served by the notifier's router
fn stream() {}

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "This document", body = Object)))]
pub(super) async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(document())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "Office data in, typed events through, one search out. Every route but /health, /health/live, /health/ready, /metrics and /openapi.json needs `Authorization: Bearer <API token or JWT>`; data routes serve the caller's own user."
    ),
    paths(
        super::handlers::health,
        super::handlers::live,
        super::handlers::ready,
        super::identity::bus_health,
        super::identity::redis_health,
        super::handlers::metrics,
        openapi_json,
        super::handlers::accept_events,
        super::handlers::search,
        super::handlers::fragments_of,
        super::handlers::parent_of,
        super::handlers::shipments,
        super::handlers::availability,
        super::handlers::contacts,
        super::handlers::forget_contacts,
        super::integrations::connect,
        super::integrations::list,
        super::integrations::get_one,
        super::integrations::disconnect,
        super::integrations::start_backfill,
        super::integrations::list_backfills,
        super::integrations::backfill,
        super::integrations::cancel_backfill,
        super::integrations::microsoft_webhook,
        super::identity::register,
        super::identity::verify,
        super::identity::resend,
        super::identity::create_subscription,
        super::identity::subscription,
        super::identity::cancel_subscription,
        super::identity::change_subscription_status,
        super::handlers::status,
        super::handlers::dead_letters,
        super::handlers::redrive,
        super::handlers::purge,
        super::handlers::cleanup,
        stream,
    ),
    components(schemas(
        ErrorBody,
        RejectedItem,
        AcceptedEvents,
        ReadinessReport,
        EngineReadiness,
        FailingConsumerReport,
        super::integrations::ConnectBody,
        super::integrations::IntegrationBody,
        super::integrations::BackfillBody,
        super::integrations::BackfillRequest,
        super::identity::RegisterBody,
        super::identity::RegisteredBody,
        super::identity::VerifyBody,
        super::identity::VerifiedBody,
        super::identity::ResendBody,
        super::identity::ResentBody,
        super::identity::NewSubscriptionBody,
        super::identity::CancelBody,
        super::identity::StatusBody,
        super::identity::SubscriptionBody,
        super::identity::BusHealthBody,
        super::identity::DestinationBody,
        super::identity::RedisHealthBody
    ))
)]
struct ApiDoc;

/// The document, with each operation's security and layer errors from the route table.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`sy_…`, `switchyard token create`) or a JWT of the configured identity provider",
                    ))
                    .build(),
            ),
        );
    for route in routes() {
        let Some(operation) = doc
            .paths
            .paths
            .get_mut(route.path)
            .and_then(|item| operation_mut(item, &route.method))
        else {
            continue; // the test names it
        };
        let mut errors = vec![(421, "The Host is not served here (`http.allowed_hosts`)")];
        if route.access == Access::Public {
            operation.security = Some(Vec::new());
        } else {
            operation.security = Some(vec![SecurityRequirement::new(
                "bearer",
                Vec::<String>::new(),
            )]);
            errors.extend([
                (
                    401,
                    "No credential, or an unknown, forged, revoked or expired one",
                ),
                (403, "Another user's data, or a scope the credential lacks"),
            ]);
            if route.access != Access::Handler {
                errors.extend([
                    (400, "An invalid parameter (such as `user`), named"),
                    (429, "Over the principal's rate limit: see Retry-After"),
                    (
                        503,
                        "Over `http.request_timeout_secs`, or an engine is unavailable",
                    ),
                ]);
            }
        }
        if route.method == Method::POST {
            errors.push((413, "The body is over `http.max_body_bytes`"));
        }
        for (status, description) in errors {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| RefOr::T(error_response(description)));
        }
    }
    doc
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "ErrorBody",
            )))),
        )
        .build()
}

fn operation_mut<'a>(item: &'a mut PathItem, method: &Method) -> Option<&'a mut Operation> {
    match *method {
        Method::GET => item.get.as_mut(),
        Method::POST => item.post.as_mut(),
        Method::DELETE => item.delete.as_mut(),
        Method::PUT => item.put.as_mut(),
        Method::PATCH => item.patch.as_mut(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_and_the_route_table_name_the_same_operations() {
        let doc = document();
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["openapi"], "3.1.0");
        let mut documented = Vec::new();
        for (path, item) in &json["paths"].as_object().unwrap().clone() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "delete", "put", "patch"].contains(&method.as_str()) {
                    documented.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        let mut served: Vec<String> = routes()
            .iter()
            .map(|route| format!("{} {}", route.method, route.path))
            .collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
        for route in routes() {
            let operation = &json["paths"][route.path][route.method.as_str().to_lowercase()];
            let security = operation["security"].as_array().unwrap();
            assert_eq!(
                security.is_empty(),
                route.access == Access::Public,
                "{} {}: {security:?}",
                route.method,
                route.path
            );
            if route.access != Access::Public {
                assert!(operation["responses"]["401"].is_object());
                assert!(operation["responses"]["403"].is_object());
            }
        }
    }

    #[test]
    fn a_503_to_events_tells_the_client_when_to_come_back() {
        let json = serde_json::to_value(document()).unwrap();
        let unavailable = &json["paths"]["/v1/events"]["post"]["responses"]["503"];
        assert_eq!(
            unavailable["headers"]["Retry-After"]["schema"]["type"], "integer",
            "{unavailable}"
        );
    }
}
