//! Word documents: fragments follow the heading structure.
//!
//! A section is a heading and the blocks after it up to the next heading of the same or a
//! higher level (a smaller level number), so it contains its subsections. A section that
//! fits in `max_fragment_chars` is one fragment, subheadings included as lines. One that
//! does not is split at its subheadings: its introduction (the blocks before the first
//! subheading) is a fragment, and each subsection is handled the same way in turn. A
//! section without subheadings that is still too long is packed paragraph by paragraph,
//! and a paragraph too long on its own is split at sentences (see [`crate::text`]).
//!
//! Every fragment text starts with the heading path (`Report > Costs > Travel`) and a
//! blank line; its title is the innermost heading. Blocks before the first heading form a
//! fragment without title or path. Paragraphs are separated by a blank line; a table is
//! one line per row, cells joined by ` | `.

use switchyard_contracts::WordBlock;

use crate::text::{Packer, Unit, render_row};

/// The fragments of a Word document, as `(title, text)`, produced lazily.
pub(crate) struct WordChunks<'a> {
    blocks: &'a [WordBlock],
    max_chars: usize,
    /// The first block not planned yet.
    next_block: usize,
    /// Headings whose sections were split at their subheadings, outermost first, with
    /// the index where each section ends.
    path: Vec<(&'a str, usize)>,
    current: Option<(Option<String>, Packer<'a, WordUnits<'a>>)>,
}

impl<'a> WordChunks<'a> {
    pub fn new(blocks: &'a [WordBlock], max_chars: usize) -> Self {
        WordChunks {
            blocks,
            max_chars,
            next_block: 0,
            path: Vec::new(),
            current: None,
        }
    }

    /// The heading path down to `heading`, as the first line of a fragment.
    fn prefix(&self, heading: &str) -> String {
        let mut prefix = String::new();
        for (outer, _) in &self.path {
            prefix.push_str(outer);
            prefix.push_str(" > ");
        }
        prefix.push_str(heading);
        prefix.push_str("\n\n");
        prefix
    }

    /// Whether `prefix` and the blocks of `range` fit in one fragment; stops counting as
    /// soon as they do not.
    fn fits(&self, prefix: &str, range: std::ops::Range<usize>) -> bool {
        let mut chars = prefix.chars().count();
        let mut first = true;
        for unit in WordUnits::new(&self.blocks[range]) {
            if unit.text.trim().is_empty() {
                continue;
            }
            if !first {
                chars += unit.separator.len();
            }
            first = false;
            chars += unit.text.chars().count();
            if chars > self.max_chars {
                return false;
            }
        }
        true
    }

    /// Plans the next segment of blocks into `self.current`; false at the end.
    fn plan_next(&mut self) -> bool {
        while let Some((_, end)) = self.path.last()
            && *end <= self.next_block
        {
            self.path.pop();
        }
        let start = self.next_block;
        let Some(block) = self.blocks.get(start) else {
            return false;
        };
        let (title, prefix, range) = match block {
            WordBlock::Heading { level, text } => {
                let heading = text.trim();
                let end = self.section_end(start, *level);
                let first_subheading = (start + 1..end).find(|&index| self.is_heading(index));
                let prefix = self.prefix(heading);
                match first_subheading {
                    Some(sub) if !self.fits(&prefix, start + 1..end) => {
                        self.path.push((heading, end));
                        self.next_block = sub;
                        (Some(heading.to_string()), prefix, start + 1..sub)
                    }
                    _ => {
                        self.next_block = end;
                        (Some(heading.to_string()), prefix, start + 1..end)
                    }
                }
            }
            WordBlock::Paragraph { .. } | WordBlock::Table { .. } => {
                let end = (start..self.blocks.len())
                    .find(|&index| self.is_heading(index))
                    .unwrap_or(self.blocks.len());
                self.next_block = end;
                (None, String::new(), start..end)
            }
        };
        let units = WordUnits::new(&self.blocks[range]);
        self.current = Some((
            title,
            Packer::new(prefix, units, self.max_chars, usize::MAX),
        ));
        true
    }

    fn is_heading(&self, index: usize) -> bool {
        matches!(self.blocks.get(index), Some(WordBlock::Heading { .. }))
    }

    /// Where the section of the heading at `start` ends: at the next heading of the same
    /// or a higher level, else at the end of the document.
    fn section_end(&self, start: usize, level: u8) -> usize {
        (start + 1..self.blocks.len())
            .find(|&index| {
                matches!(&self.blocks[index], WordBlock::Heading { level: other, .. } if *other <= level)
            })
            .unwrap_or(self.blocks.len())
    }
}

impl Iterator for WordChunks<'_> {
    type Item = (Option<String>, String);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((title, packer)) = &mut self.current {
                if let Some(text) = packer.next() {
                    return Some((title.clone(), text));
                }
                self.current = None;
            }
            if !self.plan_next() {
                return None;
            }
        }
    }
}

/// The units of a run of blocks: headings and paragraphs whole, tables row by row.
pub(crate) struct WordUnits<'a> {
    blocks: &'a [WordBlock],
    index: usize,
    row: usize,
}

