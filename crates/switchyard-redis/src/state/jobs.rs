//! Job progress on Redis: [`JobProgressStore`] for [`RedisState`], each call one Lua
//! script. Redis runs a script whole with nothing in between, so exactly one script sees
//! a job's count reach its total: that is the finisher.
//!
//! # Keys
//! - `{namespace}switchyard:job:{id}`: a hash per job with the fields `owner`, `kind`,
//!   `state` (`running`, `done`, `failed`, `cancelled`), `created_ms`, `progress_ms`,
//!   `stall_after_ms`, `done`, `failed`, and once set `total`, `finished_ms`, `reason`,
//!   `cursor`;
//! - `{namespace}switchyard:jobs-of:{owner}`: a sorted set of the owner's job ids scored by
//!   `created_ms`, which `init` and `remove` write in the same script as the hash.
//!
//! Times come from the server's clock (`TIME`), so all workers of a job agree on them;
//! `stalled` is derived when reading ([`JobProgress::seen_at`] with the server's time).
//! `remove` and `jobs_of` reach keys they build from what they read, which a Redis Cluster
//! refuses, like the purge script of the store.
//!
//! # Retries
//! A `mark_done` counts, so it is tried once: an error after which it may have counted (a
//! lost reply) is the caller's to judge. Every other call is retried like the store's
//! other operations, being safe to repeat; but a repeated call whose first attempt was
//! applied answers as if another call had been first (`init` → not created, `set_total`,
//! `cancel` or `fail` → [`JobUpdate::NotRunning`]).

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::{FromRedisValue, Script};
use switchyard_state::{
    ItemOutcome, JobCursor, JobFailureReason, JobId, JobOwner, JobProgress, JobProgressStore,
    JobSpec, JobState, JobUpdate, MAX_LISTED_JOBS, StateError, StateErrorKind, check_job_total,
};

use super::RedisState;

/// Prepends the helpers the job scripts share to a script's body.
macro_rules! job_script {
    ($body:literal) => {
        concat!(
            r"
-- The server's time in ms since the Unix epoch, as a string (Lua numbers are doubles).
local function now_ms()
  local time = redis.call('TIME')
  return time[1] .. string.format('%03d', math.floor(tonumber(time[2]) / 1000))
end

-- What a call on job `job` answers when the job is missing or has ended; nil while it runs.
local function refusal(job)
  local state = redis.call('HGET', job, 'state')
  if not state then return 'missing' end
  if state ~= 'running' then return state end
  return nil
end

-- Finishes the running job `job` when its counts reached its total.
local function finish_if_counted(job, now)
  local counts = redis.call('HMGET', job, 'total', 'done', 'failed')
  if counts[1] and tonumber(counts[2]) + tonumber(counts[3]) >= tonumber(counts[1]) then
    local final = 'done'
    if tonumber(counts[3]) > 0 then final = 'failed' end
    redis.call('HSET', job, 'state', final, 'finished_ms', now)
    return 'finished'
  end
  return 'applied'
end
",
            $body
        )
    };
}

/// KEYS: job, owner index; ARGV: id, owner, kind, stall_after_ms. Returns 1 if created.
static INIT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local now = now_ms()
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'kind', ARGV[3], 'stall_after_ms', ARGV[4],
  'state', 'running', 'created_ms', now, 'progress_ms', now, 'done', 0, 'failed', 0)
redis.call('ZADD', KEYS[2], now, ARGV[1])
return 1
"
    ))
});

/// KEYS: job; ARGV: the field to count, `done` or `failed`, and by how many.
static MARK_DONE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
local refused = refusal(KEYS[1])
if refused then return refused end
local now = now_ms()
redis.call('HINCRBY', KEYS[1], ARGV[1], tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], 'progress_ms', now)
return finish_if_counted(KEYS[1], now)
"
    ))
});

/// KEYS: job; ARGV: total.
static SET_TOTAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
local refused = refusal(KEYS[1])
if refused then return refused end
local now = now_ms()
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'progress_ms', now)
return finish_if_counted(KEYS[1], now)
"
    ))
});

/// KEYS: job; ARGV: the final state, the reason (empty: none).
static END: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
local refused = refusal(KEYS[1])
if refused then return refused end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'finished_ms', now_ms())
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'reason', ARGV[2]) end
return 'applied'
"
    ))
});

/// KEYS: job; ARGV: cursor.
static CHECKPOINT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
redis.call('HSET', KEYS[1], 'cursor', ARGV[1], 'progress_ms', now_ms())
return 'applied'
"
    ))
});

/// KEYS: job. Returns {now, fields} (no fields: no job).
static PROGRESS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
return {now_ms(), redis.call('HGETALL', KEYS[1])}
"
    ))
});

/// KEYS: owner index; ARGV: job key prefix, limit (at least 1). Returns {now, {{id,
/// fields}, …}}, newest first.
static JOBS_OF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(job_script!(
        r"
local jobs = {}
for _, id in ipairs(redis.call('ZREVRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)) do
  table.insert(jobs, {id, redis.call('HGETALL', ARGV[1] .. id)})
end
return {now_ms(), jobs}
"
    ))
});

