//! JWTs from the product's own identity provider ([`jsonwebtoken`]).
//!
//! `[auth.jwt]` names the issuer, the audience, the algorithm and where the keys are: a
//! JWKS file or URL (RSA, EC, Ed25519 or `oct` keys, chosen by the token's `kid`), or,
//! for HS256, a shared secret passed in by the caller (`SWITCHYARD_JWT_SECRET`). A JWKS
//! URL is fetched at start and every `jwks_refresh_secs`, so the provider can rotate
//! keys. The user is the `user_claim` claim (`sub`); the scope comes from `scope_claim`
//! (`scope`, space-separated or an array) holding `switchyard:read`, `switchyard:write`
//! or `switchyard:admin` — the highest wins — else `default_scope`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use switchyard_contracts::check_user_id;

use crate::{AuthError, Credential, Principal, Scope};

/// The largest JWKS document read, file or URL.
const MAX_JWKS_BYTES: usize = 1 << 20;

/// `[auth.jwt]`: how to check the product's JWTs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The `aud` every token must carry.
    pub audience: String,
    /// The one algorithm accepted (`RS256`, `ES256`, `EdDSA`, `HS256`, …).
    pub algorithm: Algorithm,
    /// A JWKS file with the provider's public keys.
    pub jwks_file: Option<PathBuf>,
    /// A JWKS URL with the provider's public keys.
    pub jwks_url: Option<String>,
    /// How often a JWKS URL is fetched again, in seconds (default 300).
    #[serde(default = "default_refresh_secs")]
    pub jwks_refresh_secs: u64,
    /// The claim holding the user id (default `sub`).
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim holding the scopes (default `scope`).
    #[serde(default = "default_scope_claim")]
    pub scope_claim: String,
    /// The scope of a token without a `switchyard:*` scope (default `write`: the user's
    /// own data).
    #[serde(default)]
    pub default_scope: Scope,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds (default 30).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
}

fn default_refresh_secs() -> u64 {
    300
}
fn default_user_claim() -> String {
    "sub".to_string()
}
fn default_scope_claim() -> String {
    "scope".to_string()
}
fn default_leeway_secs() -> u64 {
    30
}

/// The keys tokens are checked with, by `kid` (`None`: a key without an id).
#[derive(Default)]
struct Keys {
    by_kid: HashMap<Option<String>, DecodingKey>,
}

impl Keys {
    fn from_jwks(set: &JwkSet) -> Result<Self, String> {
        let mut by_kid = HashMap::new();
        for jwk in &set.keys {
            let key = DecodingKey::from_jwk(jwk).map_err(|err| format!("unusable JWK: {err}"))?;
            by_kid.insert(jwk.common.key_id.clone(), key);
        }
        if by_kid.is_empty() {
            return Err("the JWKS holds no key".to_string());
        }
        Ok(Keys { by_kid })
    }

    fn find(&self, kid: Option<&str>) -> Option<&DecodingKey> {
        match kid {
            Some(kid) => self.by_kid.get(&Some(kid.to_string())),
            None if self.by_kid.len() == 1 => self.by_kid.values().next(),
            None => None,
        }
    }
}

/// Checks JWTs against one [`JwtConfig`].
pub struct JwtVerifier {
    config: JwtConfig,
    validation: Validation,
    keys: RwLock<Keys>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for `config`, loading its keys: `hs256_secret` for HS256, else the
    /// JWKS file or URL.
    pub async fn load(config: JwtConfig, hs256_secret: Option<&[u8]>) -> Result<Self, String> {
        let keys = match (config.algorithm, hs256_secret) {
            (Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512, Some(secret)) => {
                if secret.len() < 32 {
                    return Err("the JWT secret needs at least 32 bytes".to_string());
                }
                Keys {
                    by_kid: HashMap::from([(None, DecodingKey::from_secret(secret))]),
                }
            }
            _ => Keys::from_jwks(&fetch_jwks(&config).await?)?,
        };
        let mut validation = Validation::new(config.algorithm);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.leeway = config.leeway_secs;
        validation.validate_nbf = true;
        Ok(JwtVerifier {
            config,
            validation,
            keys: RwLock::new(keys),
        })
    }