impl<'a> WordUnits<'a> {
    fn new(blocks: &'a [WordBlock]) -> Self {
        WordUnits {
            blocks,
            index: 0,
            row: 0,
        }
    }
}

impl<'a> Iterator for WordUnits<'a> {
    type Item = Unit<'a>;

    fn next(&mut self) -> Option<Unit<'a>> {
        loop {
            match self.blocks.get(self.index)? {
                WordBlock::Heading { text, .. } | WordBlock::Paragraph { text } => {
                    self.index += 1;
                    return Some(Unit::new(text.as_str(), "\n\n"));
                }
                WordBlock::Table { rows } => {
                    if let Some(row) = rows.get(self.row) {
                        let separator = if self.row == 0 { "\n\n" } else { "\n" };
                        self.row += 1;
                        return Some(Unit::new(render_row(row), separator));
                    }
                    self.index += 1;
                    self.row = 0;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heading(level: u8, text: &str) -> WordBlock {
        WordBlock::Heading {
            level,
            text: text.into(),
        }
    }

    fn paragraph(text: &str) -> WordBlock {
        WordBlock::Paragraph { text: text.into() }
    }

    /// Chunks `blocks` and compares `(title, text)` pairs.
    fn check(blocks: &[WordBlock], max_chars: usize, expected: &[(Option<&str>, &str)]) {
        let actual: Vec<(Option<String>, String)> = WordChunks::new(blocks, max_chars).collect();
        let actual: Vec<(Option<&str>, &str)> = actual
            .iter()
            .map(|(title, text)| (title.as_deref(), text.as_str()))
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn a_section_that_fits_keeps_its_subsections() {
        check(
            &[
                paragraph("Preamble."),
                heading(1, "Intro"),
                paragraph("Hello."),
                heading(2, "Detail"),
                paragraph("More."),
                heading(1, "Costs"),
                paragraph("Cheap."),
            ],
            1000,
            &[
                (None, "Preamble."),
                (Some("Intro"), "Intro\n\nHello.\n\nDetail\n\nMore."),
                (Some("Costs"), "Costs\n\nCheap."),
            ],
        );
    }

    #[test]
    fn a_section_too_long_splits_at_subheadings_with_the_heading_path() {
        let long = "x".repeat(60);
        check(
            &[
                heading(1, "Intro"),
                paragraph("Hello."),
                heading(2, "Detail"),
                paragraph(&long),
                heading(3, "Deeper"),
                paragraph("Deep."),
                heading(2, "Other"),
                paragraph("Other text."),
                heading(1, "Costs"),
                paragraph("Cheap."),
            ],
            90,
            &[
                (Some("Intro"), "Intro\n\nHello."),
                (Some("Detail"), &format!("Intro > Detail\n\n{long}")),
                (Some("Deeper"), "Intro > Detail > Deeper\n\nDeep."),
                (Some("Other"), "Intro > Other\n\nOther text."),
                (Some("Costs"), "Costs\n\nCheap."),
            ],
        );
    }

    #[test]
    fn a_section_ends_at_a_heading_of_the_same_or_higher_level() {
        // The level-2 heading after the level-3 one closes it; the title (level 0) holds all.
        let blocks = [
            heading(0, "Title"),
            heading(3, "Small"),
            paragraph(&"s".repeat(60)),
            heading(2, "Medium"),
            paragraph("m."),
        ];
        check(
            &blocks,
            80,
            &[
                (
                    Some("Small"),
                    &format!("Title > Small\n\n{}", "s".repeat(60)),
                ),
                (Some("Medium"), "Title > Medium\n\nm."),
            ],
        );
    }

    #[test]
    fn an_oversize_section_splits_at_paragraphs_then_sentences() {
        let blocks = [
            heading(1, "H"),
            paragraph("First paragraph."),
            paragraph("Second paragraph."),
            paragraph("Sentence one is here. Sentence two is here. Sentence three."),
        ];
        check(
            &blocks,
            40,
            &[
                (Some("H"), "H\n\nFirst paragraph.\n\nSecond paragraph."),
                (Some("H"), "H\n\nSentence one is here."),
                (Some("H"), "H\n\nSentence two is here. Sentence three."),
            ],
        );
    }

    #[test]
    fn tables_render_as_rows() {
        let table = WordBlock::Table {
            rows: vec![
                vec!["Item".into(), "Cost".into()],
                vec!["Train".into(), "40".into()],
            ],
        };
        check(
            &[heading(1, "Costs"), paragraph("See below."), table],
            1000,
            &[(
                Some("Costs"),
                "Costs\n\nSee below.\n\nItem | Cost\nTrain | 40",
            )],
        );
    }

    #[test]
    fn empty_sections_give_no_fragment() {
        check(
            &[heading(1, "Empty"), heading(1, "Full"), paragraph("Text.")],
            1000,
            &[(Some("Full"), "Full\n\nText.")],
        );
        check(&[], 1000, &[]);
    }
}
