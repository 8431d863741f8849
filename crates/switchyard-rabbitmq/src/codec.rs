//! How a bus [`Message`] travels as an AMQP message, and back.
//!
//! - payload: the AMQP body, unchanged; `delivery_mode` 2 (persistent).
//! - headers: each one an AMQP header of the same name with a long-string value (a name
//!   given more than once holds an array of its values), so other AMQP clients read them
//!   as usual. AMQP header tables are unordered maps, so the names in their original order
//!   also travel in `x-switchyard-header-order`, which restores order and repeats exactly.
//! - key: `x-switchyard-key`.
//! - `x-switchyard-seq`: the position `browse` and `remove` name a kept message by, set
//!   once at publish (see [`SeqClock`]) and kept by retry copies.
//! - `x-switchyard-retries` and `x-switchyard-deliveries`: only on retry copies made by
//!   `nack`, the retry count and how many deliveries came before the copy.
//! - `x-switchyard-topic`: only on retry copies, the topic the message was published on
//!   (a retry copy comes back with the retry queue's name as its routing key, and a
//!   pattern subscription tells its topics apart by it).
//!
//! Names starting with `x-switchyard-` are reserved. Decoding drops them and the headers
//! RabbitMQ adds when it dead-letters a message (`x-death`, `x-first-death-*`,
//! `x-last-death-*`), and reads messages of other publishers leniently: every header value
//! becomes a string.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldArray, FieldTable, LongString, ShortString};
use switchyard_bus::{BusError, BusErrorKind, Message};

const RESERVED_PREFIX: &str = "x-switchyard-";
const KEY: &str = "x-switchyard-key";
const SEQ: &str = "x-switchyard-seq";
const HEADER_ORDER: &str = "x-switchyard-header-order";
const RETRIES: &str = "x-switchyard-retries";
const DELIVERIES: &str = "x-switchyard-deliveries";
const TOPIC: &str = "x-switchyard-topic";

/// What the bus keeps about a message besides its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Meta {
    /// Publish position (0 when a foreign publisher sent it).
    pub seq: u64,
    /// Retries asked by `nack` so far.
    pub retries: u32,
    /// Deliveries before this copy was made.
    pub prior_deliveries: u32,
}

/// Hands out publish positions: nanoseconds since the Unix epoch, strictly increasing
/// within the process, so positions are unique per process, ordered across processes as
/// far as their clocks agree, and fit in a signed 64-bit AMQP value until 2262.
#[derive(Debug, Default)]
pub(crate) struct SeqClock {
    last: AtomicU64,
}

impl SeqClock {
    pub(crate) fn next(&self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos() as u64);
        let previous = self
            .last
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .expect("the update closure always returns Some");
        now.max(previous + 1)
    }
}

/// Checks what `encode` would refuse, before anything is sent.
pub(crate) fn validate(message: &Message) -> Result<(), BusError> {
    for (name, _) in &message.headers {
        if name.is_empty() || name.len() > 255 {
            return Err(BusError::new(
                BusErrorKind::InvalidArgument,
                format!("invalid header name `{name}`: 1 to 255 bytes"),
            ));
        }
        if name.to_ascii_lowercase().starts_with(RESERVED_PREFIX) {
            return Err(BusError::new(
                BusErrorKind::InvalidArgument,
                format!("invalid header name `{name}`: the `{RESERVED_PREFIX}` prefix is reserved"),
            ));
        }
    }
    Ok(())
}

/// The AMQP properties of `message`; `validate` must have accepted it.
pub(crate) fn encode(message: &Message, meta: Meta) -> BasicProperties {
    let mut values: BTreeMap<&str, Vec<AMQPValue>> = BTreeMap::new();
    let mut order = Vec::with_capacity(message.headers.len());
    for (name, value) in &message.headers {
        values
            .entry(name.as_str())
            .or_default()
            .push(long_string(value));
        order.push(long_string(name));
    }
    let mut table = FieldTable::default();
    for (name, mut list) in values {
        let value = if list.len() == 1 {
            list.pop().expect("the list has one value")
        } else {
            AMQPValue::FieldArray(FieldArray::from(list))
        };
        table.insert(short_string(name), value);
    }
    if !order.is_empty() {
        table.insert(
            HEADER_ORDER.into(),
            AMQPValue::FieldArray(FieldArray::from(order)),
        );
    }
    if let Some(key) = &message.key {
        table.insert(KEY.into(), long_string(key));
    }
    if meta.seq != 0 {
        table.insert(SEQ.into(), AMQPValue::LongLongInt(meta.seq as i64));
    }
    if meta.retries != 0 {
        table.insert(RETRIES.into(), AMQPValue::LongLongInt(meta.retries.into()));
    }
    if meta.prior_deliveries != 0 {
        table.insert(
            DELIVERIES.into(),
            AMQPValue::LongLongInt(meta.prior_deliveries.into()),
        );
    }
    BasicProperties::default()
        .with_delivery_mode(2)
        .with_headers(table)
}

