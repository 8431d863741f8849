//! Shared helpers of the search integration tests: events of every kind for a user, an
//! index in a temporary directory, and short views of results.

#![allow(dead_code)]

use chrono::{DateTime, Duration, Utc};
use switchyard_contracts::{
    AnyOfficeEvent, CalendarItem, Document, DocumentKind, Email, Fragment, Mailbox, OfficeEvent,
    OfficeItem, Operation, SyncType, Todo,
};
use switchyard_search::{SearchDocument, SearchHit, SearchQuery};
use switchyard_tantivy::SearchIndex;
use tempfile::TempDir;

pub fn open() -> (TempDir, SearchIndex) {
    let dir = tempfile::tempdir().unwrap();
    let index = SearchIndex::open(dir.path()).unwrap();
    (dir, index)
}

/// `days` days before now.
pub fn days_ago(days: i64) -> DateTime<Utc> {
    Utc::now() - Duration::days(days)
}

/// A create event of `user` for `item`, last updated and synced `days` days ago.
pub fn event<T: OfficeItem>(user: &str, item: T, days: i64) -> OfficeEvent<T> {
    let mut event = OfficeEvent::new(
        Operation::Create,
        SyncType::Streaming,
        "test",
        user,
        "batch-1",
        item,
    );
    event.last_updated = days_ago(days);
    event.sync_timestamp = days_ago(days);
    event
}

pub fn mailbox(address: &str) -> Mailbox {
    Mailbox {
        name: None,
        address: address.to_string(),
    }
}

pub fn email(user: &str, id: &str, subject: &str, body: &str) -> AnyOfficeEvent {
    AnyOfficeEvent::Email(event(
        user,
        Email {
            id: id.into(),
            subject: subject.into(),
            body_text: body.into(),
            from: Some(mailbox("bob@example.com")),
            to: vec![mailbox(&format!("{user}@example.com"))],
            ..Email::default()
        },
        1,
    ))
}

pub fn calendar(user: &str, id: &str, title: &str, description: &str) -> AnyOfficeEvent {
    AnyOfficeEvent::Calendar(event(
        user,
        CalendarItem {
            id: id.into(),
            title: title.into(),
            description: description.into(),
            organizer: Some(mailbox("carol@example.com")),
            ..CalendarItem::default()
        },
        1,
    ))
}

pub fn todo(user: &str, id: &str, title: &str, notes: &str) -> AnyOfficeEvent {
    AnyOfficeEvent::Todo(event(
        user,
        Todo {
            id: id.into(),
            title: title.into(),
            notes: notes.into(),
            status: "needs-action".into(),
            assignee: Some(mailbox("dave@example.com")),
            ..Todo::default()
        },
        1,
    ))
}

pub fn word_document(user: &str, id: &str, title: &str) -> AnyOfficeEvent {
    AnyOfficeEvent::Document(event(
        user,
        Document {
            id: id.into(),
            kind: DocumentKind::Word,
            title: title.into(),
            author: Some("erin@example.com".into()),
            ..Document::default()
        },
        1,
    ))
}

/// Fragment `position` of `user`'s Word document `parent`, with id `{parent}#{position}`.
pub fn word_fragment(
    user: &str,
    parent: &str,
    position: u32,
    heading: &str,
    text: &str,
) -> AnyOfficeEvent {
    AnyOfficeEvent::Fragment(event(
        user,
        Fragment {
            id: format!("{parent}#{position}"),
            kind: DocumentKind::Word,
            parent_id: parent.into(),
            parent_title: format!("Title of {parent}"),
            position,
            title: Some(heading.into()),
            text: text.into(),
        },
        1,
    ))
}

/// The same event as a delete.
pub fn deleted(mut event: AnyOfficeEvent) -> AnyOfficeEvent {
    match &mut event {
        AnyOfficeEvent::Document(event) => event.operation = Operation::Delete,
        AnyOfficeEvent::Fragment(event) => event.operation = Operation::Delete,
        AnyOfficeEvent::Email(event) => event.operation = Operation::Delete,
        _ => panic!("add the kind to `deleted`"),
    }
    event
}

pub fn index_events(index: &SearchIndex, events: &[AnyOfficeEvent]) {
    index
        .upsert(events.iter().map(SearchDocument::from_event).collect())
        .unwrap();
    index.commit().unwrap();
}

pub fn query(user: &str, text: &str) -> SearchQuery {
    SearchQuery {
        text: text.into(),
        user_id: user.into(),
        limit: 20,
        ..SearchQuery::default()
    }
}

/// `doc_type/id` of each hit, in order.
pub fn found(index: &SearchIndex, query: &SearchQuery) -> Vec<String> {
    ids(&index.search(query).unwrap())
}

pub fn ids(hits: &[SearchHit]) -> Vec<String> {
    hits.iter()
        .map(|hit| format!("{}/{}", hit.doc_type, hit.id))
        .collect()
}
