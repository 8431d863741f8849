//! [`ContactsConfig`]: the weights and half-life of the relevance score, the publishing
//! threshold, the user's own addresses and the retention period. Validation is pure and
//! runs before use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ContactError, Role};

/// The weight of one appearance of an address in each role (see [`Scoring`](crate::Scoring)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceWeights {
    /// The contact sent the email.
    pub email_from: f64,
    /// The contact was in `To` (or `Bcc`).
    pub email_to: f64,
    /// The contact was in `Cc`.
    pub email_cc: f64,
    /// The contact organized the meeting.
    pub calendar_organizer: f64,
    /// The contact was invited to the meeting.
    pub calendar_attendee: f64,
    /// The contact is the document's author.
    pub document_author: f64,
    /// The contact's address appears in the document's text.
    pub document_mention: f64,
    /// The todo is assigned to the contact.
    pub todo_assignee: f64,
}

impl Default for SourceWeights {
    fn default() -> Self {
        SourceWeights {
            email_from: 1.0,
            email_to: 1.0,
            email_cc: 0.5,
            calendar_organizer: 1.0,
            calendar_attendee: 0.7,
            document_author: 0.8,
            document_mention: 0.3,
            todo_assignee: 0.8,
        }
    }
}

impl SourceWeights {
    /// The weight of `role`.
    pub fn of(&self, role: Role) -> f64 {
        match role {
            Role::EmailFrom => self.email_from,
            Role::EmailTo => self.email_to,
            Role::EmailCc => self.email_cc,
            Role::CalendarOrganizer => self.calendar_organizer,
            Role::CalendarAttendee => self.calendar_attendee,
            Role::DocumentAuthor => self.document_author,
            Role::DocumentMention => self.document_mention,
            Role::TodoAssignee => self.todo_assignee,
        }
    }
}

/// Contact discovery settings (the `[contacts]` section of the config file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContactsConfig {
    /// Weight per role of the relevance score.
    pub weights: SourceWeights,
    /// Half-life of the recency factor, in days: a contact last seen this long ago scores
    /// half of one seen today. Above 0.
    pub half_life_days: f64,
    /// Factor applied to the score of mailing-list addresses, in 0..=1 (0 hides them at
    /// the bottom of the ranking without dropping their counters).
    pub mailing_list_factor: f64,
    /// Relative score change that republishes a known contact: it is republished when
    /// `|score_now - score_published| > publish_threshold * score_published`, or when its
    /// display name changed. New contacts are always published. At least 0.
    pub publish_threshold: f64,
    /// The user's own addresses, per user id; they are never contacts. A user id that is
    /// itself an email address counts as one of its own addresses too.
    pub self_addresses: BTreeMap<String, Vec<String>>,
    /// Further addresses never to keep as contacts, for every user.
    pub ignored_addresses: Vec<String>,
    /// At most this many distinct addresses are taken from one document's text. At least 1.
    pub max_mentions_per_document: usize,
    /// Contacts not seen for this many days are dropped by the retention job
    /// (`drop_not_seen_since`); none means they are kept.
    pub retention_days: Option<u32>,
}

impl Default for ContactsConfig {
    fn default() -> Self {
        ContactsConfig {
            weights: SourceWeights::default(),
            half_life_days: 90.0,
            mailing_list_factor: 0.2,
            publish_threshold: 0.25,
            self_addresses: BTreeMap::new(),
            ignored_addresses: Vec::new(),
            max_mentions_per_document: 50,
            retention_days: None,
        }
    }
}

impl ContactsConfig {
    /// Checks the bounds documented on each field.
    pub fn validate(&self) -> Result<(), ContactError> {
        let invalid = |message: String| {
            Err(ContactError::invalid_config(format!(
                "invalid contacts config: {message}"
            )))
        };
        if !(self.half_life_days.is_finite() && self.half_life_days > 0.0) {
            return invalid(format!(
                "half_life_days {} must be above 0",
                self.half_life_days
            ));
        }
        if !(0.0..=1.0).contains(&self.mailing_list_factor) {
            return invalid(format!(
                "mailing_list_factor {} is outside 0..=1",
                self.mailing_list_factor
            ));
        }
        if !(self.publish_threshold.is_finite() && self.publish_threshold >= 0.0) {
            return invalid(format!(
                "publish_threshold {} must be at least 0",
                self.publish_threshold
            ));
        }
        for role in Role::ALL {
            let weight = self.weights.of(role);
            if !(weight.is_finite() && weight >= 0.0) {
                return invalid(format!(
                    "weights.{} {weight} must be at least 0",
                    role.name()
                ));
            }
        }
        if self.max_mentions_per_document == 0 {
            return invalid("max_mentions_per_document must be at least 1".into());
        }
        for address in self
            .self_addresses
            .values()
            .flatten()
            .chain(&self.ignored_addresses)
        {
            if crate::normalize_address(address).is_none() {
                return invalid(format!("`{address}` is not an email address"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(config: ContactsConfig, needle: &str) {
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains(needle), "{err}");
        assert!(!err.is_retryable());
    }

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        assert!(ContactsConfig::default().validate().is_ok());
        check(
            ContactsConfig {
                half_life_days: 0.0,
                ..ContactsConfig::default()
            },
            "half_life_days 0",
        );
        check(
            ContactsConfig {
                mailing_list_factor: 2.0,
                ..ContactsConfig::default()
            },
            "mailing_list_factor 2",
        );
        check(
            ContactsConfig {
                publish_threshold: -1.0,
                ..ContactsConfig::default()
            },
            "publish_threshold -1",
        );
        let weights = SourceWeights {
            email_cc: f64::NAN,
            ..SourceWeights::default()
        };
        check(
            ContactsConfig {
                weights,
                ..ContactsConfig::default()
            },
            "weights.email_cc",
        );
        check(
            ContactsConfig {
                ignored_addresses: vec!["nobody".into()],
                ..ContactsConfig::default()
            },
            "`nobody` is not an email address",
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<ContactsConfig>(r#"{"half_life": 3}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
