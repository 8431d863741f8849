//! The tantivy schema of the search index, built from [`SEARCH_FIELDS`]: field
//! options per [`FieldType`], how a [`SearchDocument`] becomes a tantivy document,
//! and how a stored document reads back.
//!
//! This is a durable format. An index on disk is only opened when its schema equals
//! [`SearchFields::new`]'s exactly, so adding, removing or changing any field (name,
//! options, order) makes existing indexes fail with `SchemaMismatch`. Recovery is a rebuild:
//! delete the index directory and replay the office topics from their start; documents are
//! keyed by `(user_id, doc_type, id)`, so a replay converges to the same index.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use switchyard_search::{
    FieldType, FieldValue, MatchedHit, ParentLink, SEARCH_FIELDS, SearchDocument,
};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, NumericOptions, Schema,
    TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument, Term};

/// Tokenizer of every free-text field; part of the format, registered on each open.
const TEXT_TOKENIZER: &str = "switchyard_text";

/// The schema and a handle for each field the index code uses by itself.
pub(crate) struct SearchFields {
    pub(crate) schema: Schema,
    by_name: HashMap<&'static str, Field>,
    pub(crate) key: Field,
    pub(crate) id: Field,
    pub(crate) user_id: Field,
    pub(crate) doc_type: Field,
    pub(crate) title: Field,
    pub(crate) content: Field,
    pub(crate) participants: Field,
    pub(crate) addresses: Field,
    pub(crate) created_at: Field,
    pub(crate) last_updated: Field,
    pub(crate) sync_timestamp: Field,
    pub(crate) parent_id: Field,
    pub(crate) parent_doc_type: Field,
    pub(crate) parent_key: Field,
    pub(crate) parent_title: Field,
    pub(crate) position: Field,
}

impl SearchFields {
    pub(crate) fn new() -> Self {
        let mut builder = Schema::builder();
        let mut by_name = HashMap::new();
        for definition in SEARCH_FIELDS {
            let name = definition.name;
            let field = match definition.field_type {
                FieldType::Text | FieldType::Keyword => {
                    let (tokenizer, record) = match definition.field_type {
                        FieldType::Text => {
                            (TEXT_TOKENIZER, IndexRecordOption::WithFreqsAndPositions)
                        }
                        _ => ("raw", IndexRecordOption::Basic),
                    };
                    let mut options = TextOptions::default();
                    if definition.indexed {
                        options = options.set_indexing_options(
                            TextFieldIndexing::default()
                                .set_tokenizer(tokenizer)
                                .set_index_option(record),
                        );
                    }
                    if definition.stored {
                        options = options.set_stored();
                    }
                    if definition.attribute {
                        options = options.set_fast(None);
                    }
                    builder.add_text_field(name, options)
                }
                FieldType::Date => {
                    let mut options =
                        DateOptions::default().set_precision(DateTimePrecision::Microseconds);
                    if definition.indexed {
                        options = options.set_indexed();
                    }
                    if definition.stored {
                        options = options.set_stored();
                    }
                    if definition.attribute {
                        options = options.set_fast();
                    }
                    builder.add_date_field(name, options)
                }
                FieldType::Integer => {
                    let mut options = NumericOptions::default();
                    if definition.indexed {
                        options = options.set_indexed();
                    }
                    if definition.stored {
                        options = options.set_stored();
                    }
                    if definition.attribute {
                        options = options.set_fast();
                    }
                    builder.add_u64_field(name, options)
                }
            };
            by_name.insert(name, field);
        }
        let field = |name: &str| {
            *by_name
                .get(name)
                .unwrap_or_else(|| panic!("SEARCH_FIELDS defines `{name}`"))
        };
        SearchFields {
            key: field("key"),
            id: field("id"),
            user_id: field("user_id"),
            doc_type: field("doc_type"),
            title: field("title"),
            content: field("content"),
            participants: field("participants"),
            addresses: field("addresses"),
            created_at: field("created_at"),
            last_updated: field("last_updated"),
            sync_timestamp: field("sync_timestamp"),
            parent_id: field("parent_id"),
            parent_doc_type: field("parent_doc_type"),
            parent_key: field("parent_key"),
            parent_title: field("parent_title"),
            position: field("position"),
            schema: builder.build(),
            by_name,
        }
    }

