//! The courier data of tracking_number_data v2.0.0: the embedded JSON files and their serde
//! model (`couriers/SOURCE.md` says where they come from).
//!
//! This module owns the data format only; interpreting it (regexes, checksums, lookups) is
//! `format.rs`'s job. Unknown keys are ignored so that newer data still loads; `partners`,
//! which no v2.0.0 definition declares, is not interpreted.

use serde::Deserialize;

/// Every courier file shipped with the crate, as `(file name, JSON text)`.
pub(crate) const EMBEDDED_COURIER_FILES: &[(&str, &str)] = &[
    ("amazon.json", include_str!("../couriers/amazon.json")),
    (
        "canadapost.json",
        include_str!("../couriers/canadapost.json"),
    ),
    ("canpar.json", include_str!("../couriers/canpar.json")),
    ("dhl.json", include_str!("../couriers/dhl.json")),
    ("dpd.json", include_str!("../couriers/dpd.json")),
    ("fedex.json", include_str!("../couriers/fedex.json")),
    ("gofo.json", include_str!("../couriers/gofo.json")),
    ("landmark.json", include_str!("../couriers/landmark.json")),
    ("lasership.json", include_str!("../couriers/lasership.json")),
    (
        "old_dominion.json",
        include_str!("../couriers/old_dominion.json"),
    ),
    ("ontrac.json", include_str!("../couriers/ontrac.json")),
    ("purolator.json", include_str!("../couriers/purolator.json")),
    ("s10.json", include_str!("../couriers/s10.json")),
    ("speedee.json", include_str!("../couriers/speedee.json")),
    ("ups.json", include_str!("../couriers/ups.json")),
    ("usps.json", include_str!("../couriers/usps.json")),
    ("yodel.json", include_str!("../couriers/yodel.json")),
    (
        "yunexpress.json",
        include_str!("../couriers/yunexpress.json"),
    ),
];

/// One `couriers/*.json` file.
#[derive(Debug, Deserialize)]
pub(crate) struct CourierFile {
    pub(crate) name: String,
    pub(crate) courier_code: String,
    pub(crate) tracking_numbers: Vec<FormatSpec>,
}

/// One tracking number format of a courier.
#[derive(Debug, Deserialize)]
pub(crate) struct FormatSpec {
    #[serde(default)]
    pub(crate) id: Option<String>,
    pub(crate) name: String,
    pub(crate) regex: RegexSource,
    #[serde(default)]
    pub(crate) validation: Validation,
    #[serde(default)]
    pub(crate) additional: Vec<Additional>,
    #[serde(default)]
    pub(crate) tracking_url: Option<String>,
    #[serde(default)]
    pub(crate) test_numbers: TestNumbers,
}

/// A regex, either whole or as fragments to concatenate.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RegexSource {
    Whole(String),
    Fragments(Vec<String>),
}

impl RegexSource {
    pub(crate) fn joined(&self) -> String {
        match self {
            Self::Whole(pattern) => pattern.clone(),
            Self::Fragments(fragments) => fragments.concat(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Validation {
    #[serde(default)]
    pub(crate) checksum: Option<ChecksumSpec>,
    #[serde(default)]
    pub(crate) serial_number_format: Option<SerialNumberFormat>,
    #[serde(default)]
    pub(crate) additional: Option<AdditionalValidation>,
}

/// A checksum: the algorithm's name and the constants it runs on.
#[derive(Debug, Deserialize)]
pub(crate) struct ChecksumSpec {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) weightings: Option<Vec<u32>>,
    #[serde(default)]
    pub(crate) modulo: Option<u32>,
    #[serde(default)]
    pub(crate) modulo1: Option<u32>,
    #[serde(default)]
    pub(crate) modulo2: Option<u32>,
    #[serde(default)]
    pub(crate) evens_multiplier: Option<u32>,
    #[serde(default)]
    pub(crate) odds_multiplier: Option<u32>,
    #[serde(default)]
    pub(crate) reverse: bool,
    #[serde(default)]
    pub(crate) alphabet: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct SerialNumberFormat {
    #[serde(default)]
    pub(crate) prepend_if: Option<PrependIf>,
}

/// Prepend `content` to the serial number when it matches `matches_regex`.
#[derive(Debug, Deserialize)]
pub(crate) struct PrependIf {
    pub(crate) matches_regex: String,
    pub(crate) content: String,
}

/// `validation.additional`: lookups (by their `name`) that must find an entry.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AdditionalValidation {
    #[serde(default)]
    pub(crate) exists: Vec<String>,
}

/// A lookup table for one named regex group.
#[derive(Debug, Deserialize)]
pub(crate) struct Additional {
    pub(crate) name: String,
    pub(crate) regex_group_name: String,
    pub(crate) lookup: Vec<LookupEntry>,
}

/// One row of a lookup table; `courier` is set for S10's postal operators.
#[derive(Debug, Deserialize)]
pub(crate) struct LookupEntry {
    #[serde(default)]
    pub(crate) matches: Option<String>,
    #[serde(default)]
    pub(crate) matches_regex: Option<String>,
    #[serde(default)]
    pub(crate) courier: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct TestNumbers {
    #[serde(default)]
    pub(crate) valid: Vec<String>,
    #[serde(default)]
    pub(crate) invalid: Vec<String>,
}
