//! The HTTP API of `switchyard serve` (axum): accept events, search, health and status.
//!
//! - `POST /v1/events`: one CloudEvent or a JSON array of them (structured mode), of any
//!   type in the event registry. Every event is checked (envelope, payload schema,
//!   partition key, size) before any is published: one bad event gets a 400 naming its
//!   index and field, and nothing of that request is published.
//! - `GET /v1/search?q=…&user=…[&type=a,b][&from=…&to=…&date=created|updated]`
//!   `[&participant=…][&sort=relevance|last_updated|sync_timestamp][&limit=…]`: search one
//!   user's documents of every type; fragments come folded under their document.
//! - `GET /v1/documents/{id}/fragments?user=…`: a document's fragments in order;
//!   `GET /v1/fragments/{id}/parent?user=…`: the document a fragment belongs to.
//! - `GET /v1/contacts?user=…[&limit=…]`: discovered contacts ranked by relevance;
//!   `DELETE /v1/contacts?user=…[&contact=…]`: forget them (and their search documents).
//! - `GET /v1/shipments?user=…`: the user's tracked shipments, latest first.
//! - `GET /v1/availability?user=…&from=…&to=…[&min_slot_minutes=…][&working_hours_tz=…]`:
//!   busy blocks (recurring meetings expanded) and free slots in the window.
//! - `GET /v1/status`: subscriptions and the indexer lag.
//! - `GET /v1/dlq[?topic=…&error_type=…&id=…]`: dead-letter counts and entries;
//!   `POST /v1/dlq/redrive` and `POST /v1/dlq/purge` (with `"confirm": true`) take the same
//!   filter as a JSON body.
//! - `POST /v1/state/cleanup`: delete expired keys now.
//! - `GET /metrics`: Prometheus text format.
//! - `GET /health`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_bus::Broker;
use switchyard_contacts::ContactStore;
use switchyard_contracts::{ContractError, Envelope, decode_office_event};
use switchyard_meetings::{AvailabilityOptions, MeetingStore, WorkingHours};
use switchyard_runtime::{DeadLetterFilter, DeadLetterQueue, Publisher, encode_metrics};
use switchyard_search::SearchBackend;
use switchyard_shipments::{Shipment, ShipmentStore, StateShipmentStore};
use switchyard_state::StateStore;

use crate::node::indexer_lag;
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
}

/// The router of every route above.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/events", post(accept_events))
        .route("/v1/search", get(search))
        .route("/v1/documents/{id}/fragments", get(fragments_of))
        .route("/v1/fragments/{id}/parent", get(parent_of))
        .route("/v1/shipments", get(shipments))
        .route("/v1/availability", get(availability))
        .route("/v1/contacts", get(contacts).delete(forget_contacts))
        .route("/v1/status", get(status))
        .route("/v1/dlq", get(dead_letters))
        .route("/v1/dlq/redrive", post(redrive))
        .route("/v1/dlq/purge", post(purge))
        .route("/v1/state/cleanup", post(cleanup))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// A JSON error response: `{"error": …, "field": …, "index": …}`.
struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn new(status: StatusCode, message: impl std::fmt::Display) -> Self {
        ApiError {
            status,
            body: json!({ "error": message.to_string() }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn accept_events(
    State(state): State<ApiState>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let value: Value = serde_json::from_slice(&body)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON: {err}")))?;
    let values = match value {
        Value::Array(values) => values,
        single => vec![single],
    };
    let registry = state.publisher.registry();
    let mut ready = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let checked = Envelope::from_json_value(value).and_then(|envelope| {
            decode_if_office(&envelope)?;
            registry.prepare(&envelope)
        });
        match checked {
            Ok(outbound) => ready.push(outbound),
            Err(err) => {
                return Err(ApiError {
                    status: StatusCode::BAD_REQUEST,
                    body: json!({ "error": err.to_string(), "field": err.field(), "index": index }),
                });
            }
        }
    }
    let ids: Vec<String> = ready.iter().map(|event| event.event_id.clone()).collect();
    state
        .publisher
        .publish_prepared(ready)
        .await
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": ids.len(), "ids": ids })),
    ))
}