    /// Registers the tokenizer the schema names; every opened index needs it.
    pub(crate) fn register_tokenizers(index: &Index) {
        // Words, lowercased and with accents folded, so that `jose` finds `José`.
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build();
        index.tokenizers().register(TEXT_TOKENIZER, analyzer);
    }

    /// The fields free text is matched against when a query names no field, with boosts.
    pub(crate) fn default_text_fields(&self) -> Vec<(Field, f32)> {
        SEARCH_FIELDS
            .iter()
            .filter_map(|definition| {
                definition
                    .default_search_boost
                    .map(|boost| (self.by_name[definition.name], boost))
            })
            .collect()
    }

    /// The term that identifies one document, for replacing or deleting it.
    pub(crate) fn key_term(&self, user_id: &str, doc_type: &str, id: &str) -> Term {
        Term::from_field_text(
            self.key,
            &SearchDocument::replacement_key(user_id, doc_type, id),
        )
    }

    /// The term every fragment of one document carries.
    pub(crate) fn parent_key_term(&self, user_id: &str, doc_type: &str, id: &str) -> Term {
        Term::from_field_text(
            self.parent_key,
            &SearchDocument::replacement_key(user_id, doc_type, id),
        )
    }

    pub(crate) fn to_tantivy(&self, doc: &SearchDocument) -> TantivyDocument {
        let mut out = TantivyDocument::new();
        for (name, value) in doc.field_values() {
            // `field_values` writes only names of SEARCH_FIELDS; a unit test checks it.
            let Some(&field) = self.by_name.get(name) else {
                debug_assert!(false, "{name} is not in SEARCH_FIELDS");
                continue;
            };
            match value {
                FieldValue::Text(text) => out.add_text(field, text),
                FieldValue::Date(date) => out.add_date(field, to_tantivy_date(date)),
                FieldValue::Integer(number) => out.add_u64(field, number),
            }
        }
        out
    }

    /// The identity and display fields of a retrieved document, with a score of 0.
    pub(crate) fn stored_fields(&self, doc: &TantivyDocument) -> MatchedHit {
        let text = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_str())
                .map(str::to_string)
        };
        // Every document is written with its dates; a missing one reads as the epoch.
        let date = |field| {
            doc.get_first(field)
                .and_then(|value| value.as_datetime())
                .map(from_tantivy_date)
                .unwrap_or_default()
        };
        let parent = text(self.parent_id).map(|id| ParentLink {
            id,
            doc_type: text(self.parent_doc_type).unwrap_or_default(),
            title: text(self.parent_title).unwrap_or_default(),
            position: doc
                .get_first(self.position)
                .and_then(|value| value.as_u64())
                .map_or(0, |position| u32::try_from(position).unwrap_or(u32::MAX)),
        });
        MatchedHit {
            id: text(self.id).unwrap_or_default(),
            doc_type: text(self.doc_type).unwrap_or_default(),
            title: text(self.title).unwrap_or_default(),
            content: text(self.content).unwrap_or_default(),
            participants: doc
                .get_all(self.participants)
                .filter_map(|value| value.as_str().map(str::to_string))
                .collect(),
            created_at: date(self.created_at),
            last_updated: date(self.last_updated),
            sync_timestamp: date(self.sync_timestamp),
            parent,
            score: 0.0,
        }
    }
}

pub(crate) fn to_tantivy_date(value: DateTime<Utc>) -> tantivy::DateTime {
    tantivy::DateTime::from_timestamp_micros(value.timestamp_micros())
}

fn from_tantivy_date(value: tantivy::DateTime) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(value.into_timestamp_micros()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_has_every_defined_field_in_table_order() {
        let fields = SearchFields::new();
        let names: Vec<&str> = fields
            .schema
            .fields()
            .map(|(_, entry)| entry.name())
            .collect();
        let defined: Vec<&str> = SEARCH_FIELDS.iter().map(|field| field.name).collect();
        assert_eq!(names, defined);
        for definition in SEARCH_FIELDS {
            let entry = fields
                .schema
                .get_field_entry(fields.by_name[definition.name]);
            assert_eq!(entry.is_fast(), definition.attribute, "{}", definition.name);
            assert_eq!(entry.is_stored(), definition.stored, "{}", definition.name);
            assert_eq!(
                entry.is_indexed(),
                definition.indexed,
                "{}",
                definition.name
            );
        }
        assert!(fields.default_text_fields().contains(&(fields.title, 2.0)));
    }
}
