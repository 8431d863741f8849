//! The spreadsheet reader (`.xlsx`, `.xlsm`, `.xlsb`, `.xls`, `.ods`) on calamine: one
//! [`Sheet`] per worksheet, cell values rendered as text.
//!
//! - Worksheets come in workbook order; chart, dialog and macro sheets are left out,
//!   hidden worksheets are kept.
//! - The header is the first row with a non-empty cell; the rows below follow, rows
//!   without any value dropped and empty trailing cells trimmed. Columns start at the
//!   first used column of the sheet, not necessarily at `A`.
//! - Cells as text: numbers as written in Rust's shortest form (`15`, `0.1`, `1e-7`),
//!   booleans `TRUE`/`FALSE`, errors as Excel shows them (`#DIV/0!`), dates
//!   `2021-01-02`, date-times `2021-01-02 10:15:00`, times `10:15:00`, durations
//!   `[h]:mm:ss` (`255:10:10`); ISO 8601 date-times stored as text (ODS, some xlsx)
//!   the same way, ISO durations unchanged.
//! - Title, author and modification time come from the workbook's document properties.
//!
//! Limits ([`ImportLimits`]): calamine inflates whole parts (the shared strings, a whole
//! sheet for `.ods`), so a zip-based workbook is first inflated once without keeping
//! anything, against the document budget, part count and compression ratio; an `.xls`
//! must fit in the document budget as it is. `.xlsx`, `.xlsm` and `.xlsb` sheets are
//! then streamed cell by cell and refused past the row and cell limits before anything
//! is laid out; `.ods` and `.xls` sheets are read whole by calamine (bounded by its own
//! caps and the size checks above) and checked against the same limits afterwards.
//!
//! A failure in any sheet rejects the file: a workbook with a sheet missing would
//! replace the complete one downstream.

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use calamine::{
    Data, DataRef, Ods, Range, Reader, SheetType, Sheets, Xls, Xlsb, Xlsx, XlsxError,
    open_workbook_from_rs,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use switchyard_contracts::{DocumentBody, DocumentKind, Sheet};

use crate::extracted::ExtractedDocument;
use crate::limits::{ImportLimits, human_bytes};
use crate::ooxml::{CoreProperties, check_zip_limits, ole_reason};
use crate::source::SourceKind;

/// Extracts the sheets and document properties of a workbook.
pub(crate) fn read_spreadsheet(
    mut file: File,
    path: &Path,
    kind: SourceKind,
    limits: &ImportLimits,
) -> Result<ExtractedDocument, String> {
    let format = kind.provider();
    if kind == SourceKind::Xls {
        let size = file
            .metadata()
            .map_err(|err| format!("failed to read: {err}"))?
            .len();
        if size > limits.max_document_bytes {
            return Err(format!(
                "the file is larger than the {} limit per document (import.max_document_bytes)",
                human_bytes(limits.max_document_bytes)
            ));
        }
    } else {
        if let Some(reason) = ole_reason(&mut file, format) {
            return Err(reason);
        }
        file.seek(SeekFrom::Start(0))
            .map_err(|err| format!("failed to read: {err}"))?;
        check_zip_limits(&mut file, format, limits)?;
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|err| format!("failed to read: {err}"))?;
    // calamine has panicked on hostile files before; one file must not end the import.
    catch_unwind(AssertUnwindSafe(|| read_workbook(file, kind, limits))).unwrap_or_else(|_| {
        Err(format!(
            "the spreadsheet reader failed on this file ({})",
            path.display()
        ))
    })
}

fn read_workbook(
    file: File,
    kind: SourceKind,
    limits: &ImportLimits,
) -> Result<ExtractedDocument, String> {
    let reader = BufReader::new(file);
    let format = kind.provider();
    let opened = match kind {
        SourceKind::Xls => open_workbook_from_rs::<Xls<_>, _>(reader)
            .map(Sheets::Xls)
            .map_err(|err| err.to_string()),
        SourceKind::Xlsb => open_workbook_from_rs::<Xlsb<_>, _>(reader)
            .map(Sheets::Xlsb)
            .map_err(|err| err.to_string()),
        SourceKind::Ods => open_workbook_from_rs::<Ods<_>, _>(reader)
            .map(Sheets::Ods)
            .map_err(|err| err.to_string()),
        _ => open_workbook_from_rs::<Xlsx<_>, _>(reader)
            .map(Sheets::Xlsx)
            .map_err(|err| err.to_string()),
    };
    let mut workbook =
        opened.map_err(|err| format!("not a valid {format} file: {}", lowercase_first(&err)))?;
    let worksheets: Vec<String> = workbook
        .sheets_metadata()
        .iter()
        .filter(|sheet| sheet.typ == SheetType::WorkSheet)
        .map(|sheet| sheet.name.clone())
        .collect();
    let mut sheets = Vec::with_capacity(worksheets.len());
    for name in worksheets {
        let failed = |err: &dyn std::fmt::Display| {
            format!(
                "failed to read sheet `{name}`: {}",
                lowercase_first(&err.to_string())
            )
        };
        let cells = match &mut workbook {
            Sheets::Xlsx(xlsx) => match xlsx.worksheet_cells_reader(&name) {
                Ok(mut reader) => {
                    let mut cells = SheetCells::new(&name, limits);
                    while let Some(cell) = reader.next_cell().map_err(|err| failed(&err))? {
                        cells.push(cell.get_position(), cell.get_value())?;
                    }
                    cells
                }
                Err(XlsxError::NotAWorksheet(_)) => SheetCells::new(&name, limits),
                Err(err) => return Err(failed(&err)),
            },
            Sheets::Xlsb(xlsb) => match xlsb.worksheet_cells_reader(&name) {
                Ok(mut reader) => {
                    let mut cells = SheetCells::new(&name, limits);
                    while let Some(cell) = reader.next_cell().map_err(|err| failed(&err))? {
                        cells.push(cell.get_position(), cell.get_value())?;
                    }
                    cells
                }
                Err(err) => return Err(failed(&err)),
            },
            workbook => {
                let range = workbook
                    .worksheet_range(&name)
                    .map_err(|err| failed(&err))?;
                check_range(&name, &range, limits)?;
                sheets.push(sheet(name, &range));
                continue;
            }
        };
        let sheet = cells.into_sheet()?;
        sheets.push(Sheet { name, ..sheet });
    }
    let properties = workbook
        .workbook_properties()
        .map(|properties| CoreProperties {
            title: non_blank(properties.title),
            creator: non_blank(properties.creator),
            modified: properties.modified.as_deref().and_then(parse_time),
        })
        .unwrap_or_default();
    Ok(ExtractedDocument {
        kind: DocumentKind::Sheet,
        properties,
        body: DocumentBody::Sheet { sheets },
    })
}

/// The rejection of the sheet `name` for having more rows than the limit.
fn too_many_rows(name: &str, limits: &ImportLimits) -> String {
    format!(
        "sheet `{name}` has more than {} rows (import.max_sheet_rows)",
        limits.max_sheet_rows
    )
}

/// The rejection of the sheet `name` for having more cells than the limit.
fn too_many_cells(name: &str, limits: &ImportLimits) -> String {
    format!(
        "sheet `{name}` has more than {} cells (import.max_sheet_cells)",
        limits.max_sheet_cells
    )
}

/// Checks a sheet calamine read whole against the row and cell limits.
fn check_range(name: &str, range: &Range<Data>, limits: &ImportLimits) -> Result<(), String> {
    let (height, width) = range.get_size();
    if height as u64 > limits.max_sheet_rows {
        return Err(too_many_rows(name, limits));
    }
    if (height as u64).saturating_mul(width as u64) > limits.max_sheet_cells {
        return Err(too_many_cells(name, limits));
    }
    Ok(())
}

/// The non-empty cells of a streamed sheet as text, checked against the limits as they
/// come, so that a sheet with cells far apart is refused before it is laid out.
struct SheetCells<'a> {
    name: &'a str,
    limits: &'a ImportLimits,
    cells: Vec<((u32, u32), String)>,
    first_row: u32,
    last_row: u32,
}

