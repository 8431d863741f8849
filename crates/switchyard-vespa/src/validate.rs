//! Offline checks of a written application package, the ones that need no Vespa: XML
//! well-formedness of `services.xml` and the query profile, every schema named as its
//! file, every field of the Rust definition present in the schema of each document type
//! that has it (and no other), balanced braces, the fieldset and rank profile referring
//! to declared fields, and `services.xml` listing exactly the schemas present.
//!
//! Deploy-time checks of Vespa itself (the config model, rank expression compilation)
//! are not reproduced.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::Event;
use switchyard_search::fields_of_doc_type;

use crate::naming::{CONTENT_CLUSTER, RANK_PROFILE, doc_types, schema_name};
use crate::{PackageReport, VespaError};

/// Checks the application package in `dir` (see the module docs for what is checked) and
/// reports its schemas and files; every problem found is listed in one
/// [`VespaError::InvalidPackage`].
pub fn validate_application_package(dir: &Path) -> Result<PackageReport, VespaError> {
    let mut problems = Vec::new();
    let mut files = Vec::new();

    let services_path = PathBuf::from("services.xml");
    let services = read(dir, &services_path)?;
    files.push(services_path);
    let declared = match check_services(&services) {
        Ok(declared) => declared,
        Err(problem) => {
            problems.push(format!("services.xml: {problem}"));
            BTreeSet::new()
        }
    };

    let profile_path = PathBuf::from("search/query-profiles/default.xml");
    if dir.join(&profile_path).exists() {
        let profile = read(dir, &profile_path)?;
        if let Err(problem) = check_well_formed(&profile) {
            problems.push(format!("{}: {problem}", profile_path.display()));
        }
        files.push(profile_path);
    }

    let mut schemas = Vec::new();
    let mut present = BTreeSet::new();
    for doc_type in doc_types() {
        let name = schema_name(doc_type);
        let path = PathBuf::from("schemas").join(format!("{name}.sd"));
        if !dir.join(&path).exists() {
            problems.push(format!("{} is missing", path.display()));
            continue;
        }
        let text = read(dir, &path)?;
        for problem in check_schema(doc_type, &name, &text) {
            problems.push(format!("{}: {problem}", path.display()));
        }
        present.insert(name.clone());
        schemas.push(name);
        files.push(path);
    }
    let extra: Vec<&String> = declared.difference(&present).collect();
    if !extra.is_empty() {
        problems.push(format!(
            "services.xml: document types without a schema: {extra:?}"
        ));
    }
    let undeclared: Vec<&String> = present.difference(&declared).collect();
    if !undeclared.is_empty() && !declared.is_empty() {
        problems.push(format!(
            "services.xml: schemas not in the content cluster: {undeclared:?}"
        ));
    }
    if problems.is_empty() {
        Ok(PackageReport {
            dir: dir.to_path_buf(),
            schemas,
            files,
        })
    } else {
        Err(VespaError::InvalidPackage {
            dir: dir.to_path_buf(),
            problems,
        })
    }
}

fn read(dir: &Path, relative: &Path) -> Result<String, VespaError> {
    let path = dir.join(relative);
    std::fs::read_to_string(&path).map_err(|source| VespaError::Io {
        action: "read",
        path,
        source,
    })
}

/// Parses `xml` to its end; quick-xml checks that end tags match start tags.
fn check_well_formed(xml: &str) -> Result<(), String> {
    xml_elements(xml).map(|_| ())
}

/// Every start or empty element of `xml` with its parent chain and attributes, in
/// document order; fails on malformed XML.
fn xml_elements(xml: &str) -> Result<Vec<XmlElement>, String> {
    let mut reader = Reader::from_str(xml);
    let mut open: Vec<String> = Vec::new();
    let mut elements = Vec::new();
    loop {
        let position = reader.buffer_position();
        let event = reader
            .read_event()
            .map_err(|err| format!("malformed xml at byte {position}: {err}"))?;
        let (element, is_start) = match &event {
            Event::Start(element) => (element, true),
            Event::Empty(element) => (element, false),
            Event::End(_) => {
                open.pop();
                continue;
            }
            Event::Eof => break,
            _ => continue,
        };
        let name = element.name().as_ref().to_string();
        let mut attributes = Vec::new();
        for attribute in element.attributes() {
            let attribute =
                attribute.map_err(|err| format!("malformed attribute in <{name}>: {err}"))?;
            attributes.push((
                attribute.key.as_ref().to_string(),
                attribute.value.to_string(),
            ));
        }
        elements.push(XmlElement {
            parents: open.clone(),
            name: name.clone(),
            attributes,
        });
        if is_start {
            open.push(name);
        }
    }
    if !open.is_empty() {
        return Err(format!("unclosed elements at the end: {open:?}"));
    }
    Ok(elements)
}

/// One element of a parsed XML file.
struct XmlElement {
    /// The names of the enclosing elements, outermost first.
    parents: Vec<String>,
    name: String,
    attributes: Vec<(String, String)>,
}

