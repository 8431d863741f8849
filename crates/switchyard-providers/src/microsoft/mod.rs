//! Microsoft Graph: delta queries paged from `@odata.nextLink` to `@odata.deltaLink`
//! ([`GraphClient::page`]), and Graph items mapped onto the office contracts (`mail.rs`).
//!
//! A backfill starts at a resource's delta URL ([`GraphClient::delta_url`]) and follows
//! each page's [`Cursor::Next`] until a [`Cursor::Delta`], which is where streaming
//! resumes later. Links are followed only when they point below the configured Graph URL
//! (no token is ever sent elsewhere). A 410 answer (`syncStateNotFound`,
//! `resyncRequired`) is [`ProviderErrorKind::CursorExpired`]: the caller starts over from
//! the delta URL and reconciles deletions. Every request asks for text bodies
//! (`Prefer: outlook.body-content-type="text"`) and a page size.

mod mail;
mod subscriptions;

use std::time::Duration;

use serde_json::Value;
use switchyard_auth::SecretString;

pub use mail::{MailChange, mail_change};
pub use subscriptions::{
    LifecycleEvent, Notification, Subscription, SubscriptionRequest, client_state_matches,
    max_subscription_lifetime, new_client_state, parse_notifications,
};

use crate::oauth::read_at_most;
use crate::{ProviderError, ProviderErrorKind, Throttle};

/// The default Graph URL (`SWITCHYARD_MICROSOFT_GRAPH_URL` overrides it).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// The default token endpoint (`SWITCHYARD_MICROSOFT_TOKEN_URL` overrides it): the
/// Microsoft identity platform's, for work, school and personal accounts.
pub const DEFAULT_TOKEN_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
/// The most bytes read of one page.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Items asked per page (`Prefer: odata.maxpagesize`).
const PAGE_SIZE: u32 = 100;

/// What a delta query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The messages of one mail folder (`inbox`, `sentitems`, or a folder id).
    Mail {
        /// The folder's id or well-known name.
        folder: String,
    },
}

impl Resource {
    fn path(&self) -> String {
        match self {
            Resource::Mail { folder } => format!(
                "/v1.0/me/mailFolders/{folder}/messages/delta?$select=subject,lastModifiedDateTime,from,sender,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,body,conversationId,internetMessageId,isRead,isDraft,flag,parentFolderId,hasAttachments"
            ),
        }
    }
}

/// Where a delta query goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// More pages: the next one is here.
    Next(String),
    /// The last page: changes after it are read from here.
    Delta(String),
}

/// One page of a delta query.
#[derive(Debug, Clone)]
pub struct DeltaPage {
    /// The changed items, as Graph wrote them (removals carry `@removed`).
    pub items: Vec<Value>,
    /// Where to go on.
    pub cursor: Cursor,
}

/// A Microsoft Graph client. Cloning shares its connections and its throttling.
#[derive(Debug, Clone)]
pub struct GraphClient {
    base_url: String,
    http: reqwest::Client,
    throttle: Throttle,
}

impl GraphClient {
    /// A client of the Graph API at `base_url` (normally [`DEFAULT_GRAPH_URL`]).
    pub fn new(base_url: &str, throttle: Throttle) -> Self {
        GraphClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("an HTTP client with a timeout builds"),
            throttle,
        }
    }

    /// Where a delta query of `resource` starts.
    pub fn delta_url(&self, resource: &Resource) -> String {
        format!("{}{}", self.base_url, resource.path())
    }

    /// Reads the page at `url` (a [`delta_url`](Self::delta_url) or a cursor's link) of
    /// `mailbox` with `access_token`.
    pub async fn page(
        &self,
        mailbox: &str,
        url: &str,
        access_token: &SecretString,
    ) -> Result<DeltaPage, ProviderError> {
        if !self.is_own(url) {
            return Err(ProviderError::new(
                ProviderErrorKind::Invalid,
                format!(
                    "refusing to follow a delta link outside {}: {}",
                    self.base_url,
                    link_origin(url)
                ),
            ));
        }
        let what = format!("Graph delta page of {mailbox}");
        let response = self
            .throttle
            .send(mailbox, &what, || {
                self.http
                    .get(url)
                    .bearer_auth(access_token.expose())
                    .header(
                        "Prefer",
                        format!(
                            "outlook.body-content-type=\"text\", odata.maxpagesize={PAGE_SIZE}"
                        ),
                    )
            })
            .await?;
        let status = response.status();
        let body = read_at_most(response, MAX_PAGE_BYTES, &what).await?;
        if !status.is_success() {
            let code = graph_error_code(&body);
            let kind = match status.as_u16() {
                410 => ProviderErrorKind::CursorExpired,
                401 => ProviderErrorKind::NeedsReauth,
                _ => ProviderErrorKind::Invalid,
            };
            return Err(ProviderError::new(
                kind,
                format!("{what}: HTTP {status} {code}")
                    .trim_end()
                    .to_string(),
            ));
        }
        let page: Value = serde_json::from_slice(&body).map_err(|err| {
            ProviderError::new(
                ProviderErrorKind::Invalid,
                format!("{what}: unreadable page: {err}"),
            )
        })?;
        let items = match page.get("value") {
            Some(Value::Array(items)) => items.clone(),
            _ => {
                return Err(ProviderError::new(
                    ProviderErrorKind::Invalid,
                    format!("{what}: the page has no `value` array"),
                ));
            }
        };
        let link = |name: &str| page.get(name).and_then(Value::as_str).map(str::to_string);
        let cursor = match (link("@odata.nextLink"), link("@odata.deltaLink")) {
            (Some(next), _) => Cursor::Next(next),
            (None, Some(delta)) => Cursor::Delta(delta),
            (None, None) => {
                return Err(ProviderError::new(
                    ProviderErrorKind::Invalid,
                    format!("{what}: the page has neither @odata.nextLink nor @odata.deltaLink"),
                ));
            }
        };
        Ok(DeltaPage { items, cursor })
    }

    /// Whether `url` is below this client's Graph URL.
    fn is_own(&self, url: &str) -> bool {
        url.strip_prefix(&self.base_url)
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// Scheme and host of `url`, for an error (never its query, which may hold a token).
fn link_origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let end = url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |at| after_scheme + at);
    &url[..end]
}

/// The `error.code` of a Graph error answer, if it has one.
fn graph_error_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|error| error["error"]["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}
