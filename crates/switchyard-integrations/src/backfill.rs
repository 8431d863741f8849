//! [`MailBackfill`]: the mail history of a Microsoft integration, read page by page through
//! Graph's delta query and published as backfill events, as one job whose progress any
//! process can read ([`switchyard_state::JobProgressStore`]).
//!
//! Each page goes: map each item (an unreadable one counts as failed) → publish (every
//! event carries the job id as its correlation id) → checkpoint → count. The checkpoint
//! holds the next page's link *and* the counts the job must reach once this page is
//! counted, so a runner killed at any point resumes exactly: a page published but not
//! checkpointed is read and published again (consumers deduplicate), and counts that a
//! checkpoint promised but were not marked yet are marked on resume. The job's total is
//! set when the delta link is reached, which finishes it; the delta link stays in the
//! checkpoint, where streaming will go on from.
//!
//! A refused grant fails the job (the integration reads `needs_reauth`); an expired delta
//! link (410) starts over from the beginning of the delta query; a bus that stays down
//! leaves the job running, to be resumed.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use switchyard_contracts::{AnyOfficeEvent, Email, Envelope, OfficeEvent, Operation, SyncType};
use switchyard_providers::microsoft::{Cursor, MailChange, Resource, mail_change};
use switchyard_providers::{GraphClient, ProviderErrorKind};
use switchyard_runtime::Publisher;
use switchyard_state::{
    ItemOutcome, JobCursor, JobFailureReason, JobId, JobOwner, JobProgress, JobProgressStore,
    JobSpec, JobUpdate, StateError, StateErrorKind,
};

use crate::Connector;
use crate::store::{IntegrationError, IntegrationErrorKind};

/// The job kind of a mail backfill from Microsoft Graph.
pub const MAIL_BACKFILL_KIND: &str = "backfill.microsoft.emails";
/// The CloudEvents `source` of its events.
const SOURCE: &str = "switchyard://integrations/microsoft";
/// The provider its events name.
const PROVIDER: &str = "msgraph";
/// How long a backfill may go without progress before it reads as stalled.
const STALL_AFTER: Duration = Duration::from_secs(600);

/// Where a backfill stands after a page: the next link, and the counts the job reaches
/// once that page is counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    next: String,
    done: u64,
    failed: u64,
    /// `next` is the delta link: the history is read.
    finished: bool,
}

/// Runs mail backfills of Microsoft integrations.
pub struct MailBackfill {
    connector: Arc<Connector>,
    graph: GraphClient,
    jobs: Arc<dyn JobProgressStore>,
    publisher: Publisher,
}

impl MailBackfill {
    /// A runner reading through `graph` with the tokens of `connector`, counting in
    /// `jobs` and publishing with `publisher`.
    pub fn new(
        connector: Arc<Connector>,
        graph: GraphClient,
        jobs: Arc<dyn JobProgressStore>,
        publisher: Publisher,
    ) -> Self {
        MailBackfill {
            connector,
            graph,
            jobs,
            publisher,
        }
    }

    /// Creates the job of a backfill of `user_id`'s mail; [`run`](Self::run) runs it.
    pub async fn create_job(&self, user_id: &str) -> Result<JobId, IntegrationError> {
        let job = JobId::new(uuid::Uuid::now_v7().to_string()).map_err(state_error)?;
        let owner = JobOwner::new(user_id).map_err(state_error)?;
        let spec = JobSpec::new(owner, MAIL_BACKFILL_KIND, STALL_AFTER).map_err(state_error)?;
        self.jobs.init(&job, &spec).await.map_err(state_error)?;
        Ok(job)
    }

    /// Runs (or resumes) the backfill `job` of the integration `integration_id` of
    /// `user_id` until the history is read, the job ends, or a failure stops it; returns
    /// the job's progress then.
    pub async fn run(
        &self,
        user_id: &str,
        integration_id: &str,
        job: &JobId,
    ) -> Result<JobProgress, IntegrationError> {
        let progress = self.progress(job).await?;
        if progress.state.is_final() {
            return Ok(progress);
        }
        let mut checkpoint = match &progress.cursor {
            Some(text) => serde_json::from_str(text).map_err(|err| {
                IntegrationError::new(
                    IntegrationErrorKind::Unavailable,
                    format!("job {job}: unreadable checkpoint: {err}"),
                )
            })?,
            None => self.first_checkpoint(),
        };
        loop {
            // Counts a killed runner promised but did not mark.
            let progress = self.settle(job, &checkpoint).await?;
            if progress.state.is_final() {
                return Ok(progress);
            }
            if checkpoint.finished {
                let total = checkpoint.done + checkpoint.failed;
                let update = self.jobs.set_total(job, total).await.map_err(state_error)?;
                tracing::info!(%job, total, finished = update.finished(), "mail history read");
                return self.progress(job).await;
            }
            checkpoint = match self
                .next_page(user_id, integration_id, job, &checkpoint)
                .await
            {
                Ok(next) => next,
                Err(stop) => return stop,
            };
            let cursor =
                JobCursor::new(serde_json::to_string(&checkpoint).expect("checkpoints serialize"))
                    .map_err(state_error)?;
            self.jobs
                .checkpoint(job, &cursor)
                .await
                .map_err(state_error)?;
        }
    }

    fn first_checkpoint(&self) -> Checkpoint {
        Checkpoint {
            next: self.graph.delta_url(&Resource::Mail {
                folder: "inbox".into(),
            }),
            done: 0,
            failed: 0,
            finished: false,
        }
    }

