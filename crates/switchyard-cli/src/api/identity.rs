//! The identity routes: registration and address verification (public: whoever signs
//! up has no credential yet; each request is bounded by the account's own limits — five
//! attempts per code, a code a minute and five an hour), and subscriptions (a user's own,
//! or anyone's for an admin; another user's subscription is 404, never its existence).
//! Every error names its field (`field`) or, for a refused code, its `reason`
//! (`wrong_code`, `expired`, `too_many_attempts`, `already_verified`).
//!
//! Also the two health checks a load balancer in front of an identity service asks:
//! `GET /health/bus` (the exchanges identity events are published to exist) and
//! `GET /health/redis` (Redis answers, how fast, and the state of its circuit breaker).

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchyard_auth::Scope;
use switchyard_contracts::identity::{EMAIL_VERIFICATION_REQUESTED, SubscriptionStatus};
use switchyard_identity::{
    Actor, CodeRefusal, IdentityError, LEGACY_EXCHANGE, NewSubscription, Subscription, parse_status,
};
use utoipa::ToSchema;

use super::Caller;
use super::handlers::{ApiError, ApiState};
use super::openapi::ErrorBody;

/// What a client waits after the store failed on a passing error.
const STORE_RETRY_AFTER_SECS: u64 = 5;

/// `POST /v1/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RegisterBody {
    /// The address to verify.
    #[schema(example = "alice@example.com")]
    email: String,
    /// At least 8 characters with a letter and a digit; kept only as its argon2id hash.
    password: String,
    /// The language of the mail: `en` or `vi`.
    #[schema(example = "en")]
    locale: String,
}

/// An account just registered; its code is on its way.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RegisteredBody {
    /// The account's id.
    user_id: String,
    /// The address, normalized.
    email: String,
    /// When the code mailed to it expires.
    #[schema(value_type = String, format = DateTime)]
    verification_expires_at: DateTime<Utc>,
}

/// `POST /v1/verify`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyBody {
    /// The registered address.
    email: String,
    /// The six digits mailed to it.
    #[schema(example = "482913")]
    otp: String,
}

/// An address verified.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct VerifiedBody {
    /// The account's id.
    user_id: String,
    /// Always true.
    verified: bool,
}

/// `POST /v1/verify/resend`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ResendBody {
    /// The registered address.
    email: String,
}

/// A new code is on its way.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ResentBody {
    /// When it expires.
    #[schema(value_type = String, format = DateTime)]
    verification_expires_at: DateTime<Utc>,
}

/// `POST /v1/subscriptions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSubscriptionBody {
    /// A UUID chosen by the caller, which makes a retried request safe; a new one when
    /// absent.
    #[serde(default)]
    subscription_id: Option<String>,
    /// Whose: the caller's own; an admin may name another user.
    #[serde(default)]
    user_id: Option<String>,
    /// The plan, e.g. `pro_monthly`.
    plan_code: String,
    /// `trialing` (with trial_start and trial_end), `active` or `past_due`.
    #[schema(example = "trialing")]
    status: String,
    /// Start of the trial, RFC 3339.
    #[serde(default)]
    trial_start: Option<String>,
    /// End of the trial, after its start, RFC 3339.
    #[serde(default)]
    trial_end: Option<String>,
}

/// `POST /v1/subscriptions/{id}/cancel`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CancelBody {
    /// Why, e.g. `user_requested`.
    reason: String,
    /// When access ends, RFC 3339, not in the past.
    effective_until: String,
}

/// `POST /v1/subscriptions/{id}/status`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct StatusBody {
    /// `active`, `past_due` or `expired` (a cancellation goes through `/cancel`).
    status: String,
    /// Why, e.g. `trial_ended` or `payment_succeeded`.
    reason: String,
}

/// A subscription.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SubscriptionBody {
    subscription_id: String,
    user_id: String,
    plan_code: String,
    /// `trialing`, `active`, `past_due`, `cancelled` or `expired`.
    #[schema(value_type = String)]
    status: SubscriptionStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    trial_start: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    trial_end: Option<DateTime<Utc>>,
    /// When access ends, once cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    effective_until: Option<DateTime<Utc>>,
    #[schema(value_type = String, format = DateTime)]
    created_at: DateTime<Utc>,
    #[schema(value_type = String, format = DateTime)]
    updated_at: DateTime<Utc>,
}

