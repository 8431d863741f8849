//! How client and server failures become [`BusError`]s: the crate reports through the
//! bus's own error type, so callers match one set of kinds whatever the backend.

use lapin::ErrorKind;
use switchyard_bus::{BusError, BusErrorKind};

/// AMQP reply code of a missing queue or exchange.
const NOT_FOUND: u16 = 404;
/// AMQP reply code of a declaration that contradicts what the server has.
const PRECONDITION_FAILED: u16 = 406;
/// AMQP reply code of a refused login or permission.
const ACCESS_REFUSED: u16 = 403;

/// The AMQP reply code of a server-side refusal, if that is what `err` is.
pub(crate) fn reply_code(err: &lapin::Error) -> Option<u16> {
    match err.kind() {
        ErrorKind::ProtocolError(amqp) => Some(amqp.get_id()),
        _ => None,
    }
}

pub(crate) fn is_not_found(err: &lapin::Error) -> bool {
    reply_code(err) == Some(NOT_FOUND)
}

/// `context` says what failed, e.g. `failed to declare queue emails`.
pub(crate) fn amqp(context: &str, err: lapin::Error) -> BusError {
    let kind = match reply_code(&err) {
        Some(PRECONDITION_FAILED | ACCESS_REFUSED) => BusErrorKind::InvalidArgument,
        _ => match err.kind() {
            ErrorKind::InvalidConnectionState(state) if is_closed(state) => BusErrorKind::Closed,
            _ => BusErrorKind::Unavailable,
        },
    };
    BusError::new(kind, format!("{context}: {err}"))
}

fn is_closed(state: &lapin::ConnectionState) -> bool {
    matches!(state, lapin::ConnectionState::Closed)
}

pub(crate) fn unknown_subscription(name: &str) -> BusError {
    BusError::new(
        BusErrorKind::UnknownSubscription,
        format!("unknown subscription `{name}`: call ensure_subscription on this broker first"),
    )
}
