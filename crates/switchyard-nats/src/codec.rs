//! How Switchyard names and messages map onto NATS: topic → subject (`{prefix}.{topic}`)
//! and stream name,
//! subscription → durable consumer name, and `Message` ⇄ NATS headers plus payload.
//!
//! Wire layout of a message (a stable format: other processes read it back):
//! - the payload is the NATS payload, unchanged;
//! - every `Message.headers` pair is a NATS header with the same name and value;
//! - `Switchyard-Key` holds the partition key, absent when there is none;
//! - `Switchyard-Header-Order` lists the header names in their original order, separated
//!   by spaces (NATS header names cannot hold spaces), because NATS clients hand headers
//!   back grouped by name; it is absent when the message has no header;
//! - `Nats-Msg-Id` is the `ce-id` header's value, for the server's publish dedupe, followed
//!   by `@` and the `X-Republished-From` value when a message is deliberately published
//!   again (a redriven dead letter), which must not be dropped as a duplicate.
//!
//! Messages published by other NATS clients (no order header) come back with every header
//! except the reserved ones above, grouped by name in name order. NATS trims spaces around
//! header values, so a value or key with leading or trailing spaces comes back trimmed.

use async_nats::{HeaderMap, HeaderName, HeaderValue};
use switchyard_bus::{BusError, BusErrorKind, Message, REPUBLISHED_FROM_HEADER, is_pattern};

/// Header holding the partition key.
pub(crate) const KEY_HEADER: &str = "Switchyard-Key";
/// Header listing the names of `Message.headers` in order.
pub(crate) const ORDER_HEADER: &str = "Switchyard-Header-Order";
/// The server's dedupe header.
pub(crate) const MSG_ID_HEADER: &str = "Nats-Msg-Id";
/// The message header whose value becomes the dedupe id.
const DEDUPE_SOURCE_HEADER: &str = "ce-id";

fn invalid(message: String) -> BusError {
    BusError::new(BusErrorKind::InvalidArgument, message)
}

/// Checks that `topic` can be a literal NATS subject: dot-separated non-empty tokens,
/// no whitespace, no wildcards (neither NATS's `*`, `>` nor the bus's `#` word), not in the
/// server's `$` namespace.
pub(crate) fn validate_topic(topic: &str) -> Result<(), BusError> {
    let bad = topic.is_empty()
        || is_pattern(topic)
        || topic.starts_with('$')
        || topic
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
        || topic.split('.').any(str::is_empty);
    if bad {
        return Err(invalid(format!(
            "invalid topic `{topic}`: NATS needs dot-separated non-empty tokens without \
             whitespace, `*`, `>`, a `#` token or a leading `$`"
        )));
    }
    Ok(())
}

/// Replaces every character a stream or consumer name cannot hold by `_`.
fn sanitize(name: &str, keep_dash: bool) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || (keep_dash && c == '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The subject `topic` travels on: `{prefix}.{topic}`. Deployments with different prefixes
/// then share a server: their streams capture different subjects.
pub(crate) fn subject_name(prefix: &str, topic: &str) -> String {
    format!("{prefix}.{topic}")
}

/// The topic a subject of `prefix` carries.
pub(crate) fn topic_of_subject<'a>(prefix: &str, subject: &'a str) -> Option<&'a str> {
    subject.strip_prefix(prefix)?.strip_prefix('.')
}

/// The stream holding `topic`: `{prefix}_{topic}` with `.`, `-` and other characters a
/// stream name cannot hold replaced by `_`.
pub(crate) fn stream_name(prefix: &str, topic: &str) -> String {
    format!("{prefix}_{}", sanitize(topic, false))
}

/// The durable consumer of `subscription`.
pub(crate) fn consumer_name(subscription: &str) -> String {
    sanitize(subscription, true)
}

/// The stream description, which records the topic for humans.
pub(crate) fn stream_description(topic: &str) -> String {
    format!("switchyard topic {topic}")
}

const PATTERN_DESCRIPTION: &str = "switchyard pattern ";

/// The stream of pattern subscription `subscription`: `{prefix}_pattern-{subscription}`
/// (sanitized like a consumer name). Topic stream names never hold `-`, so the two kinds
/// cannot collide, and the prefix keeps it with the deployment's other streams.
pub(crate) fn pattern_stream_name(prefix: &str, subscription: &str) -> String {
    format!("{prefix}_pattern-{}", sanitize(subscription, true))
}

/// The description of a pattern subscription's stream: the pattern, then the exact
/// subscription name (the stream name is lossy).
pub(crate) fn pattern_stream_description(pattern: &str, subscription: &str) -> String {
    format!("{PATTERN_DESCRIPTION}{pattern} {subscription}")
}

/// The pattern of a pattern subscription's stream, from its description.
pub(crate) fn pattern_of_description(description: Option<&str>) -> Option<&str> {
    description?
        .strip_prefix(PATTERN_DESCRIPTION)?
        .split_once(' ')
        .map(|(pattern, _)| pattern)
}

