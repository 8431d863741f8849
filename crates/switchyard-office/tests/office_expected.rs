//! Office documents against independent oracles: every `.docx`, spreadsheet and `.pptx`
//! of the shared public test material is imported and compared with the
//! `EXPECTED.*.json` that python-docx, openpyxl and python-pptx produced for it.
//!
//! The comparison applies this crate's documented conventions to the oracle's output
//! (empty paragraphs, tables and rows dropped, trailing whitespace trimmed, `\v` line
//! breaks as `\n`, dates as `2021-01-02`, durations as `[h]:mm:ss`); everything else must
//! be equal. Each test prints the files that differ and why, and asserts the number of
//! exact matches measured when it was written, so that a regression fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use switchyard_contracts::{AnyOfficeEvent, Document, DocumentBody, SyncType, WordBlock};
use switchyard_office::{
    ImportItem, ImportOptions, SourceFile, SourceKind, read_file, shared_testdata,
};

fn shared_office() -> PathBuf {
    shared_testdata().join("office")
}

fn import(path: &Path) -> Vec<ImportItem> {
    let file = SourceFile {
        kind: SourceKind::from_path(path).expect("sample has a known extension"),
        size_bytes: std::fs::metadata(path).expect("sample exists").len(),
        path: path.to_path_buf(),
        mail_folder: None,
    };
    let options = ImportOptions {
        user_id: "alice".into(),
        sync_type: SyncType::Backfill,
    };
    read_file(&file, &options).collect()
}

/// The one document of a file, or the reason it was rejected.
fn document(path: &Path) -> Result<Document, String> {
    let mut items = import(path);
    assert_eq!(items.len(), 1, "{}: {items:?}", path.display());
    match items.remove(0) {
        Ok(AnyOfficeEvent::Document(event)) => {
            assert_eq!(
                event.provider,
                SourceKind::from_path(path).unwrap().provider()
            );
            let document = event.item;
            assert_eq!(document.size_bytes, std::fs::metadata(path).unwrap().len());
            // The event's version is the later of the document's own date and the file's.
            let file_modified: chrono::DateTime<chrono::Utc> =
                std::fs::metadata(path).unwrap().modified().unwrap().into();
            assert_eq!(
                Some(event.last_updated),
                document.last_modified.map(|own| own.max(file_modified))
            );
            assert!(document.id.starts_with("file:"), "{}", document.id);
            Ok(document)
        }
        Ok(other) => panic!("{}: unexpected {:?}", path.display(), other.kind()),
        Err(rejection) => {
            assert_eq!(rejection.location, "file");
            Err(rejection.reason)
        }
    }
}

fn oracle(folder: &Path, name: &str) -> BTreeMap<String, Value> {
    let text = std::fs::read_to_string(folder.join(name)).expect("oracle exists");
    serde_json::from_str(&text).expect("oracle is JSON")
}

