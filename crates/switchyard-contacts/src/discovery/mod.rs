//! [`ContactDiscovery`]: the consumer handler that learns contacts from office events and
//! publishes a contact event when one is new or changed meaningfully.
//!
//! Per batch: every event becomes an [`ItemChange`] (other kinds: done, no effect), the
//! changes are applied in one store transaction, then the dirty contacts are decided,
//! published and settled (see [`decide`]). The store writes first and settles last, so a
//! crash or a failed publish replays the batch (a no-op for the store) and publishes the
//! contacts still dirty. A store or publish failure retries the whole batch.

#[cfg(test)]
mod tests;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use switchyard_contracts::{
    AnyOfficeEvent, Contact, ContactEvent, ContractError, DataKind, Envelope, Operation, SyncType,
    decode_office_event,
};
use switchyard_runtime::{
    ConsumerConfig, Handler, Incoming, Outcome, Publisher, SubscriptionConfig,
};
use tracing::{instrument, warn};

use crate::{
    AddressRules, ApplyReport, ContactError, ContactStore, ContactsConfig, DirtyContact,
    ItemChange, Publication, PublishedState, Settled, contact_id, observe,
};

/// The office topics contact discovery reads.
const SOURCES: [DataKind; 6] = [
    DataKind::Email,
    DataKind::Calendar,
    DataKind::WordDocument,
    DataKind::SheetDocument,
    DataKind::PresentationDocument,
    DataKind::Todo,
];

/// Contact discovery's subscriptions: `contact-discovery-{topic}` on mail, calendars,
/// documents and todos.
pub fn subscriptions() -> Vec<ConsumerConfig> {
    SOURCES
        .map(|kind| {
            let topic = kind.topic_name();
            let subscription = SubscriptionConfig::new(format!("contact-discovery-{topic}"), topic)
                .with_ack_deadline(std::time::Duration::from_secs(60));
            ConsumerConfig::new(subscription).with_batch_size(100)
        })
        .to_vec()
}

/// CloudEvents `source` of the contact events discovery publishes.
pub const DISCOVERY_SOURCE: &str = "switchyard://contact-discovery";
/// `provider` of the contact events discovery publishes.
pub const DISCOVERY_PROVIDER: &str = "contact-discovery";
/// Dirty contacts decided and published at once.
const DIRTY_PAGE: usize = 500;
/// Pages handled per batch at most; the rest waits for the next batch.
const MAX_PAGES: usize = 20;

/// What to publish for a dirty contact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Never published: publish it (`create`).
    Create,
    /// Published, and its score moved by more than the threshold or its display name
    /// changed: publish it again (`update`).
    Update,
    /// Published, and its last contribution is gone: publish a `delete`.
    Delete,
    /// Nothing meaningful changed.
    Skip,
}

