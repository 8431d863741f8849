//! The CloudEvents HTTP protocol binding (1.0): which content mode a message uses, and
//! how a binary-mode message (context attributes in `ce-` headers, `data` as the body)
//! becomes the very [`Envelope`] the JSON event format would give for the same event.
//!
//! No HTTP library here: headers arrive as `(name, value bytes)` pairs, so any server can
//! call it. What a route accepts (which media types, which modes, the status codes) is
//! the caller's decision.
//!
//! Binary mode, as decoded here:
//! - every `ce-{name}` header (names are case-insensitive) is the attribute `{name}`; its
//!   value is unescaped when double-quoted (RFC 7230 §3.2.6), then percent-decoded once,
//!   and must then be UTF-8;
//! - `Content-Type` is `datacontenttype`; a `ce-datacontenttype` header is refused, as
//!   the binding forbids it, and so are `ce-data` and `ce-data_base64`;
//! - the body is `data`: JSON (`application/json`, a `+json` suffix, or no
//!   `Content-Type`, which the JSON format reads as JSON) becomes the JSON value, text
//!   (`text/*`, XML) a JSON string, anything else `data_base64`; an empty body is no data;
//! - attributes the envelope types as integers (`schemaversion`, `datasize`) are read as
//!   integers, every other extension stays a string (a header does not say its type).
//!
//! Errors name the header the client sent (`ce-id`, `ce-time`, `content-type`), or the
//! path in `data` (`data.item.id`).

use base64::Engine;
use serde_json::{Map, Value};

use crate::{ContractError, Envelope};

/// The prefix of a binary-mode attribute header.
const ATTRIBUTE_HEADER_PREFIX: &str = "ce-";
/// Content type of a batch of structured-mode CloudEvents (the JSON batch format).
pub const CLOUDEVENTS_BATCH_CONTENT_TYPE: &str = "application/cloudevents-batch+json";

/// Attributes the envelope holds as integers: in a header they are the integer's text.
const INTEGER_ATTRIBUTES: [&str; 2] = ["schemaversion", "datasize"];

/// How an HTTP message carries CloudEvents (the binding's §3, by `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpContentMode {
    /// Attributes in `ce-` headers, `data` as the body.
    Binary,
    /// One event in an event format (`application/cloudevents+json`).
    Structured,
    /// Several events in a batch format (`application/cloudevents-batch+json`).
    Batched,
}

impl HttpContentMode {
    /// The mode of a message with this `Content-Type`: prefixed with
    /// `application/cloudevents-batch`, batched; with `application/cloudevents`,
    /// structured; anything else, or none, binary.
    pub fn of(content_type: Option<&str>) -> HttpContentMode {
        let media_type = content_type.map(media_type).unwrap_or_default();
        if media_type.starts_with("application/cloudevents-batch") {
            HttpContentMode::Batched
        } else if media_type.starts_with("application/cloudevents") {
            HttpContentMode::Structured
        } else {
            HttpContentMode::Binary
        }
    }
}

/// The media type of a `Content-Type` value, without its parameters, lowercase:
/// `application/json; charset=utf-8` is `application/json`.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether data of this content type is JSON for the JSON event format:
/// `application/json` or a `+json` structured-syntax suffix (RFC 6839).
pub fn is_json_content_type(content_type: &str) -> bool {
    let media_type = media_type(content_type);
    media_type == "application/json" || (media_type.contains('/') && media_type.ends_with("+json"))
}

/// Whether data of this content type is text, kept as a JSON string when it is UTF-8.
fn is_text_content_type(content_type: &str) -> bool {
    let media_type = media_type(content_type);
    media_type.starts_with("text/")
        || media_type == "application/xml"
        || (media_type.contains('/') && media_type.ends_with("+xml"))
}

/// Whether any header of the message is a binary-mode attribute (`ce-…`).
pub fn has_attribute_headers<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    names.into_iter().any(is_attribute_header)
}

fn is_attribute_header(name: &str) -> bool {
    name.get(..ATTRIBUTE_HEADER_PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(ATTRIBUTE_HEADER_PREFIX))
}

