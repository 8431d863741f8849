//! Maildir folders, as Dovecot, Courier, mbsync and offlineimap write them: what makes a
//! folder a maildir, where its messages are, which mail folder each is filed in, and its
//! flags. `discover` uses the first three to list messages (they have no extension);
//! [`read_maildir_message`] reads one like an `.eml` and adds its folder and flags.
//!
//! - **A maildir** is a folder with both `cur/` and `new/` subfolders (`tmp/` too, usually;
//!   copies and archives drop it when empty). Its messages are the files of `cur/` and
//!   `new/` whatever their names, except hidden files and files with an importable
//!   extension other than `.eml` (an `.ics` saved there stays a calendar). `tmp/` holds
//!   messages still being delivered and is never read.
//! - **Folder**: the maildir's path below the imported folder, levels joined with `/`,
//!   a Maildir++ name (`.Work.Projects`, a subfolder of the maildir above it) split at
//!   its dots: `Work/Projects`. The imported folder itself is `INBOX`; a Maildir++
//!   subfolder imported by itself keeps its own name. Names are not decoded from IMAP's
//!   modified UTF-7 (`&AOQ-`).
//! - **Flags**: the letters after the info separator `:2,` (also `;2,` and `!2,`, which
//!   tools write where a file name cannot hold `:`): `S` read, `R` answered, `F` flagged,
//!   `T` trashed, `D` draft. `P` (passed) and lowercase keyword letters are not kept; a
//!   message in `new/` has none.
//! - **Trashed** messages (`T`: deleted, waiting to be expunged) are left out by
//!   `discover`, each with a warning, unless
//!   [`DiscoverOptions::include_trashed`](crate::DiscoverOptions::include_trashed).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use switchyard_contracts::{AnyOfficeEvent, EmailFlags};

use crate::item::{EventStamp, ImportItem};
use crate::limits::ImportLimits;
use crate::mail::convert_message;
use crate::source::{SourceFile, SourceKind};

/// Whether `dir` is a maildir: it has `cur/` and `new/` subfolders.
pub(crate) fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// Where a file sits with respect to maildirs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Place<'a> {
    /// A message of the maildir `.0`.
    Message(&'a Path),
    /// In a maildir's `tmp/`, or hidden in `cur/` or `new/`: not a message (yet).
    NotAMessage,
    /// Not in a maildir: the file goes by its extension.
    Elsewhere,
}

/// Where `file` sits, remembering in `known` which folders are maildirs, so that a
/// folder of many messages is looked at once.
pub(crate) fn place<'a>(file: &'a Path, known: &mut HashMap<PathBuf, bool>) -> Place<'a> {
    let Some(parent) = file.parent() else {
        return Place::Elsewhere;
    };
    let Some(parent_name) = parent.file_name().and_then(|name| name.to_str()) else {
        return Place::Elsewhere;
    };
    if !matches!(parent_name, "cur" | "new" | "tmp") {
        return Place::Elsewhere;
    }
    let Some(maildir) = parent.parent() else {
        return Place::Elsewhere;
    };
    let is_maildir = *known
        .entry(maildir.to_path_buf())
        .or_insert_with(|| is_maildir(maildir));
    if !is_maildir {
        return Place::Elsewhere;
    }
    let hidden = file
        .file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'));
    match SourceKind::from_path(file) {
        Some(kind) if kind != SourceKind::Eml => Place::Elsewhere,
        _ if parent_name == "tmp" || hidden => Place::NotAMessage,
        _ => Place::Message(maildir),
    }
}

