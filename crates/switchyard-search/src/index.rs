//! The search index on disk: opening it (as the one writer, or read-only), batched upserts
//! and deletes made visible by one commit, and user-scoped queries with snippets.
//!
//! Calls here do blocking disk I/O and CPU work; async callers run them in
//! `tokio::task::spawn_blocking`. The index knows nothing of brokers or consumers: a
//! consumer upserts a batch, commits, and only then acknowledges the batch.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tantivy::collector::{Count, TopDocs};
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::snippet::SnippetGenerator;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, TantivyDocument,
    TantivyError, Term,
};
use tracing::{debug, instrument};

use crate::schema::{SearchFields, UPDATED_AT};
use crate::{SearchDocument, SearchError, SearchErrorKind};

/// Memory the writer may buffer before it flushes a segment, shared by its threads.
const WRITER_MEMORY_BUDGET_BYTES: usize = 50_000_000;

/// Upper bound on [`SearchQuery::limit`], so that user input cannot size huge buffers.
pub const MAX_SEARCH_HITS: usize = 100_000;

/// Length of the snippet taken from the start of the content when no term matched it.
const SNIPPET_FALLBACK_CHARS: usize = 150;

/// A query over one user's documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    /// Free text in tantivy's query syntax (`budget`, `"quarterly report"`,
    /// `from_address:bob`); malformed parts are ignored. Empty text matches every
    /// document in scope, most recently updated first.
    pub text: String,
    /// Whose documents to search; always applied.
    pub user_id: String,
    /// Only documents of this type (`email`, `calendar`, `contact`), when set.
    pub doc_type: Option<String>,
    /// How many hits to return at most, capped at [`MAX_SEARCH_HITS`].
    pub limit: usize,
}

/// One matching document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    /// The provider's item id.
    pub id: String,
    /// `email`, `calendar` or `contact`.
    pub doc_type: String,
    /// Subject, event title or contact name.
    pub title: String,
    /// Relevance (BM25); 0 for empty-text queries, which are ordered by recency instead.
    pub score: f32,
    /// When the item last changed at the provider.
    pub updated_at: DateTime<Utc>,
    /// An HTML-escaped excerpt of the content with the matched words in `<b></b>`, or
    /// its beginning when no word of the content matched.
    pub snippet: String,
    /// People involved.
    pub participants: Vec<String>,
}

/// The unified search index of one directory.
///
/// Shareable as `Arc<SearchIndex>`: writes from several tasks go through one internal
/// writer, and [`SearchIndex::commit`] makes everything written so far durable and
/// visible at once.
pub struct SearchIndex {
    dir: PathBuf,
    fields: SearchFields,
    reader: IndexReader,
    query_parser: QueryParser,
    /// `None` for a read-only index.
    writer: Option<Mutex<IndexWriter>>,
}

