//! Subscriptions: the stored [`Subscription`] and the three changes the API makes to it
//! (create, cancel, change status), each checked before anything is written — the id a
//! UUID, the status one of the enum, trial end after trial start, a cancellation's
//! `effective_until` not in the past, a transition that the lifecycle allows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_contracts::identity::SubscriptionStatus;

use crate::IdentityError;

/// Longest plan code.
const MAX_PLAN_CODE_BYTES: usize = 64;
/// Longest reason of a cancellation or transition.
const MAX_REASON_BYTES: usize = 200;
/// How far in the past `effective_until` may be and still count as "now" (clock skew
/// between the caller and this server).
const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(60);

/// A subscription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its id, a UUID.
    pub subscription_id: String,
    /// Whose it is.
    pub user_id: String,
    /// The plan, e.g. `pro_monthly`.
    pub plan_code: String,
    /// Where it stands.
    pub status: SubscriptionStatus,
    /// Start of its trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_start: Option<DateTime<Utc>>,
    /// End of its trial.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_end: Option<DateTime<Utc>>,
    /// When access ends, once cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<DateTime<Utc>>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// Parses a UUID in its hyphenated form, naming `field` when it is not one.
pub fn check_uuid(field: &'static str, value: &str) -> Result<String, IdentityError> {
    uuid::Uuid::try_parse(value)
        .ok()
        .filter(|_| value.len() == 36)
        .map(|id| id.hyphenated().to_string())
        .ok_or_else(|| {
            IdentityError::invalid(field, format!("`{value}` is not a UUID (8-4-4-4-12 hex)"))
        })
}

/// Reads a status word (`trialing`, `active`, `past_due`, `cancelled`, `expired`).
pub fn parse_status(field: &'static str, value: &str) -> Result<SubscriptionStatus, IdentityError> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| {
        IdentityError::invalid(
            field,
            format!("`{value}` is not one of trialing, active, past_due, cancelled, expired"),
        )
    })
}

/// Checks a free-text reason: 1 to 200 bytes.
pub fn check_reason(field: &'static str, value: &str) -> Result<(), IdentityError> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_REASON_BYTES {
        return Err(IdentityError::invalid(field, "must be 1 to 200 bytes"));
    }
    Ok(())
}

impl Subscription {
    /// A new subscription, checked: a plan code of `[a-z0-9_-]`, a trial that ends after
    /// it starts (both or neither), and a trial for a `trialing` start.
    pub fn new(
        subscription_id: String,
        user_id: String,
        plan_code: String,
        status: SubscriptionStatus,
        trial: (Option<DateTime<Utc>>, Option<DateTime<Utc>>),
        now: DateTime<Utc>,
    ) -> Result<Self, IdentityError> {
        let plan_ok = !plan_code.is_empty()
            && plan_code.len() <= MAX_PLAN_CODE_BYTES
            && plan_code.bytes().all(|byte| {
                byte.is_ascii_lowercase() || byte.is_ascii_digit() || b"_-".contains(&byte)
            });
        if !plan_ok {
            return Err(IdentityError::invalid(
                "plan_code",
                "must be 1 to 64 of [a-z0-9_-], e.g. pro_monthly",
            ));
        }
        match (status, trial) {
            (_, (Some(start), Some(end))) if end <= start => {
                return Err(IdentityError::invalid(
                    "trial_end",
                    "must be after trial_start",
                ));
            }
            (_, (Some(_), None)) => {
                return Err(IdentityError::invalid(
                    "trial_end",
                    "is required with trial_start",
                ));
            }
            (_, (None, Some(_))) => {
                return Err(IdentityError::invalid(
                    "trial_start",
                    "is required with trial_end",
                ));
            }
            (SubscriptionStatus::Trialing, (None, None)) => {
                return Err(IdentityError::invalid(
                    "trial_end",
                    "a trialing subscription needs trial_start and trial_end",
                ));
            }
            (SubscriptionStatus::Cancelled | SubscriptionStatus::Expired, _) => {
                return Err(IdentityError::invalid(
                    "status",
                    "a subscription starts trialing, active or past_due",
                ));
            }
            _ => {}
        }
        Ok(Subscription {
            subscription_id,
            user_id,
            plan_code,
            status,
            trial_start: trial.0,
            trial_end: trial.1,
            effective_until: None,
            created_at: now,
            updated_at: now,
        })
    }

