//! Issue 11: an mbox holding one 1 GiB message between normal ones: the big message is
//! rejected by position and limit, streamed past without being held, and the others are
//! imported, with bounded memory.

mod support;

use std::io::{BufWriter, Write};

use support::{assert_peak_rss_bounded, email, import_folder};
use switchyard_office::ImportLimits;

#[test]
fn a_one_gib_message_is_skipped_and_the_next_ones_imported() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("inbox.mbox");
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    write!(out, "From alice\n{}\n", email("before")).unwrap();
    let huge_offset = "From alice\n".len() + email("before").len() + 1;
    write!(out, "From mallory\n{}", email("huge")).unwrap();
    // 1 GiB of 1 KiB lines, written in pieces.
    let line = format!("{}\n", "a".repeat(1023));
    let block = line.repeat(1024);
    for _ in 0..1024 {
        out.write_all(block.as_bytes()).unwrap();
    }
    write!(out, "\nFrom bob\n{}", email("after")).unwrap();
    out.flush().unwrap();
    drop(out);
    std::fs::write(folder.path().join("hello.eml"), email("hello")).unwrap();

    let outcome = import_folder(folder.path(), &ImportLimits::default());

    assert_eq!(
        outcome.rejected,
        [format!(
            "inbox.mbox, message 2 at byte {huge_offset}: message larger than the 64 MiB limit \
             per email (import.max_email_bytes), skipped"
        )]
    );
    let imported: Vec<String> = outcome
        .imported
        .into_iter()
        .map(|(_, subject)| subject)
        .collect();
    assert_eq!(imported, ["hello", "before", "after"]);
    assert_peak_rss_bounded();
}

#[test]
fn a_message_without_line_breaks_is_skipped_too() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("inbox.mbox");
    let mut content = format!("From alice\n{}", email("long"));
    content.push_str(&"b".repeat(3000));
    content.push_str(&format!("\n\nFrom bob\n{}", email("after")));
    std::fs::write(&path, content).unwrap();
    std::fs::write(
        folder.path().join("big.eml"),
        email("big") + &"c".repeat(3000),
    )
    .unwrap();
    let limits = ImportLimits {
        max_email_bytes: 1000,
        ..ImportLimits::default()
    };
    let outcome = import_folder(folder.path(), &limits);
    assert_eq!(
        outcome.rejected,
        [
            "big.eml, message: message larger than the 1000 bytes limit per email \
             (import.max_email_bytes), skipped",
            "inbox.mbox, message 1 at byte 0: message larger than the 1000 bytes limit per \
             email (import.max_email_bytes), skipped",
        ]
    );
    let imported: Vec<String> = outcome
        .imported
        .into_iter()
        .map(|(_, subject)| subject)
        .collect();
    assert_eq!(imported, ["after"]);
}