/// The mail folder of `maildir` found below the imported folder `root` (see the module
/// documentation): `INBOX`, `Work/Projects`.
pub(crate) fn mail_folder(maildir: &Path, root: &Path) -> String {
    let is_subfolder = |dir: &Path| {
        dir.file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'))
            && dir.parent().is_some_and(is_maildir)
    };
    // A Maildir++ subfolder imported by itself is named from the maildir above it.
    let base = match root.parent() {
        Some(parent) if maildir == root && is_subfolder(root) => parent,
        _ => root,
    };
    let relative = maildir.strip_prefix(base).unwrap_or(Path::new(""));
    let mut levels: Vec<String> = Vec::new();
    for component in relative.components() {
        let name = component.as_os_str().to_string_lossy();
        match name.strip_prefix('.') {
            Some(dotted) => levels.extend(
                dotted
                    .split('.')
                    .filter(|level| !level.is_empty())
                    .map(str::to_string),
            ),
            None => levels.push(name.into_owned()),
        }
    }
    if levels.is_empty() {
        "INBOX".to_string()
    } else {
        levels.join("/")
    }
}

/// The flags in a message's file name (after `:2,`, `;2,` or `!2,`).
pub(crate) fn flags(file: &Path) -> EmailFlags {
    let name = file
        .file_name()
        .map(|name| name.to_string_lossy())
        .unwrap_or_default();
    let letters = [":2,", ";2,", "!2,"]
        .iter()
        .filter_map(|separator| name.rfind(*separator).map(|at| &name[at + 3..]))
        .next()
        .unwrap_or_default();
    let mut flags = EmailFlags::default();
    for letter in letters.chars() {
        match letter {
            'S' => flags.read = true,
            'R' => flags.answered = true,
            'F' => flags.flagged = true,
            'T' => flags.trashed = true,
            'D' => flags.draft = true,
            _ => {}
        }
    }
    flags
}

/// Reads one Maildir message as an `.eml`, filed in the `file`'s folder with its flags.
pub(crate) fn read_maildir_message(
    bytes: &[u8],
    stamp: &EventStamp,
    limits: &ImportLimits,
    file: &SourceFile,
) -> Vec<ImportItem> {
    let item = convert_message(bytes, "message", stamp, limits, None).map(|event| match event {
        AnyOfficeEvent::Email(mut event) => {
            event.item.folder = file.mail_folder.clone();
            event.item.flags = flags(&file.path);
            AnyOfficeEvent::Email(event)
        }
        other => other,
    });
    vec![item]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_flags(name: &str, expected: &str) {
        let flags = flags(Path::new(name));
        let mut actual = String::new();
        for (set, letter) in [
            (flags.read, 'S'),
            (flags.answered, 'R'),
            (flags.flagged, 'F'),
            (flags.trashed, 'T'),
            (flags.draft, 'D'),
        ] {
            if set {
                actual.push(letter);
            }
        }
        assert_eq!(actual, expected, "{name}");
    }

    #[test]
    fn flags_come_from_the_info_suffix() {
        check_flags("1700000000.M1P2.host", "");
        check_flags("1700000000.M1P2.host:2,", "");
        check_flags("1700000000.M1P2.host,S=1234:2,S", "S");
        check_flags("1700000000.M1P2.host:2,DFPRST", "SRFTD");
        check_flags("1700000000.M1P2.host!2,FS", "SF");
        check_flags("1700000000.M1P2.host;2,Tab", "T");
        check_flags("cur/1700000000.M1P2.host:2,abc", "");
    }

    fn check_folder(maildir: &str, root: &str, expected: &str) {
        assert_eq!(
            mail_folder(Path::new(maildir), Path::new(root)),
            expected,
            "{maildir} under {root}"
        );
    }

    #[test]
    fn folders_come_from_the_path_below_the_import() {
        check_folder("/m/Maildir", "/m/Maildir", "INBOX");
        check_folder("/m/Maildir/.Work", "/m/Maildir", "Work");
        check_folder("/m/Maildir/.Work.Projects", "/m/Maildir", "Work/Projects");
        check_folder("/m/Mail/Work/Projects", "/m/Mail", "Work/Projects");
        check_folder("/m/Maildir", "/m", "Maildir");
        check_folder("/m/Maildir/.Work.Projects", "/m", "Maildir/Work/Projects");
    }
}
