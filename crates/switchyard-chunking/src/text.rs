//! Packing text units (paragraphs, table rows, sheet rows) into fragment texts of bounded
//! size, each starting with a context prefix (heading path, sheet header) so it reads on
//! its own.
//!
//! A unit that alone exceeds the room left after the prefix is cut by `text-splitter`
//! (character sizing), which splits at the highest semantic level that fits: line breaks,
//! then sentences, then words. `text-splitter` scans its whole input up front, so an
//! over-long unit is fed to it one window of bounded size at a time ([`WindowedSplit`]);
//! memory stays proportional to the fragment size, never to the document.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;

use text_splitter::{ChunkConfig, TextSplitter};

/// One piece of text that is kept whole when it fits: a paragraph, a table row, a sheet
/// row.
#[derive(Debug)]
pub(crate) struct Unit<'a> {
    /// The text; borrowed from the document where it can be.
    pub text: Cow<'a, str>,
    /// What goes between it and the unit before it in one fragment.
    pub separator: &'static str,
}

impl<'a> Unit<'a> {
    pub fn new(text: impl Into<Cow<'a, str>>, separator: &'static str) -> Self {
        Unit {
            text: text.into(),
            separator,
        }
    }
}

/// How many windows' worth of fragments one `text-splitter` call sees: the window holds
/// at least this many fragments of 4-byte characters.
const WINDOW_FRAGMENTS: usize = 16;
/// The smallest window, in bytes.
const MIN_WINDOW_BYTES: usize = 64 * 1024;

/// Cuts one over-long text into pieces of at most `capacity` characters, a bounded window
/// at a time. The last piece of a window may end where the window was cut rather than at
/// a boundary, so it is not emitted: the next window starts where it started.
pub(crate) struct WindowedSplit<'a> {
    text: Cow<'a, str>,
    splitter: TextSplitter<text_splitter::Characters>,
    window_bytes: usize,
    /// Byte offset where the next window starts.
    offset: usize,
    /// Byte ranges of pieces found and not yet emitted.
    ready: VecDeque<Range<usize>>,
}

impl<'a> WindowedSplit<'a> {
    pub fn new(text: Cow<'a, str>, capacity: usize) -> Self {
        WindowedSplit {
            text,
            splitter: TextSplitter::new(ChunkConfig::new(capacity.max(1))),
            window_bytes: (capacity * 4 * WINDOW_FRAGMENTS).max(MIN_WINDOW_BYTES),
            offset: 0,
            ready: VecDeque::new(),
        }
    }

    /// The next piece, or `None` when the text is used up.
    pub fn next_piece(&mut self) -> Option<&str> {
        while self.ready.is_empty() {
            if !self.refill() {
                return None;
            }
        }
        let range = self.ready.pop_front()?;
        self.text.get(range)
    }

    /// Splits the next window; false when nothing is left.
    fn refill(&mut self) -> bool {
        let text: &str = &self.text;
        if self.offset >= text.len() {
            return false;
        }
        let remaining = text.len() - self.offset;
        let end = if remaining <= self.window_bytes {
            text.len()
        } else {
            text.floor_char_boundary(self.offset + self.window_bytes)
        };
        let last_window = end == text.len();
        let window = &text[self.offset..end];
        let base = self.offset;
        self.ready.extend(
            self.splitter
                .chunk_indices(window)
                .map(|(start, piece)| base + start..base + start + piece.len()),
        );
        // Text-splitter covers every non-blank character, so when a window gives one piece
        // or none, what follows it in the window is blank.
        if !last_window
            && self.ready.len() > 1
            && let Some(cut) = self.ready.pop_back()
        {
            self.offset = cut.start;
        } else {
            self.offset = end;
        }
        true
    }
}

