//! The fake's HTTP handlers: document/v1 (put, partial update, get, remove) over the
//! in-memory store, with the field checks Vespa makes against the schema, and
//! `POST /search/` (rank profile, hit limit and `model.type` checks, then the YQL of
//! `yql.rs` evaluated by `eval.rs`), answering in Vespa's documented JSON shapes. Every
//! request is recorded first, and an injected failure answers instead when one is queued.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use switchyard_search::{FieldType, fields_of_doc_type};

use super::eval::matching;
use super::yql::parse;
use super::{Recorded, Shared, doc_type_of_schema};
use crate::document_key;

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Takes an injected failure, if any, after recording the request.
fn record(store: &Shared, method: &Method, path: String, body: &Bytes) -> Option<Response> {
    let mut store = store.lock().unwrap();
    store.requests.push(Recorded {
        method: method.to_string(),
        path,
        body: serde_json::from_slice(body).unwrap_or(Value::Null),
    });
    store.failures.pop_front().map(|(status, body)| {
        (status, [("content-type", "application/json")], body).into_response()
    })
}

pub(super) async fn document(
    State(store): State<Shared>,
    method: Method,
    Path((namespace, schema, id)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    let path_id = format!("/document/v1/{namespace}/{schema}/docid/{id}");
    if let Some(failure) = record(&store, &method, path_id.clone(), &body) {
        return failure;
    }
    let bad = |message: String| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({ "pathId": path_id, "message": message }),
        )
    };
    let Some(doc_type) = doc_type_of_schema(&schema) else {
        return bad(format!("Document type {schema} does not exist"));
    };
    if namespace != "switchyard" {
        return bad(format!("unexpected namespace {namespace}"));
    }
    let full_id = format!("id:{namespace}:{schema}::{id}");
    let key = (schema.clone(), id.clone());
    match method {
        Method::POST => {
            let Ok(Value::Object(mut request)) = serde_json::from_slice::<Value>(&body) else {
                return bad("Could not read document, no document?".into());
            };
            let Some(Value::Object(fields)) = request.remove("fields") else {
                return bad("Could not read document, no fields".into());
            };
            if let Err(message) = check_fields(doc_type, &schema, &fields) {
                return bad(message);
            }
            // The backend's ids are deterministic: the key of (user, type, id).
            let expected = document_key(
                fields["user_id"].as_str().unwrap_or_default(),
                doc_type,
                fields["id"].as_str().unwrap_or_default(),
            );
            if id != expected || fields.get("key") != Some(&Value::from(expected.clone())) {
                return bad(format!("document id {id} is not the key {expected}"));
            }
            store.lock().unwrap().docs.insert(key, fields);
            json_response(StatusCode::OK, json!({ "pathId": path_id, "id": full_id }))
        }
        Method::PUT => {
            // A partial update: `{"fields": {"f": {"assign": v}}}` of an existing document.
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut store = store.lock().unwrap();
            let Some(doc) = store.docs.get_mut(&key) else {
                return json_response(
                    StatusCode::PRECONDITION_FAILED,
                    json!({ "pathId": path_id, "id": full_id, "message": "Document does not exist" }),
                );
            };
            for (name, update) in request["fields"].as_object().cloned().unwrap_or_default() {
                if let Some(value) = update.get("assign") {
                    doc.insert(name, value.clone());
                }
            }
            json_response(StatusCode::OK, json!({ "pathId": path_id, "id": full_id }))
        }
        Method::GET => match store.lock().unwrap().docs.get(&key) {
            Some(fields) => json_response(
                StatusCode::OK,
                json!({ "pathId": path_id, "id": full_id, "fields": fields }),
            ),
            None => json_response(
                StatusCode::NOT_FOUND,
                json!({ "pathId": path_id, "id": full_id }),
            ),
        },
        Method::DELETE => {
            // Removing a missing document succeeds, as in Vespa.
            store.lock().unwrap().docs.remove(&key);
            json_response(StatusCode::OK, json!({ "pathId": path_id, "id": full_id }))
        }
        _ => json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            json!({ "pathId": path_id, "message": "method not allowed" }),
        ),
    }
}

