//! How `POST /v1/events` reads a request: its CloudEvents content mode, from the
//! `Content-Type` and the `ce-` headers (415 for a body no mode reads), and the events of
//! the body in that mode, each decoded into an [`Envelope`] or refused with the
//! [`ContractError`] naming its attribute. The CloudEvents rules themselves (mode by
//! media type, binary-mode decoding) are switchyard-contracts'; what this route accepts
//! is decided here.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use switchyard_contracts::{
    CLOUDEVENTS_BATCH_CONTENT_TYPE, CLOUDEVENTS_CONTENT_TYPE, ContractError, Envelope,
    HttpContentMode, JSON_CONTENT_TYPE, has_attribute_headers, is_json_content_type, media_type,
};

use super::handlers::ApiError;

/// How `POST /v1/events` reads its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EventsBody {
    /// Binary mode: the attributes in `ce-` headers, the JSON data as the body.
    Binary,
    /// Structured mode (`application/cloudevents+json`): one event.
    Structured,
    /// Batched mode (`application/cloudevents-batch+json`): a JSON array of events.
    Batched,
    /// `application/json` without `ce-` headers, as before the modes were explicit: one
    /// event or an array of them.
    Json,
}

/// The mode of a request, or 415 saying what to send instead.
pub(super) fn events_body(headers: &HeaderMap) -> Result<EventsBody, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap_or("(not text)"));
    let media_type = content_type.map(media_type).unwrap_or_default();
    let unsupported = |message: String| ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, message);
    match HttpContentMode::of(content_type) {
        HttpContentMode::Structured if media_type == CLOUDEVENTS_CONTENT_TYPE => {
            Ok(EventsBody::Structured)
        }
        HttpContentMode::Structured => Err(unsupported(format!(
            "event format `{media_type}` is not supported: send `{CLOUDEVENTS_CONTENT_TYPE}`"
        ))),
        HttpContentMode::Batched if media_type == CLOUDEVENTS_BATCH_CONTENT_TYPE => {
            Ok(EventsBody::Batched)
        }
        HttpContentMode::Batched => Err(unsupported(format!(
            "batch format `{media_type}` is not supported: send `{CLOUDEVENTS_BATCH_CONTENT_TYPE}`"
        ))),
        HttpContentMode::Binary
            if has_attribute_headers(headers.keys().map(|name| name.as_str())) =>
        {
            // Every event type's payload is JSON; no Content-Type reads the body as JSON.
            match content_type {
                Some(content_type) if !is_json_content_type(content_type) => {
                    Err(unsupported(format!(
                        "binary mode: the body is the event's data, which must be JSON \
                         (`{JSON_CONTENT_TYPE}`), not `{media_type}`"
                    )))
                }
                _ => Ok(EventsBody::Binary),
            }
        }
        HttpContentMode::Binary if media_type == JSON_CONTENT_TYPE => Ok(EventsBody::Json),
        HttpContentMode::Binary => {
            let given = match content_type {
                Some(_) => format!("content type `{media_type}` is not accepted"),
                None => "no content type".to_string(),
            };
            Err(unsupported(format!(
                "{given}: send CloudEvents in binary mode (`ce-` headers, the data as \
                 `{JSON_CONTENT_TYPE}`), structured mode (`{CLOUDEVENTS_CONTENT_TYPE}`) or \
                 batched mode (`{CLOUDEVENTS_BATCH_CONTENT_TYPE}`, a JSON array)"
            )))
        }
    }
}

/// The events of a request body in `mode`, each decoded or refused, in request order;
/// 400 for a body that is not JSON or not the mode's shape.
pub(super) fn decode_events(
    mode: EventsBody,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<Result<Envelope, ContractError>>, ApiError> {
    let bad_request = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    let json = || {
        serde_json::from_slice::<Value>(body)
            .map_err(|err| bad_request(format!("malformed JSON: {err}")))
    };
    let values = match mode {
        EventsBody::Binary => {
            let headers = headers
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_bytes()));
            return Ok(vec![Envelope::from_http_binary(headers, body)]);
        }
        EventsBody::Structured => match json()? {
            single @ Value::Object(_) => vec![single],
            _ => {
                return Err(bad_request(format!(
                    "structured mode (`{CLOUDEVENTS_CONTENT_TYPE}`) takes one event, a JSON \
                     object: send an array as `{CLOUDEVENTS_BATCH_CONTENT_TYPE}`"
                )));
            }
        },
        EventsBody::Batched => match json()? {
            Value::Array(values) => values,
            _ => {
                return Err(bad_request(format!(
                    "batched mode (`{CLOUDEVENTS_BATCH_CONTENT_TYPE}`) takes a JSON array of \
                     events"
                )));
            }
        },
        EventsBody::Json => match json()? {
            Value::Array(values) => values,
            single => vec![single],
        },
    };
    Ok(values.into_iter().map(Envelope::from_json_value).collect())
}
