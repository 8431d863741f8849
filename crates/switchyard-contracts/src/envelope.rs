//! The CloudEvents 1.0 envelope, in JSON structured mode (`application/cloudevents+json`).
//!
//! Required attributes: `id` (a UUIDv7 for events Switchyard creates), `source`,
//! `specversion` (`1.0`), `type`. Optional: `time`, `datacontenttype`, `subject`.
//! Extensions Switchyard reads: `correlationid`, `traceparent` (W3C), `userid`,
//! `partitionkey`, `schemaversion`. Any other extension is kept as is and written back.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{ContractError, TraceParent};

/// The CloudEvents specification version Switchyard speaks.
pub const SPEC_VERSION: &str = "1.0";
/// Content type of a structured-mode CloudEvent.
pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json";
/// Content type of the `data` of every Switchyard event.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// One event, as it travels on a topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique id of this event (UUIDv7 when Switchyard made it).
    #[serde(default)]
    pub id: String,
    /// URI-reference of what produced the event, e.g. `switchyard://import/mbox`.
    #[serde(default)]
    pub source: String,
    /// Always `1.0`.
    #[serde(default)]
    pub specversion: String,
    /// The event type, e.g. `switchyard.office.email`.
    #[serde(rename = "type", default)]
    pub event_type: String,
    /// When the occurrence happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<DateTime<Utc>>,
    /// Media type of `data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    /// What the event is about within the source (an item id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Groups every event of one job or request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlationid: Option<String>,
    /// W3C trace context of the producer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    /// The user whose data this is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<String>,
    /// Key that decides ordering and partition placement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partitionkey: Option<String>,
    /// Version of the payload schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schemaversion: Option<u32>,
    /// Claim check: where the payload is stored when it travels by reference (the
    /// CloudEvents `dataref` extension); `data` is then absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataref: Option<String>,
    /// Claim check: size of the stored payload, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasize: Option<u64>,
    /// Claim check: lowercase hex SHA-256 of the stored payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasha256: Option<String>,
    /// Any other CloudEvents extension attribute (and `data_base64`), kept unchanged.
    #[serde(flatten)]
    pub extensions: BTreeMap<String, serde_json::Value>,
    /// The payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl Envelope {
    /// A new event of `event_type` from `source` carrying `data`, with a fresh UUIDv7 id,
    /// the current time and a new root `traceparent`.
    pub fn new(
        event_type: impl Into<String>,
        source: impl Into<String>,
        data: serde_json::Value,
    ) -> Self {
        Envelope {
            id: uuid::Uuid::now_v7().to_string(),
            source: source.into(),
            specversion: SPEC_VERSION.into(),
            event_type: event_type.into(),
            time: Some(Utc::now()),
            datacontenttype: Some(JSON_CONTENT_TYPE.into()),
            subject: None,
            correlationid: None,
            traceparent: Some(TraceParent::new_root().to_string()),
            userid: None,
            partitionkey: None,
            schemaversion: None,
            dataref: None,
            datasize: None,
            datasha256: None,
            extensions: BTreeMap::new(),
            data: Some(data),
        }
    }

    /// Parses one structured-mode CloudEvent and checks its attributes.
    pub fn from_json_slice(bytes: &[u8]) -> Result<Self, ContractError> {
        let envelope: Envelope = serde_json::from_slice(bytes)
            .map_err(|err| ContractError::Malformed(err.to_string()))?;
        envelope.validate()?;
        Ok(envelope)
    }

    /// Parses an already-decoded JSON value as one CloudEvent and checks its attributes.
    pub fn from_json_value(value: serde_json::Value) -> Result<Self, ContractError> {
        let envelope: Envelope = serde_path_to_error::deserialize(value)
            .map_err(|err| ContractError::at_path("", err))?;
        envelope.validate()?;
        Ok(envelope)
    }

    /// Serializes to structured-mode JSON.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an envelope always serializes: all keys are strings")
    }

    /// Checks the CloudEvents attribute rules and Switchyard's extension formats.
    pub fn validate(&self) -> Result<(), ContractError> {
        for (field, value) in [
            ("id", &self.id),
            ("source", &self.source),
            ("specversion", &self.specversion),
            ("type", &self.event_type),
        ] {
            if value.trim().is_empty() {
                return Err(ContractError::missing(field));
            }
        }
        if self.specversion != SPEC_VERSION {
            return Err(ContractError::invalid(
                "specversion",
                format!(
                    "`{}` is not supported, expected `{SPEC_VERSION}`",
                    self.specversion
                ),
            ));
        }
        if let Some(traceparent) = &self.traceparent {
            traceparent.parse::<TraceParent>()?;
        }
        // `data_base64` is the JSON format's member for binary data, not an attribute.
        for name in self.extensions.keys().filter(|name| *name != "data_base64") {
            let valid = !name.is_empty()
                && name.len() <= 20
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            if !valid {
                return Err(ContractError::invalid(
                    name.clone(),
                    "CloudEvents attribute names are 1-20 lowercase letters or digits",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check_error(value: serde_json::Value, field: &str) {
        let err = Envelope::from_json_value(value).unwrap_err();
        assert_eq!(err.field(), Some(field), "{err}");
    }

    fn minimal() -> serde_json::Value {
        json!({"id": "1", "source": "/test", "specversion": "1.0", "type": "switchyard.office.email"})
    }

    #[test]
    fn accepts_minimal_cloudevent() {
        let envelope = Envelope::from_json_value(minimal()).unwrap();
        assert_eq!(envelope.event_type, "switchyard.office.email");
    }

    #[test]
    fn names_the_offending_field() {
        for field in ["id", "source", "specversion", "type"] {
            let mut value = minimal();
            value.as_object_mut().unwrap().remove(field);
            check_error(value, field);
        }
        let mut value = minimal();
        value["specversion"] = json!("0.3");
        check_error(value, "specversion");
        let mut value = minimal();
        value["traceparent"] = json!("00-xyz");
        check_error(value, "traceparent");
        let mut value = minimal();
        value["time"] = json!("yesterday");
        check_error(value, "time");
        let mut value = minimal();
        value["Bad_Ext"] = json!("x");
        check_error(value, "Bad_Ext");
    }

    #[test]
    fn keeps_unknown_extensions() {
        let mut value = minimal();
        value["tracestate"] = json!("vendor=1");
        let envelope = Envelope::from_json_value(value).unwrap();
        let round_trip = Envelope::from_json_slice(&envelope.to_json_bytes()).unwrap();
        assert_eq!(round_trip.extensions["tracestate"], json!("vendor=1"));
    }

    #[test]
    fn new_events_have_uuid_v7_ids() {
        let envelope = Envelope::new("switchyard.office.email", "/t", json!({}));
        let id = uuid::Uuid::parse_str(&envelope.id).unwrap();
        assert_eq!(id.get_version_num(), 7);
        envelope.validate().unwrap();
    }

    #[test]
    fn accepts_every_complete_example_of_the_cloudevents_spec() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/cloudevents/spec-json-examples.json"
        );
        let examples: Vec<serde_json::Value> =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut checked = 0;
        for example in examples {
            let event = &example["event"];
            if example["valid_json"] != json!(true) || event.get("specversion").is_none() {
                continue;
            }
            let envelope = Envelope::from_json_value(event.clone())
                .unwrap_or_else(|err| panic!("{event}: {err}"));
            let round_trip = Envelope::from_json_slice(&envelope.to_json_bytes()).unwrap();
            assert_eq!(round_trip, envelope);
            checked += 1;
        }
        assert!(checked >= 3, "only {checked} examples checked");
    }
}
