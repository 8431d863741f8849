//! End-to-end scenario: the shared sample mail and calendars, plus hand-built documents
//! and todos, go through `ContactDiscovery` on an embedded bus; contacts, counters,
//! scores, ranking, redelivery, publishing, forget and retention are checked.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use switchyard_bus::{Broker, DeliveryTag, EmbeddedBroker, SubscriptionConfig};
use switchyard_contacts::{
    Clock, ContactDiscovery, ContactStore, ContactsConfig, EmailContact, RedbContactStore, Scoring,
};
use switchyard_contracts::{
    AnyOfficeEvent, Document, DocumentBody, DocumentEvent, DocumentKind, Envelope, Mailbox,
    Operation, Registry, SyncType, Todo, TodoEvent, WordBlock, decode_office_event,
};
use switchyard_office::{ImportOptions, discover, read_file, shared_testdata};
use switchyard_runtime::Publisher;

const USER: &str = "me";

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

fn load(folder: &str) -> Vec<AnyOfficeEvent> {
    let root = shared_testdata().join(folder);
    let discovery = discover(&[root]).unwrap();
    let options = ImportOptions {
        user_id: USER.into(),
        sync_type: SyncType::Backfill,
    };
    let mut events = Vec::new();
    for file in &discovery.files {
        for mut event in read_file(file, &options).flatten() {
            event.set_batch_id("sample");
            events.push(event);
        }
    }
    events
}

fn mailbox(name: &str, address: &str) -> Mailbox {
    Mailbox {
        name: Some(name.into()),
        address: address.into(),
    }
}

/// A design document by Kevin mentioning Max and a no-reply address, and a todo for Max.
fn hand_built() -> Vec<AnyOfficeEvent> {
    let modified = Utc.with_ymd_and_hms(2025, 12, 1, 9, 0, 0).unwrap();
    let mut document = DocumentEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "docx",
        USER,
        "hand",
        Document {
            id: "file:block-layer-design".into(),
            kind: DocumentKind::Word,
            title: "Block layer design".into(),
            author: Some("Kevin Wolf <kwolf@redhat.com>".into()),
            last_modified: Some(modified),
            body: Some(DocumentBody::Word {
                blocks: vec![
                    WordBlock::Heading {
                        level: 1,
                        text: "Reviewers".into(),
                    },
                    WordBlock::Paragraph {
                        text:
                            "Ask Max (mreitz@redhat.com); bots write from no-reply@ci.example.com."
                                .into(),
                    },
                ],
            }),
            ..Document::default()
        },
    );
    document.last_updated = modified;
    let mut todo = TodoEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "jsonl",
        USER,
        "hand",
        Todo {
            id: "todo-review".into(),
            title: "Review the block layer design".into(),
            assignee: Some(mailbox("Max Reitz", "mreitz@redhat.com")),
            ..Todo::default()
        },
    );
    todo.last_updated = Utc.with_ymd_and_hms(2025, 12, 2, 9, 0, 0).unwrap();
    vec![
        AnyOfficeEvent::Document(document),
        AnyOfficeEvent::Todo(todo),
    ]
}

struct Rig {
    _dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    store: Arc<dyn ContactStore>,
    discovery: ContactDiscovery,
}

async fn rig() -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    broker
        .ensure_subscription(&SubscriptionConfig::new("probe", "contacts"))
        .await
        .unwrap();
    let config = ContactsConfig {
        self_addresses: [(
            USER.to_string(),
            vec![
                "pbonzini@redhat.com".to_string(),
                "paolo.bonzini@gmail.com".to_string(),
            ],
        )]
        .into(),
        ..ContactsConfig::default()
    };
    let store: Arc<dyn ContactStore> = Arc::new(
        RedbContactStore::open(
            dir.path(),
            Scoring::with_clock(&config, Clock::fixed(now())),
        )
        .unwrap(),
    );
    let publisher = Publisher::new(broker.clone(), Arc::new(Registry::standard()));
    let discovery = ContactDiscovery::new(store.clone(), publisher, config).unwrap();
    Rig {
        _dir: dir,
        broker,
        store,
        discovery,
    }
}