impl SearchIndex {
    /// Opens the index in `dir` for reading and writing, creating the directory and an
    /// empty index when there is none.
    ///
    /// Fails with [`SearchErrorKind::Locked`] while another writer (usually another
    /// process) has it open, and with [`SearchErrorKind::SchemaMismatch`] when the index
    /// was built by an incompatible version.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir).map_err(|err| {
            SearchError::new(
                SearchErrorKind::Open,
                format!(
                    "failed to create search index directory {}: {err}",
                    dir.display()
                ),
            )
        })?;
        let fields = SearchFields::new();
        let index = open_index(dir, &fields, true)?;
        let writer = index.writer(WRITER_MEMORY_BUDGET_BYTES).map_err(|err| {
            let kind = match err {
                TantivyError::LockFailure(..) => SearchErrorKind::Locked,
                _ => SearchErrorKind::Open,
            };
            SearchError::new(
                kind,
                format!(
                    "failed to open search index writer in {}: {err}",
                    dir.display()
                ),
            )
        })?;
        // Only this writer changes the index, and `commit` reloads after each change.
        SearchIndex::new(dir, fields, index, ReloadPolicy::Manual, Some(writer))
    }

    /// Opens the existing index in `dir` for queries only, without taking the writer lock,
    /// so it works while another process writes. It sees that writer's commits shortly
    /// after they happen; writes fail with [`SearchErrorKind::ReadOnly`].
    pub fn open_read_only(dir: &Path) -> Result<SearchIndex, SearchError> {
        let fields = SearchFields::new();
        let index = open_index(dir, &fields, false)?;
        SearchIndex::new(dir, fields, index, ReloadPolicy::OnCommitWithDelay, None)
    }

    fn new(
        dir: &Path,
        fields: SearchFields,
        index: Index,
        reload_policy: ReloadPolicy,
        writer: Option<IndexWriter>,
    ) -> Result<SearchIndex, SearchError> {
        let reader = index
            .reader_builder()
            .reload_policy(reload_policy)
            .try_into()
            .map_err(|err| open_error(dir, err))?;
        let mut query_parser = QueryParser::for_index(&index, fields.default_text_fields());
        // Office search expects every word to narrow the results.
        query_parser.set_conjunction_by_default();
        query_parser.set_field_boost(fields.title, 2.0);
        Ok(SearchIndex {
            dir: dir.to_path_buf(),
            fields,
            reader,
            query_parser,
            writer: writer.map(Mutex::new),
        })
    }

    /// Adds the documents, each replacing any document with the same
    /// `(user_id, doc_type, id)`. Visible and durable after the next [`SearchIndex::commit`].
    #[instrument(skip_all, fields(docs = docs.len()))]
    pub fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        let writer = self.writer()?;
        for doc in &docs {
            writer.delete_term(self.fields.key_term(&doc.user_id, &doc.doc_type, &doc.id));
            writer
                .add_document(self.fields.to_tantivy(doc))
                .map_err(|err| self.write_error("add document to", err))?;
        }
        Ok(())
    }

    /// Removes the document `(user_id, doc_type, id)`, if any, at the next commit.
    pub fn delete(&self, user_id: &str, doc_type: &str, id: &str) -> Result<(), SearchError> {
        self.writer()?
            .delete_term(self.fields.key_term(user_id, doc_type, id));
        Ok(())
    }

    /// Makes every upsert and delete so far durable; once it returns, searches see them.
    #[instrument(skip_all)]
    pub fn commit(&self) -> Result<(), SearchError> {
        let opstamp = self
            .writer()?
            .commit()
            .map_err(|err| self.write_error("commit", err))?;
        self.reader
            .reload()
            .map_err(|err| self.write_error("reload the reader after committing", err))?;
        debug!(opstamp, "search index committed");
        Ok(())
    }

    /// The best hits of `query`, highest score first (most recent first for empty text).
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        let limit = query.limit.min(MAX_SEARCH_HITS);
        if limit == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let scope = self.scope_query(&query.user_id, query.doc_type.as_deref());
        let text = query.text.trim();
        if text.is_empty() {
            let recent_first = TopDocs::with_limit(limit)
                .order_by_fast_field::<tantivy::DateTime>(UPDATED_AT, Order::Desc);
            let top = searcher
                .search(&scope, &recent_first)
                .map_err(|err| self.query_error(err))?;
            return top
                .into_iter()
                .map(|(_, address)| self.hit(&searcher, address, 0.0, None))
                .collect();
        }
        let (text_query, ignored) = self.query_parser.parse_query_lenient(text);
        if !ignored.is_empty() {
            debug!(
                ignored = ignored.len(),
                "ignored malformed parts of a search query"
            );
        }
        let snippets = SnippetGenerator::create(&searcher, &*text_query, self.fields.content)
            .map_err(|err| self.query_error(err))?;
        let query = BooleanQuery::new(vec![(Occur::Must, text_query), (Occur::Must, scope)]);
        let top = searcher
            .search(&query, &TopDocs::with_limit(limit))
            .map_err(|err| self.query_error(err))?;
        top.into_iter()
            .map(|(score, address)| self.hit(&searcher, address, score, Some(&snippets)))
            .collect()
    }

    /// How many documents `user_id` has, of `doc_type` when set.
    pub fn count(&self, user_id: &str, doc_type: Option<&str>) -> Result<u64, SearchError> {
        let count = self
            .reader
            .searcher()
            .search(&self.scope_query(user_id, doc_type), &Count)
            .map_err(|err| self.query_error(err))?;
        Ok(count as u64)
    }

    fn writer(&self) -> Result<MutexGuard<'_, IndexWriter>, SearchError> {
        let writer = self.writer.as_ref().ok_or_else(|| {
            SearchError::new(
                SearchErrorKind::ReadOnly,
                format!("search index in {} is open read-only", self.dir.display()),
            )
        })?;
        // A panic elsewhere cannot leave the writer half-updated: its operations are atomic.
        Ok(writer.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Matches the documents of one user (and type), without adding to their score.
    fn scope_query(&self, user_id: &str, doc_type: Option<&str>) -> Box<dyn Query> {
        let term = |field, value| -> (Occur, Box<dyn Query>) {
            let term = Term::from_field_text(field, value);
            (
                Occur::Must,
                Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
            )
        };
        let mut clauses = vec![term(self.fields.user_id, user_id)];
        clauses.extend(doc_type.map(|doc_type| term(self.fields.doc_type, doc_type)));
        Box::new(ConstScoreQuery::new(
            Box::new(BooleanQuery::new(clauses)),
            0.0,
        ))
    }

    fn hit(
        &self,
        searcher: &Searcher,
        address: DocAddress,
        score: f32,
        snippets: Option<&SnippetGenerator>,
    ) -> Result<SearchHit, SearchError> {
        let doc: TantivyDocument = searcher.doc(address).map_err(|err| self.query_error(err))?;
        let stored = self.fields.stored_fields(&doc);
        Ok(SearchHit {
            snippet: snippet(snippets, &stored.content),
            id: stored.id,
            doc_type: stored.doc_type,
            title: stored.title,
            score,
            updated_at: stored.updated_at,
            participants: stored.participants,
        })
    }

    fn write_error(&self, action: &str, err: TantivyError) -> SearchError {
        SearchError::new(
            SearchErrorKind::Write,
            format!(
                "failed to {action} search index in {}: {err}",
                self.dir.display()
            ),
        )
    }

    fn query_error(&self, err: TantivyError) -> SearchError {
        SearchError::new(
            SearchErrorKind::Query,
            format!(
                "failed to query search index in {}: {err}",
                self.dir.display()
            ),
        )
    }
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("dir", &self.dir)
            .field("read_only", &self.writer.is_none())
            .finish_non_exhaustive()
    }
}