fn string(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

fn non_blank(value: &Value) -> Option<String> {
    Some(string(value)).filter(|text| !text.trim().is_empty())
}

fn file_stem(name: &str) -> String {
    Path::new(name)
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// Prints the differences of each file and returns how many files had none.
fn report(format: &str, differences: &BTreeMap<String, Vec<String>>) -> usize {
    let matching = differences
        .values()
        .filter(|found| found.is_empty())
        .count();
    println!(
        "{format}: {matching} of {} samples match exactly",
        differences.len()
    );
    for (name, found) in differences {
        for difference in found {
            println!("  {name}: {difference}");
        }
    }
    matching
}

fn compare<T: PartialEq + std::fmt::Debug>(
    what: &str,
    ours: T,
    expected: T,
    out: &mut Vec<String>,
) {
    if ours != expected {
        out.push(format!("{what}: ours {ours:?}, expected {expected:?}"));
    }
}

#[test]
fn docx_samples_match_python_docx() {
    let office = shared_office();
    let folder = office.join("python-docx-1.2.0");
    let mut differences = BTreeMap::new();
    for (name, expected) in oracle(&folder, "EXPECTED.python-docx.json") {
        let mut found = Vec::new();
        let document = document(&folder.join(&name))
            .unwrap_or_else(|reason| panic!("{name} was rejected: {reason}"));
        let Some(DocumentBody::Word { blocks }) = &document.body else {
            panic!("{name}: not a Word body");
        };
        let mut paragraphs = Vec::new();
        let mut tables = Vec::new();
        for block in blocks {
            match block {
                WordBlock::Heading { text, .. } | WordBlock::Paragraph { text } => {
                    paragraphs.push(text.clone())
                }
                WordBlock::Table { rows } => tables.push(rows.clone()),
            }
        }
        let expected_paragraphs: Vec<String> = expected["paragraphs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|text| string(text).trim_end().to_string())
            .filter(|text| !text.trim().is_empty())
            .collect();
        compare("paragraphs", paragraphs, expected_paragraphs, &mut found);
        let expected_tables: Vec<Vec<Vec<String>>> = expected["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|table| {
                table
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|row| {
                        row.as_array()
                            .unwrap()
                            .iter()
                            .map(|cell| string(cell).trim_end().to_string())
                            .collect()
                    })
                    .collect::<Vec<Vec<String>>>()
            })
            .filter(|rows| rows.iter().flatten().any(|cell| !cell.trim().is_empty()))
            .collect();
        compare("tables", tables, expected_tables, &mut found);
        let core = &expected["core_properties"];
        let title = non_blank(&core["title"]).unwrap_or_else(|| file_stem(&name));
        compare("title", document.title, title, &mut found);
        compare(
            "author",
            document.author,
            non_blank(&core["author"]),
            &mut found,
        );
        let modified = non_blank(&core["modified"]).map(|time| time.parse().unwrap());
        if modified.is_some() {
            compare("modified", document.last_modified, modified, &mut found);
        }
        differences.insert(name, found);
    }
    let matching = report("docx", &differences);
    assert_eq!(differences.len(), 23);
    assert!(matching >= 22, "{matching}");
}

/// A value of openpyxl as this crate renders cells.
fn expected_cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(true) => "TRUE".into(),
        Value::Bool(false) => "FALSE".into(),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => integer.to_string(),
            None => {
                let float = number.as_f64().unwrap();
                if float.fract() == 0.0 && float.abs() < 1e15 {
                    format!("{float:.0}")
                } else if float != 0.0 && !(1e-4..1e15).contains(&float.abs()) {
                    format!("{float:e}")
                } else {
                    float.to_string()
                }
            }
        },
        Value::String(text) => expected_text_cell(text),
        other => other.to_string(),
    }
}

/// ISO date-times as `2021-01-02 10:15:00` (or the date alone at midnight), Python
/// timedeltas (`10 days, 15:10:10`) as `[h]:mm:ss`.
fn expected_text_cell(text: &str) -> String {
    let bytes = text.as_bytes();
    let is_iso = text.len() == 19
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes[10] == b'T'
        && bytes[13] == b':'
        && text.chars().filter(char::is_ascii_digit).count() == 14;
    if is_iso {
        return match text.strip_suffix("T00:00:00") {
            Some(date) => date.to_string(),
            None => text.replacen('T', " ", 1),
        };
    }
    if let Some((days, time)) = text.split_once(" day") {
        let time = time.trim_start_matches('s').trim_start_matches(", ");
        let (Ok(days), Some((hours, rest))) = (days.parse::<u64>(), time.split_once(':')) else {
            return text.to_string();
        };
        if let Ok(hours) = hours.parse::<u64>() {
            return format!("{}:{rest}", days * 24 + hours);
        }
    }
    text.to_string()
}

/// Rows with trailing empty cells trimmed, empty rows dropped and the leading columns
/// that are empty in every row removed, with how many were removed.
fn normalise_rows(rows: Vec<Vec<String>>) -> (Vec<Vec<String>>, usize) {
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|mut row| {
            while row.last().is_some_and(String::is_empty) {
                row.pop();
            }
            row
        })
        .filter(|row| !row.is_empty())
        .collect();
    let offset = rows
        .iter()
        .filter_map(|row| row.iter().position(|cell| !cell.is_empty()))
        .min()
        .unwrap_or(0);
    let rows = rows
        .into_iter()
        .map(|row| row.into_iter().skip(offset).collect())
        .collect();
    (rows, offset)
}

