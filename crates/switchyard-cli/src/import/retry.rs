//! Sending through an outage: which failures of `switchyard import` may pass, and how it
//! waits for a server or bus that is restarting instead of stopping at its first refusal.
//!
//! A send that fails transiently (no answer, `429`, `502`, `503`, `504`, or an engine
//! error the engine calls retryable) is made again, whole, after a wait that doubles
//! from 500 ms to 30 s (each drawn between half and all of that) or that the server's
//! `Retry-After` asks for, until `--retry-for` has passed since it first failed. Each
//! wait is announced on stderr with the time the import will give up.

use std::future::Future;
use std::time::Duration;

use indicatif::ProgressBar;
use reqwest::StatusCode;
use switchyard_bus::Backoff;
use switchyard_runtime::PublishError;
use tokio::time::Instant;

/// The wait before the first retry of a send.
const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two tries of a send.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Why a send did not go through.
#[derive(Debug)]
pub enum SendError {
    /// The server or the bus may take it later: `reason` says who failed and how
    /// (`server unavailable (503: …)`), `retry_after` what the server asked for.
    Transient {
        /// Who failed, and how.
        reason: String,
        /// The server's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// Trying again will not help.
    Fatal(anyhow::Error),
}

impl SendError {
    /// Whether a server answering `status` may take the same request later: it is
    /// restarting or overloaded (`502`, `503`, `504`), or rate-limits the caller (`429`).
    pub fn is_transient(status: StatusCode) -> bool {
        matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        )
    }

    /// A request that got no (whole) answer: the server is down or restarting.
    pub fn no_answer(err: reqwest::Error) -> Self {
        SendError::Transient {
            reason: format!("server unavailable ({:#})", anyhow::Error::from(err)),
            retry_after: None,
        }
    }

    /// An answer with a transient status: the status, the server's error and its
    /// `Retry-After`.
    pub async fn from_answer(response: reqwest::Response) -> Self {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(retry_after);
        let text = response.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|body| body["error"].as_str().map(str::to_string))
            .unwrap_or(text);
        let who = if status == StatusCode::TOO_MANY_REQUESTS {
            "server busy"
        } else {
            "server unavailable"
        };
        SendError::Transient {
            reason: format!("{who} ({}: {})", status.as_u16(), message.trim()),
            retry_after,
        }
    }

    /// A local publish failure, transient when the engine that failed says so.
    pub fn from_publish(err: PublishError) -> Self {
        let engine = match &err {
            PublishError::Bus(bus) => bus.is_retryable().then_some("bus"),
            PublishError::State(state) => state.is_retryable().then_some("state store"),
        };
        match engine {
            Some(engine) => SendError::Transient {
                reason: format!("{engine} unavailable ({err})"),
                retry_after: None,
            },
            None => SendError::Fatal(err.into()),
        }
    }
}

/// A `Retry-After` value: seconds, or an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some(
        (at.to_utc() - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO),
    )
}

/// How long one send is retried: `--retry-for`, `[import] retry_for`,
/// `SWITCHYARD_IMPORT_RETRY_FOR`. Zero sends once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutageRetry {
    /// How long after its first failure a send is given up.
    pub retry_for: Duration,
}

impl OutageRetry {
    /// Runs `attempt` until it succeeds, fails for good, or fails transiently once
    /// `retry_for` has passed since its first failure; before each wait, prints what
    /// failed, when `what` (`batch 41`) is tried again, and when the import gives up.
    pub async fn run<T, F, Fut>(
        &self,
        what: &str,
        progress: &ProgressBar,
        mut attempt: F,
    ) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SendError>>,
    {
        let mut deadline = None;
        let mut backoff = Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF);
        loop {
            let (reason, retry_after) = match attempt().await {
                Ok(value) => return Ok(value),
                Err(SendError::Fatal(err)) => return Err(err),
                Err(SendError::Transient {
                    reason,
                    retry_after,
                }) => (reason, retry_after),
            };
            let now = Instant::now();
            let deadline = *deadline.get_or_insert(now + self.retry_for);
            if self.retry_for.is_zero() {
                anyhow::bail!("{reason} (not retried: --retry-for is 0)");
            }
            if now >= deadline {
                anyhow::bail!(
                    "{reason}, still after retrying for {}",
                    humantime::format_duration(self.retry_for)
                );
            }
            let wait = retry_after
                .unwrap_or_else(|| backoff.next_delay())
                .min(deadline - now);
            let give_up_at = chrono::Local::now()
                + chrono::TimeDelta::from_std(deadline - now).unwrap_or(chrono::TimeDelta::MAX);
            progress.suspend(|| {
                eprintln!(
                    "{reason}, retrying {what} in {}, giving up at {}",
                    seconds(wait),
                    give_up_at.format("%H:%M:%S")
                );
            });
            tokio::time::sleep(wait).await;
        }
    }
}

