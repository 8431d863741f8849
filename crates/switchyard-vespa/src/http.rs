//! The HTTP side of the backend: document/v1 puts and removes, and `POST /search/`
//! queries with their JSON responses, over one blocking `reqwest` client (TLS with rustls
//! and the ring provider for `https://`, trusting the system's CAs and an optional CA file). Every failure
//! becomes a [`SearchError`] naming the operation, the URL, the status and Vespa's own
//! message (`message` of document/v1, `root.errors` of the query API).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use reqwest::StatusCode;
use reqwest::Url;
use reqwest::blocking::{Client, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use switchyard_search::{MatchedHit, ParentLink, SearchDocument, SearchError, SearchErrorKind};

use crate::VespaError;
use crate::feed::feed_fields;
use crate::naming::{NAMESPACE, RANK_PROFILE, document_key, schema_name};

/// How long one HTTP request may take, connection included.
const REQUEST_TIMEOUT_SECS: u64 = 30;

/// How long Vespa may spend on one query (its `timeout` parameter), below the HTTP one.
const QUERY_TIMEOUT: &str = "20s";

/// The most characters of a response body quoted in an error.
const MAX_ERROR_BODY_CHARS: usize = 500;

/// A Vespa container endpoint.
#[derive(Debug, Clone)]
pub(crate) struct VespaHttp {
    client: Client,
    endpoint: Url,
}

impl VespaHttp {
    pub(crate) fn new(endpoint_url: &str, ca_file: Option<&Path>) -> Result<VespaHttp, VespaError> {
        let invalid = |reason: String| VespaError::InvalidEndpoint {
            url: endpoint_url.to_string(),
            reason,
        };
        let endpoint = Url::parse(endpoint_url).map_err(|err| invalid(err.to_string()))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "scheme {:?} is not http or https",
                endpoint.scheme()
            )));
        }
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            return Err(invalid("an endpoint has no query or fragment".into()));
        }
        let tls = tls_config(endpoint.scheme() == "https", ca_file).map_err(invalid)?;
        // The blocking client starts a runtime of its own, which debug builds refuse to do
        // on a thread that runs one; building it on a fresh thread works from anywhere.
        let client = std::thread::spawn(|| {
            Client::builder()
                .timeout(Duration::from_secs(REQUEST_TIMEOUT_SECS))
                .tls_backend_preconfigured(tls)
                .build()
        })
        .join()
        .map_err(|_| invalid("building the http client panicked".into()))?
        .map_err(|err| invalid(format!("failed to build the http client: {}", chain(&err))))?;
        Ok(VespaHttp { client, endpoint })
    }

    pub(crate) fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// `{endpoint}/document/v1/switchyard/{doc_type}_document/docid/{key}`.
    fn document_url(&self, user_id: &str, doc_type: &str, id: &str) -> Url {
        let schema = schema_name(doc_type);
        let key = document_key(user_id, doc_type, id);
        self.url(&["document", "v1", NAMESPACE, &schema, "docid", &key])
    }

    /// `{endpoint}/search/`.
    fn search_url(&self) -> Url {
        self.url(&["search", ""])
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        url.path_segments_mut()
            .expect("http and https urls have paths")
            .pop_if_empty()
            .extend(segments);
        url
    }

    /// Writes `doc`, replacing the document with the same id (a document/v1 put).
    pub(crate) fn put(&self, doc: &SearchDocument) -> Result<(), SearchError> {
        let fields = feed_fields(doc)?;
        let url = self.document_url(&doc.user_id, &doc.doc_type, &doc.id);
        let action = format!("put {} {} of user {}", doc.doc_type, doc.id, doc.user_id);
        let response = self
            .client
            .post(url.clone())
            .json(&json!({ "fields": fields }))
            .send()
            .map_err(|err| unreachable_error(&action, &url, &err, SearchErrorKind::Write))?;
        // A 400 is a document Vespa refuses as it is: retrying cannot help.
        check(response, &action, &url, |status| match status {
            StatusCode::BAD_REQUEST => SearchErrorKind::InvalidDocument,
            _ => SearchErrorKind::Write,
        })?;
        Ok(())
    }

    /// Removes one document by id; removing a missing document succeeds.
    pub(crate) fn remove(
        &self,
        user_id: &str,
        doc_type: &str,
        id: &str,
    ) -> Result<(), SearchError> {
        let url = self.document_url(user_id, doc_type, id);
        let action = format!("remove {doc_type} {id} of user {user_id}");
        let response = self
            .client
            .delete(url.clone())
            .send()
            .map_err(|err| unreachable_error(&action, &url, &err, SearchErrorKind::Write))?;
        check(response, &action, &url, |_| SearchErrorKind::Write)?;
        Ok(())
    }

    /// Runs `yql`, with `text` as the `query` parameter when set, reading `hits` hits from
    /// `offset` under the Switchyard rank profile.
    pub(crate) fn query(
        &self,
        yql: &str,
        text: Option<&str>,
        hits: usize,
        offset: usize,
    ) -> Result<QueryResult, SearchError> {
        let mut body = json!({
            "yql": yql,
            "hits": hits,
            "offset": offset,
            "ranking": { "profile": RANK_PROFILE },
            "timeout": QUERY_TIMEOUT,
        });
        if let Some(text) = text {
            body["query"] = Value::from(text);
            // Every word must match, in the `default` fieldset, as in the tantivy index.
            body["model"] = json!({ "type": "all", "defaultIndex": "default" });
        }
        let url = self.search_url();
        let action = "query";
        let response = self
            .client
            .post(url.clone())
            .json(&body)
            .send()
            .map_err(|err| unreachable_error(action, &url, &err, SearchErrorKind::Query))?;
        let response = check(response, action, &url, |_| SearchErrorKind::Query)?;
        let body = response
            .text()
            .map_err(|err| unreachable_error(action, &url, &err, SearchErrorKind::Query))?;
        let parsed: QueryResponse = serde_json::from_str(&body).map_err(|err| {
            SearchError::new(
                SearchErrorKind::Query,
                format!(
                    "failed to {action} at {url}: unreadable response ({err}): {}",
                    excerpt(&body)
                ),
            )
        })?;
        if !parsed.root.errors.is_empty() {
            return Err(SearchError::new(
                SearchErrorKind::Query,
                format!(
                    "failed to {action} at {url}: vespa reported {}",
                    describe_errors(&parsed.root.errors)
                ),
            ));
        }
        Ok(QueryResult {
            total_count: parsed.root.fields.total_count,
            hits: parsed.root.children,
        })
    }
}

