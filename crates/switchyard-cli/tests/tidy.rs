//! Repository hygiene: every Rust file says what it owns, and ARCHITECTURE.md and
//! README.md stay true maps (every crate has an entry; every repository path they name,
//! backticked or not, and every source file they name by itself, exists).

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Cargo.toml").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_rust_file_opens_with_a_module_doc_comment() {
    let mut files = Vec::new();
    for dir in crate_dirs() {
        rust_files(&dir, &mut files);
    }
    // The fuzz crate is outside the workspace but held to the same rule (not its
    // `target`, where build scripts leave generated code).
    for dir in ["fuzz/src", "fuzz/fuzz_targets"] {
        let dir = repo_root().join(dir);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
    }
    let missing: Vec<String> = files
        .iter()
        .filter(|file| {
            !std::fs::read_to_string(file)
                .unwrap()
                .trim_start()
                .starts_with("//!")
        })
        .map(|file| file.display().to_string())
        .collect();
    assert!(files.len() > 20, "found only {} files", files.len());
    assert!(
        missing.is_empty(),
        "files without a `//!` header: {missing:#?}"
    );
}

/// Every repository path `text` names, backticked or not: words starting with a top-level
/// folder of the repository (`docs/` only with a file extension, so that "docs/s" in a
/// figure is not taken for one), without templates (`{…}`, `*`).
fn named_paths(text: &str) -> Vec<&str> {
    const ROOTS: [&str; 6] = ["crates/", ".ci/", "tools/", "fuzz/", "bench/", "docs/"];
    text.split(|c: char| c.is_whitespace() || "`()[]<>\"',;|".contains(c))
        .map(|word| word.trim_end_matches(['.', ':']))
        .filter(|word| ROOTS.iter().any(|root| word.starts_with(root)))
        .filter(|word| !word.contains(['{', '*', '…']))
        .filter(|word| {
            !word.starts_with("docs/")
                || word
                    .rsplit('/')
                    .next()
                    .is_some_and(|name| name.contains('.'))
        })
        .collect()
}

/// File names of the repository's Rust sources (crates and fuzz targets).
fn rust_file_names(root: &Path) -> std::collections::BTreeSet<String> {
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("fuzz"), &mut files);
    files
        .iter()
        .filter_map(|file| Some(file.file_name()?.to_str()?.to_string()))
        .collect()
}

#[test]
fn architecture_names_every_crate_and_only_existing_paths() {
    let root = repo_root();
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    for dir in crate_dirs() {
        let name = dir.file_name().unwrap().to_str().unwrap();
        assert!(
            map.contains(&format!("### {name}\n")),
            "ARCHITECTURE.md has no `### {name}` entry"
        );
    }
    let sources = rust_file_names(&root);
    for doc in ["ARCHITECTURE.md", "README.md"] {
        let text = std::fs::read_to_string(root.join(doc)).unwrap();
        let paths = named_paths(&text);
        assert!(!paths.is_empty(), "{doc} names no path");
        for path in paths {
            assert!(
                root.join(path).exists(),
                "{doc} names `{path}`, which does not exist"
            );
        }
        // A bare `name.rs` stands for a source file of the crate being described.
        for name in text.split('`').skip(1).step_by(2).filter(|span| {
            span.ends_with(".rs") && !span.contains(['/', ' ']) && span.len() > ".rs".len()
        }) {
            assert!(
                sources.contains(name),
                "{doc} names `{name}`, which no crate has"
            );
        }
    }
}
