//! The generated catalog as a whole: the committed files are fresh, every `$ref` of the
//! AsyncAPI document resolves inside it, and the document passes the official AsyncAPI 3.0.0
//! JSON Schema and the official parser (`@asyncapi/parser`, run with Node).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use switchyard_catalog::{ASYNCAPI_PATH, MARKDOWN_PATH, asyncapi, asyncapi_json, markdown};
use switchyard_contracts::Registry;

const ASYNCAPI_JSON_SCHEMA: &str = "tests/fixtures/asyncapi/3.0.0-without-$id.json";
const PARSER_DIR: &str = "tools/asyncapi-validate";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root exists")
}

#[test]
fn generated_catalog_is_committed_and_fresh() {
    let registry = Registry::standard();
    let bless = std::env::var("SWITCHYARD_BLESS").is_ok_and(|value| value == "1");
    let root = repo_root();
    let mut stale = Vec::new();
    for (path, rendered, format) in [
        (MARKDOWN_PATH, markdown(&registry), "markdown"),
        (ASYNCAPI_PATH, asyncapi_json(&registry), "asyncapi"),
    ] {
        let file = root.join(path);
        if bless {
            fs::create_dir_all(file.parent().expect("a docs path has a parent"))
                .expect("failed to create docs/");
            fs::write(&file, rendered)
                .unwrap_or_else(|err| panic!("failed to write {path}: {err}"));
            continue;
        }
        if fs::read_to_string(&file).ok().as_deref() != Some(rendered.as_str()) {
            stale.push(format!(
                "{path} is stale: run `switchyard catalog docs --format {format}` \
                 (or `SWITCHYARD_BLESS=1 cargo test -p switchyard-catalog`)"
            ));
        }
    }
    assert!(stale.is_empty(), "{}", stale.join("\n"));
}

#[test]
fn every_ref_resolves_inside_the_document() {
    fn walk(value: &Value, document: &Value, broken: &mut Vec<String>) {
        match value {
            Value::Object(object) => {
                for (field, child) in object {
                    assert!(
                        field != "$schema" && field != "$defs",
                        "`{field}` left in the document"
                    );
                    if let ("$ref", Value::String(reference)) = (field.as_str(), child) {
                        let resolves = reference
                            .strip_prefix('#')
                            .is_some_and(|pointer| document.pointer(pointer).is_some());
                        if !resolves {
                            broken.push(reference.clone());
                        }
                    } else {
                        walk(child, document, broken);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| walk(item, document, broken)),
            _ => {}
        }
    }
    let document = asyncapi(&Registry::standard());
    let mut broken = Vec::new();
    walk(&document, &document, &mut broken);
    assert!(broken.is_empty(), "unresolved refs: {broken:?}");
}

#[test]
fn asyncapi_validates_against_the_official_json_schema() {
    let path = repo_root().join(ASYNCAPI_JSON_SCHEMA);
    let text = fs::read_to_string(&path).expect("the AsyncAPI JSON Schema fixture is readable");
    let schema: Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let validator =
        jsonschema::draft7::new(&schema).expect("the AsyncAPI 3.0.0 schema compiles offline");
    // Guards against a vacuous schema: a document without `info` must fail.
    assert!(!validator.is_valid(&serde_json::json!({"asyncapi": "3.0.0"})));
    let document = asyncapi(&Registry::standard());
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|error| format!("{} at {}", error, error.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} schema errors:\n{}",
        errors.len(),
        errors.join("\n")
    );
}

/// Validates the freshly rendered document (not the committed one, which the freshness test
/// covers), so this test neither races a bless run nor passes on a stale file.
#[test]
fn asyncapi_parses_with_the_official_parser() {
    let root = repo_root();
    let parser_dir = root.join(PARSER_DIR);
    if !parser_dir.join("node_modules").is_dir() {
        let status = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(&parser_dir)
            .status()
            .expect("failed to run npm: install Node.js and npm to validate the AsyncAPI document");
        assert!(status.success(), "npm ci in {PARSER_DIR} failed: {status}");
    }
    let document = Path::new(env!("CARGO_TARGET_TMPDIR")).join("asyncapi.json");
    fs::write(&document, asyncapi_json(&Registry::standard()))
        .expect("failed to write the document");
    let output = Command::new("node")
        .arg(format!("{PARSER_DIR}/validate.mjs"))
        .arg(&document)
        .current_dir(&root)
        .output()
        .expect("failed to run node: install Node.js to validate the AsyncAPI document");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The last line is the summary: errors, warnings, operations and messages.
    println!("{}", stdout.lines().last().unwrap_or_default());
    assert!(
        output.status.success(),
        "@asyncapi/parser rejected the document:\n{stdout}{stderr}"
    );
}
