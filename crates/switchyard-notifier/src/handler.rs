//! [`Notifier`]: the notifier consumer's [`Handler`]. Every office event becomes one
//! [`NewSignal`] for its user (fragments only when `include_fragments` is set), and a
//! batch is recorded in the [`Journal`] at once. Recording dedupes on the item version,
//! so a redelivered or replayed event adds no second signal, as the runtime requires.

use async_trait::async_trait;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, DataKind, Envelope, decode_office_event,
};
use switchyard_runtime::{Handler, Incoming, Outcome, apply_changes};

use crate::{Journal, NewSignal};

/// The topics a notifier subscribes to, each as `notifier-{topic}`: every office topic,
/// without the fragment topics unless `include_fragments`.
pub fn notifier_topics(include_fragments: bool) -> Vec<&'static str> {
    DataKind::ALL
        .into_iter()
        .filter(|kind| include_fragments || !is_fragment(*kind))
        .map(DataKind::topic_name)
        .collect()
}

/// The subscription name of the notifier on `topic`: `notifier-{topic}`.
pub fn notifier_subscription(topic: &str) -> String {
    format!("notifier-{topic}")
}

/// Whether `kind` is a fragment of a document.
fn is_fragment(kind: DataKind) -> bool {
    matches!(
        kind,
        DataKind::WordFragment | DataKind::SheetFragment | DataKind::PresentationFragment
    )
}

/// Records a signal per office event in the [`Journal`].
#[derive(Clone, Debug)]
pub struct Notifier {
    journal: Journal,
}

impl Notifier {
    /// A handler recording into `journal`.
    pub fn new(journal: Journal) -> Self {
        Notifier { journal }
    }

    /// The journal it records into (for [`stream_router`](crate::stream_router)).
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The topics to subscribe the handler to: [`notifier_topics`] of its configuration.
    pub fn topics(&self) -> Vec<&'static str> {
        notifier_topics(self.journal.config().include_fragments)
    }

    /// The signal an event produces, if any.
    pub fn signal_of(&self, event: &AnyOfficeEvent) -> Option<NewSignal> {
        (self.journal.config().include_fragments || !is_fragment(event.kind()))
            .then(|| NewSignal::from_event(event))
    }
}

#[async_trait]
impl Handler for Notifier {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    #[tracing::instrument(skip_all, fields(events = batch.len()))]
    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let mut offered = 0;
        let (outcomes, added) = apply_changes(
            &batch,
            |event| self.signal_of(event),
            |signals| {
                offered = signals.len();
                self.journal.record(signals)
            },
            "signals",
        )
        .await;
        if let Some(added) = added {
            tracing::debug!(
                recorded = added.len(),
                duplicates = offered - added.len(),
                "signals recorded"
            );
        }
        outcomes
    }
}
