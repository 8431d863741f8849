//! The [`Detector`]: every courier format compiled once, and the search for tracking numbers
//! in free text.
//!
//! Search, line by line (a number never spans a line break):
//! 1. *Prefilter*: a line without an ASCII digit is skipped (every format has digits); a
//!    `RegexSet` over the automaton patterns says which formats match the line at all.
//! 2. *Candidates*: each remaining format's regex is run over the line from every token
//!    start; a match, trimmed of the spaces the data's `\s*` lets it take at either end,
//!    must sit on word boundaries (no letter, digit or `_` right before or after it).
//! 3. *Validation* ([`Format::validate`]): full match, checksum, required lookups.
//! 4. *Context*: a weak candidate (all digits, or spaced and checksum-free) is kept only
//!    when a shipping word or carrier name is near it, or when it is the whole input.
//!    Bare digit runs are what order numbers, phone numbers, timestamps and dates look
//!    like, and a checksum alone still lets one in ten (mod7: one in seven) through. An
//!    all-digit number of a format *without* checksum (DHL E-Commerce (14): any 14
//!    digits) needs its own carrier's name nearby.
//! 5. *Overlaps*: spaced numbers make nested candidates (`420 11213 92 6129…` holds
//!    `92 6129…`); the longest span wins, equal spans (one number, several carriers) all
//!    stay. Then one detection per (carrier, number), in order of appearance.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Serialize;

use crate::definitions::{CourierFile, EMBEDDED_COURIER_FILES};
use crate::error::{ShipmentsError, ShipmentsErrorKind};
use crate::format::{Format, FormatInfo, Validated};

/// How far before a weak candidate a shipping word may stand, in bytes.
const CONTEXT_BEFORE_BYTES: usize = 200;
/// How far after a weak candidate a shipping word may stand, in bytes.
const CONTEXT_AFTER_BYTES: usize = 80;
/// Words that say a nearby bare number is about a shipment; courier names and codes from
/// the data are added to these.
const SHIPPING_WORDS: &[&str] = &[
    "track",
    "tracking",
    "tracked",
    "trace",
    "shipment",
    "shipments",
    "shipped",
    "shipping",
    "ship",
    "ships",
    "package",
    "packages",
    "parcel",
    "parcels",
    "delivery",
    "delivered",
    "deliver",
    "waybill",
    "airway bill",
    "awb",
    "consignment",
    "courier",
    "carrier",
    "label",
    "pro number",
    "sendung",
    "paket",
    "colis",
    "envío",
];

/// A tracking number found in text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Detection {
    /// Courier code of the data (`ups`, `fedex`, `usps`, `dhl`, `s10`, …).
    pub carrier: String,
    /// Courier name; for S10 numbers the issuing postal operator (`Royal Mail Group plc`).
    pub carrier_name: String,
    /// The number without spaces, upper-cased.
    pub tracking_number: String,
    /// The courier's tracking page for this number, when the data has a template.
    pub tracking_url: Option<String>,
    /// Name of the matching format (`UPS`, `FedEx Express (12)`, `USPS IMpb C`).
    pub format: String,
}

/// All courier formats, compiled once; see the module docs for how text is searched.
#[derive(Debug)]
pub struct Detector {
    formats: Vec<Format>,
    /// The automaton search patterns, with the index of their format.
    prefilter: regex::RegexSet,
    prefilter_formats: Vec<usize>,
    backtracking_formats: Vec<usize>,
    shipping_context: regex::Regex,
    /// Per courier code, its name and code as words.
    carrier_context: HashMap<String, regex::Regex>,
}

#[derive(Debug)]
struct Candidate {
    start: usize,
    end: usize,
    format: usize,
    validated: Validated,
}

