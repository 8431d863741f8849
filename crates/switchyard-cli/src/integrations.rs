//! Connected accounts in `serve`: [`Integrations`] puts together the provider endpoints
//! (`[providers.microsoft]`, each key yielding to its `SWITCHYARD_MICROSOFT_*` variable),
//! the keys that seal credentials (`SWITCHYARD_ENCRYPTION_KEY`, else the data directory's
//! own key file), the integration store and job progress of the node, and runs the syncs:
//! a backfill when an account is connected (and every unfinished one when the server
//! starts), then its change-notification subscriptions and a first stream; a stream per
//! genuine webhook delivery; and a poll of every integration each `poll_interval_secs`
//! that renews subscriptions and streams what a lost notification missed.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_auth::{SecretKeys, SecretString};
use switchyard_integrations::{
    BackfillOptions, ConnectRequest, Connector, Forged, Integration, IntegrationError,
    IntegrationErrorKind, IntegrationState, Notifications, ProviderEndpoints, Signal, Sync,
};
use switchyard_providers::microsoft::{DEFAULT_GRAPH_URL, DEFAULT_TOKEN_URL};
use switchyard_providers::{GraphClient, Throttle, TokenEndpoint};
use switchyard_state::{JobId, JobProgressStore};

use crate::config::Settings;
use crate::env_vars;
use crate::node::Node;

/// The most integrations whose jobs a starting server, or a poll, looks at.
const MAX_RESUMED: usize = 10_000;
/// How many integrations a poll follows at once.
const POLLED_AT_ONCE: usize = 8;
/// How often every integration is polled, unless configured.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(300);

/// Connected accounts and their backfills. Cloning is cheap.
#[derive(Clone)]
pub struct Integrations {
    /// Connects, refreshes and disconnects accounts.
    pub connector: Arc<Connector>,
    /// Job progress, which `GET /v1/backfill/{id}` reads.
    pub jobs: Arc<dyn JobProgressStore>,
    sync: Arc<Sync>,
    notifications: Arc<Notifications>,
    poll_interval: Duration,
}

/// `name` from the environment, else `configured`.
fn env_or(name: &str, configured: Option<&String>) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.is_empty())
        .or_else(|| configured.cloned())
}

impl Integrations {
    /// The integrations of `node`, as `settings` and the environment configure them.
    pub fn open(settings: &Settings, node: &Node) -> anyhow::Result<Self> {
        let microsoft = &settings.providers.microsoft;
        let graph_url = env_or(env_vars::MICROSOFT_GRAPH_URL, microsoft.graph_url.as_ref())
            .unwrap_or_else(|| DEFAULT_GRAPH_URL.to_string());
        let token_url = env_or(env_vars::MICROSOFT_TOKEN_URL, microsoft.token_url.as_ref())
            .unwrap_or_else(|| DEFAULT_TOKEN_URL.to_string());
        let client_id = env_or(env_vars::MICROSOFT_CLIENT_ID, microsoft.client_id.as_ref());
        let client_secret = env_or(
            env_vars::MICROSOFT_CLIENT_SECRET,
            microsoft.client_secret.as_ref(),
        )
        .map(SecretString::new);
        let endpoints = ProviderEndpoints {
            microsoft: client_id
                .map(|client_id| TokenEndpoint::new(&token_url, &client_id, client_secret)),
        };
        let keys = match std::env::var(env_vars::ENCRYPTION_KEY) {
            Ok(key) => {
                let previous =
                    std::env::var(env_vars::PREVIOUS_ENCRYPTION_KEYS).unwrap_or_default();
                let previous: Vec<&str> = previous
                    .split(',')
                    .map(str::trim)
                    .filter(|key| !key.is_empty())
                    .collect();
                SecretKeys::from_base64(&key, &previous)
                    .with_context(|| format!("invalid {}", env_vars::ENCRYPTION_KEY))?
            }
            Err(_) => {
                let (keys, created) = SecretKeys::in_data_dir(&settings.data_dir)?;
                if created {
                    tracing::warn!(data_dir = %settings.data_dir.display(), "no {} set: provider credentials are sealed with a key created in the data directory (auth/encryption.key); set one for a deployment", env_vars::ENCRYPTION_KEY);
                }
                keys
            }
        };
        let connector = Arc::new(Connector::new(
            node.integrations.clone(),
            Arc::new(keys),
            endpoints,
        ));
        let webhook_url = env_or(
            env_vars::MICROSOFT_WEBHOOK_URL,
            microsoft.webhook_url.as_ref(),
        );
        let poll_interval = match std::env::var(env_vars::MICROSOFT_POLL_SECS) {
            Ok(secs) => Some(secs.trim().parse::<u64>().with_context(|| {
                format!(
                    "{} must be a number of seconds",
                    env_vars::MICROSOFT_POLL_SECS
                )
            })?),
            Err(_) => microsoft.poll_interval_secs,
        }
        .map_or(DEFAULT_POLL_INTERVAL, Duration::from_secs)
        .max(Duration::from_secs(1));
        let graph = GraphClient::new(&graph_url, Throttle::default());
        let sync = Arc::new(Sync::new(
            connector.clone(),
            graph,
            node.jobs.clone(),
            node.publisher.clone(),
        ));
        let notifications = Arc::new(Notifications::new(
            connector.clone(),
            sync.clone(),
            webhook_url,
        ));
        Ok(Integrations {
            connector,
            jobs: node.jobs.clone(),
            sync,
            notifications,
            poll_interval,
        })
    }

