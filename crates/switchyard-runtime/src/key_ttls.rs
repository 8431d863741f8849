//! [`KeyTtls`]: how long idempotency keys and claim-check blobs live, per key class
//! (office data 7 days, idempotency 24 h, batch 3 days, fragments 30 days by default).

use std::collections::HashMap;
use std::time::Duration;

use switchyard_contracts::KeyClass;

/// Time-to-live per key class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTtls(HashMap<KeyClass, Duration>);

impl Default for KeyTtls {
    fn default() -> Self {
        let classes = [
            KeyClass::OfficeData,
            KeyClass::Idempotency,
            KeyClass::Batch,
            KeyClass::Fragment,
        ];
        KeyTtls(
            classes
                .into_iter()
                .map(|class| (class, class.default_ttl()))
                .collect(),
        )
    }
}

impl KeyTtls {
    /// The same, with `class` living `ttl`.
    pub fn with(mut self, class: KeyClass, ttl: Duration) -> Self {
        self.0.insert(class, ttl);
        self
    }

    /// The time-to-live of `class`.
    pub fn get(&self, class: KeyClass) -> Duration {
        self.0
            .get(&class)
            .copied()
            .unwrap_or_else(|| class.default_ttl())
    }
}
