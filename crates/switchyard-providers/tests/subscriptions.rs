//! Graph change-notification subscriptions against the fake Graph, with a small webhook
//! receiver standing in for the real one: create (both URLs validated by the handshake,
//! the decoded token echoed) and its failure when the receiver does not echo, renew,
//! reauthorize and delete, a subscription Graph removed as `NotFound`, the documented
//! webhook bodies of `shared/testdata/providers/msgraph` parsed (and garbage refused),
//! `clientState` checks, and the fake's notifications arriving in the documented shape.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{TimeDelta, Utc};
use serde_json::Value;
use switchyard_auth::SecretString;
use switchyard_providers::fake::{self, FakeMicrosoft};
use switchyard_providers::microsoft::{
    LifecycleEvent, Notification, SubscriptionRequest, client_state_matches,
    max_subscription_lifetime, new_client_state, parse_notifications,
};
use switchyard_providers::{GraphClient, ProviderErrorKind, Throttle};

const RESOURCE: &str = "me/mailFolders('inbox')/messages";
/// The most bytes the receiver reads of a webhook body.
const MAX_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;

/// One validation request the receiver answered.
#[derive(Debug, Clone)]
struct Handshake {
    path: String,
    raw_query: String,
    token: String,
    content_type: String,
}

/// What the stand-in receiver has seen.
#[derive(Default)]
struct Receiver {
    /// Whether it echoes validation tokens (a broken receiver does not).
    echo: bool,
    base_url: String,
    handshakes: Mutex<Vec<Handshake>>,
    /// Webhook bodies by path, as received.
    bodies: Mutex<Vec<(String, Value)>>,
}

impl Receiver {
    fn bodies_at(&self, path: &str) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _)| at == path)
            .map(|(_, body)| body.clone())
            .collect()
    }
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    Query(query): Query<HashMap<String, String>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(token) = query.get("validationToken") {
        receiver.handshakes.lock().unwrap().push(Handshake {
            path: uri.path().to_string(),
            raw_query: uri.query().unwrap_or_default().to_string(),
            token: token.clone(),
            content_type: headers["content-type"].to_str().unwrap().to_string(),
        });
        if !receiver.echo {
            return StatusCode::ACCEPTED.into_response();
        }
        return ([("content-type", "text/plain")], token.clone()).into_response();
    }
    if body.len() > MAX_WEBHOOK_BODY_BYTES {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    if parse_notifications(&body).is_err() {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let value = serde_json::from_slice(&body).unwrap();
    receiver
        .bodies
        .lock()
        .unwrap()
        .push((uri.path().to_string(), value));
    StatusCode::ACCEPTED.into_response()
}

/// Starts a receiver on a free loopback port, with `/notify` and `/lifecycle`.
async fn start_receiver(echo: bool) -> Arc<Receiver> {
    // reqwest is built without a TLS provider; the binary installs ring, and so do tests.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = Arc::new(Receiver {
        echo,
        base_url: format!("http://{}", listener.local_addr().unwrap()),
        ..Receiver::default()
    });
    let app = Router::new()
        .route("/notify", post(receive))
        .route("/lifecycle", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    receiver
}

fn graph(fake: &FakeMicrosoft) -> GraphClient {
    GraphClient::new(
        &fake.base_url,
        Throttle::new(Duration::from_secs(1), 2, Duration::from_millis(10)),
    )
}

fn token() -> SecretString {
    SecretString::new("access-1")
}

fn request(receiver: &Receiver, client_state: &SecretString) -> SubscriptionRequest {
    SubscriptionRequest {
        resource: RESOURCE.to_string(),
        change_type: "created,updated,deleted".to_string(),
        notification_url: format!("{}/notify", receiver.base_url),
        lifecycle_notification_url: format!("{}/lifecycle", receiver.base_url),
        client_state: client_state.clone(),
        expiration: Utc::now() + max_subscription_lifetime(RESOURCE) - TimeDelta::minutes(15),
    }
}

fn sample(name: &str) -> Vec<u8> {
    let path = switchyard_office::shared_testdata()
        .join("providers/msgraph")
        .join(name);
    std::fs::read(path).expect("shared sample is there")
}

/// Every member path of `value` (array items merged), to compare shapes.
fn shape(value: &Value) -> BTreeSet<String> {
    fn walk(value: &Value, at: &str, paths: &mut BTreeSet<String>) {
        match value {
            Value::Object(members) => {
                for (name, member) in members {
                    let path = format!("{at}/{name}");
                    paths.insert(path.clone());
                    walk(member, &path, paths);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, &format!("{at}[]"), paths);
                }
            }
            _ => {}
        }
    }
    let mut paths = BTreeSet::new();
    walk(value, "", &mut paths);
    paths
}

