//! `switchyard bench chunking` and `switchyard bench search`: the document side of the
//! pipeline. Chunking times the text splitter on a file (compare it with LangChain's
//! `RecursiveCharacterTextSplitter` through `bench/chunking/compare.sh`); search indexes
//! N mixed documents in a scratch directory and reports query latency percentiles.

use std::time::Instant;

use anyhow::Context;
use serde_json::json;

/// Times `switchyard_chunking::chunk_text_bench` on the text of `path`.
pub fn chunking(
    path: &std::path::Path,
    chunk_chars: usize,
    json_output: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("failed to read {}", path.display()))?;
    let started = Instant::now();
    let chunks = switchyard_chunking::chunk_text_bench(&text, chunk_chars);
    let seconds = started.elapsed().as_secs_f64();
    let mb_per_s = text.len() as f64 / 1e6 / seconds;
    let result = json!({
        "benchmark": "chunking",
        "splitter": "switchyard-text-splitter",
        "bytes": text.len(),
        "chunk_chars": chunk_chars,
        "chunks": chunks,
        "seconds": seconds,
        "mb_per_s": mb_per_s,
    });
    if json_output {
        println!("{result}");
    } else {
        println!(
            "chunked {} bytes into {chunks} chunks of ≤ {chunk_chars} chars in {seconds:.3} s: {mb_per_s:.1} MB/s",
            text.len()
        );
    }
    Ok(())
}

/// Indexes `docs` mixed documents and runs `queries` searches, reporting latencies.
pub fn search(docs: usize, queries: usize, json_output: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let report = switchyard_tantivy::bench_search(dir.path(), docs, queries)?;
    let mut result = serde_json::to_value(&report)?;
    result["benchmark"] = json!("search");
    if json_output {
        println!("{result}");
    } else {
        println!(
            "{} documents indexed at {:.0} docs/s; {} queries: p50 {} µs, p99 {} µs, max {} µs",
            report.docs,
            report.docs_per_sec,
            report.queries,
            report.p50_micros,
            report.p99_micros,
            report.max_micros
        );
    }
    Ok(())
}