/// Opens the index in `dir`, creating it when allowed, and checks its schema is ours.
fn open_index(dir: &Path, fields: &SearchFields, create: bool) -> Result<Index, SearchError> {
    let directory = MmapDirectory::open(dir).map_err(|err| open_error(dir, err))?;
    let exists = Index::exists(&directory).map_err(|err| open_error(dir, err))?;
    let index = match (exists, create) {
        (true, _) => Index::open(directory),
        (false, true) => Index::create(directory, fields.schema.clone(), Default::default()),
        (false, false) => {
            return Err(SearchError::new(
                SearchErrorKind::Open,
                format!(
                    "failed to open search index in {}: no index there",
                    dir.display()
                ),
            ));
        }
    }
    .map_err(|err| open_error(dir, err))?;
    if index.schema() != fields.schema {
        return Err(SearchError::new(
            SearchErrorKind::SchemaMismatch,
            format!(
                "failed to open search index in {}: it was built with another schema; \
                 delete the directory and reindex",
                dir.display()
            ),
        ));
    }
    SearchFields::register_tokenizers(&index);
    Ok(index)
}

fn open_error(dir: &Path, err: impl fmt::Display) -> SearchError {
    SearchError::new(
        SearchErrorKind::Open,
        format!("failed to open search index in {}: {err}", dir.display()),
    )
}

/// The highlighted excerpt of `content`, or its escaped beginning when nothing matched.
fn snippet(snippets: Option<&SnippetGenerator>, content: &str) -> String {
    if let Some(snippet) = snippets.map(|generator| generator.snippet(content))
        && !snippet.is_empty()
    {
        return snippet.to_html();
    }
    let beginning: String = content.chars().take(SNIPPET_FALLBACK_CHARS).collect();
    escape_html(&beginning)
}

