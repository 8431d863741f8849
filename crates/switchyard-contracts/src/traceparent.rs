//! W3C Trace Context `traceparent` values: `00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}`.

use std::fmt;
use std::str::FromStr;

use crate::ContractError;

/// A parsed W3C `traceparent` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// 16-byte trace id, never all zero.
    pub trace_id: [u8; 16],
    /// 8-byte id of the parent span, never all zero.
    pub parent_id: [u8; 8],
    /// Trace flags (bit 0: sampled).
    pub flags: u8,
}

impl TraceParent {
    /// Starts a new trace with random ids, sampled.
    pub fn new_root() -> Self {
        let trace = uuid::Uuid::now_v7();
        let parent = uuid::Uuid::now_v7();
        let mut parent_id = [0u8; 8];
        parent_id.copy_from_slice(&parent.as_bytes()[8..]);
        parent_id[0] |= 1; // never all zero
        TraceParent {
            trace_id: *trace.as_bytes(),
            parent_id,
            flags: 1,
        }
    }
}

impl FromStr for TraceParent {
    type Err = ContractError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = |reason: &str| ContractError::invalid("traceparent", reason.to_string());
        let parts: Vec<&str> = value.split('-').collect();
        let [version, trace, parent, flags] = parts[..] else {
            return Err(invalid("expected `00-{trace-id}-{parent-id}-{flags}`"));
        };
        if version != "00" {
            return Err(invalid("only version 00 is supported"));
        }
        let mut trace_id = [0u8; 16];
        let mut parent_id = [0u8; 8];
        let mut flag_bytes = [0u8; 1];
        let lowercase_hex = |s: &str| s.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f'));
        if trace.len() != 32
            || !lowercase_hex(trace)
            || hex::decode_to_slice(trace, &mut trace_id).is_err()
        {
            return Err(invalid("trace id must be 32 lowercase hex digits"));
        }
        if parent.len() != 16
            || !lowercase_hex(parent)
            || hex::decode_to_slice(parent, &mut parent_id).is_err()
        {
            return Err(invalid("parent id must be 16 lowercase hex digits"));
        }
        if flags.len() != 2
            || !lowercase_hex(flags)
            || hex::decode_to_slice(flags, &mut flag_bytes).is_err()
        {
            return Err(invalid("flags must be 2 lowercase hex digits"));
        }
        if trace_id == [0; 16] || parent_id == [0; 8] {
            return Err(invalid("trace id and parent id must not be all zeros"));
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags: flag_bytes[0],
        })
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.parent_id),
            self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, valid: bool) {
        assert_eq!(value.parse::<TraceParent>().is_ok(), valid, "{value}");
    }

    #[test]
    fn parses_w3c_examples() {
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            true,
        );
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            true,
        );
        check(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            false,
        );
        check(
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            false,
        );
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            false,
        );
        check(
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            false,
        );
        check(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            false,
        );
        check("garbage", false);
    }

    #[test]
    fn root_round_trips() {
        let root = TraceParent::new_root();
        assert_eq!(root.to_string().parse::<TraceParent>().unwrap(), root);
    }
}
