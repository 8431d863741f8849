//! Job progress on the embedded engine: [`JobProgressStore`] for [`EmbeddedState`], each
//! call one redb transaction of `state.redb`. redb runs one write transaction at a time,
//! so exactly one transaction sees a job's count reach its total: that is the finisher.
//!
//! # Layout (a durable format)
//! - table `jobs`: job id → record (below);
//! - table `jobs_by_owner`: (owner, created_ms, job id) → (), the index `jobs_of` reads
//!   backwards, written in the same transaction as the record.
//!
//! A record, format version 1; integers are big-endian:
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 1 | format version: 1 |
//! | 1 | 1 | state: 0 running, 1 done, 2 failed, 3 cancelled |
//! | 2 | 8 | `created_ms` |
//! | 10 | 8 | `progress_ms` |
//! | 18 | 8 | `finished_ms`; 0 while running |
//! | 26 | 8 | `stall_after_ms` |
//! | 34 | 8 | total; `u64::MAX` while unknown |
//! | 42 | 8 | done |
//! | 50 | 8 | failed |
//! | 58 | … | owner, kind, reason, cursor: each a u32 length, then that many bytes of UTF-8; a length of 0 is none (a reason and a cursor are never empty) |
//!
//! `stalled` is never stored: it is read from `progress_ms` ([`JobProgress::seen_at`]).
//!
//! # Durability and recovery
//! Every change commits durably (fsync), each mark included, so the counts survive a
//! crash exactly. A record that does not parse, or of another format version, reads as
//! [`StateErrorKind::Corrupt`] naming the job and is never rewritten; a later format gets
//! a new version byte and goes on reading version 1.

use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{EmbeddedState, now_ms, write_txn};
use crate::{
    ItemOutcome, JobCursor, JobFailureReason, JobId, JobOwner, JobProgress, JobProgressStore,
    JobSpec, JobState, JobUpdate, MAX_LISTED_JOBS, StateError, StateErrorKind, check_job_total,
};

pub(super) const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");
pub(super) const JOBS_BY_OWNER: TableDefinition<(&str, u64, &str), ()> =
    TableDefinition::new("jobs_by_owner");

const FORMAT_VERSION: u8 = 1;
const TOTAL_UNKNOWN: u64 = u64::MAX;
/// Greater than every job id (ids are ASCII letters, digits, `.`, `_`, `-`), so
/// `(owner, u64::MAX, ID_CEILING)` bounds an owner's index entries from above.
const ID_CEILING: &str = "~";

fn write_failed(err: impl std::fmt::Display) -> StateError {
    StateError::new(
        StateErrorKind::Unavailable,
        format!("failed to write job progress: {err}"),
    )
}

fn read_failed(err: impl std::fmt::Display) -> StateError {
    StateError::new(
        StateErrorKind::Unavailable,
        format!("failed to read job progress: {err}"),
    )
}

fn state_code(state: JobState) -> u8 {
    match state {
        // Stalled is never stored: a stalled job is a running one.
        JobState::Running | JobState::Stalled => 0,
        JobState::Done => 1,
        JobState::Failed => 2,
        JobState::Cancelled => 3,
    }
}

fn encode(job: &JobProgress) -> Vec<u8> {
    let texts = [
        job.owner.as_str(),
        job.kind.as_str(),
        job.reason.as_deref().unwrap_or_default(),
        job.cursor.as_deref().unwrap_or_default(),
    ];
    let mut record =
        Vec::with_capacity(58 + 16 + texts.iter().map(|text| text.len()).sum::<usize>());
    record.push(FORMAT_VERSION);
    record.push(state_code(job.state));
    for number in [
        job.created_ms,
        job.progress_ms,
        job.finished_ms.unwrap_or(0),
        job.stall_after.as_millis() as u64,
        job.total.unwrap_or(TOTAL_UNKNOWN),
        job.done,
        job.failed,
    ] {
        record.extend_from_slice(&number.to_be_bytes());
    }
    for text in texts {
        record.extend_from_slice(&(text.len() as u32).to_be_bytes());
        record.extend_from_slice(text.as_bytes());
    }
    record
}

/// Reads a record front to back; `None` once it runs short or holds a bad value.
struct RecordReader<'a>(&'a [u8]);

