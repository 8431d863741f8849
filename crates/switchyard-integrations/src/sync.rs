//! [`Sync`]: reads a Microsoft integration through Graph's delta queries — its history
//! as one backfill job whose progress any process can read
//! ([`switchyard_state::JobProgressStore`]), then every later change as it streams — and
//! publishes what it reads as office events.
//!
//! An integration reads one **feed** per delta query ([`Feed`]: a mail folder, a to-do
//! list, the calendar, the contacts, the drive). Every page of a feed goes the same way,
//! backfill or streaming: map each item ([`change`]; a drive file is downloaded and read
//! by the office importers) → publish → record in the feed's **ledger** which items it
//! holds → advance the feed's cursor. An unreadable item counts as failed and the rest go
//! on.
//!
//! **Backfill.** The feeds a job reads are listed once and kept on the integration
//! (`backfill_feeds`); they read one after the other. The job's checkpoint holds which
//! feed it is at, that feed's next link, *and* the counts the job must reach once the
//! page is counted — a few hundred bytes whatever the number of folders — so a runner
//! killed at any point resumes exactly: a page published but not checkpointed is read and
//! published again (consumers deduplicate), and counts a checkpoint promised but were not
//! marked yet are marked on resume. A feed reaching its delta link, or starting a resync,
//! is written on the integration before the checkpoint moves past it. When every feed is
//! read, they replace the integration's feeds (keeping their subscriptions) and the job's
//! total is set, which finishes it. A feed the integration already had is read at a new
//! generation, so a second backfill also deletes what the account lost. Backfill events
//! carry the job id as their correlation id and one batch id per page.
//!
//! **Streaming** ([`Sync::stream`]) goes on from each feed's delta link until the next
//! one, one single-item event per change (`sync_type` `streaming`), saving the cursor
//! after each page. A change notification, a `missed` lifecycle event and the periodic
//! poll all just call it: the delta is the truth, so duplicate or reordered signals
//! cannot corrupt anything, and a stream asked for while another waits is that one. One
//! sync of an integration runs at a time ([`Sync::hold`]); a feed that fails holds back
//! only itself.
//!
//! **New and deleted folders.** [`Sync::refresh_feeds`] (each poll) lists the feeds
//! again: a folder or list made since is read whole by the next stream; one deleted has
//! every item it delivered deleted downstream.
//!
//! **Expired cursors.** A 410 starts a full read of that feed at a new generation
//! (generations only grow, and the ledger never lowers one); when it reaches the delta
//! link, the items of the ledger still at an older generation are gone from the provider,
//! and each gets a delete event. (Items a resync reads again are
//! counted again by a backfill job: its counts are exact except across a resync.)
//!
//! **Fairness.** At most [`CONCURRENT_PAGES`] pages are mapped (drive files downloaded
//! and read) and published at once across every integration, and waiting pages take
//! turns first come, first served (a fair semaphore): a user with a large history delays
//! another by a page at a time, never by a whole backfill. A page is fetched before its
//! turn is taken, so a mailbox waiting out its throttle (`Throttle`, shared by every
//! request to that mailbox) holds no turn.
//!
//! A refused grant fails the job (the integration reads `needs_reauth`); a bus or
//! provider that stays down leaves the job running, to be resumed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use switchyard_auth::SecretString;
use switchyard_contracts::{
    AnyOfficeEvent, CalendarItem, Contact, DataKind, Document, DocumentKind, Email, Envelope,
    OfficeEvent, Operation, SyncType, Todo,
};
use switchyard_providers::microsoft::{Change, Cursor, Item, Resource, change, document};
use switchyard_providers::{DataType, GraphClient, ProviderError, ProviderErrorKind};
use switchyard_runtime::Publisher;
use switchyard_state::{
    ItemOutcome, JobCursor, JobFailureReason, JobId, JobOwner, JobProgress, JobProgressStore,
    JobSpec, JobUpdate, StateError, StateErrorKind,
};
use tokio::sync::{Mutex, Semaphore};

use crate::Connector;
use crate::store::{Feed, IntegrationError, IntegrationErrorKind, JobFeeds, LedgerItem};

/// The job kind of a backfill from Microsoft Graph.
pub const BACKFILL_KIND: &str = "backfill.microsoft";
/// The CloudEvents `source` of its events.
const SOURCE: &str = "switchyard://integrations/microsoft";
/// The provider its events name.
const PROVIDER: &str = "msgraph";
/// How long a backfill may go without progress before it reads as stalled.
const STALL_AFTER: Duration = Duration::from_secs(600);
/// Delete events per batch when many are published at once (a purge, a resync).
const DELETE_BATCH: usize = 500;
/// The most bytes of one drive file downloaded and read.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;
/// The most pages read and published at once, across every integration.
pub const CONCURRENT_PAGES: usize = 4;
/// How far back and ahead of now calendar events are read.
const CALENDAR_WINDOW: TimeDelta = TimeDelta::days(365);

