//! The auth decision of every route: who is calling ([`AccessControl`] turns the bearer
//! credential into a [`Principal`]), whether the route lets them ([`Access`]), whose data
//! the request is about ([`Caller`]), the rate limit per principal, and the audit trail.
//!
//! A data route serves the principal's own data; `?user=` may only repeat the principal,
//! unless the principal is an admin. Refusals of another user's data and every admin
//! action go to the audit log.

use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use switchyard_auth::{AuditEntry, AuditLog, AuthError, Authenticator, Principal, Scope, bearer};
use switchyard_contracts::check_user_id;
use switchyard_notifier::{AuthFailure, StreamAuthorizer, TokenSigner};

use super::ErrorBody;
use super::metrics::{self, Refusal};

/// What a route asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No credential: health, metrics, the API description.
    Public,
    /// A principal with at least this scope, on its own data (admins: anyone's).
    User(Scope),
    /// An admin principal: operator routes and events outside the office set.
    Admin,
    /// The handler checks the credential itself through [`AccessControl`] (the live
    /// stream, whose browsers' `EventSource` sends the token as `access_token`).
    Handler,
}

/// The authenticated caller of a request and the user whose data it is about.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who is calling.
    pub principal: Principal,
    /// Whose data: the principal, or for an admin the `?user=` named.
    pub user_id: String,
}

/// Requests per second and burst allowed to one principal.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: NonZeroU32,
    /// Requests allowed at once above the sustained rate.
    pub burst: NonZeroU32,
}

/// Credentials, rate limits and the audit log of one node.
pub struct AccessControl {
    authenticator: Authenticator,
    /// The live stream's short-lived HMAC tokens, when a secret is configured.
    stream_tokens: Option<TokenSigner>,
    audit: AuditLog,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl AccessControl {
    /// Checks credentials with `authenticator` (and signed stream tokens with
    /// `stream_tokens`), limits each principal to `rate`, audits to `audit`.
    pub fn new(
        authenticator: Authenticator,
        stream_tokens: Option<TokenSigner>,
        audit: AuditLog,
        rate: RateLimit,
    ) -> Self {
        AccessControl {
            authenticator,
            stream_tokens,
            audit,
            limiter: RateLimiter::keyed(Quota::per_second(rate.per_second).allow_burst(rate.burst)),
        }
    }

    fn authenticate(&self, credential: Option<&str>) -> Result<Principal, AuthError> {
        self.authenticator.authenticate(credential.unwrap_or(""))
    }

    /// Records a refusal or an admin action (never a payload or a credential).
    pub fn audit(
        &self,
        principal: Option<&Principal>,
        action: &str,
        target_user: Option<&str>,
        status: StatusCode,
        reason: Option<String>,
    ) {
        self.audit.record(&AuditEntry {
            at: Utc::now(),
            principal: principal.map(|p| p.user_id.clone()),
            credential: principal.map(|p| p.credential.to_string()),
            scope: principal.map(|p| p.scope.to_string()),
            action: action.to_string(),
            target_user: target_user.map(str::to_string),
            outcome: if status.is_success() {
                "allowed"
            } else {
                "refused"
            },
            status: status.as_u16(),
            reason,
        });
    }

    /// `Err` with the seconds to wait when `principal` is over its rate.
    fn check_rate(&self, principal: &Principal) -> Result<(), u64> {
        self.limiter
            .check_key(&principal.user_id)
            .map_err(|not_until| {
                not_until
                    .wait_time_from(DefaultClock::default().now())
                    .as_secs()
                    .max(1)
            })
    }
}

/// A JSON error response.
pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, axum::Json(ErrorBody::new(message))).into_response()
}

fn unauthorized(err: &AuthError) -> Response {
    metrics::count(Refusal::Unauthenticated);
    let mut response = error(StatusCode::UNAUTHORIZED, err);
    let challenge = match err {
        AuthError::Missing => "Bearer",
        AuthError::Invalid(_) => "Bearer error=\"invalid_token\"",
    };
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

/// The `user` query parameter, if the request has one.
fn requested_user(request: &Request) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct UserQuery {
        user: Option<String>,
    }
    axum::extract::Query::<UserQuery>::try_from_uri(request.uri())
        .ok()?
        .0
        .user
}