/// `0.7 s`, `2 s`, `30 s`.
fn seconds(wait: Duration) -> String {
    let secs = wait.as_secs_f64();
    if secs < 10.0 && wait.subsec_millis() >= 50 {
        format!("{secs:.1} s")
    } else {
        format!("{secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs `retry` on attempts that fail with `failures` in order, then succeed;
    /// returns the outcome, the number of attempts and the time it took.
    async fn check(
        retry_for: Duration,
        failures: Vec<SendError>,
    ) -> (anyhow::Result<()>, usize, Duration) {
        let failures = std::cell::RefCell::new(failures.into_iter());
        let attempts = Cell::new(0);
        let started = Instant::now();
        let result = OutageRetry { retry_for }
            .run("batch 1", &ProgressBar::hidden(), || {
                attempts.set(attempts.get() + 1);
                let next = failures.borrow_mut().next();
                async move { next.map_or(Ok(()), Err) }
            })
            .await;
        (result, attempts.get(), started.elapsed())
    }

    fn unavailable(retry_after_secs: Option<u64>) -> SendError {
        SendError::Transient {
            reason: "server unavailable (503: broker down)".into(),
            retry_after: retry_after_secs.map(Duration::from_secs),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_after_the_server_s_retry_after() {
        let (result, attempts, waited) = check(
            Duration::from_secs(60),
            vec![unavailable(Some(5)), unavailable(Some(7))],
        )
        .await;
        result.unwrap();
        assert_eq!(attempts, 3);
        assert!(
            waited >= Duration::from_secs(12) && waited < Duration::from_millis(12_010),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_retry_after_the_waits_double() {
        let (result, attempts, waited) = check(
            Duration::from_secs(60),
            (0..3).map(|_| unavailable(None)).collect(),
        )
        .await;
        result.unwrap();
        assert_eq!(attempts, 4);
        // 500 ms, 1 s, 2 s, each at least half of that.
        assert!(
            waited >= Duration::from_millis(1750) && waited <= Duration::from_millis(3510),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_that_stays_down_is_given_up_after_retry_for_with_the_reason() {
        let (result, attempts, waited) = check(
            Duration::from_secs(10),
            (0..1000).map(|_| unavailable(Some(3))).collect(),
        )
        .await;
        let err = result.unwrap_err().to_string();
        assert_eq!(
            err,
            "server unavailable (503: broker down), still after retrying for 10s"
        );
        // Tries at 0, 3, 6, 9 and, cut short, 10 s.
        assert_eq!(attempts, 5);
        assert!(
            waited >= Duration::from_secs(10) && waited < Duration::from_millis(10_010),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn zero_sends_once_and_fatal_errors_are_not_retried() {
        let (result, attempts, _) = check(Duration::ZERO, vec![unavailable(Some(1))]).await;
        assert_eq!(
            result.unwrap_err().to_string(),
            "server unavailable (503: broker down) (not retried: --retry-for is 0)"
        );
        assert_eq!(attempts, 1);

        let fatal = SendError::Fatal(anyhow::anyhow!("401 unknown token"));
        let (result, attempts, waited) = check(Duration::from_secs(60), vec![fatal]).await;
        assert_eq!(result.unwrap_err().to_string(), "401 unknown token");
        assert_eq!((attempts, waited), (1, Duration::ZERO));
    }

    #[test]
    fn retry_after_takes_seconds_or_a_date() {
        assert_eq!(retry_after("5"), Some(Duration::from_secs(5)));
        assert_eq!(retry_after(" 0 "), Some(Duration::ZERO));
        let in_a_minute = (chrono::Utc::now() + chrono::TimeDelta::seconds(60))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let wait = retry_after(&in_a_minute).unwrap();
        assert!(
            wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
            "{wait:?}"
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn only_restarts_overload_and_rate_limits_are_transient() {
        for status in [429, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(SendError::is_transient(status), "{status}");
        }
        for status in [400, 401, 403, 404, 413, 500] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!SendError::is_transient(status), "{status}");
        }
    }

    #[test]
    fn local_failures_are_transient_when_the_engine_says_so() {
        use switchyard_bus::{BusError, BusErrorKind};
        let down = PublishError::Bus(BusError::new(BusErrorKind::Unavailable, "broker down"));
        assert!(matches!(
            SendError::from_publish(down),
            SendError::Transient { reason, retry_after: None }
                if reason == "bus unavailable (failed to publish: broker down)"
        ));
        let broken = PublishError::Bus(BusError::new(BusErrorKind::Corrupt, "bad record"));
        assert!(matches!(
            SendError::from_publish(broken),
            SendError::Fatal(_)
        ));
    }

    #[test]
    fn waits_are_printed_in_seconds() {
        assert_eq!(seconds(Duration::from_millis(700)), "0.7 s");
        assert_eq!(seconds(Duration::from_secs(2)), "2 s");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5 s");
        assert_eq!(seconds(Duration::from_secs(30)), "30 s");
    }
}
