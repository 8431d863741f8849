//! `switchyard bench jobs` measures job progress `mark_done` calls per second: on the
//! embedded state engine (in a scratch directory), and with `--state redis://…` also on
//! Redis, beside the same number of plain `HINCRBY` calls from the same number of workers
//! in the same run (`switchyard_redis::raw_hincrby`), so the ratio shows what a
//! `mark_done` costs over the bare increment.
//!
//! The workload: one job whose total is set first, then `--marks` `mark_done(ok)` calls
//! spread over `--workers` concurrent tasks, timed from the first call to the last answer.
//! Each pass checks that exactly one call finished the job and that it counted every mark,
//! and removes the job; Redis runs in a namespace of its own, so nothing is left there.
//!
//! # `bench jobs --json` keys (stable)
//!
//! - `benchmark`: `"jobs"`; `marks`, `workers`: the workload;
//! - `embedded`: `{ "mark_done_per_sec" }`;
//! - `redis` (`null` without a Redis URL): `{ "mark_done_per_sec", "raw_hincrby_per_sec",
//!   "ratio" }`, `ratio` being `mark_done_per_sec / raw_hincrby_per_sec`;
//! - `peak_rss_bytes`: the process's peak resident set size over the whole run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use serde_json::json;
use switchyard_bus::measure::per_sec;
use switchyard_state::{
    EmbeddedState, ItemOutcome, JobId, JobOwner, JobProgressStore, JobSpec, JobState,
};

use crate::backends::EngineUrls;

/// The shape of one `bench jobs` run.
pub(super) struct JobsWorkload {
    pub(super) marks: usize,
    pub(super) workers: usize,
}

pub(super) async fn jobs(
    engines: &EngineUrls,
    workload: &JobsWorkload,
    json_output: bool,
) -> anyhow::Result<()> {
    ensure!(
        workload.marks > 0 && workload.workers > 0,
        "--marks and --workers must be positive"
    );
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let embedded: Arc<dyn JobProgressStore> = Arc::new(EmbeddedState::open(dir.path())?);
    let embedded_per_sec = per_sec(
        workload.marks,
        mark_pass(embedded, workload)
            .await
            .context("embedded job progress benchmark failed")?,
    );
    let redis = match engines.state.as_deref() {
        None => None,
        Some(url) => Some(redis_passes(url, engines, workload).await?),
    };
    let result = json!({
        "benchmark": "jobs",
        "marks": workload.marks,
        "workers": workload.workers,
        "embedded": { "mark_done_per_sec": embedded_per_sec },
        "redis": redis.map(|(mark_done, raw)| json!({
            "mark_done_per_sec": mark_done,
            "raw_hincrby_per_sec": raw,
            "ratio": mark_done / raw,
        })),
        "peak_rss_bytes": super::peak_rss_bytes(),
    });
    if json_output {
        println!("{result}");
        return Ok(());
    }
    println!(
        "jobs: {} mark_done calls from {} concurrent workers",
        workload.marks, workload.workers
    );
    println!("embedded  mark_done {embedded_per_sec:.0}/s");
    if let Some((mark_done, raw)) = redis {
        println!(
            "redis     mark_done {mark_done:.0}/s, raw HINCRBY {raw:.0}/s, ratio {:.2}",
            mark_done / raw
        );
    }
    println!(
        "peak RSS  {} MiB",
        super::peak_rss_bytes().unwrap_or_default() / 1_048_576
    );
    Ok(())
}

/// The Redis passes: `mark_done` through the store, then raw `HINCRBY`; calls per second
/// of each.
#[cfg(feature = "redis")]
async fn redis_passes(
    url: &str,
    engines: &EngineUrls,
    workload: &JobsWorkload,
) -> anyhow::Result<(f64, f64)> {
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    ensure!(
        matches!(scheme, "redis" | "rediss"),
        "unsupported state URL scheme `{scheme}`: use redis:// or rediss://"
    );
    let mut config = switchyard_redis::RedisStateConfig::new(url).with_namespace(format!(
        "switchyard-bench:{}:",
        uuid::Uuid::now_v7().simple()
    ));
    config.ca_file = engines.ca_files.state.clone();
    let store: Arc<dyn JobProgressStore> = Arc::new(
        switchyard_redis::RedisState::connect(config.clone())
            .await
            .context("failed to open the redis state store")?,
    );
    let mark_done = mark_pass(store, workload)
        .await
        .context("redis job progress benchmark failed")?;
    let raw = switchyard_redis::raw_hincrby(&config, workload.marks, workload.workers)
        .await
        .context("raw redis benchmark failed")?;
    Ok((
        per_sec(workload.marks, mark_done),
        per_sec(workload.marks, raw),
    ))
}

#[cfg(not(feature = "redis"))]
async fn redis_passes(
    url: &str,
    _engines: &EngineUrls,
    _workload: &JobsWorkload,
) -> anyhow::Result<(f64, f64)> {
    anyhow::bail!("state URL {url}: this binary was built without the `redis` feature")
}

/// Marks every item of a fresh job from concurrent workers; returns how long the marks
/// took, once it checked the job counted them all and finished exactly once.
async fn mark_pass(
    store: Arc<dyn JobProgressStore>,
    workload: &JobsWorkload,
) -> anyhow::Result<Duration> {
    let job = JobId::new(format!("bench-{}", uuid::Uuid::now_v7().simple()))?;
    let spec = JobSpec::new(
        JobOwner::new(super::USER)?,
        "bench",
        Duration::from_secs(3600),
    )?;
    ensure!(store.init(&job, &spec).await?, "the bench job existed");
    let timed = timed_marks(&store, &job, workload).await;
    let removed = store.remove(&job).await;
    let elapsed = timed?;
    removed?;
    Ok(elapsed)
}

async fn timed_marks(
    store: &Arc<dyn JobProgressStore>,
    job: &JobId,
    workload: &JobsWorkload,
) -> anyhow::Result<Duration> {
    let marks = workload.marks as u64;
    let _ = store.set_total(job, marks).await?;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..workload.workers {
        let (store, job) = (store.clone(), job.clone());
        let share = (worker..workload.marks).step_by(workload.workers).count();
        tasks.spawn(async move {
            let mut finished = 0u64;
            for _ in 0..share {
                finished += u64::from(store.mark_done(&job, ItemOutcome::Ok).await?.finished());
            }
            anyhow::Ok(finished)
        });
    }
    let mut finishers = 0;
    while let Some(joined) = tasks.join_next().await {
        finishers += joined??;
    }
    let elapsed = started.elapsed();
    let progress = store
        .progress(job)
        .await?
        .context("the bench job is gone")?;
    ensure!(
        finishers == 1 && progress.state == JobState::Done && progress.done == marks,
        "{finishers} calls finished the job, which reads {} with {} of {marks} marks",
        progress.state,
        progress.done
    );
    Ok(elapsed)
}
