//! [`chunk`]: a document to its fragments, lazily, with deterministic ids and positions.
//! Pure: no I/O, no async; the kind-specific rules live in `word`, `sheet` and
//! `presentation`.

use switchyard_contracts::{Document, DocumentBody, DocumentKind, Fragment};

use crate::presentation::SlideChunks;
use crate::sheet::SheetChunks;
use crate::word::WordChunks;
use crate::{ChunkingConfig, ChunkingError};

/// The id of the fragment at `position` of document `document_id`:
/// `{document_id}#{position}`. The same document always gives the same ids.
pub fn fragment_id(document_id: &str, position: u32) -> String {
    format!("{document_id}#{position}")
}

/// The fragments of a document, in document order, built one at a time as the iterator
/// is advanced: holding the iterator costs memory in proportion to one fragment, not to
/// the document.
pub struct Fragments<'a> {
    document: &'a Document,
    next_position: Option<u32>,
    inner: Inner<'a>,
}

enum Inner<'a> {
    Empty,
    Word(WordChunks<'a>),
    Sheet(SheetChunks<'a>),
    Presentation(SlideChunks<'a>),
}

impl std::fmt::Debug for Fragments<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fragments")
            .field("document", &self.document.id)
            .field("next_position", &self.next_position)
            .finish_non_exhaustive()
    }
}

/// Checks that the body of `document` has the shape its kind calls for.
pub fn check_body(document: &Document) -> Result<(), ChunkingError> {
    let body_kind = match &document.body {
        None => return Ok(()),
        Some(DocumentBody::Word { .. }) => DocumentKind::Word,
        Some(DocumentBody::Sheet { .. }) => DocumentKind::Sheet,
        Some(DocumentBody::Presentation { .. }) => DocumentKind::Presentation,
    };
    if body_kind != document.kind {
        return Err(ChunkingError::invalid_document(format!(
            "invalid document `{}`: a {} document cannot have a {} body",
            document.id,
            kind_name(document.kind),
            kind_name(body_kind)
        )));
    }
    Ok(())
}

fn kind_name(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Word => "word",
        DocumentKind::Sheet => "sheet",
        DocumentKind::Presentation => "presentation",
    }
}

/// Cuts `document` into fragments (see the crate docs for the rules per kind). A document
/// without body (only its metadata changed) has no fragments. Fails when the body does
/// not match the document's kind or the config is invalid.
pub fn chunk<'a>(
    document: &'a Document,
    config: &ChunkingConfig,
) -> Result<Fragments<'a>, ChunkingError> {
    config.validate()?;
    check_body(document)?;
    let max_chars = config.max_fragment_chars;
    let inner = match &document.body {
        None => Inner::Empty,
        Some(DocumentBody::Word { blocks }) => Inner::Word(WordChunks::new(blocks, max_chars)),
        Some(DocumentBody::Sheet { sheets }) => Inner::Sheet(SheetChunks::new(
            sheets,
            max_chars,
            config.rows_per_fragment,
        )),
        Some(DocumentBody::Presentation { slides }) => {
            Inner::Presentation(SlideChunks::new(slides, max_chars))
        }
    };
    Ok(Fragments {
        document,
        next_position: Some(0),
        inner,
    })
}

impl Iterator for Fragments<'_> {
    type Item = Fragment;

    fn next(&mut self) -> Option<Fragment> {
        let position = self.next_position?;
        let (title, text) = match &mut self.inner {
            Inner::Empty => None,
            Inner::Word(chunks) => chunks.next(),
            Inner::Sheet(chunks) => chunks.next(),
            Inner::Presentation(chunks) => chunks.next(),
        }?;
        self.next_position = position.checked_add(1);
        Some(Fragment {
            id: fragment_id(&self.document.id, position),
            kind: self.document.kind,
            parent_id: self.document.id.clone(),
            parent_title: self.document.title.clone(),
            position,
            title,
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use switchyard_contracts::{Sheet, Slide, WordBlock};

    use super::*;

    fn word(id: &str, sections: usize) -> Document {
        let mut blocks = Vec::new();
        for section in 0..sections {
            blocks.push(WordBlock::Heading {
                level: 1,
                text: format!("Section {section}"),
            });
            blocks.push(WordBlock::Paragraph {
                text: format!("Text of section {section}."),
            });
        }
        Document {
            id: id.into(),
            kind: DocumentKind::Word,
            title: "Report".into(),
            body: Some(DocumentBody::Word { blocks }),
            ..Document::default()
        }
    }

    #[test]
    fn ids_are_deterministic_and_positions_count_from_zero() {
        let document = word("doc-1", 3);
        let config = ChunkingConfig::default();
        let first: Vec<Fragment> = chunk(&document, &config).unwrap().collect();
        let again: Vec<Fragment> = chunk(&document, &config).unwrap().collect();
        assert_eq!(first, again);
        let ids: Vec<&str> = first.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["doc-1#0", "doc-1#1", "doc-1#2"]);
        for (index, fragment) in first.iter().enumerate() {
            assert_eq!(fragment.position as usize, index);
            assert_eq!(fragment.parent_id, "doc-1");
            assert_eq!(fragment.parent_title, "Report");
            assert_eq!(fragment.kind, DocumentKind::Word);
            assert_eq!(fragment.title, Some(format!("Section {index}")));
            assert_eq!(
                fragment.text,
                format!("Section {index}\n\nText of section {index}.")
            );
        }
    }

    #[test]
    fn every_kind_gets_its_fragments() {
        let sheet = Document {
            id: "book".into(),
            kind: DocumentKind::Sheet,
            body: Some(DocumentBody::Sheet {
                sheets: vec![Sheet {
                    name: "S".into(),
                    header: vec!["a".into()],
                    rows: vec![vec!["1".into()]],
                }],
            }),
            ..Document::default()
        };
        let deck = Document {
            id: "deck".into(),
            kind: DocumentKind::Presentation,
            body: Some(DocumentBody::Presentation {
                slides: vec![Slide::default(), Slide::default()],
            }),
            ..Document::default()
        };
        let config = ChunkingConfig::default();
        let sheet_fragments: Vec<Fragment> = chunk(&sheet, &config).unwrap().collect();
        assert_eq!(sheet_fragments.len(), 1);
        assert_eq!(sheet_fragments[0].kind, DocumentKind::Sheet);
        let deck_fragments: Vec<Fragment> = chunk(&deck, &config).unwrap().collect();
        let ids: Vec<&str> = deck_fragments.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["deck#0", "deck#1"]);
    }

    #[test]
    fn a_body_of_another_kind_is_refused() {
        let mut document = word("doc-2", 1);
        document.kind = DocumentKind::Sheet;
        let err = chunk(&document, &ChunkingConfig::default()).unwrap_err();
        assert_eq!(err.kind(), crate::ChunkingErrorKind::InvalidDocument);
        assert_eq!(
            err.to_string(),
            "invalid document `doc-2`: a sheet document cannot have a word body"
        );
    }

    #[test]
    fn a_document_without_body_has_no_fragments() {
        let mut document = word("doc-3", 2);
        document.body = None;
        assert_eq!(
            chunk(&document, &ChunkingConfig::default())
                .unwrap()
                .count(),
            0
        );
    }
}
