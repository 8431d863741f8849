//! Job progress, backend-neutral: how far a long job (a backfill, an import) has come,
//! kept where every worker of the job counts into it. [`JobProgressStore`] is the trait
//! each state engine implements; the types here are what it takes and answers, checked
//! at construction so that no engine ever sees an unbounded or malformed input. The rules
//! every engine follows are in the trait's documentation.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::{StateError, StateErrorKind};

/// The longest job id, in bytes.
pub const MAX_JOB_ID_BYTES: usize = 128;
/// The longest job owner, in bytes.
pub const MAX_JOB_OWNER_BYTES: usize = 128;
/// The longest job kind, in bytes.
pub const MAX_JOB_KIND_BYTES: usize = 64;
/// The longest checkpoint cursor, in bytes (a Microsoft Graph delta link is about 2 KiB).
pub const MAX_JOB_CURSOR_BYTES: usize = 16 * 1024;
/// The longest failure reason kept, in bytes; longer ones are shortened.
pub const MAX_JOB_REASON_BYTES: usize = 1024;
/// The largest total: the largest integer both engines count exactly (Lua numbers are
/// doubles).
pub const MAX_JOB_TOTAL: u64 = (1 << 53) - 1;
/// The longest `stall_after` of a [`JobSpec`].
pub const MAX_STALL_AFTER: Duration = Duration::from_secs(30 * 24 * 3600);
/// The most jobs one [`jobs_of`](JobProgressStore::jobs_of) returns.
pub const MAX_LISTED_JOBS: usize = 1000;

fn invalid(message: String) -> StateError {
    StateError::new(StateErrorKind::InvalidInput, message)
}

/// Checks that `value`, the `field` of a job, is 1 to `max_bytes` bytes of characters
/// `allowed` accepts, which `allowed_text` describes.
fn check_text(
    field: &str,
    value: &str,
    max_bytes: usize,
    allowed: impl Fn(char) -> bool,
    allowed_text: &str,
) -> Result<(), StateError> {
    if value.is_empty() {
        return Err(invalid(format!("invalid {field}: empty")));
    }
    if value.len() > max_bytes {
        return Err(invalid(format!(
            "invalid {field}: {} bytes long; at most {max_bytes} are allowed",
            value.len()
        )));
    }
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(invalid(format!(
            "invalid {field}: holds {c:?}; only {allowed_text} are allowed"
        ))),
        None => Ok(()),
    }
}

/// A job's id: 1 to [`MAX_JOB_ID_BYTES`] of ASCII letters, digits, `.`, `_` and `-` (a
/// UUID fits), so it is safe in every key and header that carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(String);

