//! The handlers of the HTTP API. Each data handler serves the [`Caller`]'s user, which
//! the access layer resolved from the credential (`?user=` only for admins); the routes
//! and their auth decisions are the table in `mod.rs`.
//!
//! - `POST /v1/events`: CloudEvents in the three modes of the HTTP binding, by
//!   `Content-Type`: binary (`ce-` headers, the JSON data as the body, decoded into the
//!   envelope the structured form gives), structured (`application/cloudevents+json`, one
//!   event) or batched (`application/cloudevents-batch+json`, a JSON array); plain
//!   `application/json` without `ce-` headers takes one event or an array; anything else
//!   is 415. Each event is checked (envelope, payload schema, partition key) and its owner
//!   authorized; large payloads go through the claim check like a local import. The
//!   valid ones are published: 202 with `accepted`, `ids` and the `rejected` ones (index,
//!   error, field); 400 when none is valid; 403 for events of another user, or outside
//!   the office set without an admin token; 503 with `Retry-After` when the bus still
//!   fails once the publisher's retries are spent.
//! - `GET /v1/search?q=…[&type=a,b][&from=…&to=…&date=created|updated]`
//!   `[&participant=…][&sort=relevance|last_updated|sync_timestamp][&limit=…]`: search
//!   the caller's documents of every type; fragments come folded under their document.
//! - `GET /v1/documents/{id}/fragments`: a document's fragments in order;
//!   `GET /v1/fragments/{id}/parent`: the document a fragment belongs to.
//! - `GET /v1/contacts[?limit=…]`: discovered contacts ranked by relevance;
//!   `DELETE /v1/contacts[?contact=…]`: forget them (and their search documents).
//! - `GET /v1/shipments`: the caller's tracked shipments, latest first.
//! - `GET /v1/availability?from=…&to=…[&min_slot_minutes=…][&working_hours_tz=…]`:
//!   busy blocks (recurring meetings expanded) and free slots in the window.
//! - Admin: `GET /v1/status` (subscriptions and the indexer lag),
//!   `GET /v1/dlq[?topic=…&error_type=…&id=…][&limit=…&cursor=…]` (dead-letter counts and
//!   one page of entries), `POST /v1/dlq/redrive` and `POST /v1/dlq/purge` (with
//!   `"confirm": true`) taking the same filter as a JSON body, `POST /v1/state/cleanup`.
//! - Public: `GET /metrics` (Prometheus text format), `GET /health`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_auth::Scope;
use switchyard_bus::Broker;
use switchyard_contacts::ContactStore;
use switchyard_contracts::{ContractError, decode_office_event};
use switchyard_identity::Identity;
use switchyard_meetings::{AvailabilityOptions, MeetingStore, WorkingHours};
use switchyard_runtime::{DeadLetterFilter, DeadLetterQueue, Publisher, encode_metrics_with};
use switchyard_search::SearchBackend;
use switchyard_shipments::{Shipment, ShipmentStore, StateShipmentStore};
use switchyard_state::StateStore;

use super::content_modes::{decode_events, events_body};
use super::openapi::{AcceptedEvents, ErrorBody, RejectedItem};
use super::{AccessControl, Caller};
use crate::backends::RedisProbe;
use crate::integrations::Integrations;
use crate::node::indexer_lag;
use crate::readiness::{Readiness, ReadinessReport};
use crate::search::SearchFilters;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Publishes accepted events.
    pub publisher: Publisher,
    /// Answers searches.
    pub index: Arc<dyn SearchBackend>,
    /// Reports status.
    pub broker: Arc<dyn Broker>,
    /// The dead letters.
    pub dead_letters: DeadLetterQueue,
    /// The state store, for cleanup and shipments.
    pub state: Arc<dyn StateStore>,
    /// Meeting contexts, for availability.
    pub meetings: Arc<dyn MeetingStore>,
    /// Discovered contacts.
    pub contacts: Arc<dyn ContactStore>,
    /// Credentials and the audit log.
    pub access: Arc<AccessControl>,
    /// The engines and consumers `/health/ready` checks.
    pub readiness: Readiness,
    /// The subscriptions whose lag `/v1/status` reports as the indexer lag.
    pub pipeline: Arc<[String]>,
    /// Connected accounts and their backfills.
    pub integrations: Integrations,
    /// Registration, verification and subscriptions.
    pub identity: Identity,
    /// Redis, when the state lives there.
    pub redis: Option<RedisProbe>,
}

