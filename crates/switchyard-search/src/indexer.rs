//! [`Indexer`]: the consumer handler that keeps the search index in step with office
//! events: creates and updates become upserts, deletes remove the document, and one
//! commit makes the whole batch durable and searchable before the runtime acks it.

use std::sync::Arc;

use async_trait::async_trait;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, Envelope, Operation, decode_office_event,
};
use switchyard_runtime::{Handler, HandlerError};

use crate::{SearchDocument, SearchError, SearchIndex};

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

fn handler_error(err: SearchError) -> HandlerError {
    if err.is_retryable() {
        HandlerError::Retryable(err.to_string())
    } else {
        HandlerError::Permanent(err.to_string())
    }
}

#[async_trait]
impl Handler for Indexer {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    fn idempotency_key(&self, event: &AnyOfficeEvent) -> String {
        event.idempotency_key()
    }

    async fn handle(&self, events: Vec<AnyOfficeEvent>) -> Result<(), HandlerError> {
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || {
            // In batch order, so that a create then a delete of one item ends deleted.
            for event in &events {
                let document = SearchDocument::from_event(event);
                match event.operation() {
                    Operation::Delete => {
                        index.delete(&document.user_id, &document.doc_type, &document.id)?
                    }
                    Operation::Create | Operation::Update => index.upsert(vec![document])?,
                }
            }
            index.commit()
        })
        .await
        .map_err(|err| HandlerError::Retryable(format!("indexing task failed: {err}")))?
        .map_err(handler_error)
    }
}
