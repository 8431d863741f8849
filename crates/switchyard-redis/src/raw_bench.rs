//! The raw-engine half of `switchyard bench jobs`: the same number of calls from the same
//! number of concurrent workers as the bench's `mark_done` pass, each a plain `HINCRBY`
//! of one hash field through redis-rs, so the binary can report what a `mark_done` (a Lua
//! script keeping counts, state and the finisher) costs over the bare increment without
//! importing redis itself.
//!
//! It connects as [`RedisState`](crate::RedisState) does (same URL, CA file and
//! namespace), on one multiplexed connection shared by the workers, counts into a hash of
//! its own and deletes it afterwards, also when the run failed. It must not be used by
//! anything but benchmarks.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchyard_state::{StateError, StateErrorKind};

use crate::RedisStateConfig;
use crate::state::client;

fn failed(err: impl std::fmt::Display) -> StateError {
    StateError::new(
        StateErrorKind::Unavailable,
        format!("raw redis benchmark failed: {err}"),
    )
}

/// Runs `calls` `HINCRBY`s of one field, spread over `workers` concurrent workers, against
/// the server of `config`; returns how long they took, once the field holds `calls`.
pub async fn raw_hincrby(
    config: &RedisStateConfig,
    calls: usize,
    workers: usize,
) -> Result<Duration, StateError> {
    let connection = client(config)?
        .get_multiplexed_async_connection()
        .await
        .map_err(failed)?;
    let started_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    let key = format!(
        "{}switchyard:raw-bench:{}-{started_ns}",
        config.namespace,
        std::process::id()
    );
    let run = increments(&connection, &key, calls, workers.max(1)).await;
    let deleted = redis::cmd("DEL")
        .arg(&key)
        .query_async::<u64>(&mut connection.clone())
        .await
        .map_err(failed);
    let elapsed = run?;
    deleted?;
    Ok(elapsed)
}

async fn increments(
    connection: &redis::aio::MultiplexedConnection,
    key: &str,
    calls: usize,
    workers: usize,
) -> Result<Duration, StateError> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let (mut connection, key) = (connection.clone(), key.to_string());
        let share = (worker..calls).step_by(workers).count();
        tasks.spawn(async move {
            for _ in 0..share {
                redis::cmd("HINCRBY")
                    .arg(&key)
                    .arg("count")
                    .arg(1)
                    .query_async::<i64>(&mut connection)
                    .await?;
            }
            Ok::<_, redis::RedisError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(failed)?.map_err(failed)?;
    }
    let elapsed = started.elapsed();
    let counted: u64 = redis::cmd("HGET")
        .arg(key)
        .arg("count")
        .query_async::<Option<u64>>(&mut connection.clone())
        .await
        .map_err(failed)?
        .unwrap_or(0);
    if counted != calls as u64 {
        return Err(failed(format!("{counted} of {calls} increments counted")));
    }
    Ok(elapsed)
}