/// `(operation, contact id)` of every contact event published since the last call.
async fn published(broker: &Arc<dyn Broker>) -> Vec<(Operation, String)> {
    let mut taken = Vec::new();
    loop {
        let deliveries = broker
            .fetch("probe", 1000, Duration::from_millis(20))
            .await
            .unwrap();
        if deliveries.is_empty() {
            return taken;
        }
        let tags: Vec<DeliveryTag> = deliveries.iter().map(|delivery| delivery.tag).collect();
        broker.ack("probe", &tags).await.unwrap();
        for delivery in deliveries {
            let envelope = Envelope::from_json_slice(&delivery.message.payload).unwrap();
            let AnyOfficeEvent::Contact(event) = decode_office_event(&envelope).unwrap() else {
                panic!("not a contact event");
            };
            assert_eq!(event.user_id, USER);
            taken.push((event.operation, event.item.id));
        }
    }
}

/// Feeds `events` in batches of 25, as a consumer would.
async fn feed(rig: &Rig, events: &[AnyOfficeEvent]) {
    for (i, batch) in events.chunks(25).enumerate() {
        rig.discovery
            .process(batch, &format!("batch-{i}"))
            .await
            .unwrap();
    }
}

/// Distinct email ids sent by `address`.
fn sent_by(events: &[AnyOfficeEvent], address: &str) -> usize {
    events
        .iter()
        .filter_map(|event| match event {
            AnyOfficeEvent::Email(email)
                if email
                    .item
                    .from
                    .as_ref()
                    .is_some_and(|from| from.address.eq_ignore_ascii_case(address)) =>
            {
                Some(email.item.id.clone())
            }
            _ => None,
        })
        .collect::<BTreeSet<_>>()
        .len()
}