/// A span of time: from, to.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

/// What a backfill reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillOptions {
    /// The data types.
    pub data_types: Vec<DataType>,
    /// The window of calendar events read [default: a year back to a year ahead]; the
    /// other data types are read whole (their delta queries take no dates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    /// Items asked per page [default: 100; Graph takes it as a hint].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_size: Option<u32>,
}

impl BackfillOptions {
    /// Everything of `data_types`, in pages of the default size.
    pub fn of(data_types: &[DataType]) -> Self {
        BackfillOptions {
            data_types: data_types.to_vec(),
            window: None,
            page_size: None,
        }
    }
}

/// Where a backfill stands after a page: what it reads, which feed it is at and that
/// feed's next link, and the counts the job reaches once that page is counted. The feeds
/// themselves (many, with long links) live on the integration (`backfill_feeds`), written
/// when one is listed, reaches its delta link or starts a resync, so that the checkpoint
/// stays small whatever the number of folders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Checkpoint {
    #[serde(flatten)]
    options: BackfillOptions,
    /// The feeds are listed on the integration.
    listed: bool,
    /// The feed being read.
    at: usize,
    /// Its next link, once a page of it is read.
    next: Option<String>,
    done: u64,
    failed: u64,
}

impl Checkpoint {
    fn to_job_cursor(&self) -> Result<JobCursor, IntegrationError> {
        JobCursor::new(serde_json::to_string(self).expect("checkpoints serialize"))
            .map_err(state_error)
    }
}

/// What one page of a feed gave.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageCounts {
    /// Items published (changed, added or deleted).
    pub done: u64,
    /// Items that could not be read or were refused.
    pub failed: u64,
}

/// Why a feed stops.
#[derive(Debug)]
enum Stop {
    /// What the feed reads is gone from the account (a folder or list deleted): stop
    /// reading it; the next listing drops it and deletes its items downstream.
    Gone(String),
    /// The job fails with this reason (a refused grant, a provider error retrying cannot
    /// fix).
    Fail(String),
    /// Try again later.
    Retry(IntegrationError),
}

/// Reads Microsoft integrations: their backfills and their streams.
pub struct Sync {
    connector: Arc<Connector>,
    graph: GraphClient,
    jobs: Arc<dyn JobProgressStore>,
    publisher: Publisher,
    /// One lock per integration: one sync of it at a time.
    running: std::sync::Mutex<HashMap<String, Arc<Mutex<()>>>>,
    /// Integrations a stream is waiting for.
    waiting: std::sync::Mutex<HashSet<String>>,
    /// Turns to read a page, shared fairly by every integration.
    pages: Semaphore,
}

impl Sync {
    /// A reader going through `graph` with the tokens of `connector`, counting backfills
    /// in `jobs` and publishing with `publisher`.
    pub fn new(
        connector: Arc<Connector>,
        graph: GraphClient,
        jobs: Arc<dyn JobProgressStore>,
        publisher: Publisher,
    ) -> Self {
        Sync {
            connector,
            graph,
            jobs,
            publisher,
            running: std::sync::Mutex::default(),
            waiting: std::sync::Mutex::default(),
            pages: Semaphore::new(CONCURRENT_PAGES),
        }
    }

    /// The Graph client it reads with.
    pub fn graph(&self) -> &GraphClient {
        &self.graph
    }

    /// Creates the job of a backfill of `user_id`'s integration as `options` say;
    /// [`backfill`](Self::backfill) runs it.
    pub async fn create_job(
        &self,
        user_id: &str,
        options: &BackfillOptions,
    ) -> Result<JobId, IntegrationError> {
        let job = JobId::new(uuid::Uuid::now_v7().to_string()).map_err(state_error)?;
        let owner = JobOwner::new(user_id).map_err(state_error)?;
        let spec = JobSpec::new(owner, BACKFILL_KIND, STALL_AFTER).map_err(state_error)?;
        self.jobs.init(&job, &spec).await.map_err(state_error)?;
        let checkpoint = Checkpoint {
            options: options.clone(),
            listed: false,
            at: 0,
            next: None,
            done: 0,
            failed: 0,
        };
        self.jobs
            .checkpoint(&job, &checkpoint.to_job_cursor()?)
            .await
            .map_err(state_error)?;
        Ok(job)
    }

