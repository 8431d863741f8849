//! The check digit algorithms named by the courier data (`CHECKSUM_ALGORITHMS.md` of
//! tracking_number_data), with the constants each definition states.
//!
//! Each algorithm takes the serial number and the check digit as the regex read them,
//! whitespace removed and the `serial_number_format` rule applied. The reference
//! implementation (the Ruby gem) reads a non-digit as 0 with `to_i`; here a non-digit where
//! a digit belongs fails the check instead, which only ever rejects more.

use crate::definitions::ChecksumSpec;
use crate::error::{ShipmentsError, ShipmentsErrorKind};

/// The S10 weights when a definition does not state them (UPU S10 standard).
const S10_DEFAULT_WEIGHTINGS: [u32; 8] = [8, 6, 4, 2, 3, 5, 9, 7];
const BASE36_ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// A checksum algorithm with its constants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checksum {
    /// Weighted digit sum; letters count as `(code - 3) % 10` (UPS); check = `-sum mod 10`.
    Mod10 {
        evens_multiplier: u32,
        odds_multiplier: u32,
        reverse: bool,
        modulo: u32,
    },
    /// The serial read as a number, modulo 7 (DHL Express).
    Mod7 { modulo: u32 },
    /// UPU S10: weighted sum mod 11, remainder 1 → 0, 0 → 5, else `11 - r`.
    S10 { weightings: Vec<u32>, modulo: u32 },
    /// Weighted sum, then two moduli in turn (FedEx).
    SumProduct {
        weightings: Vec<u32>,
        modulo1: u32,
        modulo2: u32,
    },
    /// Luhn over the serial, doubling from its last digit.
    Luhn,
    /// ISO 7064 MOD 37,36 hybrid (DPD), check character from `alphabet`.
    Mod3736 { modulo: u32, alphabet: Vec<char> },
}

impl Checksum {
    /// Reads a checksum from its definition; `context` names the definition in errors.
    pub(crate) fn from_spec(spec: &ChecksumSpec, context: &str) -> Result<Self, ShipmentsError> {
        let missing = |constant: &str| {
            ShipmentsError::new(
                ShipmentsErrorKind::UnsupportedChecksum,
                format!("failed to read the checksum of {context}"),
                format!("{} needs `{constant}`", spec.name),
            )
        };
        let checksum = match spec.name.as_str() {
            "mod10" => Self::Mod10 {
                evens_multiplier: spec.evens_multiplier.unwrap_or(1),
                odds_multiplier: spec.odds_multiplier.unwrap_or(1),
                reverse: spec.reverse,
                modulo: spec.modulo.unwrap_or(10),
            },
            "mod7" => Self::Mod7 {
                modulo: spec.modulo.unwrap_or(7),
            },
            "s10" => Self::S10 {
                weightings: spec
                    .weightings
                    .clone()
                    .unwrap_or_else(|| S10_DEFAULT_WEIGHTINGS.to_vec()),
                modulo: spec.modulo.unwrap_or(11),
            },
            "sum_product_with_weightings_and_modulo" => Self::SumProduct {
                weightings: spec
                    .weightings
                    .clone()
                    .ok_or_else(|| missing("weightings"))?,
                modulo1: spec.modulo1.ok_or_else(|| missing("modulo1"))?,
                modulo2: spec.modulo2.ok_or_else(|| missing("modulo2"))?,
            },
            "luhn" => Self::Luhn,
            "mod_37_36" => Self::Mod3736 {
                modulo: spec.modulo.unwrap_or(36),
                alphabet: spec
                    .alphabet
                    .as_deref()
                    .unwrap_or(BASE36_ALPHABET)
                    .chars()
                    .collect(),
            },
            other => {
                return Err(ShipmentsError::new(
                    ShipmentsErrorKind::UnsupportedChecksum,
                    format!("failed to read the checksum of {context}"),
                    format!("unknown algorithm `{other}`"),
                ));
            }
        };
        let modulo_is_zero = match &checksum {
            Self::Mod10 { modulo, .. } | Self::Mod7 { modulo } | Self::S10 { modulo, .. } => {
                *modulo == 0
            }
            Self::SumProduct {
                modulo1, modulo2, ..
            } => *modulo1 == 0 || *modulo2 == 0,
            Self::Mod3736 { modulo, alphabet } => *modulo < 2 || alphabet.len() < *modulo as usize,
            Self::Luhn => false,
        };
        if modulo_is_zero {
            return Err(ShipmentsError::new(
                ShipmentsErrorKind::UnsupportedChecksum,
                format!("failed to read the checksum of {context}"),
                format!("{} has an unusable modulo or alphabet", spec.name),
            ));
        }
        Ok(checksum)
    }