/// What a query returned.
#[derive(Debug)]
pub(crate) struct QueryResult {
    /// `root.fields.totalCount`: how many documents matched in all.
    pub(crate) total_count: u64,
    /// The hits read, in order.
    pub(crate) hits: Vec<QueryHit>,
}

/// One hit of `root.children`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct QueryHit {
    #[serde(default)]
    pub(crate) relevance: f64,
    #[serde(default)]
    pub(crate) fields: HitFields,
}

/// The summary fields of a hit that the backend reads (the `stored` ones).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct HitFields {
    pub(crate) id: String,
    pub(crate) doc_type: String,
    pub(crate) title: String,
    pub(crate) content: String,
    pub(crate) participants: Vec<String>,
    pub(crate) created_at: i64,
    pub(crate) last_updated: i64,
    pub(crate) sync_timestamp: i64,
    pub(crate) parent_id: Option<String>,
    pub(crate) parent_doc_type: Option<String>,
    pub(crate) parent_title: Option<String>,
    pub(crate) position: Option<u64>,
}

impl HitFields {
    /// The match these fields describe, with its relevance `score`.
    pub(crate) fn into_match(self, score: f32) -> MatchedHit {
        let date = |micros: i64| DateTime::from_timestamp_micros(micros).unwrap_or_default();
        let parent = self.parent_id.map(|id| ParentLink {
            id,
            doc_type: self.parent_doc_type.unwrap_or_default(),
            title: self.parent_title.unwrap_or_default(),
            position: self
                .position
                .map_or(0, |position| u32::try_from(position).unwrap_or(u32::MAX)),
        });
        MatchedHit {
            id: self.id,
            doc_type: self.doc_type,
            title: self.title,
            content: self.content,
            participants: self.participants,
            created_at: date(self.created_at),
            last_updated: date(self.last_updated),
            sync_timestamp: date(self.sync_timestamp),
            parent,
            score,
        }
    }
}

#[derive(Deserialize)]
struct QueryResponse {
    root: QueryRoot,
}

#[derive(Deserialize)]
struct QueryRoot {
    #[serde(default)]
    fields: RootFields,
    #[serde(default)]
    children: Vec<QueryHit>,
    #[serde(default)]
    errors: Vec<VespaMessage>,
}

#[derive(Default, Deserialize)]
struct RootFields {
    #[serde(rename = "totalCount", default)]
    total_count: u64,
}

