//! Fuzz target: the validation `POST /v1/events` runs on a request body (the handler,
//! `accept_events`, is in the binary crate, so this repeats its library calls): JSON, one
//! event or an array, each `Envelope::from_json_value`, `decode_office_event` for the
//! owner, then `Registry::prepare` as the publisher does; refusals become the response's
//! `error` and `field`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use switchyard_contracts::{ContractError, Envelope, decode_office_event};
use switchyard_fuzz::{REGISTRY, check_envelope};

fuzz_target!(|data: &[u8]| {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let values = match value {
        Value::Array(values) => values,
        single => vec![single],
    };
    for value in values {
        let envelope = match Envelope::from_json_value(value) {
            Ok(envelope) => envelope,
            Err(err) => {
                refusal(&err);
                continue;
            }
        };
        match decode_office_event(&envelope) {
            Ok(event) => assert!(!event.user_id().is_empty()),
            Err(ContractError::UnknownEventType(_))
                if REGISTRY.definition(&envelope.event_type).is_some() => {}
            Err(err) => {
                refusal(&err);
                continue;
            }
        }
        if let Err(err) = REGISTRY.prepare(&envelope) {
            refusal(&err);
        }
        check_envelope(&envelope);
    }
});

/// What the response says about a refused event.
fn refusal(err: &ContractError) {
    assert!(!err.to_string().is_empty());
    let _ = err.field();
}