#[test]
fn spreadsheet_samples_match_openpyxl() {
    let office = shared_office();
    let folder = office.join("calamine-xlsx");
    let mut differences = BTreeMap::new();
    for (name, expected) in oracle(&folder, "EXPECTED.openpyxl.json") {
        let mut found = Vec::new();
        let result = document(&folder.join(&name));
        if let Some(error) = expected.get("error") {
            match &result {
                Err(reason) => println!("  {name}: rejected like openpyxl ({error}): {reason}"),
                Ok(_) => println!("  {name}: imported, where openpyxl failed with {error}"),
            }
            continue;
        }
        let document = result.unwrap_or_else(|reason| panic!("{name} was rejected: {reason}"));
        let Some(DocumentBody::Sheet { sheets }) = &document.body else {
            panic!("{name}: not a sheet body");
        };
        let expected_sheets = expected["sheets"].as_object().unwrap();
        let expected_names: Vec<String> = expected["sheet_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(string)
            .filter(|sheet| expected_sheets.contains_key(sheet))
            .collect();
        let names: Vec<String> = sheets.iter().map(|sheet| sheet.name.clone()).collect();
        compare("sheet names", &names, &expected_names, &mut found);
        for sheet in sheets {
            let Some(expected_sheet) = expected_sheets.get(&sheet.name) else {
                continue;
            };
            let expected_rows: Vec<Vec<String>> = expected_sheet["first_50_rows_first_30_cols"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row.as_array().unwrap().iter().map(expected_cell).collect())
                .collect();
            let truncated = expected_rows.len() == 50;
            let (expected_rows, first_column) = normalise_rows(expected_rows);
            let ours: Vec<Vec<String>> = std::iter::once(sheet.header.clone())
                .chain(sheet.rows.iter().cloned())
                .collect();
            let (mut ours, _) = normalise_rows(ours);
            if truncated {
                ours.truncate(expected_rows.len());
            }
            // The oracle stops at column 30 counted from `A`.
            for row in &mut ours {
                row.truncate(30 - first_column);
            }
            let (ours, _) = normalise_rows(ours);
            if ours != expected_rows {
                let first = ours
                    .iter()
                    .zip(&expected_rows)
                    .position(|(ours, expected)| ours != expected)
                    .unwrap_or(ours.len().min(expected_rows.len()));
                found.push(format!(
                    "sheet `{}` differs from row {first}: ours {:?}, expected {:?} ({} vs {} rows)",
                    sheet.name,
                    ours.get(first),
                    expected_rows.get(first),
                    ours.len(),
                    expected_rows.len()
                ));
            }
        }
        differences.insert(name, found);
    }
    let matching = report("xlsx/xlsm", &differences);
    assert_eq!(differences.len(), 65);
    assert!(matching >= 58, "{matching}");
}

#[test]
fn pptx_samples_match_python_pptx() {
    let office = shared_office();
    let folder = office.join("python-pptx-1.0.2");
    let mut differences = BTreeMap::new();
    for (name, expected) in oracle(&folder, "EXPECTED.python-pptx.json") {
        let mut found = Vec::new();
        let document = document(&folder.join(&name))
            .unwrap_or_else(|reason| panic!("{name} was rejected: {reason}"));
        let Some(DocumentBody::Presentation { slides }) = &document.body else {
            panic!("{name}: not a presentation body");
        };
        let expected_slides = expected["slides"].as_array().unwrap();
        compare(
            "slide count",
            slides.len(),
            expected_slides.len(),
            &mut found,
        );
        for (slide, expected_slide) in slides.iter().zip(expected_slides) {
            let number = slide.number;
            let mut texts: Vec<String> = expected_slide["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|text| string(text).replace('\u{b}', "\n"))
                .filter(|text| !text.trim().is_empty())
                .collect();
            // python-pptx lists the title among the shapes; ours is apart.
            if let Some(title) = &slide.title {
                match texts.iter().position(|text| text == title) {
                    Some(index) => {
                        texts.remove(index);
                    }
                    None => found.push(format!(
                        "slide {number}: title {title:?} not among {texts:?}"
                    )),
                }
            }
            compare(
                &format!("slide {number} body"),
                slide.body.clone(),
                texts.join("\n"),
                &mut found,
            );
            let notes = expected_slide["notes"]
                .as_str()
                .unwrap_or_default()
                .replace('\u{b}', "\n");
            compare(
                &format!("slide {number} notes"),
                slide.notes.clone(),
                notes,
                &mut found,
            );
        }
        let core = &expected["core_properties"];
        let title = non_blank(&core["title"]).unwrap_or_else(|| file_stem(&name));
        compare("title", document.title, title, &mut found);
        compare(
            "author",
            document.author,
            non_blank(&core["author"]),
            &mut found,
        );
        differences.insert(name, found);
    }
    let matching = report("pptx", &differences);
    assert_eq!(differences.len(), 28);
    assert!(matching >= 26, "{matching}");
}
