//! `switchyard import`: one backfill job from local files to events.
//!
//! A reader thread parses the files (blocking work) and hands batches to the async side,
//! which wraps them in envelopes (one `correlationid` for the job, a `batch_id` per batch)
//! and sends them to a [`Destination`]: the local node's publisher, or a running server.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use switchyard_contracts::{AnyOfficeEvent, Envelope, SyncType};
use switchyard_office::{
    DiscoverOptions, ImportLimits, ImportOptions, Rejection, discover_with, read_file_with_limits,
};
use switchyard_runtime::Publisher;

use crate::config::Settings;
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
    /// Bytes of input.
    pub bytes: u64,
}

/// How files are found and read: the `[import]` limits and `--follow-symlinks`.
#[derive(Debug, Clone, Default)]
pub struct ReadSettings {
    /// What one file may cost before it is rejected.
    pub limits: ImportLimits,
    /// Whether symlinks out of an imported folder are followed.
    pub discover: DiscoverOptions,
}

enum ReaderOutput {
    Batch(Vec<AnyOfficeEvent>),
    Rejected(Rejection),
    Progress(u64),
}

/// Imports every importable file under `paths` for `user_id`.
pub async fn import(
    paths: &[PathBuf],
    user_id: &str,
    read_settings: &ReadSettings,
    destination: &Destination,
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
        let mut done_bytes = 0;
        for file in &discovery.files {
            let mut items = read_file_with_limits(file, &options, &limits);
            while let Some(item) = items.next() {
                let output = match item {
                    Ok(event) => {
                        batch.push(event);
                        if batch.len() < BATCH_SIZE {
                            continue;
                        }
                        ReaderOutput::Batch(std::mem::replace(
                            &mut batch,
                            Vec::with_capacity(BATCH_SIZE),
                        ))
                    }
                    Err(rejection) => ReaderOutput::Rejected(rejection),
                };
                let progress = ReaderOutput::Progress(done_bytes + items.bytes_read());
                if sender.blocking_send(output).is_err() || sender.blocking_send(progress).is_err()
                {
                    return;
                }
            }
            done_bytes += file.size_bytes;
            if sender
                .blocking_send(ReaderOutput::Progress(done_bytes))
                .is_err()
            {
                return;
            }
        }
        if !batch.is_empty() {
            let _ = sender.blocking_send(ReaderOutput::Batch(batch));
        }
    });
    while let Some(output) = receiver.recv().await {
        match output {
            ReaderOutput::Batch(mut events) => {
                let batch_id = uuid::Uuid::now_v7().to_string();
                let envelopes = events
                    .iter_mut()
                    .map(|event| {
                        event.set_batch_id(&batch_id);
                        event.to_envelope(IMPORT_SOURCE, &correlation_id)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .context("an imported item breaks its contract")?;
                let refused = destination.send(&envelopes).await?;
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
            ReaderOutput::Progress(bytes) => progress.set_position(bytes),
        }
    }
    reader.await.context("the file reader failed")?;
    Ok(report)
}

/// Prints a rejection on stderr, above the progress bar when one is drawn.
fn report_rejection(progress: &ProgressBar, rejection: &Rejection) {
    progress.suspend(|| eprintln!("rejected {rejection}"));
}

impl Destination {
    /// Sends a batch; returns the events refused (index, reason), the others being
    /// published, locally or by the server alike.
    async fn send(&self, envelopes: &[Envelope]) -> anyhow::Result<Vec<(usize, String)>> {
        match self {
            Destination::Local(publisher) => {
                let report = publisher.publish(envelopes).await?;
                Ok(report
                    .rejected
                    .into_iter()
                    .map(|rejected| (rejected.index, rejected.error.to_string()))
                    .collect())
            }
            Destination::Remote(server) => server.post_events(envelopes).await,
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

    /// The server of `settings` (at `url`, else at its `listen` address), with the
    /// CLI's credential.
    pub fn for_settings(settings: &Settings, url: Option<String>) -> anyhow::Result<Self> {
        let url = url.unwrap_or_else(|| format!("http://{}", settings.listen));
        let credential =
            crate::token::client_credential(&settings.data_dir, settings.client_token.as_deref())?;
        Ok(RemoteServer::new(&url, credential))
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

    /// Sends events in requests of at most [`MAX_REQUEST_BYTES`]; returns the ones the
    /// server refused (index in `envelopes`, reason), the others being accepted.
    async fn post_events(&self, envelopes: &[Envelope]) -> anyhow::Result<Vec<(usize, String)>> {
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
            refused.extend(
                self.post_event_batch(body)
                    .await?
                    .into_iter()
                    .map(|(index, reason)| (start + index, reason)),
            );
            start = end;
        }
        Ok(refused)
    }

    async fn post_event_batch(&self, body: Vec<u8>) -> anyhow::Result<Vec<(usize, String)>> {
        let url = format!("{}/v1/events", self.base_url);
        let response = self
            .client
            .post(&url)
            .bearer_auth(&self.credential)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents-batch+json",
            )
            .body(body)
            .send()
            .await
            .with_context(|| format!("failed to send events to {url}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        let answer: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        if !(status.is_success() || status == reqwest::StatusCode::BAD_REQUEST)
            || answer["rejected"].as_array().is_none()
        {
            bail!("{url} refused the events: {status} {text}");
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

    /// Returns once the server has indexed everything it accepted; a credential that
    /// may not read `/v1/status` (not an admin) returns at once, saying so.
    pub async fn wait_until_indexed(&self) -> anyhow::Result<()> {
        loop {
            let url = format!("{}/v1/status", self.base_url);
            let response = self
                .client
                .get(&url)
                .bearer_auth(&self.credential)
                .send()
                .await
                .with_context(|| format!("failed to read {url}"))?;
            if response.status() == reqwest::StatusCode::FORBIDDEN {
                eprintln!("not waiting for indexing: the credential may not read {url}");
                return Ok(());
            }
            let status = Self::json_or_error(&url, response).await?;
            if status["indexer_lag"].as_u64() == Some(0) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
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

    /// POST a JSON `body` to `path`, as JSON; a non-2xx answer is an error with its body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        self.send(self.client.post(self.url(path)).json(body), path)
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