    /// Connects an account of `user_id` and starts reading its history; the integration,
    /// with its backfill job.
    pub async fn connect(
        &self,
        user_id: &str,
        request: ConnectRequest,
    ) -> Result<Integration, IntegrationError> {
        let integration = self.connector.connect(user_id, request).await?;
        let job = self
            .sync
            .create_job(user_id, &BackfillOptions::of(&integration.data_types))
            .await?;
        let integration = self
            .connector
            .set_backfill_job(user_id, &integration.id, job.as_str())
            .await?;
        self.spawn(user_id, &integration.id, job);
        Ok(integration)
    }

    /// Starts reading the history the integration `id` of `user_id` again as `options`
    /// say (an empty `data_types`: everything it reads), as a new backfill job that also
    /// deletes downstream what the provider no longer has; the job. A backfill of it
    /// still running is cancelled.
    pub async fn backfill(
        &self,
        user_id: &str,
        id: &str,
        mut options: BackfillOptions,
    ) -> Result<JobId, IntegrationError> {
        let integration = self.connector.get(user_id, id).await?;
        if options.data_types.is_empty() {
            options.data_types = integration.data_types.clone();
        }
        options.data_types.sort();
        options.data_types.dedup();
        let data_types = &options.data_types;
        if let Some(other) = data_types
            .iter()
            .find(|data_type| !integration.data_types.contains(data_type))
        {
            return Err(IntegrationError::new(
                IntegrationErrorKind::Invalid,
                format!(
                    "integration {id} does not read {}: it reads {}",
                    other.as_str(),
                    integration
                        .data_types
                        .iter()
                        .map(|data_type| data_type.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        if let Some(previous) = integration.backfill_job.as_deref()
            && let Ok(previous) = JobId::new(previous)
        {
            let update = self.jobs.cancel(&previous).await.map_err(|err| {
                IntegrationError::new(IntegrationErrorKind::Unavailable, err.to_string())
            })?;
            tracing::info!(job = %previous, ?update, "the previous backfill gives way to a new one");
        }
        let job = self.sync.create_job(user_id, &options).await?;
        self.connector
            .set_backfill_job(user_id, id, job.as_str())
            .await?;
        self.spawn(user_id, id, job.clone());
        Ok(job)
    }

    /// Disconnects the integration `id` of `user_id`: cancels its backfill, deletes its
    /// subscriptions, and with `purge` first publishes a delete event for every item it
    /// delivered (so that every consumer forgets them).
    pub async fn disconnect(
        &self,
        user_id: &str,
        id: &str,
        purge: bool,
    ) -> Result<Integration, IntegrationError> {
        let integration = self.connector.get(user_id, id).await?;
        // The backfill first, so that it gives way at its next page; then nothing else
        // syncs the integration until it is gone, so nothing comes back after a purge.
        if let Some(job) = integration.backfill_job.as_deref()
            && let Ok(job) = JobId::new(job)
        {
            let update = self.jobs.cancel(&job).await.map_err(|err| {
                IntegrationError::new(IntegrationErrorKind::Unavailable, err.to_string())
            })?;
            tracing::info!(%job, ?update, "backfill cancelled with its integration");
        }
        let _held = self.sync.hold(id).await;
        if purge {
            self.sync.purge(user_id, id).await?;
        }
        self.notifications.unsubscribe(user_id, id).await;
        self.connector.disconnect(user_id, id).await
    }

    /// Resumes the backfill of every integration whose job has not ended (a server
    /// stopped or killed mid-way).
    pub async fn resume(&self) -> anyhow::Result<()> {
        for integration in self.connector.with_backfill_jobs(MAX_RESUMED).await? {
            let Some(job) = integration.backfill_job.as_deref() else {
                continue;
            };
            let job = JobId::new(job)?;
            let ended = self
                .jobs
                .progress(&job)
                .await?
                .is_none_or(|progress| progress.state.is_final());
            if !ended {
                tracing::info!(integration = %integration.id, %job, "resuming a backfill");
                self.spawn(&integration.user_id, &integration.id, job);
            }
        }
        Ok(())
    }

    /// Checks a webhook delivery and starts what it asks for in the background; a forged
    /// one changes nothing.
    pub async fn receive(&self, body: &[u8]) -> Result<Result<usize, Forged>, IntegrationError> {
        let signals = match self.notifications.receive(body).await? {
            Ok(signals) => signals,
            Err(forged) => return Ok(Err(forged)),
        };
        let count = signals.len();
        for signal in signals {
            let this = self.clone();
            tokio::spawn(async move {
                let outcome = match &signal {
                    Signal::Stream {
                        user_id,
                        integration_id,
                    } => this.sync.stream(user_id, integration_id).await.map(drop),
                    Signal::Subscribe {
                        user_id,
                        integration_id,
                    } => this
                        .notifications
                        .subscribe(user_id, integration_id, true)
                        .await
                        .map(drop),
                };
                if let Err(err) = outcome {
                    tracing::warn!(?signal, error = %err, "a change notification's sync failed; the next poll tries again");
                }
            });
        }
        Ok(Ok(count))
    }

    /// Polls every integration whose history is read, every poll interval, until the
    /// process ends: renews subscriptions about to expire and streams changes.
    pub fn spawn_poll(&self) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(this.poll_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                if let Err(err) = this.poll().await {
                    tracing::warn!(error = %err, "integration poll failed");
                }
            }
        });
    }

    /// Follows every active integration whose backfill has ended, each in its own task
    /// (so that one slow account holds back no other), [`POLLED_AT_ONCE`] at a time.
    async fn poll(&self) -> anyhow::Result<()> {
        let turns = Arc::new(tokio::sync::Semaphore::new(POLLED_AT_ONCE));
        for integration in self.connector.with_backfill_jobs(MAX_RESUMED).await? {
            let Some(job) = integration.backfill_job.as_deref() else {
                continue;
            };
            let backfilled = self
                .jobs
                .progress(&JobId::new(job)?)
                .await?
                .is_some_and(|progress| progress.state.is_final());
            if integration.state != IntegrationState::Active || !backfilled {
                continue;
            }
            let (this, turns) = (self.clone(), turns.clone());
            tokio::spawn(async move {
                let _turn = turns.acquire_owned().await;
                this.follow(&integration.user_id, &integration.id).await;
            });
        }
        Ok(())
    }

    /// Lists the feeds of an integration whose history is read again (folders and lists
    /// made or deleted since), subscribes them, and streams their changes.
    async fn follow(&self, user_id: &str, integration_id: &str) {
        if let Err(err) = self.sync.refresh_feeds(user_id, integration_id).await {
            tracing::warn!(integration = integration_id, error = %err, "failed to list the feeds again; the next poll tries again");
        }
        if let Err(err) = self
            .notifications
            .subscribe(user_id, integration_id, false)
            .await
        {
            tracing::warn!(integration = integration_id, error = %err, "failed to subscribe to change notifications; polling covers it");
        }
        if let Err(err) = self.sync.stream(user_id, integration_id).await {
            tracing::warn!(integration = integration_id, error = %err, "failed to stream changes; the next poll tries again");
        }
    }

    /// Runs `job` in the background, logging how it ended, and once the history is read
    /// follows the integration's changes; a failure that leaves the job running (the bus
    /// down) is tried again a minute later.
    fn spawn(&self, user_id: &str, integration_id: &str, job: JobId) {
        let (this, user_id, integration_id) = (
            self.clone(),
            user_id.to_string(),
            integration_id.to_string(),
        );
        tokio::spawn(async move {
            loop {
                match this.sync.backfill(&user_id, &integration_id, &job).await {
                    Ok(progress) => {
                        tracing::info!(%job, state = %progress.state, done = progress.done, failed = progress.failed, reason = ?progress.reason, "backfill ended");
                        // Done, failed with some items or cancelled: whatever feeds it
                        // handed over are followed (none when it read nothing).
                        if progress.state.is_final() {
                            this.follow(&user_id, &integration_id).await;
                        }
                        return;
                    }
                    Err(err) if err.kind() == IntegrationErrorKind::Unavailable => {
                        tracing::warn!(%job, error = %err, "backfill interrupted; trying again in a minute");
                        tokio::time::sleep(Duration::from_secs(60)).await;
                    }
                    Err(err) => {
                        tracing::warn!(%job, error = %err, "backfill stopped");
                        return;
                    }
                }
            }
        });
    }
}
