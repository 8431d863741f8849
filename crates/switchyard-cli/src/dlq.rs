//! `switchyard dlq` and `switchyard state`: the operator's tools for dead letters and
//! expired keys, on the local data directory or, when a server holds it, over its API.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use switchyard_runtime::DeadLetterFilter;

use crate::backends::OpenError;
use crate::config::Settings;
use crate::import::RemoteServer;
use crate::node::Node;
use crate::serve_record::find_server;

/// The dead-letter commands.
#[derive(Subcommand)]
pub enum DlqCommand {
    /// Counts per topic and error type, then every matching dead letter.
    List {
        #[command(flatten)]
        filter: FilterArgs,
        /// One JSON document.
        #[arg(long)]
        json: bool,
    },
    /// One dead letter with its full context.
    Show {
        /// Its id, `{dlq topic}/{sequence}`.
        id: String,
    },
    /// Send matching dead letters back to their topics (retry count reset).
    Redrive {
        #[command(flatten)]
        filter: FilterArgs,
        /// Every dead letter, when no filter is given.
        #[arg(long)]
        all: bool,
    },
    /// Delete matching dead letters.
    Purge {
        #[command(flatten)]
        filter: FilterArgs,
        /// Every dead letter, when no filter is given.
        #[arg(long)]
        all: bool,
        /// Confirms the deletion.
        #[arg(long)]
        yes: bool,
    },
}

/// The state commands.
#[derive(Subcommand)]
pub enum StateCommand {
    /// Delete every expired idempotency key and claim-check blob now.
    Cleanup,
}

/// Which dead letters a command applies to.
#[derive(Args, Clone, Default)]
pub struct FilterArgs {
    /// One dead letter, by id.
    #[arg(long)]
    id: Option<String>,
    /// Only dead letters of this original topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only this error type: undecodable, invalid, permanent, retries_exhausted.
    #[arg(long)]
    error_type: Option<String>,
}

impl FilterArgs {
    fn is_empty(&self) -> bool {
        self.id.is_none() && self.topic.is_none() && self.error_type.is_none()
    }

    fn to_filter(&self) -> DeadLetterFilter {
        DeadLetterFilter {
            id: self.id.clone(),
            topic: self.topic.clone(),
            error_type: self.error_type.clone(),
        }
    }

    fn to_json(&self) -> Value {
        json!({ "id": self.id, "topic": self.topic, "error_type": self.error_type })
    }
}

/// The local data directory, or the server that holds it.
enum Target {
    Local(Box<Node>),
    Remote(RemoteServer),
}

async fn target(settings: &Settings) -> anyhow::Result<Target> {
    match Node::open(settings).await {
        Ok(node) => Ok(Target::Local(Box::new(node))),
        Err(OpenError::InUse(_)) => Ok(Target::Remote(find_server(settings, None).await?)),
        Err(OpenError::Other(err)) => Err(err),
    }
}

/// Runs one dead-letter command; prints JSON documents.
pub async fn run_dlq(settings: &Settings, command: DlqCommand) -> anyhow::Result<()> {
    let target = target(settings).await?;
    let output = match command {
        DlqCommand::List { filter, json } => {
            let listing = match &target {
                Target::Local(node) => {
                    let queue = node.dead_letters();
                    json!({ "counts": queue.counts().await?, "entries": queue.list(&filter.to_filter()).await? })
                }
                Target::Remote(server) => {
                    let mut query = filter_query(&filter);
                    let mut listing = server.get_json("/v1/dlq", &query).await?;
                    while let Some(next) = listing["next"].as_str().map(str::to_string) {
                        query.retain(|(key, _)| *key != "cursor");
                        query.push(("cursor", next));
                        let page = server.get_json("/v1/dlq", &query).await?;
                        if let (Some(entries), Some(more)) = (
                            listing["entries"].as_array_mut(),
                            page["entries"].as_array(),
                        ) {
                            entries.extend(more.iter().cloned());
                        }
                        listing["next"] = page["next"].clone();
                    }
                    listing
                }
            };
            if json {
                serde_json::to_string_pretty(&listing)?
            } else {
                render_listing(&listing)
            }
        }
        DlqCommand::Show { id } => {
            let filter = FilterArgs {
                id: Some(id.clone()),
                ..FilterArgs::default()
            };
            let found = match &target {
                Target::Local(node) => {
                    serde_json::to_value(node.dead_letters().list(&filter.to_filter()).await?)?
                }
                Target::Remote(server) => {
                    server.get_json("/v1/dlq", &filter_query(&filter)).await?["entries"].clone()
                }
            };
            let entry = found
                .get(0)
                .cloned()
                .with_context(|| format!("no dead letter `{id}`"))?;
            serde_json::to_string_pretty(&entry)?
        }
        DlqCommand::Redrive { filter, all } => {
            if filter.is_empty() && !all {
                bail!("name what to redrive (--id, --topic, --error-type) or pass --all");
            }
            let redriven = match &target {
                Target::Local(node) => node.dead_letters().redrive(&filter.to_filter()).await?,
                Target::Remote(server) => server
                    .post_json("/v1/dlq/redrive", &[], &filter.to_json())
                    .await?["redriven"]
                    .as_u64()
                    .unwrap_or(0) as usize,
            };
            format!("redriven {redriven}")
        }
        DlqCommand::Purge { filter, all, yes } => {
            if filter.is_empty() && !all {
                bail!("name what to purge (--id, --topic, --error-type) or pass --all");
            }
            if !yes {
                bail!("purging deletes dead letters for good: pass --yes to confirm");
            }
            let purged = match &target {
                Target::Local(node) => node.dead_letters().purge(&filter.to_filter()).await?,
                Target::Remote(server) => {
                    let mut body = filter.to_json();
                    body["confirm"] = json!(true);
                    server.post_json("/v1/dlq/purge", &[], &body).await?["purged"]
                        .as_u64()
                        .unwrap_or(0) as usize
                }
            };
            format!("purged {purged}")
        }
    };
    println!("{output}");
    Ok(())
}

/// Runs one state command.
pub async fn run_state(settings: &Settings, command: StateCommand) -> anyhow::Result<()> {
    match command {
        StateCommand::Cleanup => {
            let purged = match target(settings).await? {
                Target::Local(node) => node.state.purge_expired().await?,
                Target::Remote(server) => server
                    .post_json("/v1/state/cleanup", &[], &json!({}))
                    .await?["purged"]
                    .as_u64()
                    .unwrap_or(0),
            };
            println!("deleted {purged} expired keys");
        }
    }
    Ok(())
}

fn filter_query(filter: &FilterArgs) -> Vec<(&'static str, String)> {
    [
        ("id", &filter.id),
        ("topic", &filter.topic),
        ("error_type", &filter.error_type),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.clone().map(|value| (name, value)))
    .collect()
}

fn render_listing(listing: &Value) -> String {
    let mut out = String::from("TOPIC                ERROR TYPE          COUNT\n");
    for count in listing["counts"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{:<20} {:<19} {}\n",
            count["topic"].as_str().unwrap_or_default(),
            count["error_type"].as_str().unwrap_or_default(),
            count["count"]
        ));
    }
    out.push('\n');
    for entry in listing["entries"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "{}  {}  retries={}  {}  {}\n",
            entry["id"].as_str().unwrap_or_default(),
            entry["error_type"].as_str().unwrap_or_default(),
            entry["retry_count"],
            entry["failed_at"].as_str().unwrap_or_default(),
            entry["error"].as_str().unwrap_or_default(),
        ));
    }
    out
}
