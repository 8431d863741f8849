//! Reading the tantivy index: user-scoped filters, ranking (BM25 with a recency boost, or
//! a date), folding matching fragments into their document's hit, highlighted snippets,
//! and navigation between a document and its fragments.
//!
//! Every tantivy query built here starts from the user's `user_id` term or the user's
//! replacement key, so no path reads another user's documents.

use std::collections::HashMap;
use std::ops::Bound;

use chrono::Utc;
use switchyard_contracts::DataKind;
use tantivy::collector::{Count, TopDocs};
use tantivy::columnar::Column;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, DocId, Order, Score, Searcher, SegmentReader, TantivyDocument, Term};
use tracing::debug;

use crate::schema::{StoredFields, to_tantivy_date};
use crate::snippet::snippet;
use crate::{
    FragmentHit, MAX_FRAGMENTS_PER_HIT, MAX_SEARCH_HITS, SearchError, SearchHit, SearchIndex,
    SearchQuery, SearchResults, SortOrder,
};

/// How much a brand-new document's relevance is raised over an equally relevant old one:
/// the boost factor runs from `1 + RECENCY_WEIGHT` (updated now) down to 1 (long ago).
pub const RECENCY_WEIGHT: f32 = 0.5;

/// After how many days without change a document's recency boost halves.
pub const RECENCY_HALF_LIFE_DAYS: f32 = 30.0;

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

/// The recency factor a text score is multiplied by, for a document last updated
/// `age_secs` seconds ago: `1 + RECENCY_WEIGHT × 0.5 ^ (age_days / RECENCY_HALF_LIFE_DAYS)`.
/// A future `last_updated` (within the allowed clock skew) counts as now.
pub fn recency_boost(age_secs: i64) -> f32 {
    let age_days = age_secs.max(0) as f32 / 86_400.0;
    1.0 + RECENCY_WEIGHT * 0.5_f32.powf(age_days / RECENCY_HALF_LIFE_DAYS)
}

/// The factor a contact's text score is multiplied by for contact discovery's relevance
/// score `relevance`: `1 + ln(1 + relevance)`, so a frequent recent correspondent ranks
/// above a stranger of the same name while the text match still matters most. Other
/// documents have no relevance and keep a factor of 1.
pub fn contact_boost(relevance: f64) -> f32 {
    (1.0 + relevance.max(0.0).ln_1p()) as f32
}

/// How a ranked document compares: the sort key first, then relevance.
type Rank = (f64, f32);

/// A search result being assembled: a document and its matching fragments.
struct Group {
    score: f32,
    /// The document itself, when it matched.
    document: Option<StoredFields>,
    /// The matching fragments, best first.
    fragments: Vec<(StoredFields, f32)>,
}

impl SearchIndex {
    /// Runs `query`: the engine of [`crate::SearchBackend::search`].
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
            let groups = self.fold(&searcher, &ranked, limit)?;
            if groups.len() >= limit || exhausted {
                let hits = groups
                    .into_iter()
                    .map(|group| self.group_hit(&searcher, &query.user_id, group, &snippets))
                    .collect::<Result<_, _>>()?;
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
        Ok(Some(self.document_hit(
            fragment.clone(),
            document,
            0.0,
            None,
            Vec::new(),
        )))
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
                Ok(fragment_hit(stored, 0.0, None))
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
                crate::DateField::CreatedAt => fields.created_at,
                crate::DateField::UpdatedAt => fields.last_updated,
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

    /// Folds ranked documents and fragments into at most `limit` results, in rank order:
    /// a result ranks where its best member does.
    fn fold(
        &self,
        searcher: &Searcher,
        ranked: &[(Rank, DocAddress)],
        limit: usize,
    ) -> Result<Vec<Group>, SearchError> {
        let mut groups: Vec<Group> = Vec::new();
        let mut by_document: HashMap<(String, String), usize> = HashMap::new();
        for &((_, score), address) in ranked {
            let stored = self.load(searcher, address)?;
            let document_key = match &stored.parent {
                Some(parent) => (parent.doc_type.clone(), parent.id.clone()),
                None => (stored.doc_type.clone(), stored.id.clone()),
            };
            let position = match by_document.get(&document_key) {
                Some(&position) => position,
                // Only the members of results already taken matter once the list is full.
                None if groups.len() >= limit => continue,
                None => {
                    groups.push(Group {
                        score,
                        document: None,
                        fragments: Vec::new(),
                    });
                    by_document.insert(document_key, groups.len() - 1);
                    groups.len() - 1
                }
            };
            let group = &mut groups[position];
            group.score = group.score.max(score);
            if stored.parent.is_some() {
                if group.fragments.len() < MAX_FRAGMENTS_PER_HIT {
                    group.fragments.push((stored, score));
                }
            } else {
                group.document = Some(stored);
            }
        }
        for group in &mut groups {
            // Best first; the rank order may differ from relevance when sorting by date.
            group
                .fragments
                .sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(std::cmp::Ordering::Equal));
        }
        Ok(groups)
    }

