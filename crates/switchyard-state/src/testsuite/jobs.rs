//! The job progress conformance suite: named checks every [`JobProgressStore`] must pass,
//! among them 1 000 concurrent workers marking one job (exactly one finisher, exact
//! counts) and a total arriving while the marks do.
//!
//! Job ids and owners carry a prefix unique to the run, and every check removes the jobs
//! it made, so the suite runs safely against a shared server and leaves nothing behind
//! when it passes. Stalling is real time (a backend's clock is not ours to pause): the
//! stall time is two seconds (a read right after progress must not find the job stalled,
//! even on a machine busy with the whole workspace's tests) and the wait a little longer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};

use crate::{
    ItemOutcome, JobCursor, JobFailureReason, JobId, JobOwner, JobProgress, JobProgressStore,
    JobSpec, JobState, JobUpdate, MAX_JOB_CURSOR_BYTES, MAX_JOB_REASON_BYTES, MAX_JOB_TOTAL,
    StateErrorKind,
};

/// Workers of the concurrent checks, each marking one item.
const WORKERS: u64 = 1_000;
/// The stall time of the stalling check: long enough that a read right after progress
/// never finds the job stalled on a loaded machine.
const BRIEF_STALL: Duration = Duration::from_secs(2);
/// How long the stalling check waits for [`BRIEF_STALL`] to pass.
const STALL_WAIT: Duration = Duration::from_millis(2200);
/// The stall time of every other check, which must never stall.
const LONG_STALL: Duration = Duration::from_secs(3600);

/// Runs every check against `store`; the error names the check that failed.
pub async fn job_conformance_suite(store: Arc<dyn JobProgressStore>) -> anyhow::Result<()> {
    let run = Run {
        prefix: format!("conformance-{}", uuid::Uuid::now_v7().simple()),
    };
    let shared = store.clone();
    let store = store.as_ref();
    init_reads_running_with_its_spec(store, &run)
        .await
        .context("init_reads_running_with_its_spec")?;
    marks_count_until_the_total_finishes(store, &run)
        .await
        .context("marks_count_until_the_total_finishes")?;
    a_total_set_after_the_marks_finishes(store, &run)
        .await
        .context("a_total_set_after_the_marks_finishes")?;
    pages_of_marks_count_at_once(store, &run)
        .await
        .context("pages_of_marks_count_at_once")?;
    concurrent_marks_have_exactly_one_finisher(shared.clone(), &run)
        .await
        .context("concurrent_marks_have_exactly_one_finisher")?;
    a_total_racing_concurrent_marks_has_exactly_one_finisher(shared.clone(), &run)
        .await
        .context("a_total_racing_concurrent_marks_has_exactly_one_finisher")?;
    cancel_and_fail_end_a_running_job_for_good(store, &run)
        .await
        .context("cancel_and_fail_end_a_running_job_for_good")?;
    checkpoints_keep_the_latest_cursor(store, &run)
        .await
        .context("checkpoints_keep_the_latest_cursor")?;
    a_job_without_progress_reads_stalled(store, &run)
        .await
        .context("a_job_without_progress_reads_stalled")?;
    jobs_of_lists_an_owners_jobs_newest_first(store, &run)
        .await
        .context("jobs_of_lists_an_owners_jobs_newest_first")?;
    remove_forgets_a_job(store, &run)
        .await
        .context("remove_forgets_a_job")?;
    calls_on_a_missing_job_are_not_found(store, &run)
        .await
        .context("calls_on_a_missing_job_are_not_found")?;
    Ok(())
}

/// Names the jobs and owners of one suite run.
struct Run {
    prefix: String,
}

impl Run {
    fn job(&self, name: &str) -> JobId {
        JobId::new(format!("{}-{name}", self.prefix)).expect("suite job ids are valid")
    }

    fn owner(&self, name: &str) -> JobOwner {
        JobOwner::new(format!("{}-{name}@example.com", self.prefix))
            .expect("suite owners are valid")
    }

    fn spec(&self, owner: &str, stall_after: Duration) -> JobSpec {
        JobSpec::new(self.owner(owner), "conformance", stall_after).expect("suite specs are valid")
    }
}

/// The job, which must exist.
async fn read_job(store: &dyn JobProgressStore, job: &JobId) -> anyhow::Result<JobProgress> {
    store
        .progress(job)
        .await?
        .with_context(|| format!("job {job} does not read"))
}

