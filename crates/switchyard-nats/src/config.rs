//! [`NatsOptions`]: how the NATS backend names and sizes the streams and consumers it
//! creates, and how long it waits for the server. Validation is pure; connectivity is
//! checked by `NatsBroker::connect`.

use std::path::PathBuf;
use std::time::Duration;

use switchyard_bus::{BusError, BusErrorKind};

/// Options of the NATS JetStream backend; `NatsOptions::default()` suits one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsOptions {
    /// Stream names are `{stream_prefix}_{topic}`; `topics()` and `stats()` only see streams
    /// with this prefix. Two deployments sharing a server need prefixes that are not
    /// prefixes of one another. ASCII letters, digits, `_` and `-`.
    pub stream_prefix: String,
    /// How long a stream keeps a message, acknowledged or not; `Duration::ZERO` keeps
    /// messages forever. Applied when a stream is created; existing streams keep theirs.
    pub max_age: Duration,
    /// Publishes carrying the same `ce-id` within this window are stored once.
    pub duplicate_window: Duration,
    /// Stream replicas (1 on a single server, 3 or 5 in a cluster).
    pub replicas: usize,
    /// Most messages a subscription may hold delivered but unacknowledged; beyond it the
    /// server delivers nothing more until some are acknowledged.
    pub max_ack_pending: i64,
    /// Publishes awaiting their acknowledgement at once; bounds memory and server load.
    pub max_publish_inflight: usize,
    /// How long to wait for the TCP connection and the server handshake.
    pub connect_timeout: Duration,
    /// How long to wait for any JetStream API reply, publish acknowledgement or
    /// acknowledgement of an ack.
    pub request_timeout: Duration,
    /// A PEM file of the CA that signed the server's certificate, trusted besides the
    /// system's CAs; setting it also requires TLS (as a `tls://` URL does).
    pub ca_file: Option<PathBuf>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            stream_prefix: "SWITCHYARD".to_string(),
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            replicas: 1,
            max_ack_pending: 10_000,
            max_publish_inflight: 1_024,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            ca_file: None,
        }
    }
}

impl NatsOptions {
    /// The same options with another stream prefix.
    pub fn with_stream_prefix(mut self, stream_prefix: impl Into<String>) -> Self {
        self.stream_prefix = stream_prefix.into();
        self
    }

    /// The same options trusting the CA in the PEM file `ca_file` and requiring TLS.
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Checks the options without contacting the server.
    pub fn validate(&self) -> Result<(), BusError> {
        let invalid = |message: String| Err(BusError::new(BusErrorKind::InvalidArgument, message));
        if self.stream_prefix.is_empty()
            || !self
                .stream_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return invalid(format!(
                "invalid stream prefix `{}`: use ASCII letters, digits, `_` and `-`",
                self.stream_prefix
            ));
        }
        if self.duplicate_window.is_zero() {
            return invalid("duplicate window must be positive".to_string());
        }
        if !self.max_age.is_zero() && self.duplicate_window > self.max_age {
            return invalid(format!(
                "duplicate window {:?} exceeds max age {:?}",
                self.duplicate_window, self.max_age
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return invalid(format!("replicas must be 1 to 5, got {}", self.replicas));
        }
        if self.max_ack_pending < 1 {
            return invalid(format!(
                "max ack pending must be positive, got {}",
                self.max_ack_pending
            ));
        }
        if self.max_publish_inflight == 0 {
            return invalid("max publish inflight must be positive".to_string());
        }
        if self.connect_timeout.is_zero() || self.request_timeout.is_zero() {
            return invalid("timeouts must be positive".to_string());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(options: NatsOptions, valid: bool) {
        assert_eq!(options.validate().is_ok(), valid, "{options:?}");
    }

    #[test]
    fn validation() {
        check(NatsOptions::default(), true);
        check(NatsOptions::default().with_stream_prefix("SY-test_1"), true);
        check(NatsOptions::default().with_stream_prefix(""), false);
        check(NatsOptions::default().with_stream_prefix("A.B"), false);
        check(NatsOptions::default().with_stream_prefix("A B"), false);
        check(
            NatsOptions {
                max_age: Duration::ZERO,
                ..NatsOptions::default()
            },
            true,
        );
        check(
            NatsOptions {
                max_age: Duration::from_secs(60),
                ..NatsOptions::default()
            },
            false,
        );
        check(
            NatsOptions {
                replicas: 0,
                ..NatsOptions::default()
            },
            false,
        );
        check(
            NatsOptions {
                max_publish_inflight: 0,
                ..NatsOptions::default()
            },
            false,
        );
    }
}
