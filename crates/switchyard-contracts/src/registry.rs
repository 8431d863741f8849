//! The event registry: every event type declared once, with its topic, kind, schema
//! version, partition key, retention, owning domain and payload schema, grouped in
//! [`EventSet`]s that each carry their naming policy and partition-key contracts.
//!
//! The registry is data plus pure functions: `check` (the catalog rules, in `rules.rs`),
//! `prepare` (publish-time validation, in `validation.rs`) and `upcast` (older versions and
//! legacy types into current events, in `upcast.rs`).

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ContractError, Envelope, Idempotency, KeyClass};

/// Whether a message announces a fact or asks for an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Something happened.
    Event,
    /// Somebody is asked to do something.
    Command,
}

/// Default `X-Max-Retries`.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default `X-Backoff-Ms`: the delay before each retry.
pub const DEFAULT_BACKOFF_MS: &[u64] = &[1000, 5000, 15000];

/// Turns an envelope of an older schema version or a legacy type into current events.
pub type UpcastFn = fn(&Envelope) -> Result<Vec<Envelope>, ContractError>;

/// One event type, declared once.
#[derive(Debug, Clone)]
pub struct EventDefinition {
    /// Name of the payload type, e.g. `EmailEvent`.
    pub name: &'static str,
    /// The CloudEvents `type`.
    pub event_type: &'static str,
    /// Event or command.
    pub kind: EventKind,
    /// The topic it travels on.
    pub topic: &'static str,
    /// Current schema version of the payload.
    pub schema_version: u32,
    /// Payload field holding the partition key (`batchId`, `user_id`, …).
    pub partition_key: &'static str,
    /// How long the topic keeps it, in days.
    pub retention_days: u32,
    /// The domain that owns it.
    pub domain: &'static str,
    /// One sentence for the catalog.
    pub description: &'static str,
    /// `X-Max-Retries` for consumers of this event.
    pub max_retries: u32,
    /// `X-Backoff-Ms`: delay before retry 1, 2, …
    pub backoff_ms: &'static [u64],
    /// For a thin event: the `event_type` of the rich event that carries the details.
    pub rich_counterpart: Option<&'static str>,
    /// Legacy types are accepted from old producers and upcast; never published anew.
    pub legacy: bool,
    /// Upcasts envelopes with an older `schemaversion` (or of a legacy type).
    pub upcast: Option<UpcastFn>,
    /// How consumers recognize an event they already handled.
    pub idempotency: Idempotency,
    /// Class of its idempotency keys and claim-check blobs (their time-to-live).
    pub key_class: KeyClass,
    schema: fn() -> schemars::Schema,
    decode: fn(&serde_json::Value) -> Result<(), ContractError>,
}

fn schema_of<T: JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(T)
}

/// Whether `data` reads as a `T`, as consumers will read it.
fn decode_as<T: DeserializeOwned>(data: &serde_json::Value) -> Result<(), ContractError> {
    serde_path_to_error::deserialize::<_, T>(data)
        .map(drop)
        .map_err(|err| ContractError::at_path("data", err))
}

impl EventDefinition {
    /// An event of payload type `T` on `topic`, owned by `domain`, version 1, partition
    /// key `user_id`, kept 7 days, standard retry headers.
    pub fn event<T: JsonSchema + DeserializeOwned>(
        name: &'static str,
        event_type: &'static str,
        topic: &'static str,
        domain: &'static str,
    ) -> Self {
        EventDefinition {
            name,
            event_type,
            kind: EventKind::Event,
            topic,
            schema_version: 1,
            partition_key: "user_id",
            retention_days: 7,
            domain,
            description: "",
            max_retries: DEFAULT_MAX_RETRIES,
            backoff_ms: DEFAULT_BACKOFF_MS,
            rich_counterpart: None,
            legacy: false,
            upcast: None,
            idempotency: Idempotency::EventId,
            key_class: KeyClass::Idempotency,
            schema: schema_of::<T>,
            decode: decode_as::<T>,
        }
    }

    /// The same, declared as a command.
    pub fn command<T: JsonSchema + DeserializeOwned>(
        name: &'static str,
        event_type: &'static str,
        topic: &'static str,
        domain: &'static str,
    ) -> Self {
        EventDefinition {
            kind: EventKind::Command,
            ..EventDefinition::event::<T>(name, event_type, topic, domain)
        }
    }

    /// Sets the schema version.
    pub fn version(mut self, schema_version: u32) -> Self {
        self.schema_version = schema_version;
        self
    }

    /// Sets the payload field that holds the partition key.
    pub fn partition_key(mut self, field: &'static str) -> Self {
        self.partition_key = field;
        self
    }

    /// Sets the retention, in days.
    pub fn retention_days(mut self, days: u32) -> Self {
        self.retention_days = days;
        self
    }

