//! [`Indexer`]: the consumer handler that keeps a [`SearchBackend`] in step with office
//! events: creates and updates become upserts, deletes remove the document (a document's
//! delete also its fragments), and one commit makes the whole batch durable and
//! searchable before the runtime acks it. Events whose timestamps cannot be trusted are
//! rejected one by one, naming the field, and never stop the rest of the batch.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, Envelope, Operation, decode_office_event,
};
use switchyard_runtime::{Handler, Incoming, Outcome};
use switchyard_search::{SearchBackend, SearchDocument, SearchError};

/// The event fields the index sorts by; an unreadable value in them fails the event in
/// [`Indexer`]'s `handle`, naming the field, instead of failing the decode.
const TIMESTAMP_FIELDS: [&str; 2] = ["data.last_updated", "data.sync_timestamp"];

/// Indexes office events into a [`SearchBackend`]. Safe to run on several subscriptions at
/// once over one shared backend.
pub struct Indexer {
    backend: Arc<dyn SearchBackend>,
}

impl Indexer {
    /// An indexer writing to `backend` (an `Arc` of any backend converts, such as
    /// `switchyard-tantivy`'s `SearchIndex`).
    pub fn new(backend: Arc<dyn SearchBackend>) -> Self {
        Indexer { backend }
    }
}

/// One change to apply, in batch order.
enum Change {
    Upsert(SearchDocument),
    Delete(SearchDocument),
}

#[async_trait]
impl Handler for Indexer {
    /// The decoded event, or why its timestamps cannot be read.
    type Event = Result<AnyOfficeEvent, ContractError>;

    fn decode(&self, envelope: &Envelope) -> Result<Self::Event, ContractError> {
        match decode_office_event(envelope) {
            Ok(event) => Ok(Ok(event)),
            Err(err)
                if err
                    .field()
                    .is_some_and(|field| TIMESTAMP_FIELDS.contains(&field)) =>
            {
                Ok(Err(err))
            }
            Err(err) => Err(err),
        }
    }

    /// One commit for the whole batch. An event with an unreadable or future timestamp
    /// fails alone; the others are done together, or all retried (a write error is
    /// passing: disk, lock) or all failed (the index is unusable).
    async fn handle(&self, batch: Vec<Incoming<Self::Event>>) -> Vec<Outcome> {
        let now = Utc::now();
        let mut outcomes = vec![Outcome::Done; batch.len()];
        let mut changes = Vec::with_capacity(batch.len());
        let mut applied = Vec::with_capacity(batch.len());
        for (position, incoming) in batch.into_iter().enumerate() {
            let event = match incoming.event {
                Ok(event) => event,
                Err(err) => {
                    outcomes[position] = Outcome::Fail(format!(
                        "rejected event {} for indexing: {err}",
                        incoming.event_id
                    ));
                    continue;
                }
            };
            let document = SearchDocument::from_event(&event);
            if let Err(err) = document.check_timestamps(now) {
                outcomes[position] = Outcome::Fail(format!("event {}: {err}", incoming.event_id));
                continue;
            }
            changes.push(match event.operation() {
                Operation::Delete => Change::Delete(document),
                Operation::Create | Operation::Update => Change::Upsert(document),
            });
            applied.push(position);
        }
        if changes.is_empty() {
            return outcomes;
        }
        let backend = self.backend.clone();
        let result = tokio::task::spawn_blocking(move || apply(backend.as_ref(), changes)).await;
        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(err)) if err.is_retryable() => Some(Outcome::Retry(err.to_string())),
            Ok(Err(err)) => Some(Outcome::Fail(err.to_string())),
            Err(err) => Some(Outcome::Retry(format!("indexing task failed: {err}"))),
        };
        if let Some(failure) = failure {
            for position in applied {
                outcomes[position] = failure.clone();
            }
        }
        outcomes
    }
}

/// Applies the changes in batch order (so that a create then a delete of one item ends
/// deleted), runs of upserts together, then commits once.
fn apply(backend: &dyn SearchBackend, changes: Vec<Change>) -> Result<(), SearchError> {
    let mut upserts = Vec::new();
    for change in changes {
        match change {
            Change::Upsert(document) => upserts.push(document),
            Change::Delete(document) => {
                if !upserts.is_empty() {
                    backend.upsert(std::mem::take(&mut upserts))?;
                }
                backend.delete(&document.user_id, &document.doc_type, &document.id)?;
            }
        }
    }
    if !upserts.is_empty() {
        backend.upsert(upserts)?;
    }
    backend.commit()
}
