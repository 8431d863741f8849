//! The identity event set: account, subscription and project events published on the
//! RabbitMQ topic exchange [`EXCHANGE`], where each topic is a routing key and the
//! CloudEvents `type` is that same routing key.
//!
//! Two partition-key contracts: `identity` events are ordered per user (`user_id`),
//! `entitlements` events per subscription (`subscription_id`). Payloads use snake_case
//! fields and accept fields they do not know, so producers may add fields without
//! breaking consumers.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{EventDefinition, EventSet, NamingPolicy};

/// The RabbitMQ topic exchange the identity events are published to.
pub const EXCHANGE: &str = "smap.events";

/// Routing key (and event type) of [`EmailVerificationPayload`].
pub const EMAIL_VERIFICATION_REQUESTED: &str = "email.verification.requested";
/// Routing key (and event type) of [`SubscriptionCreatedPayload`].
pub const SUBSCRIPTION_CREATED: &str = "subscription.created";
/// Routing key (and event type) of [`SubscriptionCancelledPayload`].
pub const SUBSCRIPTION_CANCELLED: &str = "subscription.cancelled";
/// Routing key (and event type) of [`SubscriptionStatusChangedPayload`].
pub const SUBSCRIPTION_STATUS_CHANGED: &str = "subscription.status_changed";
/// Routing key (and event type) of [`ProjectCreatedPayload`].
pub const PROJECT_CREATED: &str = "project.created";

/// Domain of account and project events, partitioned by `user_id`.
const IDENTITY: &str = "identity";
/// Domain of subscription events, partitioned by `subscription_id`.
const ENTITLEMENTS: &str = "entitlements";

/// The mailer retries a verification email three times, 1 s, 2 s then 4 s apart, then
/// dead-letters it: the code expires soon, so a late email is worth little, and the user
/// can ask for a new code sooner than a long retry schedule would deliver this one.
const VERIFICATION_BACKOFF_MS: &[u64] = &[1000, 2000, 4000];

/// Where a subscription stands in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In a free trial.
    Trialing,
    /// Paid and in good standing.
    Active,
    /// A payment failed; access continues during the grace period.
    PastDue,
    /// Cancelled by the user or an operator; may run until the paid period ends.
    Cancelled,
    /// Ended: no access.
    Expired,
}

/// A user asked to verify an email address; the mailer sends the one-time code.
///
/// The code is a secret, which is why the topic keeps these events for one day only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EmailVerificationPayload {
    /// The user whose address is being verified.
    pub user_id: String,
    /// The address to send the code to.
    pub recipient: String,
    /// The one-time code the user must enter.
    pub otp_code: String,
    /// Language of the email: `en` or `vi` (a BCP 47 tag; the mailer reads its primary
    /// language subtag, so `vi-VN` is `vi`, and sends any other language in `en`).
    pub locale: String,
    /// When the code stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// A subscription was created, possibly starting with a trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionCreatedPayload {
    /// The new subscription.
    pub subscription_id: String,
    /// Who subscribed.
    pub user_id: String,
    /// The plan subscribed to, e.g. `pro_monthly`.
    pub plan_code: String,
    /// The status it starts in.
    pub status: SubscriptionStatus,
    /// Start of the trial, when it starts with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_start: Option<DateTime<Utc>>,
    /// End of the trial, when it starts with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<DateTime<Utc>>,
    /// Consumers that deduplicate by key use this: the subscription's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A subscription was cancelled; access continues until `effective_until`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionCancelledPayload {
    /// The cancelled subscription.
    pub subscription_id: String,
    /// Whose subscription it is.
    pub user_id: String,
    /// The status it had before cancellation.
    pub previous_status: SubscriptionStatus,
    /// Why it was cancelled, e.g. `user_requested` or `payment_failed`.
    pub cancellation_reason: String,
    /// When access ends.
    pub effective_until: DateTime<Utc>,
    /// Consumers that deduplicate by key use this: the subscription's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A subscription moved from one status to another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SubscriptionStatusChangedPayload {
    /// The subscription.
    pub subscription_id: String,
    /// Whose subscription it is.
    pub user_id: String,
    /// The status before the transition.
    pub previous_status: SubscriptionStatus,
    /// The status after the transition.
    pub new_status: SubscriptionStatus,
    /// What caused it, e.g. `trial_ended` or `payment_succeeded`.
    pub transition_reason: String,
    /// Consumers that deduplicate by key use this: the subscription's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