/// The same properties, also naming the topic the message was published on.
pub(crate) fn with_topic(properties: BasicProperties, topic: &str) -> BasicProperties {
    let mut table = properties.headers().clone().unwrap_or_default();
    table.insert(TOPIC.into(), long_string(topic));
    properties.with_headers(table)
}

/// The topic a message was published on: what a retry copy names, else the routing key
/// it arrived with.
pub(crate) fn topic_of(properties: &BasicProperties, routing_key: &str) -> String {
    properties
        .headers()
        .as_ref()
        .and_then(|table| table.inner().get(TOPIC))
        .map_or_else(|| routing_key.to_string(), |value| strings(value).concat())
}

/// The message carried by `properties` and `payload`, and what the bus kept about it.
pub(crate) fn decode(properties: &BasicProperties, payload: Vec<u8>) -> (Message, Meta) {
    let empty = FieldTable::default();
    let table = properties.headers().as_ref().unwrap_or(&empty).inner();
    let mut message = Message {
        key: table.get(KEY).map(|value| strings(value).concat()),
        headers: Vec::new(),
        payload,
    };
    let meta = Meta {
        seq: table.get(SEQ).and_then(integer).unwrap_or(0),
        retries: table.get(RETRIES).and_then(integer).map_or(0, saturate_u32),
        prior_deliveries: table
            .get(DELIVERIES)
            .and_then(integer)
            .map_or(0, saturate_u32),
    };
    match table.get(HEADER_ORDER) {
        Some(AMQPValue::FieldArray(order)) => {
            let mut taken: BTreeMap<String, usize> = BTreeMap::new();
            for name in order.as_slice().iter().flat_map(strings) {
                let Some(value) = table.get(name.as_str()) else {
                    continue;
                };
                let index = taken.entry(name.clone()).or_default();
                let value = match value {
                    AMQPValue::FieldArray(values) => values.as_slice().get(*index).map(strings),
                    single if *index == 0 => Some(strings(single)),
                    _ => None,
                };
                *index += 1;
                if let Some(value) = value {
                    message.headers.push((name, value.concat()));
                }
            }
        }
        _ => {
            for (name, value) in table {
                if is_internal(name.as_str()) {
                    continue;
                }
                for value in strings(value) {
                    message.headers.push((name.to_string(), value));
                }
            }
        }
    }
    (message, meta)
}

fn is_internal(name: &str) -> bool {
    name.starts_with(RESERVED_PREFIX)
        || name == "x-death"
        || name.starts_with("x-first-death-")
        || name.starts_with("x-last-death-")
        || name == "x-delivery-count"
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(value.as_bytes()))
}

fn short_string(value: &str) -> ShortString {
    ShortString::try_new(value).expect("validate caps header names at 255 bytes")
}