    /// Runs (or resumes) the backfill `job` of the integration `integration_id` of
    /// `user_id` until the history is read, the job ends, or a failure stops it; returns
    /// the job's progress then.
    pub async fn backfill(
        &self,
        user_id: &str,
        integration_id: &str,
        job: &JobId,
    ) -> Result<JobProgress, IntegrationError> {
        let _running = self.hold(integration_id).await;
        let progress = self.progress(job).await?;
        if progress.state.is_final() {
            return Ok(progress);
        }
        let mut checkpoint: Checkpoint = serde_json::from_str(
            progress.cursor.as_deref().unwrap_or_default(),
        )
        .map_err(|err| {
            IntegrationError::new(
                IntegrationErrorKind::Unavailable,
                format!("job {job}: unreadable checkpoint: {err}"),
            )
        })?;
        let graph = match checkpoint.options.page_size {
            Some(size) => self.graph.with_page_size(size),
            None => self.graph.clone(),
        };
        let mut feeds = if checkpoint.listed {
            // None when they were read and handed to the integration, and the runner
            // was killed before the total was set: only that is left to do.
            self.connector
                .stored(user_id, integration_id)
                .await?
                .backfill_feeds
                .filter(|listed| listed.job == job.as_str())
                .map(|listed| listed.feeds)
                .unwrap_or_default()
        } else {
            let feeds = match self
                .first_feeds(user_id, integration_id, &checkpoint.options)
                .await
            {
                Ok(feeds) => feeds,
                Err(Stop::Retry(err)) => return Err(err),
                Err(stop) => return self.fail(job, &stop.into_error().to_string()).await,
            };
            let listed = JobFeeds {
                job: job.to_string(),
                feeds: feeds.clone(),
            };
            self.connector
                .update(user_id, integration_id, |stored| {
                    stored.backfill_feeds = Some(listed)
                })
                .await?;
            checkpoint.listed = true;
            self.jobs
                .checkpoint(job, &checkpoint.to_job_cursor()?)
                .await
                .map_err(state_error)?;
            feeds
        };
        loop {
            // Counts a killed runner promised but did not mark.
            let progress = self.settle(job, &checkpoint).await?;
            if progress.state.is_final() {
                return Ok(progress);
            }
            let Some(current) = feeds.get(checkpoint.at) else {
                self.connector
                    .update(user_id, integration_id, |stored| {
                        if stored
                            .backfill_feeds
                            .as_ref()
                            .is_some_and(|listed| listed.job == job.as_str())
                        {
                            stored.backfill_feeds = None;
                            merge_feeds(&mut stored.feeds, feeds);
                        }
                    })
                    .await?;
                let total = checkpoint.done + checkpoint.failed;
                let update = self.jobs.set_total(job, total).await.map_err(state_error)?;
                tracing::info!(%job, total, finished = update.finished(), "history read");
                return self.progress(job).await;
            };
            // Where the checkpoint says, even when the feed on the integration already
            // reached its delta link (a runner killed before the checkpoint moved past
            // it: that last page is read and counted again).
            let feed = Feed {
                cursor: checkpoint
                    .next
                    .clone()
                    .unwrap_or_else(|| current.start.clone()),
                synced: false,
                ..current.clone()
            };
            let (next, counts) = match self
                .page(
                    &graph,
                    user_id,
                    integration_id,
                    &feed,
                    SyncType::Backfill,
                    job.as_str(),
                )
                .await
            {
                Ok(next) => next,
                Err(Stop::Gone(reason)) => {
                    // Deleted while the history was read: the rest goes on, and the
                    // next listing drops the feed with what it delivered.
                    tracing::info!(%job, feed = %feed.key, reason, "a feed is gone from the account; skipped");
                    let gone = Feed {
                        synced: true,
                        ..feed.clone()
                    };
                    (gone, PageCounts::default())
                }
                Err(Stop::Fail(reason)) => return self.fail(job, &reason).await,
                Err(Stop::Retry(err)) => return Err(err),
            };
            checkpoint.done += counts.done;
            checkpoint.failed += counts.failed;
            let restarted = next.generation != feed.generation;
            if next.synced || restarted {
                // The feed's delta link, or its resync: kept on the integration before
                // the checkpoint moves past it.
                let (at, kept) = (checkpoint.at, next.clone());
                self.connector
                    .update(user_id, integration_id, |stored| {
                        if let Some(listed) = stored
                            .backfill_feeds
                            .as_mut()
                            .filter(|listed| listed.job == job.as_str())
                        {
                            listed.feeds[at] = kept;
                        }
                    })
                    .await?;
                feeds[checkpoint.at] = next.clone();
            }
            if next.synced {
                checkpoint.at += 1;
                checkpoint.next = None;
            } else {
                checkpoint.next = Some(next.cursor);
            }
            self.jobs
                .checkpoint(job, &checkpoint.to_job_cursor()?)
                .await
                .map_err(state_error)?;
        }
    }

