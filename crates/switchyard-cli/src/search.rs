//! Search as the CLI and the HTTP API offer it: one set of filters (`--type`, `--from`,
//! `--to`, `--date`, `--participant`, `--sort`) read from flags or query parameters and
//! turned into a [`SearchQuery`], and the `switchyard search` command with its navigation
//! (`--parent-of`, `--fragments-of`) and `vespa-package` subcommand.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand};
use serde::{Deserialize, Deserializer};
use switchyard_search::{DateField, DateRange, SearchHit, SearchQuery, SortOrder};

use crate::backends;
use crate::config::Settings;

/// Filters shared by `switchyard search` and `GET /v1/search`.
#[derive(Debug, Default, Clone, Args, Deserialize)]
#[serde(default)]
pub struct SearchFilters {
    /// Only these types, comma-separated: email, calendar, contact, word, sheet,
    /// presentation, task, todo, llm_chat, shipment, meeting_poll, meeting_booking.
    #[arg(long = "type", value_delimiter = ',')]
    #[serde(rename = "type", deserialize_with = "comma_separated")]
    pub types: Vec<String>,
    /// Only items dated on or after this (RFC 3339, or YYYY-MM-DD).
    #[arg(long)]
    pub from: Option<String>,
    /// Only items dated before this (RFC 3339, or YYYY-MM-DD).
    #[arg(long)]
    pub to: Option<String>,
    /// Which date `--from`/`--to` compare: `created` (sent, start, first seen) or
    /// `updated` (last change) [default: created].
    #[arg(long)]
    pub date: Option<String>,
    /// Only items with this participant (an address: sender, recipient, attendee,
    /// organizer, assignee, author).
    #[arg(long)]
    pub participant: Option<String>,
    /// Order: `relevance` (BM25 with a recency boost), `last_updated` or
    /// `sync_timestamp` [default: relevance].
    #[arg(long)]
    pub sort: Option<String>,
}

fn comma_separated<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?.unwrap_or_default();
    Ok(text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(str::to_string)
        .collect())
}

fn parse_date(name: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map(|date| {
            date.and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
        })
        .map_err(|_| anyhow!("invalid `{name}` `{text}`: use RFC 3339 or YYYY-MM-DD"))
}

impl SearchFilters {
    /// The query for `text` in `user`'s documents with these filters.
    pub fn to_query(
        &self,
        text: String,
        user_id: String,
        limit: usize,
    ) -> anyhow::Result<SearchQuery> {
        let field = match self.date.as_deref() {
            None | Some("created") => DateField::CreatedAt,
            Some("updated") => DateField::UpdatedAt,
            Some(other) => bail!("invalid `date` `{other}`: use `created` or `updated`"),
        };
        let from = self
            .from
            .as_deref()
            .map(|t| parse_date("from", t))
            .transpose()?;
        let to = self
            .to
            .as_deref()
            .map(|t| parse_date("to", t))
            .transpose()?;
        let sort = match self.sort.as_deref() {
            None => SortOrder::Relevance,
            Some(name) => SortOrder::parse(name).ok_or_else(|| {
                anyhow!("invalid `sort` `{name}`: use relevance, last_updated or sync_timestamp")
            })?,
        };
        Ok(SearchQuery {
            text,
            user_id,
            doc_types: self.types.clone(),
            date_range: (from.is_some() || to.is_some()).then_some(DateRange { field, from, to }),
            participant: self.participant.clone().filter(|p| !p.is_empty()),
            sort,
            limit,
            ..SearchQuery::default()
        })
    }
}

/// `switchyard search …`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SearchArgs {
    #[command(subcommand)]
    command: Option<SearchCommand>,
    /// Free text; empty lists the newest documents.
    query: Option<String>,
    /// The user whose documents to search (required).
    #[arg(long, value_parser = crate::user_id)]
    user: Option<String>,
    #[command(flatten)]
    filters: SearchFilters,
    /// Show the document a fragment belongs to.
    #[arg(long, value_name = "FRAGMENT_ID", conflicts_with = "fragments_of")]
    parent_of: Option<String>,
    /// List a document's fragments in order.
    #[arg(long, value_name = "DOCUMENT_ID")]
    fragments_of: Option<String>,
    /// Most results to show.
    #[arg(long, default_value_t = 10)]
    limit: usize,
    /// One JSON object per result.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum SearchCommand {
    /// Write the Vespa application package (schemas/*.sd, services.xml) generated from
    /// the same document definitions as the embedded index.
    VespaPackage {
        /// The directory to write (created if missing).
        out_dir: PathBuf,
    },
}

/// Runs `switchyard search`.
pub fn run(settings: &Settings, args: SearchArgs) -> anyhow::Result<ExitCode> {
    if let Some(SearchCommand::VespaPackage { out_dir }) = args.command {
        let (schemas, dir) = backends::write_vespa_package(&out_dir)?;
        println!(
            "wrote {schemas} schemas and services.xml to {}",
            dir.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let user = args
        .user
        .context("--user is required: every search is scoped to one user")?;
    let index = backends::open_search(&settings.engines, &settings.data_dir, true)
        .map_err(anyhow::Error::new)?;
    let mut out = std::io::stdout().lock();
    let mut print = |line: String| -> anyhow::Result<bool> {
        match writeln!(out, "{line}") {
            // The reader (`head`, a closed pipe) has seen enough.
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            other => other.map(|()| true).map_err(Into::into),
        }
    };
    if let Some(fragment) = &args.parent_of {
        match index.parent_of(&user, fragment)? {
            Some(hit) => print(format_hit(&hit, args.json)?)?,
            None => bail!("no fragment `{fragment}` of user `{user}` with an indexed document"),
        };
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(document) = &args.fragments_of {
        for fragment in index.fragments_of(&user, document)? {
            let line = if args.json {
                serde_json::to_string(&fragment)?
            } else {
                format!(
                    "{:>4}  {}  [{}]",
                    fragment.position, fragment.title, fragment.id
                )
            };
            if !print(line)? {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let query = args
        .filters
        .to_query(args.query.unwrap_or_default(), user, args.limit)?;
    for hit in index.search(&query)?.hits {
        if !print(format_hit(&hit, args.json)?)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn format_hit(hit: &SearchHit, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string(hit)?);
    }
    let mut line = format!(
        "{:>7.3}  {:<12} {}  [{}]",
        hit.score, hit.doc_type, hit.title, hit.id
    );
    for fragment in &hit.fragments {
        line.push_str(&format!(
            "\n         #{:<3} {}  [{}]",
            fragment.position, fragment.title, fragment.id
        ));
    }
    Ok(line)
}
