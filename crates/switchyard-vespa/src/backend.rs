//! [`VespaBackend`]: the `SearchBackend` on a Vespa cluster, over its HTTP APIs.
//!
//! - upsert: one document/v1 put per document (`POST …/docid/{key}`), a few in parallel;
//! - delete: a document/v1 remove, then, for a document type with fragments, a query for
//!   the user's fragments with that parent (`parent_id`, `parent_doc_type`) and a remove of
//!   each, page by page. Chosen over a selection remove (`DELETE …/docid?selection=…`),
//!   which Vespa runs as a visit, a linear scan of every document in the cluster: the
//!   query reads the `parent_id` attribute index instead, costs in proportion to the
//!   fragments, and carries the user filter like every other read;
//! - commit: nothing to do, since Vespa acknowledges a write once it is applied and
//!   searchable;
//! - search, count, parent_of, fragments_of: YQL from `yql.rs`, always user-scoped;
//!   search folds the ranked hits with `switchyard_search`'s `FoldedResults`, like the
//!   tantivy backend.
//!
//! Calls block; async callers use `spawn_blocking`.

use std::collections::HashSet;

use switchyard_search::{
    FoldedResults, FragmentHit, MAX_SEARCH_HITS, MatchedHit, SearchBackend, SearchDocument,
    SearchError, SearchErrorKind, SearchHit, SearchQuery, SearchResults,
};
use tracing::{debug, instrument};

use crate::VespaError;
use crate::http::VespaHttp;
use crate::naming::{fragment_doc_types, fragment_types_of, is_known_doc_type, schema_name};
use crate::package::MAX_OFFSET;
use crate::snippet::{query_terms, snippet};
use crate::yql::{Select, all_schemas, any_of, contains, search_select};

/// Hits read per query page: Vespa's default `maxHits`, so pages work even against a
/// cluster deployed without the generated query profile.
const PAGE_HITS: usize = 400;

/// Ranked documents fetched per result at first; more pages are read when fragments of a
/// few documents fill them.
const FETCH_PER_RESULT: usize = 3;

/// Puts sent at the same time by one upsert.
const FEED_CONCURRENCY: usize = 8;

/// Rounds of query-then-remove one delete runs before it gives up on fragments.
const MAX_DELETE_ROUNDS: usize = 1_000;

/// A [`SearchBackend`] on a Vespa cluster that runs the application package of
/// [`crate::write_application_package`].
///
/// Cheap to clone (one shared HTTP client with keep-alive connections).
#[derive(Debug, Clone)]
pub struct VespaBackend {
    http: VespaHttp,
}

impl VespaBackend {
    /// A backend for the Vespa container at `endpoint_url` (`http://localhost:8080`).
    ///
    /// Only checks the URL and builds the client; nothing is sent until the first call.
    pub fn new(endpoint_url: &str) -> Result<VespaBackend, VespaError> {
        VespaBackend::with_ca_file(endpoint_url, None)
    }

    /// Like [`VespaBackend::new`], trusting the CA in the PEM file `ca_file` besides the
    /// system's CAs for an `https://` endpoint (TLS with rustls).
    pub fn with_ca_file(
        endpoint_url: &str,
        ca_file: Option<&std::path::Path>,
    ) -> Result<VespaBackend, VespaError> {
        Ok(VespaBackend {
            http: VespaHttp::new(endpoint_url, ca_file)?,
        })
    }

    /// The container endpoint this backend talks to.
    pub fn endpoint(&self) -> &str {
        self.http.endpoint().as_str()
    }

    /// Every hit of `select`, page by page, in order (navigation and deletes).
    fn all_hits(&self, select: &Select) -> Result<Vec<MatchedHit>, SearchError> {
        let yql = select.yql();
        let mut hits = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.http.query(&yql, None, PAGE_HITS, offset)?;
            let read = page.hits.len();
            hits.extend(page.hits.into_iter().map(|hit| hit.fields.into_match(0.0)));
            offset += read;
            if read < PAGE_HITS || offset as u64 >= page.total_count || offset >= MAX_OFFSET {
                return Ok(hits);
            }
        }
    }

    /// Removes the user's fragments of `(doc_type, id)`, querying them a page at a time.
    fn delete_fragments(&self, user_id: &str, doc_type: &str, id: &str) -> Result<(), SearchError> {
        let fragment_types = fragment_types_of(doc_type);
        if fragment_types.is_empty() {
            return Ok(());
        }
        let select = Select::new(
            user_id,
            fragment_types.iter().map(|t| schema_name(t)).collect(),
        )
        .and(contains("parent_doc_type", doc_type))
        .and(contains("parent_id", id));
        let yql = select.yql();
        for _ in 0..MAX_DELETE_ROUNDS {
            let page = self.http.query(&yql, None, PAGE_HITS, 0)?;
            if page.hits.is_empty() {
                return Ok(());
            }
            let count = page.hits.len();
            for hit in page.hits {
                self.http
                    .remove(user_id, &hit.fields.doc_type, &hit.fields.id)?;
            }
            debug!(fragments = count, "removed fragments of a deleted document");
            if count < PAGE_HITS {
                return Ok(());
            }
        }
        Err(SearchError::new(
            SearchErrorKind::Write,
            format!(
                "failed to remove the fragments of {doc_type} {id} of user {user_id}: \
                 still finding some after {MAX_DELETE_ROUNDS} rounds"
            ),
        ))
    }

    /// The user's documents with these `(doc_type, id)` keys that are indexed.
    fn documents_by_key(
        &self,
        user_id: &str,
        keys: &[(String, String)],
    ) -> Result<Vec<MatchedHit>, SearchError> {
        let keys: Vec<&(String, String)> = keys
            .iter()
            .filter(|(doc_type, _)| is_known_doc_type(doc_type))
            .collect();
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut sources: Vec<String> = keys
            .iter()
            .map(|(doc_type, _)| schema_name(doc_type))
            .collect();
        sources.sort();
        sources.dedup();
        let any_key = keys
            .iter()
            .map(|(doc_type, id)| {
                format!(
                    "({} and {})",
                    contains("doc_type", doc_type),
                    contains("id", id)
                )
            })
            .collect();
        let select = Select::new(user_id, sources).and(any_of(any_key));
        self.all_hits(&select)
    }
}

