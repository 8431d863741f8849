//! Unit tests of the free-text search: boundaries, spaces, the context rule, overlaps and
//! loading errors.

use super::*;

/// Asserts the (carrier, number) pairs `detect` finds in `text`, in order.
fn check(text: &str, expected: &[(&str, &str)]) {
    let found: Vec<(String, String)> = Detector::standard()
        .detect(text)
        .into_iter()
        .map(|d| (d.carrier, d.tracking_number))
        .collect();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(c, n)| (c.to_string(), n.to_string()))
        .collect();
    assert_eq!(found, expected, "in {text:?}");
}

const UPS: &str = "1Z879E930346834440";

#[test]
fn finds_numbers_in_sentences() {
    check(&format!("Your package {UPS} has shipped."), &[("ups", UPS)]);
    check(&format!("Tracking number: {UPS}."), &[("ups", UPS)]);
    check(&format!("({UPS})"), &[("ups", UPS)]);
    check(
        &format!("https://wwwapps.ups.com/WebTracking/track?trackNums={UPS}&loc=en_US"),
        &[("ups", UPS)],
    );
    check(&format!("line one\n{UPS}\r\nline three"), &[("ups", UPS)]);
}

#[test]
fn requires_word_boundaries() {
    check(&format!("ref{UPS}"), &[]);
    check(&format!("{UPS}x"), &[]);
    check(&format!("_{UPS}"), &[]);
    check(&format!("9{UPS}"), &[]);
}

#[test]
fn several_numbers_in_order_and_each_once() {
    check(
        &format!("UPS {UPS} and USPS 9400 1112 0108 0805 4830 16, again {UPS}."),
        &[("ups", UPS), ("usps", "9400111201080805483016")],
    );
}

#[test]
fn spaced_numbers_stay_on_their_line() {
    check(
        "Tracking: 9400 1112 0108 0805 4830 16",
        &[("usps", "9400111201080805483016")],
    );
    // The same digits broken over two lines are two unrelated fragments.
    check("Tracking: 9400 1112 0108\n0805 4830 16", &[]);
}

#[test]
fn nested_spans_keep_the_longest() {
    // The full IMpb with its routing prefix holds a shorter valid IMpb.
    check(
        "USPS: 420 11213 92 6129098349792366623 8",
        &[("usps", "420112139261290983497923666238")],
    );
}

#[test]
fn bare_digits_need_shipping_context() {
    check("Invoice 986578788855 is attached.", &[]);
    check("FedEx 986578788855", &[("fedex", "986578788855")]);
    // The whole input being the number is context enough.
    check(" 986578788855 ", &[("fedex", "986578788855")]);
    // Context far before the number does not count.
    let far = format!("Your parcel{}\n986578788855", " word".repeat(60));
    check(&far, &[]);
    // Letters make a number strong: no context needed.
    check(&format!("ref: {UPS}"), &[("ups", UPS)]);
}

#[test]
fn ordinary_numbers_are_not_tracking_numbers() {
    let order_mail = "Thanks for your order! Your package will ship soon.\n\
        Order #112-4567890-1234567 placed on 2024-05-12 at 10:30.\n\
        Order number 3301 2290 1183, total $1,234.56 (VAT 19%).\n\
        Questions? Call 1-800-742-5877 or +49 30 1234 5678.\n\
        Invoice 2024/0042 dated 12.05.2024, customer 40012345.\n\
        Reference 20240512103000, IBAN DE89 3704 0044 0532 0130 00.";
    check(order_mail, &[]);
    // Without the context rule, the timestamp and a run of IBAN digits pass as
    // DHL E-Commerce (14), a format that is any 14 digits.
    let bare: Vec<String> = Detector::standard()
        .detect_without_context_rule(order_mail)
        .into_iter()
        .map(|d| d.tracking_number)
        .collect();
    assert_eq!(bare, ["20240512103000", "00440532013000"]);
    // Checksum-free digit runs need their own carrier's name nearby, not just any
    // shipping word.
    check("Your package reference 20240512103000", &[]);
    check("DHL parcel 20240512103000", &[("dhl", "20240512103000")]);
}