    /// Sets the catalog description.
    pub fn description(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    /// Overrides the retry headers.
    pub fn retries(mut self, max_retries: u32, backoff_ms: &'static [u64]) -> Self {
        self.max_retries = max_retries;
        self.backoff_ms = backoff_ms;
        self
    }

    /// Declares this a thin event whose details travel in `rich_event_type`.
    pub fn thin_of(mut self, rich_event_type: &'static str) -> Self {
        self.rich_counterpart = Some(rich_event_type);
        self
    }

    /// Declares a legacy type, upcast on arrival by `upcast`.
    pub fn legacy(mut self, upcast: UpcastFn) -> Self {
        self.legacy = true;
        self.upcast = Some(upcast);
        self
    }

    /// Sets the idempotency strategy and the class of its keys.
    pub fn idempotency(mut self, strategy: Idempotency, class: KeyClass) -> Self {
        self.idempotency = strategy;
        self.key_class = class;
        self
    }

    /// Declares how envelopes of older schema versions become current ones.
    pub fn upcast_with(mut self, upcast: UpcastFn) -> Self {
        self.upcast = Some(upcast);
        self
    }

    /// Whether `data` deserializes as the payload type: the schema says less than the
    /// type (`format: date-time`, the range of a `u32`), and consumers read the type.
    pub(crate) fn decode_payload(&self, data: &serde_json::Value) -> Result<(), ContractError> {
        (self.decode)(data)
    }

    /// The JSON Schema of the payload (`data`).
    pub fn payload_schema(&self) -> serde_json::Value {
        serde_json::to_value((self.schema)()).expect("a generated schema is valid JSON")
    }
}

/// How the topics of an event set are named.
#[derive(Debug, Clone)]
pub enum NamingPolicy {
    /// `{prefix}.{domain}.{…}.v{N}`: dotted lowercase segments without underscores, the
    /// owning domain second, a version last; commands `{prefix}.{domain}.{action}.command.v{N}`.
    Versioned {
        /// First segment of every topic.
        prefix: &'static str,
    },
    /// Only these snake_case data-type names.
    DataTypes(&'static [&'static str]),
    /// Dotted routing keys: two or more lowercase segments (`a-z`, `0-9`, `_`), no version.
    RoutingKeys,
}

/// A group of events with one naming policy and one set of partition-key contracts.
#[derive(Debug, Clone)]
pub struct EventSet {
    /// `office`, `identity`, `education`.
    pub name: &'static str,
    /// One sentence for the catalog.
    pub description: &'static str,
    /// How its topics are named.
    pub naming: NamingPolicy,
    /// The topics it uses; each must carry at least one event type.
    pub topics: Vec<&'static str>,
    /// Partition-key field per domain (`"command"` for every command of the set).
    pub partition_keys: Vec<(&'static str, &'static str)>,
    /// Its events.
    pub events: Vec<EventDefinition>,
}

impl EventSet {
    /// The partition-key field the contract of `definition`'s domain (or of commands) asks for.
    pub fn partition_key_contract(&self, definition: &EventDefinition) -> Option<&'static str> {
        let domain = match definition.kind {
            EventKind::Command => "command",
            EventKind::Event => definition.domain,
        };
        self.partition_keys
            .iter()
            .find(|(name, _)| *name == domain)
            .map(|(_, field)| *field)
    }
}

/// Every event set the process knows, with their compiled payload validators.
#[derive(Debug)]
pub struct Registry {
    sets: Vec<EventSet>,
    /// Per event type: the compiled payload validator, or why its schema did not compile
    /// (reported by `check` under the `schema` rule).
    validators: HashMap<&'static str, Result<jsonschema::Validator, String>>,
}

impl Registry {
    /// A registry of `sets`, with every payload schema compiled. Run [`Registry::check`]
    /// to see whether the sets follow the rules.
    pub fn new(sets: Vec<EventSet>) -> Self {
        let validators = sets
            .iter()
            .flat_map(|set| &set.events)
            .map(|event| {
                let compiled = jsonschema::validator_for(&event.payload_schema())
                    .map_err(|err| err.to_string());
                (event.event_type, compiled)
            })
            .collect();
        Registry { sets, validators }
    }

    /// The event sets shipped with Switchyard: office, identity and education.
    pub fn standard() -> Self {
        Registry::new(vec![
            crate::office_set::event_set(),
            crate::identity::event_set(),
            crate::education::event_set(),
        ])
    }

    /// The event sets.
    pub fn sets(&self) -> &[EventSet] {
        &self.sets
    }

    /// Every event with its set.
    pub fn events(&self) -> impl Iterator<Item = (&EventSet, &EventDefinition)> {
        self.sets
            .iter()
            .flat_map(|set| set.events.iter().map(move |event| (set, event)))
    }

    /// The definition of a CloudEvents `type`.
    pub fn definition(&self, event_type: &str) -> Option<&EventDefinition> {
        self.events()
            .map(|(_, event)| event)
            .find(|event| event.event_type == event_type)
    }

    /// The definition of `event_type`, or the error that names it unknown.
    pub(crate) fn require(&self, event_type: &str) -> Result<&EventDefinition, ContractError> {
        self.definition(event_type)
            .ok_or_else(|| ContractError::UnknownEventType(event_type.to_string()))
    }

    /// The compiled payload validator of `event_type`, or why there is none.
    pub(crate) fn validator(
        &self,
        event_type: &str,
    ) -> Option<&Result<jsonschema::Validator, String>> {
        self.validators.get(event_type)
    }
}

#[cfg(test)]
mod tests;