impl JobId {
    /// `id` as a job id, or [`StateErrorKind::InvalidInput`] saying why not.
    pub fn new(id: impl Into<String>) -> Result<JobId, StateError> {
        let id = id.into();
        check_text(
            "job id",
            &id,
            MAX_JOB_ID_BYTES,
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
            "ASCII letters, digits and `.` `_` `-`",
        )?;
        Ok(JobId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What every engine answers for a call on this job when it holds no such job.
    pub fn not_found(&self) -> StateError {
        StateError::new(StateErrorKind::NotFound, format!("job {self} not found"))
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whose a job is: 1 to [`MAX_JOB_OWNER_BYTES`] without whitespace or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobOwner(String);

impl JobOwner {
    /// `owner` as a job owner, or [`StateErrorKind::InvalidInput`] saying why not.
    pub fn new(owner: impl Into<String>) -> Result<JobOwner, StateError> {
        let owner = owner.into();
        check_text(
            "job owner",
            &owner,
            MAX_JOB_OWNER_BYTES,
            |c| !c.is_whitespace() && !c.is_control(),
            "characters other than whitespace and control characters",
        )?;
        Ok(JobOwner(owner))
    }

    /// The owner as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a new job is: its owner, its kind (`backfill.microsoft`, `import`…) and how long
/// it may go without progress before it reads as stalled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    owner: JobOwner,
    kind: String,
    stall_after: Duration,
}

impl JobSpec {
    /// A spec, or [`StateErrorKind::InvalidInput`] when `kind` is not 1 to
    /// [`MAX_JOB_KIND_BYTES`] of lowercase ASCII letters, digits, `.`, `_` and `-`, or
    /// `stall_after` is under 1 ms or over [`MAX_STALL_AFTER`].
    pub fn new(
        owner: JobOwner,
        kind: impl Into<String>,
        stall_after: Duration,
    ) -> Result<JobSpec, StateError> {
        let kind = kind.into();
        check_text(
            "job kind",
            &kind,
            MAX_JOB_KIND_BYTES,
            |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'),
            "lowercase ASCII letters, digits and `.` `_` `-`",
        )?;
        if stall_after < Duration::from_millis(1) || stall_after > MAX_STALL_AFTER {
            return Err(invalid(format!(
                "invalid stall_after: {} ms; it must be 1 ms to {} days",
                stall_after.as_millis(),
                MAX_STALL_AFTER.as_secs() / 86_400
            )));
        }
        Ok(JobSpec {
            owner,
            kind,
            stall_after,
        })
    }

    /// Whose the job is.
    pub fn owner(&self) -> &JobOwner {
        &self.owner
    }

    /// What kind of job it is.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// How long the job may go without progress before it reads as stalled.
    pub fn stall_after(&self) -> Duration {
        self.stall_after
    }

    /// [`stall_after`](Self::stall_after) in whole milliseconds, as the engines store it.
    pub fn stall_after_ms(&self) -> u64 {
        self.stall_after.as_millis() as u64
    }
}

/// Where a job's runner stands, checkpointed so that it can resume there (a page token, a
/// delta link): 1 to [`MAX_JOB_CURSOR_BYTES`] of text, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobCursor(String);

impl JobCursor {
    /// `cursor` as a cursor, or [`StateErrorKind::InvalidInput`] when empty or too long.
    pub fn new(cursor: impl Into<String>) -> Result<JobCursor, StateError> {
        let cursor = cursor.into();
        check_text(
            "job cursor",
            &cursor,
            MAX_JOB_CURSOR_BYTES,
            |_| true,
            "any characters",
        )?;
        Ok(JobCursor(cursor))
    }

    /// The cursor as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a job failed, as [`fail`](JobProgressStore::fail) records it: the text given,
/// shortened to [`MAX_JOB_REASON_BYTES`] (ending in `…`), or `unspecified` when blank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailureReason(String);

impl JobFailureReason {
    /// The reason `text` gives.
    pub fn new(text: impl Into<String>) -> JobFailureReason {
        const ELLIPSIS: &str = "…";
        let mut text = text.into();
        if text.trim().is_empty() {
            return JobFailureReason("unspecified".to_string());
        }
        if text.len() > MAX_JOB_REASON_BYTES {
            let kept = text.floor_char_boundary(MAX_JOB_REASON_BYTES - ELLIPSIS.len());
            text.truncate(kept);
            text.push_str(ELLIPSIS);
        }
        JobFailureReason(text)
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How one item of a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Handled.
    Ok,
    /// Given up on; the job will finish `failed`.
    Failed,
}

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Counting, with recent progress.
    Running,
    /// Running, but without progress for longer than its `stall_after` (never stored).
    Stalled,
    /// Finished, every item ok.
    Done,
    /// Finished with failed items, or ended by `fail`.
    Failed,
    /// Ended by `cancel`.
    Cancelled,
}

impl JobState {
    /// The state's name: `running`, `stalled`, `done`, `failed` or `cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Stalled => "stalled",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// The state named `name` (see [`as_str`](Self::as_str)).
    pub fn parse(name: &str) -> Option<JobState> {
        [
            JobState::Running,
            JobState::Stalled,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|state| state.as_str() == name)
    }

    /// Whether the job has ended (`done`, `failed`, `cancelled`): nothing changes it any
    /// more but a checkpoint.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one call changing a job did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum JobUpdate {
    /// Applied; the job is still running (or, for `cancel` and `fail`, ended by this call).
    Applied,
    /// Applied, and this call finished the job: done + failed reached the total. Exactly
    /// one call per job gets it.
    Finished,
    /// Not applied: the job had already ended in this state.
    NotRunning(JobState),
}

impl JobUpdate {
    /// Whether this call finished the job.
    pub fn finished(self) -> bool {
        self == JobUpdate::Finished
    }
}

/// A job as [`progress`](JobProgressStore::progress) reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobProgress {
    /// The job.
    pub id: JobId,
    /// Whose it is.
    pub owner: String,
    /// What kind of job it is.
    pub kind: String,
    /// Where it stands (`stalled` derived at read time).
    pub state: JobState,
    /// Why it is `failed` or `stalled`; `None` otherwise.
    pub reason: Option<String>,
    /// How many items it has, once known.
    pub total: Option<u64>,
    /// Items marked ok.
    pub done: u64,
    /// Items marked failed.
    pub failed: u64,
    /// The last checkpointed cursor.
    pub cursor: Option<String>,
    /// When it was created, in ms since the Unix epoch (engine clock).
    pub created_ms: u64,
    /// When it last progressed (created, total set, item marked, checkpointed).
    pub progress_ms: u64,
    /// When it ended, if it has.
    pub finished_ms: Option<u64>,
    /// How long it may go without progress before it reads as stalled.
    pub stall_after: Duration,
}

impl JobProgress {
    /// Items counted so far, ok or failed.
    pub fn counted(&self) -> u64 {
        self.done + self.failed
    }

    /// How far the job is, 0 to 100, once its total is known; a job with a total of 0 is
    /// at 100.
    pub fn percent(&self) -> Option<f64> {
        let total = self.total?;
        if total == 0 {
            return Some(100.0);
        }
        Some((self.counted() as f64 * 100.0 / total as f64).min(100.0))
    }

    /// The job as stored, seen at `now_ms` (engine clock): a running job without progress
    /// for its `stall_after` reads as stalled, and a job that finished with failed items
    /// says how many. Each engine calls it on what it read; it is how the two engines
    /// agree on derived states.
    pub fn seen_at(mut self, now_ms: u64) -> JobProgress {
        match self.state {
            JobState::Running => {
                let idle_ms = now_ms.saturating_sub(self.progress_ms);
                if idle_ms >= self.stall_after.as_millis() as u64 {
                    self.state = JobState::Stalled;
                    self.reason = Some(format!(
                        "no progress for {:.1} s (a job stalls after {:.1} s without progress)",
                        idle_ms as f64 / 1000.0,
                        self.stall_after.as_secs_f64()
                    ));
                }
            }
            // Finished with failed items: only a job with a total finishes by counting.
            JobState::Failed if self.reason.is_none() => {
                if let Some(total) = self.total {
                    self.reason = Some(format!("{} of {total} items failed", self.failed));
                }
            }
            _ => {}
        }
        self
    }
}

/// Job progress on a state engine, which any number of workers call concurrently, from
/// any number of processes sharing the engine.
///
/// # Counting and finishing
/// A job is created by [`init`](JobProgressStore::init), learns its total with
/// [`set_total`](JobProgressStore::set_total) (at any time: before, between or after its
/// items are marked) and counts each item as a worker finishes it
/// ([`mark_done`](JobProgressStore::mark_done) with an [`ItemOutcome`]). The call that
/// finds done + failed at or above a known total *finishes* the job and is told so with
/// [`JobUpdate::Finished`]: exactly one call per job ever is, whatever the number of
/// concurrent workers and whichever of the total and the last mark came last. Every call
/// is one atomic step of its engine (one redb transaction, one Lua script), which is what
/// makes the finisher unique.
///
/// # States
/// - `running`: counting;
/// - `done`: finished with every item ok;
/// - `failed`: finished with at least one failed item (the reason says how many), or ended
///   by [`fail`](JobProgressStore::fail) with its reason;
/// - `cancelled`: ended by [`cancel`](JobProgressStore::cancel);
/// - `stalled`: never stored. A running job whose last progress (its creation, a total, a
///   mark, a checkpoint) is older than the `stall_after` of its [`JobSpec`] reads as
///   stalled, with the reason; its next progress makes it running again.
///
/// `done`, `failed` and `cancelled` are final: a later mark, total, cancel or fail changes
/// nothing and answers [`JobUpdate::NotRunning`] with the state, so workers racing a
/// cancel need no special care. A checkpoint is recorded in any state (a backfill keeps
/// its streaming cursor after the backfill finished).
///
/// # Time
/// Times are milliseconds since the Unix epoch by the engine's clock: this process's for
/// the embedded engine, the Redis server's for Redis, so that all workers of a job agree.
///
/// # Bounds
/// Job ids ([`JobId`]) are 1 to [`MAX_JOB_ID_BYTES`] of ASCII letters, digits, `.`, `_`
/// and `-`; kinds likewise, lowercase, up to [`MAX_JOB_KIND_BYTES`]; owners
/// ([`JobOwner`]) 1 to [`MAX_JOB_OWNER_BYTES`] without whitespace or control characters
/// (callers check their own user-id rule first); cursors ([`JobCursor`]) 1 to
/// [`MAX_JOB_CURSOR_BYTES`]; totals at most [`MAX_JOB_TOTAL`]; `stall_after` from 1 ms to
/// [`MAX_STALL_AFTER`]. Anything else is refused with [`StateErrorKind::InvalidInput`]
/// naming the field. A failure reason is a diagnostic, so it is shortened to
/// [`MAX_JOB_REASON_BYTES`] instead ([`JobFailureReason`]): a long error message must not
/// cost the record of the failure.
#[async_trait]
pub trait JobProgressStore: Send + Sync + 'static {
    /// Creates `job` running, with no total and nothing counted; returns whether this
    /// call created it (an existing job is left as it is).
    async fn init(&self, job: &JobId, spec: &JobSpec) -> Result<bool, StateError>;

    /// Sets (or replaces) the total of a running job; finishes it when the items counted
    /// already reach it.
    async fn set_total(&self, job: &JobId, total: u64) -> Result<JobUpdate, StateError>;

    /// Counts one item of a running job; finishes it when the count reaches the total.
    ///
    /// Not idempotent: an engine never repeats it by itself, so an error after which it
    /// may have been applied (a lost reply) is returned as is, for the caller to judge.
    async fn mark_done(&self, job: &JobId, outcome: ItemOutcome) -> Result<JobUpdate, StateError> {
        self.mark_many(job, outcome, 1).await
    }

    /// Counts `count` items of a running job with the same `outcome` in one step, as
    /// [`mark_done`](Self::mark_done) would one by one (a batch runner counts a page
    /// at once); `count` is at most [`MAX_JOB_TOTAL`]. Not idempotent either.
    async fn mark_many(
        &self,
        job: &JobId,
        outcome: ItemOutcome,
        count: u64,
    ) -> Result<JobUpdate, StateError>;

    /// Records where the job's runner stands (in any state) and counts as progress.
    async fn checkpoint(&self, job: &JobId, cursor: &JobCursor) -> Result<(), StateError>;

    /// Ends a running job as `failed` with `reason`.
    async fn fail(&self, job: &JobId, reason: &JobFailureReason) -> Result<JobUpdate, StateError>;

    /// Ends a running job as `cancelled`.
    async fn cancel(&self, job: &JobId) -> Result<JobUpdate, StateError>;

    /// The job, as [`JobProgress::seen_at`] the engine's time; `None` when unknown.
    async fn progress(&self, job: &JobId) -> Result<Option<JobProgress>, StateError>;

    /// The jobs of `owner`, newest first (ties: greater id first), at most `limit` and
    /// never more than [`MAX_LISTED_JOBS`].
    async fn jobs_of(&self, owner: &JobOwner, limit: usize)
    -> Result<Vec<JobProgress>, StateError>;

    /// Forgets the job; returns whether it existed.
    async fn remove(&self, job: &JobId) -> Result<bool, StateError>;
}

/// Checks that `total` is at most [`MAX_JOB_TOTAL`]; every engine's
/// [`set_total`](JobProgressStore::set_total) calls it first.
pub fn check_job_total(total: u64) -> Result<(), StateError> {
    if total > MAX_JOB_TOTAL {
        return Err(invalid(format!(
            "invalid job total: {total}; at most {MAX_JOB_TOTAL} is allowed"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `result` is refused as invalid input with a message starting `message`.
    fn check_invalid<T: fmt::Debug>(result: Result<T, StateError>, message: &str) {
        let err = result.expect_err(message);
        assert_eq!(err.kind(), StateErrorKind::InvalidInput, "{err}");
        assert!(!err.is_retryable());
        assert!(err.to_string().starts_with(message), "{err}");
    }

    fn owner() -> JobOwner {
        JobOwner::new("alice@example.com").unwrap()
    }

    #[test]
    fn job_ids_are_bounded_key_safe_text() {
        for good in ["0190f3c2-7d7e-7c4a-9d5e-1a2b3c4d5e6f", "a", "job_1.2"] {
            assert_eq!(JobId::new(good).unwrap().as_str(), good);
        }
        assert_eq!(
            JobId::new("x".repeat(MAX_JOB_ID_BYTES))
                .unwrap()
                .as_str()
                .len(),
            MAX_JOB_ID_BYTES
        );
        check_invalid(JobId::new(""), "invalid job id: empty");
        check_invalid(
            JobId::new("x".repeat(MAX_JOB_ID_BYTES + 1)),
            "invalid job id: 129 bytes long; at most 128 are allowed",
        );
        check_invalid(JobId::new("a:b"), "invalid job id: holds ':'");
        check_invalid(JobId::new("a b"), "invalid job id: holds ' '");
        check_invalid(JobId::new("jöb"), "invalid job id: holds 'ö'");
    }

    #[test]
    fn owners_kinds_and_stall_times_are_bounded() {
        assert_eq!(owner().as_str(), "alice@example.com");
        check_invalid(JobOwner::new(""), "invalid job owner: empty");
        check_invalid(JobOwner::new("a b"), "invalid job owner: holds ' '");
        check_invalid(JobOwner::new("a\u{0}"), "invalid job owner: holds '\\0'");
        check_invalid(
            JobOwner::new("u".repeat(MAX_JOB_OWNER_BYTES + 1)),
            "invalid job owner: 129 bytes long",
        );
        let spec = JobSpec::new(owner(), "backfill.microsoft", Duration::from_secs(300)).unwrap();
        assert_eq!(spec.kind(), "backfill.microsoft");
        assert_eq!(spec.stall_after_ms(), 300_000);
        check_invalid(
            JobSpec::new(owner(), "Backfill", Duration::from_secs(1)),
            "invalid job kind: holds 'B'",
        );
        check_invalid(
            JobSpec::new(owner(), "", Duration::from_secs(1)),
            "invalid job kind: empty",
        );
        check_invalid(
            JobSpec::new(owner(), "import", Duration::from_micros(999)),
            "invalid stall_after: 0 ms; it must be 1 ms to 30 days",
        );
        check_invalid(
            JobSpec::new(
                owner(),
                "import",
                MAX_STALL_AFTER + Duration::from_millis(1),
            ),
            "invalid stall_after: 2592000001 ms",
        );
        check_invalid(check_job_total(MAX_JOB_TOTAL + 1), "invalid job total: ");
        assert!(check_job_total(MAX_JOB_TOTAL).is_ok());
    }

    #[test]
    fn cursors_are_bounded_and_reasons_shortened() {
        let cursor = "c".repeat(MAX_JOB_CURSOR_BYTES);
        assert_eq!(JobCursor::new(cursor.clone()).unwrap().as_str(), cursor);
        check_invalid(JobCursor::new(""), "invalid job cursor: empty");
        check_invalid(
            JobCursor::new(cursor + "c"),
            "invalid job cursor: 16385 bytes long",
        );
        assert_eq!(
            JobFailureReason::new("token revoked").as_str(),
            "token revoked"
        );
        assert_eq!(JobFailureReason::new(" \n").as_str(), "unspecified");
        // Multi-byte characters across the cut are never split.
        let long = JobFailureReason::new("é".repeat(MAX_JOB_REASON_BYTES));
        assert!(long.as_str().len() <= MAX_JOB_REASON_BYTES);
        assert!(long.as_str().ends_with("é…"), "{}", long.as_str());
    }

    #[test]
    fn states_round_trip_their_names() {
        for state in [
            JobState::Running,
            JobState::Stalled,
            JobState::Done,
            JobState::Failed,
            JobState::Cancelled,
        ] {
            assert_eq!(JobState::parse(state.as_str()), Some(state));
            assert_eq!(
                state.is_final(),
                !matches!(state, JobState::Running | JobState::Stalled)
            );
        }
        assert_eq!(JobState::parse("paused"), None);
    }

    fn stored(state: JobState, total: Option<u64>, done: u64, failed: u64) -> JobProgress {
        JobProgress {
            id: JobId::new("j").unwrap(),
            owner: "alice".to_string(),
            kind: "import".to_string(),
            state,
            reason: None,
            total,
            done,
            failed,
            cursor: None,
            created_ms: 1_000,
            progress_ms: 2_000,
            finished_ms: None,
            stall_after: Duration::from_secs(10),
        }
    }

    /// Checks the state, reason and percent a stored job reads as at `now_ms`.
    fn check(
        stored: JobProgress,
        now_ms: u64,
        state: JobState,
        reason: Option<&str>,
        percent: Option<f64>,
    ) {
        let seen = stored.seen_at(now_ms);
        assert_eq!(seen.state, state);
        assert_eq!(seen.reason.as_deref(), reason);
        assert_eq!(seen.percent(), percent);
    }

    #[test]
    fn reading_derives_stalls_failure_reasons_and_percent() {
        check(
            stored(JobState::Running, None, 3, 0),
            11_999,
            JobState::Running,
            None,
            None,
        );
        check(
            stored(JobState::Running, Some(8), 1, 1),
            12_000,
            JobState::Stalled,
            Some("no progress for 10.0 s (a job stalls after 10.0 s without progress)"),
            Some(25.0),
        );
        check(
            stored(JobState::Failed, Some(4), 3, 1),
            99_000,
            JobState::Failed,
            Some("1 of 4 items failed"),
            Some(100.0),
        );
        let mut ended = stored(JobState::Failed, None, 0, 0);
        ended.reason = Some("token revoked".to_string());
        check(ended, 0, JobState::Failed, Some("token revoked"), None);
        check(
            stored(JobState::Done, Some(0), 0, 0),
            99_000,
            JobState::Done,
            None,
            Some(100.0),
        );
        // A total set below what was counted caps at 100.
        check(
            stored(JobState::Done, Some(2), 3, 0),
            0,
            JobState::Done,
            None,
            Some(100.0),
        );
        check(
            stored(JobState::Cancelled, Some(3), 1, 0),
            99_000,
            JobState::Cancelled,
            None,
            Some(100.0 / 3.0),
        );
    }
}