impl RecordReader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(*first)
    }

    fn u64(&mut self) -> Option<u64> {
        let (number, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(u64::from_be_bytes(*number))
    }

    /// A length-prefixed text; `None` inside for a length of 0.
    fn text(&mut self) -> Option<Option<String>> {
        let (length, rest) = self.0.split_first_chunk::<4>()?;
        let length = u32::from_be_bytes(*length) as usize;
        let text = rest.get(..length)?;
        self.0 = &rest[length..];
        let text = std::str::from_utf8(text).ok()?;
        Some((!text.is_empty()).then(|| text.to_string()))
    }
}

fn decode(id: &JobId, record: &[u8]) -> Result<JobProgress, StateError> {
    let damaged = || {
        StateError::new(
            StateErrorKind::Corrupt,
            format!("the progress record of job {id} is damaged"),
        )
    };
    let mut reader = RecordReader(record);
    let version = reader.u8().ok_or_else(damaged)?;
    if version != FORMAT_VERSION {
        return Err(StateError::new(
            StateErrorKind::Corrupt,
            format!("the progress record of job {id} has unknown format version {version}"),
        ));
    }
    let parsed = (|| {
        let state = match reader.u8()? {
            0 => JobState::Running,
            1 => JobState::Done,
            2 => JobState::Failed,
            3 => JobState::Cancelled,
            _ => return None,
        };
        let [
            created_ms,
            progress_ms,
            finished_ms,
            stall_after_ms,
            total,
            done,
            failed,
        ] = [(); 7].map(|()| reader.u64());
        let job = JobProgress {
            id: id.clone(),
            state,
            created_ms: created_ms?,
            progress_ms: progress_ms?,
            finished_ms: finished_ms.filter(|ms| *ms != 0),
            stall_after: Duration::from_millis(stall_after_ms?),
            total: total.filter(|total| *total != TOTAL_UNKNOWN),
            done: done?,
            failed: failed?,
            owner: reader.text()??,
            kind: reader.text()??,
            reason: reader.text()?,
            cursor: reader.text()?,
        };
        reader.0.is_empty().then_some(job)
    })();
    parsed.ok_or_else(damaged)
}

/// Runs `apply` on the record of `job` at the time of the transaction, in one durable
/// write transaction that stores the record again when it changed.
fn change<T>(
    db: &Database,
    job: &JobId,
    apply: impl FnOnce(&mut JobProgress, u64) -> T,
) -> Result<T, StateError> {
    write_txn(db, Durability::Immediate, |txn| {
        let mut jobs = txn.open_table(JOBS).map_err(write_failed)?;
        let stored = jobs
            .get(job.as_str())
            .map_err(read_failed)?
            .map(|record| decode(job, record.value()))
            .transpose()?;
        let Some(mut record) = stored else {
            return Err(job.not_found());
        };
        let before = record.clone();
        let result = apply(&mut record, now_ms());
        if record != before {
            jobs.insert(job.as_str(), encode(&record).as_slice())
                .map_err(write_failed)?;
        }
        Ok(result)
    })
}

/// Applies `progress` to a running `job` at `now`, then finishes the job when its counts
/// reached its total.
fn advance(job: &mut JobProgress, now: u64, progress: impl FnOnce(&mut JobProgress)) -> JobUpdate {
    if job.state.is_final() {
        return JobUpdate::NotRunning(job.state);
    }
    progress(job);
    job.progress_ms = now;
    match job.total {
        Some(total) if job.counted() >= total => {
            job.state = if job.failed > 0 {
                JobState::Failed
            } else {
                JobState::Done
            };
            job.finished_ms = Some(now);
            JobUpdate::Finished
        }
        _ => JobUpdate::Applied,
    }
}

/// Ends a running `job` in `state` with `reason`.
fn end(
    job: &mut JobProgress,
    state: JobState,
    reason: Option<&JobFailureReason>,
    now: u64,
) -> JobUpdate {
    if job.state.is_final() {
        return JobUpdate::NotRunning(job.state);
    }
    job.state = state;
    job.reason = reason.map(|reason| reason.as_str().to_string());
    job.finished_ms = Some(now);
    JobUpdate::Applied
}

