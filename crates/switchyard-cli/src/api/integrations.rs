//! The connected-account routes: `POST/GET /v1/integrations`, `GET/DELETE
//! /v1/integrations/{id}`, and the backfill jobs they start, `GET /v1/backfill/{id}` and
//! `POST /v1/backfill/{id}/cancel`. Every one acts on the caller's own user (an admin's
//! `?user=`); another user's integration or job is 404, never its existence. No answer
//! holds a credential.
//!
//! `POST /v1/webhooks/microsoft` is where Graph delivers change notifications. It takes
//! no bearer credential (Graph cannot present one): it answers the `validationToken`
//! handshake, and a delivery is believed only when its notifications of known
//! subscriptions carry their `clientState` (one of an unknown subscription asks for
//! nothing); a forged one is 403, changes nothing and goes to the audit log.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use switchyard_auth::SecretString;
use switchyard_integrations::{
    BackfillOptions, ConnectRequest, DataType, Grant, Integration, IntegrationError,
    IntegrationErrorKind, Provider, Window,
};
use switchyard_providers::microsoft::MAX_PAGE_SIZE;
use switchyard_state::{JobId, JobOwner, JobProgress, JobState, JobUpdate};
use utoipa::ToSchema;

use super::Caller;
use super::handlers::{ApiError, ApiState};
use super::openapi::ErrorBody;

/// The longest grant (refresh token or authorization code) accepted, bytes.
const MAX_GRANT_BYTES: usize = 16 * 1024;
/// The largest webhook delivery read, bytes.
const MAX_WEBHOOK_BYTES: usize = 1024 * 1024;
/// The longest `validationToken` echoed, bytes.
const MAX_VALIDATION_TOKEN_BYTES: usize = 1024;

/// `POST /v1/integrations`: an account to connect, with a refresh token, or an
/// authorization code and the redirect URI it was issued for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ConnectBody {
    /// `microsoft`.
    #[schema(value_type = String, example = "microsoft")]
    provider: Provider,
    /// A refresh token the application holds for the account.
    #[serde(default)]
    refresh_token: Option<String>,
    /// An authorization code from the provider's consent page (instead of a refresh token).
    #[serde(default)]
    code: Option<String>,
    /// The redirect URI the code was issued for (with `code`).
    #[serde(default)]
    redirect_uri: Option<String>,
    /// What to read: `emails`, `calendars`, `contacts`, `todos`, `files`.
    #[schema(value_type = Vec<String>, example = json!(["emails"]))]
    data_types: Vec<DataType>,
}

/// A connected account, never with its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct IntegrationBody {
    /// Its id.
    id: String,
    /// `microsoft`.
    provider: String,
    /// What it reads.
    data_types: Vec<String>,
    /// `active`, or `needs_reauth` when the user must connect it again.
    state: String,
    /// Why it is not active.
    #[serde(skip_serializing_if = "Option::is_none")]
    state_reason: Option<String>,
    /// The job reading its history.
    #[serde(skip_serializing_if = "Option::is_none")]
    backfill_job: Option<String>,
    /// When it was connected.
    created_at: String,
}

impl From<Integration> for IntegrationBody {
    fn from(integration: Integration) -> Self {
        IntegrationBody {
            id: integration.id,
            provider: integration.provider.as_str().to_string(),
            data_types: integration
                .data_types
                .iter()
                .map(|data_type| data_type.as_str().to_string())
                .collect(),
            state: integration.state.as_str().to_string(),
            state_reason: integration.state_reason,
            backfill_job: integration.backfill_job,
            created_at: integration.created_at.to_rfc3339(),
        }
    }
}

/// A backfill job as `GET /v1/backfill/{id}` answers it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BackfillBody {
    /// The job id (the correlation id of every event it published).
    id: String,
    /// `running`, `stalled`, `done`, `failed` or `cancelled`.
    state: String,
    /// Why it failed or stalled.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Items in all, once known.
    #[serde(skip_serializing_if = "Option::is_none")]
    total: Option<u64>,
    /// Items published.
    done: u64,
    /// Items that could not be.
    failed: u64,
    /// How far, 0 to 100, once the total is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    percent: Option<f64>,
    /// Items per second since it started.
    rate: f64,
    /// Seconds left at that rate, once the total is known (a delta query tells it only
    /// at its end, so a running backfill mostly has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    eta_secs: Option<f64>,
    /// Where its runner stands: the data types it reads, the feed it is at (`at`) and
    /// that feed's next link (`next`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    cursor: Option<serde_json::Value>,
}