/// An entry of `root.errors`.
#[derive(Debug, Deserialize)]
struct VespaMessage {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// `response` when its status is a success; otherwise an error of the kind `kind_of` gives
/// for the status, with Vespa's message.
fn check(
    response: Response,
    action: &str,
    url: &Url,
    kind_of: impl Fn(StatusCode) -> SearchErrorKind,
) -> Result<Response, SearchError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().unwrap_or_default();
    Err(SearchError::new(
        kind_of(status),
        format!(
            "failed to {action} at {url}: vespa answered {status}: {}",
            vespa_message(&body)
        ),
    ))
}

/// Vespa's explanation in an error body: document/v1's `message`, the query API's
/// `root.errors`, or the body itself.
fn vespa_message(body: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(body) else {
        return excerpt(body);
    };
    if let Some(message) = json.get("message").and_then(Value::as_str) {
        return message.to_string();
    }
    if let Some(errors) = json.pointer("/root/errors")
        && let Ok(errors) = serde_json::from_value::<Vec<VespaMessage>>(errors.clone())
        && !errors.is_empty()
    {
        return describe_errors(&errors);
    }
    excerpt(body)
}

fn describe_errors(errors: &[VespaMessage]) -> String {
    errors
        .iter()
        .map(|error| {
            let mut text = String::new();
            if let Some(code) = error.code {
                text.push_str(&format!("error {code}"));
            }
            for part in [&error.summary, &error.message].into_iter().flatten() {
                if !text.is_empty() {
                    text.push_str(": ");
                }
                text.push_str(part);
            }
            text
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".into();
    }
    let mut text: String = trimmed.chars().take(MAX_ERROR_BODY_CHARS).collect();
    if trimmed.chars().count() > MAX_ERROR_BODY_CHARS {
        text.push('…');
    }
    text
}

/// A request that got no HTTP answer: refused, timed out, or cut.
fn unreachable_error(
    action: &str,
    url: &Url,
    err: &reqwest::Error,
    kind: SearchErrorKind,
) -> SearchError {
    SearchError::new(kind, format!("failed to {action} at {url}: {}", chain(err)))
}

/// An error with its sources, `outer: inner: …`.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// The client's TLS: rustls with the ring provider (the binary's one TLS stack), trusting
/// the system's CAs and the CA in `ca_file`; no roots for plain `http://`, which never
/// uses them.
fn tls_config(https: bool, ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let mut roots = rustls::RootCertStore::empty();
    if https {
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    if let Some(ca_file) = ca_file {
        let pem = std::fs::read(ca_file)
            .map_err(|err| format!("failed to read the CA file {}: {err}", ca_file.display()))?;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|err| {
                format!("invalid PEM in the CA file {}: {err}", ca_file.display())
            })?;
            roots.add(cert).map_err(|err| {
                format!(
                    "unusable certificate in the CA file {}: {err}",
                    ca_file.display()
                )
            })?;
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("failed to set up TLS: {err}"))
        .map(|builder| builder.with_root_certificates(roots).with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_encode_the_key_as_one_segment() {
        let http = VespaHttp::new("http://vespa.local:8080", None).unwrap();
        let url = http.document_url("a/b", "email", "<1@x> ?");
        assert_eq!(
            url.as_str(),
            "http://vespa.local:8080/document/v1/switchyard/email_document/docid/a%252Fb:email:%253C1%2540x%253E%2520%253F"
        );
        let http = VespaHttp::new("https://vespa.local/prefix/", None).unwrap();
        assert_eq!(
            http.search_url().as_str(),
            "https://vespa.local/prefix/search/"
        );
    }

    #[test]
    fn endpoints_are_checked() {
        for bad in ["vespa:8080", "ftp://x", "http://x/?a=b", "not a url"] {
            let err = VespaHttp::new(bad, None).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid vespa endpoint"),
                "{err}"
            );
        }
    }

    #[test]
    fn error_bodies_give_vespas_message() {
        assert_eq!(
            vespa_message(
                r#"{"pathId":"/document/v1/x","message":"No field 'x' in the structure"}"#
            ),
            "No field 'x' in the structure"
        );
        assert_eq!(
            vespa_message(
                r#"{"root":{"id":"toplevel","errors":[{"code":4,"summary":"Invalid query parameter","message":"Could not parse"}]}}"#
            ),
            "error 4: Invalid query parameter: Could not parse"
        );
        assert_eq!(vespa_message(""), "(empty body)");
        assert_eq!(vespa_message("<html>busy</html>"), "<html>busy</html>");
    }
}
