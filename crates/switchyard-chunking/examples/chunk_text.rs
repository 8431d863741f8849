//! Stand-in for `switchyard bench chunking` until the CLI wires it: times
//! [`switchyard_chunking::chunk_text_bench`] on a text file and prints one JSON line.
//!
//! Accepts the CLI's arguments, so `bench/chunking/compare.sh` can run it with
//! `SWITCHYARD_BIN=…/examples/chunk_text`:
//! `chunk_text bench chunking --text FILE --chunk-chars N --json`.

use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value_of = |flag: &str| {
        args.iter()
            .position(|arg| arg == flag)
            .and_then(|index| args.get(index + 1))
            .cloned()
    };
    let path = value_of("--text").ok_or_else(|| anyhow::anyhow!("missing --text FILE"))?;
    let chunk_chars: usize = value_of("--chunk-chars")
        .unwrap_or_else(|| "1000".to_string())
        .parse()?;
    let text = std::fs::read_to_string(&path)?;
    let started = Instant::now();
    let chunks = switchyard_chunking::chunk_text_bench(&text, chunk_chars);
    let seconds = started.elapsed().as_secs_f64();
    let mb_per_s = text.len() as f64 / 1e6 / seconds;
    println!(
        r#"{{"splitter":"switchyard-text-splitter","mb_per_s":{mb_per_s:.2},"chunks":{chunks},"bytes":{},"seconds":{seconds:.3},"chunk_chars":{chunk_chars}}}"#,
        text.len()
    );
    Ok(())
}