/// KEYS: job; ARGV: owner index prefix, id. Returns 1 if the job existed.
static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', ARGV[1] .. owner, ARGV[2])
return 1
",
    )
});

/// How many times a job call may be tried.
#[derive(Clone, Copy)]
enum Tries {
    /// As the store's configuration says: the call is safe to repeat.
    Retried,
    /// Once: the call counts.
    Once,
}

/// The fields of a job hash.
type JobFields = HashMap<String, String>;

impl RedisState {
    fn job_key_prefix(&self) -> String {
        self.redis_key("switchyard:job:")
    }

    fn owner_index_prefix(&self) -> String {
        self.redis_key("switchyard:jobs-of:")
    }

    fn job_key(&self, job: &JobId) -> String {
        format!("{}{job}", self.job_key_prefix())
    }

    /// Runs `script` with `keys` and `args` through the store's breaker and retries.
    async fn invoke<T: FromRedisValue + Send>(
        &self,
        operation: &'static str,
        tries: Tries,
        script: &'static Script,
        keys: &[String],
        args: &[String],
    ) -> Result<T, StateError> {
        let tries = match tries {
            Tries::Retried => self.inner.retry_attempts,
            Tries::Once => 1,
        };
        self.run_tries(operation, tries, |mut connection| {
            Box::pin(async move {
                let mut invocation = script.prepare_invoke();
                for key in keys {
                    invocation.key(key);
                }
                for arg in args {
                    invocation.arg(arg);
                }
                invocation.invoke_async::<T>(&mut connection).await
            })
        })
        .await
    }

    /// Runs a script answering `applied`, `finished`, `missing` or a final state.
    async fn update(
        &self,
        operation: &'static str,
        tries: Tries,
        script: &'static Script,
        job: &JobId,
        args: &[String],
    ) -> Result<JobUpdate, StateError> {
        let answer: String = self
            .invoke(operation, tries, script, &[self.job_key(job)], args)
            .await?;
        match answer.as_str() {
            "applied" => Ok(JobUpdate::Applied),
            "finished" => Ok(JobUpdate::Finished),
            "missing" => Err(job.not_found()),
            state => match JobState::parse(state).filter(|state| state.is_final()) {
                Some(state) => Ok(JobUpdate::NotRunning(state)),
                None => Err(damaged(job, "state")),
            },
        }
    }
}

fn damaged(job: &JobId, field: &str) -> StateError {
    StateError::new(
        StateErrorKind::Corrupt,
        format!("the progress of job {job} in redis is damaged: field `{field}`"),
    )
}

/// The job `job` as its hash `fields` hold it, seen at `now_ms`.
fn progress_from(
    job: &JobId,
    mut fields: JobFields,
    now_ms: u64,
) -> Result<JobProgress, StateError> {
    let mut text = |field: &str| fields.remove(field);
    let number = |value: Option<String>, field: &str| -> Result<Option<u64>, StateError> {
        value
            .map(|value| value.parse().map_err(|_| damaged(job, field)))
            .transpose()
    };
    let required = |value: Option<u64>, field: &str| value.ok_or_else(|| damaged(job, field));
    let state = text("state")
        .and_then(|state| JobState::parse(&state))
        .filter(|state| *state != JobState::Stalled)
        .ok_or_else(|| damaged(job, "state"))?;
    let progress = JobProgress {
        id: job.clone(),
        owner: text("owner").ok_or_else(|| damaged(job, "owner"))?,
        kind: text("kind").ok_or_else(|| damaged(job, "kind"))?,
        state,
        reason: text("reason"),
        total: number(text("total"), "total")?,
        done: required(number(text("done"), "done")?, "done")?,
        failed: required(number(text("failed"), "failed")?, "failed")?,
        cursor: text("cursor"),
        created_ms: required(number(text("created_ms"), "created_ms")?, "created_ms")?,
        progress_ms: required(number(text("progress_ms"), "progress_ms")?, "progress_ms")?,
        finished_ms: number(text("finished_ms"), "finished_ms")?,
        stall_after: Duration::from_millis(required(
            number(text("stall_after_ms"), "stall_after_ms")?,
            "stall_after_ms",
        )?),
    };
    Ok(progress.seen_at(now_ms))
}

#[async_trait]
impl JobProgressStore for RedisState {
    async fn init(&self, job: &JobId, spec: &JobSpec) -> Result<bool, StateError> {
        let owner_index = format!("{}{}", self.owner_index_prefix(), spec.owner().as_str());
        let created: u8 = self
            .invoke(
                "job init",
                Tries::Retried,
                &INIT,
                &[self.job_key(job), owner_index],
                &[
                    job.to_string(),
                    spec.owner().as_str().to_string(),
                    spec.kind().to_string(),
                    spec.stall_after_ms().to_string(),
                ],
            )
            .await?;
        Ok(created == 1)
    }

    async fn set_total(&self, job: &JobId, total: u64) -> Result<JobUpdate, StateError> {
        check_job_total(total)?;
        self.update(
            "job set_total",
            Tries::Retried,
            &SET_TOTAL,
            job,
            &[total.to_string()],
        )
        .await
    }