    /// Whether `check_digit` is the check digit of `serial`.
    pub(crate) fn validates(&self, serial: &str, check_digit: &str) -> bool {
        match self {
            Self::Mod10 {
                evens_multiplier,
                odds_multiplier,
                reverse,
                modulo,
            } => {
                let Some(check) = single_digit(check_digit) else {
                    return false;
                };
                let values: Vec<u32> = serial.chars().map(mod10_value).collect();
                let ordered: Box<dyn Iterator<Item = &u32>> = if *reverse {
                    Box::new(values.iter().rev())
                } else {
                    Box::new(values.iter())
                };
                let total: u64 = ordered
                    .enumerate()
                    .map(|(index, value)| {
                        let multiplier = if index % 2 == 1 {
                            *odds_multiplier
                        } else {
                            *evens_multiplier
                        };
                        u64::from(value * multiplier)
                    })
                    .sum();
                complement(total, *modulo) == check
            }
            Self::Mod7 { modulo } => {
                let (Some(check), Ok(number)) = (single_digit(check_digit), serial.parse::<u128>())
                else {
                    return false;
                };
                serial.bytes().all(|b| b.is_ascii_digit())
                    && number % u128::from(*modulo) == u128::from(check)
            }
            Self::S10 { weightings, modulo } => {
                let (Some(check), Some(total)) =
                    (single_digit(check_digit), weighted_sum(serial, weightings))
                else {
                    return false;
                };
                let expected = match total % u64::from(*modulo) {
                    1 => 0,
                    0 => 5,
                    remainder => 11u64.saturating_sub(remainder),
                };
                expected == u64::from(check)
            }
            Self::SumProduct {
                weightings,
                modulo1,
                modulo2,
            } => {
                let (Some(check), Some(total)) =
                    (single_digit(check_digit), weighted_sum(serial, weightings))
                else {
                    return false;
                };
                total % u64::from(*modulo1) % u64::from(*modulo2) == u64::from(check)
            }
            Self::Luhn => {
                let Some(check) = single_digit(check_digit) else {
                    return false;
                };
                let mut total = 0u64;
                for (index, c) in serial.chars().rev().enumerate() {
                    let Some(mut value) = c.to_digit(10) else {
                        return false;
                    };
                    if index % 2 == 0 {
                        value *= 2;
                        if value > 9 {
                            value -= 9;
                        }
                    }
                    total += u64::from(value);
                }
                complement(total, 10) == check
            }
            Self::Mod3736 { modulo, alphabet } => {
                let modulo = *modulo;
                let mut cd = modulo;
                for c in serial.chars() {
                    let Some(value) = alphabet.iter().position(|a| *a == c.to_ascii_uppercase())
                    else {
                        return false;
                    };
                    cd += value as u32;
                    if cd > modulo {
                        cd -= modulo;
                    }
                    cd *= 2;
                    if cd > modulo {
                        cd -= modulo + 1;
                    }
                }
                let mut computed = (modulo + 1).saturating_sub(cd);
                if computed == modulo {
                    computed = 0;
                }
                let mut expected = check_digit.chars();
                match (
                    alphabet.get(computed as usize),
                    expected.next(),
                    expected.next(),
                ) {
                    (Some(want), Some(got), None) => *want == got.to_ascii_uppercase(),
                    _ => false,
                }
            }
        }
    }
}

/// A character's value in the mod10 sum: digits as themselves, letters as `(code - 3) % 10`.
fn mod10_value(c: char) -> u32 {
    c.to_digit(10)
        .unwrap_or_else(|| (u32::from(c).wrapping_sub(3)) % 10)
}

/// `(modulo - total % modulo) % modulo`: the digit that brings the sum to a multiple.
fn complement(total: u64, modulo: u32) -> u32 {
    let modulo = u64::from(modulo);
    ((modulo - total % modulo) % modulo) as u32
}

/// The sum of digit × weight over the pairs both sides have (Ruby's `zip`), or `None` if a
/// weighted position is not a digit.
fn weighted_sum(serial: &str, weightings: &[u32]) -> Option<u64> {
    serial
        .chars()
        .zip(weightings)
        .map(|(c, weight)| c.to_digit(10).map(|digit| u64::from(digit * weight)))
        .sum()
}

fn single_digit(text: &str) -> Option<u32> {
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c.to_digit(10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(checksum: &Checksum, serial: &str, check_digit: &str, expected: bool) {
        assert_eq!(
            checksum.validates(serial, check_digit),
            expected,
            "{checksum:?} on {serial} / {check_digit}"
        );
    }

    #[test]
    fn mod10_ups_with_letters() {
        let ups = Checksum::Mod10 {
            evens_multiplier: 1,
            odds_multiplier: 2,
            reverse: false,
            modulo: 10,
        };
        check(&ups, "5R8939035756712", "7", true);
        check(&ups, "5R8939035756712", "8", false);
        check(&ups, "5R8939035756712", "X", false);
    }

    #[test]
    fn mod7_dhl() {
        let dhl = Checksum::Mod7 { modulo: 7 };
        check(&dhl, "331881002", "5", true);
        check(&dhl, "331881001", "0", false);
        check(&dhl, "33188 1001", "0", false);
    }

    #[test]
    fn s10_remainders() {
        let s10 = Checksum::S10 {
            weightings: S10_DEFAULT_WEIGHTINGS.to_vec(),
            modulo: 11,
        };
        check(&s10, "12345678", "5", true);
        check(&s10, "12345678", "6", false);
    }

    #[test]
    fn sum_product_fedex() {
        let fedex = Checksum::SumProduct {
            weightings: vec![3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1],
            modulo1: 11,
            modulo2: 10,
        };
        check(&fedex, "98657878885", "5", true);
        check(&fedex, "99657878885", "5", false);
    }

    #[test]
    fn luhn_purolator() {
        check(&Checksum::Luhn, "32059546393", "8", true);
        check(&Checksum::Luhn, "32059546393", "9", false);
        check(&Checksum::Luhn, "7992739871", "3", true);
    }

    #[test]
    fn mod_37_36_dpd() {
        let dpd = Checksum::Mod3736 {
            modulo: 36,
            alphabet: BASE36_ALPHABET.chars().collect(),
        };
        check(&dpd, "09980000020033", "F", true);
        check(&dpd, "09980000020033", "D", false);
    }

    #[test]
    fn unknown_algorithm_is_an_error() {
        let spec: ChecksumSpec = serde_json::from_str(r#"{"name":"mod11"}"#).unwrap();
        let error = Checksum::from_spec(&spec, "x/Y").unwrap_err();
        assert_eq!(error.kind(), ShipmentsErrorKind::UnsupportedChecksum);
        assert_eq!(
            error.to_string(),
            "failed to read the checksum of x/Y: unknown algorithm `mod11`"
        );
    }
}