impl ApiState {
    /// What the handlers of `node` share, with `access` checking credentials.
    pub fn new(
        node: &crate::node::Node,
        access: Arc<AccessControl>,
        integrations: Integrations,
    ) -> Self {
        ApiState {
            publisher: node.publisher.clone(),
            index: node.index.clone(),
            broker: node.broker.clone(),
            dead_letters: node.dead_letters(),
            state: node.state.clone(),
            meetings: node.meetings.clone(),
            contacts: node.contacts.clone(),
            access,
            readiness: node.readiness(),
            pipeline: node.pipeline_subscriptions().into(),
            integrations,
            identity: node.identity.clone(),
            redis: node.redis.clone(),
        }
    }
}

/// A JSON error response ([`ErrorBody`]), with a `Retry-After` header when the client
/// should come back later.
pub(super) struct ApiError {
    status: StatusCode,
    /// Boxed: the body is large and errors travel through every handler's `Result`.
    body: Box<ErrorBody>,
    retry_after_secs: Option<u64>,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        ApiError {
            status,
            body: Box::new(ErrorBody::new(message)),
            retry_after_secs: None,
        }
    }

    /// The same error, telling the client to retry in `secs` seconds.
    pub(super) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// The same error, naming the field at fault.
    pub(super) fn field(mut self, field: &str) -> Self {
        self.body.field = Some(field.to_string());
        self
    }

    /// The same error, with a machine-readable reason.
    pub(super) fn reason(mut self, reason: &str) -> Self {
        self.body.reason = Some(reason.to_string());
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(*self.body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, secs.into());
        }
        response
    }
}

#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "The process is up and answers", body = Object)))]
pub(super) async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, description = "Every engine this process uses answers and its consumers run", body = ReadinessReport),
        (status = 503, description = "An engine does not answer or a consumer fails: the report names it", body = ReadinessReport)))]
pub(super) async fn ready(State(state): State<ApiState>) -> (StatusCode, Json<ReadinessReport>) {
    let report = state.readiness.check().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Ready: the same as `/health/ready`", body = ReadinessReport),
        (status = 503, description = "Not ready: the report names what fails", body = ReadinessReport)))]
pub(super) async fn health(state: State<ApiState>) -> (StatusCode, Json<ReadinessReport>) {
    ready(state).await
}

/// What `POST /v1/events` tells a client to wait when publishing failed, the publisher
/// having already retried for its budget (15 s by default).
const PUBLISH_RETRY_AFTER_SECS: u64 = 5;

