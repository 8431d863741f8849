//! The education event set (HuleEdu): essay batches through their processing pipeline,
//! spellchecking, comparative judgement, LLM calls, their cost, email delivery and rate
//! limits, on Kafka-style topics `huleedu.{domain}.{…}.v{N}`.
//!
//! Commands are named `huleedu.{domain}.{action}.command.v{N}` and partitioned by
//! `correlationId`; events by the key of their owning domain (see `PARTITION_KEYS`). The
//! CloudEvents `type` of every event is its topic name. Payloads use camelCase fields,
//! carry their partition key, and accept fields they do not know, so producers may add
//! fields without breaking consumers.

mod payloads;

pub use payloads::{
    BatchEssaysRegisteredEvent, BatchPipelineCompletedEvent, ComparisonResultEvent, CostAlertEvent,
    CostAlertSeverity, CostTrackingEvent, EmailDeliveryFailedEvent, EssayRanking, EssayTextRef,
    InitiateSpellcheckCommand, LlmProviderFailureEvent, LlmRequestCompletedEvent,
    LlmRequestStartedEvent, PhaseStatus, PipelineOutcome, PipelinePhase, RateLimitExceededEvent,
    RunBatchPipelineCommand, SpellcheckPhaseCompletedEvent, SpellcheckResultsEvent,
    SpellingCorrection, UsageAnalyticsEvent,
};

use crate::{EventDefinition, EventSet, Idempotency, KeyClass, NamingPolicy};

/// First segment of every education topic.
pub const PREFIX: &str = "huleedu";

/// Topic (and event type) of [`InitiateSpellcheckCommand`].
pub const INITIATE_SPELLCHECK: &str = "huleedu.batch.initiatespellcheck.command.v1";
/// Topic (and event type) of [`RunBatchPipelineCommand`].
pub const RUN_BATCH_PIPELINE: &str = "huleedu.batch.runpipeline.command.v1";
/// Topic (and event type) of [`BatchEssaysRegisteredEvent`].
pub const BATCH_ESSAYS_REGISTERED: &str = "huleedu.batch.essays.registered.v1";
/// Topic (and event type) of [`BatchPipelineCompletedEvent`].
pub const BATCH_PIPELINE_COMPLETED: &str = "huleedu.batch.pipeline.completed.v1";
/// Topic (and event type) of [`SpellcheckPhaseCompletedEvent`], the thin event.
pub const SPELLCHECK_PHASE_COMPLETED: &str = "huleedu.essay.spellcheck.completed.v1";
/// Topic (and event type) of [`SpellcheckResultsEvent`], the rich event.
pub const SPELLCHECK_RESULTS: &str = "huleedu.essay.spellcheck.results.v1";
/// Topic (and event type) of [`ComparisonResultEvent`].
pub const COMPARISON_RESULT: &str = "huleedu.comparison.results.ready.v1";
/// Topic (and event type) of [`EmailDeliveryFailedEvent`].
pub const EMAIL_DELIVERY_FAILED: &str = "huleedu.email.delivery.failed.v1";
/// Topic (and event type) of [`LlmRequestStartedEvent`].
pub const LLM_REQUEST_STARTED: &str = "huleedu.llm.request.started.v1";
/// Topic (and event type) of [`LlmRequestCompletedEvent`].
pub const LLM_REQUEST_COMPLETED: &str = "huleedu.llm.request.completed.v1";
/// Topic (and event type) of [`LlmProviderFailureEvent`].
pub const LLM_PROVIDER_FAILED: &str = "huleedu.llm.provider.failed.v1";
/// Topic (and event type) of [`UsageAnalyticsEvent`].
pub const USAGE_ANALYTICS: &str = "huleedu.cost.usage.analytics.v1";
/// Topic (and event type) of [`CostAlertEvent`].
pub const COST_ALERT: &str = "huleedu.cost.alert.raised.v1";
/// Topic (and event type) of [`CostTrackingEvent`].
pub const COST_TRACKING: &str = "huleedu.cost.request.tracked.v1";
/// Topic (and event type) of [`RateLimitExceededEvent`].
pub const RATE_LIMIT_EXCEEDED: &str = "huleedu.entitlements.ratelimit.exceeded.v1";

/// The partition-key field of each domain; `command` applies to every command.
pub const PARTITION_KEYS: &[(&str, &str)] = &[
    ("command", "correlationId"),
    ("batch", "batchId"),
    ("essay", "essayId"),
    ("comparison", "batchId"),
    ("email", "messageId"),
    ("llm", "requestId"),
    ("cost", "userId"),
    ("entitlements", "subscriptionId"),
];