impl<'a> SheetCells<'a> {
    fn new(name: &'a str, limits: &'a ImportLimits) -> Self {
        SheetCells {
            name,
            limits,
            cells: Vec::new(),
            first_row: u32::MAX,
            last_row: 0,
        }
    }

    fn push(&mut self, position: (u32, u32), value: &DataRef<'_>) -> Result<(), String> {
        if matches!(value, DataRef::Empty) {
            return Ok(());
        }
        self.first_row = self.first_row.min(position.0);
        self.last_row = self.last_row.max(position.0);
        if u64::from(self.last_row - self.first_row) >= self.limits.max_sheet_rows {
            return Err(too_many_rows(self.name, self.limits));
        }
        if self.cells.len() as u64 >= self.limits.max_sheet_cells {
            return Err(too_many_cells(self.name, self.limits));
        }
        self.cells
            .push((position, cell_text(&Data::from(value.clone()))));
        Ok(())
    }

    /// The sheet as [`sheet`] lays out a range: columns from the first used one, the
    /// header first; the cells laid out, empty ones included, count against the limit.
    fn into_sheet(mut self) -> Result<Sheet, String> {
        // A later cell at the same place wins, as in a calamine range.
        self.cells.sort_by_key(|(position, _)| *position);
        let first_column = self
            .cells
            .iter()
            .map(|((_, column), _)| *column)
            .min()
            .unwrap_or_default();
        let mut laid_out = 0u64;
        let mut rows: Vec<Vec<String>> = Vec::new();
        let mut current_row = None;
        for ((row, column), text) in self.cells {
            if current_row != Some(row) {
                current_row = Some(row);
                rows.push(Vec::new());
            }
            let cells = rows.last_mut().expect("a row was just pushed");
            let index = (column - first_column) as usize;
            if index >= cells.len() {
                laid_out += (index + 1 - cells.len()) as u64;
                if laid_out > self.limits.max_sheet_cells {
                    return Err(too_many_cells(self.name, self.limits));
                }
                cells.resize(index + 1, String::new());
            }
            cells[index] = text;
        }
        let mut rows = rows.into_iter().filter_map(|mut row| {
            while row.last().is_some_and(|cell| cell.is_empty()) {
                row.pop();
            }
            (!row.is_empty()).then_some(row)
        });
        let header = rows.next().unwrap_or_default();
        Ok(Sheet {
            name: String::new(),
            header,
            rows: rows.collect(),
        })
    }
}

