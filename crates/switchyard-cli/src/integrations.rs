//! Connected accounts in `serve`: [`Integrations`] puts together the provider endpoints
//! (`[providers.microsoft]`, each key yielding to its `SWITCHYARD_MICROSOFT_*` variable),
//! the keys that seal credentials (`SWITCHYARD_ENCRYPTION_KEY`, else the data directory's
//! own key file), the integration store and job progress of the node, and runs backfills:
//! one when an account is connected, and every unfinished one when the server starts.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_auth::{SecretKeys, SecretString};
use switchyard_integrations::{
    ConnectRequest, Connector, DataType, Integration, IntegrationError, IntegrationErrorKind,
    MailBackfill, ProviderEndpoints,
};
use switchyard_providers::microsoft::{DEFAULT_GRAPH_URL, DEFAULT_TOKEN_URL};
use switchyard_providers::{GraphClient, Throttle, TokenEndpoint};
use switchyard_state::{JobId, JobProgressStore};

use crate::config::Settings;
use crate::env_vars;
use crate::node::Node;

/// The most integrations whose jobs a starting server looks at.
const MAX_RESUMED: usize = 10_000;

/// Connected accounts and their backfills. Cloning is cheap.
#[derive(Clone)]
pub struct Integrations {
    /// Connects, refreshes and disconnects accounts.
    pub connector: Arc<Connector>,
    /// Job progress, which `GET /v1/backfill/{id}` reads.
    pub jobs: Arc<dyn JobProgressStore>,
    mail: Arc<MailBackfill>,
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
        let graph = GraphClient::new(&graph_url, Throttle::default());
        let mail = Arc::new(MailBackfill::new(
            connector.clone(),
            graph,
            node.jobs.clone(),
            node.publisher.clone(),
        ));
        Ok(Integrations {
            connector,
            jobs: node.jobs.clone(),
            mail,
        })
    }

    /// Connects an account of `user_id` and starts reading its history; the integration,
    /// with its backfill job.
    pub async fn connect(
        &self,
        user_id: &str,
        request: ConnectRequest,
    ) -> Result<Integration, IntegrationError> {
        let reads_mail = request.data_types.contains(&DataType::Emails);
        let integration = self.connector.connect(user_id, request).await?;
        if !reads_mail {
            return Ok(integration);
        }
        let job = self.mail.create_job(user_id).await?;
        let integration = self
            .connector
            .set_backfill_job(user_id, &integration.id, job.as_str())
            .await?;
        self.spawn(user_id, &integration.id, job);
        Ok(integration)
    }

    /// Disconnects the integration `id` of `user_id` and cancels its backfill.
    pub async fn disconnect(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Integration, IntegrationError> {
        let integration = self.connector.disconnect(user_id, id).await?;
        if let Some(job) = integration.backfill_job.as_deref()
            && let Ok(job) = JobId::new(job)
        {
            match self.jobs.cancel(&job).await {
                Ok(update) => {
                    tracing::info!(%job, ?update, "backfill cancelled with its integration")
                }
                Err(err) => {
                    tracing::warn!(%job, error = %err, "failed to cancel the backfill of a disconnected integration")
                }
            }
        }
        Ok(integration)
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

    /// Runs `job` in the background, logging how it ended; a failure that leaves it
    /// running (the bus down) is tried again a minute later.
    fn spawn(&self, user_id: &str, integration_id: &str, job: JobId) {
        let (mail, user_id, integration_id) = (
            self.mail.clone(),
            user_id.to_string(),
            integration_id.to_string(),
        );
        tokio::spawn(async move {
            loop {
                match mail.run(&user_id, &integration_id, &job).await {
                    Ok(progress) => {
                        tracing::info!(%job, state = %progress.state, done = progress.done, failed = progress.failed, reason = ?progress.reason, "backfill ended");
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
