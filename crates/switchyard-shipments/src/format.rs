//! One tracking number format compiled from its courier definition, and the validation of
//! a candidate number against it.
//!
//! Validation follows the reference implementation: the candidate, whitespace removed and
//! upper-cased, must match the whole regex; the `SerialNumber` group gets the
//! `serial_number_format` rule, then the checksum must hold, then every lookup named in
//! `validation.additional.exists` must find a row for its group's value.

use crate::checksum::Checksum;
use crate::definitions::{CourierFile, FormatSpec};
use crate::error::{ShipmentsError, ShipmentsErrorKind};
use crate::pattern::{CompiledRegex, convert_pattern};

const SERIAL_NUMBER: &str = "SerialNumber";
const CHECK_DIGIT: &str = "CheckDigit";
/// The lookup whose row names the postal operator (S10).
const COURIER_LOOKUP: &str = "Courier";

/// What a format is: its carrier, its name and the samples its definition ships with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    /// Courier code (`ups`, `fedex`, `s10`, …).
    pub carrier: String,
    /// Courier name (`UPS`, `United States Postal Service`, …).
    pub carrier_name: String,
    /// The definition's `id` (`fedex_12`), absent in a few definitions.
    pub id: Option<String>,
    /// The definition's name (`FedEx Express (12)`).
    pub name: String,
    /// Tracking URL template with `%s` for the number, when the courier has one.
    pub tracking_url: Option<String>,
    /// `test_numbers.valid` of the definition, as written (spaces kept).
    pub valid_samples: Vec<String>,
    /// `test_numbers.invalid` of the definition.
    pub invalid_samples: Vec<String>,
    /// Whether a checksum backs the format; formats without one match on shape alone.
    pub has_checksum: bool,
    /// Whether its regex needs look-around, and so the backtracking engine.
    pub uses_backtracking: bool,
}

/// A valid number of one format, as read by [`Format::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Validated {
    /// The number, whitespace removed and upper-cased.
    pub(crate) number: String,
    /// The carrier name, the postal operator's for S10.
    pub(crate) carrier_name: String,
}

#[derive(Debug)]
enum Matcher {
    Exact(String),
    Pattern(CompiledRegex),
}

#[derive(Debug)]
struct Lookup {
    name: String,
    /// Index of the group in `Format::group_names`.
    group: usize,
    rows: Vec<(Matcher, Option<String>)>,
}

/// A compiled format.
#[derive(Debug)]
pub(crate) struct Format {
    pub(crate) info: FormatInfo,
    /// Unanchored, to find candidates in text.
    pub(crate) search: CompiledRegex,
    /// Anchored, to validate a compact candidate and read its groups.
    verify: CompiledRegex,
    group_names: Vec<String>,
    serial_group: usize,
    check_group: Option<usize>,
    checksum: Option<Checksum>,
    prepend_if: Option<(CompiledRegex, String)>,
    lookups: Vec<Lookup>,
    /// Indexes into `lookups` that must find a row.
    required_lookups: Vec<usize>,
}