/// Packs units into fragment texts: `prefix` then as many whole units as fit in
/// `max_chars` characters (and at most `max_units` of them); an over-long unit is split
/// on its own by [`WindowedSplit`].
pub(crate) struct Packer<'a, I> {
    units: I,
    prefix: String,
    /// Room for units after the prefix, in characters.
    capacity: usize,
    max_units: usize,
    /// Whether a prefix alone still makes a fragment when there are no units.
    emit_prefix_alone: bool,
    buffer: String,
    buffer_chars: usize,
    buffer_units: usize,
    /// A unit read but left for the next fragment.
    pending: Option<Unit<'a>>,
    split: Option<WindowedSplit<'a>>,
    emitted: bool,
}

impl<'a, I: Iterator<Item = Unit<'a>>> Packer<'a, I> {
    /// A packer of `units` below `prefix`. A prefix longer than half of `max_chars` is
    /// cut, so that every fragment keeps room for its own text.
    pub fn new(prefix: String, units: I, max_chars: usize, max_units: usize) -> Self {
        let prefix = truncate_chars(prefix, max_chars / 2);
        let prefix_chars = prefix.chars().count();
        Packer {
            units,
            capacity: max_chars - prefix_chars,
            max_units: max_units.max(1),
            emit_prefix_alone: false,
            buffer: String::new(),
            buffer_chars: 0,
            buffer_units: 0,
            pending: None,
            split: None,
            emitted: false,
            prefix,
        }
    }

    /// The same packer, yielding the prefix alone (trimmed) when there are no units, e.g.
    /// a sheet with a header and no rows, or a slide with only a title.
    pub fn emit_prefix_alone(mut self) -> Self {
        self.emit_prefix_alone = true;
        self
    }

    fn take_buffer(&mut self) -> String {
        let mut text = String::with_capacity(self.prefix.len() + self.buffer.len());
        text.push_str(&self.prefix);
        text.push_str(&self.buffer);
        self.buffer.clear();
        self.buffer_chars = 0;
        self.buffer_units = 0;
        self.emitted = true;
        text
    }
}

impl<'a, I: Iterator<Item = Unit<'a>>> Iterator for Packer<'a, I> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            if let Some(split) = &mut self.split {
                if let Some(piece) = split.next_piece() {
                    let mut text = String::with_capacity(self.prefix.len() + piece.len());
                    text.push_str(&self.prefix);
                    text.push_str(piece);
                    self.emitted = true;
                    return Some(text);
                }
                self.split = None;
            }
            let Some(unit) = self.pending.take().or_else(|| self.units.next()) else {
                if self.buffer_units > 0 {
                    return Some(self.take_buffer());
                }
                if self.emit_prefix_alone && !self.emitted && !self.prefix.trim().is_empty() {
                    self.emitted = true;
                    return Some(self.prefix.trim_end().to_string());
                }
                return None;
            };
            if unit.text.trim().is_empty() {
                continue;
            }
            let chars = unit.text.chars().count();
            if chars > self.capacity {
                self.split = Some(WindowedSplit::new(unit.text, self.capacity));
                if self.buffer_units > 0 {
                    return Some(self.take_buffer());
                }
                continue;
            }
            if self.buffer_units > 0 {
                let separator_chars = unit.separator.chars().count();
                if self.buffer_chars + separator_chars + chars > self.capacity
                    || self.buffer_units >= self.max_units
                {
                    self.pending = Some(unit);
                    return Some(self.take_buffer());
                }
                self.buffer.push_str(unit.separator);
                self.buffer_chars += separator_chars;
            }
            self.buffer.push_str(&unit.text);
            self.buffer_chars += chars;
            self.buffer_units += 1;
        }
    }
}

/// `text` cut to at most `max_chars` characters.
fn truncate_chars(mut text: String, max_chars: usize) -> String {
    if let Some((index, _)) = text.char_indices().nth(max_chars) {
        text.truncate(index);
    }
    text
}

