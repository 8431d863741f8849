//! [`Connector`]: connects accounts, hands out their access tokens, and disconnects them.
//!
//! Connecting redeems the grant at once (an authorization code, or a refresh token
//! checked by refreshing it), so a wrong one is refused then and not at the first sync.
//! Access tokens live in memory only, and are refreshed five minutes before they expire;
//! refreshes run one at a time, so a provider that rotates refresh tokens never sees the
//! old one used after the new one was issued. A refused grant marks the integration
//! `needs_reauth` with the provider's reason, and nothing retries it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use switchyard_auth::{SecretKeys, SecretString};
use switchyard_providers::{ProviderError, ProviderErrorKind, TokenEndpoint, TokenGrant};
use tokio::sync::Mutex;

use crate::store::{
    DataType, Integration, IntegrationError, IntegrationErrorKind, IntegrationState,
    IntegrationStore, Provider, StoredIntegration,
};

/// How long before its expiry an access token is refreshed.
const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// How the user granted access.
#[derive(Debug, Clone)]
pub enum Grant {
    /// A refresh token the application already holds.
    RefreshToken(SecretString),
    /// An authorization code from the provider's consent page, given to `redirect_uri`.
    Code {
        /// The code.
        code: SecretString,
        /// The redirect URI the code was issued for.
        redirect_uri: String,
    },
}

/// A request to connect an account.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// Where the account is.
    pub provider: Provider,
    /// The user's grant.
    pub grant: Grant,
    /// What to read; not empty.
    pub data_types: Vec<DataType>,
}

/// The token endpoint of each configured provider.
#[derive(Debug, Clone, Default)]
pub struct ProviderEndpoints {
    /// Microsoft's, when a client id is configured.
    pub microsoft: Option<TokenEndpoint>,
}

impl ProviderEndpoints {
    fn of(&self, provider: Provider) -> Result<&TokenEndpoint, IntegrationError> {
        match provider {
            Provider::Microsoft => self.microsoft.as_ref(),
        }
        .ok_or_else(|| {
            IntegrationError::new(
                IntegrationErrorKind::Invalid,
                format!(
                    "provider {} is not configured: set SWITCHYARD_MICROSOFT_CLIENT_ID and \
                     SWITCHYARD_MICROSOFT_CLIENT_SECRET (or [providers.microsoft])",
                    provider.as_str()
                ),
            )
        })
    }
}

/// The scopes to ask `provider` for, to read `data_types` while the user is away.
fn scope(provider: Provider, data_types: &[DataType]) -> String {
    match provider {
        Provider::Microsoft => {
            let mut scopes = vec!["offline_access".to_string()];
            scopes.extend(data_types.iter().map(|data_type| {
                let permission = match data_type {
                    DataType::Emails => "Mail.Read",
                    DataType::Calendars => "Calendars.Read",
                    DataType::Contacts => "Contacts.Read",
                    DataType::Todos => "Tasks.Read",
                    DataType::Files => "Files.Read.All",
                };
                format!("https://graph.microsoft.com/{permission}")
            }));
            scopes.join(" ")
        }
    }
}

/// The associated data a refresh token is sealed with: it opens only for its own
/// integration.
fn seal_context(id: &str) -> String {
    format!("integration/{id}/refresh_token")
}

/// Connects, reads and disconnects integrations. Shared by every route and worker.
pub struct Connector {
    store: Arc<dyn IntegrationStore>,
    keys: Arc<SecretKeys>,
    endpoints: ProviderEndpoints,
    /// Access tokens by integration id; the lock also makes refreshes one at a time.
    tokens: Mutex<HashMap<String, TokenGrant>>,
}

impl Connector {
    /// A connector keeping integrations in `store`, sealing with `keys`, and asking the
    /// providers of `endpoints` for tokens.
    pub fn new(
        store: Arc<dyn IntegrationStore>,
        keys: Arc<SecretKeys>,
        endpoints: ProviderEndpoints,
    ) -> Self {
        Connector {
            store,
            keys,
            endpoints,
            tokens: Mutex::default(),
        }
    }

