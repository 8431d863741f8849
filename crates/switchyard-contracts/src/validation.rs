//! Publish-time validation: `Registry::prepare` checks an envelope against its event
//! definition (required attributes, schema version, payload size, payload JSON Schema,
//! then the payload type, which is how consumers read it, and for a legacy type its
//! upcast into current events), takes its partition key
//! (payload first, then metadata) and builds the standard headers.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::headers::standard_headers;
use crate::{ContractError, Envelope, EventDefinition, Registry};

/// Largest payload (`data`, serialized) published inline: 256 KiB.
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024;

/// Partition-key fields that may come from the envelope's metadata when the payload
/// lacks them.
pub(crate) const METADATA_KEYS: &[&str] = &["correlationId", "correlation_id", "userId", "user_id"];

/// A validated event, ready for a broker. Serializable, so an outbox can hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outbound {
    /// The event id.
    pub event_id: String,
    /// Its topic.
    pub topic: String,
    /// Its partition key.
    pub partition_key: String,
    /// Standard and CloudEvents binary-mode headers.
    pub headers: Vec<(String, String)>,
    /// The structured-mode envelope, with `partitionkey` and `schemaversion` filled in.
    #[serde(with = "json_text")]
    pub payload: Vec<u8>,
}

/// The payload is JSON, so it is stored as text rather than as an array of numbers.
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(bytes).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer).map_err(D::Error::custom)?;
        Ok(text.into_bytes())
    }
}

/// `name` as written, in snake_case and in camelCase (deduplicated, in that order).
pub(crate) fn field_variants(name: &str) -> Vec<String> {
    let mut snake = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            snake.push('_');
            snake.push(c.to_ascii_lowercase());
        } else {
            snake.push(c);
        }
    }
    let mut camel = String::new();
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            camel.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            camel.push(c);
        }
    }
    let mut variants = vec![name.to_string()];
    for variant in [snake, camel] {
        if !variants.contains(&variant) {
            variants.push(variant);
        }
    }
    variants
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// The partition key of `envelope`: the payload field, else the matching metadata
/// attribute, else the envelope's `partitionkey`.
fn partition_key(
    definition: &EventDefinition,
    envelope: &Envelope,
    data: &Value,
) -> Result<String, ContractError> {
    let variants = field_variants(definition.partition_key);
    if let Some(key) = variants
        .iter()
        .find_map(|name| data.get(name).and_then(key_text))
    {
        return Ok(key);
    }
    let normalized = definition
        .partition_key
        .replace('_', "")
        .to_ascii_lowercase();
    let metadata = match normalized.as_str() {
        "correlationid" => envelope.correlationid.clone(),
        "userid" => envelope.userid.clone(),
        _ => None,
    };
    metadata
        .or_else(|| envelope.partitionkey.clone())
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ContractError::MissingPartitionKey {
            event_type: definition.event_type.to_string(),
            field: definition.partition_key.to_string(),
        })
}

/// `data` + a JSON pointer (`/item/id`) as a dotted field path (`data.item.id`).
fn field_path(pointer: &str) -> String {
    let mut path = String::from("data");
    for segment in pointer.split('/').filter(|s| !s.is_empty()) {
        path.push('.');
        path.push_str(segment);
    }
    path
}

impl Registry {
    /// Validates `envelope` for publishing and builds what the broker needs.
    pub fn prepare(&self, envelope: &Envelope) -> Result<Outbound, ContractError> {
        let definition = self.check_attributes(envelope)?;
        let partition_key = match (&envelope.data, &envelope.dataref) {
            // The payload travels by reference; it was checked when it was stored.
            (None, Some(_)) => partition_key(definition, envelope, &Value::Null)?,
            (Some(_), Some(_)) => {
                return Err(ContractError::InvalidField {
                    field: "dataref".into(),
                    reason: "an event carries either `data` or `dataref`, not both".into(),
                });
            }
            _ => self.check_payload(definition, envelope, Some(MAX_PAYLOAD_BYTES))?,
        };
        let mut stamped = envelope.clone();
        stamped.partitionkey = Some(partition_key.clone());
        stamped.schemaversion = Some(definition.schema_version);
        Ok(Outbound {
            event_id: envelope.id.clone(),
            topic: definition.topic.to_string(),
            headers: standard_headers(definition, &stamped),
            partition_key,
            payload: stamped.to_json_bytes(),
        })
    }

    /// Checks a payload of any size against its schema and returns the event's partition
    /// key: what a claim check runs before it stores a large payload by reference.
    pub fn check_large_payload(&self, envelope: &Envelope) -> Result<String, ContractError> {
        let definition = self.check_attributes(envelope)?;
        self.check_payload(definition, envelope, None)
    }

    /// The definition of a valid envelope of a known type and current version.
    fn check_attributes(&self, envelope: &Envelope) -> Result<&EventDefinition, ContractError> {
        envelope.validate()?;
        let definition = self.require(&envelope.event_type)?;
        match envelope.schemaversion {
            Some(version) if version != definition.schema_version => {
                Err(ContractError::InvalidField {
                    field: "schemaversion".into(),
                    reason: format!(
                        "{} is published at version {}, not {version}",
                        definition.event_type, definition.schema_version
                    ),
                })
            }
            _ => Ok(definition),
        }
    }

