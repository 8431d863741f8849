//! [`Chunker`]: the consumer handler that turns document events into fragment events.
//!
//! For each document event, one at a time and in batch order:
//! - create or update with a body: chunk it (on a blocking thread), publish its fragments
//!   with the document event's operation, publish deletes for the positions the previous
//!   version had beyond the new count, then record the new count;
//! - create or update without a body (metadata only): nothing to do;
//! - create or update older than the recorded version: skipped, it was superseded;
//! - delete: publish deletes for every recorded fragment, then leave a tombstone.
//!
//! The record is written last, so a crash or a failed publish replays the whole document
//! with the old record still in place: the same fragments again (same ids and
//! `last_updated`, which consumers deduplicate) and the same deletes. The chunker keeps
//! no cache of its own: the state store is the one truth shared by every chunker process,
//! and a process-local copy would miss updates made by another.

mod pipeline;
mod record;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, DataKind, DocumentEvent, Envelope, Operation, TraceParent,
    decode_office_event,
};
use switchyard_runtime::{
    ConsumerConfig, Handler, Incoming, Outcome, Publisher, SubscriptionConfig,
};
use switchyard_state::StateStore;
use tokio::sync::mpsc;
use tracing::{debug, instrument, warn};

pub use pipeline::CHUNKER_SOURCE;
pub use record::{TOMBSTONE_TTL, chunk_state_key};

use crate::{ChunkingConfig, ChunkingError, chunk, fragments::check_body};
use pipeline::{EventMeta, GroupSink};
use record::ChunkRecord;

/// The chunker's subscriptions: `chunker-{topic}` on the topics of whole documents.
/// Documents are large: few per batch, and time to chunk and publish them.
pub fn subscriptions() -> Vec<ConsumerConfig> {
    [
        DataKind::WordDocument,
        DataKind::SheetDocument,
        DataKind::PresentationDocument,
    ]
    .map(|kind| {
        let topic = kind.topic_name();
        let subscription = SubscriptionConfig::new(format!("chunker-{topic}"), topic)
            .with_ack_deadline(std::time::Duration::from_secs(300));
        ConsumerConfig::new(subscription).with_batch_size(10)
    })
    .to_vec()
}

/// What handling one document event did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChunkReport {
    /// Fragment events published with the document's operation (create or update).
    pub fragments: u32,
    /// Fragment delete events published.
    pub deleted: u32,
    /// The event was older than the version already chunked, and ignored.
    pub superseded: bool,
}

/// Chunks document events and publishes their fragments. See the module docs.
pub struct Chunker {
    publisher: Publisher,
    state: Arc<dyn StateStore>,
    config: ChunkingConfig,
}

impl Chunker {
    /// A chunker publishing through `publisher` and remembering fragment counts in
    /// `state`; fails on an invalid `config`.
    pub fn new(
        publisher: Publisher,
        state: Arc<dyn StateStore>,
        config: ChunkingConfig,
    ) -> Result<Self, ChunkingError> {
        config.validate()?;
        Ok(Chunker {
            publisher,
            state,
            config,
        })
    }

    /// Handles one document event (what [`Handler::handle`] does for each event). Fragment
    /// events carry on its correlation id (else its event id) and continue its trace.
    pub async fn process(
        &self,
        incoming: Incoming<DocumentEvent>,
    ) -> Result<ChunkReport, ChunkingError> {
        let Incoming {
            event,
            event_id,
            correlation_id,
            traceparent,
            ..
        } = incoming;
        let document = &event.item;
        let key = chunk_state_key(&event.user_id, &document.id);
        let record = ChunkRecord::load(self.state.as_ref(), &key).await?;
        let meta = EventMeta {
            operation: event.operation,
            batch_id: event.batch_id.clone(),
            last_updated: event.last_updated,
            sync_timestamp: event.sync_timestamp,
            sync_type: event.sync_type,
            provider: event.provider.clone(),
            user_id: event.user_id.clone(),
            document_id: document.id.clone(),
            document_title: document.title.clone(),
            kind: document.kind,
            correlation_id: correlation_id.unwrap_or(event_id),
            trace: traceparent.and_then(|value| value.parse::<TraceParent>().ok()),
        };
        let previous = record.map_or(0, |record| record.fragments);
        let mut report = ChunkReport::default();
        match event.operation {
            Operation::Delete => {
                report.deleted = self.publish_deletes(&meta, 0, previous).await?;
                let tombstone = ChunkRecord {
                    fragments: 0,
                    last_updated: event.last_updated,
                };
                tombstone
                    .store(self.state.as_ref(), &key, Some(TOMBSTONE_TTL))
                    .await?;
            }
            Operation::Create | Operation::Update => {
                if let Some(record) = record
                    && event.last_updated < record.last_updated
                {
                    debug!(document = %document.id, "superseded document event skipped");
                    report.superseded = true;
                    return Ok(report);
                }
                if document.body.is_none() {
                    return Ok(report);
                }
                check_body(document)?;
                report.fragments = self.publish_fragments(meta.clone(), event).await?;
                report.deleted = self
                    .publish_deletes(&meta, report.fragments, previous)
                    .await?;
                let record = ChunkRecord {
                    fragments: report.fragments,
                    last_updated: meta.last_updated,
                };
                record.store(self.state.as_ref(), &key, None).await?;
            }
        }
        Ok(report)
    }

