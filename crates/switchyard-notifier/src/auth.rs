//! Who may read which user's stream: [`StreamAuth`], either HMAC-signed tokens
//! ([`TokenSigner`]) or a fixed token per user ([`UserTokens`]).
//!
//! # Signed token format
//! `{user_id}:{expires_at}:{signature}` where `expires_at` is Unix seconds (decimal)
//! and `signature` is the lowercase hex HMAC-SHA256, keyed with the server secret
//! (`SWITCHYARD_NOTIFIER_SECRET`, at least 32 bytes), of the ASCII text
//! `{user_id}:{expires_at}`. The user id may itself contain `:`; the last two fields
//! never do. Any backend holding the secret can mint one, e.g. in Python:
//! `f"{u}:{exp}:" + hmac.new(secret, f"{u}:{exp}".encode(), "sha256").hexdigest()`.
//!
//! A token travels as `Authorization: Bearer {token}` or, for browsers' `EventSource`,
//! which cannot set headers, as the `access_token` query parameter (URL-encoded).
//!
//! **Boundary:** reads no environment variable; the CLI passes the secret in.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::NotifierError;

type HmacSha256 = Hmac<Sha256>;

/// Why a request may not read a stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    /// No token came with the request (401).
    #[error("missing access token: send `Authorization: Bearer <token>` or `access_token`")]
    Missing,
    /// The token is malformed, forged or expired (401).
    #[error("invalid access token: {0}")]
    Invalid(String),
    /// The token is valid but for another user (403).
    #[error("the access token does not grant access to user `{0}`")]
    Forbidden(String),
}

/// Mints and verifies signed tokens with a server secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// The shortest secret accepted, in bytes.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// A signer with `secret`; fails when it is shorter than [`Self::MIN_SECRET_BYTES`].
    pub fn new(secret: impl AsRef<[u8]>) -> Result<Self, NotifierError> {
        let secret = secret.as_ref();
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(NotifierError::invalid_config(format!(
                "invalid notifier secret: {} bytes, at least {} needed",
                secret.len(),
                Self::MIN_SECRET_BYTES
            )));
        }
        Ok(TokenSigner {
            secret: secret.to_vec(),
        })
    }

    fn mac(&self, user_id: &str, expires_at: i64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("hmac takes keys of any length");
        mac.update(format!("{user_id}:{expires_at}").as_bytes());
        mac
    }

    /// A token for `user_id`, valid until `expires_at`.
    pub fn issue(&self, user_id: &str, expires_at: DateTime<Utc>) -> String {
        let expires_at = expires_at.timestamp();
        let signature = hex::encode(self.mac(user_id, expires_at).finalize().into_bytes());
        format!("{user_id}:{expires_at}:{signature}")
    }

    /// The user a token was issued to, if it is genuine and not expired at `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<String, AuthFailure> {
        let invalid = |reason: &str| AuthFailure::Invalid(reason.to_string());
        let mut fields = token.rsplitn(3, ':');
        let (Some(signature), Some(expires_at), Some(user_id)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return Err(invalid("expected `user:expiry:signature`"));
        };
        if user_id.is_empty() {
            return Err(invalid("empty user"));
        }
        let expires_at: i64 = expires_at
            .parse()
            .map_err(|_| invalid("the expiry is not a number of seconds"))?;
        let signature = hex::decode(signature).map_err(|_| invalid("the signature is not hex"))?;
        self.mac(user_id, expires_at)
            .verify_slice(&signature)
            .map_err(|_| invalid("bad signature"))?;
        if now.timestamp() >= expires_at {
            return Err(invalid("expired"));
        }
        Ok(user_id.to_string())
    }
}

/// A fixed set of tokens, each granting one user (from configuration). Tokens are held
/// as SHA-256 digests and looked up by digest, so no comparison leaks a token's prefix.
#[derive(Clone, Default)]
pub struct UserTokens {
    users_by_digest: HashMap<[u8; 32], String>,
}

impl std::fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTokens")
            .field("tokens", &self.users_by_digest.len())
            .finish()
    }
}

impl UserTokens {
    /// The shortest token accepted, in bytes.
    pub const MIN_TOKEN_BYTES: usize = 16;

    /// Tokens from `(user_id, token)` pairs; a user may have several. Fails on a short
    /// token or one token given to two users.
    pub fn new<U, T>(pairs: impl IntoIterator<Item = (U, T)>) -> Result<Self, NotifierError>
    where
        U: Into<String>,
        T: AsRef<str>,
    {
        let mut users_by_digest = HashMap::new();
        for (user_id, token) in pairs {
            let (user_id, token) = (user_id.into(), token.as_ref());
            if token.len() < Self::MIN_TOKEN_BYTES {
                return Err(NotifierError::invalid_config(format!(
                    "invalid notifier token for user `{user_id}`: at least {} bytes needed",
                    Self::MIN_TOKEN_BYTES
                )));
            }
            if let Some(other) = users_by_digest.insert(digest(token), user_id.clone())
                && other != user_id
            {
                return Err(NotifierError::invalid_config(format!(
                    "invalid notifier tokens: users `{other}` and `{user_id}` share a token"
                )));
            }
        }
        Ok(UserTokens { users_by_digest })
    }

