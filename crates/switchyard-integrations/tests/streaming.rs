//! After the backfill of a fake Graph account: changes stream from every feed's delta
//! link as single-item `streaming` events (an update, a deletion, an addition); an
//! expired delta link (410) reads the feed again and deletes downstream what the provider
//! no longer has; a purge deletes everything the integration delivered; a second backfill
//! (mail only, small pages) deletes what the account lost and leaves the other feeds be;
//! the ledger never lowers a generation; a to-do list made after the backfill is followed
//! and one deleted has its tasks deleted downstream. Change
//! notifications: each feed is subscribed with one clientState, a genuine notification
//! asks for a stream, a forged one is refused, and every lifecycle event is handled.

mod support;

use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use serde_json::Value;
use support::{USER, setup};
use switchyard_bus::Broker;
use switchyard_integrations::{BackfillOptions, IntegrationStore, Notifications, Signal};
use switchyard_providers::DataType;
use switchyard_state::JobState;

/// Every event on `topic`, as JSON envelopes in publish order.
async fn events(setup: &support::Setup, topic: &str) -> Vec<Value> {
    setup
        .broker
        .browse(topic, 0, 100_000)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, message)| serde_json::from_slice(&message.payload).unwrap())
        .collect()
}

/// The events of item `id` on `topic`: (operation, sync type) in order.
async fn history(setup: &support::Setup, topic: &str, id: &str) -> Vec<(String, String)> {
    events(setup, topic)
        .await
        .iter()
        .filter(|event| event["data"]["item"]["id"] == id)
        .map(|event| {
            (
                event["data"]["operation"].as_str().unwrap().to_string(),
                event["data"]["sync_type"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn id_of(item: &Value) -> String {
    item["id"].as_str().unwrap().to_string()
}

async fn backfilled(configure: impl FnOnce(&mut support::Fake)) -> support::Setup {
    let setup = setup(configure).await;
    let job = setup
        .backfill
        .create_job(USER, &BackfillOptions::of(support::ALL))
        .await
        .unwrap();
    let progress = setup
        .backfill
        .backfill(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!(progress.state, JobState::Done, "{progress:?}");
    setup
}

fn small(fake: &mut support::Fake) {
    fake.messages = 12;
    fake.events = 4;
    fake.contacts = 3;
    fake.todo_lists = 1;
    fake.tasks_per_list = 3;
    fake.files = 2;
    fake.page_size = 5;
}

#[tokio::test]
async fn changes_stream_and_an_expired_cursor_reconciles_deletions() {
    let setup = backfilled(small).await;
    let (sync, id) = (&setup.backfill, setup.integration_id.as_str());

    // Nothing changed: nothing is published.
    assert_eq!(sync.stream(USER, id).await.unwrap().done, 0);

    let changed = id_of(&setup.fake.items(DataType::Emails)[0]);
    let removed = id_of(&setup.fake.items(DataType::Contacts)[1]);
    setup.fake.change(DataType::Emails, &changed);
    setup.fake.remove(DataType::Contacts, &removed);
    let added = setup.fake.add(DataType::Todos);
    let streamed = sync.stream(USER, id).await.unwrap();
    assert_eq!((streamed.done, streamed.failed), (3, 0));
    assert_eq!(
        history(&setup, "emails", &changed).await,
        [
            ("create".into(), "backfill".into()),
            ("create".into(), "streaming".into())
        ]
    );
    assert_eq!(
        history(&setup, "contacts", &removed).await,
        [
            ("create".into(), "backfill".into()),
            ("delete".into(), "streaming".into())
        ]
    );
    assert_eq!(
        history(&setup, "todos", &added).await,
        [("create".into(), "streaming".into())]
    );
    // Each streamed change is its own batch.
    let todos = events(&setup, "todos").await;
    let streamed_todo = todos.last().unwrap();
    let emails = events(&setup, "emails").await;
    assert_ne!(
        streamed_todo["data"]["batch_id"],
        emails.last().unwrap()["data"]["batch_id"]
    );
    assert_eq!(sync.stream(USER, id).await.unwrap().done, 0);

    // A message deleted while the delta links expired: the 410 reads the feeds again,
    // and the one the provider no longer has is deleted downstream.
    let gone = id_of(&setup.fake.items(DataType::Emails)[5]);
    setup.fake.remove(DataType::Emails, &gone);
    setup.fake.expire_delta_links();
    let resynced = sync.stream(USER, id).await.unwrap();
    assert_eq!(resynced.failed, 0);
    assert_eq!(
        history(&setup, "emails", &gone).await,
        [
            ("create".into(), "backfill".into()),
            ("delete".into(), "streaming".into())
        ]
    );
    let ledger = setup.store.items(id).await.unwrap();
    assert!(
        ledger
            .iter()
            .all(|(_, item)| item.id != gone && item.id != removed)
    );
    assert_eq!(ledger.len(), 12 - 1 + 4 + 3 - 1 + 3 + 1 + 2);
    // In sync again.
    assert_eq!(sync.stream(USER, id).await.unwrap().done, 0);

    // A purge deletes every item the integration delivered.
    let purged = sync.purge(USER, id).await.unwrap();
    assert_eq!(purged, ledger.len() as u64);
    let last = events(&setup, "calendars").await;
    assert_eq!(last.last().unwrap()["data"]["operation"], "delete");
}

/// A stand-in for the webhook route: answers Graph's handshake and keeps the deliveries.
async fn receiver() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    #[derive(serde::Deserialize)]
    struct Handshake {
        #[serde(rename = "validationToken")]
        validation_token: Option<String>,
    }
    async fn receive(
        State(received): State<Arc<Mutex<Vec<Vec<u8>>>>>,
        Query(query): Query<Handshake>,
        body: axum::body::Bytes,
    ) -> axum::response::Response {
        use axum::response::IntoResponse;
        if let Some(token) = query.validation_token {
            return ([("content-type", "text/plain")], token).into_response();
        }
        received.lock().unwrap().push(body.to_vec());
        axum::http::StatusCode::ACCEPTED.into_response()
    }
    let received = Arc::new(Mutex::new(Vec::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/v1/webhooks/microsoft",
        listener.local_addr().unwrap()
    );
    let app = axum::Router::new()
        .route("/v1/webhooks/microsoft", axum::routing::post(receive))
        .with_state(received.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test]
async fn notifications_are_checked_and_each_lifecycle_event_is_handled() {
    let setup = backfilled(small).await;
    let id = setup.integration_id.clone();
    let (url, received) = receiver().await;
    let notifications =
        Notifications::new(setup.connector.clone(), setup.backfill.clone(), Some(url));

    // Every feed gets a subscription, all with one clientState; subscribing again
    // changes nothing until they near their expiry.
    let feeds = setup.store.get(USER, &id).await.unwrap().feeds.len();
    assert_eq!(
        notifications.subscribe(USER, &id, false).await.unwrap(),
        feeds
    );
    assert_eq!(notifications.subscribe(USER, &id, false).await.unwrap(), 0);
    let subscriptions = setup.fake.subscriptions.lock().unwrap().clone();
    assert_eq!(subscriptions.len(), feeds);
    assert!(
        subscriptions
            .iter()
            .all(|sub| sub.client_state == subscriptions[0].client_state)
    );
    let stored = setup.store.get(USER, &id).await.unwrap();
    let first = stored.feeds[0].subscription.clone().unwrap();
    // The clientState rests sealed.
    let file = std::fs::read(setup.dir.path().join("integrations.redb")).unwrap();
    let needle = subscriptions[0].client_state.as_deref().unwrap().as_bytes();
    assert!(!file.windows(needle.len()).any(|window| window == needle));

    let stream = Signal::Stream {
        user_id: USER.into(),
        integration_id: id.clone(),
    };
    let subscribe = Signal::Subscribe {
        user_id: USER.into(),
        integration_id: id.clone(),
    };
    let deliver = |status: Result<u16, String>| {
        assert_eq!(status.unwrap(), 202);
        received.lock().unwrap().pop().unwrap()
    };

    // A genuine change notification asks for a stream; a forged one is refused.
    let body = deliver(setup.fake.notify(&first.id).await);
    assert_eq!(
        notifications.receive(&body).await.unwrap().unwrap(),
        std::slice::from_ref(&stream)
    );
    let body = deliver(setup.fake.notify_forged(&first.id).await);
    let forged = notifications.receive(&body).await.unwrap().unwrap_err();
    assert_eq!(forged.subscription_id, first.id);
    // A delivery naming only a subscription nobody made is refused too; beside a
    // genuine one, it asks for nothing and the genuine one still counts.
    let genuine = deliver(setup.fake.notify(&first.id).await);
    let unknown = String::from_utf8(genuine.clone())
        .unwrap()
        .replace(&first.id, "not-ours");
    assert!(
        notifications
            .receive(unknown.as_bytes())
            .await
            .unwrap()
            .is_err()
    );
    let mut mixed: Value = serde_json::from_slice(&genuine).unwrap();
    let stranger: Value = serde_json::from_str(&unknown).unwrap();
    mixed["value"]
        .as_array_mut()
        .unwrap()
        .push(stranger["value"][0].clone());
    assert_eq!(
        notifications
            .receive(mixed.to_string().as_bytes())
            .await
            .unwrap()
            .unwrap(),
        std::slice::from_ref(&stream)
    );
    // Garbage is an error.
    assert!(notifications.receive(b"{\"value\": 3}").await.is_err());

    // Lifecycle: missed → stream; reauthorizationRequired → renew; subscriptionRemoved
    // → forget it and subscribe again (then stream what was missed).
    let body = deliver(setup.fake.send_lifecycle(&first.id, "missed").await);
    assert_eq!(
        notifications.receive(&body).await.unwrap().unwrap(),
        std::slice::from_ref(&stream)
    );
    let body = deliver(
        setup
            .fake
            .send_lifecycle(&first.id, "reauthorizationRequired")
            .await,
    );
    assert_eq!(
        notifications.receive(&body).await.unwrap().unwrap(),
        std::slice::from_ref(&subscribe)
    );
    assert_eq!(
        notifications.subscribe(USER, &id, true).await.unwrap(),
        feeds
    );
    let renewed = setup.store.get(USER, &id).await.unwrap().feeds[0]
        .subscription
        .clone()
        .unwrap();
    assert_eq!(renewed.id, first.id);

    let body = deliver(
        setup
            .fake
            .send_lifecycle(&first.id, "subscriptionRemoved")
            .await,
    );
    assert_eq!(
        notifications.receive(&body).await.unwrap().unwrap(),
        [stream, subscribe]
    );
    assert!(
        setup.store.get(USER, &id).await.unwrap().feeds[0]
            .subscription
            .is_none()
    );
    assert_eq!(notifications.subscribe(USER, &id, false).await.unwrap(), 1);
    let recreated = setup.store.get(USER, &id).await.unwrap().feeds[0]
        .subscription
        .clone()
        .unwrap();
    assert_ne!(recreated.id, first.id);
    assert_eq!(
        setup.store.by_subscription(&recreated.id).await.unwrap(),
        Some((USER.to_string(), id.clone()))
    );
    assert_eq!(setup.store.by_subscription(&first.id).await.unwrap(), None);

    // Disconnecting deletes them at the provider.
    notifications.unsubscribe(USER, &id).await;
    assert!(setup.fake.subscriptions.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_second_backfill_reconciles_what_the_account_lost() {
    let setup = backfilled(small).await;
    let id = setup.integration_id.as_str();
    let feeds_before = setup.store.get(USER, id).await.unwrap().feeds;
    let gone = id_of(&setup.fake.items(DataType::Emails)[3]);
    setup.fake.remove(DataType::Emails, &gone);
    let pages_before = *setup.fake.pages_served.lock().unwrap();

    // Mail only, two items a page.
    let options = BackfillOptions {
        page_size: Some(2),
        ..BackfillOptions::of(&[DataType::Emails])
    };
    let job = setup.backfill.create_job(USER, &options).await.unwrap();
    let progress = setup.backfill.backfill(USER, id, &job).await.unwrap();
    assert_eq!(progress.state, JobState::Done, "{progress:?}");
    // 11 messages read again, and the one the account lost deleted.
    assert_eq!((progress.total, progress.done), (Some(12), 12));
    assert_eq!(
        history(&setup, "emails", &gone).await,
        [
            ("create".into(), "backfill".into()),
            ("delete".into(), "backfill".into())
        ]
    );
    assert!(*setup.fake.pages_served.lock().unwrap() - pages_before >= 6);
    // The other feeds are as they were; the mail feed is at a later generation.
    let feeds_after = setup.store.get(USER, id).await.unwrap().feeds;
    assert_eq!(feeds_after.len(), feeds_before.len());
    for (before, after) in feeds_before.iter().zip(&feeds_after) {
        assert_eq!(before.key, after.key);
        if before.data_type == DataType::Emails {
            assert!(after.generation > before.generation && after.synced);
        } else {
            assert_eq!(before, after);
        }
    }
}

#[tokio::test]
async fn the_ledger_never_lowers_a_generation() {
    let setup = setup(small).await;
    let store = &setup.store;
    let item = |id: &str| switchyard_integrations::LedgerItem {
        id: id.into(),
        kind: switchyard_contracts::DataKind::Email,
    };
    store
        .record_items(
            "i",
            "emails/inbox",
            7,
            vec![item("a"), item("b")],
            Vec::new(),
        )
        .await
        .unwrap();
    // A stream of the stored feed (generation 3) records "a" after a resync read it.
    store
        .record_items(
            "i",
            "emails/inbox",
            3,
            vec![item("a"), item("c")],
            Vec::new(),
        )
        .await
        .unwrap();
    let stale: Vec<String> = store
        .items_before("i", "emails/inbox", 7)
        .await
        .unwrap()
        .into_iter()
        .map(|item| item.id)
        .collect();
    assert_eq!(stale, ["c"]);
    store
        .record_items("i", "emails/inbox", 8, Vec::new(), vec!["b".into()])
        .await
        .unwrap();
    assert_eq!(store.items("i").await.unwrap().len(), 2);
}

#[tokio::test]
async fn lists_made_or_deleted_after_the_backfill_are_followed() {
    let setup = backfilled(small).await;
    let (sync, id) = (&setup.backfill, setup.integration_id.as_str());
    let feeds = setup.store.get(USER, id).await.unwrap().feeds.len();
    assert_eq!(sync.refresh_feeds(USER, id).await.unwrap(), (0, 0));

    // A new list: its feed is added, and the next stream reads its task.
    let (list, task) = setup.fake.add_todo_list();
    assert_eq!(sync.refresh_feeds(USER, id).await.unwrap(), (1, 0));
    let stored = setup.store.get(USER, id).await.unwrap();
    assert_eq!(stored.feeds.len(), feeds + 1);
    assert!(
        stored
            .feeds
            .iter()
            .any(|feed| feed.key == format!("todos/{list}"))
    );
    assert_eq!(sync.stream(USER, id).await.unwrap().done, 1);
    assert_eq!(
        history(&setup, "todos", &task).await,
        [("create".into(), "streaming".into())]
    );

    // The first list deleted: its feed goes, and its three tasks are deleted downstream.
    let first: Vec<String> = setup
        .store
        .get(USER, id)
        .await
        .unwrap()
        .feeds
        .iter()
        .filter_map(|feed| feed.key.strip_prefix("todos/").map(str::to_string))
        .filter(|kept| *kept != list)
        .collect();
    assert_eq!(first.len(), 1);
    setup.fake.remove_todo_list(&first[0]);
    assert_eq!(sync.refresh_feeds(USER, id).await.unwrap(), (0, 1));
    let deleted = events(&setup, "todos")
        .await
        .iter()
        .filter(|event| event["data"]["operation"] == "delete")
        .count();
    assert_eq!(deleted, 3);
    let ledger = setup.store.items(id).await.unwrap();
    assert!(
        ledger
            .iter()
            .all(|(feed, _)| *feed != format!("todos/{}", first[0]))
    );
    // Streaming goes on without the deleted list's feed (whose delta query is now 404).
    assert_eq!(sync.stream(USER, id).await.unwrap().done, 0);
}