impl Envelope {
    /// Decodes one binary-mode CloudEvent: the `ce-` headers and `Content-Type` of
    /// `headers`, and `body` as its data. The envelope is the one the same event in
    /// structured mode gives, checked the same way ([`Envelope::from_json_value`]).
    pub fn from_http_binary<'a>(
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        body: &[u8],
    ) -> Result<Envelope, ContractError> {
        let mut attributes = Map::new();
        let mut content_type = None;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("content-type") {
                let value = std::str::from_utf8(value).map_err(|_| {
                    ContractError::invalid("content-type", "the value is not UTF-8")
                })?;
                content_type = Some(value.trim().to_string());
                continue;
            }
            if !is_attribute_header(name) {
                continue;
            }
            let attribute = name[ATTRIBUTE_HEADER_PREFIX.len()..].to_ascii_lowercase();
            let header = format!("{ATTRIBUTE_HEADER_PREFIX}{attribute}");
            match attribute.as_str() {
                "datacontenttype" => {
                    return Err(ContractError::invalid(
                        header,
                        "in binary mode `datacontenttype` is the Content-Type header",
                    ));
                }
                "data" | "data_base64" => {
                    return Err(ContractError::invalid(
                        header,
                        "in binary mode the data is the request body",
                    ));
                }
                _ => {}
            }
            let text = decode_header_value(value)
                .map_err(|reason| ContractError::invalid(header.clone(), reason))?;
            let value = if INTEGER_ATTRIBUTES.contains(&attribute.as_str()) {
                let number: u64 = text.trim().parse().map_err(|_| {
                    ContractError::invalid(header.clone(), format!("`{text}` is not an integer"))
                })?;
                Value::from(number)
            } else {
                Value::String(text)
            };
            if attributes.insert(attribute, value).is_some() {
                return Err(ContractError::invalid(
                    header,
                    "the header is sent more than once",
                ));
            }
        }
        if let Some(content_type) = &content_type {
            attributes.insert(
                "datacontenttype".to_string(),
                Value::String(content_type.clone()),
            );
        }
        let (member, data) = data_member(content_type.as_deref(), body)?;
        if let Some(data) = data {
            attributes.insert(member.to_string(), data);
        }
        Envelope::from_json_value(Value::Object(attributes)).map_err(name_the_header)
    }
}

/// The JSON-format member and value of a binary-mode body of `content_type`.
fn data_member(
    content_type: Option<&str>,
    body: &[u8],
) -> Result<(&'static str, Option<Value>), ContractError> {
    let is_json = content_type.is_none_or(is_json_content_type);
    if is_json {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(("data", None));
        }
        let data = serde_json::from_slice(body).map_err(|err| {
            ContractError::invalid(
                "data",
                format!("the body is not the JSON its content type says: {err}"),
            )
        })?;
        return Ok(("data", Some(data)));
    }
    if body.is_empty() {
        return Ok(("data", None));
    }
    if content_type.is_some_and(is_text_content_type)
        && let Ok(text) = std::str::from_utf8(body)
    {
        return Ok(("data", Some(Value::String(text.to_string()))));
    }
    let encoded = base64::engine::general_purpose::STANDARD.encode(body);
    Ok(("data_base64", Some(Value::String(encoded))))
}

/// One header value as the binding decodes it: a double-quoted string unescaped, then
/// one round of percent-decoding; the bytes must then be UTF-8.
fn decode_header_value(value: &[u8]) -> Result<String, String> {
    let trimmed = value.trim_ascii();
    let unquoted;
    let value = match trimmed {
        [b'"', inner @ .., b'"'] => {
            unquoted = unescape_quoted(inner);
            unquoted.as_slice()
        }
        _ => trimmed,
    };
    percent_encoding::percent_decode(value)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| "the percent-decoded value is not UTF-8".to_string())
}

/// The content of an RFC 7230 quoted-string: `\x` stands for `x`.
fn unescape_quoted(inner: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(inner.len());
    let mut escaped = false;
    for &byte in inner {
        if escaped || byte != b'\\' {
            bytes.push(byte);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    bytes
}

/// An error of the decoded envelope, naming the header its attribute came from; data
/// paths stay as they are.
fn name_the_header(err: ContractError) -> ContractError {
    let header = |field: String| match field.as_str() {
        "datacontenttype" => "content-type".to_string(),
        "data" | "data_base64" => field,
        _ if field.starts_with("data.") => field,
        _ => format!("{ATTRIBUTE_HEADER_PREFIX}{field}"),
    };
    match err {
        ContractError::MissingField { field } => ContractError::MissingField {
            field: header(field),
        },
        ContractError::InvalidField { field, reason } => ContractError::InvalidField {
            field: header(field),
            reason,
        },
        other => other,
    }
}

#[cfg(test)]
mod tests;
