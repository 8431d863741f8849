//! [`Indexer`]: the consumer handler that keeps the search index in step with office
//! events: creates and updates become upserts, deletes remove the document, and one
//! commit makes the whole batch durable and searchable before the runtime acks it.

use std::sync::Arc;

use async_trait::async_trait;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, Envelope, Operation, decode_office_event,
};
use switchyard_runtime::{Handler, Incoming, Outcome};

use crate::{SearchDocument, SearchIndex};

/// Indexes office events into a [`SearchIndex`]. Safe to run on several subscriptions at
/// once over one shared index.
pub struct Indexer {
    index: Arc<SearchIndex>,
}

impl Indexer {
    /// An indexer writing to `index`.
    pub fn new(index: Arc<SearchIndex>) -> Self {
        Indexer { index }
    }
}

#[async_trait]
impl Handler for Indexer {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    /// One commit for the whole batch: every event is done, or all are retried (a write
    /// error is passing: disk, lock) or failed (the index is unusable).
    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let count = batch.len();
        let index = self.index.clone();
        let result = tokio::task::spawn_blocking(move || {
            // In batch order, so that a create then a delete of one item ends deleted.
            for incoming in &batch {
                let document = SearchDocument::from_event(&incoming.event);
                match incoming.event.operation() {
                    Operation::Delete => {
                        index.delete(&document.user_id, &document.doc_type, &document.id)?
                    }
                    Operation::Create | Operation::Update => index.upsert(vec![document])?,
                }
            }
            index.commit()
        })
        .await;
        let outcome = match result {
            Ok(Ok(())) => Outcome::Done,
            Ok(Err(err)) if err.is_retryable() => Outcome::Retry(err.to_string()),
            Ok(Err(err)) => Outcome::Fail(err.to_string()),
            Err(err) => Outcome::Retry(format!("indexing task failed: {err}")),
        };
        vec![outcome; count]
    }
}