/// The middleware of every route with an [`Access`] other than `Public`/`Handler`.
pub async fn authorize(
    State((access, control)): State<(Access, Arc<AccessControl>)>,
    mut request: Request,
    next: Next,
) -> Response {
    let action = format!("{} {}", request.method(), request.uri().path());
    let credential = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer)
        .map(str::to_string);
    let principal = match control.authenticate(credential.as_deref()) {
        Ok(principal) => principal,
        Err(err) => return unauthorized(&err),
    };
    if let Err(wait_secs) = control.check_rate(&principal) {
        metrics::count(Refusal::RateLimited);
        let mut response = error(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "rate limit of user `{}` reached: retry in {wait_secs} s",
                principal.user_id
            ),
        );
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
        return response;
    }
    let requested = requested_user(&request);
    if let Some(user) = &requested
        && let Err(err) = check_user_id(user)
    {
        return error(StatusCode::BAD_REQUEST, format!("invalid `user`: {err}"));
    }
    let user_id = requested.unwrap_or_else(|| principal.user_id.clone());
    let refusal = match access {
        Access::Admin if principal.scope != Scope::Admin => {
            Some("this route needs an admin token".to_string())
        }
        Access::User(needed) if !principal.may_access(&user_id, needed) => {
            Some(if user_id != principal.user_id {
                format!(
                    "user `{}` may not access the data of user `{user_id}`",
                    principal.user_id
                )
            } else {
                format!(
                    "this route needs the `{needed}` scope; the token has `{}`",
                    principal.scope
                )
            })
        }
        _ => None,
    };
    if let Some(reason) = refusal {
        metrics::count(Refusal::Forbidden);
        control.audit(
            Some(&principal),
            &action,
            Some(&user_id),
            StatusCode::FORBIDDEN,
            Some(reason.clone()),
        );
        return error(StatusCode::FORBIDDEN, reason);
    }
    let audited = principal.scope == Scope::Admin
        && (access == Access::Admin || user_id != principal.user_id);
    request.extensions_mut().insert(Caller {
        principal: principal.clone(),
        user_id: user_id.clone(),
    });
    let response = next.run(request).await;
    if audited {
        control.audit(
            Some(&principal),
            &action,
            Some(&user_id),
            response.status(),
            None,
        );
    }
    response
}

/// The live stream's authorizer: the same credentials as every route (API tokens, JWTs),
/// plus the short-lived signed stream tokens; the same rule (own data, or admin); the
/// same audit of refusals.
pub struct StreamAccess(pub Arc<AccessControl>);

impl StreamAuthorizer for StreamAccess {
    fn authorize(
        &self,
        token: Option<&str>,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthFailure> {
        let control = &self.0;
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Missing)
            .inspect_err(|_| metrics::count(Refusal::Unauthenticated))?;
        let principal = match control.authenticate(Some(token)) {
            Ok(principal) => principal,
            Err(api_error) => match &control.stream_tokens {
                Some(signer) if !token.starts_with(switchyard_auth::TOKEN_PREFIX) => {
                    let user = signer.verify(token, now).inspect_err(|_| {
                        metrics::count(Refusal::Unauthenticated);
                    })?;
                    Principal {
                        user_id: user,
                        scope: Scope::Read,
                        credential: switchyard_auth::Credential::StreamToken,
                    }
                }
                _ => {
                    metrics::count(Refusal::Unauthenticated);
                    return Err(AuthFailure::Invalid(api_error.to_string()));
                }
            },
        };
        if principal.may_access(user_id, Scope::Read) {
            return Ok(());
        }
        metrics::count(Refusal::Forbidden);
        control.audit(
            Some(&principal),
            &format!("GET {}", switchyard_notifier::STREAM_PATH),
            Some(user_id),
            StatusCode::FORBIDDEN,
            Some("another user's stream".to_string()),
        );
        Err(AuthFailure::Forbidden(user_id.to_string()))
    }
}

/// Refuses requests whose `Host` is not one of `allowed` (DNS rebinding: a hostile page
/// whose name resolves to 127.0.0.1 still sends its own name).
pub async fn check_host(
    State(allowed): State<Arc<Vec<String>>>,
    request: Request,
    next: Next,
) -> Response {
    if allowed.is_empty() {
        return next.run(request).await;
    }
    let host = host_name(request.headers());
    match host {
        Some(host) if allowed.iter().any(|name| name.eq_ignore_ascii_case(&host)) => {
            next.run(request).await
        }
        _ => {
            metrics::count(Refusal::Host);
            error(
                StatusCode::MISDIRECTED_REQUEST,
                format!(
                    "host {:?} is not served here (http.allowed_hosts)",
                    host.unwrap_or_default()
                ),
            )
        }
    }
}

/// The `Host` header without its port.
fn host_name(headers: &HeaderMap) -> Option<String> {
    let host = headers.get(header::HOST)?.to_str().ok()?;
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map(|(v6, _)| format!("[{v6}]"))?
    } else {
        host.rsplit_once(':')
            .map_or(host, |(name, _)| name)
            .to_string()
    };
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_lose_their_port() {
        let host = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::HOST, HeaderValue::from_str(value).unwrap());
            host_name(&headers)
        };
        assert_eq!(host("localhost:8080").as_deref(), Some("localhost"));
        assert_eq!(host("127.0.0.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(host("[::1]:8080").as_deref(), Some("[::1]"));
        assert_eq!(host("Example.COM").as_deref(), Some("Example.COM"));
    }
}
