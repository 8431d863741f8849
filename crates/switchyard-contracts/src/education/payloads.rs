//! Payload types of the education event set: camelCase fields, each carrying the
//! partition key of its domain, tolerant of fields they do not know.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A processing phase of the essay pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PipelinePhase {
    /// Spelling correction.
    Spellcheck,
    /// Linguistic analysis.
    Nlp,
    /// Comparative-judgement ranking.
    CjAssessment,
    /// Generated feedback to the student.
    AiFeedback,
}

/// How a batch pipeline ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PipelineOutcome {
    /// Every essay went through every phase.
    CompletedSuccessfully,
    /// The pipeline finished, but some essays failed a phase.
    CompletedWithFailures,
    /// The pipeline stopped.
    Failed,
}

/// Whether a phase succeeded for one essay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhaseStatus {
    /// The phase produced its result.
    Succeeded,
    /// The phase failed; the essay continues without its result.
    Failed,
}

/// How urgent a cost alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CostAlertSeverity {
    /// Spending passed the warning threshold.
    Warning,
    /// Spending passed the budget; further requests may be refused.
    Critical,
}

/// An essay and where its text is stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EssayTextRef {
    /// The essay.
    pub essay_id: String,
    /// Content-store id of its current text.
    pub text_storage_id: String,
}

/// Asks the spellchecker to correct every essay of a batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InitiateSpellcheckCommand {
    /// The request this command belongs to.
    pub correlation_id: String,
    /// The batch to spellcheck.
    pub batch_id: String,
    /// BCP 47 language tag of the essays, e.g. `en` or `sv`.
    pub language: String,
    /// The essays, with their texts.
    pub essays: Vec<EssayTextRef>,
}

/// A client asks to run the pipeline on a batch, up to and including a phase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunBatchPipelineCommand {
    /// The client request this command belongs to.
    pub correlation_id: String,
    /// The batch to process.
    pub batch_id: String,
    /// The user (teacher) who asked.
    pub user_id: String,
    /// The last phase to run; the phases it depends on run first.
    pub requested_pipeline: PipelinePhase,
    /// When the client asked.
    pub requested_at: DateTime<Utc>,
}

/// Every essay of a batch was uploaded and registered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchEssaysRegisteredEvent {
    /// The batch.
    pub batch_id: String,
    /// The request that created the batch.
    pub correlation_id: String,
    /// The user (teacher) who owns the batch.
    pub user_id: String,
    /// The registered essays.
    pub essay_ids: Vec<String>,
    /// When the last essay was registered.
    pub registered_at: DateTime<Utc>,
}

/// A batch went through its pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchPipelineCompletedEvent {
    /// The batch.
    pub batch_id: String,
    /// The pipeline request it answers.
    pub correlation_id: String,
    /// How it ended.
    pub outcome: PipelineOutcome,
    /// The phases that ran, in order.
    pub completed_phases: Vec<PipelinePhase>,
    /// Essays that went through every phase.
    pub successful_essay_count: u32,
    /// Essays that failed a phase.
    pub failed_essay_count: u32,
    /// When the pipeline finished.
    pub completed_at: DateTime<Utc>,
}

/// Thin event: spellchecking of one essay finished. The corrections travel in the rich
/// [`SpellcheckResultsEvent`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpellcheckPhaseCompletedEvent {
    /// The essay.
    pub essay_id: String,
    /// Its batch.
    pub batch_id: String,
    /// The spellcheck request it answers.
    pub correlation_id: String,
    /// Whether spellchecking succeeded.
    pub status: PhaseStatus,
    /// Content-store id of the corrected text, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrected_text_storage_id: Option<String>,
    /// When it finished.
    pub completed_at: DateTime<Utc>,
}

/// One spelling correction in an essay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpellingCorrection {
    /// The word as written.
    pub original: String,
    /// The word as corrected.
    pub corrected: String,
    /// Offset of the word in the original text, in characters.
    pub offset_chars: u32,
}

/// Rich event: the spelling corrections of one essay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpellcheckResultsEvent {
    /// The essay.
    pub essay_id: String,
    /// Its batch.
    pub batch_id: String,
    /// The spellcheck request it answers.
    pub correlation_id: String,
    /// BCP 47 language tag the essay was checked in.
    pub language: String,
    /// Content-store id of the corrected text.
    pub corrected_text_storage_id: String,
    /// The corrections, in text order.
    pub corrections: Vec<SpellingCorrection>,
    /// When it finished.
    pub completed_at: DateTime<Utc>,
}