    /// Reads and publishes the page `checkpoint` points at; the checkpoint after it, or
    /// what `run` returns when the job cannot go on.
    async fn next_page(
        &self,
        user_id: &str,
        integration_id: &str,
        job: &JobId,
        checkpoint: &Checkpoint,
    ) -> Result<Checkpoint, Result<JobProgress, IntegrationError>> {
        let token = match self.connector.access_token(user_id, integration_id).await {
            Ok(token) => token,
            Err(err) if err.kind() == IntegrationErrorKind::NeedsReauth => {
                return Err(self.fail(job, &err.to_string()).await);
            }
            Err(err) => return Err(Err(err)),
        };
        let page = match self
            .graph
            .page(integration_id, &checkpoint.next, &token)
            .await
        {
            Ok(page) => page,
            Err(err) if err.kind() == ProviderErrorKind::CursorExpired => {
                tracing::warn!(%job, reason = %err, "delta link expired: reading the history again");
                return Ok(Checkpoint {
                    next: self.first_checkpoint().next,
                    ..checkpoint.clone()
                });
            }
            Err(err) => return Err(self.fail(job, &err.to_string()).await),
        };
        let batch_id = uuid::Uuid::now_v7().to_string();
        let mut envelopes: Vec<Envelope> = Vec::with_capacity(page.items.len());
        let mut failed = 0;
        for (index, item) in page.items.iter().enumerate() {
            match self.envelope(user_id, &batch_id, job, item) {
                Ok(envelope) => envelopes.push(envelope),
                Err(reason) => {
                    tracing::warn!(%job, index, reason = %reason, "Graph item not imported");
                    failed += 1;
                }
            }
        }
        let report = self.publisher.publish(&envelopes).await.map_err(|err| {
            Err(IntegrationError::new(
                IntegrationErrorKind::Unavailable,
                format!("job {job}: failed to publish a page: {err}"),
            ))
        })?;
        for rejected in &report.rejected {
            tracing::warn!(%job, event_id = %rejected.event_id, reason = %rejected.error, "Graph item refused");
        }
        let refused = report.rejected.len() as u64;
        let (next, finished) = match page.cursor {
            Cursor::Next(next) => (next, false),
            Cursor::Delta(delta) => (delta, true),
        };
        Ok(Checkpoint {
            next,
            done: checkpoint.done + envelopes.len() as u64 - refused,
            failed: checkpoint.failed + failed + refused,
            finished,
        })
    }

    /// The event a Graph delta item stands for, as an envelope of `job`.
    fn envelope(
        &self,
        user_id: &str,
        batch_id: &str,
        job: &JobId,
        item: &serde_json::Value,
    ) -> Result<Envelope, String> {
        let (operation, email, last_modified) = match mail_change(item)? {
            MailChange::Upsert {
                email,
                last_modified,
            } => (Operation::Create, *email, last_modified),
            MailChange::Removed(id) => (
                Operation::Delete,
                Email {
                    id,
                    ..Email::default()
                },
                None,
            ),
        };
        let mut event = OfficeEvent::new(
            operation,
            SyncType::Backfill,
            PROVIDER,
            user_id,
            batch_id,
            email,
        );
        event.last_updated = last_modified.unwrap_or_else(Utc::now);
        AnyOfficeEvent::Email(event)
            .to_envelope(SOURCE, job.as_str())
            .map_err(|err| err.to_string())
    }

    /// Marks what `checkpoint` counts and the job has not counted yet, a page at once.
    async fn settle(
        &self,
        job: &JobId,
        checkpoint: &Checkpoint,
    ) -> Result<JobProgress, IntegrationError> {
        let progress = self.progress(job).await?;
        let missing = [
            (
                ItemOutcome::Ok,
                checkpoint.done.saturating_sub(progress.done),
            ),
            (
                ItemOutcome::Failed,
                checkpoint.failed.saturating_sub(progress.failed),
            ),
        ];
        for (outcome, count) in missing {
            if count == 0 {
                continue;
            }
            let update = self
                .jobs
                .mark_many(job, outcome, count)
                .await
                .map_err(state_error)?;
            if let JobUpdate::NotRunning(_) = update {
                break;
            }
        }
        self.progress(job).await
    }

    async fn fail(&self, job: &JobId, reason: &str) -> Result<JobProgress, IntegrationError> {
        tracing::warn!(%job, reason, "backfill failed");
        let update = self
            .jobs
            .fail(job, &JobFailureReason::new(reason))
            .await
            .map_err(state_error)?;
        if let JobUpdate::NotRunning(state) = update {
            tracing::info!(%job, %state, "the backfill had already ended");
        }
        self.progress(job).await
    }

    async fn progress(&self, job: &JobId) -> Result<JobProgress, IntegrationError> {
        self.jobs
            .progress(job)
            .await
            .map_err(state_error)?
            .ok_or_else(|| {
                IntegrationError::new(IntegrationErrorKind::NotFound, format!("no job {job}"))
            })
    }
}

fn state_error(err: StateError) -> IntegrationError {
    let kind = match err.kind() {
        StateErrorKind::InvalidInput => IntegrationErrorKind::Invalid,
        StateErrorKind::NotFound => IntegrationErrorKind::NotFound,
        _ => IntegrationErrorKind::Unavailable,
    };
    IntegrationError::new(kind, err.to_string())
}
