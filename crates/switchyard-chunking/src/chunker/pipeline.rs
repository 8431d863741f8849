//! The bounded path from fragments to the broker: a blocking task builds fragment
//! envelopes and hands them over in groups through a one-slot channel; the async side
//! publishes each group before taking the next.
//!
//! At most three groups exist at once (one being built, one queued, one being published),
//! each kept under a quarter of `max_bytes_in_flight` by an estimate of what one envelope
//! costs while it is published ([`envelope_cost`]), so the bytes held stay under the cap
//! whatever the size of the document.

use chrono::{DateTime, Utc};
use switchyard_contracts::{
    DocumentKind, Envelope, Fragment, FragmentEvent, Operation, SyncType, TraceParent,
};
use tokio::sync::mpsc;

use crate::ChunkingError;
use crate::fragments::fragment_id;

/// CloudEvents `source` of the fragment events the chunker publishes.
pub const CHUNKER_SOURCE: &str = "switchyard://chunker";

/// Fixed cost of one fragment envelope while it is published: the envelope's attribute
/// strings and JSON map, the serialized payload's framing, the headers of the message.
const ENVELOPE_OVERHEAD_BYTES: usize = 4 * 1024;

/// What a fragment event copies from its document event.
#[derive(Debug, Clone)]
pub(crate) struct EventMeta {
    pub operation: Operation,
    pub batch_id: String,
    pub last_updated: DateTime<Utc>,
    pub sync_timestamp: DateTime<Utc>,
    pub sync_type: SyncType,
    pub provider: String,
    pub user_id: String,
    pub document_id: String,
    pub document_title: String,
    pub kind: DocumentKind,
    pub correlation_id: String,
    pub trace: Option<TraceParent>,
}

impl EventMeta {
    /// The envelope of `fragment` with this metadata and `operation`.
    pub fn envelope(
        &self,
        operation: Operation,
        fragment: Fragment,
    ) -> Result<Envelope, ChunkingError> {
        let fragment_id = fragment.id.clone();
        let event = FragmentEvent {
            operation,
            batch_id: self.batch_id.clone(),
            last_updated: self.last_updated,
            sync_timestamp: self.sync_timestamp,
            sync_type: self.sync_type,
            provider: self.provider.clone(),
            user_id: self.user_id.clone(),
            item: fragment,
        };
        let mut envelope = event
            .to_envelope(CHUNKER_SOURCE, &self.correlation_id)
            .map_err(|err| {
                ChunkingError::invalid_document(format!(
                    "invalid fragment {fragment_id} of document `{}`: {err}",
                    self.document_id
                ))
            })?;
        if let Some(parent) = self.trace {
            // Same trace as the document event, a new span of its own.
            let span = TraceParent::new_root();
            let child = TraceParent {
                parent_id: span.parent_id,
                ..parent
            };
            envelope.traceparent = Some(child.to_string());
        }
        Ok(envelope)
    }

    /// The delete event of the fragment at `position`.
    pub fn delete_envelope(&self, position: u32) -> Result<(Envelope, usize), ChunkingError> {
        let fragment = Fragment {
            id: fragment_id(&self.document_id, position),
            kind: self.kind,
            parent_id: self.document_id.clone(),
            parent_title: self.document_title.clone(),
            position,
            title: None,
            text: String::new(),
        };
        let cost = self.envelope_cost(&fragment);
        Ok((self.envelope(Operation::Delete, fragment)?, cost))
    }

    /// Estimated bytes one fragment's envelope holds while it is built and published: the
    /// strings twice (the envelope's JSON value, then the serialized payload) plus a fixed
    /// overhead. The memory test checks the estimate.
    pub fn envelope_cost(&self, fragment: &Fragment) -> usize {
        let strings = fragment.text.len()
            + fragment.id.len()
            + fragment.parent_id.len()
            + fragment.parent_title.len()
            + fragment.title.as_ref().map_or(0, String::len)
            + self.batch_id.len()
            + self.provider.len()
            + self.user_id.len()
            + self.correlation_id.len();
        ENVELOPE_OVERHEAD_BYTES + 2 * strings
    }
}

/// The publishing side went away (it failed); the producer should stop.
#[derive(Debug)]
pub(crate) struct Stopped;

impl From<Stopped> for ChunkingError {
    fn from(_: Stopped) -> Self {
        ChunkingError::unavailable("publishing stopped before all fragments were sent")
    }
}

/// Collects envelopes into groups of at most `budget_bytes` (estimated) and sends each
/// full group to the publishing side, blocking while the slot is taken.
pub(crate) struct GroupSink {
    sender: mpsc::Sender<Vec<Envelope>>,
    group: Vec<Envelope>,
    group_bytes: usize,
    budget_bytes: usize,
}

impl GroupSink {
    pub fn new(sender: mpsc::Sender<Vec<Envelope>>, budget_bytes: usize) -> Self {
        GroupSink {
            sender,
            group: Vec::new(),
            group_bytes: 0,
            budget_bytes,
        }
    }

    /// Adds one envelope of estimated `cost` bytes, sending the group first when the
    /// envelope would take it over budget.
    pub fn push(&mut self, envelope: Envelope, cost: usize) -> Result<(), Stopped> {
        if !self.group.is_empty() && self.group_bytes + cost > self.budget_bytes {
            self.flush()?;
        }
        self.group.push(envelope);
        self.group_bytes += cost;
        Ok(())
    }

    /// Sends what is collected. Must be called from a blocking thread.
    pub fn flush(&mut self) -> Result<(), Stopped> {
        if self.group.is_empty() {
            return Ok(());
        }
        let group = std::mem::take(&mut self.group);
        self.group_bytes = 0;
        self.sender.blocking_send(group).map_err(|_| Stopped)
    }
}