/// Creates `job` with the spec of `owner`, which must be new.
async fn create(
    store: &dyn JobProgressStore,
    run: &Run,
    job: &JobId,
    owner: &str,
) -> anyhow::Result<()> {
    ensure!(
        store.init(job, &run.spec(owner, LONG_STALL)).await?,
        "init of the new job {job} answered that it existed"
    );
    Ok(())
}

/// Removes the jobs a check made, which must exist.
async fn remove_all(store: &dyn JobProgressStore, jobs: &[&JobId]) -> anyhow::Result<()> {
    for job in jobs {
        ensure!(store.remove(job).await?, "cleanup: job {job} was gone");
    }
    Ok(())
}

/// Checks the state, total and counts of `job`.
async fn check_counts(
    store: &dyn JobProgressStore,
    job: &JobId,
    state: JobState,
    total: Option<u64>,
    done: u64,
    failed: u64,
) -> anyhow::Result<JobProgress> {
    let read = read_job(store, job).await?;
    ensure!(
        (read.state, read.total, read.done, read.failed) == (state, total, done, failed),
        "job {job} reads {} total {:?} done {} failed {}, not {state} total {total:?} done {done} failed {failed}",
        read.state,
        read.total,
        read.done,
        read.failed
    );
    Ok(read)
}

async fn init_reads_running_with_its_spec(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("init");
    create(store, run, &job, "init").await?;
    let first = check_counts(store, &job, JobState::Running, None, 0, 0).await?;
    ensure!(first.id == job, "the job reads as {}", first.id);
    ensure!(
        first.owner == run.owner("init").as_str() && first.kind == "conformance",
        "owner {:?} and kind {:?} are not the spec's",
        first.owner,
        first.kind
    );
    ensure!(
        first.stall_after == LONG_STALL,
        "stall_after reads {:?}",
        first.stall_after
    );
    ensure!(
        first.created_ms > 0 && first.progress_ms == first.created_ms,
        "created {} and progressed {} differ",
        first.created_ms,
        first.progress_ms
    );
    ensure!(
        first.percent().is_none() && first.reason.is_none() && first.cursor.is_none(),
        "a new job has a percent, reason or cursor: {first:?}"
    );
    ensure!(first.finished_ms.is_none(), "a new job has finished");
    // A second init, even with another spec, leaves the job as it is.
    let other = JobSpec::new(run.owner("other"), "other", Duration::from_secs(1))?;
    ensure!(
        !store.init(&job, &other).await?,
        "a second init answered that it created the job"
    );
    let again = read_job(store, &job).await?;
    ensure!(again == first, "a second init changed the job: {again:?}");
    remove_all(store, &[&job]).await
}

async fn marks_count_until_the_total_finishes(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("counts");
    create(store, run, &job, "counts").await?;
    let update = store.set_total(&job, 3).await?;
    ensure!(
        update == JobUpdate::Applied,
        "set_total answered {update:?}"
    );
    ensure!(
        read_job(store, &job).await?.percent() == Some(0.0),
        "percent before any mark"
    );
    for (outcome, expected) in [
        (ItemOutcome::Ok, JobUpdate::Applied),
        (ItemOutcome::Failed, JobUpdate::Applied),
        (ItemOutcome::Ok, JobUpdate::Finished),
    ] {
        let update = store.mark_done(&job, outcome).await?;
        ensure!(
            update == expected,
            "mark_done({outcome:?}) answered {update:?}, not {expected:?}"
        );
    }
    let finished = check_counts(store, &job, JobState::Failed, Some(3), 2, 1).await?;
    ensure!(
        finished.reason.as_deref() == Some("1 of 3 items failed"),
        "reason {:?}",
        finished.reason
    );
    ensure!(
        finished.percent() == Some(100.0),
        "percent of a finished job"
    );
    ensure!(finished.finished_ms.is_some(), "no finish time");
    // A final job takes nothing more, and says why.
    let not_running = JobUpdate::NotRunning(JobState::Failed);
    for (call, update) in [
        ("mark_done", store.mark_done(&job, ItemOutcome::Ok).await?),
        ("set_total", store.set_total(&job, 10).await?),
        ("cancel", store.cancel(&job).await?),
        (
            "fail",
            store.fail(&job, &JobFailureReason::new("late")).await?,
        ),
    ] {
        ensure!(
            update == not_running,
            "{call} on a finished job answered {update:?}"
        );
    }
    let after = check_counts(store, &job, JobState::Failed, Some(3), 2, 1).await?;
    ensure!(after.reason == finished.reason, "the reason changed");

    let clean = run.job("counts-ok");
    create(store, run, &clean, "counts").await?;
    ensure!(
        store.set_total(&clean, 2).await? == JobUpdate::Applied,
        "set_total"
    );
    ensure!(
        store.mark_done(&clean, ItemOutcome::Ok).await? == JobUpdate::Applied,
        "first mark"
    );
    let halfway = read_job(store, &clean).await?;
    ensure!(
        halfway.percent() == Some(50.0),
        "percent {:?}",
        halfway.percent()
    );
    ensure!(
        store.mark_done(&clean, ItemOutcome::Ok).await? == JobUpdate::Finished,
        "last mark"
    );
    let done = check_counts(store, &clean, JobState::Done, Some(2), 2, 0).await?;
    ensure!(
        done.reason.is_none(),
        "a clean job has a reason: {:?}",
        done.reason
    );
    remove_all(store, &[&job, &clean]).await
}