impl From<Subscription> for SubscriptionBody {
    fn from(subscription: Subscription) -> Self {
        SubscriptionBody {
            subscription_id: subscription.subscription_id,
            user_id: subscription.user_id,
            plan_code: subscription.plan_code,
            status: subscription.status,
            trial_start: subscription.trial_start,
            trial_end: subscription.trial_end,
            effective_until: subscription.effective_until,
            created_at: subscription.created_at,
            updated_at: subscription.updated_at,
        }
    }
}

/// The answer to an identity error.
fn api_error(err: IdentityError) -> ApiError {
    match err {
        IdentityError::Invalid { field, message } => {
            ApiError::new(StatusCode::BAD_REQUEST, format!("{field}: {message}")).field(field)
        }
        IdentityError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, message),
        IdentityError::NotFound(message) => ApiError::new(StatusCode::NOT_FOUND, message),
        IdentityError::Code(refusal) => {
            let (status, message) = match refusal {
                CodeRefusal::Wrong { attempts_left } => (
                    StatusCode::BAD_REQUEST,
                    format!("the code is wrong: {attempts_left} attempts left"),
                ),
                CodeRefusal::Expired => (
                    StatusCode::BAD_REQUEST,
                    "the code has expired: ask for a new one (POST /v1/verify/resend)".to_string(),
                ),
                CodeRefusal::TooManyAttempts => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many wrong attempts: ask for a new code (POST /v1/verify/resend)"
                        .to_string(),
                ),
                CodeRefusal::AlreadyVerified => (
                    StatusCode::CONFLICT,
                    "the address is verified already".to_string(),
                ),
            };
            ApiError::new(status, message)
                .field("otp")
                .reason(refusal.reason())
        }
        IdentityError::RateLimited {
            message,
            retry_after_secs,
        } => ApiError::new(StatusCode::TOO_MANY_REQUESTS, message).retry_after(retry_after_secs),
        IdentityError::Store {
            message,
            retryable: true,
        } => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
            .retry_after(STORE_RETRY_AFTER_SECS),
        IdentityError::Store { message, .. } => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
        }
    }
}

/// Reads a JSON body, answering 400 with the path of the field at fault.
fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let mut json = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut json).map_err(|err| {
        let field = err.path().to_string();
        let message = format!("invalid body: {}", err.inner());
        let error = ApiError::new(StatusCode::BAD_REQUEST, message);
        if field == "." {
            error
        } else {
            error.field(&field)
        }
    })
}

/// An RFC 3339 time, or a 400 naming `field`.
fn time(field: &'static str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("{field}: `{value}` is not an RFC 3339 time: {err}"),
            )
            .field(field)
        })
}

fn actor(caller: &Caller) -> Actor {
    Actor {
        user_id: caller.user_id.clone(),
        admin: caller.principal.scope == Scope::Admin,
    }
}

#[utoipa::path(post, path = "/v1/register", tag = "identity", request_body = RegisterBody,
    responses((status = 201, description = "Registered; the verification code is mailed", body = RegisteredBody),
        (status = 400, description = "A field breaks its rule: `field` names it", body = ErrorBody),
        (status = 409, description = "The address is registered already", body = ErrorBody),
        (status = 503, description = "The store is unavailable; nothing was registered", body = ErrorBody)))]
pub(super) async fn register(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<RegisteredBody>), ApiError> {
    let body: RegisterBody = json_body(&body)?;
    let registered = state
        .identity
        .register(&body.email, &body.password, &body.locale)
        .await
        .map_err(api_error)?;
    Ok((
        StatusCode::CREATED,
        Json(RegisteredBody {
            user_id: registered.user_id,
            email: registered.email,
            verification_expires_at: registered.expires_at,
        }),
    ))
}

#[utoipa::path(post, path = "/v1/verify", tag = "identity", request_body = VerifyBody,
    responses((status = 200, description = "The address is verified", body = VerifiedBody),
        (status = 400, description = "A malformed field, or the code is wrong or expired: `reason` says which", body = ErrorBody),
        (status = 409, description = "The address is verified already", body = ErrorBody),
        (status = 429, description = "Too many wrong attempts for this code (`reason`: too_many_attempts)", body = ErrorBody)))]
