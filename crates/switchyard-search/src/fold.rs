//! Folding ranked matches into search results, the same for every engine: a document and
//! its matching fragments become one [`SearchHit`], ranked where its best member ranks,
//! with the first [`MAX_FRAGMENTS_PER_HIT`] fragments in rank order, shown best first; a
//! result found through fragments only shows the document they link to, or, when that
//! document is not indexed, the link itself with its best fragment's snippet.
//!
//! Knows nothing of any engine: a backend reads its matches into [`MatchedHit`]s and
//! supplies snippets and the lookup of documents that did not match themselves.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::{FragmentHit, MAX_FRAGMENTS_PER_HIT, ParentLink, SearchHit};

/// A stored document or fragment as an engine returns it: what its hit shows, and how
/// well it matched.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchedHit {
    /// The provider's item id.
    pub id: String,
    /// The document or fragment type.
    pub doc_type: String,
    /// Subject, title, contact name or fragment heading.
    pub title: String,
    /// The stored text that snippets are made from.
    pub content: String,
    /// People involved.
    pub participants: Vec<String>,
    /// When the item came into being.
    pub created_at: DateTime<Utc>,
    /// When the item last changed at the provider.
    pub last_updated: DateTime<Utc>,
    /// When Switchyard read it.
    pub sync_timestamp: DateTime<Utc>,
    /// Fragments only: the document they belong to and where in it.
    pub parent: Option<ParentLink>,
    /// Relevance, as [`SearchHit::score`]; 0 outside of searches.
    pub score: f32,
}

impl MatchedHit {
    /// The hit of this fragment, its snippet made by `snippet` from its content.
    pub fn into_fragment_hit(self, snippet: impl Fn(&str) -> String) -> FragmentHit {
        FragmentHit {
            snippet: snippet(&self.content),
            position: self.parent.as_ref().map_or(0, |parent| parent.position),
            id: self.id,
            doc_type: self.doc_type,
            title: self.title,
            score: self.score,
        }
    }

    /// The hit of the document this fragment belongs to, outside of a search (score 0, no
    /// fragments): `document` when it is indexed, else the fragment's link.
    pub fn into_parent_hit(
        self,
        document: Option<MatchedHit>,
        snippet: impl Fn(&str) -> String,
    ) -> SearchHit {
        document_hit(self, document, 0.0, &snippet, Vec::new())
    }

    /// The `(doc_type, id)` of the document this match shows: its own, or its parent's.
    fn document_key(&self) -> (String, String) {
        match &self.parent {
            Some(parent) => (parent.doc_type.clone(), parent.id.clone()),
            None => (self.doc_type.clone(), self.id.clone()),
        }
    }
}

/// Ranked matches folded into at most a limit of results, in rank order. Matches are
/// added best-ranked first ([`FoldedResults::push`] or [`Extend`]);
/// [`FoldedResults::into_hits`] makes the hits.
#[derive(Debug, Clone)]
pub struct FoldedResults {
    limit: usize,
    groups: Vec<Group>,
    by_document: HashMap<(String, String), usize>,
}

/// A result being assembled: a document and its matching fragments.
#[derive(Debug, Clone)]
struct Group {
    /// The `(doc_type, id)` of the document shown.
    document_key: (String, String),
    /// The best score of its members.
    score: f32,
    /// The document itself, when it matched.
    document: Option<MatchedHit>,
    /// The matching fragments, in rank order until [`FoldedResults::into_hits`].
    fragments: Vec<MatchedHit>,
}

impl FoldedResults {
    /// No results yet, to hold at most `limit`.
    pub fn new(limit: usize) -> FoldedResults {
        FoldedResults {
            limit,
            groups: Vec::new(),
            by_document: HashMap::new(),
        }
    }

