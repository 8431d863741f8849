//! The `.docx` reader: the main document part streamed into [`WordBlock`]s in reading
//! order, with title, author and modification time from the core properties.
//!
//! - A paragraph is a heading when its style is `Title` (level 0) or `Heading N` (by
//!   style name or id, any case), or when it, or its style through `basedOn`, has an
//!   outline level below 9 (level = outline level + 1). A direct outline level wins.
//! - Paragraph text is the text of its runs, wherever they sit (hyperlinks, fields,
//!   content controls, insertions); deleted text and field codes are left out. A tab is
//!   `\t`, a line break `\n`, a non-breaking hyphen `-`. Empty paragraphs are dropped.
//! - Tables are uniform grids: a cell spanning columns repeats its text in each, a
//!   vertically merged cell repeats the text of the cell that starts the merge. Cell text
//!   is its paragraphs joined by `\n`; a nested table is written into its cell, rows by
//!   `\n`, cells by `\t`. Tables without any text are dropped.
//! - Text boxes follow the paragraph that anchors them, as paragraphs of their own.
//!   Headers, footers, footnotes and comments are not read.

use std::fs::File;

use quick_xml::events::BytesStart;
use switchyard_contracts::{DocumentBody, DocumentKind, WordBlock};

use crate::extracted::ExtractedDocument;
use crate::limits::ImportLimits;
use crate::ooxml::{Ns, Visitor, attribute, open_package};

/// Extracts the blocks and core properties of a Word document.
pub(crate) fn read_docx(file: File, limits: &ImportLimits) -> Result<ExtractedDocument, String> {
    let mut package = open_package(file, "docx", limits)?;
    let main = package.main_part("word/document.xml")?;
    if !package.has_part(&main) {
        return Err(format!("not a Word document: no main part {main}"));
    }
    let relationships = package.relationships(&main)?;
    let mut styles = StyleCollector::default();
    if let Some(styles_part) = relationships.first_of_type("/styles") {
        package.walk_part(&styles_part, &mut styles)?;
    }
    let mut body = BodyCollector {
        styles: &styles,
        frames: Vec::new(),
        blocks: Vec::new(),
        in_text: false,
        in_body: false,
        saw_document: false,
    };
    package.walk_part(&main, &mut body)?;
    if !body.saw_document {
        return Err(format!("not a Word document: {main} is no w:document"));
    }
    let blocks = body.blocks;
    let properties = package.core_properties();
    Ok(ExtractedDocument {
        kind: DocumentKind::Word,
        properties,
        body: DocumentBody::Word { blocks },
    })
}

/// What a paragraph style says about headings.
#[derive(Debug, Default)]
struct Style {
    name: String,
    outline_level: Option<u8>,
    based_on: Option<String>,
}

#[derive(Default)]
struct StyleCollector {
    styles: std::collections::HashMap<String, Style>,
    current: Option<(String, Style)>,
}

impl StyleCollector {
    /// The heading level the style `id` gives, following `basedOn` for outline levels.
    fn heading_level(&self, id: &str) -> Option<u8> {
        let style = self.styles.get(id);
        let name = style.map(|style| style.name.as_str()).unwrap_or_default();
        if let Some(level) = named_heading_level(name).or_else(|| named_heading_level(id)) {
            return Some(level);
        }
        let mut current = style;
        // A bounded walk: `basedOn` chains may loop in broken files.
        for _ in 0..16 {
            let style = current?;
            if let Some(level) = style.outline_level {
                return (level < 9).then_some(level + 1);
            }
            current = style.based_on.as_deref().and_then(|id| self.styles.get(id));
        }
        None
    }
}

/// `Title` → 0, `Heading 3` / `heading3` → 3.
fn named_heading_level(name: &str) -> Option<u8> {
    let name = name.trim().to_ascii_lowercase();
    if name == "title" {
        return Some(0);
    }
    let level: u8 = name.strip_prefix("heading")?.trim().parse().ok()?;
    (1..=9).contains(&level).then_some(level)
}