impl Detector {
    /// The detector over the embedded tracking_number_data v2.0.0, built on first use.
    pub fn standard() -> &'static Detector {
        static STANDARD: OnceLock<Detector> = OnceLock::new();
        STANDARD.get_or_init(|| {
            Detector::from_courier_files(EMBEDDED_COURIER_FILES)
                .expect("the embedded courier definitions load (checked by the sample suite)")
        })
    }

    /// Builds a detector from courier files in the tracking_number_data format, given as
    /// `(file name, JSON text)`.
    pub fn from_courier_files(files: &[(&str, &str)]) -> Result<Detector, ShipmentsError> {
        let mut formats = Vec::new();
        let mut carrier_context = HashMap::new();
        let mut context_words: Vec<String> = SHIPPING_WORDS
            .iter()
            .map(|word| regex::escape(word))
            .collect();
        for (file_name, json) in files {
            let courier: CourierFile = serde_json::from_str(json).map_err(|err| {
                ShipmentsError::new(
                    ShipmentsErrorKind::InvalidCourierFile,
                    format!("failed to parse courier file {file_name}"),
                    err.to_string(),
                )
            })?;
            let own_words = [
                regex::escape(&courier.courier_code.replace('_', " ")),
                regex::escape(&courier.name),
            ];
            carrier_context.insert(courier.courier_code.clone(), context_regex(&own_words)?);
            context_words.extend(own_words);
            for spec in &courier.tracking_numbers {
                formats.push(Format::compile(&courier, spec)?);
            }
        }
        let (backtracking_formats, prefilter_formats): (Vec<usize>, Vec<usize>) =
            (0..formats.len()).partition(|&index| formats[index].search.is_backtracking());
        let prefilter = regex::RegexSet::new(
            prefilter_formats
                .iter()
                .map(|&index| formats[index].search.as_str()),
        )
        .map_err(|err| {
            ShipmentsError::new(
                ShipmentsErrorKind::InvalidPattern,
                "failed to build the prefilter over all formats",
                err.to_string(),
            )
        })?;
        let shipping_context = context_regex(&context_words)?;
        Ok(Detector {
            formats,
            prefilter,
            prefilter_formats,
            backtracking_formats,
            shipping_context,
            carrier_context,
        })
    }

    /// Every format, in file order.
    pub fn formats(&self) -> impl ExactSizeIterator<Item = &FormatInfo> {
        self.formats.iter().map(|format| &format.info)
    }

    /// Finds the tracking numbers in free text, in order of appearance, one per
    /// (carrier, number).
    pub fn detect(&self, text: &str) -> Vec<Detection> {
        self.search(text, true)
    }

    /// [`Detector::detect`] without the context rule (step 4 of the module docs): every
    /// number valid in its format is reported, however bare, as the reference Ruby gem
    /// does. For input known to be a list of numbers, and to audit the context rule.
    pub fn detect_without_context_rule(&self, text: &str) -> Vec<Detection> {
        self.search(text, false)
    }

    fn search(&self, text: &str, context_rule: bool) -> Vec<Detection> {
        let mut candidates = Vec::new();
        let mut line_start = 0;
        for line in text.split_inclusive('\n') {
            self.collect_candidates(line, line_start, &mut candidates);
            line_start += line.len();
        }
        let trimmed = text.trim();
        let whole_start = text.len() - text.trim_start().len();
        candidates.retain(|candidate| {
            let whole_input =
                candidate.start == whole_start && candidate.end == whole_start + trimmed.len();
            !context_rule || whole_input || self.has_context(text, candidate)
        });
        // Longest first; keep a span unless it overlaps a kept, different span.
        candidates.sort_by_key(|candidate| {
            (
                std::cmp::Reverse(candidate.end - candidate.start),
                candidate.start,
            )
        });
        let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len());
        for candidate in candidates {
            let clashes = kept.iter().any(|other| {
                candidate.start < other.end
                    && other.start < candidate.end
                    && (candidate.start, candidate.end) != (other.start, other.end)
            });
            if !clashes {
                kept.push(candidate);
            }
        }
        kept.sort_by_key(|candidate| (candidate.start, candidate.format));
        let mut detections: Vec<Detection> = Vec::with_capacity(kept.len());
        for candidate in kept {
            let detection = self.detection(candidate.format, candidate.validated);
            if !detections.iter().any(|seen| {
                seen.carrier == detection.carrier
                    && seen.tracking_number == detection.tracking_number
            }) {
                detections.push(detection);
            }
        }
        detections
    }

    /// Every format one number is valid in (spaces allowed, any case), in file order: no
    /// search and no context rule, the whole input must be the number.
    pub fn identify(&self, number: &str) -> Vec<Detection> {
        self.formats
            .iter()
            .enumerate()
            .filter_map(|(index, format)| {
                format
                    .validate(number)
                    .map(|validated| self.detection(index, validated))
            })
            .collect()
    }

    fn collect_candidates(&self, line: &str, offset: usize, out: &mut Vec<Candidate>) {
        if !line.bytes().any(|b| b.is_ascii_digit()) {
            return;
        }
        let matching = self
            .prefilter
            .matches(line)
            .into_iter()
            .map(|set_index| self.prefilter_formats[set_index])
            .chain(self.backtracking_formats.iter().copied());
        for index in matching {
            let format = &self.formats[index];
            let mut pos = 0;
            while pos < line.len() {
                let Some((start, end)) = format.search.find_from(line, pos) else {
                    break;
                };
                let (start, end) = trim_spaces(line, start, end);
                if start < end
                    && is_boundary_before(line, start)
                    && is_boundary_after(line, end)
                    && let Some(validated) = format.validate(&line[start..end])
                {
                    out.push(Candidate {
                        start: offset + start,
                        end: offset + end,
                        format: index,
                        validated,
                    });
                }
                pos = next_token_start(line, start.max(pos));
            }
        }
    }

    /// Whether a candidate is strong, or has the context its weakness needs (step 4 of
    /// the module docs).
    fn has_context(&self, text: &str, candidate: &Candidate) -> bool {
        let number = &candidate.validated.number;
        let info = &self.formats[candidate.format].info;
        let has_letter = number.bytes().any(|b| b.is_ascii_alphabetic());
        let spaced = candidate.end - candidate.start > number.len();
        let words = if !has_letter && !info.has_checksum {
            match self.carrier_context.get(&info.carrier) {
                Some(words) => words,
                None => return false,
            }
        } else if !has_letter || (spaced && !info.has_checksum) {
            &self.shipping_context
        } else {
            return true;
        };
        let before =
            floor_char_boundary(text, candidate.start.saturating_sub(CONTEXT_BEFORE_BYTES));
        let after = ceil_char_boundary(text, (candidate.end + CONTEXT_AFTER_BYTES).min(text.len()));
        words.is_match(&text[before..candidate.start])
            || words.is_match(&text[candidate.end..after])
    }

    fn detection(&self, format: usize, validated: Validated) -> Detection {
        let info = &self.formats[format].info;
        Detection {
            carrier: info.carrier.clone(),
            carrier_name: validated.carrier_name,
            tracking_url: info
                .tracking_url
                .as_ref()
                .map(|url| url.replace("%s", &validated.number)),
            tracking_number: validated.number,
            format: info.name.clone(),
        }
    }
}

