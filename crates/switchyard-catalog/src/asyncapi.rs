//! The AsyncAPI 3.0 document: one channel per topic, one `send` operation per event type (the
//! producers' view), and per type a message whose payload is the CloudEvents envelope with
//! the type's payload schema as `data`. Payload schemas live in `components.schemas` (see
//! `schemas.rs`) so the document is self-contained.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use switchyard_contracts::headers::{
    BACKOFF_MS, IDEMPOTENCY_KEY, MAX_RETRIES, ORIGINAL_TIMESTAMP, RETRY_COUNT, STANDARD_HEADERS,
    TRACEPARENT,
};
use switchyard_contracts::{
    CLOUDEVENTS_CONTENT_TYPE, EventDefinition, EventKind, EventSet, JSON_CONTENT_TYPE, Registry,
    SPEC_VERSION,
};

use crate::schemas::SchemaComponents;
use crate::{key, sorted_events};

/// The AsyncAPI version the document follows.
pub const ASYNCAPI_VERSION: &str = "3.0.0";

const TRACEPARENT_PATTERN: &str = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";

/// The event catalog of `registry` as an AsyncAPI 3.0 document.
pub fn asyncapi(registry: &Registry) -> Value {
    let channel_ids = channel_ids(registry);
    let mut schemas = SchemaComponents::default();
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();

    for set in registry.sets() {
        for topic in &set.topics {
            let id = &channel_ids[topic];
            channels
                .entry(id.clone())
                .or_insert_with(|| channel(set, topic));
        }
    }
    for (set, event) in sorted_events(registry) {
        let message_id = key(event.event_type);
        let channel_id = &channel_ids[event.topic];
        // Named after the event, not the schema's title: generic payloads such as
        // `OfficeEvent<Email>` all carry the title `OfficeEvent`.
        let payload = schemas.add(&message_id, event.name, event.payload_schema());
        let channel = channels
            .entry(channel_id.clone())
            .or_insert_with(|| channel(set, event.topic));
        channel["messages"][&message_id] =
            json!({"$ref": format!("#/components/messages/{message_id}")});
        operations.insert(
            format!("send.{message_id}"),
            operation(event, channel_id, &message_id),
        );
        messages.insert(message_id, message(set, event, &payload));
    }

    json!({
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Switchyard events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Every event type Switchyard's producers publish, generated from the \
                event registry by `switchyard catalog docs --format asyncapi`. Each message is \
                a CloudEvents 1.0 envelope in structured mode whose `data` is the payload of \
                its type; the standard headers carry correlation, idempotency, the retry \
                schedule and trace context.",
            "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
        },
        "defaultContentType": CLOUDEVENTS_CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": schemas.into_map(),
        },
    })
}

/// [`asyncapi`] as pretty-printed JSON with sorted keys and a final newline: the content of
/// [`crate::ASYNCAPI_PATH`], the same whatever features `serde_json` was built with.
pub fn asyncapi_json(registry: &Registry) -> String {
    let mut text = serde_json::to_string_pretty(&sort_keys(asyncapi(registry)))
        .expect("a JSON value always serializes");
    text.push('\n');
    text
}

/// Channel id per topic: the topic with dots turned into dashes, made unique.
fn channel_ids(registry: &Registry) -> BTreeMap<&'static str, String> {
    let mut topics: Vec<&'static str> = registry
        .sets()
        .iter()
        .flat_map(|set| set.topics.iter().copied())
        .chain(registry.events().map(|(_, event)| event.topic))
        .collect();
    topics.sort_unstable();
    topics.dedup();
    let mut ids = BTreeMap::new();
    let mut taken = std::collections::BTreeSet::new();
    for topic in topics {
        let base = key(topic).replace('.', "-");
        let mut id = base.clone();
        let mut suffix = 2;
        while !taken.insert(id.clone()) {
            id = format!("{base}-{suffix}");
            suffix += 1;
        }
        ids.insert(topic, id);
    }
    ids
}

fn channel(set: &EventSet, topic: &str) -> Value {
    json!({
        "address": topic,
        "title": topic,
        "description": format!("Topic `{topic}` of the `{}` event set.", set.name),
        "messages": {},
    })
}

fn operation(event: &EventDefinition, channel_id: &str, message_id: &str) -> Value {
    let verb = match event.kind {
        EventKind::Event => "Publish",
        EventKind::Command => "Send the command",
    };
    let mut operation = json!({
        "action": "send",
        "title": format!("{verb} {}", event.event_type),
        "channel": {"$ref": format!("#/channels/{channel_id}")},
        "messages": [{"$ref": format!("#/channels/{channel_id}/messages/{message_id}")}],
    });
    if !event.description.is_empty() {
        operation["summary"] = json!(event.description);
    }
    operation
}

