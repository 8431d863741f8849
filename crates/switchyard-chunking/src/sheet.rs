//! Workbooks: one fragment per sheet, or per block of rows when the sheet is larger than
//! `rows_per_fragment` rows or `max_fragment_chars` characters.
//!
//! Every fragment repeats the sheet's name and header row above its rows, so each block
//! reads and matches on its own:
//!
//! ```text
//! Sheet: Budget
//! Header: Region | Q1 | Q2
//! North | 10 | 12
//! South | 8 | 9
//! ```
//!
//! One line per row with cells joined by ` | ` (the header line once per fragment) is
//! compact, so more rows fit in a fragment, and keeps column names from dominating term
//! frequencies in search, while a reader still sees which column a value belongs to.
//! Blank rows are skipped; a sheet with a header and no rows gives one fragment with the
//! header alone. The title is the sheet's name (`Sheet {n}` from 1 when it has none).

use switchyard_contracts::Sheet;

use crate::text::{Packer, Unit, render_row};

/// The rows of a sheet as units, one line each.
pub(crate) struct RowUnits<'a>(std::slice::Iter<'a, Vec<String>>);

impl Iterator for RowUnits<'_> {
    type Item = Unit<'static>;

    fn next(&mut self) -> Option<Unit<'static>> {
        self.0.next().map(|row| Unit::new(render_row(row), "\n"))
    }
}

/// The fragments of a workbook, as `(title, text)`, produced lazily.
pub(crate) struct SheetChunks<'a> {
    sheets: std::iter::Enumerate<std::slice::Iter<'a, Sheet>>,
    max_chars: usize,
    rows_per_fragment: usize,
    current: Option<(Option<String>, Packer<'static, RowUnits<'a>>)>,
}

impl<'a> SheetChunks<'a> {
    pub fn new(sheets: &'a [Sheet], max_chars: usize, rows_per_fragment: usize) -> Self {
        SheetChunks {
            sheets: sheets.iter().enumerate(),
            max_chars,
            rows_per_fragment,
            current: None,
        }
    }
}

impl Iterator for SheetChunks<'_> {
    type Item = (Option<String>, String);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((title, packer)) = &mut self.current {
                if let Some(text) = packer.next() {
                    return Some((title.clone(), text));
                }
                self.current = None;
            }
            let (index, sheet) = self.sheets.next()?;
            let name = match sheet.name.trim() {
                "" => format!("Sheet {}", index + 1),
                name => name.to_string(),
            };
            let mut prefix = format!("Sheet: {name}\n");
            let header = render_row(&sheet.header);
            if !header.is_empty() {
                prefix.push_str("Header: ");
                prefix.push_str(&header);
                prefix.push('\n');
            }
            let rows = RowUnits(sheet.rows.iter());
            let packer = Packer::new(prefix, rows, self.max_chars, self.rows_per_fragment);
            let packer = if header.is_empty() {
                packer
            } else {
                packer.emit_prefix_alone()
            };
            self.current = Some((Some(name), packer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet(name: &str, header: &[&str], rows: usize) -> Sheet {
        Sheet {
            name: name.into(),
            header: header.iter().map(|cell| cell.to_string()).collect(),
            rows: (0..rows)
                .map(|row| vec![format!("r{row}"), format!("{}", row * 10)])
                .collect(),
        }
    }

    fn chunks(sheets: &[Sheet], max_chars: usize, rows: usize) -> Vec<(Option<String>, String)> {
        SheetChunks::new(sheets, max_chars, rows).collect()
    }

    #[test]
    fn a_small_sheet_is_one_fragment() {
        let actual = chunks(&[sheet("Budget", &["Name", "Amount"], 2)], 1000, 50);
        assert_eq!(
            actual,
            [(
                Some("Budget".to_string()),
                "Sheet: Budget\nHeader: Name | Amount\nr0 | 0\nr1 | 10".to_string()
            )]
        );
    }

    #[test]
    fn every_block_of_rows_carries_the_header_row() {
        let actual = chunks(&[sheet("Big", &["Name", "Amount"], 7)], 1000, 3);
        let texts: Vec<&str> = actual.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Sheet: Big\nHeader: Name | Amount\nr0 | 0\nr1 | 10\nr2 | 20",
                "Sheet: Big\nHeader: Name | Amount\nr3 | 30\nr4 | 40\nr5 | 50",
                "Sheet: Big\nHeader: Name | Amount\nr6 | 60",
            ]
        );
        assert!(
            actual
                .iter()
                .all(|(title, _)| title.as_deref() == Some("Big"))
        );
    }

    #[test]
    fn blocks_respect_max_chars_as_well_as_rows() {
        let actual = chunks(&[sheet("S", &["a", "b"], 40)], 70, 50);
        assert!(actual.len() > 1);
        for (_, text) in &actual {
            assert!(text.chars().count() <= 70, "{text}");
            assert!(text.starts_with("Sheet: S\nHeader: a | b\n"), "{text}");
        }
        let rows: usize = actual
            .iter()
            .map(|(_, text)| text.lines().count() - 2)
            .sum();
        assert_eq!(rows, 40);
    }

    #[test]
    fn one_fragment_per_sheet_and_header_only_sheets_still_count() {
        let sheets = [
            sheet("One", &["x", "y"], 1),
            sheet("", &["only", "header"], 0),
            sheet("Empty", &[], 0),
        ];
        let actual = chunks(&sheets, 1000, 50);
        assert_eq!(
            actual,
            [
                (
                    Some("One".into()),
                    "Sheet: One\nHeader: x | y\nr0 | 0".into()
                ),
                (
                    Some("Sheet 2".into()),
                    "Sheet: Sheet 2\nHeader: only | header".into()
                ),
            ]
        );
    }
}
