//! Office documents end to end through the real binary: import → chunker → fragments →
//! index. A phrase from the middle of a long Word document finds that document with the
//! right section, a sheet cell finds its sheet with the header row, a slide's notes find
//! the slide, and re-importing an edited document leaves no stale fragment.

mod support;

use std::io::{Read, Write};
use std::path::Path;

use serde_json::Value;
use support::{run, search};

const OFFICE_FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../switchyard-office/tests/fixtures"
);

/// Copies the zip package `from` to `to`, passing each entry's bytes through `edit`.
fn rewrite_package(from: &Path, to: &Path, edit: impl Fn(&str, Vec<u8>) -> Vec<u8>) {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(from).unwrap()).unwrap();
    let mut writer = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).unwrap();
        let name = entry.name().unwrap().to_string();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        writer
            .start_file(name.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        writer.write_all(&edit(&name, bytes)).unwrap();
    }
    writer.finish().unwrap();
}

fn paragraph(style: Option<&str>, text: &str) -> String {
    let style = style
        .map(|s| format!("<w:pPr><w:pStyle w:val=\"{s}\"/></w:pPr>"))
        .unwrap_or_default();
    format!("<w:p>{style}<w:r><w:t>{text}</w:t></w:r></w:p>")
}

/// A Word document of `sections` heading sections, each long enough to be a fragment of
/// its own; section 17 (when there) holds a phrase found nowhere else.
fn write_long_docx(path: &Path, sections: usize) {
    let mut body = String::new();
    for section in 0..sections {
        body.push_str(&paragraph(Some("Heading1"), &format!("Section {section}")));
        for line in 0..12 {
            body.push_str(&paragraph(
                None,
                &format!(
                    "Paragraph {line} of section {section} discusses the routine matters of \
                     the quarter in plain words, at some length, so that every section fills \
                     most of a fragment on its own."
                ),
            ));
        }
        if section == 17 {
            body.push_str(&paragraph(
                None,
                "The harbour crane inspection found corroded winch cables.",
            ));
        }
    }
    let source = Path::new(OFFICE_FIXTURES).join("par-known-styles.docx");
    rewrite_package(&source, path, |name, bytes| {
        if name != "word/document.xml" {
            return bytes;
        }
        let xml = String::from_utf8(bytes).unwrap();
        let start = xml.find("<w:body>").unwrap() + "<w:body>".len();
        let end = xml.find("<w:sectPr").unwrap();
        format!("{}{body}{}", &xml[..start], &xml[end..]).into_bytes()
    });
}

fn hits(data: &Path, user: &str, query: &str) -> Vec<Value> {
    search(data, user, query, &[])
}

fn fragments_of(data: &Path, user: &str, document: &str) -> Vec<Value> {
    let output = run(
        data,
        &[
            "search",
            "--user",
            user,
            "--fragments-of",
            document,
            "--json",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn import(data: &Path, folder: &Path, user: &str) {
    let output = run(data, &["import", folder.to_str().unwrap(), "--user", user]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn documents_are_chunked_searchable_by_fragment_and_reimports_leave_nothing_stale() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    let report = folder.path().join("report.docx");
    write_long_docx(&report, 30);
    std::fs::copy(
        support::fixtures().join("../documents/inventory-table.xlsx"),
        folder.path().join("inventory.xlsx"),
    )
    .unwrap();
    rewrite_package(
        &Path::new(OFFICE_FIXTURES).join("sld-notes.pptx"),
        &folder.path().join("deck.pptx"),
        |name, bytes| {
            if name == "ppt/notesSlides/notesSlide1.xml" {
                String::from_utf8(bytes)
                    .unwrap()
                    .replace(">Notes<", ">Zeppelin mooring schedule<")
                    .into_bytes()
            } else {
                bytes
            }
        },
    );
    import(data.path(), folder.path(), "dora");

    // A phrase from the middle of the long document: the document, with section 17.
    let found = hits(data.path(), "dora", "\"harbour crane inspection\"");
    assert_eq!(found.len(), 1, "{found:?}");
    let document = &found[0];
    assert_eq!(document["doc_type"], "word", "{document}");
    let fragments = document["fragments"].as_array().unwrap();
    assert_eq!(fragments[0]["title"], "Section 17", "{document}");
    assert!(
        fragments[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("<b>crane</b>"),
        "{document}"
    );
    let document_id = document["id"].as_str().unwrap().to_string();
    let all = fragments_of(data.path(), "dora", &document_id);
    assert!(all.len() >= 30, "{} fragments", all.len());
    let positions: Vec<u64> = all
        .iter()
        .map(|f| f["position"].as_u64().unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    // A cell value finds its sheet, the header row in the snippet.
    let sheet = hits(data.path(), "dora", "Banana");
    assert_eq!(sheet.len(), 1, "{sheet:?}");
    assert_eq!(sheet[0]["doc_type"], "sheet");
    let snippet = sheet[0]["fragments"][0]["snippet"].as_str().unwrap();
    assert!(
        snippet.contains("Item | Type | Quantity") && snippet.contains("<b>Banana</b>"),
        "{snippet}"
    );

    // A slide's notes find the slide.
    let slide = hits(data.path(), "dora", "zeppelin mooring");
    assert_eq!(slide.len(), 1, "{slide:?}");
    assert_eq!(slide[0]["doc_type"], "presentation");
    assert_eq!(slide[0]["fragments"][0]["position"], 0);

    // Another user sees none of it.
    assert!(hits(data.path(), "eve", "\"harbour crane inspection\"").is_empty());

    // The document shrinks to 5 sections: re-imported, it keeps 5 fragments' worth and
    // the phrase of section 17 is gone.
    write_long_docx(&report, 5);
    import(data.path(), folder.path(), "dora");
    assert!(hits(data.path(), "dora", "\"harbour crane inspection\"").is_empty());
    let after = fragments_of(data.path(), "dora", &document_id);
    assert!(
        !after.is_empty() && after.len() <= 5,
        "{} fragments after the edit",
        after.len()
    );
    assert!(hits(data.path(), "dora", "\"section 20\"").is_empty());
}