fn by_address(contacts: Vec<EmailContact>) -> BTreeMap<String, EmailContact> {
    contacts
        .into_iter()
        .map(|contact| (contact.address.clone(), contact))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_data_gives_ranked_idempotent_contacts() {
    let rig = rig().await;
    let mut events = load("email");
    let emails = events.clone();
    events.extend(load("calendar"));
    events.extend(hand_built());
    assert!(emails.len() > 50, "{} sample emails", emails.len());
    feed(&rig, &events).await;
    let contacts = by_address(rig.store.contacts(USER).await.unwrap());

    // Ignored: the user's own addresses, no-reply and postmaster senders.
    for absent in [
        "pbonzini@redhat.com",
        "paolo.bonzini@gmail.com",
        "noreply@ggg.com",
        "postmaster@netpar.com.br",
        "no-reply@ci.example.com",
    ] {
        assert!(!contacts.contains_key(absent), "{absent} is a contact");
    }

    // Counters are per distinct item: messages repeated across mbox files count once.
    let famz = &contacts["famz@redhat.com"];
    assert_eq!(
        famz.counts.email_from as usize,
        sent_by(&emails, "famz@redhat.com")
    );
    assert!(famz.counts.email_from >= 3, "{famz:?}");
    assert_eq!(famz.display_name(), "Fam Zheng");
    let kwolf = &contacts["kwolf@redhat.com"];
    assert_eq!(kwolf.counts.email_from, 1);
    assert!(kwolf.counts.email_cc >= 3, "{kwolf:?}");
    assert_eq!(kwolf.counts.document_author, 1);
    assert_eq!(kwolf.display_name(), "Kevin Wolf");
    let mreitz = &contacts["mreitz@redhat.com"];
    assert_eq!(
        (mreitz.counts.document_mention, mreitz.counts.todo_assignee),
        (1, 1)
    );
    let rembrand = &contacts["rembrand@daxlab.com"];
    assert_eq!(
        (
            rembrand.counts.calendar_organizer,
            rembrand.counts.calendar_attendee
        ),
        (1, 1)
    );
    assert_eq!(
        rembrand.last_seen,
        Utc.with_ymd_and_hms(2012, 8, 14, 0, 0, 0).unwrap()
    );

    // Mailing lists are kept but down-weighted by the configured factor.
    let list = &contacts["qemu-devel@nongnu.org"];
    assert!(list.mailing_list);
    assert!(list.counts.email_to > famz.counts.email_from);
    let scoring = rig.store.scoring();
    let unflagged = EmailContact {
        mailing_list: false,
        ..list.clone()
    };
    let ratio = scoring.score(list) / scoring.score(&unflagged);
    assert!((ratio - 0.2).abs() < 1e-9, "{ratio}");

    // Ranking: recent people first. Kevin (document of December 2025) and Max (todo of
    // December 2025) lead; one recent email outranks Fam's many emails of 2016.
    let top = rig.store.top(USER, 5).await.unwrap();
    let leaders: Vec<&str> = top.iter().map(|r| r.contact.address.as_str()).collect();
    assert_eq!(
        &leaders[..2],
        ["mreitz@redhat.com", "kwolf@redhat.com"],
        "{leaders:?}"
    );
    let all = rig.store.top(USER, usize::MAX).await.unwrap();
    assert_eq!(all.len(), contacts.len());
    assert!(all.windows(2).all(|pair| pair[0].score >= pair[1].score));
    let rank = |address: &str| {
        all.iter()
            .position(|r| r.contact.address == address)
            .unwrap()
    };
    assert!(
        rank("comma.name@example.com") < rank("famz@redhat.com"),
        "one email of November 2025 outranks {} of 2016",
        famz.counts.email_from
    );

    // Every contact was published once as a create.
    let first = published(&rig.broker).await;
    let created: BTreeSet<String> = first
        .iter()
        .filter(|(operation, _)| *operation == Operation::Create)
        .map(|(_, id)| id.clone())
        .collect();
    let expected: BTreeSet<String> = contacts.values().map(EmailContact::contact_id).collect();
    assert_eq!(created, expected);
    assert_eq!(
        first
            .iter()
            .filter(|(op, _)| *op == Operation::Create)
            .count(),
        contacts.len()
    );

    // Redelivery of every event, twice, in other batches: the same store, no publish.
    let dump = rig.store.export(USER).await.unwrap();
    assert!(dump.dirty.is_empty());
    for round in 0..2 {
        let mut again = events.clone();
        again.rotate_left(7 + round);
        feed(&rig, &again).await;
        assert_eq!(rig.store.export(USER).await.unwrap(), dump, "round {round}");
        assert!(published(&rig.broker).await.is_empty(), "round {round}");
    }

    // Retention: contacts not seen since 2020 go; the rest stay.
    let cutoff = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let dropped = rig
        .store
        .drop_not_seen_since(Some(USER), cutoff)
        .await
        .unwrap();
    assert!(dropped.iter().any(|f| f.address == "famz@redhat.com"));
    let kept = rig.store.contacts(USER).await.unwrap();
    assert_eq!(kept.len() + dropped.len(), contacts.len());
    assert!(kept.iter().all(|contact| contact.last_seen >= cutoff));

    // Forget one, then everything.
    let one = rig
        .store
        .forget(USER, Some("KWolf@redhat.com"))
        .await
        .unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].contact_id, "discovered:kwolf@redhat.com");
    assert_eq!(
        rig.store.contact(USER, "kwolf@redhat.com").await.unwrap(),
        None
    );
    let rest = rig.store.forget(USER, None).await.unwrap();
    assert_eq!(rest.len(), kept.len() - 1);
    assert!(rig.store.contacts(USER).await.unwrap().is_empty());
    assert!(rig.store.export(USER).await.unwrap().items.is_empty());
}