#[test]
fn s10_names_the_postal_operator() {
    let found = Detector::standard().detect("Royal Mail tracking RB123456785GB");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].carrier, "s10");
    assert_eq!(found[0].carrier_name, "Royal Mail Group plc");
    assert_eq!(found[0].tracking_url, None);
    check("Royal Mail tracking RB123456785XX", &[]);
}

#[test]
fn tracking_url_from_the_template() {
    let found = Detector::standard().detect("Canada Post 7035114477138472");
    assert_eq!(
        found[0].tracking_url.as_deref(),
        Some(
            "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=7035114477138472"
        )
    );
}

#[test]
fn identify_lists_every_format() {
    let formats: Vec<String> = Detector::standard()
        .identify(" 1z879e930346834440 ")
        .into_iter()
        .map(|d| d.format)
        .collect();
    assert_eq!(formats, ["UPS"]);
    assert!(Detector::standard().identify("hello").is_empty());
    assert!(Detector::standard().identify("").is_empty());
}

#[test]
fn detect_without_context_rule_reports_bare_digits() {
    let found =
        Detector::standard().detect_without_context_rule("Invoice 986578788855 is attached.");
    assert!(found.iter().any(|d| d.carrier == "fedex"), "{found:?}");
}

#[test]
fn standard_holds_every_embedded_courier() {
    let mut carriers: Vec<&str> = Detector::standard()
        .formats()
        .map(|f| f.carrier.as_str())
        .collect();
    carriers.dedup();
    assert_eq!(
        carriers,
        [
            "amazon",
            "canada_post",
            "canpar",
            "dhl",
            "dpd",
            "fedex",
            "gofo",
            "landmark",
            "lasership",
            "old_dominion",
            "ontrac",
            "purolator",
            "s10",
            "speedee",
            "ups",
            "usps",
            "yodel",
            "yunexpress"
        ]
    );
}

fn load_error(json: &str) -> ShipmentsError {
    Detector::from_courier_files(&[("test.json", json)]).unwrap_err()
}

#[test]
fn loading_errors_name_the_file_or_definition() {
    let error = load_error("{");
    assert_eq!(error.kind(), ShipmentsErrorKind::InvalidCourierFile);
    assert!(
        error
            .to_string()
            .starts_with("failed to parse courier file test.json: "),
        "{error}"
    );

    let no_check_digit = r#"{"name":"X","courier_code":"x","tracking_numbers":[{"name":"X1",
        "regex":"(?<SerialNumber>[0-9]{5})","validation":{"checksum":{"name":"luhn"}}}]}"#;
    let error = load_error(no_check_digit);
    assert_eq!(error.kind(), ShipmentsErrorKind::InvalidDefinition);
    assert_eq!(
        error.to_string(),
        "failed to load x/X1: a checksum needs a `CheckDigit` group in the regex"
    );

    let bad_regex = r#"{"name":"X","courier_code":"x","tracking_numbers":[{"name":"X1",
        "regex":"(?<SerialNumber>[0-9]{5}"}]}"#;
    assert_eq!(
        load_error(bad_regex).kind(),
        ShipmentsErrorKind::InvalidPattern
    );

    let custom = r#"{"name":"Example Post","courier_code":"example","tracking_numbers":[{"name":"EX",
        "regex":"\\s*E\\s*X\\s*(?<SerialNumber>([0-9]\\s*){6})","tracking_url":"https://example.com/%s"}]}"#;
    let detector = Detector::from_courier_files(&[("example.json", custom)]).unwrap();
    let found = detector.detect("parcel EX 123 456 arrives");
    assert_eq!(found[0].tracking_number, "EX123456");
    assert_eq!(
        found[0].tracking_url.as_deref(),
        Some("https://example.com/EX123456")
    );
}
