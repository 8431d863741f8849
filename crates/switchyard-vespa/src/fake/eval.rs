//! Evaluating a parsed statement over the fake's stored documents: which documents a
//! [`Condition`] matches and with what score (`userQuery()` words against each schema's
//! `default` fieldset, weighted by the fields' boosts), then the statement's order
//! (`order by`, else best score first).

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use switchyard_search::{FieldDefinition, fields_of_doc_type};

use super::doc_type_of_schema;
use super::yql::{Condition, Statement};

/// The documents of `docs` (by schema and id) that `statement` matches for the user text
/// `text`, each with its score, in the statement's order: `order by` its field, else best
/// score first.
pub(super) fn matching<'a>(
    statement: &Statement,
    text: &str,
    docs: &'a BTreeMap<(String, String), Map<String, Value>>,
) -> Vec<(f64, String, String, &'a Map<String, Value>)> {
    let mut matched: Vec<(f64, String, String, &Map<String, Value>)> = Vec::new();
    for ((schema, id), fields) in docs {
        if !statement.sources.is_empty() && !statement.sources.contains(schema) {
            continue;
        }
        let doc_type = doc_type_of_schema(schema).unwrap();
        let context = Context {
            doc_type,
            fields,
            text,
        };
        if let Some(score) = context.eval(&statement.condition) {
            matched.push((score, schema.clone(), id.clone(), fields));
        }
    }
    match &statement.order_by {
        Some((field, descending)) => matched.sort_by_key(|(_, _, _, fields)| {
            let value = fields
                .get(field.as_str())
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if *descending { -value } else { value }
        }),
        None => matched.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap()),
    }
    matched
}

struct Context<'a> {
    doc_type: &'a str,
    fields: &'a Map<String, Value>,
    text: &'a str,
}

impl Context<'_> {
    /// The score of a match, `None` when the document does not match.
    fn eval(&self, condition: &Condition) -> Option<f64> {
        match condition {
            Condition::True => Some(0.0),
            Condition::And(parts) => parts
                .iter()
                .try_fold(0.0, |sum, part| Some(sum + self.eval(part)?)),
            Condition::Or(parts) => parts
                .iter()
                .filter_map(|part| self.eval(part))
                .reduce(f64::max),
            Condition::Not(inner) => match self.eval(inner) {
                Some(_) => None,
                None => Some(0.0),
            },
            Condition::Contains(field, value) => {
                let values = self.values(field);
                values
                    .iter()
                    .any(|stored| stored.as_str() == Some(value))
                    .then_some(0.0)
            }
            Condition::Compare(field, operator, number) => {
                let values = self.values(field);
                values
                    .iter()
                    .filter_map(Value::as_i64)
                    .any(|value| match operator.as_str() {
                        "<" => value < *number,
                        "<=" => value <= *number,
                        ">" => value > *number,
                        ">=" => value >= *number,
                        _ => value == *number,
                    })
                    .then_some(0.0)
            }
            Condition::UserQuery => self.user_query(),
        }
    }

    fn values(&self, field: &str) -> Vec<Value> {
        match self.fields.get(field) {
            Some(Value::Array(values)) => values.clone(),
            Some(value) => vec![value.clone()],
            None => Vec::new(),
        }
    }

    /// Every word of the text must be in the named field or the default fieldset.
    fn user_query(&self) -> Option<f64> {
        let defaults: Vec<&FieldDefinition> = fields_of_doc_type(self.doc_type)
            .filter(|field| field.default_search_boost.is_some())
            .collect();
        let mut score = 0.0;
        let mut any = false;
        for token in self.text.split_whitespace() {
            if matches!(token, "AND" | "OR" | "NOT") {
                continue;
            }
            let (field, word) = match token.split_once(':') {
                Some((field, word)) => (Some(field), word),
                None => (None, token),
            };
            for word in words(word) {
                any = true;
                let mut term_score = 0.0;
                for definition in &defaults {
                    if field.is_some_and(|field| field != definition.name) {
                        continue;
                    }
                    let hits = self
                        .values(definition.name)
                        .iter()
                        .filter_map(Value::as_str)
                        .flat_map(words)
                        .filter(|stored| *stored == word)
                        .count();
                    term_score += f64::from(definition.default_search_boost.unwrap()) * hits as f64;
                }
                if term_score == 0.0 {
                    return None;
                }
                score += term_score;
            }
        }
        any.then_some(score)
    }
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}
