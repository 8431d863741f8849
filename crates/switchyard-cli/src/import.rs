//! `switchyard import`: one backfill job from local files to events.
//!
//! A reader thread parses the files (blocking work) and hands batches to the async side,
//! which wraps them in envelopes (one `correlationid` for the job, a `batch_id` per batch)
//! and sends them to a [`Destination`]: the local node's publisher, or a running server.
//!
//! Batches go one after the other, each once it is accepted: a server restarting or a
//! bus that is down holds the import on the batch at hand, which is sent again whole
//! ([`OutageRetry`]), and batches already accepted are never sent again. When it gives
//! up, the error says how many events were imported and where the batch it stopped at
//! begins.

mod retry;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::StatusCode;
use switchyard_contracts::{AnyOfficeEvent, Envelope, SyncType};
use switchyard_office::{
    DiscoverOptions, ImportLimits, ImportOptions, ImportWarning, Rejection, WarningKind,
    discover_with, read_file_with_limits,
};
use switchyard_runtime::Publisher;

pub use retry::OutageRetry;
use retry::SendError;
use tokio::sync::mpsc;

/// Events per batch (one `batch_id`, one publish call).
const BATCH_SIZE: usize = 500;
/// CloudEvents `source` of imported events.
const IMPORT_SOURCE: &str = "switchyard://import";

/// Where imported events go.
pub enum Destination {
    /// Straight onto the local node's bus.
    Local(Publisher),
    /// To a running `switchyard serve`.
    Remote(RemoteServer),
}

/// How a job went.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImportReport {
    /// Files read.
    pub files: usize,
    /// Events accepted.
    pub imported: u64,
    /// Items (or files) rejected.
    pub rejected: u64,
    /// Items imported with derived values (an id hashed from the content, a date from
    /// the file's time), and files or messages skipped on purpose.
    pub warned: u64,
    /// Bytes of input.
    pub bytes: u64,
}

/// How files are found and read: the `[import]` limits, `--follow-symlinks` and
/// `--include-trashed`.
#[derive(Debug, Clone, Default)]
pub struct ReadSettings {
    /// What one file may cost before it is rejected.
    pub limits: ImportLimits,
    /// Whether symlinks out of an imported folder are followed, and trashed Maildir
    /// messages imported.
    pub discover: DiscoverOptions,
}

/// Where a batch begins: its first event is item `item` (counting from 1, rejected
/// items included) of `file`.
struct BatchStart {
    file: PathBuf,
    item: u64,
}

enum ReaderOutput {
    Batch(Vec<AnyOfficeEvent>, BatchStart),
    Rejected(Rejection),
    Warned(Vec<ImportWarning>),
    Progress(u64),
}

