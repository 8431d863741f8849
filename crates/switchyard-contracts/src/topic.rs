//! Topic names: the data-type channels events travel on (`emails`, `calendars`, …).
//!
//! A topic name is 1–200 characters of lowercase ASCII letters, digits, `_`, `-` and `.`,
//! starting with a letter. The rule keeps names valid as NATS subjects, AMQP routing
//! keys and file names alike.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ContractError;

/// A validated topic name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Topic(String);

impl Topic {
    /// Checks `name` against the topic name rule.
    pub fn new(name: impl Into<String>) -> Result<Self, ContractError> {
        let name = name.into();
        let mut chars = name.chars();
        let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let valid_rest = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'));
        if !starts_with_letter || !valid_rest || name.len() > 200 {
            return Err(ContractError::invalid(
                "topic",
                format!(
                    "`{name}` must be 1-200 characters of [a-z0-9_.-] starting with a lowercase letter"
                ),
            ));
        }
        Ok(Topic(name))
    }

    /// The `emails` topic.
    pub fn emails() -> Self {
        Topic("emails".into())
    }

    /// The `calendars` topic.
    pub fn calendars() -> Self {
        Topic("calendars".into())
    }

    /// The `contacts` topic.
    pub fn contacts() -> Self {
        Topic("contacts".into())
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Topic {
    type Error = ContractError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Topic::new(value)
    }
}

impl From<Topic> for String {
    fn from(topic: Topic) -> Self {
        topic.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, valid: bool) {
        assert_eq!(Topic::new(name).is_ok(), valid, "{name}");
    }

    #[test]
    fn topic_names_follow_the_rule() {
        check("emails", true);
        check("word_fragments", true);
        check("huleedu.batch.spellcheck.command.v1", true);
        check("emails.dlq.v1", true);
        check("", false);
        check("Emails", false);
        check("1emails", false);
        check("emails topic", false);
        check("emails/x", false);
        check(&"a".repeat(201), false);
    }
}