impl From<JobProgress> for BackfillBody {
    fn from(progress: JobProgress) -> Self {
        let end_ms = progress.finished_ms.unwrap_or(progress.progress_ms);
        let seconds = end_ms.saturating_sub(progress.created_ms) as f64 / 1000.0;
        let rate = if seconds > 0.0 {
            progress.counted() as f64 / seconds
        } else {
            0.0
        };
        let eta_secs = match (progress.total, progress.state) {
            (Some(total), JobState::Running | JobState::Stalled) if rate > 0.0 => {
                Some(total.saturating_sub(progress.counted()) as f64 / rate)
            }
            _ => None,
        };
        let cursor = progress.cursor.as_deref().map(|cursor| {
            serde_json::from_str(cursor).unwrap_or_else(|_| serde_json::Value::from(cursor))
        });
        BackfillBody {
            id: progress.id.to_string(),
            state: progress.state.as_str().to_string(),
            eta_secs,
            cursor,
            percent: progress.percent(),
            reason: progress.reason,
            total: progress.total,
            done: progress.done,
            failed: progress.failed,
            rate,
        }
    }
}

fn api_error(err: IntegrationError) -> ApiError {
    let status = match err.kind() {
        IntegrationErrorKind::NotFound => StatusCode::NOT_FOUND,
        IntegrationErrorKind::Invalid => StatusCode::BAD_REQUEST,
        IntegrationErrorKind::NeedsReauth => StatusCode::CONFLICT,
        IntegrationErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    ApiError::new(status, err)
}

fn bad_request(message: impl std::fmt::Display) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// The grant of `body`, checked.
fn grant(body: ConnectBody) -> Result<ConnectRequest, ApiError> {
    let bounded = |name: &str, value: String| {
        if value.is_empty() || value.len() > MAX_GRANT_BYTES {
            Err(bad_request(format!(
                "{name} must be 1 to {MAX_GRANT_BYTES} bytes"
            )))
        } else {
            Ok(SecretString::new(value))
        }
    };
    let grant = match (body.refresh_token, body.code, body.redirect_uri) {
        (Some(token), None, None) => Grant::RefreshToken(bounded("refresh_token", token)?),
        (None, Some(code), Some(redirect_uri)) => Grant::Code {
            code: bounded("code", code)?,
            redirect_uri,
        },
        _ => {
            return Err(bad_request(
                "give either refresh_token, or code with redirect_uri",
            ));
        }
    };
    Ok(ConnectRequest {
        provider: body.provider,
        grant,
        data_types: body.data_types,
    })
}

#[utoipa::path(post, path = "/v1/integrations", tag = "integrations", request_body = ConnectBody,
    responses((status = 201, description = "Connected; its history is being read by `backfill_job`", body = IntegrationBody),
        (status = 400, description = "A wrong body, a grant the provider refused, or a provider not configured", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field of the wrong type, or an unknown provider or data type", body = ErrorBody),
        (status = 503, description = "The provider or the store is unavailable", body = ErrorBody)))]
pub(super) async fn connect(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<ConnectBody>,
) -> Result<(StatusCode, Json<IntegrationBody>), ApiError> {
    let request = grant(body)?;
    let integration = state
        .integrations
        .connect(&caller.user_id, request)
        .await
        .map_err(api_error)?;
    Ok((StatusCode::CREATED, Json(integration.into())))
}

#[utoipa::path(get, path = "/v1/integrations", tag = "integrations",
    responses((status = 200, description = "The caller's connected accounts", body = Vec<IntegrationBody>)))]
pub(super) async fn list(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<IntegrationBody>>, ApiError> {
    let integrations = state
        .integrations
        .connector
        .list(&caller.user_id)
        .await
        .map_err(api_error)?;
    Ok(Json(integrations.into_iter().map(Into::into).collect()))
}

#[utoipa::path(get, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "The integration's id")),
    responses((status = 200, description = "The connected account", body = IntegrationBody),
        (status = 404, description = "No such integration of the caller's", body = ErrorBody)))]
pub(super) async fn get_one(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<IntegrationBody>, ApiError> {
    let integration = state
        .integrations
        .connector
        .get(&caller.user_id, &id)
        .await
        .map_err(api_error)?;
    Ok(Json(integration.into()))
}

/// `DELETE /v1/integrations/{id}` options.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DisconnectQuery {
    /// Also forget every item the integration delivered: a delete event for each, so
    /// that search and every other consumer drop them.
    #[serde(default)]
    purge: bool,
}

