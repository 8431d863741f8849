//! The circuit breaker in front of Redis: after a run of failed operations it fails calls
//! fast for a cool-down, then lets one probe through; the probe's outcome closes the
//! circuit or opens it again.
//!
//! Time is `tokio::time::Instant`, so tests drive the state machine with paused time.
//! Knows nothing of Redis: callers decide what counts as a failure.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Where a circuit breaker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through; consecutive failures are being counted.
    Closed,
    /// Calls fail fast until the cool-down is over.
    Open,
    /// One probe is in flight; other calls fail fast until it settles.
    HalfOpen,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen,
}

/// A call refused because the circuit is open (or its probe is in flight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rejected {
    /// How long until a probe may go through (zero while a probe is in flight).
    pub(crate) retry_in: Duration,
}

pub(crate) struct CircuitBreaker {
    failure_threshold: u32,
    cooldown: Duration,
    circuit: Mutex<Circuit>,
}

impl CircuitBreaker {
    pub(crate) fn new(failure_threshold: u32, cooldown: Duration) -> Self {
        debug_assert!(failure_threshold > 0, "validated by the config");
        CircuitBreaker {
            failure_threshold: failure_threshold.max(1),
            cooldown,
            circuit: Mutex::new(Circuit::Closed {
                consecutive_failures: 0,
            }),
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match *self.circuit() {
            Circuit::Closed { .. } => CircuitState::Closed,
            Circuit::Open { .. } => CircuitState::Open,
            Circuit::HalfOpen => CircuitState::HalfOpen,
        }
    }

    /// Admits a call, or refuses it while the circuit is open. An admitted call must be
    /// settled through its permit; a permit dropped unsettled (a cancelled call) counts as
    /// neither outcome.
    pub(crate) fn admit(&self) -> Result<Permit<'_>, Rejected> {
        let mut circuit = self.circuit();
        let probe = match *circuit {
            Circuit::Closed { .. } => false,
            Circuit::HalfOpen => {
                return Err(Rejected {
                    retry_in: Duration::ZERO,
                });
            }
            Circuit::Open { until } => {
                let now = Instant::now();
                if now < until {
                    return Err(Rejected {
                        retry_in: until - now,
                    });
                }
                *circuit = Circuit::HalfOpen;
                true
            }
        };
        Ok(Permit {
            breaker: self,
            probe,
            settled: false,
        })
    }

    fn record(&self, probe: bool, outcome: Option<bool>) {
        let mut circuit = self.circuit();
        let next = match (outcome, *circuit) {
            (Some(true), _) => Circuit::Closed {
                consecutive_failures: 0,
            },
            (
                Some(false),
                Circuit::Closed {
                    consecutive_failures,
                },
            ) => {
                let failures = consecutive_failures.saturating_add(1);
                if failures >= self.failure_threshold {
                    self.open()
                } else {
                    Circuit::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            (Some(false), Circuit::HalfOpen) if probe => self.open(),
            // A call admitted while closed that fails after the circuit opened adds nothing.
            (Some(false), other) => other,
            // An abandoned probe leaves the cool-down over: the next call probes.
            (None, Circuit::HalfOpen) if probe => Circuit::Open {
                until: Instant::now(),
            },
            (None, other) => other,
        };
        if next != *circuit {
            match next {
                Circuit::Open { .. } if outcome.is_some() => {
                    tracing::warn!(
                        cooldown_ms = self.cooldown.as_millis() as u64,
                        "redis circuit opened"
                    );
                }
                Circuit::Closed { .. } if !matches!(*circuit, Circuit::Closed { .. }) => {
                    tracing::info!("redis circuit closed");
                }
                _ => {}
            }
        }
        *circuit = next;
    }

    fn open(&self) -> Circuit {
        Circuit::Open {
            until: Instant::now() + self.cooldown,
        }
    }

    fn circuit(&self) -> MutexGuard<'_, Circuit> {
        // Every update writes a whole state, so a panicked holder leaves a consistent one.
        self.circuit.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An admitted call; settle it with [`Permit::succeeded`] or [`Permit::failed`].
pub(crate) struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    settled: bool,
}

impl Permit<'_> {
    pub(crate) fn succeeded(mut self) {
        self.settled = true;
        self.breaker.record(self.probe, Some(true));
    }

    pub(crate) fn failed(mut self) {
        self.settled = true;
        self.breaker.record(self.probe, Some(false));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.record(self.probe, None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(5);

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(3, COOLDOWN)
    }

    fn fail(breaker: &CircuitBreaker, times: usize) {
        for _ in 0..times {
            breaker.admit().expect("admitted").failed();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_the_threshold_of_consecutive_failures() {
        let breaker = breaker();
        fail(&breaker, 2);
        assert_eq!(breaker.state(), CircuitState::Closed);
        fail(&breaker, 1);
        assert_eq!(breaker.state(), CircuitState::Open);
        let rejected = breaker.admit().err().expect("fails fast while open");
        assert_eq!(rejected.retry_in, COOLDOWN);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_resets_the_failure_count() {
        let breaker = breaker();
        fail(&breaker, 2);
        breaker.admit().unwrap().succeeded();
        fail(&breaker, 2);
        assert_eq!(breaker.state(), CircuitState::Closed);
        fail(&breaker, 1);
        assert_eq!(breaker.state(), CircuitState::Open);
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_cooldown_one_probe_goes_through_and_its_success_closes() {
        let breaker = breaker();
        fail(&breaker, 3);
        tokio::time::advance(COOLDOWN - Duration::from_millis(1)).await;
        assert_eq!(
            breaker.admit().err(),
            Some(Rejected {
                retry_in: Duration::from_millis(1)
            })
        );
        tokio::time::advance(Duration::from_millis(1)).await;
        let probe = breaker.admit().expect("the probe is admitted");
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        assert_eq!(
            breaker.admit().err(),
            Some(Rejected {
                retry_in: Duration::ZERO
            }),
            "only one probe at a time"
        );
        probe.succeeded();
        assert_eq!(breaker.state(), CircuitState::Closed);
        fail(&breaker, 2);
        assert_eq!(
            breaker.state(),
            CircuitState::Closed,
            "the count starts over"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_for_a_new_cooldown() {
        let breaker = breaker();
        fail(&breaker, 3);
        tokio::time::advance(COOLDOWN).await;
        breaker.admit().expect("probe").failed();
        assert_eq!(breaker.state(), CircuitState::Open);
        tokio::time::advance(COOLDOWN / 2).await;
        assert_eq!(breaker.admit().err().unwrap().retry_in, COOLDOWN / 2);
        tokio::time::advance(COOLDOWN / 2).await;
        assert!(breaker.admit().is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_abandoned_probe_lets_the_next_call_probe() {
        let breaker = breaker();
        fail(&breaker, 3);
        tokio::time::advance(COOLDOWN).await;
        drop(breaker.admit().expect("probe"));
        assert_eq!(breaker.state(), CircuitState::Open);
        let probe = breaker.admit().expect("the next call probes at once");
        probe.succeeded();
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn late_failures_of_calls_admitted_before_opening_change_nothing() {
        let breaker = breaker();
        let slow = breaker.admit().unwrap();
        fail(&breaker, 3);
        tokio::time::advance(COOLDOWN).await;
        let probe = breaker.admit().expect("probe");
        slow.failed();
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        probe.succeeded();
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