#[async_trait]
impl JobProgressStore for EmbeddedState {
    async fn init(&self, job: &JobId, spec: &JobSpec) -> Result<bool, StateError> {
        let (job, spec) = (job.clone(), spec.clone());
        self.db
            .run(move |db| {
                write_txn(db, Durability::Immediate, |txn| {
                    let mut jobs = txn.open_table(JOBS).map_err(write_failed)?;
                    if jobs.get(job.as_str()).map_err(write_failed)?.is_some() {
                        return Ok(false);
                    }
                    let now = now_ms();
                    let record = JobProgress {
                        id: job.clone(),
                        owner: spec.owner().as_str().to_string(),
                        kind: spec.kind().to_string(),
                        state: JobState::Running,
                        reason: None,
                        total: None,
                        done: 0,
                        failed: 0,
                        cursor: None,
                        created_ms: now,
                        progress_ms: now,
                        finished_ms: None,
                        stall_after: Duration::from_millis(spec.stall_after_ms()),
                    };
                    jobs.insert(job.as_str(), encode(&record).as_slice())
                        .map_err(write_failed)?;
                    txn.open_table(JOBS_BY_OWNER)
                        .map_err(write_failed)?
                        .insert((spec.owner().as_str(), now, job.as_str()), ())
                        .map_err(write_failed)?;
                    Ok(true)
                })
            })
            .await
    }

    async fn set_total(&self, job: &JobId, total: u64) -> Result<JobUpdate, StateError> {
        check_job_total(total)?;
        let job = job.clone();
        self.db
            .run(move |db| {
                change(db, &job, |job, now| {
                    advance(job, now, |job| job.total = Some(total))
                })
            })
            .await
    }

    async fn mark_many(
        &self,
        job: &JobId,
        outcome: ItemOutcome,
        count: u64,
    ) -> Result<JobUpdate, StateError> {
        check_job_total(count)?;
        let job = job.clone();
        self.db
            .run(move |db| {
                change(db, &job, |job, now| {
                    advance(job, now, |job| match outcome {
                        ItemOutcome::Ok => job.done += count,
                        ItemOutcome::Failed => job.failed += count,
                    })
                })
            })
            .await
    }

    async fn checkpoint(&self, job: &JobId, cursor: &JobCursor) -> Result<(), StateError> {
        let (job, cursor) = (job.clone(), cursor.clone());
        self.db
            .run(move |db| {
                change(db, &job, |job, now| {
                    job.cursor = Some(cursor.as_str().to_string());
                    job.progress_ms = now;
                })
            })
            .await
    }

    async fn fail(&self, job: &JobId, reason: &JobFailureReason) -> Result<JobUpdate, StateError> {
        let (job, reason) = (job.clone(), reason.clone());
        self.db
            .run(move |db| {
                change(db, &job, |job, now| {
                    end(job, JobState::Failed, Some(&reason), now)
                })
            })
            .await
    }

    async fn cancel(&self, job: &JobId) -> Result<JobUpdate, StateError> {
        let job = job.clone();
        self.db
            .run(move |db| {
                change(db, &job, |job, now| {
                    end(job, JobState::Cancelled, None, now)
                })
            })
            .await
    }

