//! [`Link`]: the broker's one connection to the server, opened again after it dies.
//!
//! Every call that needs the server asks the link for the connection. While the current
//! connection is open it is returned at once; once it has died (the server restarted, the
//! network dropped), the next caller opens a new one, and callers meanwhile wait for that
//! attempt instead of starting their own. After a failed attempt, the link refuses at once
//! until a jittered, growing pause has passed ([`Backoff`], 100 ms up to 1 s), so that a
//! server that is down costs its clients nothing but a quick `Unavailable`, and one that
//! is back is found within a second.
//!
//! Each connection has a generation number; what was declared or started on an older one
//! (topology, consumers, shared channels) is done again by the broker on the new one.
//!
//! Nothing the broker asks of the server is awaited without a bound ([`Link::answered`]):
//! lapin leaves a request pending for ever when its connection dies just as it is sent
//! (the command lands behind the stop of the connection's internal task, and its promise
//! is never settled), and a server that stops answering on an open socket leaves every
//! request pending too. A request without an answer within the connect timeout fails as
//! `Unavailable` and makes the link forget that connection, so the next call opens a
//! new one instead of waiting on the old one again.
//!
//! Must not know: queues, exchanges or consumers.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lapin::tcp::OwnedTLSConfig;
use lapin::types::LongString;
use lapin::{Connection, ConnectionProperties, DefaultConnectionBuilder};
use switchyard_bus::{Backoff, BusError, BusErrorKind};
use tokio::time::Instant;

use crate::error::amqp;

/// First pause after a failed attempt to connect.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// Longest pause between attempts: a server that is back is found within about this.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// An open connection and its generation (1 for the first).
#[derive(Clone)]
pub(crate) struct Open {
    pub(crate) connection: Arc<Connection>,
    pub(crate) generation: u64,
}

pub(crate) struct Link {
    url: String,
    /// The URL without its password, for messages.
    shown: String,
    /// The PEM of the CA file, read once.
    ca_pem: Option<String>,
    connect_timeout: Duration,
    current: Mutex<Option<Open>>,
    /// Held while connecting, so that one caller connects and the others wait for it.
    reconnect: tokio::sync::Mutex<Retry>,
    /// Set by `close`: no connection is opened again.
    closed: std::sync::atomic::AtomicBool,
}

struct Retry {
    backoff: Backoff,
    not_before: Option<Instant>,
    last_error: String,
}

impl Link {
    /// Opens the first connection; fails when the server cannot be reached now.
    pub(crate) async fn connect(
        url: &str,
        ca_pem: Option<String>,
        connect_timeout: Duration,
    ) -> Result<Link, BusError> {
        let link = Link {
            url: url.to_string(),
            shown: redact(url),
            ca_pem,
            connect_timeout,
            current: Mutex::new(None),
            reconnect: tokio::sync::Mutex::new(Retry {
                backoff: Backoff::new(FIRST_PAUSE, LONGEST_PAUSE),
                not_before: None,
                last_error: String::new(),
            }),
            closed: std::sync::atomic::AtomicBool::new(false),
        };
        let connection = link.open().await?;
        *link.current() = Some(Open {
            connection: Arc::new(connection),
            generation: 1,
        });
        Ok(link)
    }

