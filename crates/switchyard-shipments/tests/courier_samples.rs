//! The sample suite: every `test_numbers` entry of every embedded courier definition, as a
//! bare number, on its own through `detect`, and inside a sentence.

use std::collections::BTreeMap;

use switchyard_shipments::{Detector, FormatInfo};

fn compact(sample: &str) -> String {
    sample
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_uppercase()
}

#[derive(Default)]
struct Counts {
    valid_found: usize,
    valid_total: usize,
    invalid_rejected: usize,
    invalid_total: usize,
}

#[test]
fn every_sample_of_every_courier() {
    let detector = Detector::standard();
    let formats: Vec<&FormatInfo> = detector.formats().collect();
    assert_eq!(
        formats.len(),
        39,
        "tracking_number_data v2.0.0 has 39 definitions"
    );
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut cross_format = Vec::new();
    let mut ambiguous = Vec::new();
    for format in &formats {
        let entry = counts.entry(format.carrier.clone()).or_default();
        for sample in &format.valid_samples {
            entry.valid_total += 1;
            let number = compact(sample);
            let identified = detector
                .identify(sample)
                .iter()
                .any(|d| d.carrier == format.carrier && d.format == format.name);
            let mut ok = identified;
            if !identified {
                failures.push(format!(
                    "{}/{}: identify missed valid {sample:?}",
                    format.carrier, format.name
                ));
            }
            // A bare digit run of a checksum-free format (any 14 digits for DHL E-Commerce
            // (14)) counts only next to its carrier's name; everything else next to any
            // shipping word.
            let needs_carrier_name =
                !format.has_checksum && number.bytes().all(|b| b.is_ascii_digit());
            let texts = [
                (sample.clone(), true),
                (
                    format!("Your {} package {sample} has shipped.", format.carrier_name),
                    true,
                ),
                (
                    format!("Hi Sam,\nyour order is on its way. Tracking:{sample}\nThanks!"),
                    !needs_carrier_name,
                ),
            ];
            for (text, expected) in &texts {
                let found = detector.detect(text);
                let hit = found
                    .iter()
                    .any(|d| d.carrier == format.carrier && d.tracking_number == number);
                if hit != *expected {
                    ok = false;
                    failures.push(format!(
                        "{}/{}: detect on {text:?} should find {sample:?}: {expected}, found {found:?}",
                        format.carrier, format.name
                    ));
                }
            }
            entry.valid_found += usize::from(ok);
            let mut others: Vec<String> = detector
                .identify(sample)
                .iter()
                .filter(|d| d.carrier != format.carrier)
                .map(|d| format!("{}/{}", d.carrier, d.format))
                .collect();
            others.dedup();
            if !others.is_empty() {
                ambiguous.push(format!(
                    "valid {}/{} sample {number} is also {}",
                    format.carrier,
                    format.name,
                    others.join(", ")
                ));
            }
        }
        for sample in &format.invalid_samples {
            entry.invalid_total += 1;
            let number = compact(sample);
            let identified = detector.identify(sample);
            let in_text = detector.detect(&format!("Your package {sample} has shipped."));
            // The data's invalid samples are invalid for their format: Purolator lists a
            // valid Purolator (12) number as an invalid Purolator (alpha + 9) one.
            let same_format = identified
                .iter()
                .chain(&in_text)
                .any(|d| d.carrier == format.carrier && d.format == format.name);
            if same_format {
                failures.push(format!(
                    "{}/{}: invalid {sample:?} accepted: {identified:?} {in_text:?}",
                    format.carrier, format.name
                ));
            } else {
                entry.invalid_rejected += 1;
            }
            for other in identified.iter().filter(|d| d.format != format.name) {
                cross_format.push(format!(
                    "invalid {}/{} sample {number} is a valid {}/{} number",
                    format.carrier, format.name, other.carrier, other.format
                ));
            }
        }
    }
    println!(
        "{:<14} {:>13} {:>18}",
        "courier", "valid found", "invalid rejected"
    );
    let mut totals = Counts::default();
    for (courier, c) in &counts {
        println!(
            "{courier:<14} {:>7} / {:<5} {:>10} / {:<5}",
            c.valid_found, c.valid_total, c.invalid_rejected, c.invalid_total
        );
        totals.valid_found += c.valid_found;
        totals.valid_total += c.valid_total;
        totals.invalid_rejected += c.invalid_rejected;
        totals.invalid_total += c.invalid_total;
    }
    println!(
        "{:<14} {:>7} / {:<5} {:>10} / {:<5}",
        "total",
        totals.valid_found,
        totals.valid_total,
        totals.invalid_rejected,
        totals.invalid_total
    );
    for line in &ambiguous {
        println!("ambiguous: {line}");
    }
    let backtracking: Vec<&str> = formats
        .iter()
        .filter(|f| f.uses_backtracking)
        .map(|f| f.name.as_str())
        .collect();
    println!("formats on the backtracking engine: {backtracking:?}");
    for line in &cross_format {
        println!("cross-format: {line}");
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        (totals.valid_total, totals.invalid_total),
        (192, 88),
        "SOURCE.txt counts"
    );
}