    async fn progress(&self, job: &JobId) -> Result<Option<JobProgress>, StateError> {
        let job = job.clone();
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let jobs = txn.open_table(JOBS).map_err(read_failed)?;
                let Some(record) = jobs.get(job.as_str()).map_err(read_failed)? else {
                    return Ok(None);
                };
                Ok(Some(decode(&job, record.value())?.seen_at(now_ms())))
            })
            .await
    }

    async fn jobs_of(
        &self,
        owner: &JobOwner,
        limit: usize,
    ) -> Result<Vec<JobProgress>, StateError> {
        let owner = owner.clone();
        let limit = limit.min(MAX_LISTED_JOBS);
        self.db
            .run(move |db| {
                let txn = db.begin_read().map_err(read_failed)?;
                let index = txn.open_table(JOBS_BY_OWNER).map_err(read_failed)?;
                let jobs = txn.open_table(JOBS).map_err(read_failed)?;
                let now = now_ms();
                let owned = (owner.as_str(), 0, "")..=(owner.as_str(), u64::MAX, ID_CEILING);
                index
                    .range(owned)
                    .map_err(read_failed)?
                    .rev()
                    .take(limit)
                    .map(|entry| {
                        let (key, _) = entry.map_err(read_failed)?;
                        let (_, _, id) = key.value();
                        let id = JobId::new(id)?;
                        let record =
                            jobs.get(id.as_str()).map_err(read_failed)?.ok_or_else(|| {
                                StateError::new(
                                    StateErrorKind::Corrupt,
                                    format!("job {id} is listed for its owner but has no record"),
                                )
                            })?;
                        Ok(decode(&id, record.value())?.seen_at(now))
                    })
                    .collect()
            })
            .await
    }

    async fn remove(&self, job: &JobId) -> Result<bool, StateError> {
        let job = job.clone();
        self.db
            .run(move |db| {
                write_txn(db, Durability::Immediate, |txn| {
                    let mut jobs = txn.open_table(JOBS).map_err(write_failed)?;
                    let Some(removed) = jobs.remove(job.as_str()).map_err(write_failed)? else {
                        return Ok(false);
                    };
                    let record = decode(&job, removed.value())?;
                    drop(removed);
                    txn.open_table(JOBS_BY_OWNER)
                        .map_err(write_failed)?
                        .remove((record.owner.as_str(), record.created_ms, job.as_str()))
                        .map_err(write_failed)?;
                    Ok(true)
                })
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> JobProgress {
        JobProgress {
            id: JobId::new("job-1").unwrap(),
            owner: "alice".to_string(),
            kind: "import".to_string(),
            state: JobState::Failed,
            reason: Some("é".to_string()),
            total: Some(3),
            done: 2,
            failed: 1,
            cursor: None,
            created_ms: 1,
            progress_ms: 2,
            finished_ms: Some(3),
            stall_after: Duration::from_millis(4),
        }
    }

    /// Version 1 of [`sample`], frozen: a change of the layout must fail here.
    const SAMPLE_V1: &str = concat!(
        "0102",
        "0000000000000001",
        "0000000000000002",
        "0000000000000003",
        "0000000000000004",
        "0000000000000003",
        "0000000000000002",
        "0000000000000001",
        "00000005616c696365",
        "00000006696d706f7274",
        "00000002c3a9",
        "00000000",
    );

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|byte| format!("{byte:02x}")).collect()
    }

    fn unhex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn records_keep_the_frozen_version_1_layout() {
        assert_eq!(hex(&encode(&sample())), SAMPLE_V1);
        assert_eq!(decode(&sample().id, &unhex(SAMPLE_V1)).unwrap(), sample());
        let running = JobProgress {
            state: JobState::Running,
            total: None,
            finished_ms: None,
            reason: None,
            cursor: Some("page-2".to_string()),
            ..sample()
        };
        assert_eq!(decode(&running.id, &encode(&running)).unwrap(), running);
    }

    #[test]
    fn damaged_records_read_as_corrupt() {
        let id = sample().id;
        let record = unhex(SAMPLE_V1);
        for (damaged, message) in [
            (Vec::new(), "the progress record of job job-1 is damaged"),
            (
                record[..record.len() - 1].to_vec(),
                "the progress record of job job-1 is damaged",
            ),
            (
                [&record[..], &[0]].concat(),
                "the progress record of job job-1 is damaged",
            ),
            (
                [&[2], &record[1..]].concat(),
                "the progress record of job job-1 has unknown format version 2",
            ),
            (
                [&[1, 9], &record[2..]].concat(),
                "the progress record of job job-1 is damaged",
            ),
        ] {
            let err = decode(&id, &damaged).unwrap_err();
            assert_eq!(err.kind(), StateErrorKind::Corrupt);
            assert_eq!(err.to_string(), message);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_the_job_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let state = std::sync::Arc::new(EmbeddedState::open(dir.path()).unwrap());
        crate::job_conformance_suite(state).await.unwrap();
    }

    #[tokio::test]
    async fn progress_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let job = JobId::new("reopened").unwrap();
        {
            let state = EmbeddedState::open(dir.path()).unwrap();
            let spec = JobSpec::new(
                JobOwner::new("alice").unwrap(),
                "import",
                Duration::from_secs(60),
            )
            .unwrap();
            assert!(state.init(&job, &spec).await.unwrap());
            assert_eq!(state.set_total(&job, 2).await.unwrap(), JobUpdate::Applied);
            assert_eq!(
                state.mark_done(&job, ItemOutcome::Ok).await.unwrap(),
                JobUpdate::Applied
            );
        }
        let state = EmbeddedState::open(dir.path()).unwrap();
        assert_eq!(
            state.mark_done(&job, ItemOutcome::Ok).await.unwrap(),
            JobUpdate::Finished
        );
        let read = state.progress(&job).await.unwrap().unwrap();
        assert_eq!(
            (read.state, read.done, read.total),
            (JobState::Done, 2, Some(2))
        );
    }
}
