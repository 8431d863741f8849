//! Chunker tests on the embedded engines: document events go through a real `Consumer`
//! or straight to `Chunker::process`, and the fragment topics are read back.

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use switchyard_bus::{Broker, DeliveryTag, DownBroker, EmbeddedBroker, SubscriptionConfig};
use switchyard_contracts::{
    AnyOfficeEvent, Document, DocumentBody, DocumentEvent, DocumentKind, Envelope, FragmentEvent,
    Operation, Registry, Slide, SyncType, WordBlock, decode_office_event,
};
use switchyard_runtime::{
    Consumer, ConsumerConfig, Handler, Incoming, Outcome, PublishRetry, Publisher,
};
use switchyard_state::{EmbeddedState, StateStore};

use super::*;

struct Fixture {
    _dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    state: Arc<dyn StateStore>,
    registry: Arc<Registry>,
    publisher: Publisher,
    chunker: Chunker,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let state: Arc<dyn StateStore> =
        Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let registry = Arc::new(Registry::standard());
    let publisher = Publisher::new(broker.clone(), registry.clone());
    let chunker =
        Chunker::new(publisher.clone(), state.clone(), ChunkingConfig::default()).unwrap();
    Fixture {
        _dir: dir,
        broker,
        state,
        registry,
        publisher,
        chunker,
    }
}

/// A Word document with one level-1 section per title.
fn word(sections: &[&str]) -> Document {
    let mut blocks = Vec::new();
    for title in sections {
        blocks.push(WordBlock::Heading {
            level: 1,
            text: title.to_string(),
        });
        blocks.push(WordBlock::Paragraph {
            text: format!("All about {title}."),
        });
    }
    Document {
        id: "doc-1".into(),
        kind: DocumentKind::Word,
        title: "Handbook".into(),
        body: Some(DocumentBody::Word { blocks }),
        ..Document::default()
    }
}

fn event(operation: Operation, minute: u32, document: Document) -> DocumentEvent {
    let mut event = DocumentEvent::new(
        operation,
        SyncType::Streaming,
        "msgraph",
        "alice",
        "batch-7",
        document,
    );
    event.last_updated = Utc.with_ymd_and_hms(2025, 3, 1, 12, minute, 0).unwrap();
    event
}

/// Everything published on `topic` since the last call, decoded.
async fn take_published(broker: &Arc<dyn Broker>, topic: &str) -> Vec<(Envelope, FragmentEvent)> {
    let probe = format!("probe-{topic}");
    broker
        .ensure_subscription(&SubscriptionConfig::new(&probe, topic))
        .await
        .unwrap();
    let mut taken = Vec::new();
    loop {
        let deliveries = broker
            .fetch(&probe, 1000, Duration::from_millis(20))
            .await
            .unwrap();
        if deliveries.is_empty() {
            return taken;
        }
        let tags: Vec<DeliveryTag> = deliveries.iter().map(|delivery| delivery.tag).collect();
        broker.ack(&probe, &tags).await.unwrap();
        for delivery in deliveries {
            let envelope = Envelope::from_json_slice(&delivery.message.payload).unwrap();
            let AnyOfficeEvent::Fragment(fragment) = decode_office_event(&envelope).unwrap() else {
                panic!("not a fragment event: {}", envelope.event_type);
            };
            taken.push((envelope, fragment));
        }
    }
}

/// `(operation, fragment id)` of each event, in order.
fn summary(events: &[(Envelope, FragmentEvent)]) -> Vec<(Operation, String)> {
    events
        .iter()
        .map(|(_, event)| (event.operation, event.item.id.clone()))
        .collect()
}