const SUBSCRIPTION_DESCRIPTION: &str = "switchyard subscription ";

/// The consumer description, which records the subscription's exact name, since the
/// consumer name is lossy.
pub(crate) fn consumer_description(subscription: &str) -> String {
    format!("{SUBSCRIPTION_DESCRIPTION}{subscription}")
}

/// The subscription a consumer serves, from its description, else its name.
pub(crate) fn subscription_of(consumer: &str, description: Option<&str>) -> String {
    description
        .and_then(|d| d.strip_prefix(SUBSCRIPTION_DESCRIPTION))
        .unwrap_or(consumer)
        .to_string()
}

fn header_name(name: &str) -> Result<HeaderName, BusError> {
    name.parse::<HeaderName>().map_err(|_| {
        invalid(format!(
            "invalid header name `{name}`: NATS needs printable ASCII without spaces or `:`"
        ))
    })
}

fn header_value(name: &str, value: &str) -> Result<HeaderValue, BusError> {
    value.parse::<HeaderValue>().map_err(|_| {
        invalid(format!(
            "invalid value of header `{name}`: it holds a line break"
        ))
    })
}

fn is_reserved(name: &str) -> bool {
    [KEY_HEADER, ORDER_HEADER, MSG_ID_HEADER]
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
}

/// The NATS headers carrying `message`'s headers and key.
pub(crate) fn encode_headers(message: &Message) -> Result<HeaderMap, BusError> {
    let mut headers = HeaderMap::new();
    let mut order = String::new();
    for (name, value) in &message.headers {
        if is_reserved(name) {
            return Err(invalid(format!(
                "header `{name}` is reserved by the NATS backend"
            )));
        }
        headers.append(header_name(name)?, header_value(name, value)?);
        if !order.is_empty() {
            order.push(' ');
        }
        order.push_str(name);
    }
    if !order.is_empty() {
        headers.insert(ORDER_HEADER, header_value(ORDER_HEADER, &order)?);
    }
    if let Some(key) = &message.key {
        headers.insert(KEY_HEADER, header_value(KEY_HEADER, key)?);
    }
    if let Some(id) = message.header(DEDUPE_SOURCE_HEADER) {
        let id = match message.header(REPUBLISHED_FROM_HEADER) {
            Some(occasion) => format!("{id}@{occasion}"),
            None => id.to_string(),
        };
        headers.insert(MSG_ID_HEADER, header_value(DEDUPE_SOURCE_HEADER, &id)?);
    }
    Ok(headers)
}

/// Parses a header block as stored by JetStream (`NATS/1.0` then `Name: value` lines),
/// keeping every value of a repeated name, which async-nats' own parser of stored
/// messages does not.
pub(crate) fn parse_stored_headers(block: &[u8]) -> Result<HeaderMap, BusError> {
    let corrupt = |reason: &str| {
        BusError::new(
            BusErrorKind::Corrupt,
            format!("failed to read stored headers: {reason}"),
        )
    };
    let text = std::str::from_utf8(block).map_err(|_| corrupt("not UTF-8"))?;
    let mut lines = text.split("\r\n");
    if !lines
        .next()
        .is_some_and(|line| line.starts_with("NATS/1.0"))
    {
        return Err(corrupt("no NATS/1.0 version line"));
    }
    let mut headers = HeaderMap::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| corrupt("a line without `:`"))?;
        let name = name
            .parse::<HeaderName>()
            .map_err(|_| corrupt("an invalid header name"))?;
        let value = value
            .trim()
            .parse::<HeaderValue>()
            .map_err(|_| corrupt("an invalid header value"))?;
        headers.append(name, value);
    }
    Ok(headers)
}

