//! The integration model and the store trait: what is kept about a connected account, and
//! the calls every store answers, each scoped to the integration's owner.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_auth::Sealed;
use switchyard_contracts::DataKind;
pub use switchyard_providers::DataType;

/// A provider accounts can be connected from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Microsoft 365 and Outlook.com, through Microsoft Graph.
    Microsoft,
}

impl Provider {
    /// The provider's name, as in requests (`microsoft`).
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Microsoft => "microsoft",
        }
    }
}

/// Whether an integration can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationState {
    /// Its grant works.
    Active,
    /// The provider refused its grant (expired, revoked): the user must connect again;
    /// nothing reads it until then.
    NeedsReauth,
}

impl IntegrationState {
    /// Its name, as answered: `active` or `needs_reauth`.
    pub fn as_str(self) -> &'static str {
        match self {
            IntegrationState::Active => "active",
            IntegrationState::NeedsReauth => "needs_reauth",
        }
    }
}

/// A connected account, as shown to its owner (never with its credentials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// Its id.
    pub id: String,
    /// Its owner.
    pub user_id: String,
    /// Where the account is.
    pub provider: Provider,
    /// What it reads.
    pub data_types: Vec<DataType>,
    /// Whether it can be read.
    pub state: IntegrationState,
    /// Why it is not active, in the provider's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
    /// The job reading its history, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_job: Option<String>,
    /// When it was connected.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// An integration with its sealed secrets and sync state, as a store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredIntegration {
    /// The integration.
    pub integration: Integration,
    /// Its refresh token, sealed for `integration/{id}/refresh_token`.
    pub refresh_token: Sealed,
    /// The `clientState` its change-notification subscriptions carry, sealed for
    /// `integration/{id}/client_state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_state: Option<Sealed>,
    /// What it reads, each with its cursor, once its backfill has read the history:
    /// streaming goes on from there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub feeds: Vec<Feed>,
    /// The feeds the running backfill reads, as far as each is read: replaces `feeds`
    /// (keeping their subscriptions) when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_feeds: Option<JobFeeds>,
}

/// The feeds of one backfill job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFeeds {
    /// The job.
    pub job: String,
    /// Its feeds, in the order it reads them.
    pub feeds: Vec<Feed>,
}

/// One delta query of an integration (a mail folder, a to-do list, the calendar, the
/// drive) and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    /// Its name in the integration, stable across syncs (`emails/inbox`, `files`): the
    /// ledger of its items is kept under it.
    pub key: String,
    /// What it reads.
    pub data_type: DataType,
    /// Where a full read of it starts (a resync goes back there).
    pub start: String,
    /// Where it goes on: the next page, or the delta link once the history is read.
    pub cursor: String,
    /// `cursor` is a delta link: the feed is in sync.
    pub synced: bool,
    /// The generation items read by the current full read are recorded with; a resync
    /// starts a new one, and items of an older one are gone from the provider.
    pub generation: u64,
    /// A full read (a backfill, or a resync after an expired cursor): when it reaches
    /// the delta link, items of older generations are deleted downstream.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resyncing: bool,
    /// The provider's name for what a change-notification subscription watches.
    pub subscription_resource: String,
    /// Its change-notification subscription, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<FeedSubscription>,
}

/// A change-notification subscription of a feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedSubscription {
    /// The provider's id of it.
    pub id: String,
    /// When the provider drops it unless it is renewed.
    pub expiration: DateTime<Utc>,
}

/// An item a feed has delivered: its id and the data kind its events travel as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerItem {
    /// The provider's id.
    pub id: String,
    /// Its data kind (the topic a deletion goes to).
    pub kind: DataKind,
}

/// What went wrong with an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegrationErrorKind {
    /// No such integration for this user.
    NotFound,
    /// The request is wrong (an unknown data type, a grant the provider refused).
    Invalid,
    /// The integration needs its user to connect again.
    NeedsReauth,
    /// The store or the provider is unavailable: try again.
    Unavailable,
}

/// An integration failure: its kind and what happened. Never holds a credential.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct IntegrationError {
    kind: IntegrationErrorKind,
    message: String,
}

impl IntegrationError {
    /// An error of `kind` saying `message`.
    pub fn new(kind: IntegrationErrorKind, message: impl Into<String>) -> Self {
        IntegrationError {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn not_found(user_id: &str, id: &str) -> Self {
        Self::new(
            IntegrationErrorKind::NotFound,
            format!("no integration {id} for user {user_id}"),
        )
    }

    /// What went wrong.
    pub fn kind(&self) -> IntegrationErrorKind {
        self.kind
    }
}

impl From<switchyard_state::BlockingTaskFailed> for IntegrationError {
    fn from(err: switchyard_state::BlockingTaskFailed) -> Self {
        Self::new(IntegrationErrorKind::Unavailable, err.to_string())
    }
}

/// Where integrations are kept. Every call names the owner; an integration of another
/// user is [`IntegrationErrorKind::NotFound`].
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// Stores `stored` (new, or replacing the one with its id).
    async fn put(&self, stored: StoredIntegration) -> Result<(), IntegrationError>;
    /// The integration `id` of `user_id`.
    async fn get(&self, user_id: &str, id: &str) -> Result<StoredIntegration, IntegrationError>;
    /// The integrations of `user_id`, oldest first.
    async fn list(&self, user_id: &str) -> Result<Vec<StoredIntegration>, IntegrationError>;
    /// Every user's integrations (for a server resuming their jobs), at most `limit`.
    async fn all(&self, limit: usize) -> Result<Vec<StoredIntegration>, IntegrationError>;
    /// Forgets the integration `id` of `user_id`, its ledger and its subscriptions;
    /// whether it was there.
    async fn delete(&self, user_id: &str, id: &str) -> Result<bool, IntegrationError>;
    /// The owner and id of the integration whose feed holds the subscription
    /// `subscription_id` (a change notification names only that).
    async fn by_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<Option<(String, String)>, IntegrationError>;

    /// Records in the ledger of the feed `feed` of integration `id` that `seen` items are
    /// there at `generation` (an item already recorded at a later one keeps it), and that
    /// `gone` ids are not any more.
    async fn record_items(
        &self,
        id: &str,
        feed: &str,
        generation: u64,
        seen: Vec<LedgerItem>,
        gone: Vec<String>,
    ) -> Result<(), IntegrationError>;
    /// The items of the feed `feed` of integration `id` last seen before `generation`
    /// (after a full read at `generation`: the items the provider no longer has).
    async fn items_before(
        &self,
        id: &str,
        feed: &str,
        generation: u64,
    ) -> Result<Vec<LedgerItem>, IntegrationError>;
    /// Every item in the ledger of integration `id`, feed by feed.
    async fn items(&self, id: &str) -> Result<Vec<(String, LedgerItem)>, IntegrationError>;
}
