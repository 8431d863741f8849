//! Fuzz target: importing a PowerPoint deck (`zip` + `quick-xml`) through
//! `read_file_with_limits`, as `switchyard import` does.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard_office::SourceKind;

fuzz_target!(|data: &[u8]| switchyard_fuzz::import(SourceKind::Pptx, data));
