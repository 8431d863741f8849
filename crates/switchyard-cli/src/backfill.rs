//! `switchyard backfill start|status|cancel|list`: the backfill jobs of connected
//! accounts, over the API of the running server (the one holding the data directory, or
//! `--server`). Backfills run inside `serve`, which holds the integrations and their
//! credentials, so there is no local mode. `status --watch` draws a progress bar on a
//! terminal (one JSON line per second otherwise) until the job ends.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::serve_record::find_server;

/// The backfill commands.
#[derive(Subcommand)]
pub enum BackfillCommand {
    /// Read a connected account's history again, as a new job.
    Start {
        /// The integration's id.
        integration: String,
        /// What to read again (`emails,calendars,contacts,todos,files`) [default:
        /// everything it reads].
        #[arg(long, value_delimiter = ',')]
        data_types: Vec<String>,
        #[command(flatten)]
        target: Target,
    },
    /// How far a backfill is: total, done, failed, percent, state, rate.
    Status {
        /// The job's id.
        job: String,
        /// Follow it until it ends (a progress bar on a terminal).
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        target: Target,
    },
    /// Cancel a backfill.
    Cancel {
        /// The job's id.
        job: String,
        #[command(flatten)]
        target: Target,
    },
    /// The user's backfills, newest first.
    List {
        #[command(flatten)]
        target: Target,
    },
}

/// Which server, and for which user.
#[derive(clap::Args)]
pub struct Target {
    /// The user whose backfills these are (needed with an admin credential, such as the
    /// one the CLI makes itself from the data directory).
    #[arg(long, value_parser = crate::user_id)]
    user: Option<String>,
    /// The server [default: the one whose record `serve.json` the data directory holds].
    #[arg(long, env = crate::env_vars::SERVER)]
    server: Option<String>,
}

impl Target {
    fn query(&self) -> Vec<(&'static str, String)> {
        self.user
            .iter()
            .map(|user| ("user", user.clone()))
            .collect()
    }
}

/// Runs one backfill command; prints JSON.
pub async fn run(settings: &Settings, command: BackfillCommand) -> anyhow::Result<()> {
    let print = |value: &Value| {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("JSON prints")
        )
    };
    match command {
        BackfillCommand::Start {
            integration,
            data_types,
            target,
        } => {
            let server = find_server(settings, target.server.clone()).await?;
            let mut body = json!({"integration": integration});
            if !data_types.is_empty() {
                body["data_types"] = json!(data_types);
            }
            print(
                &server
                    .post_json("/v1/backfill", &target.query(), &body)
                    .await?,
            );
        }
        BackfillCommand::Status { job, watch, target } => {
            let server = find_server(settings, target.server.clone()).await?;
            let path = format!("/v1/backfill/{job}");
            let query = target.query();
            if !watch {
                print(&server.get_json(&path, &query).await?);
                return Ok(());
            }
            let bar = std::io::stderr().is_terminal().then(|| {
                let bar = ProgressBar::new(0);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} {msg} [{bar:40}] {pos}/{len} items ({per_sec}, eta {eta})",
                    )
                    .expect("the template is valid")
                    .progress_chars("=> "),
                );
                bar
            });
            let last = loop {
                let progress = server.get_json(&path, &query).await?;
                let counted = progress["done"].as_u64().unwrap_or(0)
                    + progress["failed"].as_u64().unwrap_or(0);
                match &bar {
                    Some(bar) => {
                        if let Some(total) = progress["total"].as_u64() {
                            bar.set_length(total);
                        }
                        bar.set_position(counted);
                        bar.set_message(progress["state"].as_str().unwrap_or_default().to_string());
                    }
                    None => println!("{progress}"),
                }
                if !matches!(progress["state"].as_str(), Some("running" | "stalled")) {
                    break progress;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            print(&last);
            anyhow::ensure!(
                last["state"] == "done",
                "backfill {job} ended {}: {}",
                last["state"],
                last["reason"].as_str().unwrap_or("no reason given")
            );
        }
        BackfillCommand::Cancel { job, target } => {
            let server = find_server(settings, target.server.clone()).await?;
            let path = format!("/v1/backfill/{job}/cancel");
            print(&server.post_json(&path, &target.query(), &json!({})).await?);
        }
        BackfillCommand::List { target } => {
            let server = find_server(settings, target.server.clone()).await?;
            print(&server.get_json("/v1/backfill", &target.query()).await?);
        }
    }
    Ok(())
}
