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
//! - search, count, parent_of, fragments_of: YQL from `yql.rs`, always user-scoped.
//!
//! Calls block; async callers use `spawn_blocking`.

use std::collections::{HashMap, HashSet};

use switchyard_search::{
    FragmentHit, MAX_SEARCH_HITS, SearchBackend, SearchDocument, SearchError, SearchErrorKind,
    SearchHit, SearchQuery, SearchResults,
};
use tracing::{debug, instrument};

use crate::VespaError;
use crate::collapse::{Group, StoredHit, fold};
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
        Ok(VespaBackend {
            http: VespaHttp::new(endpoint_url)?,
        })
    }

    /// The container endpoint this backend talks to.
    pub fn endpoint(&self) -> &str {
        self.http.endpoint().as_str()
    }

    /// Every hit of `select`, page by page, in order (navigation and deletes).
    fn all_hits(&self, select: &Select) -> Result<Vec<StoredHit>, SearchError> {
        let yql = select.yql();
        let mut hits = Vec::new();
        let mut offset = 0;
        loop {
            let page = self.http.query(&yql, None, PAGE_HITS, offset)?;
            let read = page.hits.len();
            hits.extend(page.hits.into_iter().map(|hit| StoredHit::from(hit.fields)));
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

    /// The user's documents with these `(doc_type, id)` keys, by key.
    fn documents_by_key(
        &self,
        user_id: &str,
        keys: &[(String, String)],
    ) -> Result<HashMap<(String, String), StoredHit>, SearchError> {
        let keys: Vec<&(String, String)> = keys
            .iter()
            .filter(|(doc_type, _)| is_known_doc_type(doc_type))
            .collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
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
        Ok(self
            .all_hits(&select)?
            .into_iter()
            .map(|hit| ((hit.doc_type.clone(), hit.id.clone()), hit))
            .collect())
    }

    /// The hit of a folded result, or of a document described by its fragment `source`
    /// when it is not indexed.
    fn document_hit(
        source: StoredHit,
        document: Option<StoredHit>,
        score: f32,
        terms: &HashSet<String>,
        fragments: Vec<FragmentHit>,
    ) -> SearchHit {
        let (stored, snippet_text) = match (document, source.parent.clone()) {
            (Some(document), _) => {
                let text = snippet(terms, &document.content);
                (document, text)
            }
            (None, None) => {
                let text = snippet(terms, &source.content);
                (source, text)
            }
            // Not indexed: the fragment's link names it, its best fragment stands in.
            (None, Some(parent)) => {
                let text = fragments
                    .first()
                    .map(|best| best.snippet.clone())
                    .unwrap_or_default();
                let described = StoredHit {
                    id: parent.id,
                    doc_type: parent.doc_type,
                    title: parent.title,
                    content: String::new(),
                    participants: Vec::new(),
                    parent: None,
                    ..source
                };
                (described, text)
            }
        };
        SearchHit {
            id: stored.id,
            doc_type: stored.doc_type,
            title: stored.title,
            score,
            created_at: stored.created_at,
            updated_at: stored.last_updated,
            sync_timestamp: stored.sync_timestamp,
            snippet: snippet_text,
            participants: stored.participants,
            fragments,
        }
    }

    fn group_hit(
        group: Group,
        parents: &HashMap<(String, String), StoredHit>,
        terms: &HashSet<String>,
    ) -> SearchHit {
        let key = group.document_key();
        let fragments: Vec<FragmentHit> = group
            .fragments
            .iter()
            .map(|(stored, score)| fragment_hit(stored, *score, terms))
            .collect();
        let (source, document) = match group.document {
            Some(document) => (document.clone(), Some(document)),
            None => {
                let (fragment, _) = group
                    .fragments
                    .into_iter()
                    .next()
                    .expect("a result without its document was found through fragments");
                (fragment, parents.get(&key).cloned())
            }
        };
        VespaBackend::document_hit(source, document, group.score, terms, fragments)
    }
}

fn fragment_hit(stored: &StoredHit, score: f32, terms: &HashSet<String>) -> FragmentHit {
    FragmentHit {
        id: stored.id.clone(),
        doc_type: stored.doc_type.clone(),
        position: stored.parent.as_ref().map_or(0, |parent| parent.position),
        title: stored.title.clone(),
        score,
        snippet: snippet(terms, &stored.content),
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
        let mut ranked: Vec<(StoredHit, f32)> = Vec::new();
        let mut matched = 0;
        let mut offset = 0;
        let groups = loop {
            let page = self
                .http
                .query(&yql, scored.then_some(text), page_size, offset)?;
            matched = matched.max(page.total_count);
            let read = page.hits.len();
            ranked.extend(page.hits.into_iter().map(|hit| {
                let score = if scored { hit.relevance as f32 } else { 0.0 };
                (StoredHit::from(hit.fields), score)
            }));
            offset += read;
            let exhausted = read < page_size
                || offset as u64 >= page.total_count
                || offset + page_size > MAX_OFFSET;
            let groups = fold(&ranked, limit);
            if groups.len() >= limit || exhausted {
                break groups;
            }
        };
        let missing: Vec<(String, String)> = groups
            .iter()
            .filter(|group| group.document.is_none())
            .map(Group::document_key)
            .collect();
        let parents = self.documents_by_key(&query.user_id, &missing)?;
        let terms = if scored {
            query_terms(text)
        } else {
            HashSet::new()
        };
        let hits = groups
            .into_iter()
            .map(|group| VespaBackend::group_hit(group, &parents, &terms))
            .collect();
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
            .map(|hit| StoredHit::from(hit.fields))
        else {
            return Ok(None);
        };
        let Some(parent) = &fragment.parent else {
            return Ok(None);
        };
        let key = (parent.doc_type.clone(), parent.id.clone());
        let document = self
            .documents_by_key(user_id, std::slice::from_ref(&key))?
            .remove(&key);
        Ok(Some(VespaBackend::document_hit(
            fragment,
            document,
            0.0,
            &HashSet::new(),
            Vec::new(),
        )))
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
        Ok(self
            .all_hits(&select)?
            .iter()
            .map(|stored| fragment_hit(stored, 0.0, &HashSet::new()))
            .collect())
    }
}
