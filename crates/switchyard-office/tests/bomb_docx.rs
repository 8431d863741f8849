//! Issue 11: a `.docx` whose `word/document.xml` inflates to 600 MiB of ordinary
//! paragraphs (a few hundred KiB on disk) is rejected by name and reason with bounded
//! memory, and the rest of its folder is imported.

mod support;

use support::{
    DOCX_HEAD, DOCX_PARTS, DOCX_TAIL, PARAGRAPH, assert_peak_rss_bounded, email, import_folder,
    write_bomb_package, write_lying_bomb_package, write_small_docx,
};
use switchyard_office::ImportLimits;

#[test]
fn a_zip_bomb_docx_is_rejected_and_the_folder_imported() {
    let folder = tempfile::tempdir().unwrap();
    let repeat = 600 * 1024 * 1024 / PARAGRAPH.len() as u64;
    let bomb = write_bomb_package(
        &folder.path().join("bomb.docx"),
        DOCX_PARTS,
        ("word/document.xml", DOCX_HEAD, PARAGRAPH, repeat, DOCX_TAIL),
    );
    let on_disk = std::fs::metadata(&bomb).unwrap().len();
    assert!(on_disk < 2 * 1024 * 1024, "{on_disk} bytes on disk");
    write_small_docx(&folder.path().join("notes.docx"));
    std::fs::write(folder.path().join("hello.eml"), email("hello")).unwrap();

    // A third of it, under the budget: the compression ratio stops it.
    write_bomb_package(
        &folder.path().join("dense.docx"),
        DOCX_PARTS,
        (
            "word/document.xml",
            DOCX_HEAD,
            PARAGRAPH,
            repeat / 3,
            DOCX_TAIL,
        ),
    );
    // Its twin declares 4 KiB in the zip directory: the inflated bytes are counted.
    write_lying_bomb_package(
        &folder.path().join("liar.docx"),
        DOCX_PARTS,
        ("word/document.xml", DOCX_HEAD, PARAGRAPH, repeat, DOCX_TAIL),
    );

    let outcome = import_folder(folder.path(), &ImportLimits::default());

    assert_eq!(outcome.rejected.len(), 3, "{:?}", outcome.rejected);
    assert_eq!(
        outcome.rejected[0],
        "bomb.docx, file: word/document.xml inflates past the 256 MiB limit per document \
         (import.max_document_bytes)"
    );
    let dense = &outcome.rejected[1];
    assert!(
        dense.starts_with(
            "dense.docx, file: word/document.xml inflates to more than 100 times its \
             compressed size of "
        ) && dense.ends_with(" KiB (import.max_compression_ratio): a zip bomb?"),
        "{dense}"
    );
    assert_eq!(
        outcome.rejected[2],
        "liar.docx, file: cannot read word/document.xml: file is larger than its declared \
         uncompressed size"
    );
    assert_eq!(
        outcome.imported,
        [
            ("hello.eml".to_string(), "hello".to_string()),
            ("notes.docx".to_string(), "notes".to_string())
        ]
    );
    assert_peak_rss_bounded();
}

#[test]
fn the_document_budget_holds_without_the_ratio_limit() {
    let folder = tempfile::tempdir().unwrap();
    let repeat = 64 * 1024 * 1024 / PARAGRAPH.len() as u64;
    write_bomb_package(
        &folder.path().join("big.docx"),
        DOCX_PARTS,
        ("word/document.xml", DOCX_HEAD, PARAGRAPH, repeat, DOCX_TAIL),
    );
    let limits = ImportLimits {
        max_document_bytes: 8 * 1024 * 1024,
        max_compression_ratio: u64::MAX,
        ..ImportLimits::default()
    };
    let outcome = import_folder(folder.path(), &limits);
    assert_eq!(
        outcome.rejected,
        [
            "big.docx, file: word/document.xml inflates past the 8 MiB limit per document \
          (import.max_document_bytes)"
        ]
    );
    assert_peak_rss_bounded();
}
