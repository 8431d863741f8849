//! The legacy message shape: what consumers of the fanout exchange
//! [`LEGACY_EXCHANGE`](crate::LEGACY_EXCHANGE) read before the move to CloudEvents on
//! `smap.events` — flat JSON naming the event, with its data, and no CloudEvents headers.
//! Each copy keeps the event's id, so a consumer reading both paths can tell they are one
//! event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchyard_contracts::{Envelope, Outbound};

use crate::LEGACY_EXCHANGE;

/// One message of the legacy fanout exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyMessage {
    /// The id of the CloudEvent it copies.
    pub event_id: String,
    /// The routing key of that event, e.g. `email.verification.requested`.
    pub event_type: String,
    /// When the event happened.
    pub occurred_at: DateTime<Utc>,
    /// The event's data, as in the CloudEvent.
    pub data: Value,
}

/// The legacy copy of `envelope`, already prepared as `outbound` for `smap.events`.
pub(crate) fn copy(envelope: &Envelope, outbound: &Outbound) -> Outbound {
    let message = LegacyMessage {
        event_id: envelope.id.clone(),
        event_type: envelope.event_type.clone(),
        occurred_at: envelope.time.unwrap_or_else(Utc::now),
        data: envelope.data.clone().unwrap_or(Value::Null),
    };
    Outbound {
        event_id: envelope.id.clone(),
        topic: LEGACY_EXCHANGE.to_string(),
        partition_key: outbound.partition_key.clone(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("message-id".into(), envelope.id.clone()),
            ("event-type".into(), envelope.event_type.clone()),
        ],
        payload: serde_json::to_vec(&message).expect("a legacy message always serializes"),
    }
}
