//! What is imported: [`SourceKind`], the file formats the importers read (chosen by
//! extension, or by place for Maildir messages), and [`SourceFile`], one file found by
//! `discover` with its format and size. Knows names and extensions only; reads nothing.

use std::path::{Path, PathBuf};

/// The file formats the importers read, chosen by file extension, except Maildir
/// messages, which `discover` knows by the folder they are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceKind {
    /// `.mbox`: a mailbox of `From `-separated messages (or one bare message).
    Mbox,
    /// `.eml`: one RFC 5322 message.
    Eml,
    /// A message file in the `cur/` or `new/` folder of a Maildir (any name; its
    /// `:2,` suffix holds its flags).
    Maildir,
    /// `.ics`: iCalendar; VEVENTs become calendar events.
    Ics,
    /// `.vcf`: vCards; each card becomes a contact.
    Vcf,
    /// `.jsonl`: JSON Lines of todos and tasks, one object per line.
    Jsonl,
    /// `.docx`: a Word document.
    Docx,
    /// `.xlsx`: an Excel workbook.
    Xlsx,
    /// `.xlsm`: an Excel workbook with macros (the macros are not read).
    Xlsm,
    /// `.xlsb`: a binary Excel workbook.
    Xlsb,
    /// `.xls`: a legacy (BIFF) Excel workbook.
    Xls,
    /// `.ods`: an OpenDocument spreadsheet.
    Ods,
    /// `.pptx`: a PowerPoint deck.
    Pptx,
}

impl SourceKind {
    /// The kind of a path by its extension, case-insensitive (never
    /// [`SourceKind::Maildir`], which goes by folder).
    pub fn from_path(path: &Path) -> Option<Self> {
        let extension = path.extension()?.to_str()?.to_ascii_lowercase();
        match extension.as_str() {
            "mbox" => Some(SourceKind::Mbox),
            "eml" => Some(SourceKind::Eml),
            "ics" => Some(SourceKind::Ics),
            "vcf" => Some(SourceKind::Vcf),
            "jsonl" => Some(SourceKind::Jsonl),
            "docx" => Some(SourceKind::Docx),
            "xlsx" => Some(SourceKind::Xlsx),
            "xlsm" => Some(SourceKind::Xlsm),
            "xlsb" => Some(SourceKind::Xlsb),
            "xls" => Some(SourceKind::Xls),
            "ods" => Some(SourceKind::Ods),
            "pptx" => Some(SourceKind::Pptx),
            _ => None,
        }
    }

    /// The `provider` of events read from this kind: the extension in lower case
    /// (`mbox`, `eml`, `ics`, `vcf`, `jsonl`, `docx`, `xlsx`, `xlsm`, `xlsb`, `xls`,
    /// `ods`, `pptx`), or `maildir`.
    pub fn provider(self) -> &'static str {
        match self {
            SourceKind::Mbox => "mbox",
            SourceKind::Eml => "eml",
            SourceKind::Maildir => "maildir",
            SourceKind::Ics => "ics",
            SourceKind::Vcf => "vcf",
            SourceKind::Jsonl => "jsonl",
            SourceKind::Docx => "docx",
            SourceKind::Xlsx => "xlsx",
            SourceKind::Xlsm => "xlsm",
            SourceKind::Xlsb => "xlsb",
            SourceKind::Xls => "xls",
            SourceKind::Ods => "ods",
            SourceKind::Pptx => "pptx",
        }
    }

    /// Whether files of this kind are office documents, each read into one
    /// [`Document`](switchyard_contracts::Document) event.
    pub fn is_document(self) -> bool {
        matches!(
            self,
            SourceKind::Docx
                | SourceKind::Xlsx
                | SourceKind::Xlsm
                | SourceKind::Xlsb
                | SourceKind::Xls
                | SourceKind::Ods
                | SourceKind::Pptx
        )
    }
}

/// One file to import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its format.
    pub kind: SourceKind,
    /// Its size when discovered.
    pub size_bytes: u64,
    /// For a Maildir message, the mail folder it is filed in (`INBOX`, `Work/Projects`;
    /// see `discover`); `None` for other files.
    pub mail_folder: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_kind(name: &str, expected: Option<SourceKind>) {
        assert_eq!(SourceKind::from_path(Path::new(name)), expected, "{name}");
    }

    #[test]
    fn kinds_come_from_the_extension_only() {
        check_kind("inbox.mbox", Some(SourceKind::Mbox));
        check_kind("INBOX.MBOX", Some(SourceKind::Mbox));
        check_kind("a/b/mail.Eml", Some(SourceKind::Eml));
        check_kind("cal.ics", Some(SourceKind::Ics));
        check_kind("people.VCF", Some(SourceKind::Vcf));
        check_kind("Inbox", None);
        check_kind("mbox", None);
        check_kind("notes.txt", None);
        check_kind("archive.mbox.gz", None);
        check_kind("todos.JSONL", Some(SourceKind::Jsonl));
        check_kind("report.docx", Some(SourceKind::Docx));
        check_kind("old.doc", None);
        check_kind("budget.xlsx", Some(SourceKind::Xlsx));
        check_kind("macros.XLSM", Some(SourceKind::Xlsm));
        check_kind("binary.xlsb", Some(SourceKind::Xlsb));
        check_kind("legacy.xls", Some(SourceKind::Xls));
        check_kind("calc.ods", Some(SourceKind::Ods));
        check_kind("deck.pptx", Some(SourceKind::Pptx));
        check_kind("old.ppt", None);
    }
}