#[utoipa::path(post, path = "/v1/events", tag = "events",
    params(
        ("ce-specversion" = Option<String>, Header, description = "Binary mode: `1.0`. With `ce-` headers the body is the event's data (`Content-Type: application/json`)"),
        ("ce-id" = Option<String>, Header, description = "Binary mode: the event id"),
        ("ce-source" = Option<String>, Header, description = "Binary mode: the event source"),
        ("ce-type" = Option<String>, Header, description = "Binary mode: the event type, e.g. `switchyard.office.email`"),
        ("ce-subject" = Option<String>, Header, description = "Binary mode: the subject (values percent-encoded as the CloudEvents HTTP binding says)"),
        ("ce-time" = Option<String>, Header, description = "Binary mode: the time of the occurrence, RFC 3339")),
    request_body(description = "CloudEvents in one of three modes: binary (`ce-` headers, the data as the JSON body), structured (one event, `application/cloudevents+json`) or batched (a JSON array of events, `application/cloudevents-batch+json`); `application/json` without `ce-` headers takes one event or an array",
        content((Object = "application/json"), (Object = "application/cloudevents+json"),
            ([Object] = "application/cloudevents-batch+json"))),
    responses(
        (status = 202, description = "The valid events were published; `rejected` names the others", body = AcceptedEvents),
        (status = 400, description = "Malformed JSON, a body that is not the mode's shape, or no valid event: `index` and `field` name the first refused event and its attribute", body = ErrorBody),
        (status = 413, description = "The body is over `http.max_body_bytes`", body = ErrorBody),
        (status = 415, description = "Not a content type of the three modes, or binary-mode data that is not JSON", body = ErrorBody),
        (status = 503, description = "The bus is unavailable, after the publisher's retries", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before sending the events again")))))]
pub(super) async fn accept_events(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<AcceptedEvents>), ApiError> {
    let mode = events_body(&headers)?;
    let events = decode_events(mode, &headers, &body)?;
    let registry = state.publisher.registry();
    let mut rejected = Vec::new();
    let (mut envelopes, mut positions) = (Vec::new(), Vec::new());
    for (index, event) in events.into_iter().enumerate() {
        let envelope = match event {
            Ok(envelope) => envelope,
            Err(err) => {
                rejected.push(rejection(index, &err));
                continue;
            }
        };
        let owner = match decode_office_event(&envelope) {
            Ok(event) => Some(event.user_id().to_string()),
            Err(ContractError::UnknownEventType(_))
                if registry.definition(&envelope.event_type).is_some() =>
            {
                None
            }
            Err(err) => {
                rejected.push(rejection(index, &err));
                continue;
            }
        };
        let allowed = match &owner {
            Some(owner) => caller.principal.may_access(owner, Scope::Write),
            None => caller.principal.scope == Scope::Admin,
        };
        if !allowed {
            let reason = match &owner {
                Some(owner) => format!(
                    "event {index} belongs to user `{owner}`; user `{}` may send only their own",
                    caller.principal.user_id
                ),
                None => format!(
                    "event {index} (`{}`) is outside the office set: it needs an admin token",
                    envelope.event_type
                ),
            };
            super::metrics::count(super::metrics::Refusal::Forbidden);
            state.access.audit(
                Some(&caller.principal),
                "POST /v1/events",
                owner.as_deref(),
                StatusCode::FORBIDDEN,
                Some(reason.clone()),
            );
            return Err(ApiError::new(StatusCode::FORBIDDEN, reason));
        }
        envelopes.push(envelope);
        positions.push(index);
    }
    let report = state.publisher.publish(&envelopes).await.map_err(|err| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err).retry_after(PUBLISH_RETRY_AFTER_SECS)
    })?;
    let mut refused = vec![false; envelopes.len()];
    for event in &report.rejected {
        refused[event.index] = true;
        rejected.push(rejection(positions[event.index], &event.error));
    }
    rejected.sort_by_key(|entry| entry.index);
    let ids: Vec<String> = envelopes
        .iter()
        .zip(&refused)
        .filter(|(_, refused)| !**refused)
        .map(|(envelope, _)| envelope.id.clone())
        .collect();
    if ids.is_empty() && !rejected.is_empty() {
        let first = rejected[0].clone();
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            body: Box::new(ErrorBody {
                error: first.error,
                field: first.field,
                index: Some(first.index),
                rejected: Some(rejected),
                reason: None,
            }),
            retry_after_secs: None,
        });
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(AcceptedEvents {
            accepted: ids.len(),
            ids,
            rejected,
        }),
    ))
}

/// One refused event of a request: its position, what is wrong, and where.
fn rejection(index: usize, err: &ContractError) -> RejectedItem {
    RejectedItem {
        index,
        error: err.to_string(),
        field: err.field().map(str::to_string),
    }
}

#[derive(Deserialize)]
pub(super) struct SearchParams {
    q: Option<String>,
    // Text, not a number: `flatten` hands every value over as a string.
    limit: Option<String>,
    #[serde(flatten)]
    filters: SearchFilters,
}

/// Runs a blocking index read off the async runtime.
async fn read_index<T: Send + 'static>(
    state: &ApiState,
    read: impl FnOnce(&dyn SearchBackend) -> Result<T, switchyard_search::SearchError> + Send + 'static,
) -> Result<T, ApiError> {
    let index = state.index.clone();
    tokio::task::spawn_blocking(move || read(index.as_ref()))
        .await
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err))?
        .map_err(|err| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err))
}

