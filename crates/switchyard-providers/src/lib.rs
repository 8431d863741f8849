//! Connected accounts: what Switchyard needs to read a user's office data from a
//! provider, the same for every provider.
//!
//! - [`oauth`]: the OAuth2 token endpoint ([`TokenEndpoint`]): an authorization code or a
//!   refresh token becomes a short-lived access token ([`TokenGrant`]); `invalid_grant`
//!   is [`ProviderErrorKind::NeedsReauth`], never retried.
//! - [`http`]: provider requests that honour throttling ([`Throttle`]): a 429 or 503 waits
//!   `Retry-After` (capped, with jitter) and tries again, and the wait holds every request
//!   to the same mailbox, so concurrent jobs on one mailbox do not multiply the throttle.
//! - [`microsoft`]: Microsoft Graph delta queries ([`GraphClient`]) of mail, calendar,
//!   contacts, To Do and OneDrive, paged from `nextLink` to `deltaLink`; drive files
//!   downloaded without the token leaving Graph; and Graph items of every [`DataType`]
//!   mapped onto the office contracts by one function (`microsoft::change`), drive files
//!   parsed by the office importers (`switchyard-office`).
//!
//! With the `testsuite` feature, [`fake`] serves a fake of Microsoft's services.
//!
//! **Boundary:** no broker, store or HTTP server; tokens are [`SecretString`]s, never
//! logged. Every endpoint is a configured base URL, so tests and private clouds point
//! elsewhere with the same code path.
//!
//! [`SecretString`]: switchyard_auth::SecretString

#[cfg(feature = "testsuite")]
pub mod fake;
pub mod http;
pub mod microsoft;
pub mod oauth;

pub use http::Throttle;
pub use microsoft::GraphClient;
pub use oauth::{TokenEndpoint, TokenGrant};

/// What an integration reads, named like the topics its events go to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    /// Mail messages (`emails`).
    Emails,
    /// Calendar events (`calendars`).
    Calendars,
    /// Contacts (`contacts`).
    Contacts,
    /// To-do tasks (`todos`).
    Todos,
    /// Word, Excel and PowerPoint files (`files`).
    Files,
}

impl DataType {
    /// Its name, as in requests and cursors.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Emails => "emails",
            DataType::Calendars => "calendars",
            DataType::Contacts => "contacts",
            DataType::Todos => "todos",
            DataType::Files => "files",
        }
    }
}

/// What went wrong talking to a provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderErrorKind {
    /// The user must connect the account again (`invalid_grant`, a revoked consent):
    /// retrying cannot help.
    NeedsReauth,
    /// The sync cursor is no longer valid (HTTP 410): start a full resync.
    CursorExpired,
    /// The provider did not answer, or failed, after the retries: try again later.
    Unavailable,
    /// The request or the answer is wrong (a 4xx other than the above, an unreadable
    /// payload, a link to another host): retrying gives the same.
    Invalid,
    /// What the request names is gone (HTTP 404), such as a subscription the provider
    /// removed (create it again) or a folder deleted (stop reading it): retrying gives
    /// the same.
    NotFound,
}

/// A provider failure: its kind and a message naming what was asked and what came back.
/// Never holds a token.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    kind: ProviderErrorKind,
    message: String,
}

impl ProviderError {
    pub(crate) fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ProviderErrorKind {
        self.kind
    }
}