impl Format {
    /// Compiles one format of `courier`.
    pub(crate) fn compile(
        courier: &CourierFile,
        spec: &FormatSpec,
    ) -> Result<Self, ShipmentsError> {
        let context = format!("{}/{}", courier.courier_code, spec.name);
        let invalid = |detail: String| {
            ShipmentsError::new(
                ShipmentsErrorKind::InvalidDefinition,
                format!("failed to load {context}"),
                detail,
            )
        };
        let converted = convert_pattern(&spec.regex.joined());
        let search = CompiledRegex::compile(&converted, &context)?;
        let verify = CompiledRegex::compile(&format!(r"\A(?:{converted})\z"), &context)?;
        let group_names = verify.group_names();
        let position = |name: &str| group_names.iter().position(|n| n == name);
        let serial_group = position(SERIAL_NUMBER)
            .ok_or_else(|| invalid(format!("the regex has no `{SERIAL_NUMBER}` group")))?;
        let check_group = position(CHECK_DIGIT);
        let checksum = match &spec.validation.checksum {
            Some(checksum_spec) => {
                if check_group.is_none() {
                    return Err(invalid(format!(
                        "a checksum needs a `{CHECK_DIGIT}` group in the regex"
                    )));
                }
                Some(Checksum::from_spec(checksum_spec, &context)?)
            }
            None => None,
        };
        let prepend_if = match spec
            .validation
            .serial_number_format
            .as_ref()
            .and_then(|format| format.prepend_if.as_ref())
        {
            Some(rule) => Some((
                CompiledRegex::from_ruby(
                    &rule.matches_regex,
                    &format!("{context} serial_number_format"),
                )?,
                rule.content.clone(),
            )),
            None => None,
        };
        let mut lookups = Vec::with_capacity(spec.additional.len());
        for additional in &spec.additional {
            let group = position(&additional.regex_group_name).ok_or_else(|| {
                invalid(format!(
                    "lookup `{}` reads group `{}`, which the regex does not have",
                    additional.name, additional.regex_group_name
                ))
            })?;
            let mut rows = Vec::with_capacity(additional.lookup.len());
            for row in &additional.lookup {
                let matcher = match (&row.matches, &row.matches_regex) {
                    (Some(exact), _) => Matcher::Exact(exact.clone()),
                    (None, Some(pattern)) => Matcher::Pattern(CompiledRegex::from_ruby(
                        pattern,
                        &format!("{context} lookup {}", additional.name),
                    )?),
                    (None, None) => {
                        return Err(invalid(format!(
                            "a row of lookup `{}` has neither `matches` nor `matches_regex`",
                            additional.name
                        )));
                    }
                };
                rows.push((matcher, row.courier.clone()));
            }
            lookups.push(Lookup {
                name: additional.name.clone(),
                group,
                rows,
            });
        }
        let mut required_lookups = Vec::new();
        if let Some(additional) = &spec.validation.additional {
            for name in &additional.exists {
                let index = lookups
                    .iter()
                    .position(|lookup| &lookup.name == name)
                    .ok_or_else(|| {
                        invalid(format!(
                            "`exists` names lookup `{name}`, which is not defined"
                        ))
                    })?;
                required_lookups.push(index);
            }
        }
        let info = FormatInfo {
            carrier: courier.courier_code.clone(),
            carrier_name: courier.name.clone(),
            id: spec.id.clone(),
            name: spec.name.clone(),
            tracking_url: spec.tracking_url.clone().filter(|url| !url.is_empty()),
            valid_samples: spec.test_numbers.valid.clone(),
            invalid_samples: spec.test_numbers.invalid.clone(),
            has_checksum: checksum.is_some(),
            uses_backtracking: search.is_backtracking(),
        };
        Ok(Self {
            info,
            search,
            verify,
            group_names,
            serial_group,
            check_group,
            checksum,
            prepend_if,
            lookups,
            required_lookups,
        })
    }

    /// Validates a candidate number (spaces allowed, any case); `None` when it is not a
    /// valid number of this format.
    pub(crate) fn validate(&self, candidate: &str) -> Option<Validated> {
        let number: String = candidate
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_uppercase)
            .collect();
        let groups = self.verify.named_groups(&number, &self.group_names)?;
        let raw_serial = groups[self.serial_group]?;
        let serial = match &self.prepend_if {
            Some((pattern, content)) if pattern.is_match(raw_serial) => {
                format!("{content}{raw_serial}")
            }
            _ => raw_serial.to_owned(),
        };
        if let Some(checksum) = &self.checksum {
            let check_digit = self.check_group.and_then(|index| groups[index])?;
            if !checksum.validates(&serial, check_digit) {
                return None;
            }
        }
        let mut operator = None;
        for (index, lookup) in self.lookups.iter().enumerate() {
            let row = groups[lookup.group].and_then(|value| {
                lookup.rows.iter().find(|(matcher, _)| match matcher {
                    Matcher::Exact(exact) => exact == value,
                    Matcher::Pattern(pattern) => pattern.is_match(value),
                })
            });
            match row {
                Some((_, courier)) if lookup.name == COURIER_LOOKUP => operator = courier.clone(),
                Some(_) => {}
                None if self.required_lookups.contains(&index) => return None,
                None => {}
            }
        }
        Some(Validated {
            carrier_name: operator.unwrap_or_else(|| self.info.carrier_name.clone()),
            number,
        })
    }
}
