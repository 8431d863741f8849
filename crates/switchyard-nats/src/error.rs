//! Maps async-nats and JetStream API failures onto [`BusError`] kinds, so that
//! `is_retryable()` holds for connection trouble and timeouts and not for bad input.

use async_nats::jetstream::context::{
    PublishError, PublishErrorKind, RequestError, RequestErrorKind,
};
use switchyard_bus::{BusError, BusErrorKind};

/// The server or the connection failed; the same call may work later.
pub(crate) fn unavailable(context: &str, err: impl std::fmt::Display) -> BusError {
    BusError::new(BusErrorKind::Unavailable, format!("{context}: {err}"))
}

/// A JetStream API request got no usable answer.
pub(crate) fn request_error(context: &str, err: &RequestError) -> BusError {
    match err.kind() {
        RequestErrorKind::InvalidSubject => {
            BusError::new(BusErrorKind::InvalidArgument, format!("{context}: {err}"))
        }
        RequestErrorKind::NoResponders => {
            unavailable(context, "jetstream did not answer (is it enabled?)")
        }
        RequestErrorKind::TimedOut | RequestErrorKind::Other => unavailable(context, err),
    }
}

/// The JetStream API refused a request: server-side trouble (5xx) is retryable, a refusal
/// of the request itself (4xx) is not.
pub(crate) fn api_error(context: &str, err: &async_nats::jetstream::Error) -> BusError {
    let kind = if err.code() >= 500 {
        BusErrorKind::Unavailable
    } else {
        BusErrorKind::InvalidArgument
    };
    BusError::new(kind, format!("{context}: {err}"))
}

/// A publish or its acknowledgement failed.
pub(crate) fn publish_error(topic: &str, err: &PublishError) -> BusError {
    let context = format!("failed to publish to topic {topic}");
    match err.kind() {
        PublishErrorKind::MaxPayloadExceeded => {
            BusError::new(BusErrorKind::InvalidArgument, format!("{context}: {err}"))
        }
        // A refusal by the stream (for example a full stream with discard new) may clear
        // once messages age out, so everything else counts as retryable.
        _ => unavailable(&context, err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let timeout = RequestError::new(RequestErrorKind::TimedOut);
        assert!(request_error("ctx", &timeout).is_retryable());
        let subject = RequestError::new(RequestErrorKind::InvalidSubject);
        assert!(!request_error("ctx", &subject).is_retryable());
        let payload = PublishError::new(PublishErrorKind::MaxPayloadExceeded);
        assert_eq!(
            publish_error("t", &payload).kind(),
            BusErrorKind::InvalidArgument
        );
        let lost = PublishError::new(PublishErrorKind::TimedOut);
        assert!(publish_error("t", &lost).is_retryable());
        assert!(
            publish_error("t", &lost)
                .to_string()
                .starts_with("failed to publish to topic t: ")
        );
    }
}
