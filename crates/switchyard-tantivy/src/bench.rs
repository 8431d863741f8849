//! [`bench_search`]: a self-contained search benchmark the CLI harness calls: indexes N
//! mixed synthetic documents (every data kind, documents with fragments, two users) in
//! indexer-sized committed batches, then times M varied queries and reports latency
//! percentiles. Deterministic: the same N and M give the same corpus and queries.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use switchyard_contracts::DataKind;
use switchyard_search::{
    DateField, DateRange, ParentLink, SearchDocument, SearchError, SearchQuery, SortOrder,
};

use crate::SearchIndex;

/// Documents per upsert and commit, as the indexer's default batch size.
const BATCH_DOCS: usize = 1_000;

/// The benchmarked user; every tenth document belongs to another one.
const BENCH_USER: &str = "bench-user";

const WORDS: [&str; 48] = [
    "budget",
    "roadmap",
    "invoice",
    "contract",
    "meeting",
    "review",
    "launch",
    "hiring",
    "offsite",
    "quarterly",
    "report",
    "design",
    "security",
    "audit",
    "travel",
    "expense",
    "customer",
    "renewal",
    "pricing",
    "forecast",
    "migration",
    "database",
    "latency",
    "incident",
    "postmortem",
    "training",
    "onboarding",
    "vendor",
    "shipment",
    "delivery",
    "warehouse",
    "inventory",
    "marketing",
    "campaign",
    "partner",
    "legal",
    "compliance",
    "payroll",
    "benefits",
    "workshop",
    "prototype",
    "feedback",
    "release",
    "backlog",
    "sprint",
    "architecture",
    "analytics",
    "dashboard",
];

/// What [`bench_search`] measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchBenchReport {
    /// Documents indexed (fragments included).
    pub docs: usize,
    /// Queries timed.
    pub queries: usize,
    /// Time to upsert and commit every document.
    pub index_millis: u64,
    /// Indexing throughput.
    pub docs_per_sec: f64,
    /// Median query latency.
    pub p50_micros: u64,
    /// 99th percentile query latency.
    pub p99_micros: u64,
    /// Slowest query.
    pub max_micros: u64,
    /// Average number of results per query.
    pub mean_hits: f64,
}

/// Indexes `docs` synthetic documents of every kind into a new index in `dir` (an empty
/// directory), then runs `queries` searches (free text, type, participant and date
/// filters, date sorts) and reports their latency.
pub fn bench_search(
    dir: &Path,
    docs: usize,
    queries: usize,
) -> Result<SearchBenchReport, SearchError> {
    let index = SearchIndex::open(dir)?;
    let mut random = Lcg(0x5eed);
    let now = Utc::now();
    let started = Instant::now();
    let mut batch = Vec::with_capacity(BATCH_DOCS);
    for n in 0..docs {
        batch.push(synthetic_document(n, &mut random, now));
        if batch.len() == BATCH_DOCS {
            index.upsert(std::mem::take(&mut batch))?;
            index.commit()?;
        }
    }
    index.upsert(batch)?;
    index.commit()?;
    let index_time = started.elapsed();

    let mut latencies = Vec::with_capacity(queries);
    let mut hits = 0usize;
    for n in 0..queries {
        let query = synthetic_query(n, &mut random, now);
        let started = Instant::now();
        hits += index.search(&query)?.len();
        latencies.push(started.elapsed());
    }
    latencies.sort_unstable();
    Ok(SearchBenchReport {
        docs,
        queries,
        index_millis: millis(index_time),
        docs_per_sec: docs as f64 / index_time.as_secs_f64().max(1e-9),
        p50_micros: micros(percentile(&latencies, 0.50)),
        p99_micros: micros(percentile(&latencies, 0.99)),
        max_micros: micros(latencies.last().copied().unwrap_or_default()),
        mean_hits: if queries == 0 {
            0.0
        } else {
            hits as f64 / queries as f64
        },
    })
}

/// Document `n` of the corpus: kinds in turn, every fourth a document fragment.
fn synthetic_document(n: usize, random: &mut Lcg, now: DateTime<Utc>) -> SearchDocument {
    let kinds = [
        DataKind::Email,
        DataKind::Calendar,
        DataKind::WordFragment,
        DataKind::Contact,
        DataKind::Todo,
        DataKind::WordFragment,
        DataKind::WordDocument,
        DataKind::LlmChat,
        DataKind::Task,
        DataKind::Shipment,
    ];
    let kind = kinds[n % kinds.len()];
    let user_id = if n % 10 == 9 {
        "other-user"
    } else {
        BENCH_USER
    };
    let last_updated = now - chrono::Duration::minutes(random.below(525_600) as i64);
    let person = format!("person{}@example.com", random.below(50));
    let title = random.words(4);
    let mut doc = SearchDocument {
        id: format!("{}-{n}", kind.doc_type()),
        user_id: user_id.to_string(),
        doc_type: kind.doc_type().to_string(),
        content: random.words(60),
        created_at: last_updated,
        last_updated,
        sync_timestamp: now,
        ..SearchDocument::default()
    };
    match kind {
        DataKind::WordFragment => {
            let parent = n / 20;
            doc.id = format!("word-doc-{parent}#{n}");
            doc.parent = Some(ParentLink {
                id: format!("word-doc-{parent}"),
                doc_type: DataKind::WordDocument.doc_type().to_string(),
                title: title.clone(),
                position: (n % 20) as u32,
            });
        }
        DataKind::WordDocument => doc.id = format!("word-doc-{}", n / 20),
        DataKind::Email | DataKind::Calendar | DataKind::Contact | DataKind::Todo => {
            doc.participants = vec![person.clone()];
            doc.addresses = vec![person];
        }
        _ => {}
    }
    doc.title = title;
    doc
}

/// Query `n`: one or two words, with a filter or sort every few queries.
fn synthetic_query(n: usize, random: &mut Lcg, now: DateTime<Utc>) -> SearchQuery {
    let mut query = SearchQuery {
        text: random.words(1 + n % 2),
        user_id: BENCH_USER.to_string(),
        limit: 10,
        ..SearchQuery::default()
    };
    match n % 8 {
        1 => query.doc_type = Some("email".into()),
        3 => query.participant = Some(format!("person{}@example.com", random.below(50))),
        5 => {
            query.date_range = Some(DateRange {
                field: DateField::UpdatedAt,
                from: Some(now - chrono::Duration::days(30)),
                to: None,
            })
        }
        6 => query.sort = SortOrder::LastUpdated,
        7 => query.text.clear(),
        _ => {}
    }
    query
}

fn percentile(sorted: &[Duration], quantile: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((quantile * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A small deterministic generator, so the corpus needs no random-number dependency.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % bound.max(1)
    }

    fn words(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_latency_percentiles_over_a_mixed_corpus() {
        let dir = tempfile::tempdir().unwrap();
        let report = bench_search(dir.path(), 300, 40).unwrap();
        assert_eq!((report.docs, report.queries), (300, 40));
        assert!(report.p50_micros <= report.p99_micros);
        assert!(report.p99_micros <= report.max_micros);
        assert!(report.mean_hits > 0.0, "{report:?}");
        let index = SearchIndex::open_read_only(dir.path()).unwrap();
        assert_eq!(index.count(BENCH_USER, Some("email")).unwrap(), 30);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_micros).collect();
        assert_eq!(percentile(&sorted, 0.5), Duration::from_micros(50));
        assert_eq!(percentile(&sorted, 0.99), Duration::from_micros(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