/// Imports every importable file under `paths` for `user_id`, retrying a batch the
/// destination cannot take for now as `retry` says.
pub async fn import(
    paths: &[PathBuf],
    user_id: &str,
    read_settings: &ReadSettings,
    destination: &Destination,
    retry: &OutageRetry,
    progress: &ProgressBar,
) -> anyhow::Result<ImportReport> {
    let discovery = discover_with(paths, &read_settings.discover)
        .context("failed to list the files to import")?;
    let limits = read_settings.limits.clone();
    let mut report = ImportReport {
        files: discovery.files.len(),
        bytes: discovery.total_bytes(),
        ..ImportReport::default()
    };
    for rejection in &discovery.rejections {
        report_rejection(progress, rejection);
        report.rejected += 1;
    }
    for warning in &discovery.warnings {
        report_warning(progress, warning);
        report.warned += 1;
    }
    progress.set_length(report.bytes);
    progress.set_style(
        ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .expect("progress template is valid"),
    );
    let correlation_id = uuid::Uuid::now_v7().to_string();
    let options = ImportOptions {
        user_id: user_id.to_string(),
        sync_type: SyncType::Backfill,
    };
    let (sender, mut receiver) = mpsc::channel(4);
    let reader = tokio::task::spawn_blocking(move || {
        let mut batch = Vec::with_capacity(BATCH_SIZE);
        let mut batch_start = None;
        let mut done_bytes = 0;
        for file in &discovery.files {
            let mut items = read_file_with_limits(file, &options, &limits);
            let mut item_number = 0;
            while let Some(item) = items.next() {
                item_number += 1;
                let output = match item {
                    Ok(event) => {
                        if batch.is_empty() {
                            batch_start = Some(BatchStart {
                                file: file.path.clone(),
                                item: item_number,
                            });
                        }
                        batch.push(event);
                        if batch.len() < BATCH_SIZE {
                            continue;
                        }
                        ReaderOutput::Batch(
                            std::mem::replace(&mut batch, Vec::with_capacity(BATCH_SIZE)),
                            batch_start.take().expect("a batch with events has a start"),
                        )
                    }
                    Err(rejection) => ReaderOutput::Rejected(rejection),
                };
                if !send_warnings(&sender, items.take_warnings()) {
                    return;
                }
                let progress = ReaderOutput::Progress(done_bytes + items.bytes_read());
                if sender.blocking_send(output).is_err() || sender.blocking_send(progress).is_err()
                {
                    return;
                }
            }
            if !send_warnings(&sender, items.take_warnings()) {
                return;
            }
            done_bytes += file.size_bytes;
            if sender
                .blocking_send(ReaderOutput::Progress(done_bytes))
                .is_err()
            {
                return;
            }
        }
        if let Some(start) = batch_start {
            let _ = sender.blocking_send(ReaderOutput::Batch(batch, start));
        }
    });
    let mut batch_number = 0;
    while let Some(output) = receiver.recv().await {
        match output {
            ReaderOutput::Batch(mut events, start) => {
                batch_number += 1;
                let batch_id = uuid::Uuid::now_v7().to_string();
                let envelopes = events
                    .iter_mut()
                    .map(|event| {
                        event.set_batch_id(&batch_id);
                        event.to_envelope(IMPORT_SOURCE, &correlation_id)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .context("an imported item breaks its contract")?;
                let what = format!("batch {batch_number}");
                let refused = destination
                    .send(&envelopes, &what, retry, progress)
                    .await
                    .with_context(|| stopped_at(&what, &start, report.imported))?;
                for (index, reason) in &refused {
                    progress
                        .suspend(|| eprintln!("rejected event {}: {reason}", envelopes[*index].id));
                }
                report.rejected += refused.len() as u64;
                report.imported += (envelopes.len() - refused.len()) as u64;
                tracing::info!(batch_id = %batch_id, events = envelopes.len(), imported = report.imported, "batch published");
                progress.set_message(format!("{} events", report.imported));
            }
            ReaderOutput::Rejected(rejection) => {
                report_rejection(progress, &rejection);
                report.rejected += 1;
            }
            ReaderOutput::Warned(warnings) => {
                for warning in &warnings {
                    report_warning(progress, warning);
                }
                report.warned += warnings.len() as u64;
            }
            ReaderOutput::Progress(bytes) => progress.set_position(bytes),
        }
    }
    reader.await.context("the file reader failed")?;
    Ok(report)
}

/// Hands the reader's `warnings` (if any) to the async side; false once it stopped
/// listening.
fn send_warnings(sender: &mpsc::Sender<ReaderOutput>, warnings: Vec<ImportWarning>) -> bool {
    warnings.is_empty() || sender.blocking_send(ReaderOutput::Warned(warnings)).is_ok()
}

/// Why an import stopped, and how to finish it.
fn stopped_at(batch: &str, start: &BatchStart, imported: u64) -> String {
    format!(
        "import stopped at {batch}, which begins at item {} of {}, after {imported} events \
         were imported; run the same import again to finish (events imported twice are \
         deduplicated)",
        start.item,
        start.file.display()
    )
}

/// Prints a rejection on stderr, above the progress bar when one is drawn.
fn report_rejection(progress: &ProgressBar, rejection: &Rejection) {
    progress.suspend(|| eprintln!("rejected {rejection}"));
}

/// Prints a warning on stderr like a rejection: `warning FILE, LOCATION: reason` for an
/// item imported with derived values, `skipped FILE: reason` for what was left out.
fn report_warning(progress: &ProgressBar, warning: &ImportWarning) {
    progress.suspend(|| match warning.kind {
        WarningKind::Skipped => eprintln!("{warning}"),
        _ => eprintln!("warning {warning}"),
    });
}

impl Destination {
    /// Sends a batch (`what`, for messages), retrying while the bus or the server is
    /// unavailable as `retry` says; returns the events refused (index, reason), the
    /// others being published, locally or by the server alike.
    async fn send(
        &self,
        envelopes: &[Envelope],
        what: &str,
        retry: &OutageRetry,
        progress: &ProgressBar,
    ) -> anyhow::Result<Vec<(usize, String)>> {
        match self {
            Destination::Local(publisher) => {
                let report = retry
                    .run(what, progress, || async {
                        publisher
                            .publish(envelopes)
                            .await
                            .map_err(SendError::from_publish)
                    })
                    .await?;
                Ok(report
                    .rejected
                    .into_iter()
                    .map(|rejected| (rejected.index, rejected.error.to_string()))
                    .collect())
            }
            Destination::Remote(server) => {
                server.post_events(envelopes, what, retry, progress).await
            }
        }
    }
}

/// A running `switchyard serve`, reached over its HTTP API with a bearer credential.
pub struct RemoteServer {
    base_url: String,
    credential: String,
    client: reqwest::Client,
}

/// The most JSON sent in one `POST /v1/events` (the server's default limit is 32 MiB).
const MAX_REQUEST_BYTES: usize = 8 << 20;

impl RemoteServer {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`) sending
    /// `credential` (an API token or a JWT).
    pub fn new(base_url: &str, credential: String) -> Self {
        RemoteServer {
            base_url: base_url.trim_end_matches('/').to_string(),
            credential,
            client: reqwest::Client::new(),
        }
    }

    /// Where the server is.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Whether the server answers its health check.
    pub async fn is_up(&self) -> bool {
        let request = self
            .client
            .get(format!("{}/health", self.base_url))
            .timeout(Duration::from_secs(2));
        matches!(request.send().await, Ok(response) if response.status().is_success())
    }

    /// Sends events in requests of at most [`MAX_REQUEST_BYTES`], each retried while
    /// the server is unavailable as `retry` says (requests it accepted are not sent
    /// again); returns the events the server refused (index in `envelopes`, reason), the
    /// others being accepted.
    async fn post_events(
        &self,
        envelopes: &[Envelope],
        what: &str,
        retry: &OutageRetry,
        progress: &ProgressBar,
    ) -> anyhow::Result<Vec<(usize, String)>> {
        let mut refused = Vec::new();
        let mut start = 0;
        while start < envelopes.len() {
            let mut body = Vec::from(*b"[");
            let mut end = start;
            while end < envelopes.len() {
                let json = envelopes[end].to_json_bytes();
                if end > start && body.len() + json.len() + 2 > MAX_REQUEST_BYTES {
                    break;
                }
                if end > start {
                    body.push(b',');
                }
                body.extend_from_slice(&json);
                end += 1;
            }
            body.push(b']');
            let answer = retry
                .run(what, progress, || self.post_event_batch(&body))
                .await?;
            refused.extend(
                answer
                    .into_iter()
                    .map(|(index, reason)| (start + index, reason)),
            );
            start = end;
        }
        Ok(refused)
    }

    /// One `POST /v1/events` of `body`: the events refused (index in the request,
    /// reason), or why the request was not taken.
    async fn post_event_batch(&self, body: &[u8]) -> Result<Vec<(usize, String)>, SendError> {
        let url = format!("{}/v1/events", self.base_url);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.credential)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents-batch+json",
            )
            .body(body.to_vec())
            .send()
            .await
            .map_err(SendError::no_answer)?;
        if SendError::is_transient(response.status()) {
            return Err(SendError::from_answer(response).await);
        }
        let status = response.status();
        let text = response.text().await.map_err(SendError::no_answer)?;
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if !(status.is_success() || status == StatusCode::BAD_REQUEST)
            || answer["rejected"].as_array().is_none()
        {
            return Err(SendError::Fatal(anyhow::anyhow!(
                "{url} refused the events: {status} {text}"
            )));
        }
        Ok(answer["rejected"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                let index = entry["index"].as_u64().unwrap_or(0) as usize;
                (
                    index,
                    entry["error"].as_str().unwrap_or("refused").to_string(),
                )
            })
            .collect())
    }

    /// The server's `/v1/status` document.
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        self.get_json("/v1/status", &[]).await
    }

    /// Returns once the server has indexed everything it accepted, waiting through a
    /// restart of the server as `retry` says; a credential that may not read
    /// `/v1/status` (not an admin) returns at once, saying so.
    pub async fn wait_until_indexed(
        &self,
        retry: &OutageRetry,
        progress: &ProgressBar,
    ) -> anyhow::Result<()> {
        let url = format!("{}/v1/status", self.base_url);
        loop {
            let status = retry
                .run("the indexing check", progress, || self.read_status(&url))
                .await?;
            let Some(status) = status else {
                progress.suspend(|| {
                    eprintln!("not waiting for indexing: the credential may not read {url}");
                });
                return Ok(());
            };
            if status["indexer_lag"].as_u64() == Some(0) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `GET /v1/status` at `url`; `None` when the credential may not read it.
    async fn read_status(&self, url: &str) -> Result<Option<serde_json::Value>, SendError> {
        let response = self
            .client
            .get(url)
            .bearer_auth(&self.credential)
            .send()
            .await
            .map_err(SendError::no_answer)?;
        match response.status() {
            StatusCode::FORBIDDEN => Ok(None),
            status if SendError::is_transient(status) => {
                Err(SendError::from_answer(response).await)
            }
            _ => Self::json_or_error(url, response)
                .await
                .map(Some)
                .map_err(SendError::Fatal),
        }
    }

    /// GET `path` with `query`, as JSON; a non-2xx answer is an error with its body.
    pub async fn get_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        self.send(self.client.get(self.url(path)).query(query), path)
            .await
    }

    /// POST a JSON `body` to `path` with `query`, as JSON; a non-2xx answer is an error
    /// with its body.
    pub async fn post_json(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.send(
            self.client.post(self.url(path)).query(query).json(body),
            path,
        )
        .await
    }

    /// DELETE `path` with `query`, as JSON; a non-2xx answer is an error with its body.
    pub async fn delete_json(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        self.send(self.client.delete(self.url(path)).query(query), path)
            .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        path: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let url = self.url(path);
        let response = request
            .bearer_auth(&self.credential)
            .send()
            .await
            .with_context(|| format!("failed to reach {url}"))?;
        Self::json_or_error(&url, response).await
    }

    async fn json_or_error(
        url: &str,
        response: reqwest::Response,
    ) -> anyhow::Result<serde_json::Value> {
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .with_context(|| format!("failed to decode {url}"))?;
        if !status.is_success() {
            bail!("{url}: {status} {body}");
        }
        Ok(body)
    }
}
