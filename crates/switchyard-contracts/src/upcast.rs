//! Reading old events: `Registry::upcast` turns an envelope of an older schema version, or
//! of a legacy type, into current events with the definition's upcaster. Current events
//! pass through unchanged.

use crate::{ContractError, Envelope, Registry};

impl Registry {
    /// The current events `envelope` stands for (usually itself).
    pub fn upcast(&self, envelope: Envelope) -> Result<Vec<Envelope>, ContractError> {
        let definition = self.require(&envelope.event_type)?;
        let outdated = envelope
            .schemaversion
            .is_some_and(|version| version < definition.schema_version);
        if !(definition.legacy || outdated) {
            return Ok(vec![envelope]);
        }
        let upcast = definition
            .upcast
            .ok_or_else(|| ContractError::InvalidField {
                field: "schemaversion".into(),
                reason: format!(
                    "{} version {} cannot be read: no upcaster to version {}",
                    envelope.event_type,
                    envelope.schemaversion.unwrap_or_default(),
                    definition.schema_version
                ),
            })?;
        upcast(&envelope)
    }
}