/// One essay's place in a comparative-judgement ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EssayRanking {
    /// The essay.
    pub essay_id: String,
    /// Its rank, 1 being the best.
    pub rank: u32,
    /// Its estimated quality on the batch's scale.
    pub score: f64,
}

/// The comparative-judgement ranking of a batch is ready.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparisonResultEvent {
    /// The batch.
    pub batch_id: String,
    /// The pipeline request it answers.
    pub correlation_id: String,
    /// The essays, best first.
    pub rankings: Vec<EssayRanking>,
    /// How many pairwise comparisons the ranking rests on.
    pub comparison_count: u32,
    /// When the ranking was computed.
    pub completed_at: DateTime<Utc>,
}

/// An email could not be delivered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailDeliveryFailedEvent {
    /// The message that failed.
    pub message_id: String,
    /// Its recipient address.
    pub recipient: String,
    /// The template it was rendered from, e.g. `batch_results_ready`.
    pub template_id: String,
    /// Why delivery failed, as the mail provider said.
    pub failure_reason: String,
    /// Whether sending it again may succeed (soft bounce, timeout).
    pub retryable: bool,
    /// When delivery failed.
    pub failed_at: DateTime<Utc>,
}

/// A request to an LLM provider was sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmRequestStartedEvent {
    /// The LLM request.
    pub request_id: String,
    /// The job it belongs to.
    pub correlation_id: String,
    /// The user it is made for, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The provider, e.g. `anthropic` or `openai`.
    pub provider: String,
    /// The model.
    pub model: String,
    /// When it was sent.
    pub started_at: DateTime<Utc>,
}

/// An LLM provider answered a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmRequestCompletedEvent {
    /// The LLM request.
    pub request_id: String,
    /// The job it belongs to.
    pub correlation_id: String,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Tokens sent.
    pub prompt_tokens: u32,
    /// Tokens received.
    pub completion_tokens: u32,
    /// Time from sending to the full answer.
    pub latency_ms: u64,
    /// When the answer arrived.
    pub completed_at: DateTime<Utc>,
}

/// An LLM provider failed a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LlmProviderFailureEvent {
    /// The LLM request.
    pub request_id: String,
    /// The job it belongs to.
    pub correlation_id: String,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// What kind of failure, e.g. `rate_limited`, `timeout`, `server_error`.
    pub error_type: String,
    /// The provider's message.
    pub error_message: String,
    /// Which attempt failed, 1 for the first.
    pub attempt: u32,
    /// Whether a retry may succeed.
    pub retryable: bool,
    /// When it failed.
    pub failed_at: DateTime<Utc>,
}

/// A user's LLM usage over one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageAnalyticsEvent {
    /// The user.
    pub user_id: String,
    /// Start of the period, inclusive.
    pub period_start: DateTime<Utc>,
    /// End of the period, exclusive.
    pub period_end: DateTime<Utc>,
    /// LLM requests made.
    pub request_count: u64,
    /// Tokens sent.
    pub prompt_tokens: u64,
    /// Tokens received.
    pub completion_tokens: u64,
    /// What they cost, in millionths of a US dollar.
    pub cost_micro_usd: u64,
}

/// A user's LLM spending passed a threshold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostAlertEvent {
    /// The user.
    pub user_id: String,
    /// Warning or critical.
    pub severity: CostAlertSeverity,
    /// The threshold passed, in millionths of a US dollar.
    pub threshold_micro_usd: u64,
    /// Spent so far in the period, in millionths of a US dollar.
    pub spent_micro_usd: u64,
    /// Start of the budget period.
    pub period_start: DateTime<Utc>,
    /// When the threshold was passed.
    pub raised_at: DateTime<Utc>,
}

/// The cost of one LLM request was recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostTrackingEvent {
    /// The user it is charged to.
    pub user_id: String,
    /// The LLM request.
    pub request_id: String,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Tokens sent.
    pub prompt_tokens: u32,
    /// Tokens received.
    pub completion_tokens: u32,
    /// What it cost, in millionths of a US dollar.
    pub cost_micro_usd: u64,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A subscription hit one of its rate limits; the request was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitExceededEvent {
    /// The subscription whose limit it is.
    pub subscription_id: String,
    /// The user who made the refused request.
    pub user_id: String,
    /// The limit, e.g. `llm_requests`.
    pub limit_name: String,
    /// Requests allowed per window.
    pub limit: u64,
    /// Requests seen in the current window, the refused one included.
    pub observed: u64,
    /// Length of the window.
    pub window_secs: u64,
    /// When the next request will be allowed.
    pub retry_after_secs: u64,
    /// When the request was refused.
    pub exceeded_at: DateTime<Utc>,
}
