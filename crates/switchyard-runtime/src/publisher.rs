//! [`Publisher`]: validates envelopes and publishes them to their topics as bus messages.
//!
//! A message carries the structured-mode JSON envelope as payload, the partition key as
//! its key, and the CloudEvents binary-mode `ce-` headers plus `traceparent`, so brokers
//! and tools can route and trace without parsing the payload.

use std::sync::Arc;

use switchyard_bus::{Broker, Message};
use switchyard_contracts::{CLOUDEVENTS_CONTENT_TYPE, Envelope};

use crate::PublishError;

/// Publishes envelopes. Cloning is cheap.
#[derive(Clone)]
pub struct Publisher {
    broker: Arc<dyn Broker>,
}

impl Publisher {
    /// A publisher on `broker`.
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Publisher { broker }
    }

    /// Validates every envelope, then publishes them, grouped by topic in their order.
    /// Returns once they are durable. An invalid envelope fails the call before anything
    /// is published.
    pub async fn publish(&self, envelopes: &[Envelope]) -> Result<(), PublishError> {
        let mut groups: Vec<(String, Vec<Message>)> = Vec::new();
        for envelope in envelopes {
            let invalid = |source| PublishError::Invalid {
                event_id: envelope.id.clone(),
                source,
            };
            envelope.validate().map_err(invalid)?;
            let topic = envelope.topic().map_err(invalid)?;
            let message = to_message(envelope);
            match groups.iter_mut().find(|(name, _)| name == topic.as_str()) {
                Some((_, messages)) => messages.push(message),
                None => groups.push((topic.to_string(), vec![message])),
            }
        }
        for (topic, messages) in groups {
            self.broker.publish(&topic, messages).await?;
        }
        Ok(())
    }
}

fn to_message(envelope: &Envelope) -> Message {
    let mut headers = vec![
        (
            "content-type".to_string(),
            CLOUDEVENTS_CONTENT_TYPE.to_string(),
        ),
        ("ce-specversion".to_string(), envelope.specversion.clone()),
        ("ce-id".to_string(), envelope.id.clone()),
        ("ce-type".to_string(), envelope.event_type.clone()),
        ("ce-source".to_string(), envelope.source.clone()),
    ];
    let optional = [
        ("ce-subject", &envelope.subject),
        ("ce-correlationid", &envelope.correlationid),
        ("ce-userid", &envelope.userid),
        ("ce-partitionkey", &envelope.partitionkey),
        ("traceparent", &envelope.traceparent),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            headers.push((name.to_string(), value.clone()));
        }
    }
    Message {
        key: envelope.partitionkey.clone(),
        headers,
        payload: envelope.to_json_bytes(),
    }
}
