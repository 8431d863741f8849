//! Microsoft Graph: delta queries paged from `@odata.nextLink` to `@odata.deltaLink`
//! ([`GraphClient::page`]), the delta queries of a mailbox's data type
//! ([`GraphClient::resources`]), drive file downloads ([`GraphClient::download`]), and
//! Graph items mapped onto the office contracts ([`change`], [`document`]).
//!
//! A backfill starts at a resource's delta URL ([`GraphClient::delta_url`]) and follows
//! each page's [`Cursor::Next`] until a [`Cursor::Delta`], which is where streaming
//! resumes later. Links are followed only when they point below the configured Graph URL
//! (no token is ever sent elsewhere, and the client follows no redirect by itself). A 410
//! answer (`syncStateNotFound`, `resyncRequired`) is [`ProviderErrorKind::CursorExpired`]:
//! the caller starts over from the delta URL and reconciles deletions. Every request asks
//! for text bodies (`Prefer: outlook.body-content-type="text"`) and a page size.
//!
//! A drive file's content answers with a redirect to a pre-authenticated URL on another
//! host; [`GraphClient::download`] follows it without the token.

mod calendar;
mod change;
mod contact;
mod drive;
mod mail;
mod subscriptions;
mod todo;

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;
use switchyard_auth::SecretString;

pub use change::{Change, Item, change};
pub use drive::{DriveFile, document};
pub use subscriptions::{
    LifecycleEvent, Notification, Subscription, SubscriptionRequest, client_state_matches,
    max_subscription_lifetime, new_client_state, parse_notifications,
};

use crate::oauth::read_at_most;
use crate::{DataType, ProviderError, ProviderErrorKind, Throttle};

/// The default Graph URL (`SWITCHYARD_MICROSOFT_GRAPH_URL` overrides it).
pub const DEFAULT_GRAPH_URL: &str = "https://graph.microsoft.com";
/// The default token endpoint (`SWITCHYARD_MICROSOFT_TOKEN_URL` overrides it): the
/// Microsoft identity platform's, for work, school and personal accounts.
pub const DEFAULT_TOKEN_URL: &str = "https://login.microsoftonline.com/common/oauth2/v2.0/token";
/// The most bytes read of one page.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;
/// Items asked per page (`Prefer: odata.maxpagesize`) unless a client says otherwise.
const PAGE_SIZE: u32 = 100;
/// The most items a client may ask per page.
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Redirects a download follows at most.
const MAX_REDIRECTS: usize = 5;

/// What a delta query reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    /// The messages of one mail folder (`inbox`, `sentitems`, or a folder id).
    Mail {
        /// The folder's id or well-known name.
        folder: String,
    },
    /// The events of the user's calendar between two instants, each occurrence of a
    /// series as an event of its own (`calendarView`).
    Events {
        /// The window's start.
        from: DateTime<Utc>,
        /// The window's end.
        to: DateTime<Utc>,
    },
    /// The contacts of one contact folder.
    Contacts {
        /// The folder's id; `None` for the default contacts folder.
        folder: Option<String>,
    },
    /// The tasks of one To Do list.
    TodoTasks {
        /// The list's id.
        list: String,
    },
    /// The files of the user's OneDrive.
    Files,
}

impl Resource {
    /// The data type it reads.
    pub fn data_type(&self) -> DataType {
        match self {
            Resource::Mail { .. } => DataType::Emails,
            Resource::Events { .. } => DataType::Calendars,
            Resource::Contacts { .. } => DataType::Contacts,
            Resource::TodoTasks { .. } => DataType::Todos,
            Resource::Files => DataType::Files,
        }
    }

