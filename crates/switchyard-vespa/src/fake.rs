//! A fake Vespa container for tests (feature `testsuite`), here and in the CLI's: document/v1 (put, update, get, remove)
//! and `POST /search/` answering in Vespa's documented JSON shapes, over an in-memory
//! store. `/search/` parses and evaluates the YQL subset the backend generates
//! (`select … from sources … where …`, `contains`, comparisons, `and`/`or`/`!`,
//! `userQuery()`, `order by`), matching `userQuery()` words against the `default`
//! fieldset of each schema. Every request is recorded for inspection, and the next
//! responses can be replaced by injected failures. [`FakeVespa::start_tls`] serves the
//! same over `https://` with a given certificate.

mod tls;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use crate::{document_id, document_key, schema_name};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Map, Value, json};
use switchyard_contracts::DataKind;
use switchyard_search::{FieldDefinition, FieldType, fields_of_doc_type};

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, with its query string.
    pub path: String,
    /// The JSON body (`null` when there is none).
    pub body: Value,
}

#[derive(Default)]
struct Store {
    /// `(schema, user-specified id)` → fields.
    docs: BTreeMap<(String, String), Map<String, Value>>,
    requests: Vec<Recorded>,
    failures: VecDeque<(StatusCode, String)>,
}

type Shared = Arc<Mutex<Store>>;

/// A running fake; its server thread lives until the test process ends.
pub struct FakeVespa {
    /// Where it listens: `http://127.0.0.1:{port}`.
    pub url: String,
    store: Shared,
}

impl FakeVespa {
    /// Starts the fake on a free loopback port, on a thread of its own.
    pub fn start() -> FakeVespa {
        FakeVespa::start_on(None)
    }