    /// Connects an account of `user_id`: redeems the grant, seals the refresh token and
    /// stores the integration, active.
    pub async fn connect(
        &self,
        user_id: &str,
        request: ConnectRequest,
    ) -> Result<Integration, IntegrationError> {
        let mut data_types = request.data_types;
        data_types.sort();
        data_types.dedup();
        if data_types.is_empty() {
            return Err(IntegrationError::new(
                IntegrationErrorKind::Invalid,
                "data_types is empty: name what to read (emails, calendars, contacts, todos, files)",
            ));
        }
        let endpoint = self.endpoints.of(request.provider)?;
        let scope = scope(request.provider, &data_types);
        let (grant, given_refresh_token) = match &request.grant {
            Grant::RefreshToken(token) => (endpoint.refresh(token, &scope).await, Some(token)),
            Grant::Code { code, redirect_uri } => {
                (endpoint.redeem_code(code, redirect_uri, &scope).await, None)
            }
        };
        let grant = grant.map_err(|err| refused(&err, "the grant was refused"))?;
        let refresh_token = grant
            .refresh_token
            .as_ref()
            .or(given_refresh_token)
            .ok_or_else(|| {
                IntegrationError::new(
                    IntegrationErrorKind::Invalid,
                    "the provider granted no refresh token: ask for the offline_access scope",
                )
            })?;
        let id = uuid::Uuid::now_v7().to_string();
        let sealed = self
            .keys
            .seal(refresh_token, &seal_context(&id))
            .map_err(|err| {
                IntegrationError::new(IntegrationErrorKind::Unavailable, err.to_string())
            })?;
        let now = Utc::now();
        let integration = Integration {
            id: id.clone(),
            user_id: user_id.to_string(),
            provider: request.provider,
            data_types,
            state: IntegrationState::Active,
            state_reason: None,
            backfill_job: None,
            created_at: now,
            updated_at: now,
        };
        self.store
            .put(StoredIntegration {
                integration: integration.clone(),
                refresh_token: sealed,
                client_state: None,
                feeds: Vec::new(),
                backfill_feeds: None,
            })
            .await?;
        self.tokens.lock().await.insert(id, grant);
        tracing::info!(user_id, integration = %integration.id, provider = integration.provider.as_str(), "integration connected");
        Ok(integration)
    }

    /// The integration `id` of `user_id`.
    pub async fn get(&self, user_id: &str, id: &str) -> Result<Integration, IntegrationError> {
        Ok(self.store.get(user_id, id).await?.integration)
    }

    /// The integrations of `user_id`.
    pub async fn list(&self, user_id: &str) -> Result<Vec<Integration>, IntegrationError> {
        Ok(self
            .store
            .list(user_id)
            .await?
            .into_iter()
            .map(|stored| stored.integration)
            .collect())
    }