#[utoipa::path(get, path = "/v1/search", tag = "search",
    params(("q" = Option<String>, Query, description = "Words to find"), ("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's"),
        ("type" = Option<String>, Query, description = "Only these types, comma-separated: email, calendar, contact, word, sheet, presentation, task, todo, llm_chat, shipment, meeting_poll, meeting_booking"),
        ("from" = Option<String>, Query, description = "Only items dated on or after this (RFC 3339 or YYYY-MM-DD)"),
        ("to" = Option<String>, Query, description = "Only items dated before this (RFC 3339 or YYYY-MM-DD)"),
        ("date" = Option<String>, Query, description = "`created` or `updated`: which date from/to compare"),
        ("participant" = Option<String>, Query, description = "Only items with this participant address"),
        ("sort" = Option<String>, Query, description = "`relevance`, `last_updated` or `sync_timestamp`"),
        ("limit" = Option<String>, Query, description = "Most results (1 to 1000, default 10)")),
    responses((status = 200, description = "Hits with their best fragments folded in", body = Object),
        (status = 400, description = "An invalid parameter, named", body = ErrorBody)))]
pub(super) async fn search(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let limit = match params.limit.as_deref() {
        None => 10,
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("invalid `limit` `{text}`: use a positive number"),
            )
        })?,
    };
    let query = params
        .filters
        .to_query(params.q.unwrap_or_default(), user_id, limit.clamp(1, 1000))
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, format!("{err:#}")))?;
    let results = read_index(&state, move |index| index.search(&query)).await?;
    Ok(Json(
        json!({ "hits": results.hits, "matched": results.matched }),
    ))
}

#[utoipa::path(get, path = "/v1/documents/{id}/fragments", tag = "search",
    params(("id" = String, Path, description = "The document id"), ("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's")),
    responses((status = 200, description = "The document's fragments in order", body = Object)))]
pub(super) async fn fragments_of(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(document_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let fragments = read_index(&state, move |index| {
        index.fragments_of(&user_id, &document_id)
    })
    .await?;
    Ok(Json(json!({ "fragments": fragments })))
}

#[utoipa::path(get, path = "/v1/fragments/{id}/parent", tag = "search",
    params(("id" = String, Path, description = "The fragment id"), ("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's")),
    responses((status = 200, description = "The document the fragment belongs to", body = Object),
        (status = 404, description = "No such fragment with an indexed document", body = ErrorBody)))]
pub(super) async fn parent_of(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(fragment_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let id = fragment_id.clone();
    match read_index(&state, move |index| index.parent_of(&user_id, &id)).await? {
        Some(hit) => Ok(Json(json!({ "document": hit }))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no fragment `{fragment_id}` with an indexed document"),
        )),
    }
}

#[utoipa::path(get, path = "/v1/shipments", tag = "domain",
    params(("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's")),
    responses((status = 200, description = "Tracked shipments, latest first", body = Object),
        (status = 503, description = "The state store is unavailable", body = ErrorBody)))]
pub(super) async fn shipments(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let store = StateShipmentStore::new(state.state.clone());
    let mut shipments: Vec<Shipment> = store
        .load(&user_id)
        .await
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err))?
        .into_values()
        .collect();
    shipments.sort_by_key(|shipment| std::cmp::Reverse(shipment.last_seen));
    let shipments: Vec<Value> = shipments
        .iter()
        .map(|s| {
            json!({
                "id": s.id, "carrier": s.carrier, "carrier_name": s.carrier_name,
                "tracking_number": s.tracking_number, "tracking_url": s.tracking_url,
                "status": s.status, "status_at": s.status_at, "first_seen": s.first_seen,
                "last_seen": s.last_seen, "source_email_ids": s.observations.keys().collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({ "shipments": shipments })))
}

#[derive(Deserialize)]
pub(super) struct ContactParams {
    limit: Option<usize>,
    /// For a delete: only this address.
    contact: Option<String>,
}

#[utoipa::path(get, path = "/v1/contacts", tag = "domain",
    params(("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's"), ("limit" = Option<u32>, Query, description = "Most contacts (1 to 1000, default 50)")),
    responses((status = 200, description = "Discovered contacts ranked by relevance", body = Object),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 503, description = "The contact store is unavailable", body = ErrorBody)))]