    /// Reads every change of the integration `integration_id` of `user_id` since its
    /// feeds' delta links and publishes each as a streaming event; what it published.
    /// Nothing until its backfill has read the history (the backfill's delta links catch
    /// what changed meanwhile).
    pub async fn stream(
        &self,
        user_id: &str,
        integration_id: &str,
    ) -> Result<PageCounts, IntegrationError> {
        // Signals coalesce: one stream waiting for the integration is enough, since it
        // reads everything up to when it runs.
        if !self
            .waiting
            .lock()
            .expect("the sync locks are never poisoned")
            .insert(integration_id.to_string())
        {
            return Ok(PageCounts::default());
        }
        let _running = self.hold(integration_id).await;
        self.waiting
            .lock()
            .expect("the sync locks are never poisoned")
            .remove(integration_id);
        let stored = self.connector.stored(user_id, integration_id).await?;
        // A feed a running backfill reads again is left to it: a change streamed at the
        // old generation now would read as gone when its resync ends.
        let mut rereading = Vec::new();
        if let Some(listed) = &stored.backfill_feeds
            && let Ok(job) = JobId::new(listed.job.as_str())
            && self
                .jobs
                .progress(&job)
                .await
                .map_err(state_error)?
                .is_some_and(|progress| !progress.state.is_final())
        {
            rereading.extend(listed.feeds.iter().map(|feed| feed.key.clone()));
        }
        let correlation_id = uuid::Uuid::now_v7().to_string();
        let mut total = PageCounts::default();
        let mut failure = None;
        for mut feed in stored.feeds {
            if rereading.contains(&feed.key) {
                continue;
            }
            loop {
                let (next, counts) = match self
                    .page(
                        &self.graph,
                        user_id,
                        integration_id,
                        &feed,
                        SyncType::Streaming,
                        &correlation_id,
                    )
                    .await
                {
                    Ok(next) => next,
                    // One feed failing (a folder deleted, the bus down) holds back only
                    // itself: the others are read, and it is tried again next time.
                    Err(stop) => {
                        let err = stop.into_error();
                        tracing::warn!(integration = integration_id, feed = %feed.key, error = %err, "a feed could not be streamed");
                        failure = Some(err);
                        break;
                    }
                };
                total.done += counts.done;
                total.failed += counts.failed;
                let moved = next.clone();
                self.connector
                    .update(user_id, integration_id, |stored| {
                        if let Some(kept) =
                            stored.feeds.iter_mut().find(|kept| kept.key == moved.key)
                        {
                            kept.cursor = moved.cursor;
                            kept.synced = moved.synced;
                            kept.generation = moved.generation;
                            kept.resyncing = moved.resyncing;
                        }
                    })
                    .await?;
                feed = next;
                if feed.synced {
                    break;
                }
            }
        }
        if total.done + total.failed > 0 {
            tracing::info!(
                integration = integration_id,
                done = total.done,
                failed = total.failed,
                "changes streamed"
            );
        }
        match failure {
            Some(err) => Err(err),
            None => Ok(total),
        }
    }

    /// Lists the integration's feeds again, once its history is read: a mail folder,
    /// contact folder or to-do list made since is added (the next stream reads it
    /// whole), and one gone from the account is dropped, with a delete event for every
    /// item it had delivered and its subscription deleted. How many were added and
    /// dropped. A listing that fails changes nothing.
    pub async fn refresh_feeds(
        &self,
        user_id: &str,
        integration_id: &str,
    ) -> Result<(usize, usize), IntegrationError> {
        let _running = self.hold(integration_id).await;
        let stored = self.connector.stored(user_id, integration_id).await?;
        if stored.feeds.is_empty() {
            return Ok((0, 0));
        }
        let options = BackfillOptions::of(&stored.integration.data_types);
        let (listed, token) = self
            .list_feeds(user_id, integration_id, &options)
            .await
            .map_err(Stop::into_error)?;
        let added: Vec<Feed> = listed
            .iter()
            .filter(|feed| !stored.feeds.iter().any(|kept| kept.key == feed.key))
            .cloned()
            .collect();
        let dropped: Vec<&Feed> = stored
            .feeds
            .iter()
            .filter(|kept| !listed.iter().any(|feed| feed.key == kept.key))
            .collect();
        if added.is_empty() && dropped.is_empty() {
            return Ok((0, 0));
        }
        let correlation_id = uuid::Uuid::now_v7().to_string();
        for feed in &dropped {
            let items = self
                .connector
                .store()
                .items_before(integration_id, &feed.key, u64::MAX)
                .await?
                .into_iter()
                .map(|item| (feed.key.clone(), item))
                .collect();
            let deleted = self
                .delete_items(
                    user_id,
                    integration_id,
                    items,
                    SyncType::Streaming,
                    &correlation_id,
                )
                .await
                .map_err(Stop::into_error)?;
            tracing::info!(integration = integration_id, feed = %feed.key, deleted, "a feed gone from the account: its items are deleted");
            if let Some(subscription) = &feed.subscription
                && let Err(err) = self
                    .graph
                    .delete_subscription(integration_id, &subscription.id, &token)
                    .await
            {
                tracing::warn!(integration = integration_id, subscription = %subscription.id, error = %err, "failed to delete a subscription; it expires on its own");
            }
        }
        let dropped_keys: Vec<String> = dropped.iter().map(|feed| feed.key.clone()).collect();
        let counts = (added.len(), dropped_keys.len());
        self.connector
            .update(user_id, integration_id, |stored| {
                stored
                    .feeds
                    .retain(|feed| !dropped_keys.contains(&feed.key));
                stored.feeds.extend(added);
            })
            .await?;
        tracing::info!(
            integration = integration_id,
            added = counts.0,
            dropped = counts.1,
            "feeds listed again"
        );
        Ok(counts)
    }