pub(super) async fn verify(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<Json<VerifiedBody>, ApiError> {
    let body: VerifyBody = json_body(&body)?;
    let user_id = state
        .identity
        .verify(&body.email, &body.otp)
        .await
        .map_err(api_error)?;
    Ok(Json(VerifiedBody {
        user_id,
        verified: true,
    }))
}

#[utoipa::path(post, path = "/v1/verify/resend", tag = "identity", request_body = ResendBody,
    responses((status = 202, description = "A new code is mailed; the previous one no longer counts", body = ResentBody),
        (status = 400, description = "A malformed address", body = ErrorBody),
        (status = 404, description = "No account has the address", body = ErrorBody),
        (status = 409, description = "The address is verified already", body = ErrorBody),
        (status = 429, description = "A code was sent less than a minute ago, or five within the hour", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until a new code may be sent")))))]
pub(super) async fn resend(
    State(state): State<ApiState>,
    body: Bytes,
) -> Result<(StatusCode, Json<ResentBody>), ApiError> {
    let body: ResendBody = json_body(&body)?;
    let expires_at = state
        .identity
        .resend(&body.email)
        .await
        .map_err(api_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ResentBody {
            verification_expires_at: expires_at,
        }),
    ))
}

#[utoipa::path(post, path = "/v1/subscriptions", tag = "identity", request_body = NewSubscriptionBody,
    responses((status = 201, description = "Created; `subscription.created` is published", body = SubscriptionBody),
        (status = 200, description = "It existed with this id, user and plan: nothing changed", body = SubscriptionBody),
        (status = 400, description = "A field breaks its rule: `field` names it", body = ErrorBody),
        (status = 404, description = "Another user named without an admin token", body = ErrorBody),
        (status = 409, description = "The id exists with another user or plan", body = ErrorBody)))]
pub(super) async fn create_subscription(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<(StatusCode, Json<SubscriptionBody>), ApiError> {
    let body: NewSubscriptionBody = json_body(&body)?;
    let request = NewSubscription {
        subscription_id: body.subscription_id,
        user_id: body.user_id,
        plan_code: body.plan_code,
        status: parse_status("status", &body.status).map_err(api_error)?,
        trial_start: body
            .trial_start
            .as_deref()
            .map(|value| time("trial_start", value))
            .transpose()?,
        trial_end: body
            .trial_end
            .as_deref()
            .map(|value| time("trial_end", value))
            .transpose()?,
    };
    let (subscription, created) = state
        .identity
        .create_subscription(&actor(&caller), request)
        .await
        .map_err(api_error)?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(subscription.into())))
}

#[utoipa::path(get, path = "/v1/subscriptions/{id}", tag = "identity",
    params(("id" = String, Path, description = "The subscription's id (a UUID)")),
    responses((status = 200, description = "The subscription", body = SubscriptionBody),
        (status = 400, description = "The id is not a UUID", body = ErrorBody),
        (status = 404, description = "No such subscription of the caller's", body = ErrorBody)))]
pub(super) async fn subscription(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<SubscriptionBody>, ApiError> {
    let subscription = state
        .identity
        .subscription(&actor(&caller), &id)
        .await
        .map_err(api_error)?;
    Ok(Json(subscription.into()))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/cancel", tag = "identity", request_body = CancelBody,
    params(("id" = String, Path, description = "The subscription's id (a UUID)")),
    responses((status = 200, description = "Cancelled; `subscription.cancelled` is published", body = SubscriptionBody),
        (status = 400, description = "A field breaks its rule (`effective_until` in the past): `field` names it", body = ErrorBody),
        (status = 404, description = "No such subscription of the caller's", body = ErrorBody),
        (status = 409, description = "It is cancelled or expired already", body = ErrorBody)))]
pub(super) async fn cancel_subscription(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SubscriptionBody>, ApiError> {
    let body: CancelBody = json_body(&body)?;
    let effective_until = time("effective_until", &body.effective_until)?;
    let subscription = state
        .identity
        .cancel_subscription(&actor(&caller), &id, &body.reason, effective_until)
        .await
        .map_err(api_error)?;
    Ok(Json(subscription.into()))
}

#[utoipa::path(post, path = "/v1/subscriptions/{id}/status", tag = "identity", request_body = StatusBody,
    params(("id" = String, Path, description = "The subscription's id (a UUID)")),
    responses((status = 200, description = "Changed; `subscription.status_changed` is published", body = SubscriptionBody),
        (status = 400, description = "A field breaks its rule: `field` names it", body = ErrorBody),
        (status = 404, description = "No such subscription of the caller's", body = ErrorBody),
        (status = 409, description = "The lifecycle does not allow that transition", body = ErrorBody)))]