pub(super) async fn contacts(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<ContactParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let ranked = state
        .contacts
        .top(&user_id, params.limit.unwrap_or(50).clamp(1, 1000))
        .await
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err))?;
    let contacts: Vec<Value> = ranked
        .iter()
        .map(|ranked| {
            let contact = &ranked.contact;
            json!({
                "address": contact.address, "name": contact.display_name(),
                "score": ranked.score, "counts": contact.counts, "items": contact.items,
                "first_seen": contact.first_seen, "last_seen": contact.last_seen,
            })
        })
        .collect();
    Ok(Json(json!({ "contacts": contacts })))
}

#[utoipa::path(delete, path = "/v1/contacts", tag = "domain",
    params(("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's"), ("contact" = Option<String>, Query, description = "Only this address")),
    responses((status = 200, description = "How many contacts were forgotten", body = Object),
        (status = 400, description = "An invalid parameter", body = ErrorBody),
        (status = 503, description = "A store is unavailable", body = ErrorBody)))]
pub(super) async fn forget_contacts(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<ContactParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let forgotten = switchyard_contacts::forget(
        state.contacts.as_ref(),
        &state.index,
        &user_id,
        params.contact.as_deref(),
    )
    .await
    .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("{err:#}")))?;
    Ok(Json(json!({ "forgotten": forgotten })))
}

#[derive(Deserialize)]
pub(super) struct AvailabilityParams {
    from: Option<String>,
    to: Option<String>,
    /// Shortest free slot worth reporting, in minutes.
    min_slot_minutes: Option<u32>,
    /// Only working hours (Mon–Fri 09–17) in this time zone.
    working_hours_tz: Option<String>,
}

#[utoipa::path(get, path = "/v1/availability", tag = "domain",
    params(("user" = Option<String>, Query, pattern = r"^[A-Za-z0-9._@+-]{1,128}$", description = "Whose data: only the caller's own user, unless the token is an admin's"), ("from" = String, Query, format = DateTime, description = "Window start, RFC 3339"),
        ("to" = String, Query, format = DateTime, description = "Window end, RFC 3339"),
        ("min_slot_minutes" = Option<u32>, Query, description = "Shortest free slot worth reporting"),
        ("working_hours_tz" = Option<String>, Query, description = "Only working hours (Mon-Fri 09-17) in this IANA time zone")),
    responses((status = 200, description = "Busy blocks and free slots", body = Object),
        (status = 400, description = "An invalid parameter, named", body = ErrorBody),
        (status = 503, description = "The meeting store is unavailable", body = ErrorBody)))]
pub(super) async fn availability(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<AvailabilityParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = caller.user_id;
    let time = |name: &str, value: Option<String>| -> Result<DateTime<Utc>, ApiError> {
        let text = value.ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("missing required parameter `{name}`"),
            )
        })?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|err| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid `{name}` `{text}`: {err} (use RFC 3339)"),
                )
            })
    };
    let (from, to) = (time("from", params.from)?, time("to", params.to)?);
    let options = AvailabilityOptions {
        working_hours: params.working_hours_tz.map(WorkingHours::office_week),
        min_slot_minutes: params.min_slot_minutes.unwrap_or(0),
        ..AvailabilityOptions::default()
    };
    let result =
        switchyard_meetings::availability(state.meetings.as_ref(), &user_id, from, to, &options)
            .await
            .map_err(|err| {
                let status = if err.is_retryable() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::BAD_REQUEST
                };
                ApiError::new(status, err)
            })?;
    Ok(Json(
        json!({ "user": user_id, "from": from, "to": to, "busy": result.busy, "free": result.free }),
    ))
}

#[utoipa::path(get, path = "/v1/status", tag = "operations",
    responses((status = 200, description = "The readiness of each engine and consumer, the subscriptions and the indexer lag (`null`, with `error`, while the bus cannot say)", body = Object)))]
pub(super) async fn status(State(state): State<ApiState>) -> Json<Value> {
    let readiness = state.readiness.check().await;
    let bus = async {
        let subscriptions = state.broker.stats().await?;
        let lag = indexer_lag(state.broker.as_ref(), &state.pipeline).await?;
        anyhow::Ok((subscriptions, lag))
    };
    match bus.await {
        Ok((subscriptions, lag)) => Json(json!({
            "readiness": readiness,
            "indexer_lag": lag,
            "subscriptions": subscriptions,
        })),
        Err(err) => Json(json!({
            "readiness": readiness,
            "indexer_lag": null,
            "subscriptions": null,
            "error": format!("{err:#}"),
        })),
    }
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err)
}

