//! The shipments consumer: [`ShipmentTracker`], the handler of the `shipments-emails`
//! subscription, keeps a [`Shipment`] per (user, carrier, tracking number) in a
//! [`ShipmentStore`] and publishes a `ShipmentEvent` (topic `shipment_events`) whenever a
//! shipment's status changes, so that the indexer makes it searchable.
//!
//! **Status.** Each email mentioning a number is an observation (email id, date, status
//! read from it). The current status is the one of the latest-dated observation that has
//! a status; a number seen without any status word is `label_created` (a number exists,
//! so a label does). Because the status is recomputed from the observations rather than
//! moved forward by each email, the same email delivered again, or emails arriving out of
//! order, give the same result: redelivery changes nothing.
//!
//! **Store.** [`StateShipmentStore`] keeps one JSON value per user under
//! `shipments:{user}` in any `StateStore` (the embedded redb store, or Redis), so the
//! shipments live wherever the deployment keeps its state. A user's shipments are read,
//! changed and written back per batch; two processes handling the same user's emails at
//! the same instant can overwrite each other's change, which the next email of that
//! shipment repairs (see the README's limits).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_contracts::DataKind;
use switchyard_contracts::{
    AnyOfficeEvent, ContractError, EmailEvent, Envelope, OfficeEvent, Operation, ShipmentUpdate,
    SyncType, decode_office_event,
};
use switchyard_runtime::{
    ConsumerConfig, Handler, Incoming, Outcome, PublishError, Publisher, SubscriptionConfig,
};
use switchyard_state::{StateError, StateStore};

/// The shipments consumer's subscription: `shipments-emails` on `emails`.
pub fn subscriptions() -> Vec<ConsumerConfig> {
    let subscription = SubscriptionConfig::new("shipments-emails", DataKind::Email.topic_name())
        .with_ack_deadline(Duration::from_secs(60));
    vec![ConsumerConfig::new(subscription).with_batch_size(50)]
}

use crate::{Detector, ShipmentStatus};

/// Most observations kept per shipment (the newest); older ones no longer decide.
const MAX_OBSERVATIONS: usize = 50;

/// The `provider` of the shipment events this consumer publishes.
pub const TRACKER_SOURCE: &str = "shipments";

/// One email's word on a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    /// When the email was sent (else when it was synced).
    pub at: DateTime<Utc>,
    /// The status it reports, if any.
    pub status: Option<ShipmentStatus>,
}

/// A tracked shipment of one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shipment {
    /// `{carrier}:{tracking number}`.
    pub id: String,
    /// Courier code (`ups`, `fedex`, …).
    pub carrier: String,
    /// Courier name.
    pub carrier_name: String,
    /// The tracking number, without spaces.
    pub tracking_number: String,
    /// Where the carrier shows it, when the definition has a URL.
    pub tracking_url: Option<String>,
    /// The current status.
    pub status: ShipmentStatus,
    /// When the current status was reported.
    pub status_at: DateTime<Utc>,
    /// First time the number was seen.
    pub first_seen: DateTime<Utc>,
    /// Last time the number was seen.
    pub last_seen: DateTime<Utc>,
    /// The emails that mentioned it, by id.
    pub observations: BTreeMap<String, Observation>,
    /// The status last announced in a shipment event, so that an announcement that
    /// failed is made again on the retry.
    #[serde(default)]
    pub announced: Option<ShipmentStatus>,
}

impl Shipment {
    /// The status and its date from the observations.
    fn settle(&mut self) {
        self.first_seen = self
            .observations
            .values()
            .map(|o| o.at)
            .min()
            .unwrap_or(self.first_seen);
        self.last_seen = self
            .observations
            .values()
            .map(|o| o.at)
            .max()
            .unwrap_or(self.last_seen);
        let latest = self
            .observations
            .values()
            .filter_map(|o| o.status.map(|status| (o.at, status)))
            .max_by_key(|(at, status)| (*at, *status as u8));
        (self.status_at, self.status) =
            latest.unwrap_or((self.first_seen, ShipmentStatus::LabelCreated));
        if self.observations.len() > MAX_OBSERVATIONS {
            let mut by_age: Vec<(DateTime<Utc>, String)> = self
                .observations
                .iter()
                .map(|(id, o)| (o.at, id.clone()))
                .collect();
            by_age.sort();
            for (_, id) in by_age
                .iter()
                .take(self.observations.len() - MAX_OBSERVATIONS)
            {
                self.observations.remove(id);
            }
        }
    }

    /// The payload of the event announcing this shipment's status.
    pub fn to_update(&self) -> ShipmentUpdate {
        ShipmentUpdate {
            id: self.id.clone(),
            carrier: self.carrier.clone(),
            tracking_number: self.tracking_number.clone(),
            status: self.status.as_str().to_string(),
            source_email_ids: self.observations.keys().cloned().collect(),
        }
    }
}

/// Where shipments are kept, per user.
#[async_trait]
pub trait ShipmentStore: Send + Sync + 'static {
    /// Every shipment of `user`, by id.
    async fn load(&self, user: &str) -> Result<BTreeMap<String, Shipment>, StateError>;
    /// Replaces `user`'s shipments.
    async fn save(
        &self,
        user: &str,
        shipments: &BTreeMap<String, Shipment>,
    ) -> Result<(), StateError>;
    /// Forgets `user`'s shipments; returns how many there were.
    async fn forget(&self, user: &str) -> Result<usize, StateError>;
}

/// A [`ShipmentStore`] in a `StateStore`: one JSON value per user, `shipments:{user}`.
#[derive(Clone)]
pub struct StateShipmentStore {
    state: Arc<dyn StateStore>,
}