    /// Chunks the document on a blocking thread and publishes its fragments; returns how
    /// many there were.
    async fn publish_fragments(
        &self,
        meta: EventMeta,
        event: DocumentEvent,
    ) -> Result<u32, ChunkingError> {
        let config = self.config.clone();
        self.publish_stream(move |sink| {
            let mut count = 0u32;
            for fragment in chunk(&event.item, &config)? {
                let cost = meta.envelope_cost(&fragment);
                sink.push(meta.envelope(meta.operation, fragment)?, cost)?;
                count += 1;
            }
            Ok(count)
        })
        .await
    }

    /// Publishes deletes for positions `from..to`; returns how many.
    async fn publish_deletes(
        &self,
        meta: &EventMeta,
        from: u32,
        to: u32,
    ) -> Result<u32, ChunkingError> {
        if from >= to {
            return Ok(0);
        }
        let meta = meta.clone();
        self.publish_stream(move |sink| {
            for position in from..to {
                let (envelope, cost) = meta.delete_envelope(position)?;
                sink.push(envelope, cost)?;
            }
            Ok(to - from)
        })
        .await
    }

    /// Runs `produce` on a blocking thread and publishes the groups it sends, one at a
    /// time; a publish failure stops the producer.
    async fn publish_stream<P>(&self, produce: P) -> Result<u32, ChunkingError>
    where
        P: FnOnce(&mut GroupSink) -> Result<u32, ChunkingError> + Send + 'static,
    {
        let (sender, mut receiver) = mpsc::channel::<Vec<Envelope>>(1);
        let budget_bytes = self.config.max_bytes_in_flight / 4;
        let producer = tokio::task::spawn_blocking(move || {
            let mut sink = GroupSink::new(sender, budget_bytes);
            let produced = produce(&mut sink)?;
            sink.flush()?;
            Ok(produced)
        });
        let mut failure = None;
        while let Some(group) = receiver.recv().await {
            if let Err(err) = self.publish_group(group).await {
                failure = Some(err);
                break;
            }
        }
        drop(receiver);
        let produced = match producer.await {
            Ok(produced) => produced,
            Err(err) if err.is_cancelled() => Err(ChunkingError::unavailable(
                "chunking task cancelled by a runtime shutdown",
            )),
            Err(err) => Err(ChunkingError::invalid_document(format!(
                "chunking task failed: {err}"
            ))),
        };
        match failure {
            Some(err) => Err(err),
            None => produced,
        }
    }

    async fn publish_group(&self, group: Vec<Envelope>) -> Result<(), ChunkingError> {
        let report = self
            .publisher
            .publish(&group)
            .await
            .map_err(|err| ChunkingError::unavailable(format!("fragments: {err}")))?;
        if let Some(rejected) = report.rejected.first() {
            let subject = group
                .get(rejected.index)
                .and_then(|envelope| envelope.subject.as_deref())
                .unwrap_or("?");
            return Err(ChunkingError::invalid_document(format!(
                "fragment {subject} was refused by the registry: {}",
                rejected.error
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Handler for Chunker {
    type Event = DocumentEvent;

    fn decode(&self, envelope: &Envelope) -> Result<DocumentEvent, ContractError> {
        match decode_office_event(envelope)? {
            AnyOfficeEvent::Document(event) => Ok(event),
            _ => Err(ContractError::InvalidField {
                field: "type".into(),
                reason: format!(
                    "the chunker takes document events, not `{}`",
                    envelope.event_type
                ),
            }),
        }
    }

    /// Documents one at a time, each dropped once handled. After an event of a document
    /// is retried, the later events of the same document in the batch are retried too, so
    /// that an older version is never published after a newer one.
    #[instrument(skip_all, fields(events = batch.len()))]
    async fn handle(&self, batch: Vec<Incoming<DocumentEvent>>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut retried: HashSet<(String, String)> = HashSet::new();
        for incoming in batch {
            let document = (
                incoming.event.user_id.clone(),
                incoming.event.item.id.clone(),
            );
            if retried.contains(&document) {
                outcomes.push(Outcome::Retry(format!(
                    "an earlier event of document `{}` in this batch is retried",
                    document.1
                )));
                continue;
            }
            let outcome = match self.process(incoming).await {
                Ok(_) => Outcome::Done,
                Err(err) if err.is_retryable() => {
                    warn!(document = %document.1, error = %err, "chunking retried");
                    retried.insert(document);
                    Outcome::Retry(err.to_string())
                }
                Err(err) => {
                    warn!(document = %document.1, error = %err, "chunking failed");
                    Outcome::Fail(err.to_string())
                }
            };
            outcomes.push(outcome);
        }
        outcomes
    }
}
