//! The byte layout of a message stored in the embedded log (format version 1).
//!
//! All integers are big-endian.
//!
//! ```text
//! u8   format version (1)
//! u64  published at, milliseconds since the Unix epoch
//! u16  key length, 0xFFFF when there is no key; then the key bytes (UTF-8)
//! u16  header count; per header: u16 name length, name, u32 value length, value (UTF-8)
//! ...  payload: every remaining byte
//! ```
//!
//! A record that does not follow this layout is reported as corrupt, never guessed at.

use crate::{BusError, BusErrorKind, Message};

const FORMAT_VERSION: u8 = 1;
const NO_KEY: u16 = u16::MAX;

/// Encodes `message` as published at `published_at_ms`.
pub(crate) fn encode(message: &Message, published_at_ms: u64) -> Result<Vec<u8>, BusError> {
    let too_long = |what: &str| {
        BusError::new(
            BusErrorKind::InvalidArgument,
            format!("message {what} is too long to store"),
        )
    };
    let mut out = Vec::with_capacity(message.payload.len() + 64);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&published_at_ms.to_be_bytes());
    match &message.key {
        Some(key) => {
            let len = u16::try_from(key.len())
                .ok()
                .filter(|len| *len != NO_KEY)
                .ok_or_else(|| too_long("key"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(key.as_bytes());
        }
        None => out.extend_from_slice(&NO_KEY.to_be_bytes()),
    }
    let count = u16::try_from(message.headers.len()).map_err(|_| too_long("header list"))?;
    out.extend_from_slice(&count.to_be_bytes());
    for (name, value) in &message.headers {
        let name_len = u16::try_from(name.len()).map_err(|_| too_long("header name"))?;
        let value_len = u32::try_from(value.len()).map_err(|_| too_long("header value"))?;
        out.extend_from_slice(&name_len.to_be_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&value_len.to_be_bytes());
        out.extend_from_slice(value.as_bytes());
    }
    out.extend_from_slice(&message.payload);
    Ok(out)
}

/// Decodes a stored record; `seq` only names the record in errors.
pub(crate) fn decode(bytes: &[u8], seq: u64) -> Result<Message, BusError> {
    let mut reader = Reader { bytes, seq };
    let version = reader.take(1)?[0];
    if version != FORMAT_VERSION {
        return Err(reader.corrupt(&format!("unknown format version {version}")));
    }
    reader.take(8)?; // publish time: kept for operators, not needed to deliver
    let key_len = reader.u16()?;
    let key = if key_len == NO_KEY {
        None
    } else {
        Some(reader.string(usize::from(key_len))?)
    };
    let header_count = reader.u16()?;
    let mut headers = Vec::with_capacity(usize::from(header_count));
    for _ in 0..header_count {
        let name_len = usize::from(reader.u16()?);
        let name = reader.string(name_len)?;
        let value_len = reader.u32()? as usize;
        let value = reader.string(value_len)?;
        headers.push((name, value));
    }
    Ok(Message {
        key,
        headers,
        payload: reader.bytes.to_vec(),
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    seq: u64,
}

impl<'a> Reader<'a> {
    fn corrupt(&self, reason: &str) -> BusError {
        BusError::new(
            BusErrorKind::Corrupt,
            format!("failed to decode log record {}: {reason}", self.seq),
        )
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], BusError> {
        if self.bytes.len() < len {
            return Err(self.corrupt("record is truncated"));
        }
        let (head, tail) = self.bytes.split_at(len);
        self.bytes = tail;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, BusError> {
        let bytes = self.take(2)?;
        Ok(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    fn u32(&mut self) -> Result<u32, BusError> {
        let bytes = self.take(4)?;
        Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn string(&mut self, len: usize) -> Result<String, BusError> {
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.corrupt("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_round_trip(message: Message) {
        let bytes = encode(&message, 1_700_000_000_000).unwrap();
        assert_eq!(decode(&bytes, 1).unwrap(), message);
    }

    #[test]
    fn round_trips() {
        check_round_trip(Message::new(vec![]));
        check_round_trip(Message::new(b"payload".to_vec()));
        check_round_trip(Message {
            key: Some("alice".into()),
            headers: vec![
                ("ce-id".into(), "1".into()),
                ("empty".into(), String::new()),
            ],
            payload: vec![0, 255, 7],
        });
        check_round_trip(Message {
            key: Some(String::new()),
            headers: vec![],
            payload: b"x".to_vec(),
        });
    }

    /// Version 1 as written by the first release; it must stay readable.
    #[test]
    fn reads_frozen_version_1_record() {
        let frozen: &[u8] = &[
            1, 0, 0, 1, 139, 207, 228, 140, 0, // version, published at
            0, 1, b'k', // key "k"
            0, 1, 0, 1, b'h', 0, 0, 0, 1, b'v', // one header h=v
            b'p', b'l', // payload
        ];
        let message = decode(frozen, 9).unwrap();
        assert_eq!(message.key.as_deref(), Some("k"));
        assert_eq!(message.headers, vec![("h".to_string(), "v".to_string())]);
        assert_eq!(message.payload, b"pl");
    }

    #[test]
    fn damaged_records_are_reported_not_guessed() {
        let good = encode(&Message::new(b"x".to_vec()), 0).unwrap();
        for bad in [
            &[][..],
            &[2][..],
            &good[..5],
            &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, b'a'],
        ] {
            let err = decode(bad, 42).unwrap_err();
            assert_eq!(err.kind(), BusErrorKind::Corrupt);
            assert!(err.to_string().contains("log record 42"), "{err}");
        }
    }
}
