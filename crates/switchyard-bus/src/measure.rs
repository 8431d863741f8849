//! Measurement helpers shared by the benchmarks of every bus (Switchyard's own and the
//! raw-engine loops of the backend crates), so all report figures computed the same way.

use std::time::Duration;

/// `count` events over `elapsed`, per second.
pub fn per_sec(count: usize, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// The `quantile` (0 to 1) of sorted `samples`, in microseconds (0 without samples).
pub fn percentile_us(samples: &[Duration], quantile: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let index = ((samples.len() as f64 * quantile).ceil() as usize).clamp(1, samples.len()) - 1;
    samples[index].as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(samples_ms: &[u64], quantile: f64, expected_us: f64) {
        let samples: Vec<Duration> = samples_ms
            .iter()
            .map(|ms| Duration::from_millis(*ms))
            .collect();
        assert_eq!(percentile_us(&samples, quantile), expected_us);
    }

    #[test]
    fn percentiles() {
        check(&[], 0.5, 0.0);
        check(&[1], 0.99, 1000.0);
        check(&[1, 2, 3, 4], 0.5, 2000.0);
        check(&(1..=100).collect::<Vec<_>>(), 0.99, 99_000.0);
        check(&(1..=100).collect::<Vec<_>>(), 1.0, 100_000.0);
    }

    #[test]
    fn rates() {
        assert_eq!(per_sec(10, Duration::from_secs(2)), 5.0);
    }
}
