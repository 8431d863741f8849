//! The standard message headers every published event carries, besides the CloudEvents
//! binary-mode `ce-` headers: correlation, idempotency, retry schedule, original time and
//! W3C trace context.

use crate::{Envelope, EventDefinition};

/// Groups every message of one job or request.
pub const CORRELATION_ID: &str = "X-Correlation-Id";
/// `{topic}:{event key}:{schema_version}`: the event key is the same hex SHA-256
/// for two events with the same effect (same type, operation and the identity its
/// definition's strategy names, e.g. user, item id and version), so any consumer can
/// deduplicate on it without knowing the strategy.
pub const IDEMPOTENCY_KEY: &str = "X-Idempotency-Key";
/// How many times the message was retried (0 when first published).
pub const RETRY_COUNT: &str = "X-Retry-Count";
/// Most retries before the message is dead-lettered.
pub const MAX_RETRIES: &str = "X-Max-Retries";
/// Comma-separated delays in milliseconds before retry 1, 2, …
pub const BACKOFF_MS: &str = "X-Backoff-Ms";
/// When the event was first published (RFC 3339), kept across retries and redrives.
pub const ORIGINAL_TIMESTAMP: &str = "X-Original-Timestamp";
/// W3C trace context.
pub const TRACEPARENT: &str = "traceparent";

/// Every standard header name with its meaning, for the catalog.
pub const STANDARD_HEADERS: &[(&str, &str)] = &[
    (CORRELATION_ID, "groups every message of one job or request"),
    (
        IDEMPOTENCY_KEY,
        "`{topic}:{event key}:{schema_version}`: equal for events with the same effect (type, operation, the strategy's identity)",
    ),
    (RETRY_COUNT, "retries so far, 0 when first published"),
    (MAX_RETRIES, "retries before the message is dead-lettered"),
    (
        BACKOFF_MS,
        "comma-separated delays in ms before retry 1, 2, …",
    ),
    (ORIGINAL_TIMESTAMP, "first publish time, RFC 3339"),
    (
        TRACEPARENT,
        "W3C trace context `00-{trace}-{parent}-{flags}`",
    ),
];

/// The standard headers of `envelope` (already validated against `definition`), followed
/// by the CloudEvents binary-mode headers (`ce-{attribute}`).
pub fn standard_headers(
    definition: &EventDefinition,
    envelope: &Envelope,
) -> Vec<(String, String)> {
    let backoff = definition
        .backoff_ms
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let original = envelope.time.unwrap_or_else(chrono::Utc::now).to_rfc3339();
    let mut headers = vec![
        (
            CORRELATION_ID.to_string(),
            envelope
                .correlationid
                .clone()
                .unwrap_or_else(|| envelope.id.clone()),
        ),
        (
            IDEMPOTENCY_KEY.to_string(),
            format!(
                "{}:{}:{}",
                definition.topic,
                crate::idempotency::event_key(definition, envelope),
                definition.schema_version
            ),
        ),
        (RETRY_COUNT.to_string(), "0".to_string()),
        (MAX_RETRIES.to_string(), definition.max_retries.to_string()),
        (BACKOFF_MS.to_string(), backoff),
        (ORIGINAL_TIMESTAMP.to_string(), original),
    ];
    if let Some(traceparent) = &envelope.traceparent {
        headers.push((TRACEPARENT.to_string(), traceparent.clone()));
    }
    headers.push((
        "content-type".to_string(),
        crate::CLOUDEVENTS_CONTENT_TYPE.to_string(),
    ));
    let attributes = [
        ("specversion", Some(&envelope.specversion)),
        ("id", Some(&envelope.id)),
        ("type", Some(&envelope.event_type)),
        ("source", Some(&envelope.source)),
        ("subject", envelope.subject.as_ref()),
        ("correlationid", envelope.correlationid.as_ref()),
        ("userid", envelope.userid.as_ref()),
        ("partitionkey", envelope.partitionkey.as_ref()),
    ];
    for (name, value) in attributes {
        if let Some(value) = value {
            headers.push((format!("ce-{name}"), value.clone()));
        }
    }
    if let Some(version) = envelope.schemaversion {
        headers.push(("ce-schemaversion".to_string(), version.to_string()));
    }
    headers
}