/// One worksheet: header = first non-empty row, then the non-empty rows below it.
fn sheet(name: String, range: &Range<Data>) -> Sheet {
    let mut rows = range.rows().filter_map(|cells| {
        let mut row: Vec<String> = cells.iter().map(cell_text).collect();
        while row.last().is_some_and(|cell| cell.is_empty()) {
            row.pop();
        }
        (!row.is_empty()).then_some(row)
    });
    let header = rows.next().unwrap_or_default();
    Sheet {
        name,
        header,
        rows: rows.collect(),
    }
}

/// A cell as the text a reader of the sheet would see.
pub(crate) fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(text) => text.clone(),
        Data::Int(number) => number.to_string(),
        Data::Float(number) => number_text(*number),
        Data::Bool(true) => "TRUE".to_string(),
        Data::Bool(false) => "FALSE".to_string(),
        Data::Error(error) => error.to_string(),
        Data::DateTimeIso(text) => iso_date_time_text(text),
        Data::DurationIso(text) => text.clone(),
        Data::DateTime(value) if value.is_duration() => duration_text(value.as_f64()),
        Data::DateTime(value) => {
            let (year, month, day, hour, minute, second, _) = value.to_ymd_hms_milli();
            let has_time = (hour, minute, second) != (0, 0, 0);
            if value.as_f64().abs() < 1.0 && has_time {
                format!("{hour:02}:{minute:02}:{second:02}")
            } else if has_time {
                format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02}")
            } else {
                format!("{year:04}-{month:02}-{day:02}")
            }
        }
    }
}

