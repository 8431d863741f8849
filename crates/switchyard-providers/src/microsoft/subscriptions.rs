//! Microsoft Graph change notifications, the provider's side: subscriptions
//! (`/v1.0/subscriptions`: create, renew, reauthorize, delete) and the webhook bodies
//! Graph posts to them, read into [`Notification`]s.
//!
//! A subscription lives at most [`max_subscription_lifetime`] of its resource; the caller
//! asks for less than that and renews ([`GraphClient::renew_subscription`]) before it
//! ends. Graph validates `notificationUrl` and `lifecycleNotificationUrl` while creating
//! a subscription: it posts `?validationToken=…` there and expects the decoded token back
//! as `text/plain` within 10 seconds, else the create fails with HTTP 400
//! ([`ProviderErrorKind::Invalid`], Graph's message kept). A subscription Graph no
//! longer has answers 404 ([`ProviderErrorKind::NotFound`]): the caller creates it again
//! and resyncs.
//!
//! Each notification carries the `clientState` its subscription was created with
//! ([`new_client_state`]); the receiver drops those whose state does not match
//! ([`client_state_matches`], in constant time). Lifecycle notifications
//! ([`LifecycleEvent`]) ask the caller to reauthorize or renew
//! (`reauthorizationRequired`), to create the subscription again and resync
//! (`subscriptionRemoved`), or to resync by delta query (`missed`).
//!
//! **Boundary:** no HTTP server; the receiver (answering the validation handshake,
//! bounding bodies, answering 202) belongs to the binary. Never logs a token or a
//! `clientState`.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;
use switchyard_auth::SecretString;

use super::{GraphClient, graph_error_code};
use crate::oauth::read_at_most;
use crate::{ProviderError, ProviderErrorKind};

/// The most bytes read of a subscription answer.
const MAX_SUBSCRIPTION_ANSWER_BYTES: usize = 256 * 1024;
/// The most characters of Graph's error message kept in an error.
const MAX_ERROR_MESSAGE_CHARS: usize = 300;
/// Characters escaped in a subscription id put in a path (Graph's are GUIDs).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// What to subscribe to, and where Graph sends the notifications.
#[derive(Debug, Clone)]
pub struct SubscriptionRequest {
    /// The resource path below `/v1.0/`, e.g. `me/mailFolders('inbox')/messages`.
    pub resource: String,
    /// The changes notified, comma-separated: `created,updated,deleted`.
    pub change_type: String,
    /// The HTTPS endpoint receiving change notifications.
    pub notification_url: String,
    /// The HTTPS endpoint receiving lifecycle notifications.
    pub lifecycle_notification_url: String,
    /// The secret every notification of this subscription carries back (at most 128
    /// characters; see [`new_client_state`]).
    pub client_state: SecretString,
    /// When the subscription ends, at most [`max_subscription_lifetime`] from now.
    pub expiration: DateTime<Utc>,
}

/// A subscription as Graph holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// Graph's id of the subscription, named by every notification.
    pub id: String,
    /// The resource it watches, as Graph wrote it.
    pub resource: String,
    /// When it ends unless renewed.
    pub expiration: DateTime<Utc>,
}

/// One notification of a webhook body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// A resource changed: read the changes (a delta query) of the subscription.
    Change {
        /// The subscription it is for.
        subscription_id: String,
        /// The `clientState` it carries, to check with [`client_state_matches`].
        client_state: Option<String>,
        /// `created`, `updated` or `deleted`.
        change_type: String,
        /// The changed item's path, e.g. `Users/{id}/Messages/{id}`.
        resource: String,
    },
    /// Something happened to the subscription itself.
    Lifecycle {
        /// The subscription it is for.
        subscription_id: String,
        /// The `clientState` it carries, to check with [`client_state_matches`].
        client_state: Option<String>,
        /// What happened.
        event: LifecycleEvent,
    },
}

impl Notification {
    /// The subscription it is for.
    pub fn subscription_id(&self) -> &str {
        match self {
            Notification::Change {
                subscription_id, ..
            }
            | Notification::Lifecycle {
                subscription_id, ..
            } => subscription_id,
        }
    }

    /// The `clientState` it carries.
    pub fn client_state(&self) -> Option<&str> {
        match self {
            Notification::Change { client_state, .. }
            | Notification::Lifecycle { client_state, .. } => client_state.as_deref(),
        }
    }
}

/// What a lifecycle notification says happened to a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleEvent {
    /// The access token behind it is about to expire or was revoked: reauthorize it
    /// ([`GraphClient::reauthorize_subscription`]) or renew it, with a fresh token.
    ReauthorizationRequired,
    /// Graph removed it: create it again, then resync by delta query.
    SubscriptionRemoved,
    /// Notifications were lost: resync by delta query.
    Missed,
    /// An event this code does not know, as Graph named it.
    Other(String),
}