    async fn mark_many(
        &self,
        job: &JobId,
        outcome: ItemOutcome,
        count: u64,
    ) -> Result<JobUpdate, StateError> {
        check_job_total(count)?;
        let field = match outcome {
            ItemOutcome::Ok => "done",
            ItemOutcome::Failed => "failed",
        };
        self.update(
            "job mark_done",
            Tries::Once,
            &MARK_DONE,
            job,
            &[field.to_string(), count.to_string()],
        )
        .await
    }

    async fn checkpoint(&self, job: &JobId, cursor: &JobCursor) -> Result<(), StateError> {
        let update = self
            .update(
                "job checkpoint",
                Tries::Retried,
                &CHECKPOINT,
                job,
                &[cursor.as_str().to_string()],
            )
            .await?;
        debug_assert_eq!(update, JobUpdate::Applied, "a checkpoint only applies");
        Ok(())
    }

    async fn fail(&self, job: &JobId, reason: &JobFailureReason) -> Result<JobUpdate, StateError> {
        let args = [
            JobState::Failed.as_str().to_string(),
            reason.as_str().to_string(),
        ];
        self.update("job fail", Tries::Retried, &END, job, &args)
            .await
    }

    async fn cancel(&self, job: &JobId) -> Result<JobUpdate, StateError> {
        let args = [JobState::Cancelled.as_str().to_string(), String::new()];
        self.update("job cancel", Tries::Retried, &END, job, &args)
            .await
    }

    async fn progress(&self, job: &JobId) -> Result<Option<JobProgress>, StateError> {
        let (now_ms, fields): (u64, JobFields) = self
            .invoke(
                "job progress",
                Tries::Retried,
                &PROGRESS,
                &[self.job_key(job)],
                &[],
            )
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        progress_from(job, fields, now_ms).map(Some)
    }

    async fn jobs_of(
        &self,
        owner: &JobOwner,
        limit: usize,
    ) -> Result<Vec<JobProgress>, StateError> {
        let limit = limit.min(MAX_LISTED_JOBS);
        if limit == 0 {
            // ZREVRANGE 0 -1 would list them all.
            return Ok(Vec::new());
        }
        let owner_index = format!("{}{}", self.owner_index_prefix(), owner.as_str());
        let (now_ms, jobs): (u64, Vec<(String, JobFields)>) = self
            .invoke(
                "job jobs_of",
                Tries::Retried,
                &JOBS_OF,
                &[owner_index],
                &[self.job_key_prefix(), limit.to_string()],
            )
            .await?;
        jobs.into_iter()
            .map(|(id, fields)| {
                let id = JobId::new(id)?;
                if fields.is_empty() {
                    return Err(StateError::new(
                        StateErrorKind::Corrupt,
                        format!("job {id} is listed for its owner but has no progress in redis"),
                    ));
                }
                progress_from(&id, fields, now_ms)
            })
            .collect()
    }

    async fn remove(&self, job: &JobId) -> Result<bool, StateError> {
        let removed: u8 = self
            .invoke(
                "job remove",
                Tries::Retried,
                &REMOVE,
                &[self.job_key(job)],
                &[self.owner_index_prefix(), job.to_string()],
            )
            .await?;
        Ok(removed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> JobFields {
        pairs
            .iter()
            .map(|(field, value)| (field.to_string(), value.to_string()))
            .collect()
    }

    const RUNNING: &[(&str, &str)] = &[
        ("owner", "alice"),
        ("kind", "import"),
        ("state", "running"),
        ("created_ms", "1000"),
        ("progress_ms", "2000"),
        ("stall_after_ms", "10000"),
        ("done", "2"),
        ("failed", "1"),
        ("total", "4"),
    ];

    #[test]
    fn a_hash_reads_as_progress_and_damage_names_the_field() {
        let job = JobId::new("j").unwrap();
        let read = progress_from(&job, fields(RUNNING), 2_500).unwrap();
        assert_eq!(
            (
                read.state,
                read.total,
                read.done,
                read.failed,
                read.percent()
            ),
            (JobState::Running, Some(4), 2, 1, Some(75.0))
        );
        assert_eq!(
            progress_from(&job, fields(RUNNING), 12_000).unwrap().state,
            JobState::Stalled
        );
        for (field, value) in [
            ("state", "stalled"),
            ("state", "paused"),
            ("done", "x"),
            ("total", "-1"),
        ] {
            let mut damaged = fields(RUNNING);
            damaged.insert(field.to_string(), value.to_string());
            let err = progress_from(&job, damaged, 0).unwrap_err();
            assert_eq!(err.kind(), StateErrorKind::Corrupt);
            assert_eq!(
                err.to_string(),
                format!("the progress of job j in redis is damaged: field `{field}`")
            );
        }
        let mut missing = fields(RUNNING);
        missing.remove("created_ms");
        let err = progress_from(&job, missing, 0).unwrap_err();
        assert!(err.to_string().ends_with("field `created_ms`"), "{err}");
    }
}
