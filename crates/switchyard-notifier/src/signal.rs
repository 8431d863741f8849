//! [`Signal`]: what the front end learns about a change — the item's document type, id
//! and operation, never its content — and [`JournalEntry`], a signal with its place in
//! its user's journal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use switchyard_contracts::{AnyOfficeEvent, Operation};

/// A change to one of a user's items: enough for the front end to refetch it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// The search document type (`email`, `calendar`, `word`, `todo`, …).
    #[serde(rename = "type")]
    pub doc_type: String,
    /// The provider's id of the item.
    pub id: String,
    /// Whether the item is new, changed or deleted.
    pub operation: Operation,
}

/// A signal about to enter the journal: whose it is, and what makes it the same as a
/// signal already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSignal {
    /// Whose item changed.
    pub user_id: String,
    /// The signal itself.
    pub signal: Signal,
    /// The item version this signal reports: `{doc type}\u{1f}{id}\u{1f}{last_updated µs}
    /// \u{1f}{operation}`. A second signal with the same key for the same user is a
    /// redelivery and is dropped.
    pub dedupe_key: String,
}

impl NewSignal {
    /// The signal of an office event.
    pub fn from_event(event: &AnyOfficeEvent) -> Self {
        NewSignal::new(
            event.user_id(),
            event.kind().doc_type(),
            event.item_id(),
            event.operation(),
            event.last_updated(),
        )
    }

    /// A signal for `user_id` about version `last_updated` of an item.
    pub fn new(
        user_id: &str,
        doc_type: &str,
        item_id: &str,
        operation: Operation,
        last_updated: DateTime<Utc>,
    ) -> Self {
        let operation_name = match operation {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        };
        NewSignal {
            user_id: user_id.to_string(),
            dedupe_key: format!(
                "{doc_type}\u{1f}{item_id}\u{1f}{}\u{1f}{operation_name}",
                last_updated.timestamp_micros()
            ),
            signal: Signal {
                doc_type: doc_type.to_string(),
                id: item_id.to_string(),
                operation,
            },
        }
    }
}

/// A signal in a user's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Whose journal.
    pub user_id: String,
    /// Its id: per user, starting at 1, strictly increasing, never reused. The SSE
    /// `id:` field, and what `Last-Event-ID` resumes after.
    pub seq: u64,
    /// When the journal recorded it (the age bound counts from here).
    pub recorded_at: DateTime<Utc>,
    /// The signal.
    pub signal: Signal,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signals_carry_type_id_and_operation_only() {
        let signal = NewSignal::new(
            "alice",
            "email",
            "<1@x>",
            Operation::Delete,
            "2024-01-01T00:00:00Z".parse().expect("a time"),
        );
        assert_eq!(
            serde_json::to_value(&signal.signal).expect("json"),
            json!({"type": "email", "id": "<1@x>", "operation": "delete"})
        );
        assert_eq!(
            signal.dedupe_key,
            "email\u{1f}<1@x>\u{1f}1704067200000000\u{1f}delete"
        );
    }
}