#[tokio::test]
async fn create_validates_both_urls_with_the_decoded_token() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let client_state = new_client_state();
    let request = request(&receiver, &client_state);

    let subscription = graph(&fake)
        .create_subscription("adele", &request, &token())
        .await
        .unwrap();

    assert_eq!(subscription.resource, RESOURCE);
    assert!(!subscription.id.is_empty());
    assert!((subscription.expiration - request.expiration).abs() < TimeDelta::milliseconds(1));
    let handshakes = receiver.handshakes.lock().unwrap().clone();
    let paths: Vec<&str> = handshakes.iter().map(|shake| shake.path.as_str()).collect();
    assert_eq!(paths, ["/notify", "/lifecycle"]);
    for shake in &handshakes {
        assert!(shake.content_type.starts_with("text/plain"), "{shake:?}");
        assert!(shake.token.contains(' '), "decoded: {shake:?}");
        assert!(!shake.raw_query.contains(' '), "sent encoded: {shake:?}");
        assert!(shake.raw_query.contains('%'), "sent encoded: {shake:?}");
        assert!(shake.token.contains(&subscription.id), "{shake:?}");
    }
    let held = fake.subscriptions.lock().unwrap().clone();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].id, subscription.id);
    assert_eq!(held[0].client_state.as_deref(), Some(client_state.expose()));
    assert_eq!(held[0].change_type, "created,updated,deleted");
}

#[tokio::test]
async fn create_fails_naming_the_validation_when_the_receiver_does_not_echo() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(false).await;

    let error = graph(&fake)
        .create_subscription("adele", &request(&receiver, &new_client_state()), &token())
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ProviderErrorKind::Invalid);
    let message = error.to_string();
    assert!(message.contains("HTTP 400"), "{message}");
    assert!(
        message.contains("Subscription validation request failed"),
        "{message}"
    );
    assert_eq!(receiver.handshakes.lock().unwrap().len(), 1);
    assert!(fake.subscriptions.lock().unwrap().is_empty());
}

#[tokio::test]
async fn create_beyond_the_resources_maximum_is_refused() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let mut request = request(&receiver, &new_client_state());
    request.expiration = Utc::now() + max_subscription_lifetime(RESOURCE) + TimeDelta::minutes(5);

    let error = graph(&fake)
        .create_subscription("adele", &request, &token())
        .await
        .unwrap_err();

    assert_eq!(error.kind(), ProviderErrorKind::Invalid);
    assert!(error.to_string().contains("10070 minutes"), "{error}");
    assert!(receiver.handshakes.lock().unwrap().is_empty());
}

#[tokio::test]
async fn requests_without_an_access_token_need_reauth() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let graph = graph(&fake);
    let wrong = SecretString::new("not-a-token");

    let error = graph
        .create_subscription("adele", &request(&receiver, &new_client_state()), &wrong)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NeedsReauth, "{error}");
    assert!(!error.to_string().contains("not-a-token"), "{error}");
    let error = graph
        .renew_subscription("adele", "any", Utc::now(), &wrong)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NeedsReauth, "{error}");
    let error = graph
        .delete_subscription("adele", "any", &wrong)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NeedsReauth, "{error}");
}

#[tokio::test]
async fn renew_reauthorize_and_delete() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let graph = graph(&fake);
    let created = graph
        .create_subscription("adele", &request(&receiver, &new_client_state()), &token())
        .await
        .unwrap();

    let later = Utc::now() + max_subscription_lifetime(RESOURCE) - TimeDelta::minutes(1);
    let renewed = graph
        .renew_subscription("adele", &created.id, later, &token())
        .await
        .unwrap();
    assert_eq!(renewed.id, created.id);
    assert!((renewed.expiration - later).abs() < TimeDelta::milliseconds(1));
    assert_eq!(
        fake.subscriptions.lock().unwrap()[0].expiration,
        renewed.expiration
    );

    graph
        .reauthorize_subscription("adele", &created.id, &token())
        .await
        .unwrap();
    assert_eq!(fake.subscriptions.lock().unwrap()[0].reauthorizations, 1);

    graph
        .delete_subscription("adele", &created.id, &token())
        .await
        .unwrap();
    assert!(fake.subscriptions.lock().unwrap().is_empty());
    // Deleting what is gone is done already.
    graph
        .delete_subscription("adele", &created.id, &token())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_subscription_graph_removed_is_not_found() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let graph = graph(&fake);
    let created = graph
        .create_subscription("adele", &request(&receiver, &new_client_state()), &token())
        .await
        .unwrap();
    assert!(fake.remove_subscription(&created.id));

    let later = Utc::now() + TimeDelta::hours(1);
    let error = graph
        .renew_subscription("adele", &created.id, later, &token())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains(&created.id), "{error}");
    let error = graph
        .reauthorize_subscription("adele", &created.id, &token())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NotFound, "{error}");
    graph
        .delete_subscription("adele", &created.id, &token())
        .await
        .unwrap();
}

