//! Fuzz target: decoding one structured-mode CloudEvent (`Envelope::from_json_slice`), as
//! a consumer does with a message's bytes, then upcasting, decoding the office payload and
//! validating it for publishing (`Registry::prepare`).

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_contracts::{Envelope, decode_office_event};
use switchyard_fuzz::{REGISTRY, check_envelope};

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::from_json_slice(data) else {
        return;
    };
    let _ = decode_office_event(&envelope);
    let _ = REGISTRY.idempotency_key("fuzz", &envelope);
    let _ = REGISTRY.claim_check_key(&envelope);
    let Ok(current) = REGISTRY.upcast(envelope) else {
        return;
    };
    for envelope in &current {
        check_envelope(envelope);
    }
});
