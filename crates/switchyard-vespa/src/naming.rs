//! The names the application package and the client share: namespace, content cluster,
//! rank profile, one schema per document type, which types are fragments of which, and
//! the deterministic Vespa document id of a `(user, doc type, id)` triple.
//!
//! Everything here is derived from `DataKind::ALL` and `SEARCH_FIELDS`; no list of types
//! or fields is written by hand.

use switchyard_contracts::DataKind;
use switchyard_search::fields_of_doc_type;

/// The document id namespace of every Switchyard document (`id:switchyard:…`).
pub const NAMESPACE: &str = "switchyard";

/// The content cluster holding every document type, as `services.xml` declares it.
pub const CONTENT_CLUSTER: &str = "switchyard";

/// The rank profile every schema defines: BM25 with the recency boost.
pub const RANK_PROFILE: &str = "switchyard";

/// Suffix of the fragment document types (`word_fragment` belongs to `word`).
const FRAGMENT_SUFFIX: &str = "_fragment";

/// The Vespa schema (and document type) of search documents of `doc_type`:
/// `email` → `email_document`.
pub fn schema_name(doc_type: &str) -> String {
    format!("{doc_type}_document")
}

/// Every search document type, in `DataKind::ALL` order.
pub(crate) fn doc_types() -> impl Iterator<Item = &'static str> {
    DataKind::ALL.iter().map(|kind| kind.doc_type())
}

/// Whether the package has a schema for `doc_type`.
pub(crate) fn is_known_doc_type(doc_type: &str) -> bool {
    DataKind::from_doc_type(doc_type).is_some()
}

/// Whether documents of `doc_type` carry `field` (a name of `SEARCH_FIELDS`).
pub(crate) fn has_field(doc_type: &str, field: &str) -> bool {
    fields_of_doc_type(doc_type).any(|definition| definition.name == field)
}

/// The fragment types: those whose documents link to a parent (`parent_id`).
pub(crate) fn fragment_doc_types() -> Vec<&'static str> {
    doc_types()
        .filter(|doc_type| has_field(doc_type, "parent_id"))
        .collect()
}

/// The fragment types whose fragments belong to documents of `doc_type`
/// (`word` → `word_fragment`); empty for types without fragments.
pub(crate) fn fragment_types_of(doc_type: &str) -> Vec<&'static str> {
    fragment_doc_types()
        .into_iter()
        .filter(|fragment| fragment.strip_suffix(FRAGMENT_SUFFIX) == Some(doc_type))
        .collect()
}

/// The replacement key of `(user_id, doc_type, id)` as Vespa stores it: each part
/// percent-encoded (everything but `A-Z a-z 0-9 - . _ ~`), joined by `:`, so the key is
/// unambiguous, readable, and free of the control characters Vespa rejects in strings.
/// It is the user-specified part of the document id and the value of the `key` field.
pub fn document_key(user_id: &str, doc_type: &str, id: &str) -> String {
    let mut key = String::with_capacity(user_id.len() + doc_type.len() + id.len() + 2);
    for (position, part) in [user_id, doc_type, id].into_iter().enumerate() {
        if position > 0 {
            key.push(':');
        }
        for byte in part.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                key.push(char::from(byte));
            } else {
                key.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    key
}

/// The full Vespa document id: `id:switchyard:{doc_type}_document::{key}`.
pub fn document_id(user_id: &str, doc_type: &str, id: &str) -> String {
    format!(
        "id:{NAMESPACE}:{}::{}",
        schema_name(doc_type),
        document_key(user_id, doc_type, id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_encode_every_separator_and_control_character() {
        assert_eq!(document_key("alice", "email", "1"), "alice:email:1");
        assert_eq!(
            document_key("a:b", "email", "<m 1@x.com>/\u{1f}"),
            "a%3Ab:email:%3Cm%201%40x.com%3E%2F%1F"
        );
        assert_eq!(document_key("é", "todo", ""), "%C3%A9:todo:");
        assert_eq!(
            document_id("alice", "word_fragment", "d#0"),
            "id:switchyard:word_fragment_document::alice:word_fragment:d%230"
        );
    }

    #[test]
    fn fragment_types_are_derived_from_the_field_table() {
        assert_eq!(
            fragment_doc_types(),
            ["word_fragment", "sheet_fragment", "presentation_fragment"]
        );
        assert_eq!(fragment_types_of("word"), ["word_fragment"]);
        assert_eq!(fragment_types_of("presentation"), ["presentation_fragment"]);
        assert!(fragment_types_of("email").is_empty());
        assert!(fragment_types_of("word_fragment").is_empty());
        assert_eq!(schema_name("todo"), "todo_document");
        assert!(is_known_doc_type("meeting_booking") && !is_known_doc_type("nope"));
    }
}