    /// Size (when `limit_bytes` is given) and schema of `data`; returns the partition key.
    fn check_payload(
        &self,
        definition: &EventDefinition,
        envelope: &Envelope,
        limit_bytes: Option<usize>,
    ) -> Result<String, ContractError> {
        let data = envelope
            .data
            .as_ref()
            .ok_or_else(|| ContractError::MissingField {
                field: "data".into(),
            })?;
        if let Some(limit_bytes) = limit_bytes {
            let size_bytes = serde_json::to_vec(data)
                .map(|bytes| bytes.len())
                .unwrap_or(usize::MAX);
            if size_bytes > limit_bytes {
                return Err(ContractError::PayloadTooLarge {
                    size_bytes,
                    limit_bytes,
                });
            }
        }
        if let Some(Ok(validator)) = self.validator(definition.event_type)
            && let Some(error) = validator.iter_errors(data).next()
        {
            let mut field = field_path(&error.instance_path().to_string());
            let reason = error.to_string();
            if let jsonschema::error::ValidationErrorKind::Required { property } = error.kind()
                && let Some(name) = property.as_str()
            {
                field = format!("{field}.{name}");
                return Err(ContractError::MissingField { field });
            }
            return Err(ContractError::InvalidField { field, reason });
        }
        // A payload the schema lets through may still not read as its type; consumers
        // would dead-letter it, so it is refused here with the same error they would see.
        definition.decode_payload(data)?;
        // A legacy type reaches consumers through its upcaster: what that cannot turn
        // into current events, no consumer can read.
        if definition.legacy {
            self.upcast(envelope.clone())?;
        }
        partition_key(definition, envelope, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_match_in_both_cases() {
        assert_eq!(field_variants("batchId"), ["batchId", "batch_id"]);
        assert_eq!(field_variants("user_id"), ["user_id", "userId"]);
        assert_eq!(field_variants("id"), ["id"]);
    }

    /// Refusal of `body` (one envelope) by the standard registry, as `field: reason`.
    fn check_refusal(body: &str, expected: &str) {
        let envelope = Envelope::from_json_slice(body.as_bytes()).unwrap();
        let registry = Registry::standard();
        let err = registry.prepare(&envelope).unwrap_err();
        assert_eq!(
            format!("{}: {err}", err.field().unwrap_or_default()),
            expected
        );
        // Whatever `prepare` refuses, a consumer could not have read either.
        let consumed = registry.upcast(envelope).and_then(|current| {
            current
                .iter()
                .try_for_each(|envelope| crate::decode_office_event(envelope).map(drop))
        });
        assert!(consumed.is_err());
    }

    /// Issue 11, found by the `events_request` fuzz target: the schema's `format:
    /// date-time` is not asserted, so this legacy batch was accepted for publishing and
    /// then failed in every consumer's upcaster.
    #[test]
    fn payloads_that_do_not_read_as_their_type_are_refused() {
        check_refusal(
            r#"{"specversion":"1.0","id":"old-1","source":"/legacy","type":"switchyard.office.email_backfill","correlationid":"c-1","data":{"batch_id":"b-1","user_id":"alice","provider":"gmail","sync_timestamp":"2024(01-01T00:00:00Z","emails":[{"id":"m1","subject":"One"},{"id":"m2","subject":"Two","date":"2023-12-31T10:00:00Z"}]}}"#,
            "data.sync_timestamp: invalid field `data.sync_timestamp`: input contains invalid characters",
        );
    }

    /// Issue 11, found by the `events_request` fuzz target: each email of a legacy batch
    /// reads with defaults, but one without an id cannot be upcast into an email event.
    #[test]
    fn legacy_batches_that_do_not_upcast_are_refused() {
        check_refusal(
            r#"{"specversion":"1.0","id":"old-1","source":"/legacy","type":"switchyard.office.email_backfill","correlationid":"c-1","data":{"batch_id":"b-1","user_id":"alice","provider":"gmail","sync_timestamp":"2024-01-01T00:00:00Z","emails":[{"id":"o1","subject":"One"},{"gd":"m2","subject":"Two","date":"2023-12-31T10:00:00Z"}]}}"#,
            "data.item.id: missing required field `data.item.id`",
        );
    }

    #[test]
    fn integers_past_their_type_are_refused() {
        let fragment = crate::Fragment {
            id: "file:1#0".into(),
            kind: crate::DocumentKind::Word,
            parent_id: "file:1".into(),
            ..crate::Fragment::default()
        };
        let event = crate::OfficeEvent::new(
            crate::Operation::Create,
            crate::SyncType::Backfill,
            "docx",
            "alice",
            "b1",
            fragment,
        );
        let mut envelope = event.to_envelope("/test", "c1").unwrap();
        Registry::standard().prepare(&envelope).unwrap();
        // The schema says `minimum: 0` and nothing of a `u32`'s maximum.
        envelope.data.as_mut().unwrap()["item"]["position"] = Value::from(5_000_000_000_u64);
        check_refusal(
            &String::from_utf8(envelope.to_json_bytes()).unwrap(),
            "data.item.position: invalid field `data.item.position`: \
             invalid value: integer `5000000000`, expected u32",
        );
    }

    #[test]
    fn pointers_become_dotted_fields() {
        assert_eq!(field_path(""), "data");
        assert_eq!(field_path("/item/id"), "data.item.id");
    }
}