/// Checks fields as Vespa would: declared in the schema, of the declared type.
fn check_fields(doc_type: &str, schema: &str, fields: &Map<String, Value>) -> Result<(), String> {
    for (name, value) in fields {
        let Some(definition) = fields_of_doc_type(doc_type).find(|field| field.name == name) else {
            return Err(format!(
                "No field '{name}' in the structure of type '{schema}'"
            ));
        };
        let values: Vec<&Value> = match (definition.multi_valued, value) {
            (true, Value::Array(values)) => values.iter().collect(),
            (false, value) if !value.is_array() => vec![value],
            _ => return Err(format!("field '{name}' has the wrong arity")),
        };
        for value in values {
            let ok = match definition.field_type {
                FieldType::Text | FieldType::Keyword => value.as_str().is_some_and(|text| {
                    !text
                        .chars()
                        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
                }),
                FieldType::Date | FieldType::Integer => value.is_i64() || value.is_u64(),
            };
            if !ok {
                return Err(format!("field '{name}' cannot hold {value}"));
            }
        }
    }
    Ok(())
}

pub(super) async fn search(State(store): State<Shared>, method: Method, body: Bytes) -> Response {
    if let Some(failure) = record(&store, &method, "/search/".into(), &body) {
        return failure;
    }
    let error = |code: i64, summary: &str, message: String| {
        json_response(
            StatusCode::BAD_REQUEST,
            json!({ "root": {
                "id": "toplevel",
                "relevance": 1.0,
                "fields": { "totalCount": 0 },
                "errors": [{ "code": code, "summary": summary, "source": "switchyard_container", "message": message }]
            }}),
        )
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let param = |nested: &str, flat: &str| {
        request
            .pointer(nested)
            .or_else(|| request.get(flat))
            .cloned()
    };
    let profile = param("/ranking/profile", "ranking.profile")
        .or_else(|| request.get("ranking").filter(|v| v.is_string()).cloned())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "default".into());
    if profile != "switchyard" {
        return error(
            4,
            "Invalid query parameter",
            format!("rank profile '{profile}' does not exist"),
        );
    }
    let Some(yql) = request["yql"].as_str() else {
        return error(4, "Invalid query parameter", "no yql".into());
    };
    let statement = match parse(yql) {
        Ok(statement) => statement,
        Err(message) => {
            return error(
                4,
                "Invalid query parameter",
                format!("Could not parse '{yql}': {message}"),
            );
        }
    };
    let text = request["query"].as_str().unwrap_or_default().to_string();
    if param("/model/type", "model.type")
        .and_then(|v| v.as_str().map(str::to_string))
        .as_deref()
        != Some("all")
        && !text.is_empty()
    {
        return error(
            4,
            "Invalid query parameter",
            "expected model.type all".into(),
        );
    }
    let hits = request["hits"].as_u64().unwrap_or(10) as usize;
    let offset = request["offset"].as_u64().unwrap_or(0) as usize;
    if hits > 400 {
        return error(
            4,
            "Invalid query parameter",
            format!("{hits} hits requested, configured limit: 400."),
        );
    }

    let store = store.lock().unwrap();
    let matched = matching(&statement, &text, &store.docs);
    let total = matched.len();
    let children: Vec<Value> = matched
        .into_iter()
        .skip(offset)
        .take(hits)
        .map(|(score, schema, id, fields)| {
            let doc_type = doc_type_of_schema(&schema).unwrap();
            let mut summary: Map<String, Value> = fields
                .iter()
                .filter(|(name, _)| is_summary(doc_type, name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect();
            let full_id = format!("id:switchyard:{schema}::{id}");
            summary.insert("sddocname".into(), Value::from(schema.clone()));
            summary.insert("documentid".into(), Value::from(full_id.clone()));
            json!({ "id": full_id, "relevance": score, "source": "switchyard", "fields": summary })
        })
        .collect();
    let mut root = json!({
        "id": "toplevel",
        "relevance": 1.0,
        "fields": { "totalCount": total },
        "coverage": { "coverage": 100, "documents": store.docs.len(), "full": true, "nodes": 1, "results": 1, "resultsFull": 1 },
    });
    // Vespa leaves `children` out when nothing is returned.
    if !children.is_empty() {
        root["children"] = Value::Array(children);
    }
    json_response(StatusCode::OK, json!({ "root": root }))
}

fn is_summary(doc_type: &str, name: &str) -> bool {
    fields_of_doc_type(doc_type).any(|field| field.name == name && field.stored)
}
