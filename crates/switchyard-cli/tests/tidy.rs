//! Repository hygiene: every Rust file says what it owns, and ARCHITECTURE.md stays a true
//! map (every crate has an entry, every path it names exists).

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
    let named_paths: Vec<&str> = map
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with("crates/") && !span.contains(' '))
        .collect();
    assert!(!named_paths.is_empty());
    for path in named_paths {
        assert!(
            root.join(path).exists(),
            "ARCHITECTURE.md names `{path}`, which does not exist"
        );
    }
}
