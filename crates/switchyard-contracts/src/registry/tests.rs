//! Registry tests: the rules on a bad set, publish-time validation, headers and upcasting.

use chrono::Utc;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::headers;
use crate::office_set::{EmailBackfillEvent, LEGACY_EMAIL_BACKFILL_TYPE};
use crate::*;

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct BatchPayload {
    batch_id: String,
    essay_count: u32,
}

fn set_with(topics: Vec<&'static str>, events: Vec<EventDefinition>) -> EventSet {
    EventSet {
        name: "test",
        description: "",
        naming: NamingPolicy::Versioned { prefix: "huleedu" },
        topics,
        partition_keys: vec![("batch", "batchId"), ("command", "correlationId")],
        events,
    }
}

fn batch_event(topic: &'static str) -> EventDefinition {
    EventDefinition::event::<BatchPayload>("BatchRegistered", topic, topic, "batch")
        .partition_key("batchId")
}

/// The violations of a one-event set, as (rule, message) pairs.
fn check(topics: Vec<&'static str>, event: EventDefinition) -> Vec<(Rule, String)> {
    Registry::new(vec![set_with(topics, vec![event])])
        .check()
        .into_iter()
        .map(|v| {
            (
                v.rule,
                format!("{}: {} (fix: {})", v.subject, v.message, v.fix),
            )
        })
        .collect()
}

fn assert_fires(found: &[(Rule, String)], rule: Rule, needle: &str) {
    assert!(
        found
            .iter()
            .any(|(r, message)| *r == rule && message.contains(needle)),
        "expected {rule:?} mentioning `{needle}`, got {found:#?}"
    );
}

#[test]
fn shipped_sets_pass_every_rule() {
    let registry = Registry::standard();
    let violations = registry.check();
    assert!(
        violations.is_empty(),
        "{:#?}",
        violations
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    );
    assert_eq!(registry.sets().len(), 3);
}

#[test]
fn a_good_event_passes() {
    assert_eq!(
        check(
            vec!["huleedu.batch.registered.v1"],
            batch_event("huleedu.batch.registered.v1")
        ),
        []
    );
}

#[test]
fn underscore_segments_are_refused() {
    let topic = "huleedu.batch.essays_registered.v1";
    let found = check(vec![topic], batch_event(topic));
    assert_fires(
        &found,
        Rule::Naming,
        "segment `essays_registered` has an underscore",
    );
    assert_fires(&found, Rule::Naming, "essaysregistered");
}

#[test]
fn missing_versions_are_refused() {
    let topic = "huleedu.batch.registered";
    assert_fires(
        &check(vec![topic], batch_event(topic)),
        Rule::Naming,
        "does not end in a version",
    );
}

#[test]
fn commands_must_have_the_command_shape() {
    let topic = "huleedu.batch.spellcheck.initiate.v1";
    let command = EventDefinition::command::<BatchPayload>("Initiate", topic, topic, "batch")
        .partition_key("correlationId");
    assert_fires(&check(vec![topic], command), Rule::Naming, ".command.");
}

#[test]
fn the_owning_domain_is_the_second_segment() {
    let topic = "huleedu.essay.registered.v1";
    assert_fires(
        &check(vec![topic], batch_event(topic)),
        Rule::Naming,
        "not the owning domain `batch`",
    );
}

#[test]
fn unmapped_events_and_topics_are_refused() {
    let found = check(
        vec!["huleedu.batch.other.v1"],
        batch_event("huleedu.batch.registered.v1"),
    );
    assert_fires(
        &found,
        Rule::Unmapped,
        "topic `huleedu.batch.registered.v1` is not declared",
    );
    assert_fires(
        &found,
        Rule::Unmapped,
        "huleedu.batch.other.v1: topic of set `test` carries no event type",
    );
    let no_topic =
        EventDefinition::event::<BatchPayload>("Lost", "huleedu.batch.lost.v1", "", "batch")
            .partition_key("batchId");
    assert_fires(
        &check(vec![], no_topic),
        Rule::Unmapped,
        "event has no topic",
    );
}

#[test]
fn partition_keys_follow_the_domain_contract() {
    let topic = "huleedu.batch.registered.v1";
    let none = batch_event(topic).partition_key("");
    assert_fires(
        &check(vec![topic], none),
        Rule::PartitionKey,
        "no partition key",
    );
    let off_contract = batch_event(topic).partition_key("essayCount");
    assert_fires(
        &check(vec![topic], off_contract),
        Rule::PartitionKey,
        "contract of its domain says `batchId`",
    );
    let absent = EventDefinition::event::<BatchPayload>(
        "X",
        "huleedu.cost.alert.v1",
        "huleedu.cost.alert.v1",
        "cost",
    )
    .partition_key("costId");
    let found = check(vec!["huleedu.cost.alert.v1"], absent);
    assert_fires(
        &found,
        Rule::PartitionKey,
        "no partition-key contract for domain `cost`",
    );
    assert_fires(
        &found,
        Rule::PartitionKey,
        "`costId` is not a payload field",
    );
}

