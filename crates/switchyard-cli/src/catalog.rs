//! `switchyard catalog`: check the event registry against its rules, and write the
//! generated catalog (Markdown and AsyncAPI 3.0) from it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use switchyard_catalog::{ASYNCAPI_PATH, MARKDOWN_PATH, asyncapi_json, markdown};
use switchyard_contracts::Registry;

/// The catalog commands.
#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Check every event set against the catalog rules; exit 1 on any violation.
    Check {
        /// One JSON object per violation.
        #[arg(long)]
        json: bool,
    },
    /// Write the catalog generated from the registry.
    Docs {
        /// Which document.
        #[arg(long, value_enum)]
        format: DocFormat,
        /// Where to write it [default: docs/event-catalog.md or docs/asyncapi.json];
        /// `-` prints it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Formats of the generated catalog.
#[derive(Clone, Copy, ValueEnum)]
pub enum DocFormat {
    /// Tables per domain, for people.
    Markdown,
    /// An AsyncAPI 3.0 document, for tools.
    Asyncapi,
}

/// Runs one catalog command.
pub fn run(command: CatalogCommand) -> anyhow::Result<ExitCode> {
    let registry = Registry::standard();
    match command {
        CatalogCommand::Check { json } => {
            let violations = registry.check();
            for violation in &violations {
                if json {
                    println!("{}", serde_json::to_string(violation)?);
                } else {
                    println!("{violation}");
                }
            }
            let events = registry.events().count();
            eprintln!(
                "{events} event types in {} sets, {} violations",
                registry.sets().len(),
                violations.len()
            );
            Ok(if violations.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        CatalogCommand::Docs { format, out } => {
            let (text, default_path) = match format {
                DocFormat::Markdown => (markdown(&registry), MARKDOWN_PATH),
                DocFormat::Asyncapi => (asyncapi_json(&registry), ASYNCAPI_PATH),
            };
            let path = out.unwrap_or_else(|| PathBuf::from(default_path));
            if path.as_os_str() == "-" {
                print!("{text}");
                return Ok(ExitCode::SUCCESS);
            }
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("failed to create {}", parent.display()))?;
            }
            std::fs::write(&path, text)
                .with_context(|| format!("failed to write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