/// The decision for `dirty` whose score is now `score`; `threshold` is relative:
/// republished when `|score - published| > threshold * published`.
pub fn decide(dirty: &DirtyContact, score: f64, threshold: f64) -> Decision {
    match (&dirty.contact, &dirty.published) {
        (None, None) => Decision::Skip,
        (None, Some(_)) => Decision::Delete,
        (Some(_), None) => Decision::Create,
        (Some(contact), Some(published)) => {
            if contact.display_name() != published.display_name
                || (score - published.score).abs() > threshold * published.score
            {
                Decision::Update
            } else {
                Decision::Skip
            }
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryReport {
    /// What the store did with the batch's item changes.
    pub applied: ApplyReport,
    /// Contact events published (create or update).
    pub published: usize,
    /// Contact delete events published.
    pub deleted: usize,
    /// Dirty contacts whose change was not meaningful.
    pub skipped: usize,
}

/// Learns contacts from office events and publishes contact events. See the module docs.
/// Cloning is cheap: one clone per subscription shares the store.
#[derive(Clone)]
pub struct ContactDiscovery {
    store: Arc<dyn ContactStore>,
    publisher: Publisher,
    config: ContactsConfig,
    rules: AddressRules,
}

impl ContactDiscovery {
    /// Discovery into `store`, publishing through `publisher`; fails on an invalid
    /// `config`. Scores come from the store's [`Scoring`](crate::Scoring).
    pub fn new(
        store: Arc<dyn ContactStore>,
        publisher: Publisher,
        config: ContactsConfig,
    ) -> Result<Self, ContactError> {
        config.validate()?;
        Ok(ContactDiscovery {
            rules: AddressRules::new(&config),
            store,
            publisher,
            config,
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn ContactStore> {
        &self.store
    }

    /// The change `event` makes to its user's contacts (`None` for kinds without people).
    pub fn observe(&self, event: &AnyOfficeEvent) -> Option<ItemChange> {
        observe(event, &self.rules, self.config.max_mentions_per_document)
    }

    /// Applies `events` in one store transaction, then publishes what changed
    /// meaningfully; `correlation_id` goes on the published events.
    pub async fn process(
        &self,
        events: &[AnyOfficeEvent],
        correlation_id: &str,
    ) -> Result<DiscoveryReport, ContactError> {
        let changes: Vec<ItemChange> = events.iter().filter_map(|e| self.observe(e)).collect();
        let applied = self.store.apply(changes).await?;
        let mut report = self.publish_dirty(correlation_id).await?;
        report.applied = applied;
        Ok(report)
    }

    /// Decides, publishes and settles the dirty contacts (what every batch ends with).
    pub async fn publish_dirty(
        &self,
        correlation_id: &str,
    ) -> Result<DiscoveryReport, ContactError> {
        let mut report = DiscoveryReport::default();
        for _ in 0..MAX_PAGES {
            let page = self.store.dirty(DIRTY_PAGE).await?;
            let full = page.len() == DIRTY_PAGE;
            self.publish_page(page, correlation_id, &mut report).await?;
            if !full {
                break;
            }
        }
        Ok(report)
    }

    async fn publish_page(
        &self,
        page: Vec<DirtyContact>,
        correlation_id: &str,
        report: &mut DiscoveryReport,
    ) -> Result<(), ContactError> {
        let scoring = self.store.scoring();
        let now = scoring.clock().now();
        let mut envelopes = Vec::new();
        let mut settled = Vec::with_capacity(page.len());
        for dirty in page {
            let score = dirty
                .contact
                .as_ref()
                .map_or(0.0, |contact| scoring.score_at(contact, now));
            let decision = decide(&dirty, score, self.config.publish_threshold);
            let publication = match decision {
                Decision::Skip => {
                    report.skipped += 1;
                    Publication::Nothing
                }
                Decision::Create | Decision::Update | Decision::Delete => {
                    let (envelope, state) =
                        contact_envelope(&dirty, decision, score, now, correlation_id)?;
                    envelopes.push((envelope, dirty.address.clone()));
                    if decision == Decision::Delete {
                        report.deleted += 1;
                        Publication::Deleted
                    } else {
                        report.published += 1;
                        Publication::Published(state)
                    }
                }
            };
            settled.push(Settled {
                user_id: dirty.user_id,
                address: dirty.address,
                generation: dirty.generation,
                publication,
            });
        }
        if !envelopes.is_empty() {
            let batch: Vec<Envelope> = envelopes
                .iter()
                .map(|(envelope, _)| envelope.clone())
                .collect();
            let published = self.publisher.publish(&batch).await.map_err(|err| {
                ContactError::unavailable(format!("failed to publish contacts: {err}"))
            })?;
            for rejected in published.rejected {
                // It can never be published as it is; settling it keeps it from blocking
                // every later batch.
                warn!(address = %envelopes[rejected.index].1, error = %rejected.error, "contact event refused by the registry");
            }
        }
        self.store.settle(settled).await
    }
}

/// The contact event for `dirty` and the state it records.
fn contact_envelope(
    dirty: &DirtyContact,
    decision: Decision,
    score: f64,
    now: DateTime<Utc>,
    correlation_id: &str,
) -> Result<(Envelope, PublishedState), ContactError> {
    // `last_updated` is the item's version for deduplication: strictly increasing.
    let at = match &dirty.published {
        Some(published) if published.at >= now => published.at + Duration::milliseconds(1),
        _ => now,
    };
    let display_name = match (&dirty.contact, &dirty.published) {
        (Some(contact), _) => contact.display_name().to_string(),
        (None, Some(published)) => published.display_name.clone(),
        (None, None) => dirty.address.clone(),
    };
    let operation = match decision {
        Decision::Create => Operation::Create,
        Decision::Delete => Operation::Delete,
        Decision::Update | Decision::Skip => Operation::Update,
    };
    let event = ContactEvent {
        operation,
        batch_id: format!("contact-discovery-{}", dirty.generation),
        last_updated: at,
        sync_timestamp: now,
        sync_type: SyncType::Streaming,
        provider: DISCOVERY_PROVIDER.to_string(),
        user_id: dirty.user_id.clone(),
        item: Contact {
            id: contact_id(&dirty.address),
            display_name: display_name.clone(),
            emails: vec![dirty.address.clone()],
            relevance: (operation != Operation::Delete).then_some(score),
            ..Contact::default()
        },
    };
    let envelope = event
        .to_envelope(DISCOVERY_SOURCE, correlation_id)
        .map_err(|err| {
            ContactError::corrupt(format!(
                "invalid contact event for `{}`: {err}",
                dirty.address
            ))
        })?;
    Ok((
        envelope,
        PublishedState {
            score,
            display_name,
            at,
        },
    ))
}

#[async_trait]
impl Handler for ContactDiscovery {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    /// One store transaction for the batch; any failure retries the whole batch, which
    /// is safe because applying an event again changes nothing.
    #[instrument(skip_all, fields(events = batch.len()))]
    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let correlation_id = batch
            .first()
            .map(|incoming| incoming.event_id.clone())
            .unwrap_or_default();
        let count = batch.len();
        let events: Vec<AnyOfficeEvent> =
            batch.into_iter().map(|incoming| incoming.event).collect();
        match self.process(&events, &correlation_id).await {
            Ok(_) => vec![Outcome::Done; count],
            Err(err) => {
                warn!(error = %err, "contact discovery retried");
                vec![Outcome::Retry(err.to_string()); count]
            }
        }
    }
}