impl LifecycleEvent {
    fn from_name(name: &str) -> Self {
        match name {
            "reauthorizationRequired" => LifecycleEvent::ReauthorizationRequired,
            "subscriptionRemoved" => LifecycleEvent::SubscriptionRemoved,
            "missed" => LifecycleEvent::Missed,
            other => LifecycleEvent::Other(other.to_string()),
        }
    }
}

/// The longest Graph lets a subscription to `resource` live (a path below `/v1.0/`,
/// any case), from its documented maxima: Outlook mail, events and contacts 10 070
/// minutes, To Do tasks 4 230, OneDrive items and SharePoint lists 42 300, users and
/// groups 41 760, security alerts 43 200, Teams and presence 60. A resource it does not
/// know gets 60 minutes, the shortest maximum, which Graph never refuses.
pub fn max_subscription_lifetime(resource: &str) -> TimeDelta {
    let path = resource.trim_start_matches('/').to_ascii_lowercase();
    let path = path.strip_prefix("v1.0/").unwrap_or(&path);
    let has = |part: &str| path.contains(part);
    let starts = |prefix: &str| path.starts_with(prefix);
    let minutes = if has("presence") || starts("chats") || starts("teams") || has("/chats") {
        60
    } else if has("/todo/")
        || starts("todo/")
        || starts("communications/callrecords")
        || (starts("groups/") && has("/conversations"))
    {
        4_230
    } else if has("drive") || (starts("sites/") && has("/lists/")) {
        42_300
    } else if has("messages") || has("events") || has("contacts") || has("mailfolders") {
        10_070
    } else if starts("security/alerts") {
        43_200
    } else if starts("users") || starts("groups") {
        41_760
    } else {
        60
    };
    TimeDelta::minutes(minutes)
}

/// Whether `presented` (a notification's `clientState`) is `expected` (the one the
/// subscription was created with), compared in constant time; a notification without
/// one never matches.
pub fn client_state_matches(expected: &SecretString, presented: Option<&str>) -> bool {
    presented.is_some_and(|presented| {
        bool::from(expected.expose().as_bytes().ct_eq(presented.as_bytes()))
    })
}

/// A fresh random `clientState`: 32 bytes from the operating system, as 64 hex
/// characters (Graph allows 128).
pub fn new_client_state() -> SecretString {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    SecretString::new(hex::encode(bytes))
}

/// A webhook body as Graph writes it: `{"value": [ … ]}`.
#[derive(Deserialize)]
struct NotificationCollection {
    value: Vec<RawNotification>,
}

/// One notification, change or lifecycle; what each needs is checked after.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawNotification {
    subscription_id: Option<String>,
    client_state: Option<String>,
    change_type: Option<String>,
    resource: Option<String>,
    lifecycle_event: Option<String>,
}

/// Reads a webhook body (change and lifecycle notifications alike) into its
/// notifications, in order. The caller bounds the body's size first. The error names
/// what is wrong and where, never the body.
pub fn parse_notifications(body: &[u8]) -> Result<Vec<Notification>, String> {
    let collection: NotificationCollection = serde_json::from_slice(body)
        .map_err(|err| format!("unreadable notification body: {err}"))?;
    collection
        .value
        .into_iter()
        .enumerate()
        .map(|(index, raw)| {
            let missing = |field: &str| format!("notification {index} has no {field}");
            let subscription_id = raw
                .subscription_id
                .filter(|id| !id.is_empty())
                .ok_or_else(|| missing("subscriptionId"))?;
            if let Some(event) = raw.lifecycle_event {
                return Ok(Notification::Lifecycle {
                    subscription_id,
                    client_state: raw.client_state,
                    event: LifecycleEvent::from_name(&event),
                });
            }
            Ok(Notification::Change {
                subscription_id,
                client_state: raw.client_state,
                change_type: raw.change_type.ok_or_else(|| missing("changeType"))?,
                resource: raw.resource.ok_or_else(|| missing("resource"))?,
            })
        })
        .collect()
}

/// A subscription in Graph's answer.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscriptionAnswer {
    id: String,
    resource: String,
    expiration_date_time: DateTime<Utc>,
}

