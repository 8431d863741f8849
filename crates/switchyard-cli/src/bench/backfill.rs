//! `switchyard bench backfill`: a Microsoft mail backfill of N messages served by the local
//! fake of Microsoft's token endpoint and Graph (`switchyard_providers::fake`, 100
//! messages a page) through the same code as a connected account — token refresh, delta
//! paging, mapping, publishing, job progress, indexing — until every message is
//! searchable; beside it, in the same run, the file import of the same messages written
//! as an mbox. The ratio is the provider path's cost over the file path's.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, ensure};
use serde_json::json;
use switchyard_auth::SecretString;
use switchyard_integrations::{ConnectRequest, DataType, Grant, Provider};
use switchyard_state::{JobId, JobState};

use super::{Measured, USER, indexed_all, measure_file_import, peak_rss_bytes, scratch_node};
use crate::config::{MicrosoftFileConfig, Settings};
use crate::integrations::Integrations;

/// Messages per delta page, as Graph's `odata.maxpagesize` asks.
const PAGE_SIZE: usize = 100;

pub async fn backfill(
    messages: usize,
    json_output: bool,
    settings: &Settings,
) -> anyhow::Result<()> {
    let fake = switchyard_providers::fake::start(|fake| {
        fake.messages = messages;
        fake.page_size = PAGE_SIZE;
    })
    .await;
    let dir = tempfile::tempdir().context("failed to create a scratch directory")?;
    let mbox = dir.path().join("graph.mbox");
    write_fake_messages_as_mbox(&mbox, messages)?;
    let file = measure_file_import(&mbox, messages, settings).await?;

    let mut settings = settings.clone();
    settings.providers.microsoft = MicrosoftFileConfig {
        graph_url: Some(fake.base_url.clone()),
        token_url: Some(fake.token_url()),
        client_id: Some("bench-client".into()),
        client_secret: Some("bench-secret".into()),
        ..MicrosoftFileConfig::default()
    };
    let (node, settings) = scratch_node(dir.path(), &settings).await?;
    let integrations = Integrations::open(&settings, &node)?;
    let started = Instant::now();
    let integration = integrations
        .connect(
            USER,
            ConnectRequest {
                provider: Provider::Microsoft,
                grant: Grant::RefreshToken(SecretString::new("bench-refresh-token")),
                data_types: vec![DataType::Emails],
            },
        )
        .await?;
    let job = JobId::new(
        integration
            .backfill_job
            .context("connecting started no backfill")?,
    )?;
    let progress = loop {
        let progress = integrations
            .jobs
            .progress(&job)
            .await?
            .context("the backfill job is gone")?;
        if progress.state.is_final() {
            break progress;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let published = started.elapsed();
    ensure!(
        progress.state == JobState::Done && progress.done == messages as u64,
        "the backfill ended {} with {} of {messages} messages: {:?}",
        progress.state,
        progress.done,
        progress.reason
    );
    indexed_all(node, messages).await?;
    let provider = Measured {
        published,
        end_to_end: started.elapsed(),
    };

    let ratio = provider.end_to_end_per_sec(messages) / file.end_to_end_per_sec(messages);
    let result = json!({
        "benchmark": "backfill",
        "messages": messages,
        "page_size": PAGE_SIZE,
        "backfill_publish_events_per_sec": provider.publish_per_sec(messages),
        "backfill_end_to_end_events_per_sec": provider.end_to_end_per_sec(messages),
        "file_import_publish_events_per_sec": file.publish_per_sec(messages),
        "file_import_end_to_end_events_per_sec": file.end_to_end_per_sec(messages),
        "end_to_end_ratio": ratio,
        "peak_rss_bytes": peak_rss_bytes(),
    });
    if json_output {
        println!("{result}");
    } else {
        println!(
            "backfill {messages} messages from the fake Graph: publish {:.0} events/s, end-to-end {:.0} events/s; file import of the same: publish {:.0} events/s, end-to-end {:.0} events/s; backfill/file {ratio:.2}; peak RSS {} MiB",
            provider.publish_per_sec(messages),
            provider.end_to_end_per_sec(messages),
            file.publish_per_sec(messages),
            file.end_to_end_per_sec(messages),
            peak_rss_bytes().unwrap_or_default() / 1048576,
        );
    }
    Ok(())
}

/// The fake Graph's messages (`switchyard_providers::fake`: sender, recipient, subject
/// and body) as an mbox, so that both paths carry the same mail.
fn write_fake_messages_as_mbox(path: &std::path::Path, count: usize) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for n in 0..count {
        write!(
            out,
            "From danas@contoso.com Fri Mar  1 09:59:00 2024\n\
             From: Dana Swope <danas@contoso.com>\n\
             To: Adele Vance <adelev@contoso.com>\n\
             Subject: Quarterly update {n}\n\
             Date: Fri, 1 Mar 2024 09:59:00 +0000\n\
             Message-ID: <AAMkMessage{n:05}@contoso.com>\n\n\
             The figures of update {n} are in.\n\n"
        )?;
    }
    out.flush()?;
    Ok(())
}