impl XmlElement {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    fn is_under(&self, parent: &str) -> bool {
        self.parents.iter().any(|name| name == parent)
    }
}

/// Checks `services.xml` and returns the document types its content cluster lists.
fn check_services(xml: &str) -> Result<BTreeSet<String>, String> {
    let elements = xml_elements(xml)?;
    let root = elements.first().ok_or("no root element")?;
    if root.name != "services" {
        return Err(format!(
            "the root element is <{}>, not <services>",
            root.name
        ));
    }
    let containers = elements.iter().filter(|e| e.name == "container").count();
    if containers != 1 {
        return Err(format!("{containers} container clusters, expected 1"));
    }
    for api in ["document-api", "search"] {
        if !elements
            .iter()
            .any(|e| e.name == api && e.is_under("container"))
        {
            return Err(format!("the container has no <{api}/>"));
        }
    }
    let contents: Vec<&XmlElement> = elements.iter().filter(|e| e.name == "content").collect();
    match contents.as_slice() {
        [content] if content.attribute("id") == Some(CONTENT_CLUSTER) => {}
        _ => {
            return Err(format!(
                "expected one content cluster with id {CONTENT_CLUSTER:?}"
            ));
        }
    }
    let mut declared = BTreeSet::new();
    for document in elements
        .iter()
        .filter(|e| e.name == "document" && e.is_under("documents"))
    {
        let doc_type = document
            .attribute("type")
            .ok_or("a <document> has no type")?;
        if !declared.insert(doc_type.to_string()) {
            return Err(format!("document type {doc_type} is listed twice"));
        }
    }
    Ok(declared)
}

/// The problems of the schema file of `doc_type`, whose schema must be called `name`.
fn check_schema(doc_type: &str, name: &str, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let lines: Vec<&str> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|line| !line.is_empty())
        .collect();
    let mut depth: i64 = 0;
    for line in &lines {
        for character in line.chars() {
            match character {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                problems.push("a `}` closes nothing".to_string());
                depth = 0;
            }
        }
    }
    if depth != 0 {
        problems.push(format!("{depth} unclosed `{{`"));
    }
    let declared_after = |keyword: &str| -> Vec<String> {
        lines
            .iter()
            .filter_map(|line| line.strip_prefix(keyword))
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect()
    };
    if declared_after("schema ") != [name] {
        problems.push(format!(
            "declares schemas {:?}, expected exactly {name:?} (the file name)",
            declared_after("schema ")
        ));
    }
    if declared_after("document ") != [name] {
        problems.push(format!(
            "declares document types {:?}, expected exactly {name:?}",
            declared_after("document ")
        ));
    }
    let fields: BTreeSet<String> = declared_after("field ").into_iter().collect();
    let expected: BTreeSet<String> = fields_of_doc_type(doc_type)
        .map(|field| field.name.to_string())
        .collect();
    for missing in expected.difference(&fields) {
        problems.push(format!("lacks field {missing} of SEARCH_FIELDS"));
    }
    for unknown in fields.difference(&expected) {
        problems.push(format!(
            "declares field {unknown}, which {doc_type} documents do not carry"
        ));
    }
    let fieldset: Vec<String> = lines
        .iter()
        .filter_map(|line| line.strip_prefix("fields:"))
        .flat_map(|rest| rest.split(','))
        .map(|field| field.trim().to_string())
        .collect();
    if !lines.contains(&"fieldset default {") || fieldset.is_empty() {
        problems.push("has no `fieldset default` with fields".into());
    }
    for field in &fieldset {
        if !fields.contains(field) {
            problems.push(format!("fieldset default names undeclared field {field}"));
        }
    }
    if !lines.contains(&format!("rank-profile {RANK_PROFILE} {{").as_str()) {
        problems.push(format!("has no rank-profile {RANK_PROFILE}"));
    }
    for (at, _) in text.match_indices("bm25(") {
        let field = text[at + 5..].split(')').next().unwrap_or("");
        if !fieldset.iter().any(|name| name == field) {
            problems.push(format!("bm25({field}) is not over a default text field"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{render_schema, render_services};

    #[test]
    fn generated_files_pass_and_broken_ones_are_named() {
        assert!(check_schema("email", "email_document", &render_schema("email")).is_empty());
        let renamed = render_schema("email").replace("schema email_document", "schema mail");
        assert!(check_schema("email", "email_document", &renamed)[0].contains("\"mail\""));
        let without_title = render_schema("email").replace("field title ", "field headline ");
        let problems = check_schema("email", "email_document", &without_title);
        assert!(
            problems
                .iter()
                .any(|p| p == "lacks field title of SEARCH_FIELDS"),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("headline")),
            "{problems:?}"
        );
        let unbalanced = format!("{} }}", render_schema("todo"));
        assert!(!check_schema("todo", "todo_document", &unbalanced).is_empty());

        let declared = check_services(&render_services()).unwrap();
        assert!(declared.contains("word_fragment_document"));
        let broken = render_services().replace("</content>", "</contents>");
        assert!(
            check_services(&broken)
                .unwrap_err()
                .contains("malformed xml")
        );
    }
}