/// The message stored as `headers` and `payload`.
pub(crate) fn decode_message(headers: Option<&HeaderMap>, payload: &[u8]) -> Message {
    let mut message = Message::new(payload.to_vec());
    let Some(headers) = headers else {
        return message;
    };
    message.key = headers.get(KEY_HEADER).map(|v| v.as_str().to_string());
    match headers.get(ORDER_HEADER) {
        Some(order) => {
            // Each name takes its values in order; a name listed twice takes its next value.
            let mut taken: Vec<(&str, usize)> = Vec::new();
            for name in order.as_str().split(' ').filter(|n| !n.is_empty()) {
                let Ok(parsed) = name.parse::<HeaderName>() else {
                    continue;
                };
                let index = match taken.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, next)) => {
                        *next += 1;
                        *next - 1
                    }
                    None => {
                        taken.push((name, 1));
                        0
                    }
                };
                if let Some(value) = headers.get_all(parsed).nth(index) {
                    message
                        .headers
                        .push((name.to_string(), value.as_str().to_string()));
                }
            }
        }
        None => {
            let mut foreign: Vec<(String, String)> = headers
                .iter()
                .filter(|(name, _)| !is_reserved(name.as_ref()))
                .flat_map(|(name, values)| {
                    values
                        .iter()
                        .map(move |v| (name.to_string(), v.as_str().to_string()))
                })
                .collect();
            foreign.sort_by(|a, b| a.0.cmp(&b.0));
            message.headers = foreign;
        }
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(message: Message) {
        let headers = encode_headers(&message).expect("valid message");
        let back = decode_message(Some(&headers), &message.payload);
        assert_eq!(back, message);
    }

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn messages_roundtrip() {
        roundtrip(Message::new(b"plain".to_vec()));
        roundtrip(Message {
            key: Some("user-1".into()),
            headers: vec![],
            payload: vec![],
        });
        roundtrip(Message {
            key: Some(String::new()),
            headers: vec![header("ce-id", "0")],
            payload: b"x".to_vec(),
        });
        roundtrip(Message {
            key: None,
            headers: vec![
                header("z-last", "1"),
                header("ce-id", "abc"),
                header("z-last", "2"),
                header("X-Retry-Count", "0"),
                header("a", ""),
                header(
                    "traceparent",
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                ),
            ],
            payload: vec![0, 159, 146, 150],
        });
    }

    #[test]
    fn dedupe_id_comes_from_ce_id() {
        let message = Message {
            headers: vec![header("CE-ID", "event-7")],
            ..Message::default()
        };
        let headers = encode_headers(&message).expect("valid");
        assert_eq!(
            headers.get(MSG_ID_HEADER).map(|v| v.as_str()),
            Some("event-7")
        );
        let plain = encode_headers(&Message::new(vec![])).expect("valid");
        assert!(plain.get(MSG_ID_HEADER).is_none());
    }

    #[test]
    fn bad_headers_are_refused() {
        let with = |name: &str, value: &str| Message {
            headers: vec![header(name, value)],
            ..Message::default()
        };
        for message in [
            with("has space", "v"),
            with("colon:", "v"),
            with("ok", "line\nbreak"),
            with("Nats-Msg-Id", "v"),
            with("switchyard-key", "v"),
        ] {
            let err = encode_headers(&message).expect_err("refused");
            assert_eq!(err.kind(), BusErrorKind::InvalidArgument);
        }
        let bad_key = Message {
            key: Some("a\r\nb".into()),
            ..Message::default()
        };
        assert!(encode_headers(&bad_key).is_err());
    }

    #[test]
    fn foreign_messages_keep_their_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("b", "2");
        headers.insert("a", "1");
        headers.insert(MSG_ID_HEADER, "id");
        let message = decode_message(Some(&headers), b"p");
        assert_eq!(message.headers, [header("a", "1"), header("b", "2")]);
        assert_eq!(message.key, None);
    }

    #[test]
    fn stored_headers() {
        let block = b"NATS/1.0\r\nb: 1\r\na:2\r\nb:  3 \r\n\r\n";
        let headers = parse_stored_headers(block).expect("valid block");
        let values: Vec<&str> = headers.get_all("b").map(|v| v.as_str()).collect();
        assert_eq!(values, ["1", "3"]);
        assert_eq!(headers.get("a").map(|v| v.as_str()), Some("2"));
        for bad in [&b"HTTP/1.1\r\n"[..], b"NATS/1.0\r\nno colon\r\n", b"\xff"] {
            let err = parse_stored_headers(bad).expect_err("refused");
            assert_eq!(err.kind(), BusErrorKind::Corrupt);
        }
    }

    #[test]
    fn topics() {
        for good in ["emails", "conformance.basic-0190", "a.b.c_d", "x/y"] {
            assert!(validate_topic(good).is_ok(), "{good}");
        }
        for bad in [
            "", "a..b", ".a", "a.", "a b", "a.*", "a.>", "a.#", "#", "$JS.API", "tab\t",
        ] {
            assert!(validate_topic(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pattern_streams() {
        assert_eq!(
            pattern_stream_name("SWITCHYARD", "mail.audit"),
            "SWITCHYARD_pattern-mail_audit"
        );
        let description = pattern_stream_description("email.#", "mail audit");
        assert_eq!(pattern_of_description(Some(&description)), Some("email.#"));
        assert_eq!(pattern_of_description(Some("switchyard topic a")), None);
        assert_eq!(pattern_of_description(None), None);
    }

    #[test]
    fn names() {
        assert_eq!(
            stream_name("SWITCHYARD", "emails.dlq-v1"),
            "SWITCHYARD_emails_dlq_v1"
        );
        assert_eq!(stream_name("P", "a/b"), "P_a_b");
        assert_eq!(
            consumer_name("search-indexer.emails"),
            "search-indexer_emails"
        );
        let description = consumer_description("a.b c");
        assert_eq!(subscription_of("a_b_c", Some(&description)), "a.b c");
        assert_eq!(subscription_of("other", None), "other");
        assert_eq!(subscription_of("other", Some("made by hand")), "other");
    }
}
