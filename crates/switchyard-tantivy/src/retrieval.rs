//! Reading the tantivy index: user-scoped filters, ranking (BM25 with the recency and
//! contact boosts of `switchyard_search`, or a date), highlighted snippets, and navigation
//! between a document and its fragments. Folding matching fragments into their document's
//! hit is `switchyard_search::FoldedResults`'s, shared with other engines; this file only
//! reads the ranked matches and the documents it asks for.
//!
//! Every tantivy query built here starts from the user's `user_id` term or the user's
//! replacement key, so no path reads another user's documents.

use std::ops::Bound;

use chrono::Utc;
use switchyard_contracts::DataKind;
use switchyard_search::{
    DateField, FoldedResults, FragmentHit, MAX_SEARCH_HITS, MatchedHit, SearchError, SearchHit,
    SearchQuery, SearchResults, SortOrder, contact_boost, recency_boost,
};
use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, DocId, Order, Score, Searcher, SegmentReader, TantivyDocument, Term};
use tracing::debug;

use crate::SearchIndex;
use crate::schema::to_tantivy_date;
use crate::snippet::snippet;

/// Ranked documents fetched per result at first; more are fetched when fragments of a
/// few documents fill them.
const FETCH_PER_RESULT: usize = 3;

/// The most ranked documents and fragments one search reads before folding them.
const MAX_FETCH: usize = 4 * MAX_SEARCH_HITS;

const FRAGMENT_KINDS: [DataKind; 3] = [
    DataKind::WordFragment,
    DataKind::SheetFragment,
    DataKind::PresentationFragment,
];

/// How a ranked document compares: the sort key first, then relevance.
type Rank = (f64, f32);

impl SearchIndex {
    /// Runs `query`: the engine of [`SearchBackend::search`](switchyard_search::SearchBackend::search).
    pub(crate) fn search_results(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        let limit = query.limit.min(MAX_SEARCH_HITS);
        if limit == 0 {
            return Ok(SearchResults::default());
        }
        let searcher = self.reader.searcher();
        let filter = self.filter_query(query);
        let text = query.text.trim();
        let (tantivy_query, snippets): (Box<dyn Query>, _) = if text.is_empty() {
            (filter, None)
        } else {
            let (text_query, ignored) = self.query_parser.parse_query_lenient(text);
            if !ignored.is_empty() {
                debug!(
                    ignored = ignored.len(),
                    "ignored malformed parts of a search query"
                );
            }
            let snippets = SnippetGenerator::create(&searcher, &*text_query, self.fields.content)
                .map_err(|err| self.query_error(err))?;
            let both = BooleanQuery::new(vec![(Occur::Must, text_query), (Occur::Must, filter)]);
            (Box::new(both), Some(snippets))
        };
        let ranking = Ranking {
            sort: query.sort,
            scored: !text.is_empty(),
            now_micros: Utc::now().timestamp_micros(),
        };
        let mut fetch = limit.saturating_mul(FETCH_PER_RESULT).max(32);
        loop {
            let tweaker = move |segment: &SegmentReader| {
                let fast_fields = segment.fast_fields();
                // Every document has both dates; a column is missing only in a segment
                // without documents, where nothing is ranked.
                let last_updated = fast_fields.date("last_updated").ok();
                let synced = fast_fields.date("sync_timestamp").ok();
                let relevance = fast_fields.u64("relevance_milli").ok();
                move |doc: DocId, score: Score| {
                    let boost = relevance
                        .as_ref()
                        .and_then(|column| column.first(doc))
                        .map_or(1.0, |milli| contact_boost(milli as f64 / 1000.0));
                    ranking.rank(
                        score * boost,
                        micros(last_updated.as_ref(), doc),
                        micros(synced.as_ref(), doc),
                    )
                }
            };
            let collector = (Count, TopDocs::with_limit(fetch).tweak_score(tweaker));
            let (matched, ranked) = searcher
                .search(&*tantivy_query, &collector)
                .map_err(|err| self.query_error(err))?;
            let exhausted = ranked.len() < fetch || fetch >= MAX_FETCH;
            let mut folded = FoldedResults::new(limit);
            for &((_, score), address) in &ranked {
                folded.push(MatchedHit {
                    score,
                    ..self.load(&searcher, address)?
                });
            }
            if folded.len() >= limit || exhausted {
                let hits = folded.into_hits(
                    |content| snippet(snippets.as_ref(), content),
                    |keys| self.documents_by_key(&searcher, &query.user_id, keys),
                )?;
                return Ok(SearchResults {
                    hits,
                    matched: matched as u64,
                });
            }
            fetch = fetch.saturating_mul(4).min(MAX_FETCH);
        }
    }

    /// The document `user_id`'s fragment `fragment_id` belongs to.
    pub fn parent_of(
        &self,
        user_id: &str,
        fragment_id: &str,
    ) -> Result<Option<SearchHit>, SearchError> {
        let searcher = self.reader.searcher();
        let fragment_types: Vec<&str> = FRAGMENT_KINDS.iter().map(|kind| kind.doc_type()).collect();
        let query = BooleanQuery::new(vec![
            (Occur::Must, self.exact_scope(user_id, &fragment_types)),
            (Occur::Must, term_query(self.fields.id, fragment_id)),
        ]);
        let Some(fragment) = self.first(&searcher, &query)? else {
            return Ok(None);
        };
        let Some(parent) = &fragment.parent else {
            return Ok(None);
        };
        let document = self.by_key(&searcher, user_id, &parent.doc_type, &parent.id)?;
        Ok(Some(fragment.into_parent_hit(document, |content| {
            snippet(None, content)
        })))
    }

