//! The YQL statements the backend sends. Every statement is built by [`Select`], whose
//! `where` clause always contains `user_id contains "{user}"`, so no query path reads
//! another user's documents; the user's free text never enters the YQL (it travels in the
//! `query` parameter and is parsed by `userQuery()`).

use switchyard_search::{SearchQuery, SortOrder};

use crate::naming::{doc_types, fragment_types_of, has_field, is_known_doc_type, schema_name};

/// One `select` statement over some schemas, scoped to one user.
#[derive(Debug, Clone)]
pub(crate) struct Select {
    user_id: String,
    sources: Vec<String>,
    user_query: bool,
    conditions: Vec<String>,
    order_by: Option<&'static str>,
}

impl Select {
    /// `select * from sources {sources} where user_id contains "{user_id}"`.
    pub(crate) fn new(user_id: &str, sources: Vec<String>) -> Select {
        debug_assert!(!sources.is_empty(), "a select needs sources");
        Select {
            user_id: user_id.to_string(),
            sources,
            user_query: false,
            conditions: Vec::new(),
            order_by: None,
        }
    }

    /// Also matches the `query` request parameter against the default fieldset.
    pub(crate) fn with_user_query(mut self) -> Select {
        self.user_query = true;
        self
    }

    /// Adds a condition, joined with `and`.
    pub(crate) fn and(mut self, condition: String) -> Select {
        self.conditions.push(condition);
        self
    }

    /// Orders by an attribute (`last_updated desc`) instead of relevance.
    pub(crate) fn order_by(mut self, order: &'static str) -> Select {
        self.order_by = Some(order);
        self
    }

    /// The statement.
    pub(crate) fn yql(&self) -> String {
        let mut yql = format!("select * from sources {} where ", self.sources.join(", "));
        if self.user_query {
            yql.push_str("userQuery() and ");
        }
        yql.push_str(&contains("user_id", &self.user_id));
        for condition in &self.conditions {
            yql.push_str(" and ");
            yql.push_str(condition);
        }
        if let Some(order) = self.order_by {
            yql.push_str(" order by ");
            yql.push_str(order);
        }
        yql
    }
}

/// `{field} contains "{value}"`: an exact match on a keyword attribute.
pub(crate) fn contains(field: &str, value: &str) -> String {
    format!("{field} contains {}", quote(value))
}

/// `(a or b or …)`.
pub(crate) fn any_of(conditions: Vec<String>) -> String {
    format!("({})", conditions.join(" or "))
}

/// A YQL string literal: double quotes, with backslash escapes for `"`, `\` and control
/// characters.
pub(crate) fn quote(value: &str) -> String {
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for character in value.chars() {
        match character {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            other if other.is_control() => {
                quoted.push_str(&format!("\\u{:04x}", u32::from(other)));
            }
            other => quoted.push(other),
        }
    }
    quoted.push('"');
    quoted
}

/// Every schema, in `DataKind::ALL` order.
pub(crate) fn all_schemas() -> Vec<String> {
    doc_types().map(schema_name).collect()
}

/// The schemas a search can find results in: for each requested type its own schema and
/// the schemas of its fragments (a type names the result); narrowed to schemas with
/// `addresses` when a participant is asked for. Empty when nothing can match.
pub(crate) fn search_sources(query: &SearchQuery) -> Vec<String> {
    let requested = query.requested_doc_types();
    let mut types: Vec<&str> = if requested.is_empty() {
        doc_types().collect()
    } else {
        doc_types()
            .filter(|doc_type| {
                requested.iter().any(|wanted| {
                    wanted == doc_type
                        || (is_known_doc_type(wanted)
                            && fragment_types_of(wanted).contains(doc_type))
                })
            })
            .collect()
    };
    if query.participant.is_some() {
        types.retain(|doc_type| has_field(doc_type, "addresses"));
    }
    types.into_iter().map(schema_name).collect()
}

/// The statement of a search, or `None` when no schema can hold a result.
pub(crate) fn search_select(query: &SearchQuery) -> Option<Select> {
    let sources = search_sources(query);
    if sources.is_empty() {
        return None;
    }
    let has_text = !query.text.trim().is_empty();
    let mut select = Select::new(&query.user_id, sources);
    if has_text {
        select = select.with_user_query();
    }
    let requested = query.requested_doc_types();
    if !requested.is_empty() {
        // Mirrors the tantivy filter: the type itself, or the type of a fragment's parent.
        let any_type = requested
            .iter()
            .flat_map(|doc_type| {
                [
                    contains("doc_type", doc_type),
                    contains("parent_doc_type", doc_type),
                ]
            })
            .collect();
        select = select.and(any_of(any_type));
    }
    if let Some(range) = &query.date_range {
        let field = range.field.field_name();
        if let Some(from) = range.from {
            select = select.and(format!("{field} >= {}", from.timestamp_micros()));
        }
        if let Some(to) = range.to {
            select = select.and(format!("{field} < {}", to.timestamp_micros()));
        }
    }
    if let Some(participant) = &query.participant {
        select = select.and(contains("addresses", &participant.trim().to_lowercase()));
    }
    match query.sort {
        SortOrder::Relevance if has_text => {}
        SortOrder::Relevance | SortOrder::LastUpdated => {
            select = select.order_by("last_updated desc");
        }
        SortOrder::SyncTimestamp => select = select.order_by("sync_timestamp desc"),
    }
    Some(select)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use switchyard_search::{DateField, DateRange};

    use super::*;

    fn check(query: SearchQuery, expected: &str) {
        let yql = search_select(&query).map(|select| select.yql());
        assert_eq!(yql.as_deref().unwrap_or("<none>"), expected);
    }

    fn query(text: &str) -> SearchQuery {
        SearchQuery {
            text: text.into(),
            user_id: "alice".into(),
            limit: 10,
            ..SearchQuery::default()
        }
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(quote("x\ny\u{1f}"), r#""x\ny\u001f""#);
    }

    #[test]
    fn search_statements() {
        let all = all_schemas().join(", ");
        check(
            query("budget"),
            &format!(
                "select * from sources {all} where userQuery() and user_id contains \"alice\""
            ),
        );
        check(
            query(""),
            &format!(
                "select * from sources {all} where user_id contains \"alice\" order by last_updated desc"
            ),
        );
        check(
            SearchQuery {
                doc_type: Some("word".into()),
                sort: SortOrder::SyncTimestamp,
                ..query("plan")
            },
            "select * from sources word_document, word_fragment_document where userQuery() \
             and user_id contains \"alice\" and (doc_type contains \"word\" or parent_doc_type \
             contains \"word\") order by sync_timestamp desc",
        );
        let day = |d| Utc.with_ymd_and_hms(2024, 5, d, 0, 0, 0).unwrap();
        check(
            SearchQuery {
                doc_types: vec!["email".into(), "word_fragment".into()],
                date_range: Some(DateRange {
                    field: DateField::UpdatedAt,
                    from: Some(day(1)),
                    to: Some(day(2)),
                }),
                participant: Some(" Bob@X.com ".into()),
                ..query("x")
            },
            "select * from sources email_document where userQuery() and user_id contains \
             \"alice\" and (doc_type contains \"email\" or parent_doc_type contains \"email\" \
             or doc_type contains \"word_fragment\" or parent_doc_type contains \
             \"word_fragment\") and last_updated >= 1714521600000000 and last_updated < \
             1714608000000000 and addresses contains \"bob@x.com\"",
        );
        check(
            SearchQuery {
                doc_type: Some("nope".into()),
                ..query("x")
            },
            "<none>",
        );
    }
}