#[test]
fn documented_webhook_bodies_parse() {
    let change = parse_notifications(&sample("change-notification-message-created.json")).unwrap();
    assert_eq!(
        change,
        [Notification::Change {
            subscription_id: "{subscription_guid}".into(),
            client_state: Some("secretClientValue".into()),
            change_type: "created".into(),
            resource: "users/{user_guid}@{tenant_guid}/messages/{long_id_string}".into(),
        }]
    );
    let check_lifecycle = |name: &str, subscription_id: &str, state: &str, event| {
        assert_eq!(
            parse_notifications(&sample(name)).unwrap(),
            [Notification::Lifecycle {
                subscription_id: subscription_id.into(),
                client_state: Some(state.into()),
                event,
            }],
            "{name}"
        );
    };
    check_lifecycle(
        "lifecycle-missed.json",
        "<subscription_guid>",
        "<secretClientState>",
        LifecycleEvent::Missed,
    );
    check_lifecycle(
        "lifecycle-reauthorizationRequired.json",
        "e3898f08-5cd0-4a6a-80fc-6addbfb73b7b",
        "{secret client state}",
        LifecycleEvent::ReauthorizationRequired,
    );
    check_lifecycle(
        "lifecycle-subscriptionRemoved.json",
        "<subscription_guid>",
        "<secretClientState>",
        LifecycleEvent::SubscriptionRemoved,
    );
}

#[test]
fn garbage_bodies_are_refused_saying_what_is_wrong() {
    let check = |body: &[u8], expected: &str| {
        let error = parse_notifications(body).unwrap_err();
        assert!(error.contains(expected), "{error}");
    };
    check(b"", "unreadable notification body");
    check(b"\xff\xfe garbage", "unreadable notification body");
    check(b"[]", "unreadable notification body");
    check(br#"{"values": []}"#, "missing field `value`");
    check(
        br#"{"value": [{"changeType": "created", "resource": "me/messages/1"}]}"#,
        "notification 0 has no subscriptionId",
    );
    // The validation request's body is empty and never a notification.
    check(
        &sample("subscription-create-request.json"),
        "missing field `value`",
    );
}

#[test]
fn client_states_match_only_the_subscriptions_own() {
    let expected = new_client_state();
    assert!(expected.expose().len() <= 128);
    assert!(client_state_matches(&expected, Some(expected.expose())));
    assert!(!client_state_matches(&expected, Some("SecretClientState")));
    assert!(!client_state_matches(&expected, Some("")));
    assert!(!client_state_matches(&expected, None));
    assert_ne!(new_client_state().expose(), expected.expose());
}

#[tokio::test]
async fn notify_posts_the_documented_shape_with_the_client_state() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let client_state = new_client_state();
    let created = graph(&fake)
        .create_subscription("adele", &request(&receiver, &client_state), &token())
        .await
        .unwrap();

    assert_eq!(fake.notify(&created.id).await.unwrap(), 202);
    assert_eq!(fake.notify(RESOURCE).await.unwrap(), 202, "by resource");
    assert_eq!(fake.notify_forged(&created.id).await.unwrap(), 202);
    assert!(fake.notify("me/events").await.is_err());

    let documented: Value =
        serde_json::from_slice(&sample("change-notification-message-created.json")).unwrap();
    let bodies = receiver.bodies_at("/notify");
    assert_eq!(bodies.len(), 3);
    let mut verdicts = Vec::new();
    for body in &bodies {
        assert_eq!(shape(body), shape(&documented), "{body}");
        let notifications = parse_notifications(body.to_string().as_bytes()).unwrap();
        let [
            Notification::Change {
                subscription_id,
                client_state: presented,
                change_type,
                resource,
            },
        ] = notifications.as_slice()
        else {
            panic!("one change notification: {notifications:?}");
        };
        assert_eq!(subscription_id, &created.id);
        assert_eq!(change_type, "created");
        assert!(resource.contains("/Messages/"), "{resource}");
        verdicts.push(client_state_matches(&client_state, presented.as_deref()));
    }
    assert_eq!(verdicts, [true, true, false]);
}

#[tokio::test]
async fn lifecycle_notifications_reach_the_lifecycle_url_in_the_documented_shape() {
    let fake = fake::start(|_| {}).await;
    let receiver = start_receiver(true).await;
    let client_state = new_client_state();
    let created = graph(&fake)
        .create_subscription("adele", &request(&receiver, &client_state), &token())
        .await
        .unwrap();

    for (event, documented) in [
        ("missed", "lifecycle-missed.json"),
        (
            "reauthorizationRequired",
            "lifecycle-reauthorizationRequired.json",
        ),
        ("subscriptionRemoved", "lifecycle-subscriptionRemoved.json"),
    ] {
        assert_eq!(
            fake.send_lifecycle(&created.id, event).await.unwrap(),
            202,
            "{event}"
        );
        let body = receiver.bodies_at("/lifecycle").pop().unwrap();
        let documented: Value = serde_json::from_slice(&sample(documented)).unwrap();
        assert_eq!(shape(&body), shape(&documented), "{event}: {body}");
        let notifications = parse_notifications(body.to_string().as_bytes()).unwrap();
        assert_eq!(notifications.len(), 1);
        assert_eq!(notifications[0].subscription_id(), created.id);
        assert!(client_state_matches(
            &client_state,
            notifications[0].client_state()
        ));
    }
    assert!(receiver.bodies_at("/notify").is_empty());
    // Graph drops a subscription before it says so.
    assert!(fake.subscriptions.lock().unwrap().is_empty());
    let error = graph(&fake)
        .renew_subscription("adele", &created.id, Utc::now(), &token())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ProviderErrorKind::NotFound);
}
