//! A fake Vespa container for tests (feature `testsuite`), here and in the CLI's: document/v1 (put, update, get, remove)
//! and `POST /search/` answering in Vespa's documented JSON shapes, over an in-memory
//! store. `/search/` parses and evaluates the YQL subset the backend generates
//! (`select … from sources … where …`, `contains`, comparisons, `and`/`or`/`!`,
//! `userQuery()`, `order by`), matching `userQuery()` words against the `default`
//! fieldset of each schema. Every request is recorded for inspection, and the next
//! responses can be replaced by injected failures. [`FakeVespa::start_tls`] serves the
//! same over `https://` with a given certificate.
//!
//! The fake's seams, one file each: this module holds its state and the handle tests
//! use; `http.rs` the HTTP handlers (document/v1, `/search/`, injected failures);
//! `yql.rs` the YQL tokenizer and parser; `eval.rs` what a parsed statement matches, with
//! its score and order; `tls.rs` the TLS listener.

mod eval;
mod http;
mod tls;
mod yql;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{any, post};
use serde_json::{Map, Value};
use switchyard_contracts::DataKind;

use crate::{document_id, schema_name};

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
                any(http::document),
            )
            .route("/search/", post(http::search))
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

/// The id Vespa gives the document of `(user, type, id)`.
pub fn vespa_id(user_id: &str, doc_type: &str, id: &str) -> String {
    document_id(user_id, doc_type, id)
}

/// The document type whose Vespa schema is `schema`.
fn doc_type_of_schema(schema: &str) -> Option<&'static str> {
    DataKind::ALL
        .iter()
        .map(|kind| kind.doc_type())
        .find(|doc_type| schema_name(doc_type) == schema)
}
