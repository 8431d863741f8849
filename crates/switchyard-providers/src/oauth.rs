//! The OAuth2 token endpoint (RFC 6749 section 4.1.3 and 6): an authorization code or a
//! refresh token becomes an access token.
//!
//! [`TokenEndpoint::refresh`] posts `grant_type=refresh_token` with the client's id and
//! secret as a form, as Microsoft's identity platform and Google document it. The answer
//! may rotate the refresh token ([`TokenGrant::refresh_token`]); the caller stores the
//! new one. An `invalid_grant` answer (expired, revoked or already-used grant) is
//! [`ProviderErrorKind::NeedsReauth`]: the user must connect again, and nothing retries
//! it. Network failures and 5xx are retried by the [`Throttle`], then
//! [`ProviderErrorKind::Unavailable`].

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Deserialize;
use switchyard_auth::SecretString;

use crate::{ProviderError, ProviderErrorKind, Throttle};

/// The most bytes read of a token endpoint's answer.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A provider's token endpoint and this application's client credentials there.
#[derive(Debug, Clone)]
pub struct TokenEndpoint {
    url: String,
    client_id: String,
    client_secret: Option<SecretString>,
    http: reqwest::Client,
    throttle: Throttle,
}

/// What the token endpoint granted.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The bearer token for API calls.
    pub access_token: SecretString,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// A new refresh token, when the provider rotates them; keep it instead of the old.
    pub refresh_token: Option<SecretString>,
    /// The scopes granted, as the provider wrote them.
    pub scope: Option<String>,
}

impl TokenGrant {
    /// Whether the access token expires within `margin` of `now`: refresh it before use.
    pub fn expires_within(&self, margin: TimeDelta, now: DateTime<Utc>) -> bool {
        self.expires_at - margin <= now
    }
}

/// The endpoint's success answer (RFC 6749 section 5.1).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    scope: Option<String>,
}

/// The endpoint's error answer (RFC 6749 section 5.2).
#[derive(Deserialize)]
struct TokenErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl TokenEndpoint {
    /// The token endpoint at `url` for the client `client_id` (with its secret, for a
    /// confidential client).
    pub fn new(url: &str, client_id: &str, client_secret: Option<SecretString>) -> Self {
        TokenEndpoint {
            url: url.to_string(),
            client_id: client_id.to_string(),
            client_secret,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client with a timeout builds"),
            throttle: Throttle::default(),
        }
    }

    /// The same endpoint, waiting on throttling and failures as `throttle` says.
    pub fn with_throttle(mut self, throttle: Throttle) -> Self {
        self.throttle = throttle;
        self
    }

    /// Redeems `refresh_token` for an access token for `scope` (space-separated).
    pub async fn refresh(
        &self,
        refresh_token: &SecretString,
        scope: &str,
    ) -> Result<TokenGrant, ProviderError> {
        self.grant(
            "refresh the access token",
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token.expose()),
                ("scope", scope),
            ],
        )
        .await
    }

    /// Redeems an authorization `code` given to `redirect_uri` for tokens for `scope`.
    pub async fn redeem_code(
        &self,
        code: &SecretString,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<TokenGrant, ProviderError> {
        self.grant(
            "redeem the authorization code",
            &[
                ("grant_type", "authorization_code"),
                ("code", code.expose()),
                ("redirect_uri", redirect_uri),
                ("scope", scope),
            ],
        )
        .await
    }

    async fn grant(&self, what: &str, form: &[(&str, &str)]) -> Result<TokenGrant, ProviderError> {
        let mut fields: Vec<(&str, &str)> = vec![("client_id", &self.client_id)];
        if let Some(secret) = &self.client_secret {
            fields.push(("client_secret", secret.expose()));
        }
        fields.extend_from_slice(form);
        let what = format!("{what} at {}", self.url);
        // The token endpoint is not a mailbox; one key holds its own throttling.
        let response = self
            .throttle
            .send("oauth token endpoint", &what, || {
                self.http.post(&self.url).form(&fields)
            })
            .await?;
        let status = response.status();
        let body = read_at_most(response, MAX_ANSWER_BYTES, &what).await?;
        if status.is_success() {
            let answer: TokenAnswer = serde_json::from_slice(&body).map_err(|err| {
                ProviderError::new(
                    ProviderErrorKind::Invalid,
                    format!("{what}: unreadable answer: {err}"),
                )
            })?;
            return Ok(TokenGrant {
                access_token: SecretString::new(answer.access_token),
                expires_at: Utc::now()
                    + TimeDelta::seconds(answer.expires_in.unwrap_or(3600).clamp(0, 86_400 * 365)),
                refresh_token: answer.refresh_token.map(SecretString::new),
                scope: answer.scope,
            });
        }
        let error: Option<TokenErrorAnswer> = serde_json::from_slice(&body).ok();
        let (code, description) = match &error {
            Some(error) => (
                error.error.as_str(),
                error.error_description.as_deref().unwrap_or_default(),
            ),
            None => ("", ""),
        };
        let kind = if code == "invalid_grant" {
            ProviderErrorKind::NeedsReauth
        } else {
            ProviderErrorKind::Invalid
        };
        // The description is the provider's text about the grant, never the grant.
        let description = description.lines().next().unwrap_or_default();
        Err(ProviderError::new(
            kind,
            format!("{what}: HTTP {status} {code} {description}")
                .trim_end()
                .to_string(),
        ))
    }
}

/// The body of `response`, failing with [`ProviderErrorKind::Invalid`] past `limit` bytes.
pub(crate) async fn read_at_most(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<Vec<u8>, ProviderError> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(ProviderError::new(
                        ProviderErrorKind::Invalid,
                        format!("{what}: answer larger than {limit} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(err) => {
                return Err(ProviderError::new(
                    ProviderErrorKind::Unavailable,
                    format!("{what}: answer cut short: {}", err.without_url()),
                ));
            }
        }
    }
}