#[test]
fn duplicate_types_are_refused() {
    let topic = "huleedu.batch.registered.v1";
    let set = set_with(vec![topic], vec![batch_event(topic), batch_event(topic)]);
    let found = Registry::new(vec![set]).check();
    assert!(found.iter().any(|v| v.rule == Rule::Duplicate), "{found:?}");
}

fn email_envelope() -> Envelope {
    let item = Email {
        id: "<1@x>".into(),
        subject: "hello".into(),
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
    .to_envelope("/test", "job-1")
    .unwrap()
}

#[test]
fn prepare_builds_topic_key_and_standard_headers() {
    let registry = Registry::standard();
    let envelope = email_envelope();
    let outbound = registry.prepare(&envelope).unwrap();
    assert_eq!(outbound.topic, "emails");
    assert_eq!(outbound.partition_key, "alice");
    let header = |name: &str| {
        outbound
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header(headers::CORRELATION_ID), Some("job-1"));
    // The event's own key: equal for the same effect, whatever the envelope id.
    let key = header(headers::IDEMPOTENCY_KEY).unwrap();
    let (topic, rest) = key.split_once(':').unwrap();
    let (hex, version) = rest.rsplit_once(':').unwrap();
    assert_eq!((topic, version, hex.len()), ("emails", "1", 64), "{key}");
    let again = Envelope {
        id: "another-envelope-id".into(),
        ..envelope.clone()
    };
    let key_of = |envelope: &Envelope| {
        registry
            .prepare(envelope)
            .unwrap()
            .headers
            .into_iter()
            .find(|(n, _)| n == headers::IDEMPOTENCY_KEY)
            .unwrap()
            .1
    };
    assert_eq!(key_of(&again), key);
    let mut other_item = envelope.clone();
    other_item.data.as_mut().unwrap()["item"]["id"] = "another-email".into();
    assert_ne!(key_of(&other_item), key);
    assert_eq!(header(headers::RETRY_COUNT), Some("0"));
    assert_eq!(header(headers::MAX_RETRIES), Some("3"));
    assert_eq!(header(headers::BACKOFF_MS), Some("1000,5000,15000"));
    assert_eq!(
        header(headers::ORIGINAL_TIMESTAMP),
        Some(envelope.time.unwrap().to_rfc3339().as_str())
    );
    assert_eq!(
        header(headers::TRACEPARENT),
        envelope.traceparent.as_deref()
    );
    assert_eq!(header("ce-id"), Some(envelope.id.as_str()));
    assert_eq!(header("ce-type"), Some("switchyard.office.email"));
}

#[test]
fn per_event_retry_overrides_reach_the_headers() {
    let registry = Registry::standard();
    let (_, overridden) = registry
        .events()
        .find(|(_, event)| event.backoff_ms != DEFAULT_BACKOFF_MS)
        .expect("the shipped sets override at least one retry policy");
    assert_ne!(overridden.backoff_ms, DEFAULT_BACKOFF_MS);
}

#[test]
fn prepare_names_the_cause_of_a_refusal() {
    let registry = Registry::standard();
    let mut no_key = email_envelope();
    no_key.data.as_mut().unwrap()["user_id"] = json!("");
    no_key.userid = None;
    no_key.partitionkey = None;
    let err = registry.prepare(&no_key).unwrap_err();
    assert!(
        matches!(&err, ContractError::MissingPartitionKey { field, .. } if field == "user_id"),
        "{err}"
    );
    assert!(err.to_string().contains("switchyard.office.email"), "{err}");

    let mut bad_schema = email_envelope();
    bad_schema.data.as_mut().unwrap()["operation"] = json!("explode");
    assert_eq!(
        registry.prepare(&bad_schema).unwrap_err().field(),
        Some("data.operation")
    );

    let mut missing = email_envelope();
    missing
        .data
        .as_mut()
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove("sync_type");
    assert_eq!(
        registry.prepare(&missing).unwrap_err().field(),
        Some("data.sync_type")
    );

    let mut huge = email_envelope();
    huge.data.as_mut().unwrap()["item"]["body_text"] = json!("x".repeat(MAX_PAYLOAD_BYTES));
    let err = registry.prepare(&huge).unwrap_err();
    assert!(
        matches!(err, ContractError::PayloadTooLarge { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("262144"), "{err}");

    let unknown = Envelope::new("com.example.unknown", "/t", json!({}));
    assert!(matches!(
        registry.prepare(&unknown),
        Err(ContractError::UnknownEventType(_))
    ));
}

#[test]
fn the_key_falls_back_to_metadata() {
    let topic = "huleedu.batch.initiate.command.v1";
    let command = EventDefinition::command::<BatchPayload>("Initiate", topic, topic, "batch")
        .partition_key("correlationId");
    let registry = Registry::new(vec![set_with(vec![topic], vec![command])]);
    assert_eq!(registry.check(), []);
    let mut envelope = Envelope::new(topic, "/t", json!({"batchId": "b1", "essayCount": 3}));
    envelope.correlationid = Some("corr-7".into());
    assert_eq!(registry.prepare(&envelope).unwrap().partition_key, "corr-7");
    envelope.correlationid = None;
    let err = registry.prepare(&envelope).unwrap_err();
    assert!(
        matches!(&err, ContractError::MissingPartitionKey { field, .. } if field == "correlationId"),
        "{err}"
    );
}

#[test]
fn legacy_email_backfill_upcasts_to_email_events() {
    let registry = Registry::standard();
    let emails = vec![
        Email {
            id: "<a@x>".into(),
            subject: "first".into(),
            ..Email::default()
        },
        Email {
            id: "<b@x>".into(),
            subject: "second".into(),
            ..Email::default()
        },
    ];
    let legacy = EmailBackfillEvent {
        batch_id: "b-9".into(),
        user_id: "alice".into(),
        provider: "gmail".into(),
        sync_timestamp: Utc::now(),
        emails,
    };
    let mut envelope = Envelope::new(
        LEGACY_EMAIL_BACKFILL_TYPE,
        "/legacy",
        serde_json::to_value(&legacy).unwrap(),
    );
    envelope.correlationid = Some("job-3".into());
    registry
        .prepare(&envelope)
        .expect("old producers may still publish it");
    let upcast = registry.upcast(envelope.clone()).unwrap();
    assert_eq!(upcast.len(), 2);
    let again = registry.upcast(envelope.clone()).unwrap();
    assert_eq!(upcast[0].id, again[0].id, "upcasting must be deterministic");
    for (event, subject) in upcast.iter().zip(["first", "second"]) {
        let AnyOfficeEvent::Email(email) = decode_office_event(event).unwrap() else {
            panic!("not an email")
        };
        assert_eq!(email.item.subject, subject);
        assert_eq!(email.batch_id, "b-9");
        assert_eq!(event.correlationid.as_deref(), Some("job-3"));
        registry.prepare(event).unwrap();
    }
    let current = email_envelope();
    assert_eq!(registry.upcast(current.clone()).unwrap(), vec![current]);
}

#[derive(Serialize, Deserialize, JsonSchema)]
struct GreetingV2 {
    user_id: String,
    full_name: String,
}

/// Version 1 called the field `name`.
fn greeting_v1_to_v2(envelope: &Envelope) -> Result<Vec<Envelope>, ContractError> {
    let mut upgraded = envelope.clone();
    let data = upgraded.data.as_mut().ok_or(ContractError::MissingField {
        field: "data".into(),
    })?;
    let name = data
        .as_object_mut()
        .and_then(|map| map.remove("name"))
        .unwrap_or_default();
    data["full_name"] = name;
    upgraded.schemaversion = Some(2);
    Ok(vec![upgraded])
}

#[test]
fn older_schema_versions_are_upcast_for_consumers() {
    let greeting =
        EventDefinition::event::<GreetingV2>("Greeting", "test.greeting", "greetings", "office")
            .version(2)
            .upcast_with(greeting_v1_to_v2);
    let set = EventSet {
        name: "test",
        description: "",
        naming: NamingPolicy::DataTypes(&["greetings"]),
        topics: vec!["greetings"],
        partition_keys: vec![("office", "user_id")],
        events: vec![greeting],
    };
    let registry = Registry::new(vec![set]);
    assert_eq!(registry.check(), []);
    let mut old = Envelope::new(
        "test.greeting",
        "/t",
        json!({"user_id": "u", "name": "Ada"}),
    );
    old.schemaversion = Some(1);
    assert!(
        registry.prepare(&old).is_err(),
        "old versions are not published anew"
    );
    let upcast = registry.upcast(old).unwrap();
    assert_eq!(upcast[0].data.as_ref().unwrap()["full_name"], "Ada");
    registry.prepare(&upcast[0]).unwrap();
}