    /// Fetches the JWKS URL again every `jwks_refresh_secs` while `verifier` lives; a
    /// failed fetch keeps the keys it had and is logged.
    pub fn spawn_refresh(verifier: &Arc<JwtVerifier>) {
        if verifier.config.jwks_url.is_none() {
            return;
        }
        let weak = Arc::downgrade(verifier);
        let period = Duration::from_secs(verifier.config.jwks_refresh_secs.max(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(period).await;
                let Some(verifier) = weak.upgrade() else {
                    return;
                };
                match fetch_jwks(&verifier.config)
                    .await
                    .and_then(|set| Keys::from_jwks(&set))
                {
                    Ok(keys) => *verifier.keys.write().unwrap_or_else(|e| e.into_inner()) = keys,
                    Err(err) => {
                        tracing::warn!(error = %err, "JWKS refresh failed; keeping the keys held")
                    }
                }
            }
        });
    }

    /// The principal `token` stands for.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|err| AuthError::invalid(format!("malformed JWT: {err}")))?;
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let key = keys.find(header.kid.as_deref()).ok_or_else(|| {
            AuthError::invalid(format!(
                "no key for the JWT's kid {:?}",
                header.kid.as_deref().unwrap_or("(none)")
            ))
        })?;
        let claims =
            jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &self.validation)
                .map_err(|err| AuthError::invalid(format!("JWT refused: {err}")))?
                .claims;
        let user_id = claims
            .get(&self.config.user_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AuthError::invalid(format!(
                    "the JWT has no string claim `{}`",
                    self.config.user_claim
                ))
            })?;
        check_user_id(user_id).map_err(|err| {
            AuthError::invalid(format!("claim `{}`: {err}", self.config.user_claim))
        })?;
        Ok(Principal {
            user_id: user_id.to_string(),
            scope: self.scope(claims.get(&self.config.scope_claim)),
            credential: Credential::Jwt(self.config.issuer.clone()),
        })
    }

    fn scope(&self, claim: Option<&Value>) -> Scope {
        let names: Vec<&str> = match claim {
            Some(Value::String(text)) => text.split_whitespace().collect(),
            Some(Value::Array(values)) => values.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        names
            .iter()
            .filter_map(|name| name.strip_prefix("switchyard:")?.parse().ok())
            .max()
            .unwrap_or(self.config.default_scope)
    }
}

async fn fetch_jwks(config: &JwtConfig) -> Result<JwkSet, String> {
    let bytes = match (&config.jwks_file, &config.jwks_url) {
        (Some(path), None) => {
            let bytes = std::fs::read(path)
                .map_err(|err| format!("failed to read the JWKS {}: {err}", path.display()))?;
            if bytes.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS {} is over 1 MiB", path.display()));
            }
            bytes
        }
        (None, Some(url)) => {
            let response = reqwest::Client::new()
                .get(url)
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .and_then(reqwest::Response::error_for_status)
                .map_err(|err| format!("failed to fetch the JWKS {url}: {err}"))?;
            if response
                .content_length()
                .is_some_and(|len| len > MAX_JWKS_BYTES as u64)
            {
                return Err(format!("the JWKS at {url} is over 1 MiB"));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|err| format!("failed to fetch the JWKS {url}: {err}"))?;
            if bytes.len() > MAX_JWKS_BYTES {
                return Err(format!("the JWKS at {url} is over 1 MiB"));
            }
            bytes.to_vec()
        }
        (Some(_), Some(_)) => return Err("give jwks_file or jwks_url, not both".to_string()),
        (None, None) => {
            return Err(format!(
                "algorithm {:?} needs jwks_file or jwks_url (or HS256 with SWITCHYARD_JWT_SECRET)",
                config.algorithm
            ));
        }
    };
    serde_json::from_slice(&bytes).map_err(|err| format!("the JWKS is not valid: {err}"))
}