/// Office events get the office checks too (non-empty ids, user consistency), beyond
/// what their JSON Schema says.
fn decode_if_office(envelope: &Envelope) -> Result<(), ContractError> {
    match decode_office_event(envelope) {
        Err(ContractError::UnknownEventType(_)) | Ok(_) => Ok(()),
        Err(err) => Err(err),
    }
}

#[derive(Deserialize)]
struct SearchParams {
    q: Option<String>,
    user: Option<String>,
    // Text, not a number: `flatten` hands every value over as a string.
    limit: Option<String>,
    #[serde(flatten)]
    filters: SearchFilters,
}

fn required_user(user: Option<String>) -> Result<String, ApiError> {
    user.filter(|user| !user.is_empty())
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "missing required parameter `user`"))
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

async fn search(
    State(state): State<ApiState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
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

#[derive(Deserialize)]
struct UserParam {
    user: Option<String>,
}

async fn fragments_of(
    State(state): State<ApiState>,
    Path(document_id): Path<String>,
    Query(params): Query<UserParam>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
    let fragments = read_index(&state, move |index| {
        index.fragments_of(&user_id, &document_id)
    })
    .await?;
    Ok(Json(json!({ "fragments": fragments })))
}

async fn parent_of(
    State(state): State<ApiState>,
    Path(fragment_id): Path<String>,
    Query(params): Query<UserParam>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
    let id = fragment_id.clone();
    match read_index(&state, move |index| index.parent_of(&user_id, &id)).await? {
        Some(hit) => Ok(Json(json!({ "document": hit }))),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no fragment `{fragment_id}` with an indexed document"),
        )),
    }
}

async fn shipments(
    State(state): State<ApiState>,
    Query(params): Query<UserParam>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
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
struct ContactParams {
    user: Option<String>,
    limit: Option<usize>,
    /// For a delete: only this address.
    contact: Option<String>,
}

async fn contacts(
    State(state): State<ApiState>,
    Query(params): Query<ContactParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
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

async fn forget_contacts(
    State(state): State<ApiState>,
    Query(params): Query<ContactParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
    let forgotten = crate::node::forget_contacts(
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
struct AvailabilityParams {
    user: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Shortest free slot worth reporting, in minutes.
    min_slot_minutes: Option<u32>,
    /// Only working hours (Mon–Fri 09–17) in this time zone.
    working_hours_tz: Option<String>,
}

async fn availability(
    State(state): State<ApiState>,
    Query(params): Query<AvailabilityParams>,
) -> Result<Json<Value>, ApiError> {
    let user_id = required_user(params.user)?;
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

/// `GET /v1/stream` while no token secret is configured.
pub async fn stream_not_configured() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the live stream needs SWITCHYARD_NOTIFIER_SECRET (32 bytes or more) to check tokens",
    )
    .into_response()
}

async fn status(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let unavailable =
        |err: &dyn std::fmt::Display| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err);
    let subscriptions = state
        .broker
        .stats()
        .await
        .map_err(|err| unavailable(&err))?;
    let lag = indexer_lag(state.broker.as_ref())
        .await
        .map_err(|err| unavailable(&err))?;
    Ok(Json(
        json!({ "indexer_lag": lag, "subscriptions": subscriptions }),
    ))
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err)
}

async fn dead_letters(
    State(state): State<ApiState>,
    Query(filter): Query<DeadLetterFilter>,
) -> Result<Json<Value>, ApiError> {
    let counts = state.dead_letters.counts().await.map_err(unavailable)?;
    let entries = state
        .dead_letters
        .list(&filter)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "counts": counts, "entries": entries })))
}

async fn redrive(
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
struct PurgeRequest {
    #[serde(flatten)]
    filter: DeadLetterFilter,
    #[serde(default)]
    confirm: bool,
}

async fn purge(
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

async fn cleanup(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let purged = state.state.purge_expired().await.map_err(unavailable)?;
    Ok(Json(json!({ "purged": purged })))
}

async fn metrics() -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        encode_metrics(),
    )
}