    /// The resource path a Graph change-notification subscription watches for it.
    pub fn subscription_resource(&self) -> String {
        match self {
            Resource::Mail { folder } => format!("me/mailFolders('{folder}')/messages"),
            Resource::Events { .. } => "me/events".to_string(),
            Resource::Contacts { folder: None } => "me/contacts".to_string(),
            Resource::Contacts {
                folder: Some(folder),
            } => format!("me/contactFolders('{folder}')/contacts"),
            Resource::TodoTasks { list } => format!("me/todo/lists/{list}/tasks"),
            Resource::Files => "me/drive/root".to_string(),
        }
    }

    /// The delta query's path and query, below the Graph URL. The default contacts
    /// folder's is `/me/contacts/delta`: Graph's contact delta documentation names only
    /// folders by id, and Microsoft's Q&A (question 1634378) reports this form reads the
    /// default folder.
    fn path(&self) -> String {
        match self {
            Resource::Mail { folder } => format!(
                "/v1.0/me/mailFolders/{folder}/messages/delta?$select=subject,lastModifiedDateTime,from,sender,toRecipients,ccRecipients,bccRecipients,sentDateTime,receivedDateTime,body,conversationId,internetMessageId,isRead,isDraft,flag,parentFolderId,hasAttachments"
            ),
            Resource::Events { from, to } => format!(
                "/v1.0/me/calendarView/delta?startDateTime={}&endDateTime={}",
                from.to_rfc3339_opts(SecondsFormat::Secs, true),
                to.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
            Resource::Contacts { folder: None } => "/v1.0/me/contacts/delta".to_string(),
            Resource::Contacts {
                folder: Some(folder),
            } => format!("/v1.0/me/contactFolders/{folder}/contacts/delta"),
            Resource::TodoTasks { list } => format!("/v1.0/me/todo/lists/{list}/tasks/delta"),
            Resource::Files => "/v1.0/me/drive/root/delta".to_string(),
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
    /// Items asked per delta page.
    page_size: u32,
}

impl GraphClient {
    /// A client of the Graph API at `base_url` (normally [`DEFAULT_GRAPH_URL`]).
    pub fn new(base_url: &str, throttle: Throttle) -> Self {
        GraphClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            // Redirects are followed by hand, so that the token never leaves Graph.
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("an HTTP client with a timeout builds"),
            throttle,
            page_size: PAGE_SIZE,
        }
    }

    /// This client asking `page_size` items per delta page (1 to [`MAX_PAGE_SIZE`]; Graph
    /// takes it as a hint), sharing its connections and throttling.
    pub fn with_page_size(&self, page_size: u32) -> Self {
        GraphClient {
            page_size: page_size.clamp(1, MAX_PAGE_SIZE),
            ..self.clone()
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
        let what = format!("Graph delta page of {mailbox}");
        let page = self.get_json(mailbox, url, access_token, &what).await?;
        let items = items(&page, &what)?;
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

    /// The delta queries that read `data_type` of `mailbox`: one per mail folder (child
    /// folders included), one for the events in `window`, one for the default contacts
    /// folder and one per other contact folder, one per To Do list, one for the drive.
    pub async fn resources(
        &self,
        mailbox: &str,
        data_type: DataType,
        window: (DateTime<Utc>, DateTime<Utc>),
        access_token: &SecretString,
    ) -> Result<Vec<Resource>, ProviderError> {
        let base = &self.base_url;
        let resources = match data_type {
            DataType::Emails => {
                let folders_of = |path: &str| {
                    format!("{base}{path}?$select=id,childFolderCount&$top={PAGE_SIZE}")
                };
                let mut pending =
                    std::collections::VecDeque::from([folders_of("/v1.0/me/mailFolders")]);
                let mut resources = Vec::new();
                while let Some(url) = pending.pop_front() {
                    let what = format!("mail folders of {mailbox}");
                    for folder in self.collection(mailbox, &url, access_token, &what).await? {
                        let id = id_of(&folder, &what)?;
                        if folder["childFolderCount"].as_u64().unwrap_or_default() > 0 {
                            pending.push_back(folders_of(&format!(
                                "/v1.0/me/mailFolders/{id}/childFolders"
                            )));
                        }
                        resources.push(Resource::Mail { folder: id });
                    }
                }
                resources
            }
            DataType::Calendars => vec![Resource::Events {
                from: window.0,
                to: window.1,
            }],
            DataType::Contacts => {
                let url = format!("{base}/v1.0/me/contactFolders?$select=id&$top={PAGE_SIZE}");
                let what = format!("contact folders of {mailbox}");
                let mut resources = vec![Resource::Contacts { folder: None }];
                for folder in self.collection(mailbox, &url, access_token, &what).await? {
                    resources.push(Resource::Contacts {
                        folder: Some(id_of(&folder, &what)?),
                    });
                }
                resources
            }
            DataType::Todos => {
                let url = format!("{base}/v1.0/me/todo/lists");
                let what = format!("To Do lists of {mailbox}");
                let mut resources = Vec::new();
                for list in self.collection(mailbox, &url, access_token, &what).await? {
                    resources.push(Resource::TodoTasks {
                        list: id_of(&list, &what)?,
                    });
                }
                resources
            }
            DataType::Files => vec![Resource::Files],
        };
        Ok(resources)
    }

    /// The bytes of the drive file `file` of `mailbox`, at most `max_bytes`. Graph answers
    /// with a redirect to a pre-authenticated URL, which is followed without the token.
    pub async fn download(
        &self,
        mailbox: &str,
        file: &DriveFile,
        access_token: &SecretString,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ProviderError> {
        let what = format!("download of drive item {} of {mailbox}", file.id);
        let url = format!("{}/v1.0/me/drive/items/{}/content", self.base_url, file.id);
        let mut response = self
            .throttle
            .send(mailbox, &what, || {
                self.http.get(&url).bearer_auth(access_token.expose())
            })
            .await?;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                break;
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|location| location.to_str().ok())
                .and_then(|location| response.url().join(location).ok())
                .ok_or_else(|| {
                    ProviderError::new(
                        ProviderErrorKind::Invalid,
                        format!(
                            "{what}: HTTP {} without a readable Location",
                            response.status()
                        ),
                    )
                })?;
            response = self
                .throttle
                .send(mailbox, &what, || self.http.get(location.clone()))
                .await?;
        }
        let status = response.status();
        if status.is_redirection() {
            return Err(ProviderError::new(
                ProviderErrorKind::Invalid,
                format!("{what}: more than {MAX_REDIRECTS} redirects"),
            ));
        }
        if !status.is_success() {
            let body = read_at_most(response, MAX_PAGE_BYTES, &what).await?;
            return Err(failure(status, &body, &what));
        }
        if response
            .content_length()
            .is_some_and(|length| length > max_bytes as u64)
        {
            return Err(ProviderError::new(
                ProviderErrorKind::Invalid,
                format!("{what}: answer larger than {max_bytes} bytes"),
            ));
        }
        read_at_most(response, max_bytes, &what).await
    }

    /// Every item of the collection at `url`, following `@odata.nextLink`.
    async fn collection(
        &self,
        mailbox: &str,
        url: &str,
        access_token: &SecretString,
        what: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut all = Vec::new();
        let mut next = Some(url.to_string());
        while let Some(url) = next {
            let page = self.get_json(mailbox, &url, access_token, what).await?;
            all.extend(items(&page, what)?);
            next = page["@odata.nextLink"].as_str().map(str::to_string);
        }
        Ok(all)
    }

    /// The JSON answer of `url`, a link below the Graph URL.
    async fn get_json(
        &self,
        mailbox: &str,
        url: &str,
        access_token: &SecretString,
        what: &str,
    ) -> Result<Value, ProviderError> {
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
        let response = self
            .throttle
            .send(mailbox, what, || {
                self.http
                    .get(url)
                    .bearer_auth(access_token.expose())
                    .header(
                        "Prefer",
                        format!(
                            "outlook.body-content-type=\"text\", odata.maxpagesize={}",
                            self.page_size
                        ),
                    )
            })
            .await?;
        let status = response.status();
        let body = read_at_most(response, MAX_PAGE_BYTES, what).await?;
        if !status.is_success() {
            return Err(failure(status, &body, what));
        }
        serde_json::from_slice(&body).map_err(|err| {
            ProviderError::new(
                ProviderErrorKind::Invalid,
                format!("{what}: unreadable page: {err}"),
            )
        })
    }

    /// Whether `url` is below this client's Graph URL.
    fn is_own(&self, url: &str) -> bool {
        url.strip_prefix(&self.base_url)
            .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// The `value` array of a Graph collection page.
fn items(page: &Value, what: &str) -> Result<Vec<Value>, ProviderError> {
    match page.get("value") {
        Some(Value::Array(items)) => Ok(items.clone()),
        _ => Err(ProviderError::new(
            ProviderErrorKind::Invalid,
            format!("{what}: the page has no `value` array"),
        )),
    }
}

/// The `id` of a listed folder or list.
fn id_of(item: &Value, what: &str) -> Result<String, ProviderError> {
    item["id"]
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            ProviderError::new(
                ProviderErrorKind::Invalid,
                format!("{what}: an item without `id`"),
            )
        })
}

/// The error a Graph failure answer means: 410 an expired cursor, 401 a token Graph no
/// longer takes, anything else a request retrying cannot mend.
fn failure(status: reqwest::StatusCode, body: &[u8], what: &str) -> ProviderError {
    let code = graph_error_code(body);
    let kind = match status.as_u16() {
        410 => ProviderErrorKind::CursorExpired,
        401 => ProviderErrorKind::NeedsReauth,
        404 => ProviderErrorKind::NotFound,
        _ => ProviderErrorKind::Invalid,
    };
    ProviderError::new(
        kind,
        format!("{what}: HTTP {status} {code}")
            .trim_end()
            .to_string(),
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(resource: Resource, data_type: DataType, path: &str, subscription: &str) {
        assert_eq!(resource.data_type(), data_type);
        // The binary installs ring as the process's TLS provider; so does the test.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = GraphClient::new("https://graph.example/", Throttle::default());
        assert_eq!(
            client.delta_url(&resource),
            format!("https://graph.example{path}")
        );
        assert_eq!(resource.subscription_resource(), subscription);
    }

    #[test]
    fn resources_name_their_delta_query_and_subscription() {
        let mail = Resource::Mail {
            folder: "inbox".into(),
        };
        assert_eq!(mail.data_type(), DataType::Emails);
        assert_eq!(
            mail.subscription_resource(),
            "me/mailFolders('inbox')/messages"
        );
        check(
            Resource::Events {
                from: "2024-01-01T00:00:00Z".parse().unwrap(),
                to: "2024-02-01T12:30:00Z".parse().unwrap(),
            },
            DataType::Calendars,
            "/v1.0/me/calendarView/delta?startDateTime=2024-01-01T00:00:00Z&endDateTime=2024-02-01T12:30:00Z",
            "me/events",
        );
        check(
            Resource::Contacts { folder: None },
            DataType::Contacts,
            "/v1.0/me/contacts/delta",
            "me/contacts",
        );
        check(
            Resource::Contacts {
                folder: Some("AAMkF=".into()),
            },
            DataType::Contacts,
            "/v1.0/me/contactFolders/AAMkF=/contacts/delta",
            "me/contactFolders('AAMkF=')/contacts",
        );
        check(
            Resource::TodoTasks {
                list: "gDbc8U7HGwADDZocJgAAAA==".into(),
            },
            DataType::Todos,
            "/v1.0/me/todo/lists/gDbc8U7HGwADDZocJgAAAA==/tasks/delta",
            "me/todo/lists/gDbc8U7HGwADDZocJgAAAA==/tasks",
        );
        check(
            Resource::Files,
            DataType::Files,
            "/v1.0/me/drive/root/delta",
            "me/drive/root",
        );
    }
}