/// A case-insensitive regex matching any of `words` (already escaped) as whole words.
fn context_regex(words: &[String]) -> Result<regex::Regex, ShipmentsError> {
    regex::Regex::new(&format!(r"(?i)\b(?:{})\b", words.join("|"))).map_err(|err| {
        ShipmentsError::new(
            ShipmentsErrorKind::InvalidPattern,
            "failed to build the shipping context words",
            err.to_string(),
        )
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{A0}')
}

fn trim_spaces(line: &str, start: usize, end: usize) -> (usize, usize) {
    let span = &line[start..end];
    let trimmed_start = start + (span.len() - span.trim_start_matches(is_space).len());
    let trimmed_end = end - (span.len() - span.trim_end_matches(is_space).len());
    (trimmed_start, trimmed_end.max(trimmed_start))
}

fn is_boundary_before(line: &str, start: usize) -> bool {
    !line[..start].chars().next_back().is_some_and(is_word_char)
}

fn is_boundary_after(line: &str, end: usize) -> bool {
    !line[end..].chars().next().is_some_and(is_word_char)
}

/// The first position after `from` where a word starts, or the end of the line.
fn next_token_start(line: &str, from: usize) -> usize {
    let mut previous_is_word = true;
    for (index, c) in line[from..].char_indices() {
        let is_word = is_word_char(c);
        if index > 0 && is_word && !previous_is_word {
            return from + index;
        }
        previous_is_word = is_word;
    }
    line.len()
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests;
