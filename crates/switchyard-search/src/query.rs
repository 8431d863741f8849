//! The engine-neutral shapes of a search: the [`SearchQuery`] (text, user, filters, sort),
//! and what comes back: [`SearchResults`] of [`SearchHit`]s, where a document's matching
//! fragments are folded into its hit as [`FragmentHit`]s. No engine code lives here.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Upper bound on [`SearchQuery::limit`], so that user input cannot size huge buffers.
pub const MAX_SEARCH_HITS: usize = 100_000;

/// How many of a document's matching fragments its hit shows, best first.
pub const MAX_FRAGMENTS_PER_HIT: usize = 3;

/// A query over one user's documents.
///
/// Build it with struct update syntax so that new filters stay non-breaking:
/// `SearchQuery { text: "budget".into(), user_id: "alice".into(), limit: 10, ..SearchQuery::default() }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// Free text in tantivy's query syntax (`budget`, `"quarterly report"`,
    /// `location:paris`); malformed parts are ignored. Every word must match (in any
    /// searched field). Empty text matches every document in scope.
    pub text: String,
    /// Whose documents to search; always applied.
    pub user_id: String,
    /// Only results of this type, when set; the same as one entry in `doc_types`.
    pub doc_type: Option<String>,
    /// Only results of any of these types, when not empty (together with `doc_type`).
    ///
    /// A type names the result: `word` keeps Word documents, including those found
    /// through their fragments; naming a fragment type (`word_fragment`) finds the same
    /// documents through their fragments only.
    pub doc_types: Vec<String>,
    /// Only documents whose date lies in this range, when set.
    pub date_range: Option<DateRange>,
    /// Only documents with this participant (sender, recipient, attendee, organizer,
    /// assignee, author, contact address), compared case-insensitively as a whole
    /// address, when set.
    pub participant: Option<String>,
    /// The order of the results.
    pub sort: SortOrder,
    /// How many results to return at most, capped at [`MAX_SEARCH_HITS`].
    pub limit: usize,
}

impl SearchQuery {
    /// The result types asked for: `doc_type` and `doc_types` together, empty for all.
    pub fn requested_doc_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = self
            .doc_type
            .iter()
            .chain(&self.doc_types)
            .map(String::as_str)
            .filter(|doc_type| !doc_type.is_empty())
            .collect();
        types.sort_unstable();
        types.dedup();
        types
    }
}

/// A date filter: `from <= date < to`, either end open when `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateRange {
    /// Which date is compared.
    pub field: DateField,
    /// The earliest date included.
    pub from: Option<DateTime<Utc>>,
    /// The first date excluded.
    pub to: Option<DateTime<Utc>>,
}

/// The dates a [`DateRange`] can filter on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DateField {
    /// When the item came into being (the `created_at` field).
    #[default]
    CreatedAt,
    /// When it last changed at the provider (the `last_updated` field).
    UpdatedAt,
}

impl DateField {
    /// The schema field compared.
    pub fn field_name(self) -> &'static str {
        match self {
            DateField::CreatedAt => "created_at",
            DateField::UpdatedAt => "last_updated",
        }
    }
}

/// The order of search results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Best match first: BM25 with a recency boost (see `SearchBackend::search`); for
    /// empty text, most recently updated first.
    #[default]
    Relevance,
    /// Most recently changed at the provider first (`last_updated`).
    LastUpdated,
    /// Most recently synced first (`sync_timestamp`).
    SyncTimestamp,
}

impl SortOrder {
    /// Parses `relevance`, `last_updated` or `sync_timestamp`, as the CLI and HTTP API
    /// spell them.
    pub fn parse(name: &str) -> Option<SortOrder> {
        match name {
            "relevance" => Some(SortOrder::Relevance),
            "last_updated" | "updated" => Some(SortOrder::LastUpdated),
            "sync_timestamp" | "synced" => Some(SortOrder::SyncTimestamp),
            _ => None,
        }
    }
}

/// One result: a document, with the fragments of it that matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The provider's item id.
    pub id: String,
    /// The document type (`email`, `calendar`, `word`, …); never a fragment type, since
    /// fragments are folded into their document's hit.
    pub doc_type: String,
    /// Subject, title or contact name.
    pub title: String,
    /// Relevance: the best BM25 score with recency boost among the document and its
    /// matching fragments; 0 for empty-text queries.
    pub score: f32,
    /// When the item came into being.
    pub created_at: DateTime<Utc>,
    /// When the item last changed at the provider (the event's `last_updated`).
    pub updated_at: DateTime<Utc>,
    /// When Switchyard read it (the event's `sync_timestamp`).
    pub sync_timestamp: DateTime<Utc>,
    /// An HTML-escaped excerpt of the content with the matched words in `<b></b>`, or
    /// its beginning when no word of the content matched.
    pub snippet: String,
    /// People involved.
    pub participants: Vec<String>,
    /// The document's best matching fragments, best first, at most
    /// [`MAX_FRAGMENTS_PER_HIT`]; empty when no fragment matched.
    pub fragments: Vec<FragmentHit>,
}

/// A fragment of a document: in a search hit, one that matched; from
/// `SearchBackend::fragments_of`, one of all, in position order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FragmentHit {
    /// The fragment's id (`{document id}#{n}` from the chunker).
    pub id: String,
    /// `word_fragment`, `sheet_fragment` or `presentation_fragment`.
    pub doc_type: String,
    /// Position in the document, from 0.
    pub position: u32,
    /// Heading, sheet name or slide title; empty when it has none.
    pub title: String,
    /// Relevance, as [`SearchHit::score`]; 0 outside of searches.
    pub score: f32,
    /// Like [`SearchHit::snippet`], from the fragment's text.
    pub snippet: String,
}

/// The answer to a [`SearchQuery`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchResults {
    /// The results, in the query's order.
    pub hits: Vec<SearchHit>,
    /// How many documents and fragments matched in all, before folding fragments into
    /// their documents and before the limit.
    pub matched: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_types_merge_the_single_and_the_list() {
        let query = SearchQuery {
            doc_type: Some("email".into()),
            doc_types: vec!["todo".into(), "email".into(), String::new()],
            ..SearchQuery::default()
        };
        assert_eq!(query.requested_doc_types(), ["email", "todo"]);
        assert!(SearchQuery::default().requested_doc_types().is_empty());
    }

    #[test]
    fn sort_orders_parse_from_their_names() {
        for (name, expected) in [
            ("relevance", Some(SortOrder::Relevance)),
            ("last_updated", Some(SortOrder::LastUpdated)),
            ("sync_timestamp", Some(SortOrder::SyncTimestamp)),
            ("nope", None),
        ] {
            assert_eq!(SortOrder::parse(name), expected, "{name}");
        }
        assert_eq!(DateField::UpdatedAt.field_name(), "last_updated");
    }
}