    /// The hit of a folded result; a result found through fragments only shows the
    /// document they belong to.
    fn group_hit(
        &self,
        searcher: &Searcher,
        user_id: &str,
        group: Group,
        snippets: &Option<SnippetGenerator>,
    ) -> Result<SearchHit, SearchError> {
        let fragments: Vec<FragmentHit> = group
            .fragments
            .iter()
            .map(|(stored, score)| fragment_hit(stored.clone(), *score, snippets.as_ref()))
            .collect();
        let (source, document) = match group.document {
            Some(document) => (document.clone(), Some(document)),
            None => {
                let (fragment, _) = group
                    .fragments
                    .into_iter()
                    .next()
                    .expect("a result holds its document or at least one fragment");
                let parent = fragment
                    .parent
                    .as_ref()
                    .expect("a result without its document was found through fragments");
                let document = self.by_key(searcher, user_id, &parent.doc_type, &parent.id)?;
                (fragment, document)
            }
        };
        Ok(self.document_hit(source, document, group.score, snippets.as_ref(), fragments))
    }

    /// The hit of a document; when it is not indexed (its fragments came first, or it was
    /// deleted while they linger) it is described by `source`, one of its fragments.
    fn document_hit(
        &self,
        source: StoredFields,
        document: Option<StoredFields>,
        score: f32,
        snippets: Option<&SnippetGenerator>,
        fragments: Vec<FragmentHit>,
    ) -> SearchHit {
        let (stored, snippet) = match (document, source.parent.clone()) {
            (Some(document), _) => {
                let snippet = snippet(snippets, &document.content);
                (document, snippet)
            }
            (None, None) => {
                let snippet = snippet(snippets, &source.content);
                (source, snippet)
            }
            // Not indexed: the fragment's link names it, its best fragment stands in.
            (None, Some(parent)) => {
                let snippet = fragments
                    .first()
                    .map(|best| best.snippet.clone())
                    .unwrap_or_default();
                let described = StoredFields {
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
            id: stored.id,
            doc_type: stored.doc_type,
            title: stored.title,
            score,
            created_at: stored.created_at,
            updated_at: stored.last_updated,
            sync_timestamp: stored.sync_timestamp,
            snippet,
            participants: stored.participants,
            fragments,
        }
    }

    /// The user's document with this replacement key, if indexed.
    fn by_key(
        &self,
        searcher: &Searcher,
        user_id: &str,
        doc_type: &str,
        id: &str,
    ) -> Result<Option<StoredFields>, SearchError> {
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
    ) -> Result<Option<StoredFields>, SearchError> {
        let found = searcher
            .search(query, &TopDocs::with_limit(1))
            .map_err(|err| self.query_error(err))?;
        found
            .first()
            .map(|&(_, address)| self.load(searcher, address))
            .transpose()
    }

    fn load(&self, searcher: &Searcher, address: DocAddress) -> Result<StoredFields, SearchError> {
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

fn fragment_hit(
    stored: StoredFields,
    score: f32,
    snippets: Option<&SnippetGenerator>,
) -> FragmentHit {
    FragmentHit {
        snippet: snippet(snippets, &stored.content),
        position: stored.parent.as_ref().map_or(0, |parent| parent.position),
        id: stored.id,
        doc_type: stored.doc_type,
        title: stored.title,
        score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_boost_halves_its_bonus_every_half_life() {
        let day = 86_400;
        assert!((recency_boost(0) - 1.5).abs() < 1e-6);
        assert!(
            (recency_boost(-3_600) - 1.5).abs() < 1e-6,
            "future counts as now"
        );
        assert!((recency_boost(30 * day) - 1.25).abs() < 1e-4);
        assert!((recency_boost(60 * day) - 1.125).abs() < 1e-4);
        assert!(recency_boost(3_650 * day) - 1.0 < 1e-6);
        assert!(recency_boost(day) > recency_boost(2 * day));
    }
}