/// `mark_many` counts a page of items in one step, finishing the job exactly when the
/// count reaches the total, and refuses a count over the largest total.
async fn pages_of_marks_count_at_once(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("pages");
    create(store, run, &job, "pages").await?;
    ensure!(
        store.set_total(&job, 250).await? == JobUpdate::Applied,
        "set_total"
    );
    for (outcome, count, expected) in [
        (ItemOutcome::Ok, 100, JobUpdate::Applied),
        (ItemOutcome::Failed, 2, JobUpdate::Applied),
        (ItemOutcome::Ok, 0, JobUpdate::Applied),
        (ItemOutcome::Ok, 148, JobUpdate::Finished),
        (ItemOutcome::Ok, 1, JobUpdate::NotRunning(JobState::Failed)),
    ] {
        let update = store.mark_many(&job, outcome, count).await?;
        ensure!(
            update == expected,
            "mark_many({outcome:?}, {count}) answered {update:?}, not {expected:?}"
        );
    }
    check_counts(store, &job, JobState::Failed, Some(250), 248, 2).await?;
    let too_many = store
        .mark_many(&job, ItemOutcome::Ok, MAX_JOB_TOTAL + 1)
        .await;
    ensure!(
        matches!(&too_many, Err(err) if err.kind() == StateErrorKind::InvalidInput),
        "a count over the largest total answered {too_many:?}"
    );
    remove_all(store, &[&job]).await
}

async fn a_total_set_after_the_marks_finishes(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    // Every mark first: the total finishes the job.
    let late = run.job("late-total");
    create(store, run, &late, "late").await?;
    for _ in 0..3 {
        let update = store.mark_done(&late, ItemOutcome::Ok).await?;
        ensure!(
            update == JobUpdate::Applied,
            "a mark without a total answered {update:?}"
        );
    }
    check_counts(store, &late, JobState::Running, None, 3, 0).await?;
    let update = store.set_total(&late, 3).await?;
    ensure!(
        update == JobUpdate::Finished,
        "the total reached by the marks answered {update:?}"
    );
    check_counts(store, &late, JobState::Done, Some(3), 3, 0).await?;

    // A total above the count waits; replaced by one below it, it finishes at 100 %.
    let lowered = run.job("lowered-total");
    create(store, run, &lowered, "late").await?;
    for _ in 0..3 {
        let _ = store.mark_done(&lowered, ItemOutcome::Ok).await?;
    }
    ensure!(
        store.set_total(&lowered, 5).await? == JobUpdate::Applied,
        "a total above the count finished the job"
    );
    ensure!(
        store.set_total(&lowered, 2).await? == JobUpdate::Finished,
        "a total below the count did not finish the job"
    );
    let read = check_counts(store, &lowered, JobState::Done, Some(2), 3, 0).await?;
    ensure!(
        read.percent() == Some(100.0),
        "percent {:?}",
        read.percent()
    );

    // A job of nothing finishes with its total.
    let empty = run.job("empty");
    create(store, run, &empty, "late").await?;
    ensure!(
        store.set_total(&empty, 0).await? == JobUpdate::Finished,
        "a total of 0 did not finish the job"
    );
    check_counts(store, &empty, JobState::Done, Some(0), 0, 0).await?;
    remove_all(store, &[&late, &lowered, &empty]).await
}

/// Tallies what the calls of one concurrent check answered.
#[derive(Debug, Default)]
struct Answers {
    applied: u64,
    finished: u64,
    not_running: u64,
}

