//! [`Backoff`]: growing, jittered pauses between attempts at something that failed
//! (reconnecting to an engine, a consumer step, a publish), so that every retry loop of the
//! platform paces itself the same way and many clients of one restarted server do not all
//! come back in the same instant.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential backoff with "equal jitter": each delay is half its step plus a random
/// part of the other half, and the step doubles up to a ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// Steps from `initial`, doubling after each delay, never above `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        let initial = initial.min(max);
        Backoff {
            initial,
            max,
            step: initial,
        }
    }

    /// The pause before the next attempt: between half the current step and the step.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        step / 2 + step.mul_f64(random_fraction() / 2.0)
    }

    /// Starts again from the initial step (after a success).
    pub fn reset(&mut self) {
        self.step = self.initial;
    }
}

/// A number in [0, 1): the standard library's randomly keyed hasher is random enough for
/// jitter, so no random-number crate is needed.
fn random_fraction() -> f64 {
    let bits = RandomState::new().build_hasher().finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_ceiling_with_jitter_and_reset() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(800));
        let steps = [100, 200, 400, 800, 800, 800];
        for step in steps {
            let delay = backoff.next_delay();
            let step = Duration::from_millis(step);
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} not within {step:?}"
            );
        }
        backoff.reset();
        assert!(backoff.next_delay() <= Duration::from_millis(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|_| Backoff::new(Duration::from_secs(1), Duration::from_secs(1)).next_delay())
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