impl GraphClient {
    /// Creates a subscription of `mailbox` with `token`. Graph validates both URLs
    /// before it answers; a failed validation is [`ProviderErrorKind::Invalid`] with
    /// Graph's message. A create retried after a lost answer may leave a second
    /// subscription behind; its notifications name an id the caller does not know, and
    /// it expires unrenewed.
    pub async fn create_subscription(
        &self,
        mailbox: &str,
        request: &SubscriptionRequest,
        token: &SecretString,
    ) -> Result<Subscription, ProviderError> {
        let what = format!(
            "create a Graph subscription to {} of {mailbox}",
            request.resource
        );
        let body = serde_json::json!({
            "changeType": request.change_type,
            "notificationUrl": request.notification_url,
            "lifecycleNotificationUrl": request.lifecycle_notification_url,
            "resource": request.resource,
            "expirationDateTime": graph_time(request.expiration),
            "clientState": request.client_state.expose(),
        });
        let url = format!("{}/v1.0/subscriptions", self.base_url);
        let response = self
            .throttle
            .send(mailbox, &what, || {
                self.http.post(&url).bearer_auth(token.expose()).json(&body)
            })
            .await?;
        read_subscription(response, &what).await
    }

    /// Renews the subscription `id` of `mailbox` until `expiration`. A subscription Graph
    /// no longer has is [`ProviderErrorKind::NotFound`].
    pub async fn renew_subscription(
        &self,
        mailbox: &str,
        id: &str,
        expiration: DateTime<Utc>,
        token: &SecretString,
    ) -> Result<Subscription, ProviderError> {
        let what = format!("renew the Graph subscription {id} of {mailbox}");
        let body = serde_json::json!({"expirationDateTime": graph_time(expiration)});
        let url = self.subscription_url(id);
        let response = self
            .throttle
            .send(mailbox, &what, || {
                self.http
                    .patch(&url)
                    .bearer_auth(token.expose())
                    .json(&body)
            })
            .await?;
        read_subscription(response, &what).await
    }

    /// Reauthorizes the subscription `id` of `mailbox` with a fresh `token`, as Graph asks
    /// with a `reauthorizationRequired` lifecycle notification. A subscription Graph no
    /// longer has is [`ProviderErrorKind::NotFound`].
    pub async fn reauthorize_subscription(
        &self,
        mailbox: &str,
        id: &str,
        token: &SecretString,
    ) -> Result<(), ProviderError> {
        let what = format!("reauthorize the Graph subscription {id} of {mailbox}");
        let url = format!("{}/reauthorize", self.subscription_url(id));
        let response = self
            .throttle
            .send(mailbox, &what, || {
                self.http.post(&url).bearer_auth(token.expose())
            })
            .await?;
        let status = response.status();
        let body = read_at_most(response, MAX_SUBSCRIPTION_ANSWER_BYTES, &what).await?;
        if status.is_success() {
            return Ok(());
        }
        Err(answer_error(status, &body, &what))
    }

    /// Deletes the subscription `id` of `mailbox`; one Graph no longer has is already
    /// deleted.
    pub async fn delete_subscription(
        &self,
        mailbox: &str,
        id: &str,
        token: &SecretString,
    ) -> Result<(), ProviderError> {
        let what = format!("delete the Graph subscription {id} of {mailbox}");
        let url = self.subscription_url(id);
        let response = self
            .throttle
            .send(mailbox, &what, || {
                self.http.delete(&url).bearer_auth(token.expose())
            })
            .await?;
        let status = response.status();
        let body = read_at_most(response, MAX_SUBSCRIPTION_ANSWER_BYTES, &what).await?;
        if status.is_success() || status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        Err(answer_error(status, &body, &what))
    }

    fn subscription_url(&self, id: &str) -> String {
        format!(
            "{}/v1.0/subscriptions/{}",
            self.base_url,
            utf8_percent_encode(id, PATH_SEGMENT)
        )
    }
}

/// A time as Graph writes it: UTC, `Z`, fractions of a second only when there are some.
fn graph_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The subscription in a create or renew answer.
async fn read_subscription(
    response: reqwest::Response,
    what: &str,
) -> Result<Subscription, ProviderError> {
    let status = response.status();
    let body = read_at_most(response, MAX_SUBSCRIPTION_ANSWER_BYTES, what).await?;
    if !status.is_success() {
        return Err(answer_error(status, &body, what));
    }
    let answer: SubscriptionAnswer = serde_json::from_slice(&body).map_err(|err| {
        ProviderError::new(
            ProviderErrorKind::Invalid,
            format!("{what}: unreadable subscription: {err}"),
        )
    })?;
    Ok(Subscription {
        id: answer.id,
        resource: answer.resource,
        expiration: answer.expiration_date_time,
    })
}