#[utoipa::path(delete, path = "/v1/integrations/{id}", tag = "integrations",
    params(("id" = String, Path, description = "The integration's id"), DisconnectQuery),
    responses((status = 200, description = "Disconnected: its credentials are forgotten, its backfill cancelled and its subscriptions deleted (with `purge=true`, its items deleted downstream)", body = IntegrationBody),
        (status = 400, description = "A wrong query", body = ErrorBody),
        (status = 404, description = "No such integration of the caller's", body = ErrorBody),
        (status = 503, description = "The store or the bus is unavailable: nothing was disconnected", body = ErrorBody)))]
pub(super) async fn disconnect(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<DisconnectQuery>,
) -> Result<Json<IntegrationBody>, ApiError> {
    let integration = state
        .integrations
        .disconnect(&caller.user_id, &id, query.purge)
        .await
        .map_err(api_error)?;
    Ok(Json(integration.into()))
}

/// `POST /v1/webhooks/microsoft` query: Graph's handshake.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct WebhookQuery {
    /// The token Graph sends when a subscription is created, to be echoed as text.
    #[serde(default, rename = "validationToken")]
    validation_token: Option<String>,
}

#[utoipa::path(post, path = "/v1/webhooks/microsoft", tag = "integrations", params(WebhookQuery),
    request_body(content = String, description = "Graph change or lifecycle notifications (`{\"value\": [...]}`); empty for the handshake"),
    responses((status = 200, description = "The handshake: the `validationToken`, URL-decoded, as text/plain", body = String, content_type = "text/plain"),
        (status = 202, description = "Genuine notifications: their integrations sync in the background"),
        (status = 400, description = "An unreadable delivery or a token too long", body = ErrorBody),
        (status = 403, description = "A notification with the wrong clientState, or a delivery naming only unknown subscriptions: nothing is done, and it is audited", body = ErrorBody),
        (status = 413, description = "Over 1 MiB", body = ErrorBody),
        (status = 503, description = "The store is unavailable: Graph delivers again", body = ErrorBody)))]
pub(super) async fn microsoft_webhook(
    State(state): State<ApiState>,
    Query(query): Query<WebhookQuery>,
    body: Body,
) -> Result<Response, ApiError> {
    if let Some(token) = query.validation_token {
        if token.len() > MAX_VALIDATION_TOKEN_BYTES {
            return Err(bad_request(format!(
                "validationToken is over {MAX_VALIDATION_TOKEN_BYTES} bytes"
            )));
        }
        return Ok((
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            token,
        )
            .into_response());
    }
    let body = axum::body::to_bytes(body, MAX_WEBHOOK_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("a webhook delivery is at most {MAX_WEBHOOK_BYTES} bytes"),
            )
        })?;
    match state.integrations.receive(&body).await.map_err(api_error)? {
        Ok(signals) => {
            tracing::debug!(signals, "change notifications received");
            Ok(StatusCode::ACCEPTED.into_response())
        }
        Err(forged) => {
            tracing::warn!(subscription = %forged.subscription_id, reason = forged.reason, "forged change notification refused");
            state.access.audit(
                None,
                "POST /v1/webhooks/microsoft",
                None,
                StatusCode::FORBIDDEN,
                Some(forged.to_string()),
            );
            Err(ApiError::new(StatusCode::FORBIDDEN, forged))
        }
    }
}

/// `POST /v1/backfill`: read an integration's history again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct BackfillRequest {
    /// The integration's id.
    integration: String,
    /// What to read again [default: everything the integration reads].
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["emails"]))]
    data_types: Option<Vec<DataType>>,
    /// The start of the calendar window read (RFC 3339) [default: a year ago]; the other
    /// data types are read whole.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    from: Option<DateTime<Utc>>,
    /// The end of the calendar window read [default: a year ahead].
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    to: Option<DateTime<Utc>>,
    /// Items asked per page, 1 to 1000 [default: 100].
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    batch_size: Option<u32>,
}