/// `GET /v1/dlq`: the filter, and a page of it.
#[derive(Deserialize)]
pub(super) struct DeadLetterParams {
    #[serde(flatten)]
    filter: DeadLetterFilter,
    /// Entries per page (default 100, at most 1000).
    limit: Option<String>,
    /// The `next` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/dlq", tag = "operations",
    params(("id" = Option<String>, Query, description = "One letter, by id"),
        ("topic" = Option<String>, Query, description = "Letters of this original topic"),
        ("error_type" = Option<String>, Query, description = "Letters of this failure kind"),
        ("limit" = Option<String>, Query, description = "Entries per page (1 to 1000, default 100)"),
        ("cursor" = Option<String>, Query, description = "The `next` of the previous page")),
    responses((status = 200, description = "Counts, one page of letters, and the next cursor", body = Object),
        (status = 400, description = "An invalid limit or cursor", body = ErrorBody),
        (status = 503, description = "The bus is unavailable", body = ErrorBody)))]
pub(super) async fn dead_letters(
    State(state): State<ApiState>,
    Query(params): Query<DeadLetterParams>,
) -> Result<Json<Value>, ApiError> {
    let limit = match params.limit.as_deref() {
        None => 100,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=1000).contains(limit))
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid `limit` `{text}`: use 1 to 1000"),
                )
            })?,
    };
    let after = match params.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            cursor
                .rsplit_once('/')
                .and_then(|(topic, seq)| Some((topic, seq.parse::<u64>().ok()?)))
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!("invalid `cursor` `{cursor}`: pass the `next` of a page"),
                    )
                })?,
        ),
    };
    let counts = state.dead_letters.counts().await.map_err(unavailable)?;
    let page = state
        .dead_letters
        .page(&params.filter, after, limit)
        .await
        .map_err(unavailable)?;
    Ok(Json(
        json!({ "counts": counts, "entries": page.entries, "next": page.next }),
    ))
}

#[utoipa::path(post, path = "/v1/dlq/redrive", tag = "operations",
    request_body(content = Object, description = "The filter: `id`, `topic`, `error_type`"),
    responses((status = 200, description = "How many letters were redriven", body = Object),
        (status = 400, description = "Not a filter", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field of the wrong type", body = ErrorBody),
        (status = 503, description = "The bus is unavailable", body = ErrorBody)))]
pub(super) async fn redrive(
    State(state): State<ApiState>,
    Json(filter): Json<DeadLetterFilter>,
) -> Result<Json<Value>, ApiError> {
    let redriven = state
        .dead_letters
        .redrive(&filter)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "redriven": redriven })))
}

#[derive(Deserialize)]
pub(super) struct PurgeRequest {
    #[serde(flatten)]
    filter: DeadLetterFilter,
    #[serde(default)]
    confirm: bool,
}

#[utoipa::path(post, path = "/v1/dlq/purge", tag = "operations",
    request_body(content = Object, description = "The filter, and `confirm: true`"),
    responses((status = 200, description = "How many letters were deleted", body = Object),
        (status = 400, description = "Not confirmed, or not a filter", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field of the wrong type", body = ErrorBody),
        (status = 503, description = "The bus is unavailable", body = ErrorBody)))]
pub(super) async fn purge(
    State(state): State<ApiState>,
    Json(request): Json<PurgeRequest>,
) -> Result<Json<Value>, ApiError> {
    if !request.confirm {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "purging deletes dead letters for good: send \"confirm\": true",
        ));
    }
    let purged = state
        .dead_letters
        .purge(&request.filter)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "purged": purged })))
}

#[utoipa::path(post, path = "/v1/state/cleanup", tag = "operations",
    responses((status = 200, description = "How many expired keys were deleted", body = Object),
        (status = 503, description = "The state store is unavailable", body = ErrorBody)))]
pub(super) async fn cleanup(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let purged = state.state.purge_expired().await.map_err(unavailable)?;
    Ok(Json(json!({ "purged": purged })))
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub(super) async fn metrics() -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        encode_metrics_with(&[
            super::metrics::registry(),
            crate::readiness::registry(),
            switchyard_mailer::metrics_registry(),
        ]),
    )
}
