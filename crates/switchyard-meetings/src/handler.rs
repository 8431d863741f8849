//! [`MeetingsHandler`]: the meetings consumer's [`Handler`]. Calendar events (and, when
//! the node also subscribes it to `meeting_bookings`, booking events) become
//! [`MeetingChange`]s applied to the [`MeetingStore`] in one transaction per batch; every
//! other office event is done without effect.
//!
//! The store's version rule makes the effect safe to repeat, as the runtime requires: a
//! redelivered or replayed event leaves the state as it is.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, DataKind, Envelope, decode_office_event,
};
use switchyard_runtime::{
    ConsumerConfig, Handler, Incoming, Outcome, SubscriptionConfig, apply_changes,
};

use crate::{Applied, MeetingChange, MeetingStore};

/// The meetings consumer's subscriptions: `meetings-calendars` on `calendars`, and
/// `meetings-bookings` on `meeting_bookings`, whose booked slots count as busy time.
pub fn subscriptions() -> Vec<ConsumerConfig> {
    [
        ("meetings-calendars", DataKind::Calendar),
        ("meetings-bookings", DataKind::MeetingBooking),
    ]
    .map(|(name, kind)| {
        let subscription = SubscriptionConfig::new(name, kind.topic_name())
            .with_ack_deadline(Duration::from_secs(60));
        ConsumerConfig::new(subscription).with_batch_size(25)
    })
    .to_vec()
}

/// Keeps the meeting contexts of calendar events (and booked slots) in a store.
#[derive(Clone)]
pub struct MeetingsHandler {
    store: Arc<dyn MeetingStore>,
}

impl std::fmt::Debug for MeetingsHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeetingsHandler").finish_non_exhaustive()
    }
}

impl MeetingsHandler {
    /// A handler writing to `store`.
    pub fn new(store: Arc<dyn MeetingStore>) -> Self {
        MeetingsHandler { store }
    }

    /// The store it writes to, for availability queries.
    pub fn store(&self) -> &Arc<dyn MeetingStore> {
        &self.store
    }
}

/// The change an office event asks of the meetings store, if any.
pub fn meeting_change(event: &AnyOfficeEvent) -> Option<MeetingChange> {
    match event {
        AnyOfficeEvent::Calendar(event) => Some(MeetingChange::from_calendar_event(event)),
        AnyOfficeEvent::MeetingBooking(event) => Some(MeetingChange::from_booking_event(event)),
        _ => None,
    }
}

#[async_trait]
impl Handler for MeetingsHandler {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    #[tracing::instrument(skip_all, fields(events = batch.len()))]
    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let (outcomes, applied) = apply_changes(
            &batch,
            meeting_change,
            |changes| self.store.apply(changes),
            "meeting changes",
        )
        .await;
        if let Some(applied) = applied {
            let count = |verdict: Applied| applied.iter().filter(|a| **a == verdict).count();
            tracing::debug!(
                stored = count(Applied::Stored),
                deleted = count(Applied::Deleted),
                unchanged = count(Applied::Unchanged),
                stale = count(Applied::Stale),
                "meeting changes applied"
            );
        }
        outcomes
    }
}
