//! [`ContactDiscovery`] tests on the embedded bus: threshold publishing, publish
//! failures, redelivery, and a real `Consumer`.

use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use chrono::TimeZone;
use switchyard_bus::{Broker, DeliveryTag, DownBroker, EmbeddedBroker, SubscriptionConfig};
use switchyard_contracts::{
    Email, EmailEvent, LlmChat, LlmChatEvent, Mailbox, Registry, Todo, TodoEvent,
};
use switchyard_runtime::{Consumer, ConsumerConfig, PublishRetry};
use switchyard_state::{EmbeddedState, StateStore};

use super::*;
use crate::{Clock, RedbContactStore, Scoring};

struct Fixture {
    dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    registry: Arc<Registry>,
    store: Arc<dyn ContactStore>,
    now: Arc<Mutex<DateTime<Utc>>>,
    discovery: ContactDiscovery,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 6, 1, 12, 0, 0).unwrap()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let registry = Arc::new(Registry::standard());
    let now = Arc::new(Mutex::new(start()));
    let clock = {
        let now = now.clone();
        Clock::from_fn(move || *now.lock().unwrap())
    };
    let config = ContactsConfig::default();
    let store: Arc<dyn ContactStore> =
        Arc::new(RedbContactStore::open(dir.path(), Scoring::with_clock(&config, clock)).unwrap());
    let publisher = Publisher::new(broker.clone(), registry.clone());
    let discovery = ContactDiscovery::new(store.clone(), publisher, config).unwrap();
    broker
        .ensure_subscription(&SubscriptionConfig::new("probe-contacts", "contacts"))
        .await
        .unwrap();
    Fixture {
        dir,
        broker,
        registry,
        store,
        now,
        discovery,
    }
}

/// Contact events published since the last call: `(operation, id, display name)`.
async fn take_contacts(broker: &Arc<dyn Broker>) -> Vec<(Operation, String, String)> {
    let mut taken = Vec::new();
    loop {
        let deliveries = broker
            .fetch("probe-contacts", 1000, StdDuration::from_millis(20))
            .await
            .unwrap();
        if deliveries.is_empty() {
            return taken;
        }
        let tags: Vec<DeliveryTag> = deliveries.iter().map(|delivery| delivery.tag).collect();
        broker.ack("probe-contacts", &tags).await.unwrap();
        for delivery in deliveries {
            let envelope = Envelope::from_json_slice(&delivery.message.payload).unwrap();
            assert_eq!(envelope.source, DISCOVERY_SOURCE);
            let AnyOfficeEvent::Contact(event) = decode_office_event(&envelope).unwrap() else {
                panic!("not a contact event: {}", envelope.event_type);
            };
            assert_eq!(event.provider, DISCOVERY_PROVIDER);
            assert_eq!(event.item.emails.len(), 1);
            taken.push((event.operation, event.item.id, event.item.display_name));
        }
    }
}

fn email(id: &str, from: (&str, &str), to: &[&str], date: DateTime<Utc>) -> AnyOfficeEvent {
    let mut event = EmailEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "mbox",
        "alice@home.org",
        "b1",
        Email {
            id: id.into(),
            from: Some(Mailbox {
                name: Some(from.0.into()),
                address: from.1.into(),
            }),
            to: to
                .iter()
                .map(|address| Mailbox {
                    name: None,
                    address: address.to_string(),
                })
                .collect(),
            date: Some(date),
            ..Email::default()
        },
    );
    event.last_updated = date;
    AnyOfficeEvent::Email(event)
}

fn bob_emails(range: std::ops::Range<u32>, name: &str) -> Vec<AnyOfficeEvent> {
    range
        .map(|i| {
            email(
                &format!("<bob-{i}@x>"),
                (name, "bob@x.org"),
                &["alice@home.org"],
                start() - chrono::Duration::hours(i64::from(i)),
            )
        })
        .collect()
}