impl Answers {
    fn add(&mut self, update: JobUpdate) {
        match update {
            JobUpdate::Applied => self.applied += 1,
            JobUpdate::Finished => self.finished += 1,
            JobUpdate::NotRunning(_) => self.not_running += 1,
        }
    }
}

/// The answers of concurrent calls on one job.
type Calls = tokio::task::JoinSet<Result<JobUpdate, crate::StateError>>;

/// Starts `workers` tasks in `calls`, each marking one item of `job`: every tenth failed
/// when `with_failures`, else ok.
fn spawn_workers(
    store: &Arc<dyn JobProgressStore>,
    job: &JobId,
    workers: u64,
    with_failures: bool,
    calls: &mut Calls,
) {
    for worker in 0..workers {
        let (store, job) = (store.clone(), job.clone());
        let outcome = if with_failures && worker % 10 == 0 {
            ItemOutcome::Failed
        } else {
            ItemOutcome::Ok
        };
        calls.spawn(async move { store.mark_done(&job, outcome).await });
    }
}

/// Waits for every call of `calls`, adding their answers to `answers`.
async fn tally(mut calls: Calls, answers: &mut Answers) -> anyhow::Result<()> {
    while let Some(joined) = calls.join_next().await {
        answers.add(joined.context("a worker task failed")??);
    }
    Ok(())
}

async fn concurrent_marks_have_exactly_one_finisher(
    store: Arc<dyn JobProgressStore>,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("workers");
    create(store.as_ref(), run, &job, "workers").await?;
    ensure!(
        store.set_total(&job, WORKERS).await? == JobUpdate::Applied,
        "set_total"
    );
    let mut calls = Calls::new();
    spawn_workers(&store, &job, WORKERS, true, &mut calls);
    let mut answers = Answers::default();
    tally(calls, &mut answers).await?;
    ensure!(
        answers.finished == 1 && answers.applied == WORKERS - 1 && answers.not_running == 0,
        "{WORKERS} concurrent marks answered {answers:?}, not exactly one finisher"
    );
    let failed = WORKERS / 10;
    check_counts(
        store.as_ref(),
        &job,
        JobState::Failed,
        Some(WORKERS),
        WORKERS - failed,
        failed,
    )
    .await?;
    remove_all(store.as_ref(), &[&job]).await
}

async fn a_total_racing_concurrent_marks_has_exactly_one_finisher(
    store: Arc<dyn JobProgressStore>,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("racing-total");
    create(store.as_ref(), run, &job, "workers").await?;
    // Half the workers mark first; then the total is set while the other half mark, so
    // that it lands among calls in flight, and whichever call brings the count to it
    // finishes the job.
    let first_half = WORKERS / 2;
    let mut answers = Answers::default();
    let mut calls = Calls::new();
    spawn_workers(&store, &job, first_half, false, &mut calls);
    tally(calls, &mut answers).await?;
    let mut calls = Calls::new();
    spawn_workers(&store, &job, (WORKERS - first_half) / 2, false, &mut calls);
    let (total_store, total_job) = (store.clone(), job.clone());
    calls.spawn(async move { total_store.set_total(&total_job, WORKERS).await });
    spawn_workers(
        &store,
        &job,
        WORKERS - first_half - (WORKERS - first_half) / 2,
        false,
        &mut calls,
    );
    tally(calls, &mut answers).await?;
    ensure!(
        answers.finished == 1 && answers.applied == WORKERS && answers.not_running == 0,
        "{WORKERS} marks and a total racing them answered {answers:?}, not exactly one finisher"
    );
    check_counts(
        store.as_ref(),
        &job,
        JobState::Done,
        Some(WORKERS),
        WORKERS,
        0,
    )
    .await?;
    remove_all(store.as_ref(), &[&job]).await
}

