//! A [`SearchDocument`] as the `fields` object of a document/v1 put, written from
//! `SearchDocument::field_values()` (never from the struct fields directly) and shaped by
//! the field table: arrays for multi-valued fields, dates as microseconds since the epoch.
//!
//! Two deliberate differences from the tantivy document: `key` and `parent_key` hold the
//! Vespa replacement key ([`crate::document_key`]), since the tantivy key joins its parts
//! with U+001F, and Vespa rejects control characters in strings; for the same reason,
//! control characters other than tab, newline and carriage return in any text become
//! spaces.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};
use switchyard_search::{
    FieldDefinition, FieldValue, SearchDocument, SearchError, SearchErrorKind, fields_of_doc_type,
};
use tracing::debug;

use crate::naming::{document_key, is_known_doc_type};

/// The `fields` of the put of `doc`; fails with `InvalidDocument` for a document type the
/// application package has no schema for.
pub(crate) fn feed_fields(doc: &SearchDocument) -> Result<Map<String, Value>, SearchError> {
    if !is_known_doc_type(&doc.doc_type) {
        return Err(SearchError::new(
            SearchErrorKind::InvalidDocument,
            format!(
                "rejected {} {} of user {}: vespa has no schema for document type {:?}",
                doc.doc_type, doc.id, doc.user_id, doc.doc_type
            ),
        ));
    }
    let definitions: HashMap<&str, &FieldDefinition> = fields_of_doc_type(&doc.doc_type)
        .map(|definition| (definition.name, definition))
        .collect();
    let mut fields = Map::new();
    for (name, value) in doc.field_values() {
        let Some(definition) = definitions.get(name) else {
            // The schema of this type has no such field; Vespa would reject the document.
            debug!(field = name, doc_type = %doc.doc_type, "field not in the vespa schema, skipped");
            continue;
        };
        let value = match (name, value) {
            ("key", _) => Value::String(document_key(&doc.user_id, &doc.doc_type, &doc.id)),
            ("parent_key", _) => match &doc.parent {
                Some(parent) => {
                    Value::String(document_key(&doc.user_id, &parent.doc_type, &parent.id))
                }
                None => continue,
            },
            (_, FieldValue::Text(text)) => Value::String(clean_text(&text).into_owned()),
            (_, FieldValue::Date(date)) => Value::from(date.timestamp_micros()),
            (_, FieldValue::Integer(number)) => Value::from(number),
        };
        if definition.multi_valued {
            match fields
                .entry(name)
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(values) => values.push(value),
                _ => debug_assert!(false, "{name} holds an array"),
            }
        } else {
            fields.insert(name.to_string(), value);
        }
    }
    Ok(fields)
}

/// `text` without the control characters Vespa refuses in string fields.
pub(crate) fn clean_text(text: &str) -> Cow<'_, str> {
    let refused = |c: char| {
        (c.is_control() && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{fffe}' | '\u{ffff}')
    };
    if text.chars().any(refused) {
        Cow::Owned(
            text.chars()
                .map(|c| if refused(c) { ' ' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;
    use switchyard_search::ParentLink;

    use super::*;

    #[test]
    fn a_fragment_becomes_typed_vespa_fields() {
        let at = Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
        let doc = SearchDocument {
            id: "d#1".into(),
            user_id: "alice".into(),
            doc_type: "word_fragment".into(),
            title: "Intro".into(),
            content: "page\u{c}break".into(),
            participants: vec!["ignored: fragments have none".into()],
            created_at: at,
            last_updated: at,
            sync_timestamp: at,
            parent: Some(ParentLink {
                id: "d".into(),
                doc_type: "word".into(),
                title: "Plan".into(),
                position: 1,
            }),
            ..SearchDocument::default()
        };
        let fields = Value::Object(feed_fields(&doc).unwrap());
        assert_eq!(
            fields,
            json!({
                "key": "alice:word_fragment:d%231",
                "id": "d#1",
                "user_id": "alice",
                "doc_type": "word_fragment",
                "title": "Intro",
                "content": "page break",
                "created_at": 1_714_564_800_000_000_i64,
                "last_updated": 1_714_564_800_000_000_i64,
                "sync_timestamp": 1_714_564_800_000_000_i64,
                "parent_id": "d",
                "parent_doc_type": "word",
                "parent_key": "alice:word:d",
                "parent_title": "Plan",
                "position": 1,
            })
        );
    }

    #[test]
    fn multi_valued_fields_are_arrays_and_unknown_types_are_rejected() {
        let doc = SearchDocument {
            id: "1".into(),
            user_id: "alice".into(),
            doc_type: "email".into(),
            to_addresses: vec!["a@x.com".into(), "b@x.com".into()],
            ..SearchDocument::default()
        };
        let fields = feed_fields(&doc).unwrap();
        assert_eq!(fields["to_addresses"], json!(["a@x.com", "b@x.com"]));
        assert!(
            !fields.contains_key("participants"),
            "empty arrays are left out"
        );
        let err = feed_fields(&SearchDocument {
            doc_type: "fax".into(),
            ..doc
        })
        .unwrap_err();
        assert_eq!(err.kind(), SearchErrorKind::InvalidDocument);
        assert!(
            err.to_string()
                .contains("no schema for document type \"fax\""),
            "{err}"
        );
    }
}
