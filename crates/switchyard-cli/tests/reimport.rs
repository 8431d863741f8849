//! Importing real-world mail and calendar layouts through the binary, twice: a Maildir
//! tree with nested folders and flags, an mbox whose entries each lack one header, and an
//! `.ics` whose events have no `UID`. Every message and event is imported once, with
//! warnings and no rejection, and importing the same files again adds nothing.

mod support;

use std::path::Path;

use support::{run, search, stdout};

const USER: &str = "alice@example.com";
/// A word in every generated message and event, found nowhere else.
const MARKER: &str = "zebracorn";

fn message(headers: &str, subject: &str) -> String {
    format!(
        "{headers}Subject: {subject}\nContent-Type: text/plain\n\nAbout the {MARKER} {subject}.\n"
    )
}

/// A Maildir at `root` (its inbox, `.Work` and `.Work.Projects`), one trashed message
/// among them, then an mbox and a calendar beside it.
fn write_corpus(root: &Path) {
    let full = "From: Bob <bob@example.com>\nTo: alice@example.com\nDate: Mon, 4 Mar 2024 10:00:00 +0000\n";
    let maildir = root.join("Maildir");
    let files = [
        (
            "cur/1700000001.M1P1.host:2,S",
            "inbox seen",
            "<m1@example.com>",
        ),
        (
            "new/1700000002.M2P1.host",
            "inbox fresh",
            "<m2@example.com>",
        ),
        (
            ".Work/cur/1700000003.M3P1.host:2,RS",
            "work replied",
            "<m3@example.com>",
        ),
        (
            ".Work.Projects/cur/1700000004.M4P1.host:2,FS",
            "projects flagged",
            "<m4@example.com>",
        ),
        (
            ".Work.Projects/cur/1700000005.M5P1.host:2,ST",
            "projects trashed",
            "<m5@example.com>",
        ),
    ];
    for folder in ["", ".Work", ".Work.Projects"] {
        for part in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(folder).join(part)).unwrap();
        }
    }
    for (path, subject, id) in files {
        let headers = format!("Message-ID: {id}\n{full}");
        std::fs::write(maildir.join(path), message(&headers, subject)).unwrap();
    }

    // Each entry after the first lacks one of Message-ID, Date and From.
    let separator = "From bob@example.com Mon Mar  4 10:00:00 2024\n";
    let entries = [
        message(&format!("Message-ID: <b1@example.com>\n{full}"), "complete"),
        message(full, "without id"),
        message(
            "Message-ID: <b3@example.com>\nFrom: Bob <bob@example.com>\nTo: alice@example.com\n",
            "without date",
        ),
        message(
            "Message-ID: <b4@example.com>\nTo: alice@example.com\nDate: Mon, 4 Mar 2024 10:00:00 +0000\n",
            "without sender",
        ),
    ];
    let mbox: String = entries
        .iter()
        .map(|entry| format!("{separator}{entry}\n"))
        .collect();
    std::fs::write(root.join("archive.mbox"), mbox).unwrap();

    let calendar = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\n\
         BEGIN:VEVENT\r\nSUMMARY:{MARKER} standup\r\nDTSTART:20240304T090000Z\r\n\
         DTEND:20240304T091500Z\r\nEND:VEVENT\r\n\
         BEGIN:VEVENT\r\nSUMMARY:{MARKER} retro\r\nDTSTART:20240308T150000Z\r\n\
         DTEND:20240308T160000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    std::fs::write(root.join("calendar.ics"), calendar).unwrap();
}

/// The summary line of `switchyard import` of `corpus`.
fn import(data: &Path, corpus: &Path) -> String {
    let output = run(data, &["import", corpus.to_str().unwrap(), "--user", USER]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
        .lines()
        .find(|line| line.starts_with("imported "))
        .unwrap_or_default()
        .to_string()
}

/// The titles of `kind` items holding the marker word, sorted.
fn titles(data: &Path, kind: &str) -> Vec<String> {
    let mut titles: Vec<String> = search(data, USER, MARKER, &["--type", kind, "--limit", "50"])
        .iter()
        .map(|hit| hit["title"].as_str().unwrap_or_default().to_string())
        .collect();
    titles.sort();
    titles
}

#[test]
fn maildir_headerless_mail_and_uidless_events_import_once_and_once_only() {
    let corpus = tempfile::tempdir().unwrap();
    write_corpus(corpus.path());
    let data = tempfile::tempdir().unwrap();

    // 4 Maildir messages (the trashed one skipped), 4 mbox entries, 2 events.
    let first = import(data.path(), corpus.path());
    assert!(
        first.starts_with("imported 10, rejected 0, warned "),
        "{first}"
    );
    let emails = titles(data.path(), "email");
    assert_eq!(
        emails,
        [
            "complete",
            "inbox fresh",
            "inbox seen",
            "projects flagged",
            "without date",
            "without id",
            "without sender",
            "work replied",
        ],
    );
    let events = titles(data.path(), "calendar");
    assert_eq!(
        events,
        [format!("{MARKER} retro"), format!("{MARKER} standup")]
    );

    // The same files again: the same ids, so nothing new.
    let second = import(data.path(), corpus.path());
    assert_eq!(second, first);
    assert_eq!(titles(data.path(), "email"), emails);
    assert_eq!(titles(data.path(), "calendar"), events);
}
