//! Issue 11: an `.xlsx` whose sheet inflates to 600 MiB (a few hundred KiB on disk) is
//! rejected by name and reason with bounded memory, and the rest of its folder is
//! imported.

mod support;

use std::path::Path;

use support::{assert_peak_rss_bounded, email, import_folder, write_bomb_package};
use switchyard_office::ImportLimits;

const WORKBOOK_PARTS: &[(&str, &str)] = &[
    (
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    ),
    (
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    ),
    (
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    ),
    (
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    ),
];

const SHEET_HEAD: &str = r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#;
const ROW: &str = r#"<row><c t="inlineStr"><is><t>aaaa</t></is></c></row>"#;
const SHEET_TAIL: &str = "</sheetData></worksheet>";

fn write_sheet(path: &Path, rows: u64) {
    write_bomb_package(
        path,
        WORKBOOK_PARTS,
        (
            "xl/worksheets/sheet1.xml",
            SHEET_HEAD,
            ROW,
            rows,
            SHEET_TAIL,
        ),
    );
}

#[test]
fn a_zip_bomb_xlsx_is_rejected_and_the_folder_imported() {
    let folder = tempfile::tempdir().unwrap();
    let bomb = folder.path().join("bomb.xlsx");
    write_sheet(&bomb, 600 * 1024 * 1024 / ROW.len() as u64);
    let on_disk = std::fs::metadata(&bomb).unwrap().len();
    assert!(on_disk < 2 * 1024 * 1024, "{on_disk} bytes on disk");
    write_sheet(
        &folder.path().join("dense.xlsx"),
        200 * 1024 * 1024 / ROW.len() as u64,
    );
    write_sheet(&folder.path().join("small.xlsx"), 16 * 1024);
    std::fs::write(folder.path().join("hello.eml"), email("hello")).unwrap();

    let outcome = import_folder(folder.path(), &ImportLimits::default());

    assert_eq!(outcome.rejected.len(), 2, "{:?}", outcome.rejected);
    assert_eq!(
        outcome.rejected[0],
        "bomb.xlsx, file: xl/worksheets/sheet1.xml inflates past the 256 MiB limit per \
         document (import.max_document_bytes)"
    );
    let dense = &outcome.rejected[1];
    assert!(
        dense.starts_with(
            "dense.xlsx, file: xl/worksheets/sheet1.xml inflates to more than 100 times its \
             compressed size of "
        ) && dense.ends_with(" (import.max_compression_ratio): a zip bomb?"),
        "{dense}"
    );
    assert_eq!(
        outcome.imported,
        [
            ("hello.eml".to_string(), "hello".to_string()),
            ("small.xlsx".to_string(), "small".to_string())
        ]
    );
    assert_peak_rss_bounded();
}

#[test]
fn sheets_past_the_row_and_cell_limits_are_rejected() {
    let folder = tempfile::tempdir().unwrap();
    write_sheet(&folder.path().join("rows.xlsx"), 16 * 1024);
    let limits = ImportLimits {
        max_sheet_rows: 1000,
        ..ImportLimits::default()
    };
    let outcome = import_folder(folder.path(), &limits);
    assert_eq!(
        outcome.rejected,
        ["rows.xlsx, file: sheet `Data` has more than 1000 rows (import.max_sheet_rows)"]
    );
    let limits = ImportLimits {
        max_sheet_cells: 5000,
        ..ImportLimits::default()
    };
    let outcome = import_folder(folder.path(), &limits);
    assert_eq!(
        outcome.rejected,
        ["rows.xlsx, file: sheet `Data` has more than 5000 cells (import.max_sheet_cells)"]
    );
}
