//! Idempotency: how a consumer recognizes an event it has already handled. Each event
//! definition names a strategy and a key class; the class gives the key's time-to-live
//! and, for claim checks, where a large payload is stored.
//!
//! Keys are `idempotency:{sha256}` over the subscription, the event type, the strategy's
//! parts and the payload's `operation` when it has one, so dedupe is per subscription and a
//! delete is never mistaken for the create of the same item. An event that lacks a field
//! its strategy names falls back to its event id, which still catches redeliveries.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::{Envelope, EventDefinition, Registry};

/// What makes two events "the same effect".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "strategy")]
pub enum Idempotency {
    /// The envelope id: catches redeliveries, replays and re-publishes of one event.
    EventId,
    /// Immutable items: user + provider item id (`id` is a dotted path into `data`).
    Immutable {
        /// Path of the item id, e.g. `item.id`.
        id: &'static str,
    },
    /// Mutable items: user + item id + version, so a newer version is handled again.
    Mutable {
        /// Path of the item id.
        id: &'static str,
        /// Path of the version, e.g. `last_updated`.
        version: &'static str,
    },
    /// Batch operations: batch id + correlation id.
    Batch {
        /// Path of the batch id, e.g. `batchId`.
        batch: &'static str,
    },
}

/// Classes of stored keys, each with its own time-to-live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyClass {
    /// Office items (7 days).
    OfficeData,
    /// Plain event ids (24 hours).
    Idempotency,
    /// Batch operations (3 days).
    Batch,
    /// Document fragments (30 days).
    Fragment,
}

impl KeyClass {
    /// The default time-to-live of keys of this class.
    pub fn default_ttl(self) -> Duration {
        const DAY: u64 = 24 * 3600;
        Duration::from_secs(match self {
            KeyClass::OfficeData => 7 * DAY,
            KeyClass::Idempotency => DAY,
            KeyClass::Batch => 3 * DAY,
            KeyClass::Fragment => 30 * DAY,
        })
    }
}

/// A key a consumer records once it handled an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    /// `idempotency:{sha256}`.
    pub key: String,
    /// Its class (time-to-live).
    pub class: KeyClass,
}

/// The value at a dotted `path` in `data`, as text.
pub(crate) fn text_at(data: &Value, path: &str) -> Option<String> {
    let value = path
        .split('.')
        .try_fold(data, |value, segment| value.get(segment))?;
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The user of an event: `data.user_id`, `data.userId`, else the `userid` attribute.
pub(crate) fn user_of(envelope: &Envelope) -> String {
    let data = envelope.data.as_ref();
    data.and_then(|data| text_at(data, "user_id").or_else(|| text_at(data, "userId")))
        .or_else(|| envelope.userid.clone())
        .unwrap_or_default()
}

fn hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0x1f]);
    }
    format!("idempotency:{}", hex::encode(hasher.finalize()))
}

/// What makes `envelope` (of `definition`) the effect it is, whoever consumes it: its
/// event type and operation, then its strategy's parts (or its event id when a field the
/// strategy names is missing).
pub(crate) fn event_identity(definition: &EventDefinition, envelope: &Envelope) -> Vec<String> {
    let data = envelope.data.as_ref().unwrap_or(&Value::Null);
    let operation = text_at(data, "operation").unwrap_or_default();
    let user = user_of(envelope);
    let strategy_parts = match definition.idempotency {
        Idempotency::EventId => None,
        Idempotency::Immutable { id } => text_at(data, id).map(|id| vec![user, id]),
        Idempotency::Mutable { id, version } => text_at(data, id)
            .zip(text_at(data, version))
            .map(|(id, version)| vec![user, id, version]),
        Idempotency::Batch { batch } => text_at(data, batch)
            .zip(envelope.correlationid.clone())
            .map(|(batch, correlation)| vec![batch, correlation]),
    };
    let mut identity = vec![definition.event_type.to_string(), operation];
    identity.extend(strategy_parts.unwrap_or_else(|| vec![format!("event:{}", envelope.id)]));
    identity
}

/// The event's own key (hex SHA-256), the same for every subscription: the
/// `X-Idempotency-Key` header's middle part.
pub(crate) fn event_key(definition: &EventDefinition, envelope: &Envelope) -> String {
    let identity = event_identity(definition, envelope);
    let parts: Vec<&str> = identity.iter().map(String::as_str).collect();
    hash(&parts).trim_start_matches("idempotency:").to_string()
}

impl Registry {
    /// The key under which `subscription` remembers having handled `envelope`, or `None`
    /// for an unknown event type.
    pub fn idempotency_key(
        &self,
        subscription: &str,
        envelope: &Envelope,
    ) -> Option<IdempotencyKey> {
        let definition = self.definition(&envelope.event_type)?;
        let identity = event_identity(definition, envelope);
        let mut all: Vec<&str> = vec![subscription];
        all.extend(identity.iter().map(String::as_str));
        Some(IdempotencyKey {
            key: hash(&all),
            class: definition.key_class,
        })
    }
}