    /// Starts the fake on a free loopback port, serving `https://` with the certificate
    /// chain `cert_pem` and its PKCS#8 key `key_pem`; its `url` names `localhost`.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> FakeVespa {
        FakeVespa::start_on(Some((cert_pem.to_string(), key_pem.to_string())))
    }

    fn start_on(tls: Option<(String, String)>) -> FakeVespa {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = match tls {
            Some(_) => format!("https://localhost:{port}"),
            None => format!("http://127.0.0.1:{port}"),
        };
        let store = Shared::default();
        let app = Router::new()
            .route(
                "/document/v1/{namespace}/{doc_type}/docid/{id}",
                any(document),
            )
            .route("/search/", post(search))
            .with_state(store.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                match tls {
                    Some((cert_pem, key_pem)) => {
                        let listener = tls::TlsListener::new(listener, &cert_pem, &key_pem)
                            .expect("the test's certificate and key are valid PEM");
                        axum::serve(listener, app).await.unwrap();
                    }
                    None => axum::serve(listener, app).await.unwrap(),
                }
            });
        });
        FakeVespa { url, store }
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.store.lock().unwrap().requests.clone()
    }

    /// The YQL of every query received, in order.
    pub fn yqls(&self) -> Vec<String> {
        self.requests()
            .into_iter()
            .filter(|request| request.path == "/search/")
            .map(|request| request.body["yql"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.store.lock().unwrap().requests.clear();
    }

    /// The next request is answered with `status` and `body` instead.
    pub fn fail_next(&self, status: u16, body: Value) {
        self.store
            .lock()
            .unwrap()
            .failures
            .push_back((StatusCode::from_u16(status).unwrap(), body.to_string()));
    }

    /// The user-specified ids stored in `schema`.
    pub fn stored_ids(&self, schema: &str) -> Vec<String> {
        self.store
            .lock()
            .unwrap()
            .docs
            .keys()
            .filter(|(stored_schema, _)| stored_schema == schema)
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// The stored fields of document `id` of `schema`, if any.
    pub fn stored(&self, schema: &str, id: &str) -> Option<Map<String, Value>> {
        let store = self.store.lock().unwrap();
        store
            .docs
            .get(&(schema.to_string(), id.to_string()))
            .cloned()
    }
}

fn doc_type_of_schema(schema: &str) -> Option<&'static str> {
    DataKind::ALL
        .iter()
        .map(|kind| kind.doc_type())
        .find(|doc_type| schema_name(doc_type) == schema)
}

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

async fn document(
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

async fn search(State(store): State<Shared>, method: Method, body: Bytes) -> Response {
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
    let mut matched: Vec<(f64, String, String, &Map<String, Value>)> = Vec::new();
    for ((schema, id), fields) in &store.docs {
        if !statement.sources.is_empty() && !statement.sources.contains(schema) {
            continue;
        }
        let doc_type = doc_type_of_schema(schema).unwrap();
        let context = Context {
            doc_type,
            fields,
            text: &text,
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

/// The id Vespa gives the document of `(user, type, id)`.
pub fn vespa_id(user_id: &str, doc_type: &str, id: &str) -> String {
    document_id(user_id, doc_type, id)
}

// ---- the YQL subset ----------------------------------------------------------------

#[derive(Debug)]
struct Statement {
    /// Empty for `sources *`.
    sources: HashSet<String>,
    condition: Condition,
    order_by: Option<(String, bool)>,
}

#[derive(Debug)]
enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    True,
    UserQuery,
    Contains(String, String),
    Compare(String, String, i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Text(String),
    Number(i64),
    Symbol(String),
}

fn tokenize(yql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = yql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string".into()),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        match chars.get(i) {
                            Some('n') => text.push('\n'),
                            Some('t') => text.push('\t'),
                            Some('r') => text.push('\r'),
                            Some('u') => {
                                let hex: String = chars[i + 1..i + 5].iter().collect();
                                text.push(
                                    char::from_u32(
                                        u32::from_str_radix(&hex, 16).map_err(|e| e.to_string())?,
                                    )
                                    .unwrap(),
                                );
                                i += 4;
                            }
                            Some(other) => text.push(*other),
                            None => return Err("dangling escape".into()),
                        }
                    }
                    Some(other) => text.push(*other),
                }
                i += 1;
            }
            i += 1;
            tokens.push(Token::Text(text));
        } else if c.is_ascii_digit()
            || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            i += 1;
            while chars.get(i).is_some_and(char::is_ascii_digit) {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            tokens.push(Token::Number(number.parse().map_err(|_| "bad number")?));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while chars
                .get(i)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            if [">=", "<=", "!="].contains(&two.as_str()) {
                tokens.push(Token::Symbol(two));
                i += 2;
            } else if "()*,<>=!".contains(c) {
                tokens.push(Token::Symbol(c.to_string()));
                i += 1;
            } else {
                return Err(format!("unexpected character {c:?}"));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Result<Token, String> {
        let token = self.tokens.get(self.at).cloned().ok_or("unexpected end")?;
        self.at += 1;
        Ok(token)
    }
    fn word(&mut self, expected: &str) -> Result<(), String> {
        match self.next()? {
            Token::Word(word) if word == expected => Ok(()),
            other => Err(format!("expected {expected}, found {other:?}")),
        }
    }
    fn symbol(&mut self, expected: &str) -> Result<(), String> {
        match self.next()? {
            Token::Symbol(symbol) if symbol == expected => Ok(()),
            other => Err(format!("expected {expected}, found {other:?}")),
        }
    }
    fn is_word(&self, expected: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word == expected)
    }
    fn identifier(&mut self) -> Result<String, String> {
        match self.next()? {
            Token::Word(word) => Ok(word),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }
    /// `*` or `name, name, …`; empty for `*`.
    fn names(&mut self) -> Result<HashSet<String>, String> {
        if self.peek() == Some(&Token::Symbol("*".into())) {
            self.at += 1;
            return Ok(HashSet::new());
        }
        let mut names = HashSet::from([self.identifier()?]);
        while self.peek() == Some(&Token::Symbol(",".into())) {
            self.at += 1;
            names.insert(self.identifier()?);
        }
        Ok(names)
    }
    fn or(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.and()?];
        while self.is_word("or") {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Condition::Or(parts)
        })
    }
    fn and(&mut self) -> Result<Condition, String> {
        let mut parts = vec![self.unary()?];
        while self.is_word("and") {
            self.at += 1;
            parts.push(self.unary()?);
        }
        Ok(if parts.len() == 1 {
            parts.pop().unwrap()
        } else {
            Condition::And(parts)
        })
    }
    fn unary(&mut self) -> Result<Condition, String> {
        match self.next()? {
            Token::Symbol(symbol) if symbol == "!" => Ok(Condition::Not(Box::new(self.unary()?))),
            Token::Symbol(symbol) if symbol == "(" => {
                let inner = self.or()?;
                self.symbol(")")?;
                Ok(inner)
            }
            Token::Word(word) if word == "true" => Ok(Condition::True),
            Token::Word(word) if word == "userQuery" => {
                self.symbol("(")?;
                self.symbol(")")?;
                Ok(Condition::UserQuery)
            }
            Token::Word(field) => match self.next()? {
                Token::Word(operator) if operator == "contains" => match self.next()? {
                    Token::Text(value) => Ok(Condition::Contains(field, value)),
                    other => Err(format!("contains needs a string, found {other:?}")),
                },
                Token::Symbol(operator)
                    if ["<", "<=", ">", ">=", "="].contains(&operator.as_str()) =>
                {
                    match self.next()? {
                        Token::Number(number) => Ok(Condition::Compare(field, operator, number)),
                        other => Err(format!("{operator} needs a number, found {other:?}")),
                    }
                }
                other => Err(format!("unexpected {other:?} after {field}")),
            },
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

fn parse(yql: &str) -> Result<Statement, String> {
    let mut parser = Parser {
        tokens: tokenize(yql)?,
        at: 0,
    };
    parser.word("select")?;
    parser.names()?;
    parser.word("from")?;
    let sources = if parser.is_word("sources") {
        parser.at += 1;
        parser.names()?
    } else {
        HashSet::from([parser.identifier()?])
    };
    parser.word("where")?;
    let condition = parser.or()?;
    let mut order_by = None;
    if parser.is_word("order") {
        parser.at += 1;
        parser.word("by")?;
        let field = parser.identifier()?;
        let descending = match parser.peek() {
            Some(Token::Word(word)) if word == "desc" => true,
            Some(Token::Word(word)) if word == "asc" => false,
            _ => return Err("order by needs asc or desc".into()),
        };
        parser.at += 1;
        order_by = Some((field, descending));
    }
    if parser.at != parser.tokens.len() {
        return Err(format!("trailing tokens from {:?}", parser.peek()));
    }
    Ok(Statement {
        sources,
        condition,
        order_by,
    })
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