/// A Graph error answer as an error: its kind by status, with Graph's code and the first
/// line of its message (which names the failed validation, never a secret).
fn answer_error(status: StatusCode, body: &[u8], what: &str) -> ProviderError {
    let kind = match status.as_u16() {
        401 => ProviderErrorKind::NeedsReauth,
        404 => ProviderErrorKind::NotFound,
        _ => ProviderErrorKind::Invalid,
    };
    let code = graph_error_code(body);
    let message: String = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|error| error["error"]["message"].as_str().map(str::to_string))
        .and_then(|message| message.lines().next().map(str::to_string))
        .unwrap_or_default()
        .chars()
        .take(MAX_ERROR_MESSAGE_CHARS)
        .collect();
    ProviderError::new(
        kind,
        format!("{what}: HTTP {status} {code} {message}")
            .trim_end()
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_lifetime(resource: &str, expected_minutes: i64) {
        assert_eq!(
            max_subscription_lifetime(resource),
            TimeDelta::minutes(expected_minutes),
            "{resource}"
        );
    }

    #[test]
    fn lifetimes_follow_the_documented_maxima() {
        check_lifetime("me/mailFolders('inbox')/messages", 10_070);
        check_lifetime("/me/mailfolders('inbox')/messages", 10_070);
        check_lifetime("users/adele@contoso.com/messages", 10_070);
        check_lifetime("me/events", 10_070);
        check_lifetime("me/contacts", 10_070);
        check_lifetime("me/todo/lists/AAMkList==/tasks", 4_230);
        check_lifetime("me/drive/root", 42_300);
        check_lifetime("drives/b!abc/root", 42_300);
        check_lifetime("sites/contoso.sharepoint.com/lists/42", 42_300);
        check_lifetime("users", 41_760);
        check_lifetime("groups", 41_760);
        check_lifetime("groups/42/conversations", 4_230);
        check_lifetime("security/alerts?$filter=status eq 'New'", 43_200);
        check_lifetime("chats/19:abc/messages", 60);
        check_lifetime("communications/presences/42", 60);
        check_lifetime("something/new", 60);
    }

    fn check_parse(body: &str, expected: Result<Vec<Notification>, &str>) {
        match (parse_notifications(body.as_bytes()), expected) {
            (Ok(parsed), Ok(expected)) => assert_eq!(parsed, expected, "{body}"),
            (Err(error), Err(expected)) => {
                assert!(error.contains(expected), "{body}: {error}");
            }
            (parsed, expected) => panic!("{body}: parsed {parsed:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn notifications_parse_or_say_what_is_wrong() {
        check_parse(r#"{"value": []}"#, Ok(vec![]));
        check_parse(
            r#"{"value":[{"subscriptionId":"s","changeType":"deleted","resource":"r","tenantId":"t"}]}"#,
            Ok(vec![Notification::Change {
                subscription_id: "s".into(),
                client_state: None,
                change_type: "deleted".into(),
                resource: "r".into(),
            }]),
        );
        check_parse(
            r#"{"value":[{"subscriptionId":"s","clientState":"c","lifecycleEvent":"somethingNew"}]}"#,
            Ok(vec![Notification::Lifecycle {
                subscription_id: "s".into(),
                client_state: Some("c".into()),
                event: LifecycleEvent::Other("somethingNew".into()),
            }]),
        );
        check_parse("", Err("unreadable notification body"));
        check_parse("<html>", Err("unreadable notification body"));
        check_parse("{}", Err("missing field `value`"));
        check_parse(r#"{"value": {}}"#, Err("invalid type"));
        check_parse(
            r#"{"value":[{"changeType":"created","resource":"r"}]}"#,
            Err("notification 0 has no subscriptionId"),
        );
        check_parse(
            r#"{"value":[{"subscriptionId":"s","changeType":"created","resource":"r"},{"subscriptionId":"s","changeType":"created"}]}"#,
            Err("notification 1 has no resource"),
        );
        check_parse(
            r#"{"value":[{"subscriptionId":"s","resource":"r"}]}"#,
            Err("notification 0 has no changeType"),
        );
        check_parse(
            r#"{"value":[{"subscriptionId":42,"changeType":"created","resource":"r"}]}"#,
            Err("invalid type: integer `42`"),
        );
    }

    #[test]
    fn client_states_match_only_themselves() {
        let expected = SecretString::new("SecretClientState");
        assert!(client_state_matches(&expected, Some("SecretClientState")));
        assert!(!client_state_matches(&expected, Some("SecretClientStatf")));
        assert!(!client_state_matches(&expected, Some("SecretClientState ")));
        assert!(!client_state_matches(&expected, Some("")));
        assert!(!client_state_matches(&expected, None));
    }

    #[test]
    fn new_client_states_are_random_hex_within_graphs_limit() {
        let first = new_client_state();
        let second = new_client_state();
        assert_eq!(first.expose().len(), 64);
        assert!(first.expose().bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(first.expose(), second.expose());
    }

    #[test]
    fn times_are_written_as_graph_writes_them() {
        let time = DateTime::parse_from_rfc3339("2016-11-22T18:23:45.9356913Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(graph_time(time), "2016-11-22T18:23:45.935691300Z");
        let whole = DateTime::parse_from_rfc3339("2016-03-20T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(graph_time(whole), "2016-03-20T11:00:00Z");
    }
}
