//! The `.pptx` reader: slides in presentation order (`p:sldIdLst` of
//! `ppt/presentation.xml` through its relationships), each streamed into a [`Slide`].
//!
//! - The title is the text of the first `title` or `ctrTitle` placeholder.
//! - The body is the text of every other shape in shape-tree order, group members and
//!   table cells included (cells by `\t`, rows by `\n`), one shape per line block
//!   (shapes joined by `\n`). Chart and diagram text, which lives in other parts, is not.
//! - A shape's text is its paragraphs joined by `\n`; a line break inside a paragraph is
//!   `\n` too (python-pptx writes `\v`), fields (`a:fld`, e.g. slide numbers) count.
//! - The notes are the text of the body placeholder of the slide's notes slide.
//! - Numbers count from 1 in presentation order; hidden slides are kept.

use std::fs::File;

use quick_xml::events::BytesStart;
use switchyard_contracts::{DocumentBody, DocumentKind, Slide};

use crate::extracted::ExtractedDocument;
use crate::limits::ImportLimits;
use crate::ooxml::{Ns, Package, Visitor, attribute, open_package, prefixed_attribute};

/// Extracts the slides and core properties of a deck.
pub(crate) fn read_pptx(file: File, limits: &ImportLimits) -> Result<ExtractedDocument, String> {
    let mut package = open_package(file, "pptx", limits)?;
    let main = package.main_part("ppt/presentation.xml")?;
    let mut slide_ids = SlideIdCollector::default();
    if !package.walk_part(&main, &mut slide_ids)? {
        return Err(format!(
            "not a PowerPoint presentation: no main part {main}"
        ));
    }
    if !slide_ids.saw_presentation {
        return Err(format!(
            "not a PowerPoint presentation: {main} is no p:presentation"
        ));
    }
    let relationships = package.relationships(&main)?;
    let mut slides = Vec::with_capacity(slide_ids.ids.len());
    for id in &slide_ids.ids {
        let Some(part) = relationships.target(id) else {
            // A dangling slide id is a broken list entry, not a slide.
            continue;
        };
        let number = u32::try_from(slides.len() + 1).unwrap_or(u32::MAX);
        slides.push(read_slide(&mut package, part, number)?);
    }
    let properties = package.core_properties();
    Ok(ExtractedDocument {
        kind: DocumentKind::Presentation,
        properties,
        body: DocumentBody::Presentation { slides },
    })
}

fn read_slide(package: &mut Package, part: &str, number: u32) -> Result<Slide, String> {
    let mut shapes = ShapeCollector::default();
    if !package.walk_part(part, &mut shapes)? {
        return Err(format!("slide {number}: missing part {part}"));
    }
    let notes = match package.relationships(part)?.first_of_type("/notesSlide") {
        Some(notes_part) => {
            let mut notes = ShapeCollector::default();
            package.walk_part(&notes_part, &mut notes)?;
            notes.notes.unwrap_or_default()
        }
        None => String::new(),
    };
    Ok(Slide {
        number,
        title: shapes.title,
        body: shapes.body.join("\n"),
        notes,
    })
}

#[derive(Default)]
struct SlideIdCollector {
    ids: Vec<String>,
    /// Whether the part's root was `p:presentation` (a renamed document is not).
    saw_presentation: bool,
}

impl Visitor for SlideIdCollector {
    fn start(&mut self, ns: Ns, local: &str, element: &BytesStart<'_>) {
        if ns == Ns::Presentation && local == "presentation" {
            self.saw_presentation = true;
        }
        if ns == Ns::Presentation
            && local == "sldId"
            && let Some(id) = prefixed_attribute(element, "id")
        {
            self.ids.push(id);
        }
    }
    fn end(&mut self, _ns: Ns, _local: &str) {}
    fn text(&mut self, _text: &str) {}
}

/// The text of one slide (or notes slide), shape by shape.
#[derive(Default)]
struct ShapeCollector {
    title: Option<String>,
    /// The body placeholder's text, for notes slides.
    notes: Option<String>,
    body: Vec<String>,
    /// The placeholder type of the open `p:sp`; `Some("")` for untyped placeholders.
    placeholder: Option<String>,
    /// Paragraphs of the open text body.
    paragraphs: Vec<String>,
    paragraph: Option<String>,
    in_text: bool,
    /// Text of the open shape's text body.
    shape_text: Option<String>,
    table: Option<TableText>,
}

#[derive(Default)]
struct TableText {
    rows: Vec<String>,
    cells: Vec<String>,
}

