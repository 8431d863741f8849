//! Who is calling: the credentials Switchyard accepts and the [`Principal`] each one
//! stands for.
//!
//! - **API tokens** ([`TokenStore`]): `sy_{id}_{secret}`, minted by
//!   `switchyard token create`, shown once, kept only as a SHA-256 digest in
//!   `{data_dir}/auth/tokens.json`, listed and revoked by id. The `sy_` prefix lets
//!   secret scanners find leaked ones.
//! - **JWTs** ([`JwtVerifier`]) from the product's own identity provider: issuer,
//!   audience, algorithms and keys (JWKS file or URL, or an HS256 secret) from config;
//!   the user is the `sub` claim (configurable).
//!
//! [`Authenticator`] turns a bearer credential into a [`Principal`] (a user and a
//! [`Scope`]); what a principal may do on a route is decided by the HTTP API.
//! [`AuditLog`] appends JSON lines for admin actions and refused attempts.
//! [`SecretKeys`] seals the credentials Switchyard holds for others (provider tokens,
//! client secrets) with AES-256-GCM, so they rest only as [`Sealed`] ciphertexts.
//!
//! **Boundary:** knows no HTTP framework, broker or store; reads no environment variable.
//!
//! ```
//! use switchyard_auth::{Authenticator, Scope, TokenStore};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let tokens = TokenStore::in_data_dir(dir.path());
//! let (info, token) = tokens.create("alice", Scope::Read, None, "docs").unwrap();
//! assert!(token.starts_with("sy_"));
//!
//! let authenticator = Authenticator::new(TokenStore::in_data_dir(dir.path()), None);
//! let principal = authenticator.authenticate(&token).unwrap();
//! assert_eq!(principal.user_id, "alice");
//! assert!(principal.may_access("alice", Scope::Read));
//! assert!(!principal.may_access("bob", Scope::Read));
//!
//! tokens.revoke(&info.id).unwrap();
//! assert!(authenticator.authenticate(&token).is_err());
//! ```
#![warn(missing_docs)]

mod audit;
mod jwt;
mod sealed;
mod tokens;

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use audit::{AuditEntry, AuditLog};
pub use jwt::{JwtConfig, JwtVerifier};
pub use sealed::{MAX_SECRET_BYTES, SealError, Sealed, SecretKeys, SecretString};
pub use tokens::{TOKEN_PREFIX, TokenInfo, TokenStore};

/// What a principal may do, each level including the ones below.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Read the principal's own data.
    Read,
    /// Also send events and delete the principal's own data.
    #[default]
    Write,
    /// Everything, for every user, and the operator routes.
    Admin,
}

impl Scope {
    /// The scope's name, as in config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "read" => Ok(Scope::Read),
            "write" => Ok(Scope::Write),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("unknown scope `{other}`: use read, write or admin")),
        }
    }
}

/// Which credential a principal presented (for logs and the audit trail; never secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API token, by id.
    Token(String),
    /// A JWT, by issuer.
    Jwt(String),
    /// A short-lived stream token signed with the notifier secret.
    StreamToken,
}

impl fmt::Display for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Token(id) => write!(f, "token:{id}"),
            Credential::Jwt(issuer) => write!(f, "jwt:{issuer}"),
            Credential::StreamToken => f.write_str("stream-token"),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Whose data this principal is (a valid user id).
    pub user_id: String,
    /// What it may do.
    pub scope: Scope,
    /// What it presented.
    pub credential: Credential,
}

impl Principal {
    /// Whether this principal may act on `user_id`'s data with `needed`: its own data
    /// with a sufficient scope, anyone's with admin.
    pub fn may_access(&self, user_id: &str, needed: Scope) -> bool {
        self.scope == Scope::Admin || (self.user_id == user_id && self.scope >= needed)
    }
}

/// Why a credential was not accepted (always a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credential came with the request.
    #[error("missing credential: send `Authorization: Bearer <token>`")]
    Missing,
    /// The credential is unknown, malformed, forged, revoked or expired.
    #[error("invalid credential: {0}")]
    Invalid(String),
}

impl AuthError {
    fn invalid(reason: impl Into<String>) -> Self {
        AuthError::Invalid(reason.into())
    }
}

/// Turns a bearer credential into a [`Principal`]: API tokens always, JWTs when
/// configured.
pub struct Authenticator {
    tokens: TokenStore,
    jwt: Option<Arc<JwtVerifier>>,
}

impl Authenticator {
    /// API tokens from `tokens`, JWTs through `jwt` when given.
    pub fn new(tokens: TokenStore, jwt: Option<Arc<JwtVerifier>>) -> Self {
        Authenticator { tokens, jwt }
    }

    /// The principal `credential` stands for.
    pub fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        let credential = credential.trim();
        if credential.is_empty() {
            return Err(AuthError::Missing);
        }
        if credential.starts_with(TOKEN_PREFIX) {
            return self.tokens.verify(credential, chrono::Utc::now());
        }
        match &self.jwt {
            Some(jwt) if credential.split('.').count() == 3 => jwt.verify(credential),
            Some(_) => Err(AuthError::invalid(
                "neither an API token (`sy_…`) nor a JWT",
            )),
            None => Err(AuthError::invalid(
                "not an API token (`sy_…`); JWTs are not configured ([auth.jwt])",
            )),
        }
    }
}

/// The bearer credential of an `Authorization` header value, if it is one.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, credential) = header.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
        .filter(|credential| !credential.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_reaches_everyone_and_users_only_themselves_within_scope() {
        let principal = |scope| Principal {
            user_id: "alice".into(),
            scope,
            credential: Credential::Token("t".into()),
        };
        assert!(principal(Scope::Read).may_access("alice", Scope::Read));
        assert!(!principal(Scope::Read).may_access("alice", Scope::Write));
        assert!(principal(Scope::Write).may_access("alice", Scope::Write));
        assert!(!principal(Scope::Write).may_access("bob", Scope::Read));
        assert!(principal(Scope::Admin).may_access("bob", Scope::Admin));
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc"), None);
    }
}
