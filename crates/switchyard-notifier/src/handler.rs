//! [`Notifier`]: the notifier consumer's [`Handler`]. Every office event becomes one
//! [`NewSignal`] for its user (fragments only when `include_fragments` is set), and a
//! batch is recorded in the [`Journal`] at once. Recording dedupes on the item version,
//! so a redelivered or replayed event adds no second signal, as the runtime requires.

use std::time::Duration;

use async_trait::async_trait;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, DataKind, Envelope, decode_office_event,
};
use switchyard_runtime::{
    ConsumerConfig, Handler, Incoming, Outcome, SubscriptionConfig, apply_changes,
};

use crate::{Journal, NewSignal, NotifierConfig};

/// The notifier's subscriptions: `notifier-{topic}` on every office topic, without the
/// fragment topics unless `config.include_fragments`.
pub fn subscriptions(config: &NotifierConfig) -> Vec<ConsumerConfig> {
    DataKind::ALL
        .into_iter()
        .filter(|kind| config.include_fragments || !is_fragment(*kind))
        .map(|kind| {
            let topic = kind.topic_name();
            let subscription = SubscriptionConfig::new(format!("notifier-{topic}"), topic)
                .with_ack_deadline(Duration::from_secs(60));
            ConsumerConfig::new(subscription).with_batch_size(100)
        })
        .collect()
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
