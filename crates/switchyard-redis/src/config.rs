//! [`RedisStateConfig`]: where the Redis state store connects and how it rides out failures.
//!
//! Pure data plus [`RedisStateConfig::validate`], which checks without connecting. The
//! environment (`REDIS_URL`) is read by the binary, not here.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_state::{StateError, StateErrorKind};

/// The URL used when none is configured: the local server, database 0.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";

/// How [`RedisState`](crate::RedisState) connects, names its keys, retries and trips its
/// circuit breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisStateConfig {
    /// The server, as `redis://[user:password@]host:port/db`, or `rediss://…` for TLS
    /// (`REDIS_URL` in the binary).
    pub url: String,
    /// A PEM file of the CA that signed the server's certificate (`rediss://` only); when
    /// set, it is the only CA trusted. Unset: the system's trusted CAs.
    pub ca_file: Option<PathBuf>,
    /// Put before every key, and before the store's own expiry index, so several
    /// deployments (or test runs) can share one database, e.g. `switchyard:prod:`. Empty:
    /// keys are used as callers give them.
    pub namespace: String,
    /// Longest wait for a new connection, in milliseconds.
    pub connection_timeout_ms: u64,
    /// Longest wait for a reply, in milliseconds; a 5 MiB value must fit in it.
    pub response_timeout_ms: u64,
    /// Attempts per operation, the first included, before a transient error is returned.
    pub retry_attempts: u32,
    /// Pause before the second attempt, in milliseconds; it doubles for each further one.
    pub retry_initial_backoff_ms: u64,
    /// Consecutive failed operations (after their retries) that open the circuit.
    pub circuit_failure_threshold: u32,
    /// How long an open circuit fails calls fast before letting one probe through, in
    /// milliseconds: also the longest a Redis that is back goes unnoticed (2 s).
    pub circuit_cooldown_ms: u64,
}

impl Default for RedisStateConfig {
    fn default() -> Self {
        RedisStateConfig {
            url: DEFAULT_REDIS_URL.to_string(),
            ca_file: None,
            namespace: String::new(),
            connection_timeout_ms: 2_000,
            response_timeout_ms: 5_000,
            retry_attempts: 3,
            retry_initial_backoff_ms: 25,
            circuit_failure_threshold: 5,
            circuit_cooldown_ms: 2_000,
        }
    }
}

impl RedisStateConfig {
    /// The defaults with `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisStateConfig {
            url: url.into(),
            ..RedisStateConfig::default()
        }
    }

    /// This config with `namespace` before every key.
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// This config trusting the CA in the PEM file `ca_file` (for `rediss://`).
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Checks the values without connecting: the URL parses, counts and durations are not
    /// zero.
    pub fn validate(&self) -> Result<(), StateError> {
        let invalid = |message: String| Err(StateError::new(StateErrorKind::Unavailable, message));
        if let Err(err) = redis::Client::open(self.url.as_str()) {
            return invalid(format!(
                "invalid redis url {}: {err}",
                redact_url(&self.url)
            ));
        }
        if self.ca_file.is_some() && !self.url.starts_with("rediss://") {
            return invalid(format!(
                "invalid redis config: ca_file needs a rediss:// url, got {}",
                redact_url(&self.url)
            ));
        }
        for (name, value) in [
            ("connection_timeout_ms", self.connection_timeout_ms),
            ("response_timeout_ms", self.response_timeout_ms),
            ("retry_attempts", u64::from(self.retry_attempts)),
            (
                "circuit_failure_threshold",
                u64::from(self.circuit_failure_threshold),
            ),
        ] {
            if value == 0 {
                return invalid(format!("invalid redis config: {name} must be at least 1"));
            }
        }
        Ok(())
    }

    pub(crate) fn connection_timeout(&self) -> Duration {
        Duration::from_millis(self.connection_timeout_ms)
    }

    pub(crate) fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }

    pub(crate) fn retry_initial_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_initial_backoff_ms)
    }

    pub(crate) fn circuit_cooldown(&self) -> Duration {
        Duration::from_millis(self.circuit_cooldown_ms)
    }
}

/// `url` without its password, for messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_redacted(url: &str, expected: &str) {
        assert_eq!(redact_url(url), expected);
    }

    #[test]
    fn redacts_passwords() {
        check_redacted("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0");
        check_redacted(
            "redis://user:secret@host:6379/1",
            "redis://user:***@host:6379/1",
        );
        check_redacted("redis://:secret@host", "redis://:***@host");
        check_redacted("not a url", "not a url");
    }

    #[test]
    fn validates_without_connecting() {
        assert!(RedisStateConfig::default().validate().is_ok());
        let bad_url = RedisStateConfig::new("http://example.com");
        assert!(
            bad_url
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("invalid redis url")
        );
        assert!(
            RedisStateConfig::new("rediss://127.0.0.1:6380/0")
                .validate()
                .is_ok()
        );
        assert_eq!(
            RedisStateConfig::new("redis://user:secret@127.0.0.1/0")
                .with_ca_file("/ca.pem")
                .validate()
                .unwrap_err()
                .to_string(),
            "invalid redis config: ca_file needs a rediss:// url, got redis://user:***@127.0.0.1/0"
        );
        let no_attempts = RedisStateConfig {
            retry_attempts: 0,
            ..RedisStateConfig::default()
        };
        assert_eq!(
            no_attempts.validate().unwrap_err().to_string(),
            "invalid redis config: retry_attempts must be at least 1"
        );
    }

    #[test]
    fn reads_toml_and_rejects_unknown_fields() {
        let parsed: RedisStateConfig = toml::from_str(r#"namespace = "sy:""#).unwrap();
        assert_eq!(parsed, RedisStateConfig::default().with_namespace("sy:"));
        assert!(toml::from_str::<RedisStateConfig>(r#"nmespace = "sy:""#).is_err());
    }
}
