//! The search index on disk: opening it (as the one writer, or read-only), batched upserts
//! and deletes made visible by one commit, and the [`SearchBackend`] implementation on
//! tantivy. Queries and navigation live in `retrieval.rs`; folding fragments into
//! documents is `switchyard_search`'s, shared with other engines.
//!
//! Calls here do blocking disk I/O and CPU work; async callers run them in
//! `tokio::task::spawn_blocking`. The index knows nothing of brokers or consumers: a
//! consumer upserts a batch, commits, and only then acknowledges the batch.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use switchyard_contracts::DataKind;
use switchyard_search::{
    FragmentHit, SearchBackend, SearchDocument, SearchError, SearchErrorKind, SearchHit,
    SearchQuery, SearchResults,
};
use tantivy::collector::Count;
use tantivy::directory::MmapDirectory;
use tantivy::query::QueryParser;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyError};
use tracing::{debug, instrument};

use crate::schema::SearchFields;

/// Memory the writer may buffer before it flushes a segment, shared by its threads.
const WRITER_MEMORY_BUDGET_BYTES: usize = 50_000_000;

/// The unified search index of one directory, on tantivy.
///
/// Shareable as `Arc<SearchIndex>`: writes from several tasks go through one internal
/// writer, and [`SearchIndex::commit`] makes everything written so far durable and
/// visible at once. Implements [`SearchBackend`]; its inherent methods of the same names
/// do the same (so callers need not import the trait), except [`SearchIndex::search`],
/// which returns only the hits.
pub struct SearchIndex {
    pub(crate) dir: PathBuf,
    pub(crate) fields: SearchFields,
    pub(crate) reader: IndexReader,
    pub(crate) query_parser: QueryParser,
    /// `None` for a read-only index.
    writer: Option<Mutex<IndexWriter>>,
}

impl SearchIndex {
    /// Opens the index in `dir` for reading and writing, creating the directory and an
    /// empty index when there is none.
    ///
    /// Fails with [`SearchErrorKind::InUse`] while another writer (usually another
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
                TantivyError::LockFailure(..) => SearchErrorKind::InUse,
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
        let default_fields = fields.default_text_fields();
        let mut query_parser = QueryParser::for_index(
            &index,
            default_fields.iter().map(|(field, _)| *field).collect(),
        );
        // Office search expects every word to narrow the results.
        query_parser.set_conjunction_by_default();
        for (field, boost) in default_fields {
            if boost != 1.0 {
                query_parser.set_field_boost(field, boost);
            }
        }
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

    /// Removes the document `(user_id, doc_type, id)`, if any, at the next commit; for a
    /// Word, sheet or presentation document also all its fragments.
    pub fn delete(&self, user_id: &str, doc_type: &str, id: &str) -> Result<(), SearchError> {
        let writer = self.writer()?;
        writer.delete_term(self.fields.key_term(user_id, doc_type, id));
        if has_fragments(doc_type) {
            writer.delete_term(self.fields.parent_key_term(user_id, doc_type, id));
        }
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

    /// The hits of `query` ([`SearchBackend::search`] without the match count).
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<SearchHit>, SearchError> {
        Ok(self.search_results(query)?.hits)
    }

    /// How many documents `user_id` has, of `doc_type` when set.
    pub fn count(&self, user_id: &str, doc_type: Option<&str>) -> Result<u64, SearchError> {
        let types: Vec<&str> = doc_type.into_iter().collect();
        let count = self
            .reader
            .searcher()
            .search(&self.exact_scope(user_id, &types), &Count)
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

    fn write_error(&self, action: &str, err: TantivyError) -> SearchError {
        SearchError::new(
            SearchErrorKind::Write,
            format!(
                "failed to {action} search index in {}: {err}",
                self.dir.display()
            ),
        )
    }

    pub(crate) fn query_error(&self, err: TantivyError) -> SearchError {
        SearchError::new(
            SearchErrorKind::Query,
            format!(
                "failed to query search index in {}: {err}",
                self.dir.display()
            ),
        )
    }
}

impl SearchBackend for SearchIndex {
    fn upsert(&self, docs: Vec<SearchDocument>) -> Result<(), SearchError> {
        SearchIndex::upsert(self, docs)
    }

    fn delete(&self, user_id: &str, doc_type: &str, id: &str) -> Result<(), SearchError> {
        SearchIndex::delete(self, user_id, doc_type, id)
    }

    fn commit(&self) -> Result<(), SearchError> {
        SearchIndex::commit(self)
    }

    fn search(&self, query: &SearchQuery) -> Result<SearchResults, SearchError> {
        self.search_results(query)
    }

    fn count(&self, user_id: &str, doc_type: Option<&str>) -> Result<u64, SearchError> {
        SearchIndex::count(self, user_id, doc_type)
    }

    fn parent_of(
        &self,
        user_id: &str,
        fragment_id: &str,
    ) -> Result<Option<SearchHit>, SearchError> {
        SearchIndex::parent_of(self, user_id, fragment_id)
    }

    fn fragments_of(
        &self,
        user_id: &str,
        document_id: &str,
    ) -> Result<Vec<FragmentHit>, SearchError> {
        SearchIndex::fragments_of(self, user_id, document_id)
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

/// Whether documents of `doc_type` are cut into fragments that a delete must follow.
fn has_fragments(doc_type: &str) -> bool {
    matches!(
        DataKind::from_doc_type(doc_type),
        Some(DataKind::WordDocument | DataKind::SheetDocument | DataKind::PresentationDocument)
    )
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

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use tantivy::Index;
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
        let mailbox = format!("bob@{user_id}.example");
        SearchDocument {
            id: id.into(),
            user_id: user_id.into(),
            doc_type: doc_type.into(),
            title: title.into(),
            content: format!("notes about {title}"),
            participants: vec![format!("Bob <{mailbox}>")],
            addresses: vec![mailbox],
            created_at: updated_at,
            last_updated: updated_at,
            sync_timestamp: updated_at,
            ..SearchDocument::default()
        }
    }

    fn query(user_id: &str, text: &str, doc_type: Option<&str>) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            user_id: user_id.into(),
            doc_type: doc_type.map(str::to_string),
            limit: 10,
            ..SearchQuery::default()
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
        assert_eq!(hits[0].updated_at, doc("", "", "", "", 1).last_updated);
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
        assert_eq!(err.kind(), SearchErrorKind::InUse, "{err}");
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