pub(super) async fn change_subscription_status(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SubscriptionBody>, ApiError> {
    let body: StatusBody = json_body(&body)?;
    let status = parse_status("status", &body.status).map_err(api_error)?;
    let subscription = state
        .identity
        .change_subscription_status(&actor(&caller), &id, status, &body.reason)
        .await
        .map_err(api_error)?;
    Ok(Json(subscription.into()))
}

/// What `GET /health/bus` found.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BusHealthBody {
    /// `ok`, or `degraded` when a destination is missing or the bus does not answer.
    status: &'static str,
    /// Each destination identity events are published to, and whether it exists.
    destinations: Vec<DestinationBody>,
    /// The names of those missing.
    missing: Vec<String>,
    /// Why the bus could not be asked, when it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// One destination of `GET /health/bus`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct DestinationBody {
    /// The topic published to.
    topic: String,
    /// What carries it on the engine (a RabbitMQ exchange).
    destination: String,
    /// Whether it exists now.
    exists: bool,
}

#[utoipa::path(get, path = "/health/bus", tag = "operations",
    responses((status = 200, description = "Every destination of identity events exists", body = BusHealthBody),
        (status = 503, description = "A destination is missing (`missing` names it) or the bus does not answer", body = BusHealthBody)))]
pub(super) async fn bus_health(State(state): State<ApiState>) -> (StatusCode, Json<BusHealthBody>) {
    let mut topics = vec![EMAIL_VERIFICATION_REQUESTED];
    if state.identity.settings().dual_publish {
        topics.push(LEGACY_EXCHANGE);
    }
    let checked = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.broker.publish_routes(&topics),
    )
    .await
    .unwrap_or_else(|_| {
        Err(switchyard_bus::BusError::new(
            switchyard_bus::BusErrorKind::Unavailable,
            "the bus did not answer within 2 s",
        ))
    });
    let (destinations, error) = match checked {
        Ok(routes) => (
            routes
                .into_iter()
                .map(|route| DestinationBody {
                    topic: route.topic,
                    destination: route.destination,
                    exists: route.exists,
                })
                .collect::<Vec<_>>(),
            None,
        ),
        Err(err) => (Vec::new(), Some(err.to_string())),
    };
    let missing: Vec<String> = destinations
        .iter()
        .filter(|destination| !destination.exists)
        .map(|destination| destination.destination.clone())
        .collect();
    let healthy = missing.is_empty() && error.is_none();
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(BusHealthBody {
            status: if healthy { "ok" } else { "degraded" },
            destinations,
            missing,
            error,
        }),
    )
}

/// What `GET /health/redis` found.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct RedisHealthBody {
    /// `ok`, `down`, or `not_configured` when this node keeps its state embedded.
    status: &'static str,
    /// How long the ping took, milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    /// The circuit breaker: `closed`, `open` or `half_open`.
    #[serde(skip_serializing_if = "Option::is_none")]
    circuit: Option<String>,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[utoipa::path(get, path = "/health/redis", tag = "operations",
    responses((status = 200, description = "Redis answers (or this node uses no Redis: `not_configured`)", body = RedisHealthBody),
        (status = 503, description = "Redis does not answer, or its circuit is open", body = RedisHealthBody)))]
pub(super) async fn redis_health(
    State(state): State<ApiState>,
) -> (StatusCode, Json<RedisHealthBody>) {
    let Some(redis) = &state.redis else {
        return (
            StatusCode::OK,
            Json(RedisHealthBody {
                status: "not_configured",
                latency_ms: None,
                circuit: None,
                error: None,
            }),
        );
    };
    let started = Instant::now();
    let answer = redis.ping().await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let circuit = redis.circuit();
    let healthy = answer.is_ok() && circuit != "open";
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(RedisHealthBody {
            status: if healthy { "ok" } else { "down" },
            latency_ms: Some(latency_ms),
            circuit: Some(circuit.to_string()),
            error: answer.err(),
        }),
    )
}
