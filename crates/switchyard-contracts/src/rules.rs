//! The catalog rules `Registry::check` enforces: naming policy per event set, no unmapped
//! events or topics, partition-key contracts, unique types, compilable payload schemas.
//! Every violation says which rule fired, on what, and how to fix it.

use std::collections::HashSet;
use std::fmt;

use serde::Serialize;

use crate::{EventDefinition, EventKind, EventSet, NamingPolicy, Registry, Topic};

/// The rule a violation breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// A topic name breaks its set's naming policy.
    Naming,
    /// An event without a declared topic, or a declared topic without an event.
    Unmapped,
    /// A partition key that is missing, off-contract or absent from the payload.
    PartitionKey,
    /// Two definitions share an event type or a name.
    Duplicate,
    /// A payload schema that does not compile, or a dangling reference.
    Schema,
}

impl Rule {
    fn as_str(self) -> &'static str {
        match self {
            Rule::Naming => "naming",
            Rule::Unmapped => "unmapped",
            Rule::PartitionKey => "partition-key",
            Rule::Duplicate => "duplicate",
            Rule::Schema => "schema",
        }
    }
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// What breaks it: an event type or a topic.
    pub subject: String,
    /// What is wrong.
    pub message: String,
    /// A suggested fix.
    pub fix: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: {} (fix: {})",
            self.rule.as_str(),
            self.subject,
            self.message,
            self.fix
        )
    }
}

fn violation(rule: Rule, subject: &str, message: String, fix: String) -> Violation {
    Violation {
        rule,
        subject: subject.to_string(),
        message,
        fix,
    }
}

impl Registry {
    /// Every rule violation of the registry, in a stable order; empty when all hold.
    pub fn check(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut types = HashSet::new();
        let mut names = HashSet::new();
        for (set, event) in self.events() {
            if !types.insert(event.event_type) {
                found.push(violation(
                    Rule::Duplicate,
                    event.event_type,
                    "event type declared twice".into(),
                    "keep one definition per event type".into(),
                ));
            }
            if !names.insert((set.name, event.name)) {
                found.push(violation(
                    Rule::Duplicate,
                    event.event_type,
                    format!("name `{}` used twice in set `{}`", event.name, set.name),
                    "give each payload type its own name".into(),
                ));
            }
            check_mapping(set, event, &mut found);
            check_partition_key(set, event, &mut found);
            if let Some(Err(reason)) = self.validator(event.event_type) {
                found.push(violation(
                    Rule::Schema,
                    event.event_type,
                    format!("payload schema does not compile: {reason}"),
                    "fix the payload type's JsonSchema derive".into(),
                ));
            }
            if let Some(rich) = event.rich_counterpart
                && self.definition(rich).is_none()
            {
                found.push(violation(
                    Rule::Schema,
                    event.event_type,
                    format!("thin event points to unknown rich event `{rich}`"),
                    "name the event type of the rich counterpart".into(),
                ));
            }
        }
        for set in self.sets() {
            for topic in &set.topics {
                if let Some(problem) = naming_problem(&set.naming, topic, None) {
                    found.push(violation(Rule::Naming, topic, problem.0, problem.1));
                }
                if !set.events.iter().any(|event| event.topic == *topic) {
                    found.push(violation(
                        Rule::Unmapped,
                        topic,
                        format!("topic of set `{}` carries no event type", set.name),
                        "declare an event on it or remove the topic".into(),
                    ));
                }
            }
        }
        found
    }
}

fn check_mapping(set: &EventSet, event: &EventDefinition, found: &mut Vec<Violation>) {
    if event.topic.is_empty() {
        found.push(violation(
            Rule::Unmapped,
            event.event_type,
            "event has no topic".into(),
            format!("set a topic declared in set `{}`", set.name),
        ));
        return;
    }
    if !set.topics.contains(&event.topic) {
        found.push(violation(
            Rule::Unmapped,
            event.event_type,
            format!(
                "topic `{}` is not declared in set `{}`",
                event.topic, set.name
            ),
            format!(
                "add `{}` to the set's topics or use a declared one",
                event.topic
            ),
        ));
    }
    if let Some((message, fix)) = naming_problem(&set.naming, event.topic, Some(event)) {
        found.push(violation(Rule::Naming, event.event_type, message, fix));
    }
}