    /// Publishes a delete event for every item the integration `integration_id` of
    /// `user_id` delivered (before it is disconnected with `purge`); how many. The caller
    /// holds the integration ([`hold`](Self::hold)) until it is disconnected, so that no
    /// stream publishes anything after the purge.
    pub async fn purge(
        &self,
        user_id: &str,
        integration_id: &str,
    ) -> Result<u64, IntegrationError> {
        let items = self.connector.store().items(integration_id).await?;
        let correlation_id = uuid::Uuid::now_v7().to_string();
        let deleted = self
            .delete_items(
                user_id,
                integration_id,
                items,
                SyncType::Streaming,
                &correlation_id,
            )
            .await
            .map_err(Stop::into_error)?;
        tracing::info!(
            user_id,
            integration = integration_id,
            deleted,
            "integration's data purged"
        );
        Ok(deleted)
    }

    /// Holds off every other sync of the integration `integration_id` (backfill,
    /// stream, subscription) until the guard is dropped: one runs at a time.
    pub async fn hold(&self, integration_id: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .running
            .lock()
            .expect("the sync locks are never poisoned")
            .entry(integration_id.to_string())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// The feeds of an integration about to read the history `options` name: one per
    /// delta query of each data type, each read at a new generation as a resync, so that
    /// what an earlier backfill (finished or not) delivered and the provider no longer
    /// has is deleted at the end.
    async fn first_feeds(
        &self,
        user_id: &str,
        integration_id: &str,
        options: &BackfillOptions,
    ) -> Result<Vec<Feed>, Stop> {
        let kept = self
            .connector
            .stored(user_id, integration_id)
            .await
            .map_err(Stop::Retry)?
            .feeds;
        let (mut feeds, _) = self.list_feeds(user_id, integration_id, options).await?;
        for feed in &mut feeds {
            // Above any generation an earlier backfill (even a cancelled one) recorded.
            let old = kept.iter().find(|old| old.key == feed.key);
            feed.generation = next_generation(old.map_or(0, |old| old.generation));
            feed.resyncing = true;
        }
        Ok(feeds)
    }

    /// The feeds `options` name as the provider lists them now, from their start, and
    /// the access token it took.
    async fn list_feeds(
        &self,
        user_id: &str,
        integration_id: &str,
        options: &BackfillOptions,
    ) -> Result<(Vec<Feed>, SecretString), Stop> {
        let token = self.token(user_id, integration_id).await?;
        let now = Utc::now();
        let window = options
            .window
            .unwrap_or((now - CALENDAR_WINDOW, now + CALENDAR_WINDOW));
        let mut feeds = Vec::new();
        for &data_type in &options.data_types {
            let resources = self
                .graph
                .resources(integration_id, data_type, window, &token)
                .await
                .map_err(provider_stop)?;
            feeds.extend(resources.iter().map(|resource| self.feed(resource)));
        }
        Ok((feeds, token))
    }

    fn feed(&self, resource: &Resource) -> Feed {
        let start = self.graph.delta_url(resource);
        let key = match resource {
            Resource::Mail { folder } => format!("emails/{folder}"),
            Resource::TodoTasks { list } => format!("todos/{list}"),
            Resource::Contacts {
                folder: Some(folder),
            } => format!("contacts/{folder}"),
            other => other.data_type().as_str().to_string(),
        };
        Feed {
            key,
            data_type: resource.data_type(),
            cursor: start.clone(),
            start,
            synced: false,
            generation: 0,
            resyncing: false,
            subscription_resource: resource.subscription_resource(),
            subscription: None,
        }
    }

    async fn token(&self, user_id: &str, integration_id: &str) -> Result<SecretString, Stop> {
        match self.connector.access_token(user_id, integration_id).await {
            Ok(token) => Ok(token),
            Err(err) if err.kind() == IntegrationErrorKind::NeedsReauth => {
                Err(Stop::Fail(err.to_string()))
            }
            Err(err) => Err(Stop::Retry(err)),
        }
    }

    /// Reads (through `graph`), publishes and records the page `feed` points at; the
    /// feed after it.
    async fn page(
        &self,
        graph: &GraphClient,
        user_id: &str,
        integration_id: &str,
        feed: &Feed,
        sync_type: SyncType,
        correlation_id: &str,
    ) -> Result<(Feed, PageCounts), Stop> {
        let mut token = self.token(user_id, integration_id).await?;
        let mut answer = graph.page(integration_id, &feed.cursor, &token).await;
        if answer
            .as_ref()
            .is_err_and(|err| err.kind() == ProviderErrorKind::NeedsReauth)
        {
            // An access token refused before its time (revoked at the provider): once
            // with a fresh one; refused again, the consent is gone.
            self.connector.forget_access_token(integration_id).await;
            token = self.token(user_id, integration_id).await?;
            answer = graph.page(integration_id, &feed.cursor, &token).await;
        }
        let page = match answer {
            Ok(page) => page,
            Err(err) if err.kind() == ProviderErrorKind::NotFound => {
                return Err(Stop::Gone(err.to_string()));
            }
            Err(err) if err.kind() == ProviderErrorKind::CursorExpired => {
                tracing::warn!(integration = integration_id, feed = %feed.key, reason = %err, "delta link expired: reading the feed again to reconcile deletions");
                return Ok((
                    Feed {
                        cursor: feed.start.clone(),
                        synced: false,
                        generation: next_generation(feed.generation),
                        resyncing: true,
                        ..feed.clone()
                    },
                    PageCounts::default(),
                ));
            }
            Err(err) => return Err(provider_stop(err)),
        };
        // The turn is taken once the page is here: a mailbox waiting out its throttle
        // holds no other account back.
        let _turn = self
            .pages
            .acquire()
            .await
            .expect("the page semaphore is never closed");
        let page_batch = uuid::Uuid::now_v7().to_string();
        let mut envelopes: Vec<Envelope> = Vec::with_capacity(page.items.len());
        let (mut seen, mut gone) = (Vec::new(), Vec::new());
        let mut failed = 0;
        for (index, value) in page.items.iter().enumerate() {
            let batch_id = match sync_type {
                SyncType::Streaming => uuid::Uuid::now_v7().to_string(),
                _ => page_batch.clone(),
            };
            let built = match change(feed.data_type, value) {
                Ok(Change::Upsert {
                    item,
                    last_modified,
                }) => {
                    self.upsert(
                        user_id,
                        integration_id,
                        &token,
                        (&batch_id, correlation_id, sync_type),
                        item,
                        last_modified,
                    )
                    .await?
                }
                Ok(Change::Removed { kind, id }) => {
                    let item = LedgerItem { id, kind };
                    removal(user_id, &batch_id, correlation_id, sync_type, &item).map(|envelope| {
                        gone.push(item.id);
                        (envelope, None)
                    })
                }
                Ok(Change::Ignored(reason)) => {
                    tracing::debug!(feed = %feed.key, index, reason, "Graph item skipped");
                    continue;
                }
                Err(reason) => Err(reason),
            };
            match built {
                Ok((envelope, item)) => {
                    envelopes.push(envelope);
                    seen.extend(item);
                }
                Err(reason) => {
                    tracing::warn!(integration = integration_id, feed = %feed.key, index, reason = %reason, "Graph item not imported");
                    failed += 1;
                }
            }
        }
        let refused = self.publish(&envelopes, correlation_id).await?;
        seen.retain(|item| !refused.contains(&item.id));
        gone.retain(|id| !refused.contains(id));
        let mut done = envelopes.len() as u64 - refused.len() as u64;
        self.connector
            .store()
            .record_items(integration_id, &feed.key, feed.generation, seen, gone)
            .await
            .map_err(Stop::Retry)?;
        let (cursor, synced) = match page.cursor {
            Cursor::Next(next) => (next, false),
            Cursor::Delta(delta) => (delta, true),
        };
        let mut next = Feed {
            cursor,
            synced,
            ..feed.clone()
        };
        if synced && feed.resyncing {
            done += self
                .reconcile(user_id, integration_id, feed, sync_type, correlation_id)
                .await?;
            next.resyncing = false;
        }
        Ok((
            next,
            PageCounts {
                done,
                failed: failed + refused.len() as u64,
            },
        ))
    }

    /// After a full read of `feed`: a delete event for each item it no longer holds.
    async fn reconcile(
        &self,
        user_id: &str,
        integration_id: &str,
        feed: &Feed,
        sync_type: SyncType,
        correlation_id: &str,
    ) -> Result<u64, Stop> {
        let store = self.connector.store();
        let stale = store
            .items_before(integration_id, &feed.key, feed.generation)
            .await
            .map_err(Stop::Retry)?;
        if stale.is_empty() {
            return Ok(0);
        }
        let stale = stale
            .into_iter()
            .map(|item| (feed.key.clone(), item))
            .collect();
        let deleted = self
            .delete_items(user_id, integration_id, stale, sync_type, correlation_id)
            .await?;
        tracing::info!(integration = integration_id, feed = %feed.key, deleted, "resync reconciled deletions");
        Ok(deleted)
    }

    /// Publishes a delete event for each of `items` (feed key, item), a batch of 500 at a
    /// time, then takes them out of their feeds' ledgers; how many.
    async fn delete_items(
        &self,
        user_id: &str,
        integration_id: &str,
        items: Vec<(String, LedgerItem)>,
        sync_type: SyncType,
        correlation_id: &str,
    ) -> Result<u64, Stop> {
        for chunk in items.chunks(DELETE_BATCH) {
            let batch_id = uuid::Uuid::now_v7().to_string();
            let envelopes = chunk
                .iter()
                .map(|(_, item)| removal(user_id, &batch_id, correlation_id, sync_type, item))
                .collect::<Result<Vec<_>, _>>()
                .map_err(Stop::Fail)?;
            self.publish(&envelopes, correlation_id).await?;
            let mut by_feed: BTreeMap<&str, Vec<String>> = BTreeMap::new();
            for (feed, item) in chunk {
                by_feed.entry(feed).or_default().push(item.id.clone());
            }
            for (feed, gone) in by_feed {
                self.connector
                    .store()
                    .record_items(integration_id, feed, 0, Vec::new(), gone)
                    .await
                    .map_err(Stop::Retry)?;
            }
        }
        Ok(items.len() as u64)
    }

    /// The event of a new or changed item (a drive file downloaded and read), with the
    /// ledger entry it makes, or why the item cannot be imported; a download that may
    /// work later stops the page.
    async fn upsert(
        &self,
        user_id: &str,
        integration_id: &str,
        token: &SecretString,
        (batch_id, correlation_id, sync_type): (&str, &str, SyncType),
        item: Item,
        last_modified: Option<DateTime<Utc>>,
    ) -> Result<Result<(Envelope, Option<LedgerItem>), String>, Stop> {
        let item = match item {
            Item::Email(email) => AnyItem::Email(email),
            Item::Calendar(event) => AnyItem::Calendar(event),
            Item::Contact(contact) => AnyItem::Contact(contact),
            Item::Todo(todo) => AnyItem::Todo(todo),
            Item::File(file) => {
                let bytes = match self
                    .graph
                    .download(integration_id, &file, token, MAX_FILE_BYTES)
                    .await
                {
                    Ok(bytes) => bytes,
                    // A download that may work later stops the page, to be read again,
                    // instead of losing the file.
                    Err(err) if err.kind() == ProviderErrorKind::Unavailable => {
                        return Err(provider_stop(err));
                    }
                    Err(err) => return Ok(Err(err.to_string())),
                };
                // Reading a document is CPU and file work: off the async threads.
                match tokio::task::spawn_blocking(move || document(&file, &bytes)).await {
                    Ok(Ok(parsed)) => AnyItem::Document(parsed),
                    Ok(Err(reason)) => return Ok(Err(reason)),
                    Err(err) => return Ok(Err(format!("reading a drive file failed: {err}"))),
                }
            }
        };
        let ledger = LedgerItem {
            id: item.id().to_string(),
            kind: item.kind(),
        };
        let event = item.event(
            Operation::Create,
            sync_type,
            user_id,
            batch_id,
            last_modified,
        );
        Ok(event
            .to_envelope(SOURCE, correlation_id)
            .map(|envelope| (envelope, Some(ledger)))
            .map_err(|err| err.to_string()))
    }

    /// Publishes `envelopes`; the ids of those the registry refused (each logged).
    async fn publish(
        &self,
        envelopes: &[Envelope],
        correlation_id: &str,
    ) -> Result<Vec<String>, Stop> {
        let report = self.publisher.publish(envelopes).await.map_err(|err| {
            Stop::Retry(IntegrationError::new(
                IntegrationErrorKind::Unavailable,
                format!("{correlation_id}: failed to publish a page: {err}"),
            ))
        })?;
        Ok(report
            .rejected
            .iter()
            .map(|rejected| {
                tracing::warn!(correlation_id, event_id = %rejected.event_id, reason = %rejected.error, "Graph item refused");
                envelopes[rejected.index]
                    .subject
                    .clone()
                    .unwrap_or_default()
            })
            .collect())
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

/// The generation after `generation`: above it and above every generation handed out
/// before now (the milliseconds since the epoch), so that two full reads of one feed —
/// a resync and a backfill started again, one cancelled mid-way — never share one.
fn next_generation(generation: u64) -> u64 {
    let now = u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0);
    (generation + 1).max(now)
}

/// `read` (the feeds a backfill read to their delta links) into an integration's `kept`
/// feeds: a feed read again keeps its subscription and takes the new cursor. A kept feed
/// the backfill did not list stays, for [`Sync::refresh_feeds`] to drop with its items
/// and subscription.
fn merge_feeds(kept: &mut Vec<Feed>, read: Vec<Feed>) {
    for mut new in read {
        match kept.iter_mut().find(|old| old.key == new.key) {
            Some(old) => {
                new.subscription = old.subscription.take();
                *old = new;
            }
            None => kept.push(new),
        }
    }
}

/// An item read from a provider, ready to become an event.
enum AnyItem {
    Email(Email),
    Calendar(CalendarItem),
    Contact(Contact),
    Todo(Todo),
    Document(Document),
}

impl AnyItem {
    fn id(&self) -> &str {
        match self {
            AnyItem::Email(item) => &item.id,
            AnyItem::Calendar(item) => &item.id,
            AnyItem::Contact(item) => &item.id,
            AnyItem::Todo(item) => &item.id,
            AnyItem::Document(item) => &item.id,
        }
    }

    fn kind(&self) -> DataKind {
        match self {
            AnyItem::Email(_) => DataKind::Email,
            AnyItem::Calendar(_) => DataKind::Calendar,
            AnyItem::Contact(_) => DataKind::Contact,
            AnyItem::Todo(_) => DataKind::Todo,
            AnyItem::Document(document) => document.kind.document(),
        }
    }

    /// The item with only its id, as a deletion carries it.
    fn removed(kind: DataKind, id: String) -> Result<AnyItem, String> {
        let document = |kind: DocumentKind| {
            AnyItem::Document(Document {
                id: id.clone(),
                kind,
                ..Document::default()
            })
        };
        Ok(match kind {
            DataKind::Email => AnyItem::Email(Email {
                id,
                ..Email::default()
            }),
            DataKind::Calendar => AnyItem::Calendar(CalendarItem {
                id,
                ..CalendarItem::default()
            }),
            DataKind::Contact => AnyItem::Contact(Contact {
                id,
                ..Contact::default()
            }),
            DataKind::Todo => AnyItem::Todo(Todo {
                id,
                ..Todo::default()
            }),
            DataKind::WordDocument => document(DocumentKind::Word),
            DataKind::SheetDocument => document(DocumentKind::Sheet),
            DataKind::PresentationDocument => document(DocumentKind::Presentation),
            other => {
                return Err(format!(
                    "a {} cannot be deleted by a feed",
                    other.doc_type()
                ));
            }
        })
    }

    fn event(
        self,
        operation: Operation,
        sync_type: SyncType,
        user_id: &str,
        batch_id: &str,
        last_modified: Option<DateTime<Utc>>,
    ) -> AnyOfficeEvent {
        macro_rules! event {
            ($variant:ident, $item:expr) => {{
                let mut event =
                    OfficeEvent::new(operation, sync_type, PROVIDER, user_id, batch_id, $item);
                event.last_updated = last_modified.unwrap_or_else(Utc::now);
                AnyOfficeEvent::$variant(event)
            }};
        }
        match self {
            AnyItem::Email(item) => event!(Email, item),
            AnyItem::Calendar(item) => event!(Calendar, item),
            AnyItem::Contact(item) => event!(Contact, item),
            AnyItem::Todo(item) => event!(Todo, item),
            AnyItem::Document(item) => event!(Document, item),
        }
    }
}

/// The delete event of `item`.
fn removal(
    user_id: &str,
    batch_id: &str,
    correlation_id: &str,
    sync_type: SyncType,
    item: &LedgerItem,
) -> Result<Envelope, String> {
    AnyItem::removed(item.kind, item.id.clone())?
        .event(Operation::Delete, sync_type, user_id, batch_id, None)
        .to_envelope(SOURCE, correlation_id)
        .map_err(|err| err.to_string())
}

impl Stop {
    /// The error of a call that stops here.
    fn into_error(self) -> IntegrationError {
        match self {
            Stop::Fail(reason) => IntegrationError::new(IntegrationErrorKind::Invalid, reason),
            Stop::Gone(reason) => IntegrationError::new(IntegrationErrorKind::NotFound, reason),
            Stop::Retry(err) => err,
        }
    }
}

/// How a provider failure stops a feed: a refused grant or an invalid request fails it,
/// anything else is tried again later.
fn provider_stop(err: ProviderError) -> Stop {
    match err.kind() {
        ProviderErrorKind::Unavailable => Stop::Retry(IntegrationError::new(
            IntegrationErrorKind::Unavailable,
            err.to_string(),
        )),
        _ => Stop::Fail(err.to_string()),
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