    /// Cancels it, access running until `effective_until`; returns the status it had.
    pub fn cancel(
        &mut self,
        effective_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionStatus, IdentityError> {
        if effective_until < now - CLOCK_SKEW {
            return Err(IdentityError::invalid("effective_until", "is in the past"));
        }
        if matches!(
            self.status,
            SubscriptionStatus::Cancelled | SubscriptionStatus::Expired
        ) {
            return Err(IdentityError::Conflict(format!(
                "subscription {} is {} already",
                self.subscription_id,
                status_word(self.status)
            )));
        }
        let previous = self.status;
        self.status = SubscriptionStatus::Cancelled;
        self.effective_until = Some(effective_until);
        self.updated_at = now;
        Ok(previous)
    }

    /// Moves it to `status`; returns the status it had. A cancellation goes through
    /// [`Subscription::cancel`], which records until when access runs.
    pub fn change_status(
        &mut self,
        status: SubscriptionStatus,
        now: DateTime<Utc>,
    ) -> Result<SubscriptionStatus, IdentityError> {
        use SubscriptionStatus::*;
        let allowed = match (self.status, status) {
            (_, Cancelled) => {
                return Err(IdentityError::invalid(
                    "status",
                    "cancel through POST /v1/subscriptions/{id}/cancel, which records effective_until",
                ));
            }
            (Trialing, Active | PastDue | Expired) => true,
            (Active, PastDue | Expired) => true,
            (PastDue, Active | Expired) => true,
            (Cancelled, Active | Expired) => true,
            (Expired, Active) => true,
            _ => false,
        };
        if !allowed {
            return Err(IdentityError::Conflict(format!(
                "subscription {} cannot go from {} to {}",
                self.subscription_id,
                status_word(self.status),
                status_word(status)
            )));
        }
        let previous = self.status;
        self.status = status;
        if status == Active {
            self.effective_until = None;
        }
        self.updated_at = now;
        Ok(previous)
    }
}

/// The status as its wire word.
pub fn status_word(status: SubscriptionStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use SubscriptionStatus::*;

    fn trialing(now: DateTime<Utc>) -> Subscription {
        Subscription::new(
            uuid::Uuid::now_v7().to_string(),
            "u-1".into(),
            "pro_monthly".into(),
            Trialing,
            (Some(now), Some(now + Duration::days(14))),
            now,
        )
        .unwrap()
    }

    fn field_of(err: IdentityError) -> &'static str {
        match err {
            IdentityError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other}"),
        }
    }

    #[test]
    fn ids_and_statuses_are_checked() {
        assert!(check_uuid("subscription_id", "0190f2a0-3b1c-7d2e-8f00-1234567890ab").is_ok());
        assert_eq!(
            field_of(check_uuid("subscription_id", "sub-1").unwrap_err()),
            "subscription_id"
        );
        assert_eq!(parse_status("status", "past_due").unwrap(), PastDue);
        assert_eq!(
            field_of(parse_status("status", "paused").unwrap_err()),
            "status"
        );
    }

    #[test]
    fn a_trial_ends_after_it_starts() {
        let now = Utc::now();
        let new = |status, trial| {
            Subscription::new("id".into(), "u".into(), "pro".into(), status, trial, now)
        };
        assert_eq!(
            field_of(new(Trialing, (Some(now), Some(now))).unwrap_err()),
            "trial_end"
        );
        assert_eq!(
            field_of(new(Trialing, (None, None)).unwrap_err()),
            "trial_end"
        );
        assert_eq!(
            field_of(new(Active, (None, Some(now))).unwrap_err()),
            "trial_start"
        );
        assert_eq!(field_of(new(Expired, (None, None)).unwrap_err()), "status");
        assert!(new(Active, (None, None)).is_ok());
        let bad_plan = Subscription::new(
            "id".into(),
            "u".into(),
            "Pro Plan".into(),
            Active,
            (None, None),
            now,
        );
        assert_eq!(field_of(bad_plan.unwrap_err()), "plan_code");
    }

    #[test]
    fn cancellation_runs_until_a_date_not_in_the_past() {
        let now = Utc::now();
        let mut subscription = trialing(now);
        assert_eq!(
            field_of(
                subscription
                    .cancel(now - Duration::days(1), now)
                    .unwrap_err()
            ),
            "effective_until"
        );
        assert_eq!(
            subscription.cancel(now + Duration::days(30), now).unwrap(),
            Trialing
        );
        assert!(matches!(
            subscription.cancel(now + Duration::days(30), now),
            Err(IdentityError::Conflict(_))
        ));
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        let now = Utc::now();
        let mut subscription = trialing(now);
        assert_eq!(subscription.change_status(Active, now).unwrap(), Trialing);
        assert!(matches!(
            subscription.change_status(Active, now),
            Err(IdentityError::Conflict(_))
        ));
        assert_eq!(
            field_of(subscription.change_status(Cancelled, now).unwrap_err()),
            "status"
        );
        assert_eq!(subscription.change_status(PastDue, now).unwrap(), Active);
        assert!(matches!(
            subscription.change_status(Trialing, now),
            Err(IdentityError::Conflict(_))
        ));
    }
}
