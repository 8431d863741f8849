//! The indexer handler end to end over a real (tantivy) index: outcomes per event, timestamp
//! rejections naming the field, deletes that follow a document's fragments, and
//! re-chunked documents leaving no stale fragment.

// The event builders and index helpers of the tantivy engine's tests, shared rather
// than copied: the indexer is tested over that engine.
#[path = "../../switchyard-tantivy/tests/support/mod.rs"]
mod support;

use std::sync::Arc;

use chrono::Duration;
use support::*;
use switchyard_contracts::{AnyOfficeEvent, Envelope};
use switchyard_indexer::Indexer;
use switchyard_runtime::{Handler, Incoming, Outcome};
use switchyard_search::{MAX_CLOCK_SKEW_SECS, SearchBackend};
use switchyard_tantivy::SearchIndex;

fn indexer(index: &Arc<SearchIndex>) -> Indexer {
    Indexer::new(index.clone())
}

/// Decodes each event from its envelope, as the consumer does, and handles the batch.
async fn handle(indexer: &Indexer, envelopes: Vec<Envelope>) -> Vec<Outcome> {
    let batch = envelopes
        .iter()
        .map(|envelope| {
            Incoming::new(
                indexer.decode(envelope).expect("decodes"),
                envelope.id.clone(),
            )
        })
        .collect();
    indexer.handle(batch).await
}

fn envelopes(events: &[AnyOfficeEvent]) -> Vec<Envelope> {
    events
        .iter()
        .map(|event| event.to_envelope("/tests", "job-1").unwrap())
        .collect()
}

fn with_timestamps(
    mut event: AnyOfficeEvent,
    last_updated_secs_ahead: i64,
    sync_secs_ahead: i64,
) -> AnyOfficeEvent {
    let now = chrono::Utc::now();
    if let AnyOfficeEvent::Email(event) = &mut event {
        event.last_updated = now + Duration::seconds(last_updated_secs_ahead);
        event.sync_timestamp = now + Duration::seconds(sync_secs_ahead);
    }
    event
}