    /// The fragments of `user_id`'s document `document_id`, in position order.
    pub fn fragments_of(
        &self,
        user_id: &str,
        document_id: &str,
    ) -> Result<Vec<FragmentHit>, SearchError> {
        let searcher = self.reader.searcher();
        let query = BooleanQuery::new(vec![
            (Occur::Must, term_query(self.fields.user_id, user_id)),
            (Occur::Must, term_query(self.fields.parent_id, document_id)),
        ]);
        let count = searcher
            .search(&query, &Count)
            .map_err(|err| self.query_error(err))?;
        if count == 0 {
            return Ok(Vec::new());
        }
        let in_order =
            TopDocs::with_limit(count).order_by_fast_field::<u64>("position", Order::Asc);
        let found = searcher
            .search(&query, &in_order)
            .map_err(|err| self.query_error(err))?;
        found
            .into_iter()
            .map(|(_, address)| {
                let stored = self.load(&searcher, address)?;
                Ok(stored.into_fragment_hit(|content| snippet(None, content)))
            })
            .collect()
    }

    /// The user's documents of exactly these types (all types when empty), unscored.
    pub(crate) fn exact_scope(&self, user_id: &str, doc_types: &[&str]) -> Box<dyn Query> {
        let mut clauses = vec![(Occur::Must, term_query(self.fields.user_id, user_id))];
        if !doc_types.is_empty() {
            let any_type = doc_types
                .iter()
                .map(|doc_type| (Occur::Should, term_query(self.fields.doc_type, doc_type)))
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any_type))));
        }
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            0.0,
        ))
    }

    /// The user scope and every filter of `query`, adding nothing to the score.
    fn filter_query(&self, query: &SearchQuery) -> Box<dyn Query> {
        let fields = &self.fields;
        let mut clauses = vec![(Occur::Must, term_query(fields.user_id, &query.user_id))];
        let doc_types = query.requested_doc_types();
        if !doc_types.is_empty() {
            // A type names the result: the documents of that type and their fragments.
            let any_type = doc_types
                .iter()
                .flat_map(|doc_type| {
                    [
                        (Occur::Should, term_query(fields.doc_type, doc_type)),
                        (Occur::Should, term_query(fields.parent_doc_type, doc_type)),
                    ]
                })
                .collect();
            clauses.push((Occur::Must, Box::new(BooleanQuery::new(any_type))));
        }
        if let Some(range) = &query.date_range {
            let field = match range.field {
                DateField::CreatedAt => fields.created_at,
                DateField::UpdatedAt => fields.last_updated,
            };
            let bound = |date: Option<chrono::DateTime<Utc>>, inclusive: bool| match date {
                None => Bound::Unbounded,
                Some(date) => {
                    let term = Term::from_field_date(field, to_tantivy_date(date));
                    if inclusive {
                        Bound::Included(term)
                    } else {
                        Bound::Excluded(term)
                    }
                }
            };
            let range_query = RangeQuery::new(bound(range.from, true), bound(range.to, false));
            clauses.push((Occur::Must, Box::new(range_query)));
        }
        if let Some(participant) = &query.participant {
            let address = participant.trim().to_lowercase();
            clauses.push((Occur::Must, term_query(fields.addresses, &address)));
        }
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            0.0,
        ))
    }

    /// The user's documents with these `(doc_type, id)` keys that are indexed.
    fn documents_by_key(
        &self,
        searcher: &Searcher,
        user_id: &str,
        keys: &[(String, String)],
    ) -> Result<Vec<MatchedHit>, SearchError> {
        keys.iter()
            .filter_map(|(doc_type, id)| self.by_key(searcher, user_id, doc_type, id).transpose())
            .collect()
    }

    /// The user's document with this replacement key, if indexed.
    fn by_key(
        &self,
        searcher: &Searcher,
        user_id: &str,
        doc_type: &str,
        id: &str,
    ) -> Result<Option<MatchedHit>, SearchError> {
        let key = TermQuery::new(
            self.fields.key_term(user_id, doc_type, id),
            IndexRecordOption::Basic,
        );
        self.first(searcher, &key)
    }

    fn first(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
    ) -> Result<Option<MatchedHit>, SearchError> {
        let found = searcher
            .search(query, &TopDocs::with_limit(1))
            .map_err(|err| self.query_error(err))?;
        found
            .first()
            .map(|&(_, address)| self.load(searcher, address))
            .transpose()
    }

    fn load(&self, searcher: &Searcher, address: DocAddress) -> Result<MatchedHit, SearchError> {
        let doc: TantivyDocument = searcher.doc(address).map_err(|err| self.query_error(err))?;
        Ok(self.fields.stored_fields(&doc))
    }
}

/// The ranking of one search.
#[derive(Clone, Copy)]
struct Ranking {
    sort: SortOrder,
    /// False for empty text: every score is 0, so relevance falls back to recency.
    scored: bool,
    now_micros: i64,
}

impl Ranking {
    /// The rank of a document from its text score and its dates (in microseconds).
    fn rank(self, score: Score, last_updated: i64, sync_timestamp: i64) -> Rank {
        let relevance = if self.scored {
            score * recency_boost((self.now_micros - last_updated) / 1_000_000)
        } else {
            0.0
        };
        let primary = match self.sort {
            SortOrder::Relevance if self.scored => f64::from(relevance),
            SortOrder::Relevance | SortOrder::LastUpdated => last_updated as f64,
            SortOrder::SyncTimestamp => sync_timestamp as f64,
        };
        (primary, relevance)
    }
}

/// The first value of a date column, in microseconds; 0 when absent.
fn micros(column: Option<&Column<tantivy::DateTime>>, doc: DocId) -> i64 {
    column
        .and_then(|column| column.first(doc))
        .map_or(0, |date| date.into_timestamp_micros())
}

fn term_query(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}