/// A table or sheet row as one line: cells trimmed, line breaks inside cells turned into
/// spaces, trailing empty cells dropped, cells joined by ` | `.
pub(crate) fn render_row(cells: &[String]) -> String {
    let used = cells
        .iter()
        .rposition(|cell| !cell.trim().is_empty())
        .map_or(0, |last| last + 1);
    let mut line = String::new();
    for (index, cell) in cells[..used].iter().enumerate() {
        if index > 0 {
            line.push_str(" | ");
        }
        for ch in cell.trim().chars() {
            line.push(if matches!(ch, '\n' | '\r') { ' ' } else { ch });
        }
    }
    line
}

/// Packs `text`, split into paragraphs at blank lines, into pieces of at most `max_chars`
/// characters, as a Word section without heading is packed.
pub(crate) fn pack_plain_text(text: &str, max_chars: usize) -> impl Iterator<Item = String> + '_ {
    let paragraphs = text
        .split("\n\n")
        .map(|paragraph| Unit::new(paragraph, "\n\n"));
    Packer::new(String::new(), paragraphs, max_chars, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pack(prefix: &str, units: &[&str], max_chars: usize, max_units: usize) -> Vec<String> {
        let units = units.iter().map(|text| Unit::new(*text, "\n\n"));
        Packer::new(prefix.to_string(), units, max_chars, max_units).collect()
    }

    #[test]
    fn whole_units_are_packed_up_to_the_limit() {
        assert_eq!(
            pack("H\n\n", &["aaaa", "bbbb", "cccc"], 13, usize::MAX),
            ["H\n\naaaa\n\nbbbb", "H\n\ncccc"]
        );
        assert_eq!(pack("", &["a", "b", "c"], 100, 2), ["a\n\nb", "c"]);
        assert_eq!(pack("", &["", "  ", "x"], 100, 1), ["x"]);
        assert!(pack("", &[], 100, 1).is_empty());
    }

    #[test]
    fn an_over_long_unit_splits_at_sentences_and_keeps_the_prefix() {
        let paragraph = "One short sentence. Another short one. A third sentence here.";
        let pieces = pack("P\n", &["before", paragraph, "after"], 26, usize::MAX);
        assert_eq!(
            pieces,
            [
                "P\nbefore",
                "P\nOne short sentence.",
                "P\nAnother short one.",
                "P\nA third sentence here.",
                "P\nafter",
            ]
        );
        assert!(pieces.iter().all(|piece| piece.chars().count() <= 26));
    }

    #[test]
    fn windows_lose_no_text_and_respect_the_limit() {
        let sentence = "Sentence number one goes here and ends. ";
        let text = sentence.repeat(10_000);
        let mut split = WindowedSplit::new(Cow::Borrowed(&text), 100);
        let mut joined = String::new();
        let mut count = 0;
        while let Some(piece) = split.next_piece() {
            assert!(piece.chars().count() <= 100, "{piece}");
            joined.push_str(piece);
            count += 1;
        }
        assert!(count >= text.len() / 100, "{count}");
        let squash = |text: &str| text.split_whitespace().collect::<String>();
        assert_eq!(squash(&joined), squash(&text));
    }

    #[test]
    fn rows_render_as_one_line() {
        let row = |cells: &[&str]| cells.iter().map(|c| c.to_string()).collect::<Vec<_>>();
        assert_eq!(render_row(&row(&[" a ", "b\nc", "", ""])), "a | b c");
        assert_eq!(render_row(&row(&["", "x"])), " | x");
        assert_eq!(render_row(&row(&["", " "])), "");
    }

    #[test]
    fn long_prefixes_are_cut_to_half_the_limit() {
        let prefix = "p".repeat(500);
        let pieces = pack(&prefix, &["body"], 100, usize::MAX);
        assert_eq!(pieces, [format!("{}body", "p".repeat(50))]);
    }

    #[test]
    fn a_prefix_alone_is_emitted_only_when_asked() {
        let units = std::iter::empty::<Unit<'_>>();
        let packer = Packer::new("Header: a | b\n".to_string(), units, 100, 1);
        assert_eq!(
            packer.emit_prefix_alone().collect::<Vec<_>>(),
            ["Header: a | b"]
        );
    }
}