async fn cancel_and_fail_end_a_running_job_for_good(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let cancelled = run.job("cancelled");
    create(store, run, &cancelled, "ended").await?;
    let _ = store.set_total(&cancelled, 5).await?;
    let _ = store.mark_done(&cancelled, ItemOutcome::Ok).await?;
    ensure!(
        store.cancel(&cancelled).await? == JobUpdate::Applied,
        "cancel of a running job"
    );
    let read = check_counts(store, &cancelled, JobState::Cancelled, Some(5), 1, 0).await?;
    ensure!(
        read.finished_ms.is_some(),
        "a cancelled job has no end time"
    );
    ensure!(read.reason.is_none(), "a cancelled job has a reason");
    let not_running = JobUpdate::NotRunning(JobState::Cancelled);
    for (call, update) in [
        (
            "mark_done",
            store.mark_done(&cancelled, ItemOutcome::Ok).await?,
        ),
        ("set_total", store.set_total(&cancelled, 1).await?),
        ("cancel", store.cancel(&cancelled).await?),
        (
            "fail",
            store
                .fail(&cancelled, &JobFailureReason::new("late"))
                .await?,
        ),
    ] {
        ensure!(
            update == not_running,
            "{call} on a cancelled job answered {update:?}"
        );
    }
    check_counts(store, &cancelled, JobState::Cancelled, Some(5), 1, 0).await?;

    let failed = run.job("failed");
    create(store, run, &failed, "ended").await?;
    let reason = JobFailureReason::new("needs_reauth: invalid_grant");
    ensure!(
        store.fail(&failed, &reason).await? == JobUpdate::Applied,
        "fail of a running job"
    );
    let read = check_counts(store, &failed, JobState::Failed, None, 0, 0).await?;
    ensure!(
        read.reason.as_deref() == Some(reason.as_str()),
        "reason {:?}",
        read.reason
    );
    ensure!(
        store.mark_done(&failed, ItemOutcome::Ok).await? == JobUpdate::NotRunning(JobState::Failed),
        "a mark after fail was taken"
    );

    // The longest reason is kept whole.
    let long = run.job("long-reason");
    create(store, run, &long, "ended").await?;
    let reason = JobFailureReason::new("é".repeat(MAX_JOB_REASON_BYTES));
    let _ = store.fail(&long, &reason).await?;
    let kept = read_job(store, &long).await?.reason;
    ensure!(
        kept.as_deref() == Some(reason.as_str()),
        "a reason of {} bytes read back as {:?} bytes",
        reason.as_str().len(),
        kept.map(|reason| reason.len())
    );
    remove_all(store, &[&cancelled, &failed, &long]).await
}

async fn checkpoints_keep_the_latest_cursor(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("cursor");
    create(store, run, &job, "cursor").await?;
    let created = read_job(store, &job).await?.created_ms;
    for cursor in [
        "page-1",
        "https://graph.example/delta?$deltatoken=ÆØÅ&x='\"'",
    ] {
        store.checkpoint(&job, &JobCursor::new(cursor)?).await?;
        let read = read_job(store, &job).await?;
        ensure!(
            read.cursor.as_deref() == Some(cursor),
            "cursor {:?}, not {cursor:?}",
            read.cursor
        );
        ensure!(
            read.progress_ms >= created,
            "a checkpoint moved progress back"
        );
    }
    // The largest cursor, and a checkpoint after the job finished: a backfill keeps its
    // streaming cursor there.
    let _ = store.set_total(&job, 0).await?;
    let largest = "c".repeat(MAX_JOB_CURSOR_BYTES);
    store
        .checkpoint(&job, &JobCursor::new(largest.clone())?)
        .await?;
    let read = check_counts(store, &job, JobState::Done, Some(0), 0, 0).await?;
    ensure!(
        read.cursor.as_deref() == Some(largest.as_str()),
        "the largest cursor did not read back"
    );
    remove_all(store, &[&job]).await
}

async fn a_job_without_progress_reads_stalled(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("stalling");
    ensure!(
        store.init(&job, &run.spec("stall", BRIEF_STALL)).await?,
        "init"
    );
    ensure!(
        read_job(store, &job).await?.state == JobState::Running,
        "a new job reads stalled"
    );
    tokio::time::sleep(STALL_WAIT).await;
    let stalled = read_job(store, &job).await?;
    ensure!(
        stalled.state == JobState::Stalled,
        "a job idle for {STALL_WAIT:?} reads {}",
        stalled.state
    );
    ensure!(
        stalled
            .reason
            .as_deref()
            .is_some_and(|reason| reason.starts_with("no progress for ")),
        "reason {:?}",
        stalled.reason
    );
    // Progress makes it running again; a stalled job is still running underneath.
    ensure!(
        store.set_total(&job, 1).await? == JobUpdate::Applied,
        "set_total on a stalled job"
    );
    let resumed = read_job(store, &job).await?;
    ensure!(
        resumed.state == JobState::Running && resumed.reason.is_none(),
        "after progress the job reads {} ({:?})",
        resumed.state,
        resumed.reason
    );
    tokio::time::sleep(STALL_WAIT).await;
    ensure!(
        store.mark_done(&job, ItemOutcome::Ok).await? == JobUpdate::Finished,
        "the last mark on a stalled job"
    );
    // A finished job never stalls.
    tokio::time::sleep(STALL_WAIT).await;
    check_counts(store, &job, JobState::Done, Some(1), 1, 0).await?;
    remove_all(store, &[&job]).await
}