/// An ISO 8601 date-time as the other dates: `T` as a space, midnight left out.
fn iso_date_time_text(text: &str) -> String {
    match text.split_once('T') {
        Some((date, "00:00:00")) => date.to_string(),
        Some((date, time)) => format!("{date} {time}"),
        None => text.to_string(),
    }
}

/// Whole numbers without `.0`; very large or small ones in exponent form.
fn number_text(number: f64) -> String {
    let magnitude = number.abs();
    if number.fract() == 0.0 && magnitude < 1e15 {
        format!("{number:.0}")
    } else if magnitude != 0.0 && (!(1e-4..1e15).contains(&magnitude)) {
        format!("{number:e}")
    } else {
        number.to_string()
    }
}

/// A duration in days as `[h]:mm:ss`, rounded to the second.
fn duration_text(days: f64) -> String {
    let total_seconds = (days * 86_400.0).round();
    let sign = if total_seconds < 0.0 { "-" } else { "" };
    // Saturating float-to-int conversion; absurd durations stay finite.
    let total_seconds = total_seconds.abs() as u64;
    let (hours, minutes, seconds) = (
        total_seconds / 3600,
        total_seconds / 60 % 60,
        total_seconds % 60,
    );
    format!("{sign}{hours}:{minutes:02}:{seconds:02}")
}

fn non_blank(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_string())
        .filter(|value| !value.is_empty())
}

/// RFC 3339, or a zone-less ISO date-time taken as UTC.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|time| time.and_utc())
        })
}

fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{CellErrorType, ExcelDateTime, ExcelDateTimeType};

    fn check(cell: Data, expected: &str) {
        assert_eq!(cell_text(&cell), expected, "{cell:?}");
    }

    fn date(serial: f64) -> Data {
        Data::DateTime(ExcelDateTime::new(
            serial,
            ExcelDateTimeType::DateTime,
            false,
        ))
    }

    #[test]
    fn cells_render_readably() {
        check(Data::Empty, "");
        check(Data::Int(15), "15");
        check(Data::Float(15.0), "15");
        check(Data::Float(0.1), "0.1");
        check(Data::Float(-2.5), "-2.5");
        check(Data::Float(1e-7), "1e-7");
        check(Data::Float(1e20), "1e20");
        check(Data::Bool(true), "TRUE");
        check(Data::Error(CellErrorType::Div0), "#DIV/0!");
        check(date(44197.0), "2021-01-01");
        check(date(44197.5), "2021-01-01 12:00:00");
        check(date(0.25), "06:00:00");
        check(
            Data::DateTime(ExcelDateTime::new(
                10.632060185,
                ExcelDateTimeType::TimeDelta,
                false,
            )),
            "255:10:10",
        );
        check(Data::DateTimeIso("2021-01-01".into()), "2021-01-01");
        check(
            Data::DateTimeIso("2021-01-01T10:10:10".into()),
            "2021-01-01 10:10:10",
        );
        check(
            Data::DateTimeIso("2021-01-01T00:00:00".into()),
            "2021-01-01",
        );
    }

    #[test]
    fn header_is_the_first_non_empty_row() {
        let mut range = Range::new((0, 0), (3, 2));
        range.set_value((1, 0), Data::String("name".into()));
        range.set_value((1, 1), Data::String("qty".into()));
        range.set_value((3, 0), Data::String("apples".into()));
        range.set_value((3, 1), Data::Int(3));
        let sheet = sheet("S".into(), &range);
        assert_eq!(sheet.header, ["name", "qty"]);
        assert_eq!(sheet.rows, [["apples", "3"]]);
    }
}
