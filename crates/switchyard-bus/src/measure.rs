//! Measurement helpers shared by the benchmarks of every bus (Switchyard's own and the
//! raw-engine loops of the backend crates), so all report figures computed the same way.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

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

/// Starts `count` operations at a steady `rate` per second, open loop (each starts at
/// its own time whether or not earlier ones have finished, so a slow answer cannot hide
/// the wait it causes), and returns each one's latency counted from the moment it was
/// due, sorted. The first error stops the run.
pub async fn paced<F, Fut, E>(rate: f64, count: usize, start: F) -> Result<Vec<Duration>, E>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    let period = Duration::from_secs_f64(1.0 / rate.max(f64::MIN_POSITIVE));
    let began = Instant::now();
    let mut running = JoinSet::new();
    let mut latencies = Vec::with_capacity(count);
    for index in 0..count {
        let due = began + period.mul_f64(index as f64);
        tokio::time::sleep_until(due).await;
        let operation = start(index);
        running.spawn(async move { operation.await.map(|()| due.elapsed()) });
        while let Some(done) = running.try_join_next() {
            latencies.push(done.expect("a paced operation does not panic")?);
        }
    }
    while let Some(done) = running.join_next().await {
        latencies.push(done.expect("a paced operation does not panic")?);
    }
    latencies.sort_unstable();
    Ok(latencies)
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

    #[tokio::test(start_paused = true)]
    async fn paced_operations_start_on_time_and_count_from_then() {
        let began = Instant::now();
        let latencies = paced(100.0, 10, |index| async move {
            // The third takes 50 ms; the others answer at once.
            if index == 2 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, ()>(())
        })
        .await
        .unwrap();
        // Ten at 100/s: the last starts at 90 ms, not delayed by the slow third.
        assert!(
            began.elapsed() < Duration::from_millis(95),
            "{:?}",
            began.elapsed()
        );
        assert_eq!(latencies.len(), 10);
        assert_eq!(latencies[9], Duration::from_millis(50));
        assert_eq!(latencies[8], Duration::ZERO);
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