    /// A valid access token of the integration `id` of `user_id`, refreshed when it
    /// expires within five minutes. A refused grant marks the integration
    /// `needs_reauth` and fails with [`IntegrationErrorKind::NeedsReauth`].
    pub async fn access_token(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<SecretString, IntegrationError> {
        let mut tokens = self.tokens.lock().await;
        let mut stored = self.store.get(user_id, id).await?;
        if stored.integration.state == IntegrationState::NeedsReauth {
            return Err(needs_reauth(&stored.integration));
        }
        if let Some(grant) = tokens.get(id)
            && !grant.expires_within(REFRESH_MARGIN, Utc::now())
        {
            return Ok(grant.access_token.clone());
        }
        let context = seal_context(id);
        let refresh_token = self.open_secret(&stored.refresh_token, &context)?;
        let endpoint = self.endpoints.of(stored.integration.provider)?;
        let scope = scope(stored.integration.provider, &stored.integration.data_types);
        let grant = match endpoint.refresh(&refresh_token, &scope).await {
            Ok(grant) => grant,
            Err(err) if err.kind() == ProviderErrorKind::NeedsReauth => {
                tokens.remove(id);
                stored.integration.state = IntegrationState::NeedsReauth;
                stored.integration.state_reason = Some(err.to_string());
                stored.integration.updated_at = Utc::now();
                let integration = stored.integration.clone();
                self.store.put(stored).await?;
                tracing::warn!(user_id, integration = id, reason = %err, "integration needs the user to connect again");
                return Err(needs_reauth(&integration));
            }
            Err(err) => return Err(refused(&err, "failed to refresh the access token")),
        };
        let changed_key = self.keys.needs_reseal(&stored.refresh_token);
        if let Some(rotated) = grant
            .refresh_token
            .as_ref()
            .filter(|rotated| **rotated != refresh_token)
        {
            stored.refresh_token = self.seal(rotated, &context)?;
            self.store.put(stored).await?;
        } else if changed_key {
            // Sealed with a previous key: seal it with the current one.
            stored.refresh_token = self.seal(&refresh_token, &context)?;
            self.store.put(stored).await?;
        }
        let access_token = grant.access_token.clone();
        tokens.insert(id.to_string(), grant);
        Ok(access_token)
    }

    /// Seals `secret` for `context` with the current key.
    pub(crate) fn seal(
        &self,
        secret: &SecretString,
        context: &str,
    ) -> Result<switchyard_auth::Sealed, IntegrationError> {
        self.keys.seal(secret, context).map_err(|err| {
            IntegrationError::new(IntegrationErrorKind::Unavailable, err.to_string())
        })
    }

    /// Records `job` as the job reading the history of the integration `id` of `user_id`.
    pub async fn set_backfill_job(
        &self,
        user_id: &str,
        id: &str,
        job: &str,
    ) -> Result<Integration, IntegrationError> {
        let stored = self
            .update(user_id, id, |stored| {
                stored.integration.backfill_job = Some(job.to_string());
            })
            .await?;
        Ok(stored.integration)
    }

    /// The integration `id` of `user_id` as stored, with its sealed secrets and feeds.
    pub(crate) async fn stored(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<StoredIntegration, IntegrationError> {
        self.store.get(user_id, id).await
    }

    /// Forgets the access token of the integration `id`, so that the next
    /// [`access_token`](Self::access_token) refreshes it (the provider refused it before
    /// its time).
    pub(crate) async fn forget_access_token(&self, id: &str) {
        self.tokens.lock().await.remove(id);
    }

    /// Changes the stored integration `id` of `user_id` with `change`, under the lock
    /// every writer of the record takes (a token refresh rewrites it too); what it is
    /// now.
    pub(crate) async fn update(
        &self,
        user_id: &str,
        id: &str,
        change: impl FnOnce(&mut StoredIntegration),
    ) -> Result<StoredIntegration, IntegrationError> {
        let _tokens = self.tokens.lock().await;
        let mut stored = self.store.get(user_id, id).await?;
        change(&mut stored);
        stored.integration.updated_at = Utc::now();
        self.store.put(stored.clone()).await?;
        Ok(stored)
    }

    /// The store the integrations are kept in.
    pub(crate) fn store(&self) -> &Arc<dyn IntegrationStore> {
        &self.store
    }

    /// Opens `sealed`, sealed for `context`.
    pub(crate) fn open_secret(
        &self,
        sealed: &switchyard_auth::Sealed,
        context: &str,
    ) -> Result<SecretString, IntegrationError> {
        self.keys.open(sealed, context).map_err(|err| {
            IntegrationError::new(IntegrationErrorKind::Unavailable, err.to_string())
        })
    }

    /// Every user's integrations with a backfill job, at most `limit` (for a server
    /// resuming their jobs when it starts).
    pub async fn with_backfill_jobs(
        &self,
        limit: usize,
    ) -> Result<Vec<Integration>, IntegrationError> {
        Ok(self
            .store
            .all(limit)
            .await?
            .into_iter()
            .map(|stored| stored.integration)
            .filter(|integration| integration.backfill_job.is_some())
            .collect())
    }

    /// Disconnects the integration `id` of `user_id` and forgets its credentials;
    /// returns what it was.
    pub async fn disconnect(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<Integration, IntegrationError> {
        let mut tokens = self.tokens.lock().await;
        let stored = self.store.get(user_id, id).await?;
        self.store.delete(user_id, id).await?;
        tokens.remove(id);
        tracing::info!(user_id, integration = id, "integration disconnected");
        Ok(stored.integration)
    }
}

fn needs_reauth(integration: &Integration) -> IntegrationError {
    IntegrationError::new(
        IntegrationErrorKind::NeedsReauth,
        format!(
            "integration {} needs its user to connect again: {}",
            integration.id,
            integration
                .state_reason
                .as_deref()
                .unwrap_or("the grant was refused")
        ),
    )
}

/// A provider failure while connecting or refreshing, as an integration error.
fn refused(err: &ProviderError, what: &str) -> IntegrationError {
    let kind = match err.kind() {
        ProviderErrorKind::Unavailable => IntegrationErrorKind::Unavailable,
        ProviderErrorKind::NeedsReauth
        | ProviderErrorKind::Invalid
        | ProviderErrorKind::CursorExpired
        | ProviderErrorKind::NotFound => IntegrationErrorKind::Invalid,
    };
    IntegrationError::new(kind, format!("{what}: {err}"))
}