/// Escapes text the way tantivy escapes snippets, so every snippet is safe HTML.
fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use tempfile::TempDir;

    use super::*;

    fn open() -> (TempDir, SearchIndex) {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        (dir, index)
    }

    /// A document updated `minute` minutes after a fixed instant.
    fn doc(user_id: &str, doc_type: &str, id: &str, title: &str, minute: u32) -> SearchDocument {
        let updated_at = Utc.with_ymd_and_hms(2024, 5, 1, 12, minute, 0).unwrap();
        SearchDocument {
            id: id.into(),
            user_id: user_id.into(),
            doc_type: doc_type.into(),
            title: title.into(),
            content: format!("notes about {title}"),
            participants: vec![format!("Bob <bob@{user_id}.example>")],
            created_at: updated_at,
            updated_at,
            ..SearchDocument::default()
        }
    }

    fn query(user_id: &str, text: &str, doc_type: Option<&str>) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            user_id: user_id.into(),
            doc_type: doc_type.map(str::to_string),
            limit: 10,
        }
    }

    /// `doc_type/id` of each hit, in order.
    fn found(index: &SearchIndex, query: &SearchQuery) -> Vec<String> {
        let hits = index.search(query).unwrap();
        hits.iter()
            .map(|hit| format!("{}/{}", hit.doc_type, hit.id))
            .collect()
    }

    #[test]
    fn index_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<SearchIndex>();
    }

    #[test]
    fn upserting_the_same_document_twice_keeps_one() {
        let (_dir, index) = open();
        let budget = doc("alice", "email", "1", "budget", 0);
        index.upsert(vec![budget.clone(), budget.clone()]).unwrap();
        index.commit().unwrap();
        index.upsert(vec![budget]).unwrap();
        index.commit().unwrap();
        assert_eq!(index.count("alice", None).unwrap(), 1);
        assert_eq!(found(&index, &query("alice", "budget", None)), ["email/1"]);
    }

    #[test]
    fn update_replaces_fields() {
        let (_dir, index) = open();
        index
            .upsert(vec![doc("alice", "email", "1", "draft", 0)])
            .unwrap();
        index.commit().unwrap();
        index
            .upsert(vec![doc("alice", "email", "1", "final", 1)])
            .unwrap();
        index.commit().unwrap();
        assert!(found(&index, &query("alice", "draft", None)).is_empty());
        let hits = index.search(&query("alice", "final", None)).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].title, "final");
        assert_eq!(hits[0].updated_at, doc("", "", "", "", 1).updated_at);
    }

    #[test]
    fn delete_removes_only_that_document() {
        let (_dir, index) = open();
        index
            .upsert(vec![
                doc("alice", "email", "1", "budget", 0),
                doc("alice", "contact", "1", "budget", 0),
            ])
            .unwrap();
        index.commit().unwrap();
        index.delete("alice", "email", "1").unwrap();
        index.delete("alice", "email", "missing").unwrap();
        index.commit().unwrap();
        assert_eq!(found(&index, &query("alice", "", None)), ["contact/1"]);
    }

    #[test]
    fn users_never_see_each_others_documents() {
        let (_dir, index) = open();
        index
            .upsert(vec![
                doc("alice", "email", "a1", "budget", 0),
                doc("bob", "email", "b1", "budget", 1),
                doc("bob", "contact", "b2", "budget", 2),
            ])
            .unwrap();
        index.commit().unwrap();
        for text in ["budget", "", "budget OR notes", "user_id:bob", "bob", "*"] {
            for doc_type in [None, Some("email"), Some("contact")] {
                let alice = found(&index, &query("alice", text, doc_type));
                assert!(
                    alice.iter().all(|hit| hit == "email/a1"),
                    "{text:?} {doc_type:?}: {alice:?}"
                );
            }
        }
        assert_eq!(index.count("alice", None).unwrap(), 1);
        assert_eq!(index.count("bob", None).unwrap(), 2);
        assert_eq!(index.count("carol", None).unwrap(), 0);
    }

    #[test]
    fn doc_type_filter_narrows_results() {
        let (_dir, index) = open();
        index
            .upsert(vec![
                doc("alice", "email", "1", "paris trip", 0),
                doc("alice", "calendar", "2", "paris flight", 1),
                doc("alice", "contact", "3", "paris office", 2),
            ])
            .unwrap();
        index.commit().unwrap();
        assert_eq!(
            found(&index, &query("alice", "paris", Some("calendar"))),
            ["calendar/2"]
        );
        assert_eq!(
            found(&index, &query("alice", "", Some("contact"))),
            ["contact/3"]
        );
        assert_eq!(index.count("alice", Some("email")).unwrap(), 1);
        assert_eq!(index.count("alice", Some("unknown")).unwrap(), 0);
    }

    #[test]
    fn empty_text_lists_most_recently_updated_first() {
        let (_dir, index) = open();
        index
            .upsert(vec![
                doc("alice", "email", "old", "a", 1),
                doc("alice", "email", "new", "b", 3),
                doc("alice", "contact", "mid", "c", 2),
            ])
            .unwrap();
        index.commit().unwrap();
        assert_eq!(
            found(&index, &query("alice", "  ", None)),
            ["email/new", "contact/mid", "email/old"]
        );
        let first_two = SearchQuery {
            limit: 2,
            ..query("alice", "", None)
        };
        assert_eq!(found(&index, &first_two), ["email/new", "contact/mid"]);
    }

    #[test]
    fn limits_are_bounded() {
        let (_dir, index) = open();
        index
            .upsert(vec![doc("alice", "email", "1", "budget", 0)])
            .unwrap();
        index.commit().unwrap();
        for (limit, expected) in [(0, 0), (usize::MAX, 1)] {
            for text in ["", "budget"] {
                let query = SearchQuery {
                    limit,
                    ..query("alice", text, None)
                };
                assert_eq!(index.search(&query).unwrap().len(), expected);
            }
        }
    }

    #[test]
    fn malformed_query_text_never_errors() {
        let (_dir, index) = open();
        index
            .upsert(vec![doc("alice", "email", "1", "foo", 0)])
            .unwrap();
        index.commit().unwrap();
        for text in [
            "\"foo",
            "a:b",
            "(",
            ")",
            "foo)",
            "title:",
            "*",
            "-",
            "\\",
            "AND",
            "[",
            "{x TO",
            "foo^",
            "~",
            "created_at:>2024",
            "'",
            "<b>",
        ] {
            assert!(
                index.search(&query("alice", text, None)).is_ok(),
                "{text:?} failed"
            );
        }
        assert_eq!(found(&index, &query("alice", "\"foo", None)), ["email/1"]);
    }

    #[test]
    fn participants_and_type_fields_are_searchable() {
        let (_dir, index) = open();
        let meeting = SearchDocument {
            location: Some("Lisbon".into()),
            organizer: Some("José Álvarez <ja@alice.example>".into()),
            ..doc("alice", "calendar", "1", "offsite", 0)
        };
        index.upsert(vec![meeting]).unwrap();
        index.commit().unwrap();
        for text in [
            "bob@alice.example",
            "location:lisbon",
            "Lisbon",
            "Offsite",
            "jose alvarez",
            "organizer:JOSÉ",
        ] {
            assert_eq!(
                found(&index, &query("alice", text, None)),
                ["calendar/1"],
                "{text}"
            );
        }
    }

    #[test]
    fn snippets_highlight_matches_and_escape_html() {
        let (_dir, index) = open();
        let email = SearchDocument {
            content: "Tom & Jerry: the <quarterly> budget is final".into(),
            ..doc("alice", "email", "1", "report", 0)
        };
        index.upsert(vec![email]).unwrap();
        index.commit().unwrap();
        let hits = index.search(&query("alice", "budget", None)).unwrap();
        assert_eq!(
            hits[0].snippet,
            "Tom &amp; Jerry: the &lt;quarterly&gt; <b>budget</b> is final"
        );
        // Matching only the title gives the escaped beginning of the content.
        let hits = index.search(&query("alice", "report", None)).unwrap();
        assert_eq!(
            hits[0].snippet,
            "Tom &amp; Jerry: the &lt;quarterly&gt; budget is final"
        );
        let json = serde_json::to_value(&hits[0]).unwrap();
        assert_eq!(json["updated_at"], "2024-05-01T12:00:00Z");
    }

    #[test]
    fn committed_documents_survive_reopen_and_uncommitted_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let index = SearchIndex::open(dir.path()).unwrap();
        index
            .upsert(vec![doc("alice", "email", "kept", "a", 0)])
            .unwrap();
        index.commit().unwrap();
        index
            .upsert(vec![doc("alice", "email", "lost", "b", 1)])
            .unwrap();
        index.delete("alice", "email", "kept").unwrap();
        drop(index);
        let index = SearchIndex::open(dir.path()).unwrap();
        assert_eq!(found(&index, &query("alice", "", None)), ["email/kept"]);
    }

    #[test]
    fn read_only_opener_queries_while_the_writer_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let writer = SearchIndex::open(dir.path()).unwrap();
        writer
            .upsert(vec![doc("alice", "email", "1", "budget", 0)])
            .unwrap();
        writer.commit().unwrap();

        let err = SearchIndex::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), SearchErrorKind::Locked, "{err}");
        assert!(err.is_retryable());

        let reader = SearchIndex::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.count("alice", None).unwrap(), 1);
        assert_eq!(found(&reader, &query("alice", "budget", None)), ["email/1"]);
        let err = reader
            .upsert(vec![doc("alice", "email", "2", "x", 0)])
            .unwrap_err();
        assert_eq!(err.kind(), SearchErrorKind::ReadOnly);
        assert_eq!(
            reader.commit().unwrap_err().kind(),
            SearchErrorKind::ReadOnly
        );
    }

    #[test]
    fn opening_reports_missing_and_incompatible_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let err = SearchIndex::open_read_only(dir.path()).unwrap_err();
        assert_eq!(err.kind(), SearchErrorKind::Open, "{err}");

        let mut other = tantivy::schema::Schema::builder();
        other.add_text_field("title", tantivy::schema::TEXT);
        Index::create_in_dir(dir.path(), other.build()).unwrap();
        for result in [
            SearchIndex::open(dir.path()),
            SearchIndex::open_read_only(dir.path()),
        ] {
            let err = result.unwrap_err();
            assert_eq!(err.kind(), SearchErrorKind::SchemaMismatch, "{err}");
            assert!(!err.is_retryable());
        }
    }
}
