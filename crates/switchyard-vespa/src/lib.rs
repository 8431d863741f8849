//! Switchyard's distributed search backend on [Vespa](https://vespa.ai); tantivy
//! (`switchyard-tantivy`) stays the embedded default. Depends on the engine-agnostic
//! `switchyard-search` only, never on tantivy.
//!
//! Two halves, both derived from the search schema as data (`SEARCH_FIELDS` and the
//! `DataKind` document types), never from a second list:
//!
//! - [`write_application_package`] writes the Vespa application package: one schema per
//!   document type (`schemas/{doc_type}_document.sd`) with its fields, a `default`
//!   fieldset and the `switchyard` rank profile (BM25 with the tantivy boosts × the recency
//!   boost), `services.xml` (content cluster `switchyard`, a container with the document
//!   and query APIs) and a default query profile; [`validate_application_package`] checks
//!   a package offline.
//! - [`VespaBackend`] implements `switchyard_search::SearchBackend` over HTTP: document/v1
//!   puts and removes, and YQL queries that always carry the user filter.
//!
//! Calls block (a blocking HTTP client); async callers use `spawn_blocking`. This crate
//! knows nothing of brokers or consumers.
//!
//! ```no_run
//! use switchyard_search::{SearchBackend, SearchQuery};
//! use switchyard_vespa::{VespaBackend, write_application_package};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Generate the package, then deploy it with `vespa deploy vespa-app`.
//! let report = write_application_package(std::path::Path::new("vespa-app"))?;
//! assert!(report.schemas.contains(&"email_document".to_string()));
//!
//! let backend = VespaBackend::new("http://localhost:8080")?;
//! let query = SearchQuery {
//!     text: "budget".into(),
//!     user_id: "alice".into(),
//!     limit: 10,
//!     ..SearchQuery::default()
//! };
//! for hit in backend.search(&query)?.hits {
//!     println!("{} {} {}", hit.doc_type, hit.id, hit.title);
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod backend;
mod error;
#[cfg(feature = "testsuite")]
pub mod fake;
mod feed;
mod http;
mod naming;
mod package;
mod snippet;
mod validate;
mod yql;

pub use backend::VespaBackend;
pub use error::{VespaError, VespaErrorKind};
pub use naming::{
    CONTENT_CLUSTER, NAMESPACE, RANK_PROFILE, document_id, document_key, schema_name,
};
pub use package::{PackageReport, write_application_package};
pub use validate::validate_application_package;