    /// How many results are folded so far, at most the limit.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True before any match is folded.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Adds the next match in rank order; past the limit, only members of results
    /// already taken are kept.
    pub fn push(&mut self, hit: MatchedHit) {
        let key = hit.document_key();
        let position = match self.by_document.get(&key) {
            Some(&position) => position,
            // Only the members of results already taken matter once the list is full.
            None if self.groups.len() >= self.limit => return,
            None => {
                self.groups.push(Group {
                    document_key: key.clone(),
                    score: hit.score,
                    document: None,
                    fragments: Vec::new(),
                });
                self.by_document.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[position];
        group.score = group.score.max(hit.score);
        if hit.parent.is_some() {
            if group.fragments.len() < MAX_FRAGMENTS_PER_HIT {
                group.fragments.push(hit);
            }
        } else {
            group.document = Some(hit);
        }
    }

    /// The hits of the results, snippets made by `snippet` from stored text.
    ///
    /// `find_documents` is called once, when some results were found through fragments
    /// only, with the `(doc_type, id)` of their documents, and returns those of them that
    /// are indexed (in any order).
    pub fn into_hits<E>(
        self,
        snippet: impl Fn(&str) -> String,
        find_documents: impl FnOnce(&[(String, String)]) -> Result<Vec<MatchedHit>, E>,
    ) -> Result<Vec<SearchHit>, E> {
        let missing: Vec<(String, String)> = self
            .groups
            .iter()
            .filter(|group| group.document.is_none())
            .map(|group| group.document_key.clone())
            .collect();
        let mut found: HashMap<(String, String), MatchedHit> = if missing.is_empty() {
            HashMap::new()
        } else {
            find_documents(&missing)?
                .into_iter()
                .map(|document| ((document.doc_type.clone(), document.id.clone()), document))
                .collect()
        };
        let hits = self
            .groups
            .into_iter()
            .map(|group| {
                let indexed = match group.document {
                    Some(_) => None,
                    None => found.remove(&group.document_key),
                };
                group.into_hit(indexed, &snippet)
            })
            .collect();
        Ok(hits)
    }
}

impl Group {
    /// The hit of this result; `indexed` is its document when the result was found through
    /// fragments only and the document is indexed.
    fn into_hit(
        mut self,
        indexed: Option<MatchedHit>,
        snippet: &impl Fn(&str) -> String,
    ) -> SearchHit {
        // Best first; the rank order may differ from relevance when sorting by date.
        self.fragments.sort_by(|a, b| {
            b.score
                .partial_cmp(&a.score)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let (source, document) = match self.document {
            Some(document) => (document, None),
            None => {
                let best = self
                    .fragments
                    .first()
                    .cloned()
                    .expect("a result without its document was found through fragments");
                (best, indexed)
            }
        };
        let fragments: Vec<FragmentHit> = self
            .fragments
            .into_iter()
            .map(|fragment| fragment.into_fragment_hit(snippet))
            .collect();
        document_hit(source, document, self.score, snippet, fragments)
    }
}

impl Extend<MatchedHit> for FoldedResults {
    fn extend<I: IntoIterator<Item = MatchedHit>>(&mut self, ranked: I) {
        for hit in ranked {
            self.push(hit);
        }
    }
}

/// The hit of a document: `document` when given, else `source`, which is either the
/// document itself or one of its fragments; a fragment's link describes a document that
/// is not indexed (its fragments came first, or it was deleted while they linger).
fn document_hit(
    source: MatchedHit,
    document: Option<MatchedHit>,
    score: f32,
    snippet: &impl Fn(&str) -> String,
    fragments: Vec<FragmentHit>,
) -> SearchHit {
    let (shown, snippet) = match (document, source.parent.clone()) {
        (Some(document), _) => {
            let snippet = snippet(&document.content);
            (document, snippet)
        }
        (None, None) => {
            let snippet = snippet(&source.content);
            (source, snippet)
        }
        // Not indexed: the fragment's link names it, its best fragment stands in.
        (None, Some(parent)) => {
            let snippet = fragments
                .first()
                .map(|best| best.snippet.clone())
                .unwrap_or_default();
            let described = MatchedHit {
                id: parent.id,
                doc_type: parent.doc_type,
                title: parent.title,
                content: String::new(),
                participants: Vec::new(),
                parent: None,
                ..source
            };
            (described, snippet)
        }
    };
    SearchHit {
        id: shown.id,
        doc_type: shown.doc_type,
        title: shown.title,
        score,
        created_at: shown.created_at,
        updated_at: shown.last_updated,
        sync_timestamp: shown.sync_timestamp,
        snippet,
        participants: shown.participants,
        fragments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(doc_type: &str, id: &str, parent: Option<&str>, score: f32) -> MatchedHit {
        MatchedHit {
            id: id.into(),
            doc_type: doc_type.into(),
            title: format!("{id} title"),
            content: format!("{id} text"),
            participants: Vec::new(),
            created_at: DateTime::default(),
            last_updated: DateTime::default(),
            sync_timestamp: DateTime::default(),
            parent: parent.map(|parent| ParentLink {
                id: parent.into(),
                doc_type: "word".into(),
                title: format!("{parent} linked title"),
                position: 0,
            }),
            score,
        }
    }

    fn fold(ranked: Vec<MatchedHit>, limit: usize) -> FoldedResults {
        let mut folded = FoldedResults::new(limit);
        folded.extend(ranked);
        folded
    }

    fn hits(folded: FoldedResults, indexed: &[MatchedHit]) -> Vec<SearchHit> {
        let result: Result<_, ()> = folded.into_hits(str::to_uppercase, |keys| {
            Ok(indexed
                .iter()
                .filter(|document| keys.contains(&(document.doc_type.clone(), document.id.clone())))
                .cloned()
                .collect())
        });
        result.expect("the lookup does not fail")
    }

    #[test]
    fn fragments_fold_into_their_document_ranked_by_the_best_member() {
        let ranked = vec![
            hit("word_fragment", "d#2", Some("d"), 3.0),
            hit("email", "e", None, 2.0),
            hit("word", "d", None, 1.0),
            hit("word_fragment", "d#1", Some("d"), 4.0),
            hit("word_fragment", "d#3", Some("d"), 0.5),
            hit("word_fragment", "d#4", Some("d"), 0.4),
            hit("todo", "t", None, 0.1),
        ];
        let folded = fold(ranked, 2);
        assert_eq!(folded.len(), 2, "the todo is past the limit");
        let hits = hits(folded, &[]);
        assert_eq!(
            (hits[0].doc_type.as_str(), hits[0].id.as_str()),
            ("word", "d")
        );
        assert_eq!(hits[0].score, 4.0);
        assert_eq!(hits[0].snippet, "D TEXT");
        let fragments: Vec<&str> = hits[0].fragments.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(fragments, ["d#1", "d#2", "d#3"]);
        assert_eq!(
            (hits[1].doc_type.as_str(), hits[1].id.as_str()),
            ("email", "e")
        );
    }

    #[test]
    fn a_result_found_through_fragments_only_shows_their_document() {
        let folded = fold(vec![hit("word_fragment", "d#1", Some("d"), 1.0)], 10);
        let hits = hits(folded, &[hit("word", "d", None, 0.0)]);
        assert_eq!(
            (hits[0].id.as_str(), hits[0].title.as_str()),
            ("d", "d title")
        );
        assert_eq!(hits[0].snippet, "D TEXT");
        assert_eq!(hits[0].score, 1.0);
    }

    #[test]
    fn a_missing_document_is_shown_from_the_link_with_its_best_fragments_snippet() {
        let ranked = vec![
            hit("word_fragment", "d#1", Some("d"), 1.0),
            hit("word_fragment", "d#2", Some("d"), 2.0),
        ];
        let hits = hits(fold(ranked, 10), &[]);
        assert_eq!(
            (
                hits[0].id.as_str(),
                hits[0].doc_type.as_str(),
                hits[0].title.as_str()
            ),
            ("d", "word", "d linked title")
        );
        assert_eq!(hits[0].snippet, "D#2 TEXT");
        assert!(hits[0].participants.is_empty());
    }

    #[test]
    fn documents_are_looked_up_only_when_missing() {
        let folded = fold(vec![hit("email", "e", None, 1.0)], 10);
        let result: Result<Vec<SearchHit>, &str> =
            folded.into_hits(str::to_string, |_| Err("not called"));
        assert_eq!(result.map(|hits| hits.len()), Ok(1));
    }

    #[test]
    fn a_parent_hit_outside_of_a_search_has_no_fragments() {
        let fragment = hit("word_fragment", "d#1", Some("d"), 0.0);
        let parent = fragment
            .clone()
            .into_parent_hit(Some(hit("word", "d", None, 0.0)), str::to_string);
        assert_eq!(
            (parent.id.as_str(), parent.snippet.as_str()),
            ("d", "d text")
        );
        assert!(parent.fragments.is_empty());
        let linked = fragment.into_parent_hit(None, str::to_string);
        assert_eq!(
            (linked.title.as_str(), linked.snippet.as_str()),
            ("d linked title", "")
        );
    }
}
