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
    /// Sends a batch; returns the events the registry refused (index, reason). A server
    /// refuses a batch whole, so the remote case fails the import instead.
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
            Destination::Remote(server) => server.post_events(envelopes).await.map(|()| Vec::new()),
        }
    }
}

/// A running `switchyard serve`, reached over its HTTP API.
pub struct RemoteServer {
    base_url: String,
    client: reqwest::Client,
}

impl RemoteServer {
    /// A client of the server at `base_url` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base_url: &str) -> Self {
        RemoteServer {
            base_url: base_url.trim_end_matches('/').to_string(),
            client: reqwest::Client::new(),
        }
    }

    /// Whether the server answers its health check.
    pub async fn is_up(&self) -> bool {
        let request = self
            .client
            .get(format!("{}/health", self.base_url))
            .timeout(Duration::from_secs(2));
        matches!(request.send().await, Ok(response) if response.status().is_success())
    }

    async fn post_events(&self, envelopes: &[Envelope]) -> anyhow::Result<()> {
        let url = format!("{}/v1/events", self.base_url);
        let response = self
            .client
            .post(&url)
            .json(envelopes)
            .send()
            .await
            .with_context(|| format!("failed to send events to {url}"))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            bail!("{url} refused the events: {status} {body}");
        }
        Ok(())
    }

    /// The server's `/v1/status` document.
    pub async fn status(&self) -> anyhow::Result<serde_json::Value> {
        let url = format!("{}/v1/status", self.base_url);
        self.client
            .get(&url)
            .send()
            .await
            .with_context(|| format!("failed to read {url}"))?
            .json()
            .await
            .with_context(|| format!("failed to decode {url}"))
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

    /// Returns once the server has indexed everything it accepted.
    pub async fn wait_until_indexed(&self) -> anyhow::Result<()> {
        loop {
            if self.status().await?["indexer_lag"].as_u64() == Some(0) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