fn saturate_u32(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn integer(value: &AMQPValue) -> Option<u64> {
    match value {
        AMQPValue::ShortShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::ShortShortUInt(v) => Some((*v).into()),
        AMQPValue::ShortInt(v) => u64::try_from(*v).ok(),
        AMQPValue::ShortUInt(v) => Some((*v).into()),
        AMQPValue::LongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::LongUInt(v) => Some((*v).into()),
        AMQPValue::LongLongInt(v) => u64::try_from(*v).ok(),
        AMQPValue::Timestamp(v) => Some(*v),
        AMQPValue::LongString(v) => std::str::from_utf8(v.as_bytes()).ok()?.parse().ok(),
        _ => None,
    }
}

/// Every string a header value stands for: one, or one per element of an array.
fn strings(value: &AMQPValue) -> Vec<String> {
    let one = match value {
        AMQPValue::LongString(v) => String::from_utf8_lossy(v.as_bytes()).into_owned(),
        AMQPValue::ShortString(v) => v.to_string(),
        AMQPValue::FieldArray(values) => {
            return values.as_slice().iter().flat_map(strings).collect();
        }
        AMQPValue::Boolean(v) => v.to_string(),
        AMQPValue::ShortShortInt(v) => v.to_string(),
        AMQPValue::ShortShortUInt(v) => v.to_string(),
        AMQPValue::ShortInt(v) => v.to_string(),
        AMQPValue::ShortUInt(v) => v.to_string(),
        AMQPValue::LongInt(v) => v.to_string(),
        AMQPValue::LongUInt(v) => v.to_string(),
        AMQPValue::LongLongInt(v) => v.to_string(),
        AMQPValue::Float(v) => v.to_string(),
        AMQPValue::Double(v) => v.to_string(),
        AMQPValue::Timestamp(v) => v.to_string(),
        AMQPValue::ByteArray(v) => String::from_utf8_lossy(v.as_slice()).into_owned(),
        AMQPValue::Void => String::new(),
        other => format!("{other:?}"),
    };
    vec![one]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: Option<&str>, headers: &[(&str, &str)]) -> Message {
        Message {
            key: key.map(str::to_string),
            headers: headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            payload: b"payload".to_vec(),
        }
    }

    fn check(sent: Message, meta: Meta) {
        validate(&sent).unwrap();
        let properties = encode(&sent, meta);
        assert_eq!(properties.delivery_mode(), &Some(2));
        let (got, got_meta) = decode(&properties, sent.payload.clone());
        assert_eq!(got, sent);
        assert_eq!(got_meta, meta);
    }

    #[test]
    fn round_trips() {
        check(message(None, &[]), Meta::default());
        check(message(Some("user-1"), &[("ce-id", "1")]), Meta::default());
        check(
            message(Some(""), &[("z", "1"), ("a", "2"), ("m", "3")]),
            Meta {
                seq: 1_750_000_000_000_000_000,
                retries: 2,
                prior_deliveries: 3,
            },
        );
        check(
            message(None, &[("b", "1"), ("a", "x"), ("b", "2"), ("b", "3")]),
            Meta::default(),
        );
        check(
            message(None, &[("X-Retry-Count", ""), ("x-retry-count", "é")]),
            Meta::default(),
        );
    }

    #[test]
    fn reserved_and_oversized_names_are_refused() {
        assert!(validate(&message(None, &[("X-Switchyard-Key", "k")])).is_err());
        assert!(validate(&message(None, &[("", "v")])).is_err());
        assert!(validate(&message(None, &[(&"h".repeat(256), "v")])).is_err());
    }

    #[test]
    fn foreign_messages_are_read_leniently() {
        let mut table = FieldTable::default();
        table.insert("count".into(), AMQPValue::LongInt(7));
        table.insert(
            "x-death".into(),
            AMQPValue::FieldArray(FieldArray::default()),
        );
        table.insert("x-first-death-queue".into(), long_string("q"));
        table.insert(
            "tags".into(),
            AMQPValue::FieldArray(FieldArray::from(vec![long_string("a"), long_string("b")])),
        );
        let properties = BasicProperties::default().with_headers(table);
        let (got, meta) = decode(&properties, Vec::new());
        assert_eq!(
            got.headers,
            [
                ("count".to_string(), "7".to_string()),
                ("tags".to_string(), "a".to_string()),
                ("tags".to_string(), "b".to_string()),
            ]
        );
        assert_eq!(meta, Meta::default());
        let (got, _) = decode(&BasicProperties::default(), b"x".to_vec());
        assert_eq!(got, Message::new(b"x".to_vec()));
    }

    #[test]
    fn seq_clock_is_strictly_increasing() {
        let clock = SeqClock::default();
        let seqs: Vec<u64> = (0..1000).map(|_| clock.next()).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]));
        assert!(seqs[0] > 1_600_000_000_000_000_000);
    }

    #[test]
    fn a_retry_copy_names_its_topic_and_others_take_the_routing_key() {
        let message = message(Some("k"), &[("ce-id", "1")]);
        let plain = encode(&message, Meta::default());
        assert_eq!(topic_of(&plain, "email.sent"), "email.sent");
        let copy = with_topic(plain, "email.sent");
        assert_eq!(topic_of(&copy, "sub.retry.400"), "email.sent");
        let (decoded, _) = decode(&copy, message.payload.clone());
        assert_eq!(decoded, message, "the topic header is not a message header");
    }
}