impl Visitor for StyleCollector {
    fn start(&mut self, ns: Ns, local: &str, element: &BytesStart<'_>) {
        if ns != Ns::Word {
            return;
        }
        match local {
            "style" => {
                let paragraph = attribute(element, "type").is_none_or(|kind| kind == "paragraph");
                self.current = match (paragraph, attribute(element, "styleId")) {
                    (true, Some(id)) => Some((id, Style::default())),
                    _ => None,
                };
            }
            "name" | "basedOn" | "outlineLvl" => {
                let (Some((_, style)), Some(value)) =
                    (self.current.as_mut(), attribute(element, "val"))
                else {
                    return;
                };
                match local {
                    "name" => style.name = value,
                    "basedOn" => style.based_on = Some(value),
                    _ => style.outline_level = value.trim().parse().ok(),
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, ns: Ns, local: &str) {
        if ns == Ns::Word
            && local == "style"
            && let Some((id, style)) = self.current.take()
        {
            self.styles.insert(id, style);
        }
    }

    fn text(&mut self, _text: &str) {}
}

/// A paragraph being read.
#[derive(Default)]
struct Paragraph {
    text: String,
    style: Option<String>,
    outline_level: Option<u8>,
    /// Open runs: run-level elements (tabs, breaks) count only inside one.
    run_depth: usize,
    /// Inside the paragraph properties, where `pStyle` and `outlineLvl` sit.
    in_properties: bool,
    /// Text boxes anchored here, emitted after the paragraph.
    anchored: Vec<WordBlock>,
}

/// A table being read.
#[derive(Default)]
struct Table {
    rows: Vec<Vec<String>>,
    row: Vec<Cell>,
    cell: Option<Cell>,
    /// The previous row, one text per grid column, for vertical merges.
    previous_row: Vec<String>,
}

#[derive(Default)]
struct Cell {
    lines: Vec<String>,
    grid_span: usize,
    continues_merge: bool,
}

enum Frame {
    Paragraph(Paragraph),
    Table(Table),
}

struct BodyCollector<'a> {
    styles: &'a StyleCollector,
    frames: Vec<Frame>,
    blocks: Vec<WordBlock>,
    in_text: bool,
    /// Inside `w:body`: the document part also holds the background and such.
    in_body: bool,
    /// Whether the part's root was `w:document` (a renamed workbook is not).
    saw_document: bool,
}

impl BodyCollector<'_> {
    fn paragraph(&mut self) -> Option<&mut Paragraph> {
        match self.frames.last_mut() {
            Some(Frame::Paragraph(paragraph)) => Some(paragraph),
            _ => None,
        }
    }

    fn table(&mut self) -> Option<&mut Table> {
        match self.frames.last_mut() {
            Some(Frame::Table(table)) => Some(table),
            _ => None,
        }
    }

    /// Places a finished block: into the enclosing cell or paragraph, or the body.
    fn place(&mut self, block: WordBlock) {
        match self.frames.last_mut() {
            Some(Frame::Table(table)) => {
                if let Some(cell) = table.cell.as_mut() {
                    cell.lines.push(block_text(&block));
                }
            }
            Some(Frame::Paragraph(paragraph)) => paragraph.anchored.push(block),
            None => self.blocks.push(block),
        }
    }

    fn finish_paragraph(&mut self, paragraph: Paragraph) {
        let in_cell = matches!(self.frames.last(), Some(Frame::Table(_)));
        let text = paragraph.text.trim_end().to_string();
        if in_cell {
            // Cells keep their empty lines, as Word shows them.
            if let Some(cell) = self.table().and_then(|table| table.cell.as_mut()) {
                cell.lines.push(text);
            }
        } else if !text.trim().is_empty() {
            let level = paragraph
                .outline_level
                .filter(|level| *level < 9)
                .map(|level| level + 1)
                .or_else(|| {
                    let style = paragraph.style.as_deref()?;
                    self.styles.heading_level(style)
                });
            self.place(match level {
                Some(level) => WordBlock::Heading { level, text },
                None => WordBlock::Paragraph { text },
            });
        }
        for block in paragraph.anchored {
            self.place(block);
        }
    }

    fn finish_row(table: &mut Table) {
        let mut row = Vec::new();
        for cell in std::mem::take(&mut table.row) {
            let text = if cell.continues_merge {
                table
                    .previous_row
                    .get(row.len())
                    .cloned()
                    .unwrap_or_default()
            } else {
                cell.lines.join("\n").trim_end().to_string()
            };
            for _ in 0..cell.grid_span.clamp(1, 64) {
                row.push(text.clone());
            }
        }
        table.previous_row = row.clone();
        table.rows.push(row);
    }
}

/// A block as plain text, for a nested table or text box inside a cell.
fn block_text(block: &WordBlock) -> String {
    match block {
        WordBlock::Heading { text, .. } | WordBlock::Paragraph { text } => text.clone(),
        WordBlock::Table { rows } => rows
            .iter()
            .map(|row| row.join("\t"))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

impl Visitor for BodyCollector<'_> {
    fn start(&mut self, ns: Ns, local: &str, element: &BytesStart<'_>) {
        if ns != Ns::Word {
            return;
        }
        match local {
            "document" => self.saw_document = true,
            "body" => self.in_body = true,
            _ => {}
        }
        if !self.in_body {
            return;
        }
        match local {
            "p" => self.frames.push(Frame::Paragraph(Paragraph::default())),
            "tbl" => self.frames.push(Frame::Table(Table::default())),
            "tc" => {
                if let Some(table) = self.table() {
                    table.cell = Some(Cell {
                        grid_span: 1,
                        ..Cell::default()
                    });
                }
            }
            "gridSpan" | "vMerge" => {
                let value = attribute(element, "val");
                if let Some(cell) = self.table().and_then(|table| table.cell.as_mut()) {
                    if local == "gridSpan" {
                        cell.grid_span =
                            value.and_then(|span| span.trim().parse().ok()).unwrap_or(1);
                    } else {
                        cell.continues_merge = value.is_none_or(|merge| merge == "continue");
                    }
                }
            }
            "pPr" => {
                if let Some(paragraph) = self.paragraph() {
                    paragraph.in_properties = true;
                }
            }
            "pStyle" | "outlineLvl" => {
                let value = attribute(element, "val");
                if let Some(paragraph) = self.paragraph()
                    && paragraph.in_properties
                {
                    if local == "pStyle" {
                        paragraph.style = paragraph.style.take().or(value);
                    } else if paragraph.outline_level.is_none() {
                        paragraph.outline_level = value.and_then(|level| level.trim().parse().ok());
                    }
                }
            }
            "r" => {
                if let Some(paragraph) = self.paragraph() {
                    paragraph.run_depth += 1;
                }
            }
            "t" => self.in_text = true,
            "tab" | "ptab" | "br" | "cr" | "noBreakHyphen" => {
                let page_break = local == "br"
                    && attribute(element, "type").is_some_and(|kind| kind != "textWrapping");
                if let Some(paragraph) = self.paragraph()
                    && paragraph.run_depth > 0
                {
                    match local {
                        "tab" | "ptab" => paragraph.text.push('\t'),
                        "noBreakHyphen" => paragraph.text.push('-'),
                        _ if page_break => {}
                        _ => paragraph.text.push('\n'),
                    }
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, ns: Ns, local: &str) {
        if ns != Ns::Word || !self.in_body {
            return;
        }
        match local {
            "body" => self.in_body = false,
            "p" => {
                if let Some(Frame::Paragraph(paragraph)) = self.frames.pop() {
                    self.finish_paragraph(paragraph);
                }
            }
            "tbl" => {
                if let Some(Frame::Table(mut table)) = self.frames.pop() {
                    if !table.row.is_empty() {
                        Self::finish_row(&mut table);
                    }
                    let rows = table.rows;
                    // Like empty paragraphs, tables without text carry nothing.
                    if rows.iter().flatten().any(|cell| !cell.trim().is_empty()) {
                        self.place(WordBlock::Table { rows });
                    }
                }
            }
            "tc" => {
                if let Some(table) = self.table()
                    && let Some(cell) = table.cell.take()
                {
                    table.row.push(cell);
                }
            }
            "tr" => {
                if let Some(table) = self.table() {
                    Self::finish_row(table);
                }
            }
            "pPr" => {
                if let Some(paragraph) = self.paragraph() {
                    paragraph.in_properties = false;
                }
            }
            "r" => {
                if let Some(paragraph) = self.paragraph() {
                    paragraph.run_depth = paragraph.run_depth.saturating_sub(1);
                }
            }
            "t" => self.in_text = false,
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if !self.in_text {
            return;
        }
        if let Some(paragraph) = self.paragraph() {
            paragraph.text.push_str(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heading_levels_come_from_style_names_and_ids() {
        assert_eq!(named_heading_level("Title"), Some(0));
        assert_eq!(named_heading_level("heading 1"), Some(1));
        assert_eq!(named_heading_level("Heading9"), Some(9));
        assert_eq!(named_heading_level("Heading 10"), None);
        assert_eq!(named_heading_level("Body Text"), None);
    }

    fn body(xml: &str) -> Vec<WordBlock> {
        let styles = StyleCollector::default();
        let mut collector = BodyCollector {
            styles: &styles,
            frames: Vec::new(),
            blocks: Vec::new(),
            in_text: false,
            in_body: false,
            saw_document: false,
        };
        let xml = format!(
            r#"<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{xml}</w:body></w:document>"#
        );
        crate::ooxml::walk(xml.as_bytes(), "document.xml", &mut collector).unwrap();
        collector.blocks
    }

    fn paragraph(text: &str) -> WordBlock {
        WordBlock::Paragraph { text: text.into() }
    }

    #[test]
    fn paragraphs_headings_and_runs() {
        let blocks = body(
            r#"<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Intro</w:t></w:r></w:p>
            <w:p><w:pPr><w:outlineLvl w:val="0"/></w:pPr><w:r><w:t>Outlined</w:t></w:r></w:p>
            <w:p><w:pPr><w:tabs><w:tab w:val="left"/></w:tabs></w:pPr>
              <w:r><w:t xml:space="preserve">a </w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c</w:t></w:r>
              <w:hyperlink><w:r><w:t>-link</w:t></w:r></w:hyperlink>
              <w:del><w:r><w:delText>gone</w:delText></w:r></w:del>
              <w:r><w:instrText>PAGE</w:instrText></w:r></w:p>
            <w:p/><w:p><w:r><w:t>  </w:t></w:r></w:p>"#,
        );
        assert_eq!(
            blocks,
            vec![
                WordBlock::Heading {
                    level: 2,
                    text: "Intro".into()
                },
                WordBlock::Heading {
                    level: 1,
                    text: "Outlined".into()
                },
                paragraph("a \tb\nc-link"),
            ]
        );
    }

    #[test]
    fn tables_are_uniform_grids() {
        let blocks = body(
            r#"<w:tbl>
              <w:tr><w:tc><w:tcPr><w:gridSpan w:val="2"/></w:tcPr><w:p><w:r><w:t>wide</w:t></w:r></w:p></w:tc>
                    <w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr><w:p><w:r><w:t>tall</w:t></w:r></w:p></w:tc></w:tr>
              <w:tr><w:tc><w:p><w:r><w:t>x</w:t></w:r></w:p><w:p><w:r><w:t>y</w:t></w:r></w:p></w:tc>
                    <w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>n1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>n2</w:t></w:r></w:p></w:tc></w:tr></w:tbl><w:p/></w:tc>
                    <w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc></w:tr>
            </w:tbl><w:p><w:r><w:t>after</w:t></w:r></w:p>"#,
        );
        assert_eq!(
            blocks,
            vec![
                WordBlock::Table {
                    rows: vec![
                        vec!["wide".into(), "wide".into(), "tall".into()],
                        vec!["x\ny".into(), "n1\tn2".into(), "tall".into()],
                    ]
                },
                paragraph("after"),
            ]
        );
    }
}
