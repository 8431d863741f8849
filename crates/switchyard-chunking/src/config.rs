//! [`ChunkingConfig`]: how large fragments may grow and how much memory a chunker may
//! hold. Validation is pure and runs before use.

use serde::{Deserialize, Serialize};

use crate::ChunkingError;

/// The largest `max_fragment_chars` accepted: at 4 bytes per character plus JSON
/// escaping and metadata, a fragment then stays well under the 256 KiB payload limit.
pub const MAX_FRAGMENT_CHARS_LIMIT: usize = 32_000;

/// The smallest `max_bytes_in_flight` accepted.
pub const MIN_BYTES_IN_FLIGHT: usize = 1024 * 1024;

/// How documents are cut into fragments, and how much memory publishing them may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChunkingConfig {
    /// Upper bound on a fragment's text, in characters (Unicode scalar values), heading
    /// path or header row included. Between 64 and 32000.
    pub max_fragment_chars: usize,
    /// Upper bound on the data rows of one sheet fragment (the header row repeats on top
    /// of every fragment and is not counted). At least 1.
    pub rows_per_fragment: usize,
    /// Upper bound on the bytes of fragment events a chunker holds at once (being built,
    /// queued, being published); the document itself is not counted. At least 1 MiB and
    /// at least 64 times `max_fragment_chars`.
    pub max_bytes_in_flight: usize,
}

impl Default for ChunkingConfig {
    fn default() -> Self {
        ChunkingConfig {
            max_fragment_chars: 2_000,
            rows_per_fragment: 50,
            max_bytes_in_flight: 16 * 1024 * 1024,
        }
    }
}

impl ChunkingConfig {
    /// Checks the bounds documented on each field.
    pub fn validate(&self) -> Result<(), ChunkingError> {
        if !(64..=MAX_FRAGMENT_CHARS_LIMIT).contains(&self.max_fragment_chars) {
            return Err(ChunkingError::invalid_config(format!(
                "invalid chunking config: max_fragment_chars {} is outside 64..={MAX_FRAGMENT_CHARS_LIMIT}",
                self.max_fragment_chars
            )));
        }
        if self.rows_per_fragment == 0 {
            return Err(ChunkingError::invalid_config(
                "invalid chunking config: rows_per_fragment must be at least 1",
            ));
        }
        let floor = MIN_BYTES_IN_FLIGHT.max(64 * self.max_fragment_chars);
        if self.max_bytes_in_flight < floor {
            return Err(ChunkingError::invalid_config(format!(
                "invalid chunking config: max_bytes_in_flight {} is below {floor}",
                self.max_bytes_in_flight
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bounds_are_checked() {
        assert!(ChunkingConfig::default().validate().is_ok());
        let check = |config: ChunkingConfig, needle: &str| {
            let err = config.validate().unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        };
        check(
            ChunkingConfig {
                max_fragment_chars: 10,
                ..ChunkingConfig::default()
            },
            "max_fragment_chars 10",
        );
        check(
            ChunkingConfig {
                rows_per_fragment: 0,
                ..ChunkingConfig::default()
            },
            "rows_per_fragment",
        );
        check(
            ChunkingConfig {
                max_bytes_in_flight: 1000,
                ..ChunkingConfig::default()
            },
            "max_bytes_in_flight 1000",
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<ChunkingConfig>(r#"{"max_chars": 10}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