    /// The user `token` grants.
    pub fn verify(&self, token: &str) -> Result<String, AuthFailure> {
        self.users_by_digest
            .get(&digest(token))
            .cloned()
            .ok_or_else(|| AuthFailure::Invalid("unknown token".to_string()))
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Decides whether a request may read a user's stream. [`StreamAuth`] is the notifier's
/// own; a node with a wider credential model (API tokens, JWTs) brings its own.
pub trait StreamAuthorizer: Send + Sync {
    /// Whether `token` lets its bearer read `user_id`'s signals at `now`.
    fn authorize(
        &self,
        token: Option<&str>,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthFailure>;
}

impl StreamAuthorizer for StreamAuth {
    fn authorize(
        &self,
        token: Option<&str>,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthFailure> {
        StreamAuth::authorize(self, token, user_id, now)
    }
}

/// How the stream endpoint authorizes a request for a user's signals.
#[derive(Debug, Clone)]
pub enum StreamAuth {
    /// HMAC-signed, expiring tokens (see the module docs for the format).
    Signed(TokenSigner),
    /// A fixed token per user.
    Tokens(UserTokens),
}

impl StreamAuth {
    /// Signed tokens with `secret` (at least [`TokenSigner::MIN_SECRET_BYTES`]).
    pub fn signed(secret: impl AsRef<[u8]>) -> Result<Self, NotifierError> {
        TokenSigner::new(secret).map(StreamAuth::Signed)
    }

    /// The user `token` grants, at `now`.
    pub fn authenticate(&self, token: &str, now: DateTime<Utc>) -> Result<String, AuthFailure> {
        match self {
            StreamAuth::Signed(signer) => signer.verify(token, now),
            StreamAuth::Tokens(tokens) => tokens.verify(token),
        }
    }

    /// Whether `token` lets its bearer read `user_id`'s signals at `now`.
    pub fn authorize(
        &self,
        token: Option<&str>,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), AuthFailure> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(AuthFailure::Missing)?;
        let granted = self.authenticate(token, now)?;
        if granted == user_id {
            Ok(())
        } else {
            Err(AuthFailure::Forbidden(user_id.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a time")
    }

    fn check(token: &str, expected: Result<&str, &str>) {
        let signer = TokenSigner::new(SECRET).expect("a long secret");
        let got = signer.verify(token, at("2024-01-01T00:00:00Z"));
        match expected {
            Ok(user) => assert_eq!(got, Ok(user.to_string()), "{token}"),
            Err(reason) => assert_eq!(got, Err(AuthFailure::Invalid(reason.into())), "{token}"),
        }
    }

    #[test]
    fn signed_tokens_verify_and_reject() {
        let signer = TokenSigner::new(SECRET).expect("a long secret");
        let good = signer.issue("alice", at("2024-01-01T01:00:00Z"));
        check(&good, Ok("alice"));
        let colons = signer.issue("urn:user:7", at("2024-01-01T01:00:00Z"));
        check(&colons, Ok("urn:user:7"));
        let expired = signer.issue("alice", at("2024-01-01T00:00:00Z"));
        check(&expired, Err("expired"));
        check(&good.replacen("alice", "bob", 1), Err("bad signature"));
        let (unsigned, _) = good.rsplit_once(':').expect("three fields");
        check(&format!("{unsigned}:00"), Err("bad signature"));
        check(&format!("{unsigned}:zz"), Err("the signature is not hex"));
        check("alice", Err("expected `user:expiry:signature`"));
        check(":1:00", Err("empty user"));
        check(
            "alice:soon:00",
            Err("the expiry is not a number of seconds"),
        );
        let other = TokenSigner::new([7u8; 32]).expect("a long secret");
        check(
            &other.issue("alice", at("2024-01-01T01:00:00Z")),
            Err("bad signature"),
        );
    }

    #[test]
    fn a_known_token_matches_the_documented_format() {
        // HMAC-SHA256(SECRET, "alice:1704070800"), computed independently (Python `hmac`).
        let signer = TokenSigner::new(SECRET).expect("a long secret");
        let token = signer.issue("alice", at("2024-01-01T01:00:00Z"));
        assert_eq!(
            token,
            "alice:1704070800:aef48d9bca83b48d976432161c5a6089eec2c14ef3041003f2afaf05b6145246"
        );
    }

    #[test]
    fn short_secrets_and_tokens_are_refused() {
        assert!(TokenSigner::new("short").is_err());
        assert!(UserTokens::new([("alice", "short")]).is_err());
        let shared = UserTokens::new([("alice", "0123456789abcdef"), ("bob", "0123456789abcdef")]);
        assert!(
            shared
                .expect_err("shared")
                .to_string()
                .contains("share a token")
        );
    }

    #[test]
    fn authorization_is_per_user() {
        let auth = StreamAuth::Tokens(
            UserTokens::new([
                ("alice", "alice-token-0123456"),
                ("bob", "bob-token-01234567"),
            ])
            .expect("valid tokens"),
        );
        let now = Utc::now();
        assert_eq!(
            auth.authorize(Some("alice-token-0123456"), "alice", now),
            Ok(())
        );
        assert_eq!(
            auth.authorize(Some("alice-token-0123456"), "bob", now),
            Err(AuthFailure::Forbidden("bob".into()))
        );
        assert_eq!(auth.authorize(None, "bob", now), Err(AuthFailure::Missing));
        assert_eq!(
            auth.authorize(Some(""), "bob", now),
            Err(AuthFailure::Missing)
        );
        assert_eq!(
            auth.authorize(Some("guess-guess-guess"), "bob", now),
            Err(AuthFailure::Invalid("unknown token".into()))
        );
    }
}