/// Commands on a batch run once per batch and request.
const BATCH_OPERATION: Idempotency = Idempotency::Batch { batch: "batchId" };

/// The education event set.
pub fn event_set() -> EventSet {
    let events = vec![
        EventDefinition::command::<InitiateSpellcheckCommand>(
            "InitiateSpellcheckCommand",
            INITIATE_SPELLCHECK,
            INITIATE_SPELLCHECK,
            "batch",
        )
        .partition_key("correlationId")
        .retention_days(3)
        .idempotency(BATCH_OPERATION, KeyClass::Batch)
        .description("Asks the spellchecker to correct every essay of a batch."),
        EventDefinition::command::<RunBatchPipelineCommand>(
            "RunBatchPipelineCommand",
            RUN_BATCH_PIPELINE,
            RUN_BATCH_PIPELINE,
            "batch",
        )
        .partition_key("correlationId")
        .retention_days(3)
        .idempotency(BATCH_OPERATION, KeyClass::Batch)
        .description("A client asks to run the pipeline on a batch, up to and including a phase."),
        EventDefinition::event::<BatchEssaysRegisteredEvent>(
            "BatchEssaysRegisteredEvent",
            BATCH_ESSAYS_REGISTERED,
            BATCH_ESSAYS_REGISTERED,
            "batch",
        )
        .partition_key("batchId")
        .retention_days(14)
        .description("Every essay of a batch was uploaded and registered."),
        EventDefinition::event::<BatchPipelineCompletedEvent>(
            "BatchPipelineCompletedEvent",
            BATCH_PIPELINE_COMPLETED,
            BATCH_PIPELINE_COMPLETED,
            "batch",
        )
        .partition_key("batchId")
        .retention_days(14)
        .description("A batch went through its pipeline, successfully or not."),
        EventDefinition::event::<SpellcheckPhaseCompletedEvent>(
            "SpellcheckPhaseCompletedEvent",
            SPELLCHECK_PHASE_COMPLETED,
            SPELLCHECK_PHASE_COMPLETED,
            "essay",
        )
        .partition_key("essayId")
        .retention_days(7)
        .thin_of(SPELLCHECK_RESULTS)
        .description(
            "Spellchecking of one essay finished; the corrections are in the results event.",
        ),
        EventDefinition::event::<SpellcheckResultsEvent>(
            "SpellcheckResultsEvent",
            SPELLCHECK_RESULTS,
            SPELLCHECK_RESULTS,
            "essay",
        )
        .partition_key("essayId")
        .retention_days(30)
        .description("The spelling corrections of one essay."),
        EventDefinition::event::<ComparisonResultEvent>(
            "ComparisonResultEvent",
            COMPARISON_RESULT,
            COMPARISON_RESULT,
            "comparison",
        )
        .partition_key("batchId")
        .retention_days(30)
        .description("The comparative-judgement ranking of a batch is ready."),
        EventDefinition::event::<EmailDeliveryFailedEvent>(
            "EmailDeliveryFailedEvent",
            EMAIL_DELIVERY_FAILED,
            EMAIL_DELIVERY_FAILED,
            "email",
        )
        .partition_key("messageId")
        .retention_days(14)
        .description("An email could not be delivered."),
        EventDefinition::event::<LlmRequestStartedEvent>(
            "LlmRequestStartedEvent",
            LLM_REQUEST_STARTED,
            LLM_REQUEST_STARTED,
            "llm",
        )
        .partition_key("requestId")
        .retention_days(7)
        .description("A request to an LLM provider was sent."),
        EventDefinition::event::<LlmRequestCompletedEvent>(
            "LlmRequestCompletedEvent",
            LLM_REQUEST_COMPLETED,
            LLM_REQUEST_COMPLETED,
            "llm",
        )
        .partition_key("requestId")
        .retention_days(7)
        .description("An LLM provider answered a request."),
        EventDefinition::event::<LlmProviderFailureEvent>(
            "LlmProviderFailureEvent",
            LLM_PROVIDER_FAILED,
            LLM_PROVIDER_FAILED,
            "llm",
        )
        .partition_key("requestId")
        .retention_days(7)
        .description("An LLM provider failed a request."),
        EventDefinition::event::<UsageAnalyticsEvent>(
            "UsageAnalyticsEvent",
            USAGE_ANALYTICS,
            USAGE_ANALYTICS,
            "cost",
        )
        .partition_key("userId")
        .retention_days(30)
        .description("A user's LLM usage and its cost over one period."),
        EventDefinition::event::<CostAlertEvent>("CostAlertEvent", COST_ALERT, COST_ALERT, "cost")
            .partition_key("userId")
            .retention_days(30)
            .description("A user's LLM spending passed a warning or budget threshold."),
        EventDefinition::event::<CostTrackingEvent>(
            "CostTrackingEvent",
            COST_TRACKING,
            COST_TRACKING,
            "cost",
        )
        .partition_key("userId")
        .retention_days(30)
        .description("The cost of one LLM request was recorded."),
        EventDefinition::event::<RateLimitExceededEvent>(
            "RateLimitExceededEvent",
            RATE_LIMIT_EXCEEDED,
            RATE_LIMIT_EXCEEDED,
            "entitlements",
        )
        .partition_key("subscriptionId")
        .retention_days(7)
        .description("A subscription hit one of its rate limits; the request was refused."),
    ];
    EventSet {
        name: "education",
        description: "HuleEdu essay processing, LLM usage and cost, on versioned `huleedu.` topics.",
        naming: NamingPolicy::Versioned { prefix: PREFIX },
        topics: events.iter().map(|event| event.topic).collect(),
        partition_keys: PARTITION_KEYS.to_vec(),
        events,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use serde_json::{Value, json};

    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().expect("test timestamps are RFC 3339")
    }

    /// A valid payload of each event type of the set.
    fn example(event_type: &str) -> Value {
        let now = at("2025-03-01T10:00:00Z");
        let value = match event_type {
            INITIATE_SPELLCHECK => serde_json::to_value(InitiateSpellcheckCommand {
                correlation_id: "c-1".into(),
                batch_id: "b-1".into(),
                language: "en".into(),
                essays: vec![EssayTextRef {
                    essay_id: "e-1".into(),
                    text_storage_id: "s-1".into(),
                }],
            }),
            RUN_BATCH_PIPELINE => serde_json::to_value(RunBatchPipelineCommand {
                correlation_id: "c-1".into(),
                batch_id: "b-1".into(),
                user_id: "u-1".into(),
                requested_pipeline: PipelinePhase::CjAssessment,
                requested_at: now,
            }),
            BATCH_ESSAYS_REGISTERED => serde_json::to_value(BatchEssaysRegisteredEvent {
                batch_id: "b-1".into(),
                correlation_id: "c-1".into(),
                user_id: "u-1".into(),
                essay_ids: vec!["e-1".into(), "e-2".into()],
                registered_at: now,
            }),
            BATCH_PIPELINE_COMPLETED => serde_json::to_value(BatchPipelineCompletedEvent {
                batch_id: "b-1".into(),
                correlation_id: "c-1".into(),
                outcome: PipelineOutcome::CompletedWithFailures,
                completed_phases: vec![PipelinePhase::Spellcheck, PipelinePhase::CjAssessment],
                successful_essay_count: 1,
                failed_essay_count: 1,
                completed_at: now,
            }),
            SPELLCHECK_PHASE_COMPLETED => serde_json::to_value(SpellcheckPhaseCompletedEvent {
                essay_id: "e-1".into(),
                batch_id: "b-1".into(),
                correlation_id: "c-1".into(),
                status: PhaseStatus::Succeeded,
                corrected_text_storage_id: Some("s-2".into()),
                completed_at: now,
            }),
            SPELLCHECK_RESULTS => serde_json::to_value(SpellcheckResultsEvent {
                essay_id: "e-1".into(),
                batch_id: "b-1".into(),
                correlation_id: "c-1".into(),
                language: "en".into(),
                corrected_text_storage_id: "s-2".into(),
                corrections: vec![SpellingCorrection {
                    original: "recieve".into(),
                    corrected: "receive".into(),
                    offset_chars: 42,
                }],
                completed_at: now,
            }),
            COMPARISON_RESULT => serde_json::to_value(ComparisonResultEvent {
                batch_id: "b-1".into(),
                correlation_id: "c-1".into(),
                rankings: vec![EssayRanking {
                    essay_id: "e-2".into(),
                    rank: 1,
                    score: 1.25,
                }],
                comparison_count: 40,
                completed_at: now,
            }),
            EMAIL_DELIVERY_FAILED => serde_json::to_value(EmailDeliveryFailedEvent {
                message_id: "m-1".into(),
                recipient: "teacher@example.com".into(),
                template_id: "batch_results_ready".into(),
                failure_reason: "mailbox full".into(),
                retryable: true,
                failed_at: now,
            }),
            LLM_REQUEST_STARTED => serde_json::to_value(LlmRequestStartedEvent {
                request_id: "r-1".into(),
                correlation_id: "c-1".into(),
                user_id: Some("u-1".into()),
                provider: "anthropic".into(),
                model: "claude-sonnet".into(),
                started_at: now,
            }),
            LLM_REQUEST_COMPLETED => serde_json::to_value(LlmRequestCompletedEvent {
                request_id: "r-1".into(),
                correlation_id: "c-1".into(),
                provider: "anthropic".into(),
                model: "claude-sonnet".into(),
                prompt_tokens: 1200,
                completion_tokens: 300,
                latency_ms: 2100,
                completed_at: now,
            }),
            LLM_PROVIDER_FAILED => serde_json::to_value(LlmProviderFailureEvent {
                request_id: "r-1".into(),
                correlation_id: "c-1".into(),
                provider: "openai".into(),
                model: "gpt-4o".into(),
                error_type: "rate_limited".into(),
                error_message: "429 Too Many Requests".into(),
                attempt: 1,
                retryable: true,
                failed_at: now,
            }),
            USAGE_ANALYTICS => serde_json::to_value(UsageAnalyticsEvent {
                user_id: "u-1".into(),
                period_start: at("2025-03-01T00:00:00Z"),
                period_end: at("2025-03-02T00:00:00Z"),
                request_count: 12,
                prompt_tokens: 14_000,
                completion_tokens: 3_000,
                cost_micro_usd: 87_000,
            }),
            COST_ALERT => serde_json::to_value(CostAlertEvent {
                user_id: "u-1".into(),
                severity: CostAlertSeverity::Warning,
                threshold_micro_usd: 5_000_000,
                spent_micro_usd: 5_100_000,
                period_start: at("2025-03-01T00:00:00Z"),
                raised_at: now,
            }),
            COST_TRACKING => serde_json::to_value(CostTrackingEvent {
                user_id: "u-1".into(),
                request_id: "r-1".into(),
                provider: "anthropic".into(),
                model: "claude-sonnet".into(),
                prompt_tokens: 1200,
                completion_tokens: 300,
                cost_micro_usd: 8_100,
                recorded_at: now,
            }),
            RATE_LIMIT_EXCEEDED => serde_json::to_value(RateLimitExceededEvent {
                subscription_id: "sub-1".into(),
                user_id: "u-1".into(),
                limit_name: "llm_requests".into(),
                limit: 100,
                observed: 101,
                window_secs: 3600,
                retry_after_secs: 120,
                exceeded_at: now,
            }),
            other => panic!("no example for `{other}`"),
        };
        value.expect("payloads serialize")
    }

    fn definition(event_type: &str) -> EventDefinition {
        event_set()
            .events
            .into_iter()
            .find(|definition| definition.event_type == event_type)
            .expect("the event type is in the set")
    }

    fn is_valid(schema: &Value, value: &Value) -> bool {
        jsonschema::validator_for(schema)
            .expect("schemas compile")
            .is_valid(value)
    }

    #[test]
    fn examples_validate_and_lose_validity_without_their_partition_key() {
        for definition in event_set().events {
            let schema = definition.payload_schema();
            let mut payload = example(definition.event_type);
            assert!(is_valid(&schema, &payload), "{}", definition.event_type);
            payload
                .as_object_mut()
                .unwrap()
                .remove(definition.partition_key);
            assert!(!is_valid(&schema, &payload), "{}", definition.event_type);
        }
    }

    #[test]
    fn nested_and_enum_fields_are_checked_and_unknown_fields_tolerated() {
        let schema = definition(SPELLCHECK_RESULTS).payload_schema();
        let mut payload = example(SPELLCHECK_RESULTS);
        payload["corrections"][0]
            .as_object_mut()
            .unwrap()
            .remove("offsetChars");
        assert!(!is_valid(&schema, &payload));

        let schema = definition(BATCH_PIPELINE_COMPLETED).payload_schema();
        let mut payload = example(BATCH_PIPELINE_COMPLETED);
        payload["outcome"] = json!("exploded");
        assert!(!is_valid(&schema, &payload));

        let mut payload = example(BATCH_PIPELINE_COMPLETED);
        payload["durationMs"] = json!(5000);
        assert!(is_valid(&schema, &payload));
        let decoded: BatchPipelineCompletedEvent = serde_json::from_value(payload).unwrap();
        assert_eq!(decoded.batch_id, "b-1");
    }

    #[test]
    fn the_thin_spellcheck_event_points_to_its_rich_counterpart() {
        let thin = definition(SPELLCHECK_PHASE_COMPLETED);
        assert_eq!(thin.rich_counterpart, Some(SPELLCHECK_RESULTS));
        assert_eq!(definition(SPELLCHECK_RESULTS).domain, thin.domain);
    }
}
