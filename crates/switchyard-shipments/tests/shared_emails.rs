//! Detection over the shared sample mailboxes (`shared/testdata/email`: mailing-list patches
//! and parser test mails full of dates, ids, hashes and phone-like numbers): none of them is
//! about a shipment, so every detection there would be a false positive.

use std::path::PathBuf;

use switchyard_contracts::{AnyOfficeEvent, SyncType};
use switchyard_office::{ImportOptions, discover, read_file, shared_testdata};
use switchyard_shipments::{Detector, detect, shipments_in_email};

fn shared_email_dir() -> PathBuf {
    shared_testdata().join("email")
}

#[test]
fn shared_emails_have_no_tracking_numbers() {
    let dir = shared_email_dir();
    assert!(
        dir.is_dir(),
        "missing shared test data at {}",
        dir.display()
    );
    let discovery = discover(&[dir]).expect("shared email folder lists");
    let options = ImportOptions {
        user_id: "tester".into(),
        sync_type: SyncType::Backfill,
    };
    let mut emails = 0;
    let mut found = Vec::new();
    let mut raw_hits = Vec::new();
    for file in &discovery.files {
        for item in read_file(file, &options) {
            let Ok(AnyOfficeEvent::Email(event)) = item else {
                continue;
            };
            emails += 1;
            for (detection, status) in shipments_in_email(&event.item) {
                found.push(format!("{}: {detection:?} {status:?}", file.path.display()));
            }
            // Without the context rule: what the bare formats would have claimed.
            let text = format!("{}\n{}", event.item.subject, event.item.body_text);
            for detection in Detector::standard().detect_without_context_rule(&text) {
                raw_hits.push(format!(
                    "{}: {} {} ({})",
                    file.path.display(),
                    detection.carrier,
                    detection.tracking_number,
                    detection.format
                ));
            }
        }
    }
    println!(
        "scanned {emails} emails from {} files",
        discovery.files.len()
    );
    for line in &raw_hits {
        println!("rejected by the context rule: {line}");
    }
    for line in &found {
        println!("detected: {line}");
    }
    assert!(
        emails > 30,
        "expected the shared mailboxes to hold emails, read {emails}"
    );
    assert!(found.is_empty(), "false positives:\n{}", found.join("\n"));
    assert!(detect("").is_empty());
}
