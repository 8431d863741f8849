//! Slide decks: one fragment per slide, `Slide {n}: {title}`, then the slide's body, then
//! its speaker notes under `Notes:`. A slide longer than `max_fragment_chars` is split
//! like a Word section, each piece keeping the slide line on top. The title is the
//! slide's title, else `Slide {n}`.

use switchyard_contracts::Slide;

use crate::text::{Packer, Unit};

type SlideUnits<'a> = std::iter::Flatten<std::array::IntoIter<Option<Unit<'a>>, 3>>;

/// The fragments of a deck, as `(title, text)`, produced lazily.
pub(crate) struct SlideChunks<'a> {
    slides: std::iter::Enumerate<std::slice::Iter<'a, Slide>>,
    max_chars: usize,
    current: Option<(Option<String>, Packer<'a, SlideUnits<'a>>)>,
}

impl<'a> SlideChunks<'a> {
    pub fn new(slides: &'a [Slide], max_chars: usize) -> Self {
        SlideChunks {
            slides: slides.iter().enumerate(),
            max_chars,
            current: None,
        }
    }
}

impl Iterator for SlideChunks<'_> {
    type Item = (Option<String>, String);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some((title, packer)) = &mut self.current {
                if let Some(text) = packer.next() {
                    return Some((title.clone(), text));
                }
                self.current = None;
            }
            let (index, slide) = self.slides.next()?;
            let number = if slide.number == 0 {
                index as u64 + 1
            } else {
                u64::from(slide.number)
            };
            let title = slide
                .title
                .as_deref()
                .map(str::trim)
                .filter(|title| !title.is_empty());
            let prefix = match title {
                Some(title) => format!("Slide {number}: {title}\n\n"),
                None => format!("Slide {number}\n\n"),
            };
            let has_notes = !slide.notes.trim().is_empty();
            let units: SlideUnits<'_> = [
                Some(Unit::new(slide.body.as_str(), "\n\n")),
                has_notes.then(|| Unit::new("Notes:", "\n\n")),
                has_notes.then(|| Unit::new(slide.notes.as_str(), "\n")),
            ]
            .into_iter()
            .flatten();
            let title = title.map_or_else(|| format!("Slide {number}"), str::to_string);
            let packer = Packer::new(prefix, units, self.max_chars, usize::MAX).emit_prefix_alone();
            self.current = Some((Some(title), packer));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slide(number: u32, title: Option<&str>, body: &str, notes: &str) -> Slide {
        Slide {
            number,
            title: title.map(str::to_string),
            body: body.into(),
            notes: notes.into(),
        }
    }

    fn check(slides: &[Slide], max_chars: usize, expected: &[(&str, &str)]) {
        let actual: Vec<(Option<String>, String)> = SlideChunks::new(slides, max_chars).collect();
        let actual: Vec<(&str, &str)> = actual
            .iter()
            .map(|(title, text)| (title.as_deref().unwrap_or(""), text.as_str()))
            .collect();
        assert_eq!(actual, expected);
    }

    #[test]
    fn one_fragment_per_slide_with_body_and_notes() {
        check(
            &[
                slide(1, Some("Results"), "Revenue grew.", "Mention churn."),
                slide(2, None, "Questions?", ""),
                slide(3, Some("The end"), "", ""),
            ],
            1000,
            &[
                (
                    "Results",
                    "Slide 1: Results\n\nRevenue grew.\n\nNotes:\nMention churn.",
                ),
                ("Slide 2", "Slide 2\n\nQuestions?"),
                ("The end", "Slide 3: The end"),
            ],
        );
    }

    #[test]
    fn a_slide_over_the_limit_is_split_and_keeps_its_slide_line() {
        let body = "A sentence of the body. ".repeat(10);
        let actual: Vec<(Option<String>, String)> =
            SlideChunks::new(&[slide(4, Some("Long"), &body, "")], 100).collect();
        assert!(actual.len() > 1);
        for (title, text) in &actual {
            assert_eq!(title.as_deref(), Some("Long"));
            assert!(text.starts_with("Slide 4: Long\n\n"), "{text}");
            assert!(text.chars().count() <= 100);
        }
    }
}