impl StateShipmentStore {
    /// Shipments kept in `state`.
    pub fn new(state: Arc<dyn StateStore>) -> Self {
        StateShipmentStore { state }
    }

    fn key(user: &str) -> String {
        format!("shipments:{user}")
    }
}

#[async_trait]
impl ShipmentStore for StateShipmentStore {
    async fn load(&self, user: &str) -> Result<BTreeMap<String, Shipment>, StateError> {
        match self.state.get(&Self::key(user)).await? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                StateError::new(
                    switchyard_state::StateErrorKind::Corrupt,
                    format!("shipments of user {user} are not readable: {err}"),
                )
            }),
        }
    }

    async fn save(
        &self,
        user: &str,
        shipments: &BTreeMap<String, Shipment>,
    ) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(shipments).expect("shipments serialize to JSON");
        self.state.put_many(&[Self::key(user)], &bytes, None).await
    }

    async fn forget(&self, user: &str) -> Result<usize, StateError> {
        let count = self.load(user).await?.len();
        self.state.delete_many(&[Self::key(user)]).await?;
        Ok(count)
    }
}

/// Why one user's emails could not be applied (their batch is retried).
#[derive(Debug, thiserror::Error)]
enum TrackError {
    #[error("the shipment store failed: {0}")]
    Store(#[from] StateError),
    #[error("a shipment event is invalid: {0}")]
    Contract(#[from] ContractError),
    #[error("failed to publish shipment events: {0}")]
    Publish(#[from] PublishError),
    #[error("a shipment event was refused: {0}")]
    Refused(String),
}

/// The handler of `shipments-emails`: tracking numbers out of emails, into shipments.
pub struct ShipmentTracker {
    store: Arc<dyn ShipmentStore>,
    publisher: Publisher,
    detector: &'static Detector,
}

impl ShipmentTracker {
    /// A tracker keeping shipments in `store` and announcing status changes through
    /// `publisher`.
    pub fn new(store: Arc<dyn ShipmentStore>, publisher: Publisher) -> Self {
        ShipmentTracker {
            store,
            publisher,
            detector: Detector::standard(),
        }
    }

    /// Applies one user's emails: announces every status change, then stores the
    /// shipments. A failure leaves the store as it was, so the retry announces again
    /// (consumers skip an announcement they already have).
    async fn apply(&self, user: &str, emails: &[&EmailEvent]) -> Result<(), TrackError> {
        let mut shipments = self.store.load(user).await?;
        let mut touched = false;
        for email in emails {
            let at = email.item.date.unwrap_or(email.last_updated);
            for (detection, status) in self.detector.shipments_in_email(&email.item) {
                let id = format!("{}:{}", detection.carrier, detection.tracking_number);
                let shipment = shipments.entry(id.clone()).or_insert_with(|| Shipment {
                    id: id.clone(),
                    carrier: detection.carrier.clone(),
                    carrier_name: detection.carrier_name.clone(),
                    tracking_number: detection.tracking_number.clone(),
                    tracking_url: detection.tracking_url.clone(),
                    status: ShipmentStatus::LabelCreated,
                    status_at: at,
                    first_seen: at,
                    last_seen: at,
                    observations: BTreeMap::new(),
                    announced: None,
                });
                shipment
                    .observations
                    .insert(email.item.id.clone(), Observation { at, status });
                shipment.settle();
                touched = true;
            }
        }
        if !touched {
            return Ok(());
        }
        let changed: Vec<Shipment> = shipments
            .values()
            .filter(|shipment| shipment.announced != Some(shipment.status))
            .cloned()
            .collect();
        self.announce(user, &changed).await?;
        for shipment in shipments.values_mut() {
            shipment.announced = Some(shipment.status);
        }
        Ok(self.store.save(user, &shipments).await?)
    }

    async fn announce(&self, user: &str, changed: &[Shipment]) -> Result<(), TrackError> {
        if changed.is_empty() {
            return Ok(());
        }
        let envelopes = changed
            .iter()
            .map(|shipment| {
                let mut event = OfficeEvent::new(
                    Operation::Update,
                    SyncType::Streaming,
                    TRACKER_SOURCE,
                    user,
                    format!("shipment:{}", shipment.id),
                    shipment.to_update(),
                );
                // The status date is the version: a later status is a new effect.
                event.last_updated = shipment.status_at.min(Utc::now());
                event.to_envelope("/switchyard/shipments", &shipment.id)
            })
            .collect::<Result<Vec<Envelope>, ContractError>>()?;
        let report = self.publisher.publish(&envelopes).await?;
        match report.rejected.first() {
            None => Ok(()),
            Some(rejected) => Err(TrackError::Refused(rejected.error.to_string())),
        }
    }
}

#[async_trait]
impl Handler for ShipmentTracker {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        decode_office_event(envelope)
    }

    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        // Emails grouped per user: one read and one write of that user's shipments.
        let mut per_user: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (index, incoming) in batch.iter().enumerate() {
            if let AnyOfficeEvent::Email(email) = &incoming.event
                && email.operation != Operation::Delete
            {
                per_user
                    .entry(email.user_id.clone())
                    .or_default()
                    .push(index);
            }
        }
        let mut outcomes = vec![Outcome::Done; batch.len()];
        for (user, indexes) in per_user {
            let emails: Vec<&EmailEvent> = indexes
                .iter()
                .filter_map(|&i| match &batch[i].event {
                    AnyOfficeEvent::Email(email) => Some(email),
                    _ => None,
                })
                .collect();
            if let Err(err) = self.apply(&user, &emails).await {
                tracing::warn!(user = %user, error = %err, "shipment update failed, retrying");
                let reason = err.to_string();
                for &i in &indexes {
                    outcomes[i] = Outcome::Retry(reason.clone());
                }
            }
        }
        outcomes
    }
}