async fn jobs_of_lists_an_owners_jobs_newest_first(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let jobs: Vec<JobId> = (1..=3).map(|n| run.job(&format!("listed-{n}"))).collect();
    for job in &jobs {
        create(store, run, job, "lister").await?;
        // Distinct creation times, so that the order is by time alone.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let theirs = run.job("listed-other");
    create(store, run, &theirs, "someone-else").await?;
    let ids = |listed: Vec<JobProgress>| listed.into_iter().map(|job| job.id).collect::<Vec<_>>();
    let newest_first: Vec<JobId> = jobs.iter().rev().cloned().collect();
    let listed = store.jobs_of(&run.owner("lister"), 10).await?;
    ensure!(
        listed
            .iter()
            .all(|job| job.owner == run.owner("lister").as_str()),
        "another owner's job is listed"
    );
    let first = listed.first().cloned();
    ensure!(
        ids(listed) == newest_first,
        "jobs_of did not list newest first"
    );
    ensure!(
        first == Some(read_job(store, &jobs[2]).await?),
        "a listed job differs from its progress"
    );
    let limited = ids(store.jobs_of(&run.owner("lister"), 2).await?);
    ensure!(limited == newest_first[..2], "limit 2 listed {limited:?}");
    ensure!(
        store.jobs_of(&run.owner("lister"), 0).await?.is_empty(),
        "limit 0 listed jobs"
    );
    ensure!(
        ids(store.jobs_of(&run.owner("someone-else"), 10).await?) == [theirs.clone()],
        "the other owner's listing"
    );
    ensure!(
        store.jobs_of(&run.owner("nobody"), 10).await?.is_empty(),
        "an owner without jobs has some"
    );
    remove_all(store, &[&jobs[0], &jobs[1], &jobs[2], &theirs]).await
}

async fn remove_forgets_a_job(store: &dyn JobProgressStore, run: &Run) -> anyhow::Result<()> {
    let job = run.job("removed");
    create(store, run, &job, "remover").await?;
    store.checkpoint(&job, &JobCursor::new("page-9")?).await?;
    ensure!(store.remove(&job).await?, "remove of an existing job");
    ensure!(store.progress(&job).await?.is_none(), "a removed job reads");
    ensure!(
        store.jobs_of(&run.owner("remover"), 10).await?.is_empty(),
        "a removed job is listed"
    );
    ensure!(!store.remove(&job).await?, "a second remove found the job");
    // Its id can be used again, from scratch.
    create(store, run, &job, "remover").await?;
    let fresh = check_counts(store, &job, JobState::Running, None, 0, 0).await?;
    ensure!(
        fresh.cursor.is_none(),
        "a recreated job kept the old cursor"
    );
    remove_all(store, &[&job]).await
}

async fn calls_on_a_missing_job_are_not_found(
    store: &dyn JobProgressStore,
    run: &Run,
) -> anyhow::Result<()> {
    let job = run.job("never-created");
    let cursor = JobCursor::new("page-1")?;
    let reason = JobFailureReason::new("no");
    let results = [
        ("set_total", store.set_total(&job, 1).await.map(|_| ())),
        (
            "mark_done",
            store.mark_done(&job, ItemOutcome::Ok).await.map(|_| ()),
        ),
        ("checkpoint", store.checkpoint(&job, &cursor).await),
        ("fail", store.fail(&job, &reason).await.map(|_| ())),
        ("cancel", store.cancel(&job).await.map(|_| ())),
    ];
    for (call, result) in results {
        let err = result
            .err()
            .with_context(|| format!("{call} on a missing job succeeded"))?;
        ensure!(
            err.kind() == StateErrorKind::NotFound && !err.is_retryable(),
            "{call} on a missing job failed with {:?}: {err}",
            err.kind()
        );
        ensure!(
            err.to_string() == format!("job {job} not found"),
            "{call}: {err}"
        );
    }
    ensure!(store.progress(&job).await?.is_none(), "a missing job reads");
    ensure!(
        !store.remove(&job).await?,
        "remove found a job never created"
    );
    Ok(())
}