/// What is wrong with `topic` under `policy`, as (message, fix). With `event`, also the
/// rules that depend on it (owning domain, command shape).
fn naming_problem(
    policy: &NamingPolicy,
    topic: &str,
    event: Option<&EventDefinition>,
) -> Option<(String, String)> {
    if let Err(err) = Topic::new(topic) {
        return Some((
            err.to_string(),
            "use lowercase letters, digits, `.`, `_`, `-`".into(),
        ));
    }
    let segments: Vec<&str> = topic.split('.').collect();
    match policy {
        NamingPolicy::DataTypes(allowed) => (!allowed.contains(&topic)).then(|| {
            (
                format!("`{topic}` is not one of the set's data-type topics"),
                format!("use one of: {}", allowed.join(", ")),
            )
        }),
        NamingPolicy::RoutingKeys => {
            if segments.len() < 2 || segments.iter().any(|s| s.is_empty()) {
                return Some((
                    format!("`{topic}` is not a dotted routing key"),
                    "use `{entity}.{action}` like `subscription.created`".into(),
                ));
            }
            is_version(segments[segments.len() - 1]).then(|| {
                (
                    format!("routing key `{topic}` must not carry a version"),
                    "drop the version segment; version the payload with schemaversion".into(),
                )
            })
        }
        NamingPolicy::Versioned { prefix } => versioned_problem(prefix, topic, &segments, event),
    }
}

fn is_version(segment: &str) -> bool {
    segment
        .strip_prefix('v')
        .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
}

fn versioned_problem(
    prefix: &str,
    topic: &str,
    segments: &[&str],
    event: Option<&EventDefinition>,
) -> Option<(String, String)> {
    if let Some(segment) = segments.iter().find(|s| s.contains('_')) {
        return Some((
            format!("segment `{segment}` has an underscore"),
            format!(
                "write `{}` as one word or split it with `.`",
                segment.replace('_', "")
            ),
        ));
    }
    if segments.iter().any(|s| s.is_empty() || s.contains('-')) {
        return Some((
            format!("`{topic}` has an empty or hyphenated segment"),
            "use dot-separated lowercase words".into(),
        ));
    }
    if segments[0] != prefix {
        return Some((
            format!("`{topic}` does not start with `{prefix}.`"),
            format!("name it `{prefix}.{{domain}}.{{…}}.v1`"),
        ));
    }
    let last = segments[segments.len() - 1];
    if !is_version(last) {
        return Some((
            format!("`{topic}` does not end in a version"),
            format!("append `.v1`: `{topic}.v1`"),
        ));
    }
    if segments.len() < 4 {
        return Some((
            format!("`{topic}` needs a domain and a name between prefix and version"),
            format!("name it `{prefix}.{{domain}}.{{name}}.{last}`"),
        ));
    }
    let event = event?;
    if segments[1] != event.domain {
        return Some((
            format!(
                "second segment `{}` is not the owning domain `{}`",
                segments[1], event.domain
            ),
            format!("name it `{prefix}.{}.…`", event.domain),
        ));
    }
    let is_command_shape = segments.len() == 5 && segments[3] == "command";
    match event.kind {
        EventKind::Command if !is_command_shape => Some((
            format!(
                "command topic `{topic}` is not `{prefix}.{{domain}}.{{action}}.command.{{version}}`"
            ),
            format!(
                "name it `{prefix}.{}.{{action}}.command.{last}`",
                event.domain
            ),
        )),
        EventKind::Event if segments.contains(&"command") => Some((
            format!("event topic `{topic}` contains a `command` segment"),
            "declare it as a command, or drop `command` from the name".into(),
        )),
        _ => None,
    }
}

fn check_partition_key(set: &EventSet, event: &EventDefinition, found: &mut Vec<Violation>) {
    let subject = event.event_type;
    if event.partition_key.is_empty() {
        found.push(violation(
            Rule::PartitionKey,
            subject,
            "no partition key".into(),
            "declare the payload field that orders this event".into(),
        ));
        return;
    }
    match set.partition_key_contract(event) {
        None => found.push(violation(
            Rule::PartitionKey,
            subject,
            format!(
                "set `{}` has no partition-key contract for domain `{}`",
                set.name, event.domain
            ),
            format!(
                "add (\"{}\", \"{}\") to the set's partition keys",
                event.domain, event.partition_key
            ),
        )),
        Some(contract) if contract != event.partition_key => found.push(violation(
            Rule::PartitionKey,
            subject,
            format!(
                "declares `{}` but the contract of its domain says `{contract}`",
                event.partition_key
            ),
            format!("use `.partition_key(\"{contract}\")`"),
        )),
        Some(_) => {}
    }
    let schema = event.payload_schema();
    let in_payload = crate::validation::field_variants(event.partition_key)
        .iter()
        .any(|name| schema["properties"].get(name).is_some());
    if !in_payload && !crate::validation::METADATA_KEYS.contains(&event.partition_key) {
        found.push(violation(
            Rule::PartitionKey,
            subject,
            format!(
                "partition key `{}` is not a payload field",
                event.partition_key
            ),
            format!(
                "add `{}` to `{}` or pick one of its fields",
                event.partition_key, event.name
            ),
        ));
    }
}