/// A user created a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectCreatedPayload {
    /// The new project.
    pub project_id: String,
    /// The user who owns it.
    pub user_id: String,
    /// Its display name.
    pub name: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
}

/// `alice@example.com` → `al***@example.com`: the first two characters of the local part
/// (one of a two-character one, none of a single character, so that at least one stays
/// hidden), then `***`, then the domain. Something that is not an address gives `***`.
/// Logs of every identity flow show addresses this way (registration, the mailer).
pub fn mask_address(address: &str) -> String {
    let Some((local, domain)) = address.trim().rsplit_once('@') else {
        return "***".to_string();
    };
    if local.is_empty() || domain.is_empty() {
        return "***".to_string();
    }
    let shown = local.chars().count().saturating_sub(1).min(2);
    let prefix: String = local.chars().take(shown).collect();
    format!("{prefix}***@{domain}")
}

/// The identity event set.
pub fn event_set() -> EventSet {
    let identity =
        |definition: EventDefinition| definition.partition_key("user_id").retention_days(7);
    let entitlements = |definition: EventDefinition| {
        definition
            .partition_key("subscription_id")
            .retention_days(7)
    };
    let events = vec![
        identity(EventDefinition::event::<EmailVerificationPayload>(
            "EmailVerificationPayload",
            EMAIL_VERIFICATION_REQUESTED,
            EMAIL_VERIFICATION_REQUESTED,
            IDENTITY,
        ))
        .retention_days(1)
        .retries(3, VERIFICATION_BACKOFF_MS)
        .description(
            "A user asked to verify an email address; the mailer sends the one-time code.",
        ),
        entitlements(EventDefinition::event::<SubscriptionCreatedPayload>(
            "SubscriptionCreatedPayload",
            SUBSCRIPTION_CREATED,
            SUBSCRIPTION_CREATED,
            ENTITLEMENTS,
        ))
        .description("A subscription was created, possibly starting with a trial."),
        entitlements(EventDefinition::event::<SubscriptionCancelledPayload>(
            "SubscriptionCancelledPayload",
            SUBSCRIPTION_CANCELLED,
            SUBSCRIPTION_CANCELLED,
            ENTITLEMENTS,
        ))
        .description("A subscription was cancelled; access continues until the date it carries."),
        entitlements(EventDefinition::event::<SubscriptionStatusChangedPayload>(
            "SubscriptionStatusChangedPayload",
            SUBSCRIPTION_STATUS_CHANGED,
            SUBSCRIPTION_STATUS_CHANGED,
            ENTITLEMENTS,
        ))
        .description("A subscription moved from one status to another."),
        identity(EventDefinition::event::<ProjectCreatedPayload>(
            "ProjectCreatedPayload",
            PROJECT_CREATED,
            PROJECT_CREATED,
            IDENTITY,
        ))
        .description("A user created a project."),
    ];
    EventSet {
        name: "identity",
        description: "Account, subscription and project events on the `smap.events` exchange, by routing key.",
        naming: NamingPolicy::RoutingKeys,
        topics: events.iter().map(|event| event.topic).collect(),
        partition_keys: vec![(IDENTITY, "user_id"), (ENTITLEMENTS, "subscription_id")],
        events,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn check(address: &str, masked: &str) {
        assert_eq!(mask_address(address), masked, "{address}");
    }

    #[test]
    fn masked_addresses_keep_two_characters_and_the_domain() {
        check("abigail@example.com", "ab***@example.com");
        check("ab@example.com", "a***@example.com");
        check("a@example.com", "***@example.com");
        check("  bob.smith@mail.example.org ", "bo***@mail.example.org");
        check("\"odd@local\"@example.com", "\"o***@example.com");
        check("nguyễn@ví-dụ.vn", "ng***@ví-dụ.vn");
        check("not an address", "***");
        check("@example.com", "***");
        check("alice@", "***");
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        rfc3339.parse().expect("test timestamps are RFC 3339")
    }

    /// A valid payload of each event type of the set.
    fn example(event_type: &str) -> Value {
        let value = match event_type {
            EMAIL_VERIFICATION_REQUESTED => serde_json::to_value(EmailVerificationPayload {
                user_id: "u-1".into(),
                recipient: "alice@example.com".into(),
                otp_code: "482913".into(),
                locale: "vi".into(),
                expires_at: at("2025-03-01T10:15:00Z"),
            }),
            SUBSCRIPTION_CREATED => serde_json::to_value(SubscriptionCreatedPayload {
                subscription_id: "sub-1".into(),
                user_id: "u-1".into(),
                plan_code: "pro_monthly".into(),
                status: SubscriptionStatus::Trialing,
                trial_start: Some(at("2025-03-01T10:00:00Z")),
                trial_end: Some(at("2025-03-15T10:00:00Z")),
                idempotency_key: Some("sub-1".into()),
            }),
            SUBSCRIPTION_CANCELLED => serde_json::to_value(SubscriptionCancelledPayload {
                subscription_id: "sub-1".into(),
                user_id: "u-1".into(),
                previous_status: SubscriptionStatus::Active,
                cancellation_reason: "user_requested".into(),
                effective_until: at("2025-04-01T00:00:00Z"),
                idempotency_key: None,
            }),
            SUBSCRIPTION_STATUS_CHANGED => serde_json::to_value(SubscriptionStatusChangedPayload {
                subscription_id: "sub-1".into(),
                user_id: "u-1".into(),
                previous_status: SubscriptionStatus::Trialing,
                new_status: SubscriptionStatus::Active,
                transition_reason: "trial_ended".into(),
                idempotency_key: Some("sub-1".into()),
            }),
            PROJECT_CREATED => serde_json::to_value(ProjectCreatedPayload {
                project_id: "p-1".into(),
                user_id: "u-1".into(),
                name: "Thesis".into(),
                created_at: at("2025-03-01T10:00:00Z"),
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

    fn is_valid(definition: &EventDefinition, payload: &Value) -> bool {
        jsonschema::validator_for(&definition.payload_schema())
            .expect("payload schemas compile")
            .is_valid(payload)
    }

    #[test]
    fn examples_validate_and_lose_validity_without_their_partition_key() {
        for definition in event_set().events {
            let mut payload = example(definition.event_type);
            assert!(is_valid(&definition, &payload), "{}", definition.event_type);
            payload
                .as_object_mut()
                .unwrap()
                .remove(definition.partition_key);
            assert!(
                !is_valid(&definition, &payload),
                "{}",
                definition.event_type
            );
        }
    }

    #[test]
    fn schemas_reject_wrong_types_and_unknown_statuses() {
        let mut payload = example(SUBSCRIPTION_CREATED);
        payload["status"] = json!("paused");
        assert!(!is_valid(&definition(SUBSCRIPTION_CREATED), &payload));
        let mut payload = example(EMAIL_VERIFICATION_REQUESTED);
        payload["expires_at"] = json!(42);
        assert!(!is_valid(
            &definition(EMAIL_VERIFICATION_REQUESTED),
            &payload
        ));
    }

    #[test]
    fn optional_trial_dates_may_be_absent_and_unknown_fields_are_tolerated() {
        let mut payload = example(SUBSCRIPTION_CREATED);
        let fields = payload.as_object_mut().unwrap();
        fields.remove("trial_start");
        fields.remove("trial_end");
        fields.insert("coupon_code".into(), json!("SPRING"));
        assert!(is_valid(&definition(SUBSCRIPTION_CREATED), &payload));
        let decoded: SubscriptionCreatedPayload = serde_json::from_value(payload).unwrap();
        assert_eq!(decoded.trial_start, None);
    }

    #[test]
    fn a_verification_email_is_retried_three_times_one_two_then_four_seconds_apart() {
        let verification = definition(EMAIL_VERIFICATION_REQUESTED);
        assert_eq!(
            (verification.max_retries, verification.backoff_ms),
            (3, &[1000, 2000, 4000][..])
        );
    }
}
