//! Provider requests that honour throttling.
//!
//! [`Throttle::send`] makes a request and, on 429 or 503, waits what `Retry-After` says
//! (seconds, fractions allowed, or an HTTP date), at most [`Throttle::max_wait`], plus
//! up to a tenth more of jitter, then tries again; without `Retry-After`, and after a
//! network error or another 5xx, it backs off exponentially. A wait a provider asks of
//! one mailbox holds every request of this [`Throttle`] to that mailbox until it has
//! passed, so concurrent jobs on one mailbox wait together instead of each hitting the
//! limit. After [`Throttle::max_attempts`] it gives up with
//! [`ProviderErrorKind::Unavailable`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};
use tokio::time::Instant;

use crate::{ProviderError, ProviderErrorKind};

/// How requests wait for throttling and failures; shared by every worker of a process
/// (cloning shares the mailboxes' waits).
#[derive(Debug, Clone)]
pub struct Throttle {
    max_wait: Duration,
    max_attempts: u32,
    first_backoff: Duration,
    /// Per mailbox, the instant before which nobody may ask the provider again.
    held_until: Arc<Mutex<HashMap<String, Instant>>>,
}

impl Default for Throttle {
    /// Waits of at most 5 minutes, 8 attempts, backoff from 500 ms.
    fn default() -> Self {
        Throttle::new(Duration::from_secs(300), 8, Duration::from_millis(500))
    }
}

impl Throttle {
    /// Waits of at most `max_wait` each, `max_attempts` attempts per request, and an
    /// exponential backoff from `first_backoff` when the provider says nothing.
    pub fn new(max_wait: Duration, max_attempts: u32, first_backoff: Duration) -> Self {
        Throttle {
            max_wait,
            max_attempts: max_attempts.max(1),
            first_backoff,
            held_until: Arc::default(),
        }
    }

    /// The longest single wait.
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// The most attempts of one request.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Sends the request `build` makes (built again for each attempt) on behalf of
    /// `mailbox`, and returns the first answer that is neither a 429 nor a 5xx. `what`
    /// names the request in errors and logs.
    pub async fn send(
        &self,
        mailbox: &str,
        what: &str,
        build: impl Fn() -> RequestBuilder,
    ) -> Result<Response, ProviderError> {
        let mut backoff = self.first_backoff;
        let mut last_failure = String::new();
        for attempt in 1..=self.max_attempts {
            self.wait_for(mailbox).await;
            let wait = match build().send().await {
                Ok(response) if is_throttled(response.status()) => {
                    last_failure = format!("HTTP {}", response.status());
                    match retry_after(&response) {
                        Some(asked) => {
                            let wait = with_jitter(asked.min(self.max_wait));
                            self.hold(mailbox, wait);
                            wait
                        }
                        None => backoff,
                    }
                }
                Ok(response) if response.status().is_server_error() => {
                    last_failure = format!("HTTP {}", response.status());
                    backoff
                }
                Ok(response) => return Ok(response),
                Err(err) => {
                    last_failure = err.without_url().to_string();
                    backoff
                }
            };
            if attempt < self.max_attempts {
                tracing::info!(what, attempt, wait_ms = wait.as_millis() as u64, failure = %last_failure, "provider asked to wait");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(self.max_wait);
            }
        }
        Err(ProviderError::new(
            ProviderErrorKind::Unavailable,
            format!(
                "{what}: no answer after {} attempts, the last one {last_failure}",
                self.max_attempts
            ),
        ))
    }

    /// Waits until no wait holds `mailbox`.
    async fn wait_for(&self, mailbox: &str) {
        loop {
            let until = self
                .held_until
                .lock()
                .expect("the throttle lock is never poisoned")
                .get(mailbox)
                .copied();
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Holds every request to `mailbox` for `wait` from now (or longer, if already held).
    fn hold(&self, mailbox: &str, wait: Duration) {
        let until = Instant::now() + wait;
        let mut held = self
            .held_until
            .lock()
            .expect("the throttle lock is never poisoned");
        let entry = held.entry(mailbox.to_string()).or_insert(until);
        *entry = (*entry).max(until);
        // Forget waits long past, so the map stays as small as the mailboxes in use.
        let now = Instant::now();
        held.retain(|_, until| *until > now);
    }
}

fn is_throttled(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
}

/// The wait `Retry-After` asks for: seconds (`2`, `2.128`) or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| Duration::from_secs_f64(seconds.min(86_400.0)));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// `wait` plus a random tenth of it at most, so waiting workers do not return at once.
fn with_jitter(wait: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let fraction = match getrandom::fill(&mut byte) {
        Ok(()) => f64::from(byte[0]) / 255.0,
        Err(_) => 0.5,
    };
    wait + wait.mul_f64(0.1 * fraction)
}
