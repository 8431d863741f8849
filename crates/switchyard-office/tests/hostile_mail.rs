//! Issue 11: emails built to hurt the parser (deep MIME nesting, binary garbage named
//! `.eml`) and oversized calendars and contacts are rejected by name and reason, with
//! bounded memory, and the rest of their folder is imported.

mod support;

use support::{assert_peak_rss_bounded, email, import_folder};
use switchyard_office::ImportLimits;

/// A message whose multiparts nest `depth` levels deep.
fn nested(depth: usize) -> String {
    let mut message =
        String::from("From: a@example.com\r\nMessage-ID: <deep@example.com>\r\nSubject: deep\r\n");
    for level in 0..depth {
        message.push_str(&format!(
            "Content-Type: multipart/mixed;\r\n boundary=\"b{level}\"\r\n\r\n--b{level}\r\n"
        ));
    }
    message.push_str("Content-Type: text/plain\r\n\r\nbottom\r\n");
    for level in (0..depth).rev() {
        message.push_str(&format!("--b{level}--\r\n"));
    }
    message
}

#[test]
fn hostile_emails_are_rejected_and_the_rest_imported() {
    let folder = tempfile::tempdir().unwrap();
    let dir = folder.path();
    std::fs::write(dir.join("deep.eml"), nested(100_000)).unwrap();
    std::fs::write(dir.join("shallow.eml"), nested(10)).unwrap();
    // Deterministic pseudo-random bytes.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let garbage: Vec<u8> = (0..1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(dir.join("garbage.eml"), garbage).unwrap();
    std::fs::write(dir.join("hello.eml"), email("hello")).unwrap();
    let big_calendar = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-PAD:{}\r\nEND:VCALENDAR\r\n",
        "x".repeat(4096)
    );
    std::fs::write(dir.join("big.ics"), big_calendar).unwrap();
    std::fs::write(dir.join("big.vcf"), "BEGIN:VCARD\r\n".repeat(1000)).unwrap();
    let limits = ImportLimits {
        max_ics_bytes: 1024,
        max_vcf_bytes: 1024,
        ..ImportLimits::default()
    };

    let outcome = import_folder(dir, &limits);

    assert_eq!(
        outcome.rejected,
        [
            "big.ics, file: file larger than the 1 KiB limit per .ics file \
             (import.max_ics_bytes)",
            "big.vcf, file: file larger than the 1 KiB limit per .vcf file \
             (import.max_vcf_bytes)",
            "deep.eml, message: MIME parts nested deeper than 64 levels \
             (import.max_mime_depth)",
            "garbage.eml, message: binary data, not an RFC 5322 message (control bytes in \
             the headers)",
        ]
    );
    let imported: Vec<String> = outcome
        .imported
        .into_iter()
        .map(|(_, subject)| subject)
        .collect();
    assert_eq!(imported, ["hello", "deep"]);
    assert_peak_rss_bounded();
}