impl SearchBackend for VespaBackend {
    #[instrument(skip_all, fields(docs = docs.len()))]
    fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        if docs.len() <= 1 {
            return docs.iter().try_for_each(|doc| self.http.put(doc));
        }
        let chunk = docs.len().div_ceil(FEED_CONCURRENCY);
        std::thread::scope(|scope| {
            let workers: Vec<_> = docs
                .chunks(chunk)
                .map(|slice| {
                    scope.spawn(move || slice.iter().try_for_each(|doc| self.http.put(doc)))
                })
                .collect();
            workers
                .into_iter()
                .try_for_each(|worker| worker.join().expect("a feed worker does not panic"))
        })
    }

    fn delete(&self, user_id: &str, doc_type: &str, id: &str) -> Result<(), SearchError> {
        if !is_known_doc_type(doc_type) {
            // Nothing of an unknown type was ever fed.
            return Ok(());
        }
        self.http.remove(user_id, doc_type, id)?;
        self.delete_fragments(user_id, doc_type, id)
    }

    fn commit(&self) -> Result<(), SearchError> {
        // Vespa acknowledges a put or remove once it is durable and searchable.
        Ok(())
    }

    #[instrument(skip_all, fields(limit = query.limit))]
    fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let limit = query.limit.min(MAX_SEARCH_HITS);
        if limit == 0 {
            return Ok(SearchResults::default());
        }
        let Some(select) = search_select(query) else {
            return Ok(SearchResults::default());
        };
        let yql = select.yql();
        let text = query.text.trim();
        let scored = !text.is_empty();
        let page_size = limit.saturating_mul(FETCH_PER_RESULT).clamp(32, PAGE_HITS);
        let mut folded = FoldedResults::new(limit);
        let mut matched = 0;
        let mut offset = 0;
        loop {
            let page = self
                .http
                .query(&yql, scored.then_some(text), page_size, offset)?;
            matched = matched.max(page.total_count);
            let read = page.hits.len();
            folded.extend(page.hits.into_iter().map(|hit| {
                let score = if scored { hit.relevance as f32 } else { 0.0 };
                hit.fields.into_match(score)
            }));
            offset += read;
            let exhausted = read < page_size
                || offset as u64 >= page.total_count
                || offset + page_size > MAX_OFFSET;
            if folded.len() >= limit || exhausted {
                break;
            }
        }
        let terms = if scored {
            query_terms(text)
        } else {
            HashSet::new()
        };
        let hits = folded.into_hits(
            |content| snippet(&terms, content),
            |keys| self.documents_by_key(&query.user_id, keys),
        )?;
        Ok(SearchResults { hits, matched })
    }

    fn count(&self, user_id: &str, doc_type: Option<&str>) -> Result<u64, SearchError> {
        let select = match doc_type {
            None => Select::new(user_id, all_schemas()),
            Some(doc_type) if is_known_doc_type(doc_type) => {
                Select::new(user_id, vec![schema_name(doc_type)])
                    .and(contains("doc_type", doc_type))
            }
            Some(_) => return Ok(0),
        };
        Ok(self.http.query(&select.yql(), None, 0, 0)?.total_count)
    }

    fn parent_of(
        &self,
        user_id: &str,
        fragment_id: &str,
    ) -> Result<Option<SearchHit>, SearchError> {
        let sources = fragment_doc_types().into_iter().map(schema_name).collect();
        let select = Select::new(user_id, sources).and(contains("id", fragment_id));
        let page = self.http.query(&select.yql(), None, 1, 0)?;
        let Some(fragment) = page
            .hits
            .into_iter()
            .next()
            .map(|hit| hit.fields.into_match(0.0))
        else {
            return Ok(None);
        };
        let Some(parent) = &fragment.parent else {
            return Ok(None);
        };
        let key = (parent.doc_type.clone(), parent.id.clone());
        let document = self
            .documents_by_key(user_id, std::slice::from_ref(&key))?
            .into_iter()
            .rfind(|document| document.doc_type == key.0 && document.id == key.1);
        let no_terms = HashSet::new();
        Ok(Some(fragment.into_parent_hit(document, |content| {
            snippet(&no_terms, content)
        })))
    }

    fn fragments_of(
        &self,
        user_id: &str,
        document_id: &str,
    ) -> Result<Vec<FragmentHit>, SearchError> {
        let sources = fragment_doc_types().into_iter().map(schema_name).collect();
        let select = Select::new(user_id, sources)
            .and(contains("parent_id", document_id))
            .order_by("position asc");
        let no_terms = HashSet::new();
        Ok(self
            .all_hits(&select)?
            .into_iter()
            .map(|stored| stored.into_fragment_hit(|content| snippet(&no_terms, content)))
            .collect())
    }
}
