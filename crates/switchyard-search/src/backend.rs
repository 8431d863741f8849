//! [`SearchBackend`]: the contract every search engine behind Switchyard's search API
//! fulfils (the tantivy `SearchIndex` of `switchyard-tantivy`, the Vespa client of
//! `switchyard-vespa`), so that the indexer and the CLI/HTTP layer never name an engine.

use crate::{FragmentHit, SearchDocument, SearchError, SearchHit, SearchQuery, SearchResults};

/// A per-user search engine over [`SearchDocument`]s.
///
/// Every read is scoped to one user: no method returns another user's document, whatever
/// ids it is given. Writes are buffered until [`SearchBackend::commit`], which makes them
/// durable and visible together; the indexer commits once per batch and acknowledges the
/// batch only afterwards.
///
/// Methods block (disk or network I/O); async callers run them in `spawn_blocking`.
///
/// Relevance ([`crate::SortOrder::Relevance`]) is the engine's text score (BM25) times a
/// recency boost on `last_updated`:
///
/// ```text
/// score = bm25 × (1 + RECENCY_WEIGHT × 0.5 ^ (age_days / RECENCY_HALF_LIFE_DAYS))
/// age_days = max(0, now − last_updated) in days
/// ```
///
/// with [`crate::RECENCY_WEIGHT`] = 0.5 and [`crate::RECENCY_HALF_LIFE_DAYS`] = 30: a
/// document updated now scores up to 1.5 × an equally relevant one from long ago, one a
/// month old 1.25 ×. Other engines implement the same formula.
pub trait SearchBackend: Send + Sync {
    /// Adds the documents, each replacing any document with the same
    /// `(user_id, doc_type, id)`.
    fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError>;

    /// Removes the document `(user_id, doc_type, id)`, if any; for a document type with
    /// fragments (`word`, `sheet`, `presentation`), also every fragment whose parent it
    /// is. Removing a fragment removes only that fragment.
    fn delete(&self, user_id: &str, doc_type: &str, id: &str) -> Result<(), SearchError>;

    /// Makes every upsert and delete so far durable; once it returns, searches see them.
    fn commit(&self) -> Result<(), SearchError>;

    /// The results of `query`: documents in the query's order, each matching fragment
    /// folded into its document's hit (the document once, with its best fragments).
    fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError>;

    /// How many documents `user_id` has, of `doc_type` exactly when set.
    fn count(&self, user_id: &str, doc_type: Option<&str>) -> Result<u64, SearchError>;

    /// The document `user_id`'s fragment `fragment_id` belongs to, or `None` when the
    /// user has no such fragment. A parent not indexed (yet) is described from the
    /// fragment's own parent fields (id, type, title).
    fn parent_of(&self, user_id: &str, fragment_id: &str)
    -> Result<Option<SearchHit>, SearchError>;

    /// The fragments of `user_id`'s document `document_id`, in position order; empty
    /// when the user has no such document or it has no fragments.
    fn fragments_of(
        &self,
        user_id: &str,
        document_id: &str,
    ) -> Result<Vec<FragmentHit>, SearchError>;
}