/// The window of calendar events `body` asks for: both ends default a year away.
fn window(body: &BackfillRequest) -> Result<Option<Window>, ApiError> {
    if body.from.is_none() && body.to.is_none() {
        return Ok(None);
    }
    let now = Utc::now();
    let from = body.from.unwrap_or(now - TimeDelta::days(365));
    let to = body.to.unwrap_or(now + TimeDelta::days(365));
    if from >= to {
        return Err(bad_request(format!(
            "from ({from}) must be before to ({to})"
        )));
    }
    Ok(Some((from, to)))
}

#[utoipa::path(post, path = "/v1/backfill", tag = "integrations", request_body = BackfillRequest,
    responses((status = 202, description = "Started: the new job (a running backfill of the integration is cancelled)", body = BackfillBody),
        (status = 400, description = "A data type the integration does not read, `from` not before `to`, or a `batch_size` out of range", body = ErrorBody),
        (status = 404, description = "No such integration of the caller's", body = ErrorBody),
        (status = 409, description = "The integration needs its user to connect again", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "A field of the wrong type or an unknown data type", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody)))]
pub(super) async fn start_backfill(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Json(body): Json<BackfillRequest>,
) -> Result<(StatusCode, Json<BackfillBody>), ApiError> {
    if body
        .batch_size
        .is_some_and(|size| !(1..=MAX_PAGE_SIZE).contains(&size))
    {
        return Err(bad_request(format!(
            "batch_size must be 1 to {MAX_PAGE_SIZE}"
        )));
    }
    let options = BackfillOptions {
        window: window(&body)?,
        page_size: body.batch_size,
        data_types: body.data_types.unwrap_or_default(),
    };
    let job = state
        .integrations
        .backfill(&caller.user_id, &body.integration, options)
        .await
        .map_err(api_error)?;
    let (_, progress) = own_job(&state, &caller, job.as_str()).await?;
    Ok((StatusCode::ACCEPTED, Json(progress.into())))
}

/// How many backfills `GET /v1/backfill` lists.
const LISTED_BACKFILLS: usize = 100;

#[utoipa::path(get, path = "/v1/backfill", tag = "integrations",
    responses((status = 200, description = "The caller's backfills, newest first (at most 100)", body = Vec<BackfillBody>),
        (status = 503, description = "The store is unavailable", body = ErrorBody)))]
pub(super) async fn list_backfills(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<BackfillBody>>, ApiError> {
    let owner = JobOwner::new(&caller.user_id)
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, err))?;
    let jobs = state
        .integrations
        .jobs
        .jobs_of(&owner, LISTED_BACKFILLS)
        .await
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err))?;
    Ok(Json(
        jobs.into_iter()
            .filter(|job| job.kind.starts_with("backfill."))
            .map(Into::into)
            .collect(),
    ))
}

/// The job `id` of the caller, or 404.
async fn own_job(
    state: &ApiState,
    caller: &Caller,
    id: &str,
) -> Result<(JobId, JobProgress), ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no backfill {id} of user {}", caller.user_id),
        )
    };
    let job = JobId::new(id).map_err(|_| not_found())?;
    let progress = state
        .integrations
        .jobs
        .progress(&job)
        .await
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err))?
        .filter(|progress| progress.owner == caller.user_id)
        .ok_or_else(not_found)?;
    Ok((job, progress))
}

#[utoipa::path(get, path = "/v1/backfill/{id}", tag = "integrations",
    params(("id" = String, Path, description = "The backfill job's id")),
    responses((status = 200, description = "How far the backfill is", body = BackfillBody),
        (status = 404, description = "No such backfill of the caller's", body = ErrorBody)))]
pub(super) async fn backfill(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<BackfillBody>, ApiError> {
    let (_, progress) = own_job(&state, &caller, &id).await?;
    Ok(Json(progress.into()))
}

#[utoipa::path(post, path = "/v1/backfill/{id}/cancel", tag = "integrations",
    params(("id" = String, Path, description = "The backfill job's id")),
    responses((status = 200, description = "Cancelled (or already ended: the state says how)", body = BackfillBody),
        (status = 404, description = "No such backfill of the caller's", body = ErrorBody)))]
pub(super) async fn cancel_backfill(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<BackfillBody>, ApiError> {
    let (job, _) = own_job(&state, &caller, &id).await?;
    let update = state
        .integrations
        .jobs
        .cancel(&job)
        .await
        .map_err(|err| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, err))?;
    if let JobUpdate::NotRunning(ended) = update {
        tracing::info!(%job, state = %ended, "cancel of a backfill that had ended");
    }
    let (_, progress) = own_job(&state, &caller, &id).await?;
    Ok(Json(progress.into()))
}