impl Registry {
    /// Where a claim check stores the payload of `envelope`, by its key class:
    /// `office:{user_id}:{topic}:{item_id}`, `batch:{batch_id}:{correlation_id}`,
    /// `fragment:{parent_id}:{fragment_id}`, else `event:{event_id}`.
    pub fn claim_check_key(&self, envelope: &Envelope) -> Option<(String, KeyClass)> {
        let definition = self.definition(&envelope.event_type)?;
        let data = envelope.data.as_ref().unwrap_or(&Value::Null);
        let item_id = match definition.idempotency {
            Idempotency::Immutable { id } | Idempotency::Mutable { id, .. } => text_at(data, id),
            Idempotency::EventId | Idempotency::Batch { .. } => None,
        };
        let batch = match definition.idempotency {
            Idempotency::Batch { batch } => {
                text_at(data, batch).zip(envelope.correlationid.clone())
            }
            _ => None,
        };
        let key = match (definition.key_class, item_id, batch) {
            (KeyClass::OfficeData, Some(item), _) => {
                format!("office:{}:{}:{item}", user_of(envelope), definition.topic)
            }
            (KeyClass::Fragment, Some(item), _) => match text_at(data, "item.parent_id") {
                Some(parent) => format!("fragment:{parent}:{item}"),
                None => format!("event:{}", envelope.id),
            },
            (KeyClass::Batch, _, Some((batch, correlation))) => {
                format!("batch:{batch}:{correlation}")
            }
            _ => format!("event:{}", envelope.id),
        };
        Some((key, definition.key_class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Contact, ContactEvent, Email, EmailEvent, Operation, SyncType};

    fn key(subscription: &str, envelope: &Envelope) -> String {
        Registry::standard()
            .idempotency_key(subscription, envelope)
            .unwrap()
            .key
    }

    fn email(id: &str) -> EmailEvent {
        let item = Email {
            id: id.into(),
            ..Email::default()
        };
        EmailEvent::new(
            Operation::Create,
            SyncType::Backfill,
            "mbox",
            "alice",
            "b1",
            item,
        )
    }

    #[test]
    fn immutable_items_are_the_same_whatever_envelope_carries_them() {
        let a = email("<1@x>");
        let mut b = a.clone();
        b.last_updated += chrono::Duration::seconds(5);
        let first = a.to_envelope("/t", "job").unwrap();
        let republished = b.to_envelope("/t", "job-2").unwrap();
        assert_ne!(first.id, republished.id);
        assert_eq!(key("s", &first), key("s", &republished));
        assert_ne!(
            key("s", &first),
            key("s", &email("<2@x>").to_envelope("/t", "j").unwrap())
        );
        assert!(key("s", &first).starts_with("idempotency:"));
    }

    #[test]
    fn dedupe_is_per_subscription() {
        let envelope = email("<1@x>").to_envelope("/t", "job").unwrap();
        assert_ne!(key("indexer", &envelope), key("contacts", &envelope));
    }

    #[test]
    fn a_delete_is_not_the_create_of_the_same_item() {
        let create = email("<1@x>");
        let mut delete = create.clone();
        delete.operation = Operation::Delete;
        assert_ne!(
            key("s", &create.to_envelope("/t", "j").unwrap()),
            key("s", &delete.to_envelope("/t", "j").unwrap())
        );
    }

    #[test]
    fn a_newer_version_of_a_mutable_item_is_new() {
        let item = Contact {
            id: "c1".into(),
            ..Contact::default()
        };
        let contact = ContactEvent::new(
            Operation::Update,
            SyncType::Streaming,
            "vcf",
            "alice",
            "b1",
            item,
        );
        let mut newer = contact.clone();
        newer.last_updated += chrono::Duration::seconds(5);
        let registry = Registry::standard();
        let old_key = registry
            .idempotency_key("s", &contact.to_envelope("/t", "j").unwrap())
            .unwrap();
        let new_key = registry
            .idempotency_key("s", &newer.to_envelope("/t", "j").unwrap())
            .unwrap();
        assert_ne!(old_key.key, new_key.key);
        assert_eq!(old_key.class, KeyClass::OfficeData);
    }

    #[test]
    fn missing_fields_fall_back_to_the_event_id() {
        let mut envelope = email("<1@x>").to_envelope("/t", "job").unwrap();
        envelope.data.as_mut().unwrap()["item"]["id"] = Value::String(String::new());
        let again = Envelope {
            id: "other".into(),
            ..envelope.clone()
        };
        assert_ne!(key("s", &envelope), key("s", &again));
    }

    #[test]
    fn claim_check_keys_follow_the_key_classes() {
        let registry = Registry::standard();
        let envelope = email("<1@x>").to_envelope("/t", "job").unwrap();
        assert_eq!(
            registry.claim_check_key(&envelope).unwrap(),
            (
                "office:alice:emails:<1@x>".to_string(),
                KeyClass::OfficeData
            )
        );
    }

    #[test]
    fn ttls_follow_the_classes() {
        assert_eq!(
            KeyClass::OfficeData.default_ttl(),
            Duration::from_secs(7 * 86400)
        );
        assert_eq!(
            KeyClass::Idempotency.default_ttl(),
            Duration::from_secs(86400)
        );
        assert_eq!(
            KeyClass::Batch.default_ttl(),
            Duration::from_secs(3 * 86400)
        );
        assert_eq!(
            KeyClass::Fragment.default_ttl(),
            Duration::from_secs(30 * 86400)
        );
    }
}
