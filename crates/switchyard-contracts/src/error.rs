//! The one error type of the contracts crate: what is wrong with an event, and where.

/// Why an event, a topic name or a payload does not satisfy its contract.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContractError {
    /// A required attribute or payload field is absent or empty.
    #[error("missing required field `{field}`")]
    MissingField {
        /// Dotted path of the field, e.g. `data.item.id`.
        field: String,
    },
    /// A field is present but its value breaks the contract.
    #[error("invalid field `{field}`: {reason}")]
    InvalidField {
        /// Dotted path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The bytes are not a CloudEvents JSON document.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// The event `type` is not one this build knows.
    #[error("unknown event type `{0}`")]
    UnknownEventType(String),
    /// Neither the payload nor the metadata holds the partition key.
    #[error(
        "event `{event_type}` has no partition key: field `{field}` is missing from the payload and the metadata"
    )]
    MissingPartitionKey {
        /// The event type.
        event_type: String,
        /// The partition-key field its definition names.
        field: String,
    },
    /// The payload is larger than may travel inline.
    #[error("payload of {size_bytes} bytes exceeds the {limit_bytes}-byte limit")]
    PayloadTooLarge {
        /// Serialized size of `data`.
        size_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
}

impl ContractError {
    pub(crate) fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ContractError::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(field: impl Into<String>) -> Self {
        ContractError::MissingField {
            field: field.into(),
        }
    }

    /// A deserialization error at a path below `prefix` (`""` for the root), naming the
    /// missing field itself when serde reports one.
    pub(crate) fn at_path(
        prefix: &str,
        err: serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let reason = err.inner().to_string();
        let mut segments: Vec<String> = Vec::new();
        if !prefix.is_empty() {
            segments.push(prefix.to_string());
        }
        let path = err.path().to_string();
        if path != "." {
            segments.push(path);
        }
        let missing = reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        if let Some(name) = missing {
            segments.push(name.to_string());
            return ContractError::missing(segments.join("."));
        }
        if segments.is_empty() {
            // Not an object at all (`[1]`): there is no field to name.
            return ContractError::Malformed(reason);
        }
        ContractError::invalid(segments.join("."), reason)
    }

    /// The field this error is about, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ContractError::MissingField { field } | ContractError::InvalidField { field, .. } => {
                Some(field)
            }
            ContractError::MissingPartitionKey { field, .. } => Some(field),
            ContractError::PayloadTooLarge { .. } => Some("data"),
            ContractError::Malformed(_) | ContractError::UnknownEventType(_) => None,
        }
    }
}