fn message(set: &EventSet, event: &EventDefinition, payload: &str) -> Value {
    let mut notes = Vec::new();
    if let Some(rich) = event.rich_counterpart {
        notes.push(format!("Thin event: the details travel in `{rich}`."));
    }
    if event.legacy {
        notes.push(
            "Legacy type: accepted from old producers and upcast on arrival, never published \
             anew."
                .to_string(),
        );
    }
    let mut message = json!({
        "name": event.event_type,
        "title": event.name,
        "contentType": CLOUDEVENTS_CONTENT_TYPE,
        "headers": headers(event),
        "payload": envelope(event, payload),
        "x-switchyard-event-set": set.name,
        "x-switchyard-domain": event.domain,
        "x-switchyard-kind": event.kind,
        "x-switchyard-topic": event.topic,
        "x-switchyard-partition-key": event.partition_key,
        "x-switchyard-schema-version": event.schema_version,
        "x-switchyard-retention-days": event.retention_days,
        "x-switchyard-max-retries": event.max_retries,
        "x-switchyard-backoff-ms": event.backoff_ms,
        "x-switchyard-idempotency": event.idempotency,
        "x-switchyard-key-class": event.key_class,
    });
    if !event.description.is_empty() {
        message["summary"] = json!(event.description);
    }
    if !notes.is_empty() {
        message["description"] = json!(notes.join(" "));
    }
    if let Some(rich) = event.rich_counterpart {
        message["x-switchyard-rich-counterpart"] = json!(rich);
    }
    if event.legacy {
        message["deprecated"] = json!(true);
    }
    message
}

/// The standard headers of `event`, with the values its definition fixes.
fn headers(event: &EventDefinition) -> Value {
    let backoff: Vec<String> = event.backoff_ms.iter().map(u64::to_string).collect();
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, meaning) in STANDARD_HEADERS {
        let mut schema = json!({"type": "string", "description": meaning});
        match *name {
            IDEMPOTENCY_KEY => {
                schema["pattern"] = json!(format!(
                    "^{}:.*:{}$",
                    regex_literal(event.topic),
                    event.schema_version
                ));
            }
            RETRY_COUNT => schema["pattern"] = json!("^[0-9]+$"),
            MAX_RETRIES => schema["const"] = json!(event.max_retries.to_string()),
            BACKOFF_MS => schema["const"] = json!(backoff.join(",")),
            ORIGINAL_TIMESTAMP => schema["format"] = json!("date-time"),
            TRACEPARENT => schema["pattern"] = json!(TRACEPARENT_PATTERN),
            _ => {}
        }
        // Every header is set on publish except the trace context, which is optional.
        if *name != TRACEPARENT {
            required.push(*name);
        }
        properties.insert(name.to_string(), schema);
    }
    json!({"type": "object", "required": required, "properties": properties})
}

/// The CloudEvents 1.0 structured-mode envelope of `event`, whose `data` is `payload`.
fn envelope(event: &EventDefinition, payload: &str) -> Value {
    json!({
        "type": "object",
        "description": format!("CloudEvents {SPEC_VERSION} envelope of `{}`.", event.event_type),
        "required": ["id", "source", "specversion", "type", "data"],
        "properties": {
            "id": {"type": "string", "minLength": 1, "description": "unique id of the event (a UUIDv7 when Switchyard made it)"},
            "source": {"type": "string", "minLength": 1, "format": "uri-reference", "description": "what produced the event"},
            "specversion": {"type": "string", "const": SPEC_VERSION},
            "type": {"type": "string", "const": event.event_type},
            "time": {"type": "string", "format": "date-time", "description": "when the occurrence happened"},
            "datacontenttype": {"type": "string", "const": JSON_CONTENT_TYPE},
            "subject": {"type": "string", "description": "what the event is about within the source"},
            "correlationid": {"type": "string", "description": "groups every event of one job or request"},
            "traceparent": {"type": "string", "pattern": TRACEPARENT_PATTERN, "description": "W3C trace context of the producer"},
            "userid": {"type": "string", "description": "the user whose data this is"},
            "partitionkey": {"type": "string", "description": format!("the payload's `{}`", event.partition_key)},
            "schemaversion": {"type": "integer", "const": event.schema_version},
            "data": {"$ref": payload},
        },
    })
}

/// `text` matched literally in an ECMA-262 regular expression.
fn regex_literal(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// `value` with every object's keys in sorted order.
fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(object) => {
            let sorted: BTreeMap<String, Value> = object
                .into_iter()
                .map(|(name, value)| (name, sort_keys(value)))
                .collect();
            Value::Object(sorted.into_iter().collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}