#[tokio::test]
async fn future_timestamps_fail_their_event_alone_naming_the_field() {
    let (_dir, index) = open();
    let index = Arc::new(index);
    let indexer = indexer(&index);
    let events = [
        with_timestamps(email("alice", "ok", "grebe", ""), 0, 0),
        with_timestamps(
            email("alice", "skewed", "grebe", ""),
            60,
            MAX_CLOCK_SKEW_SECS - 60,
        ),
        with_timestamps(email("alice", "future-update", "grebe", ""), 86_400, 0),
        with_timestamps(email("alice", "future-sync", "grebe", ""), 0, 3_600),
    ];
    let outcomes = handle(&indexer, envelopes(&events)).await;
    assert_eq!(outcomes[..2], [Outcome::Done, Outcome::Done]);
    match &outcomes[2] {
        Outcome::Fail(reason) => {
            assert!(reason.contains("data.last_updated"), "{reason}");
            assert!(reason.contains("in the future"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    match &outcomes[3] {
        Outcome::Fail(reason) => assert!(reason.contains("data.sync_timestamp"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let mut indexed = found(&index, &query("alice", "grebe"));
    indexed.sort();
    assert_eq!(indexed, ["email/ok", "email/skewed"]);
}

#[tokio::test]
async fn unparsable_timestamps_fail_their_event_naming_the_field() {
    let (_dir, index) = open();
    let index = Arc::new(index);
    let indexer = indexer(&index);
    let mut batch = envelopes(&[
        email("alice", "bad-update", "loon", ""),
        email("alice", "bad-sync", "loon", ""),
        email("alice", "good", "loon", ""),
    ]);
    batch[0].data.as_mut().unwrap()["last_updated"] = "yesterday-ish".into();
    batch[1].data.as_mut().unwrap()["sync_timestamp"] = "2024-13-45T99:00:00Z".into();
    let outcomes = handle(&indexer, batch.clone()).await;
    for (outcome, field) in outcomes
        .iter()
        .zip(["data.last_updated", "data.sync_timestamp"])
    {
        match outcome {
            Outcome::Fail(reason) => {
                assert!(reason.contains(field), "{reason}");
                assert!(reason.contains(&batch[0].id) || reason.contains(&batch[1].id));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(outcomes[2], Outcome::Done);
    assert_eq!(found(&index, &query("alice", "loon")), ["email/good"]);
    // Other decode errors still fail the decode, as before.
    let mut broken = batch[2].clone();
    broken.data.as_mut().unwrap()["operation"] = "explode".into();
    assert!(indexer.decode(&broken).is_err());
}

#[tokio::test]
async fn a_document_delete_event_removes_the_document_and_every_fragment() {
    let (_dir, index) = open();
    let index = Arc::new(index);
    let indexer = indexer(&index);
    let document = word_document("alice", "d1", "Rook");
    let mut events = vec![document.clone()];
    events.extend((0..3).map(|n| word_fragment("alice", "d1", n, "s", "rook nest")));
    events.push(word_document("alice", "d2", "Rook two"));
    events.push(word_fragment("alice", "d2", 0, "s", "rook"));
    let outcomes = handle(&indexer, envelopes(&events)).await;
    assert!(outcomes.iter().all(|outcome| *outcome == Outcome::Done));
    assert_eq!(index.fragments_of("alice", "d1").unwrap().len(), 3);

    let outcomes = handle(
        &indexer,
        envelopes(&[
            deleted(document),
            deleted(word_fragment("alice", "d2", 0, "s", "")),
        ]),
    )
    .await;
    assert_eq!(outcomes, [Outcome::Done, Outcome::Done]);
    assert!(index.fragments_of("alice", "d1").unwrap().is_empty());
    assert!(index.fragments_of("alice", "d2").unwrap().is_empty());
    assert_eq!(found(&index, &query("alice", "rook")), ["word/d2"]);
    assert_eq!(index.count("alice", Some("word_fragment")).unwrap(), 0);
}

#[tokio::test]
async fn reindexing_a_rechunked_document_leaves_no_stale_fragment() {
    let (_dir, index) = open();
    let index = Arc::new(index);
    let indexer = indexer(&index);
    let mut first = vec![word_document("alice", "d1", "Crane")];
    first.extend((0..4).map(|n| word_fragment("alice", "d1", n, "old", "old crane text")));
    handle(&indexer, envelopes(&first)).await;

    // The chunker's second pass: two fragments now, deletes for the stale ids `d1#2`, `d1#3`.
    let mut second = vec![word_document("alice", "d1", "Crane v2")];
    second.extend((0..2).map(|n| word_fragment("alice", "d1", n, "new", "new crane text")));
    second.extend((2..4).map(|n| deleted(word_fragment("alice", "d1", n, "", ""))));
    let outcomes = handle(&indexer, envelopes(&second)).await;
    assert!(outcomes.iter().all(|outcome| *outcome == Outcome::Done));

    let fragments = index.fragments_of("alice", "d1").unwrap();
    let listed: Vec<(&str, &str)> = fragments
        .iter()
        .map(|f| (f.id.as_str(), f.title.as_str()))
        .collect();
    assert_eq!(listed, [("d1#0", "new"), ("d1#1", "new")]);
    assert!(found(&index, &query("alice", "old")).is_empty());
    let hits = index.search(&query("alice", "crane")).unwrap();
    assert_eq!(ids(&hits), ["word/d1"]);
    assert_eq!(hits[0].title, "Crane v2");
    assert!(index.parent_of("alice", "d1#3").unwrap().is_none());
}

#[tokio::test]
async fn a_batch_commits_once_and_create_then_delete_ends_deleted() {
    let (_dir, index) = open();
    let index = Arc::new(index);
    let indexer = indexer(&index);
    let created = email("alice", "m1", "ibis", "");
    let outcomes = handle(
        &indexer,
        envelopes(&[
            created.clone(),
            deleted(created),
            email("alice", "m2", "ibis", ""),
        ]),
    )
    .await;
    assert_eq!(outcomes, vec![Outcome::Done; 3]);
    assert_eq!(found(&index, &query("alice", "ibis")), ["email/m2"]);
}

#[tokio::test]
async fn a_write_error_settles_every_event_the_batch_applied_alike() {
    let dir = tempfile::tempdir().unwrap();
    SearchIndex::open(dir.path()).unwrap();
    let read_only: Arc<dyn SearchBackend> =
        Arc::new(SearchIndex::open_read_only(dir.path()).unwrap());
    let indexer = Indexer::new(read_only);
    let mut batch = envelopes(&[
        email("alice", "m1", "ibis", ""),
        email("alice", "m2", "ibis", ""),
    ]);
    batch[1].data.as_mut().unwrap()["last_updated"] = "never".into();
    let outcomes = handle(&indexer, batch).await;
    // Read-only is not a passing error: the applied event fails; the bad one fails alone.
    assert!(
        matches!(&outcomes[0], Outcome::Fail(reason) if reason.contains("read-only")),
        "{outcomes:?}"
    );
    assert!(matches!(&outcomes[1], Outcome::Fail(reason) if reason.contains("data.last_updated")));
}