    fn current(&self) -> std::sync::MutexGuard<'_, Option<Open>> {
        self.current.lock().expect("link lock is never poisoned")
    }

    /// The open connection, if the current one is alive.
    fn alive(&self) -> Option<Open> {
        self.current()
            .as_ref()
            .filter(|open| open.connection.status().connected())
            .cloned()
    }

    /// The open connection: the current one, or a new one when it died. Fails with
    /// `Unavailable` while the server cannot be reached (at once between attempts), and
    /// with `Closed` after [`Link::close`].
    pub(crate) async fn get(&self) -> Result<Open, BusError> {
        if let Some(open) = self.alive() {
            return Ok(open);
        }
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(BusError::new(
                BusErrorKind::Closed,
                "the RabbitMQ broker was closed",
            ));
        }
        let mut retry = self.reconnect.lock().await;
        // Another caller may have reconnected while this one waited.
        if let Some(open) = self.alive() {
            return Ok(open);
        }
        if let Some(not_before) = retry.not_before {
            let now = Instant::now();
            if now < not_before {
                return Err(BusError::new(
                    BusErrorKind::Unavailable,
                    format!(
                        "RabbitMQ at {} is unreachable ({}); next attempt in {} ms",
                        self.shown,
                        retry.last_error,
                        (not_before - now).as_millis()
                    ),
                ));
            }
        }
        match self.open().await {
            Ok(connection) => {
                retry.backoff.reset();
                retry.not_before = None;
                let mut current = self.current();
                let generation = current.as_ref().map_or(0, |open| open.generation) + 1;
                let open = Open {
                    connection: Arc::new(connection),
                    generation,
                };
                *current = Some(open.clone());
                tracing::info!(server = %self.shown, generation, "connected to RabbitMQ again");
                Ok(open)
            }
            Err(err) => {
                retry.not_before = Some(Instant::now() + retry.backoff.next_delay());
                retry.last_error = err.to_string();
                Err(err)
            }
        }
    }

    async fn open(&self) -> Result<Connection, BusError> {
        let properties = ConnectionProperties::default()
            .with_connection_name(LongString::from("switchyard".as_bytes()));
        let tls = OwnedTLSConfig {
            identity: None,
            cert_chain: self.ca_pem.clone(),
        };
        let builder = DefaultConnectionBuilder::new()
            .map_err(|err| amqp("failed to start the AMQP runtime", err))?
            .with_uri_str(self.url.clone())
            .with_properties(properties)
            .with_tls_config(tls);
        let connection = tokio::time::timeout(self.connect_timeout, builder.connect())
            .await
            .map_err(|_| {
                BusError::new(
                    BusErrorKind::Unavailable,
                    format!(
                        "failed to connect to RabbitMQ at {}: no answer within {:?}",
                        self.shown, self.connect_timeout
                    ),
                )
            })?
            .map_err(|err| {
                let mut err = amqp(
                    &format!("failed to connect to RabbitMQ at {}", self.shown),
                    err,
                );
                // A refused connection is the server being away, not this broker closed.
                if err.kind() == BusErrorKind::Closed {
                    err = BusError::new(BusErrorKind::Unavailable, err.to_string());
                }
                err
            })?;
        Ok(connection)
    }

    /// Forgets the connection of `generation` when it is still the current one, so that
    /// the next call opens a new one: for a connection that stopped answering although
    /// its socket is open.
    pub(crate) fn discard(&self, generation: u64) {
        let mut current = self.current();
        if current
            .as_ref()
            .is_some_and(|open| open.generation == generation)
        {
            tracing::warn!(server = %self.shown, generation, "RabbitMQ connection stopped answering, opening a new one");
            *current = None;
        }
    }

    /// The longest the server may take to answer one request (the connect timeout).
    pub(crate) fn answer_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// `request`, sent on the connection of `generation`, if it completes within the
    /// answer timeout. Otherwise fails with `Unavailable` and forgets that connection
    /// ([`Link::discard`]); `what` names the request in the message (`declaring the
    /// topology`).
    pub(crate) async fn answered<T>(
        &self,
        generation: u64,
        what: &str,
        request: impl Future<Output = Result<T, BusError>>,
    ) -> Result<T, BusError> {
        match tokio::time::timeout(self.connect_timeout, request).await {
            Ok(result) => result,
            Err(_) => {
                self.discard(generation);
                Err(BusError::new(
                    BusErrorKind::Unavailable,
                    format!(
                        "RabbitMQ at {} did not finish {what} within {:?}; connecting again",
                        self.shown, self.connect_timeout
                    ),
                ))
            }
        }
    }

    /// Closes the connection for good.
    pub(crate) async fn close(&self) -> Result<(), BusError> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let open = self.current().clone();
        match open {
            Some(open) if open.connection.status().connected() => {
                self.answered(open.generation, "closing the connection", async {
                    open.connection
                        .close(200, "OK".into())
                        .await
                        .map_err(|err| amqp("failed to close the connection", err))
                })
                .await
            }
            _ => Ok(()),
        }
    }
}

/// The URL without its password, for error messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "amqp://guest:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1:5672"), "amqp://127.0.0.1:5672");
        assert_eq!(redact("amqp://user@host/"), "amqp://user@host/");
    }
}