async fn record(f: &Fixture, document: &str) -> Option<ChunkRecord> {
    ChunkRecord::load(f.state.as_ref(), &chunk_state_key("alice", document))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_document_is_published_as_fragments_through_the_consumer() {
    let f = fixture().await;
    let subscription = SubscriptionConfig::new("chunker-word", "word_documents");
    let mut config = ConsumerConfig::new(subscription);
    config.max_wait = Duration::from_millis(50);
    f.broker
        .ensure_subscription(&config.subscription)
        .await
        .unwrap();
    let consumer = Consumer::new(
        f.broker.clone(),
        f.state.clone(),
        f.registry.clone(),
        config,
        Chunker::new(
            f.publisher.clone(),
            f.state.clone(),
            ChunkingConfig::default(),
        )
        .unwrap(),
    );
    let document = event(Operation::Create, 0, word(&["Trains", "Hotels", "Meals"]));
    let envelope = document.to_envelope("/test", "job-42").unwrap();
    f.publisher.publish(&[envelope]).await.unwrap();
    let step = consumer.step().await.unwrap();
    assert_eq!((step.handled, step.dead_lettered), (1, 0), "{step:?}");

    let published = take_published(&f.broker, "word_fragments").await;
    assert_eq!(
        summary(&published),
        [
            (Operation::Create, "doc-1#0".to_string()),
            (Operation::Create, "doc-1#1".to_string()),
            (Operation::Create, "doc-1#2".to_string()),
        ]
    );
    let (envelope, first) = &published[0];
    assert_eq!(first.user_id, "alice");
    assert_eq!(first.provider, "msgraph");
    assert_eq!(first.batch_id, "batch-7");
    assert_eq!(first.sync_type, SyncType::Streaming);
    assert_eq!(first.last_updated, document.last_updated);
    assert_eq!(first.item.parent_id, "doc-1");
    assert_eq!(first.item.parent_title, "Handbook");
    assert_eq!(first.item.title.as_deref(), Some("Trains"));
    assert_eq!(first.item.text, "Trains\n\nAll about Trains.");
    assert_eq!(envelope.source, CHUNKER_SOURCE);
    assert_eq!(envelope.correlationid.as_deref(), Some("job-42"));
    assert_eq!(record(&f, "doc-1").await.map(|r| r.fragments), Some(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_fewer_sections_deletes_the_stale_positions() {
    let f = fixture().await;
    let create = event(Operation::Create, 0, word(&["A", "B", "C"]));
    f.chunker.process(Incoming::new(create, "e")).await.unwrap();
    take_published(&f.broker, "word_fragments").await;

    let update = event(Operation::Update, 5, word(&["A only"]));
    let report = f
        .chunker
        .process(Incoming::new(update.clone(), "e"))
        .await
        .unwrap();
    assert_eq!(
        report,
        ChunkReport {
            fragments: 1,
            deleted: 2,
            superseded: false
        }
    );
    let published = take_published(&f.broker, "word_fragments").await;
    assert_eq!(
        summary(&published),
        [
            (Operation::Update, "doc-1#0".to_string()),
            (Operation::Delete, "doc-1#1".to_string()),
            (Operation::Delete, "doc-1#2".to_string()),
        ]
    );
    assert!(
        published
            .iter()
            .all(|(_, event)| event.last_updated == update.last_updated)
    );
    let stored = record(&f, "doc-1").await.unwrap();
    assert_eq!(
        (stored.fragments, stored.last_updated),
        (1, update.last_updated)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_deletes_every_fragment_and_forgets_the_count() {
    let f = fixture().await;
    let create = event(Operation::Create, 0, word(&["A", "B", "C"]));
    f.chunker.process(Incoming::new(create, "e")).await.unwrap();
    take_published(&f.broker, "word_fragments").await;

    let delete = event(
        Operation::Delete,
        9,
        Document {
            id: "doc-1".into(),
            ..Document::default()
        },
    );
    let report = f
        .chunker
        .process(Incoming::new(delete.clone(), "e"))
        .await
        .unwrap();
    assert_eq!(report.deleted, 3);
    let published = take_published(&f.broker, "word_fragments").await;
    assert_eq!(
        summary(&published),
        [
            (Operation::Delete, "doc-1#0".to_string()),
            (Operation::Delete, "doc-1#1".to_string()),
            (Operation::Delete, "doc-1#2".to_string()),
        ]
    );
    assert_eq!(record(&f, "doc-1").await.map(|r| r.fragments), Some(0));

    // A second delete has nothing left to delete; a late older update stays deleted.
    let report = f.chunker.process(Incoming::new(delete, "e")).await.unwrap();
    assert_eq!(report.deleted, 0);
    let late = event(Operation::Update, 3, word(&["Zombie"]));
    let report = f.chunker.process(Incoming::new(late, "e")).await.unwrap();
    assert!(report.superseded);
    assert!(take_published(&f.broker, "word_fragments").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivery_publishes_the_same_fragments_which_consumers_deduplicate() {
    let f = fixture().await;
    let create = event(Operation::Create, 0, word(&["A", "B"]));
    let first = f
        .chunker
        .process(Incoming::new(create.clone(), "e"))
        .await
        .unwrap();
    let first_round = take_published(&f.broker, "word_fragments").await;
    let again = f.chunker.process(Incoming::new(create, "e")).await.unwrap();
    let second_round = take_published(&f.broker, "word_fragments").await;
    assert_eq!(first, again);
    assert_eq!(again.deleted, 0);
    assert_eq!(summary(&first_round), summary(&second_round));
    let items = |round: &[(Envelope, FragmentEvent)]| -> Vec<_> {
        round.iter().map(|(_, event)| event.item.clone()).collect()
    };
    assert_eq!(items(&first_round), items(&second_round));
    // Same (user, fragment id, last_updated): a fragment consumer sees the same keys.
    let keys = |round: &[(Envelope, FragmentEvent)]| -> Vec<String> {
        round
            .iter()
            .map(|(envelope, _)| {
                f.registry
                    .idempotency_key("search-indexer", envelope)
                    .unwrap()
                    .key
            })
            .collect()
    };
    assert_eq!(keys(&first_round), keys(&second_round));
    assert_eq!(record(&f, "doc-1").await.map(|r| r.fragments), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_updates_publish_nothing() {
    let f = fixture().await;
    let create = event(Operation::Create, 0, word(&["A", "B"]));
    f.chunker.process(Incoming::new(create, "e")).await.unwrap();
    take_published(&f.broker, "word_fragments").await;
    let mut renamed = word(&[]);
    renamed.body = None;
    let report = f
        .chunker
        .process(Incoming::new(event(Operation::Update, 1, renamed), "e"))
        .await
        .unwrap();
    assert_eq!(report, ChunkReport::default());
    assert!(take_published(&f.broker, "word_fragments").await.is_empty());
    assert_eq!(record(&f, "doc-1").await.map(|r| r.fragments), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slides_go_to_the_presentation_fragments_topic() {
    let f = fixture().await;
    let deck = Document {
        id: "deck-1".into(),
        kind: DocumentKind::Presentation,
        title: "Kick-off".into(),
        body: Some(DocumentBody::Presentation {
            slides: vec![
                Slide {
                    number: 1,
                    title: Some("Goals".into()),
                    body: "Ship it.".into(),
                    notes: "Smile.".into(),
                },
                Slide {
                    number: 2,
                    title: None,
                    body: "Questions?".into(),
                    notes: String::new(),
                },
            ],
        }),
        ..Document::default()
    };
    let report = f
        .chunker
        .process(Incoming::new(event(Operation::Create, 0, deck), "e"))
        .await
        .unwrap();
    assert_eq!(report.fragments, 2);
    let published = take_published(&f.broker, "presentation_fragments").await;
    let texts: Vec<&str> = published
        .iter()
        .map(|(_, event)| event.item.text.as_str())
        .collect();
    assert_eq!(
        texts,
        [
            "Slide 1: Goals\n\nShip it.\n\nNotes:\nSmile.",
            "Slide 2\n\nQuestions?"
        ]
    );
    assert!(take_published(&f.broker, "word_fragments").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_of_the_wrong_kind_fails_with_a_clear_message() {
    let f = fixture().await;
    let mut document = word(&["A"]);
    document.kind = DocumentKind::Sheet;
    let batch = vec![Incoming::new(event(Operation::Create, 0, document), "e1")];
    let outcomes = f.chunker.handle(batch).await;
    assert_eq!(
        outcomes,
        [Outcome::Fail(
            "invalid document `doc-1`: a sheet document cannot have a word body".into()
        )]
    );
    assert!(record(&f, "doc-1").await.is_none());
}

#[test]
fn only_document_events_decode() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let f = runtime.block_on(fixture());
    let document = event(Operation::Create, 0, word(&["A"]));
    let envelope = document.to_envelope("/test", "job").unwrap();
    assert_eq!(f.chunker.decode(&envelope).unwrap(), document);
    let fragment = FragmentEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "p",
        "alice",
        "b",
        switchyard_contracts::Fragment {
            id: "x#0".into(),
            ..Default::default()
        },
    );
    let err = f
        .chunker
        .decode(&fragment.to_envelope("/test", "job").unwrap())
        .unwrap_err();
    assert!(err.to_string().contains("takes document events"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_failures_are_retried_and_hold_back_the_same_document() {
    let f = fixture().await;
    // No retries inside the publisher: the handler's own retry is what is tested.
    let publisher =
        Publisher::new(Arc::new(DownBroker), f.registry.clone()).with_retry(PublishRetry {
            budget: Duration::ZERO,
            ..PublishRetry::default()
        });
    let chunker = Chunker::new(publisher, f.state.clone(), ChunkingConfig::default()).unwrap();
    let incoming = |operation, minute, id: &str| {
        Incoming::new(event(operation, minute, word(&["A", "B"])), id)
    };
    let outcomes = chunker
        .handle(vec![
            incoming(Operation::Create, 0, "e1"),
            incoming(Operation::Update, 1, "e2"),
        ])
        .await;
    assert!(
        matches!(&outcomes[0], Outcome::Retry(reason) if reason.contains("broker down")),
        "{outcomes:?}"
    );
    assert_eq!(
        outcomes[1],
        Outcome::Retry("an earlier event of document `doc-1` in this batch is retried".into())
    );
    assert!(record(&f, "doc-1").await.is_none());
}