impl Visitor for ShapeCollector {
    fn start(&mut self, ns: Ns, local: &str, element: &BytesStart<'_>) {
        match (ns, local) {
            (Ns::Presentation, "sp") => {
                self.placeholder = None;
                self.shape_text = None;
            }
            (Ns::Presentation, "ph") => {
                self.placeholder = Some(attribute(element, "type").unwrap_or_default());
            }
            (Ns::Presentation, "txBody") | (Ns::Drawing, "txBody") => self.paragraphs.clear(),
            (Ns::Drawing, "tbl") => self.table = Some(TableText::default()),
            (Ns::Drawing, "tr") => {
                if let Some(table) = self.table.as_mut() {
                    table.cells.clear();
                }
            }
            (Ns::Drawing, "p") => self.paragraph = Some(String::new()),
            (Ns::Drawing, "t") => self.in_text = true,
            (Ns::Drawing, "br") => {
                if let Some(paragraph) = self.paragraph.as_mut() {
                    paragraph.push('\n');
                }
            }
            _ => {}
        }
    }

    fn end(&mut self, ns: Ns, local: &str) {
        match (ns, local) {
            (Ns::Drawing, "t") => self.in_text = false,
            (Ns::Drawing, "p") => {
                if let Some(paragraph) = self.paragraph.take() {
                    self.paragraphs.push(paragraph);
                }
            }
            (Ns::Presentation, "txBody") => {
                self.shape_text = Some(std::mem::take(&mut self.paragraphs).join("\n"));
            }
            (Ns::Drawing, "txBody") => {
                let text = std::mem::take(&mut self.paragraphs).join("\n");
                if let Some(table) = self.table.as_mut() {
                    table.cells.push(text);
                }
            }
            (Ns::Drawing, "tr") => {
                if let Some(table) = self.table.as_mut() {
                    let cells = std::mem::take(&mut table.cells);
                    table.rows.push(cells.join("\t").trim_end().to_string());
                }
            }
            (Ns::Drawing, "tbl") => {
                if let Some(table) = self.table.take() {
                    let text = table.rows.join("\n").trim_end().to_string();
                    if !text.trim().is_empty() {
                        self.body.push(text);
                    }
                }
            }
            (Ns::Presentation, "sp") => {
                let text = self.shape_text.take().unwrap_or_default();
                let placeholder = self.placeholder.take();
                if text.trim().is_empty() {
                    return;
                }
                match placeholder.as_deref() {
                    Some("title" | "ctrTitle") if self.title.is_none() => self.title = Some(text),
                    Some("body") if self.notes.is_none() => {
                        self.notes = Some(text.clone());
                        self.body.push(text);
                    }
                    _ => self.body.push(text),
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, text: &str) {
        if self.in_text
            && let Some(paragraph) = self.paragraph.as_mut()
        {
            paragraph.push_str(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ooxml::walk;

    #[test]
    fn titles_bodies_groups_and_tables() {
        let xml = r#"<p:sld xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"
            xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"><p:cSld><p:spTree>
            <p:sp><p:nvSpPr><p:nvPr><p:ph type="ctrTitle"/></p:nvPr></p:nvSpPr>
              <p:txBody><a:p><a:r><a:t>Hello</a:t></a:r><a:br/><a:r><a:t>World</a:t></a:r></a:p></p:txBody></p:sp>
            <p:grpSp><p:sp><p:txBody><a:p><a:r><a:t>in group</a:t></a:r></a:p><a:p/>
              <a:p><a:fld type="slidenum"><a:t>3</a:t></a:fld></a:p></p:txBody></p:sp></p:grpSp>
            <p:graphicFrame><a:graphic><a:graphicData><a:tbl>
              <a:tr><a:tc><a:txBody><a:p><a:r><a:t>a</a:t></a:r></a:p></a:txBody></a:tc>
                    <a:tc><a:txBody><a:p><a:r><a:t>b</a:t></a:r></a:p></a:txBody></a:tc></a:tr>
            </a:tbl></a:graphicData></a:graphic></p:graphicFrame>
            <p:sp><p:txBody><a:p><a:r><a:t> </a:t></a:r></a:p></p:txBody></p:sp>
            </p:spTree></p:cSld></p:sld>"#;
        let mut shapes = ShapeCollector::default();
        walk(xml.as_bytes(), "slide1.xml", &mut shapes).unwrap();
        assert_eq!(shapes.title.as_deref(), Some("Hello\nWorld"));
        assert_eq!(shapes.body, ["in group\n\n3", "a\tb"]);
    }
}