fn incoming(events: Vec<AnyOfficeEvent>) -> Vec<Incoming<AnyOfficeEvent>> {
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| Incoming::new(event, format!("event-{i}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_events_are_published_on_new_and_meaningful_changes_only() {
    let f = fixture().await;
    // Ten emails from Bob: one new contact, one create.
    let report = f
        .discovery
        .process(&bob_emails(0..10, "Bob"), "job")
        .await
        .unwrap();
    assert_eq!((report.published, report.skipped), (1, 0));
    assert_eq!(
        take_contacts(&f.broker).await,
        [(
            Operation::Create,
            "discovered:bob@x.org".into(),
            "Bob".into()
        )]
    );

    // One more: ln(12)/ln(11) is +3.6 %, under the 25 % threshold.
    let report = f
        .discovery
        .process(&bob_emails(10..11, "Bob"), "job")
        .await
        .unwrap();
    assert_eq!((report.published, report.skipped), (0, 1));
    assert!(take_contacts(&f.broker).await.is_empty());

    // Twenty more: ln(32)/ln(12) is +39 %: an update.
    let report = f
        .discovery
        .process(&bob_emails(11..31, "Bob"), "job")
        .await
        .unwrap();
    assert_eq!(report.published, 1);
    assert_eq!(
        take_contacts(&f.broker).await,
        [(
            Operation::Update,
            "discovered:bob@x.org".into(),
            "Bob".into()
        )]
    );

    // Time passes without news (two half-lives): an old email does not refresh
    // `last_seen`, but the score dropped by 75 % since it was published.
    *f.now.lock().unwrap() = start() + chrono::Duration::days(180);
    f.discovery
        .process(&bob_emails(31..32, "Bob"), "job")
        .await
        .unwrap();
    assert_eq!(take_contacts(&f.broker).await.len(), 1);

    // A redelivery of everything changes nothing and publishes nothing.
    let before = f.store.export("alice@home.org").await.unwrap();
    let report = f
        .discovery
        .process(&bob_emails(0..32, "Bob"), "job")
        .await
        .unwrap();
    assert_eq!(report.applied.contacts_changed, 0);
    assert!(take_contacts(&f.broker).await.is_empty());
    assert_eq!(f.store.export("alice@home.org").await.unwrap(), before);

    // A new most frequent name is a meaningful change, whatever the score.
    f.discovery
        .process(&bob_emails(32..70, "Robert Jones"), "job")
        .await
        .unwrap();
    assert_eq!(
        take_contacts(&f.broker).await,
        [(
            Operation::Update,
            "discovered:bob@x.org".into(),
            "Robert Jones".into()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contact_whose_items_are_all_deleted_is_deleted_from_search() {
    let f = fixture().await;
    let created = email("<1@x>", ("Bob", "bob@x.org"), &[], start());
    f.discovery.process(&[created], "job").await.unwrap();
    assert_eq!(take_contacts(&f.broker).await.len(), 1);
    let AnyOfficeEvent::Email(mut gone) = email("<1@x>", ("Bob", "bob@x.org"), &[], start()) else {
        unreachable!()
    };
    gone.operation = Operation::Delete;
    gone.last_updated = start() + chrono::Duration::hours(1);
    let report = f
        .discovery
        .process(&[AnyOfficeEvent::Email(gone)], "job")
        .await
        .unwrap();
    assert_eq!(report.deleted, 1);
    assert_eq!(
        take_contacts(&f.broker).await,
        [(
            Operation::Delete,
            "discovered:bob@x.org".into(),
            "Bob".into()
        )]
    );
    let export = f.store.export("alice@home.org").await.unwrap();
    assert!(export.contacts.is_empty() && export.dirty.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_retries_the_batch_and_the_retry_publishes() {
    let f = fixture().await;
    let failing = ContactDiscovery::new(
        f.store.clone(),
        // No retries inside the publisher: the handler's own retry is what is tested.
        Publisher::new(Arc::new(DownBroker), f.registry.clone()).with_retry(PublishRetry {
            budget: StdDuration::ZERO,
            ..PublishRetry::default()
        }),
        ContactsConfig::default(),
    )
    .unwrap();
    let outcomes = failing.handle(incoming(bob_emails(0..3, "Bob"))).await;
    assert_eq!(outcomes.len(), 3);
    assert!(
        outcomes.iter().all(
            |outcome| matches!(outcome, Outcome::Retry(reason) if reason.contains("broker down"))
        ),
        "{outcomes:?}"
    );
    // The contact is stored and still waits to be published.
    assert_eq!(
        f.store.export("alice@home.org").await.unwrap().dirty,
        ["bob@x.org"]
    );
    let outcomes = f.discovery.handle(incoming(bob_emails(0..3, "Bob"))).await;
    assert_eq!(outcomes, vec![Outcome::Done; 3]);
    assert_eq!(
        take_contacts(&f.broker).await,
        [(
            Operation::Create,
            "discovered:bob@x.org".into(),
            "Bob".into()
        )]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_runs_discovery_and_other_kinds_are_done_without_effect() {
    let f = fixture().await;
    let state: Arc<dyn StateStore> =
        Arc::new(EmbeddedState::open(&f.dir.path().join("state")).unwrap());
    let mut config =
        ConsumerConfig::new(SubscriptionConfig::new("contact-discovery-todos", "todos"));
    config.max_wait = StdDuration::from_millis(50);
    f.broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let discovery = ContactDiscovery::new(
        f.store.clone(),
        Publisher::new(f.broker.clone(), f.registry.clone()),
        ContactsConfig::default(),
    )
    .unwrap();
    let consumer = Consumer::new(
        f.broker.clone(),
        state,
        f.registry.clone(),
        config,
        discovery,
    );
    let todo = TodoEvent::new(
        Operation::Create,
        SyncType::Streaming,
        "jsonl",
        "alice@home.org",
        "b1",
        Todo {
            id: "t1".into(),
            title: "Review the budget".into(),
            assignee: Some(Mailbox {
                name: Some("Ivy".into()),
                address: "ivy@x.org".into(),
            }),
            ..Todo::default()
        },
    );
    let publisher = Publisher::new(f.broker.clone(), f.registry.clone());
    publisher
        .publish(&[todo.to_envelope("/test", "job").unwrap()])
        .await
        .unwrap();
    let step = consumer.step().await.unwrap();
    assert_eq!((step.handled, step.retried), (1, 0), "{step:?}");
    let ivy = f
        .store
        .contact("alice@home.org", "ivy@x.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ivy.counts.todo_assignee, 1);
    assert_eq!(
        take_contacts(&f.broker).await,
        [(
            Operation::Create,
            "discovered:ivy@x.org".into(),
            "Ivy".into()
        )]
    );

    let chat = LlmChatEvent::new(
        Operation::Create,
        SyncType::Streaming,
        "tool",
        "alice@home.org",
        "b1",
        LlmChat {
            id: "c1".into(),
            ..LlmChat::default()
        },
    );
    let before = f.store.export("alice@home.org").await.unwrap();
    let outcomes = f
        .discovery
        .handle(incoming(vec![AnyOfficeEvent::LlmChat(chat)]))
        .await;
    assert_eq!(outcomes, [Outcome::Done]);
    assert_eq!(f.store.export("alice@home.org").await.unwrap(), before);
}

#[test]
fn decisions_follow_the_relative_threshold() {
    let contact = crate::EmailContact::fold(
        "alice",
        "bob@x.org",
        false,
        &[crate::Contribution {
            roles: vec![crate::Role::EmailFrom],
            name: Some("Bob".into()),
            seen_at: start(),
        }],
    );
    let published = |score: f64, name: &str| PublishedState {
        score,
        display_name: name.into(),
        at: start(),
    };
    let dirty =
        |contact: Option<crate::EmailContact>, published: Option<PublishedState>| DirtyContact {
            user_id: "alice".into(),
            address: "bob@x.org".into(),
            generation: 1,
            contact,
            published,
        };
    let check = |dirty: DirtyContact, score: f64, expected: Decision| {
        assert_eq!(
            decide(&dirty, score, 0.25),
            expected,
            "{dirty:?} at {score}"
        );
    };
    check(dirty(contact.clone(), None), 1.0, Decision::Create);
    check(
        dirty(contact.clone(), Some(published(1.0, "Bob"))),
        1.2,
        Decision::Skip,
    );
    check(
        dirty(contact.clone(), Some(published(1.0, "Bob"))),
        0.8,
        Decision::Skip,
    );
    check(
        dirty(contact.clone(), Some(published(1.0, "Bob"))),
        1.3,
        Decision::Update,
    );
    check(
        dirty(contact.clone(), Some(published(1.0, "Bob"))),
        0.7,
        Decision::Update,
    );
    check(
        dirty(contact, Some(published(1.0, "Bobby"))),
        1.0,
        Decision::Update,
    );
    check(
        dirty(None, Some(published(1.0, "Bob"))),
        0.0,
        Decision::Delete,
    );
    check(dirty(None, None), 0.0, Decision::Skip);
}
