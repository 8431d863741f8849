//! The `switchyard` binary: parses the command line and wires the crates together.
//! Domain logic lives in the library crates; this crate only connects them.

mod api;
mod backends;
mod backfill;
mod bench;
mod catalog;
mod config;
mod dlq;
mod env_vars;
mod import;
mod integrations;
mod node;
mod readiness;
mod search;
mod serve_record;
mod token;
mod topology;

use std::future::IntoFuture;
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget};

use switchyard_auth::{AuditLog, Authenticator, JwtVerifier, TokenStore};
use switchyard_notifier::TokenSigner;

use crate::backends::OpenError;
use crate::backends::{EngineCaFiles, EngineUrls};
use crate::config::Settings;
use crate::import::Destination;
use crate::integrations::Integrations;
use crate::node::Node;
use crate::serve_record::{HeldServeRecord, find_server};

/// Switchyard: office data in, typed events through, unified search out.
#[derive(Parser)]
#[command(name = "switchyard", version, about)]
struct Cli {
    /// TOML configuration file.
    #[arg(long, global = true, env = env_vars::CONFIG)]
    config: Option<PathBuf>,
    /// Data directory of the embedded engines [default: switchyard-data].
    #[arg(long, global = true, env = env_vars::DATA_DIR)]
    data_dir: Option<PathBuf>,
    /// Address of the HTTP API: where `serve` listens (port 0: any free port), and where
    /// `import`, `status`, `dlq`, `forget` and `state` look for the server holding the
    /// data directory when its record (`serve.json` there) names none [default:
    /// 127.0.0.1:8080].
    #[arg(long, global = true, env = env_vars::LISTEN)]
    listen: Option<SocketAddr>,
    /// Bus URL: `nats://host:4222` or `amqp://user:pass@host:5672/%2f` [default: embedded].
    #[arg(long, global = true, env = env_vars::BUS)]
    bus: Option<String>,
    /// Keeps deployments sharing servers apart: the NATS stream prefix [default:
    /// SWITCHYARD], the prefix `NAME.` of every RabbitMQ exchange and queue, the Redis key
    /// prefix `NAME:` and the PostgreSQL schema of the outbox [default: none of these].
    #[arg(long, global = true, env = env_vars::BUS_NAMESPACE)]
    bus_namespace: Option<String>,
    /// Search engine: a Vespa endpoint `http://host:8080` [default: the embedded index].
    #[arg(long, global = true, env = env_vars::SEARCH)]
    search: Option<String>,
    /// State URL: `redis://host:6379/0` (also `REDIS_URL`) [default: embedded].
    #[arg(long, global = true, env = env_vars::STATE)]
    state: Option<String>,
    /// Outbox database URL: `postgres://user@host/db` [default: embedded].
    #[arg(long, global = true, env = env_vars::OUTBOX)]
    outbox: Option<String>,
    /// The credential sent to a running server (an API token or a JWT) [default: a
    /// short-lived admin token minted in the data directory, when it is writable].
    #[arg(long, global = true, env = env_vars::TOKEN, hide_env_values = true)]
    token: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the consumers and the HTTP API.
    Serve {
        /// Only these roles (processes with the same role share the work) [default: all].
        #[arg(long, value_delimiter = ',')]
        roles: Vec<topology::Role>,
    },
    /// Create or check the subscriptions of the pipeline on the bus.
    Topics {
        #[command(subcommand)]
        topics: topology::TopicsCommand,
    },
    /// Import mail (.mbox, .eml, Maildir folders), calendars (.ics), contacts (.vcf),
    /// todos (.jsonl) and office documents (folders are walked recursively).
    Import {
        /// Files or folders.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The user the data belongs to.
        #[arg(long, value_parser = user_id)]
        user: String,
        /// Send to this running server instead of opening the data directory [default:
        /// when a server holds the data directory, the one its record `serve.json` names,
        /// else the one at --listen].
        #[arg(long, env = env_vars::SERVER)]
        server: Option<String>,
        /// Follow symlinks that lead out of the imported folders (by default they are
        /// reported and skipped).
        #[arg(long)]
        follow_symlinks: bool,
        /// Import Maildir messages flagged trashed (`T`, deleted but not yet expunged);
        /// by default each is reported as skipped.
        #[arg(long)]
        include_trashed: bool,
        /// How long to retry a batch while the server or the bus is unavailable, e.g.
        /// `30s`, `5m`, `1h`; `0` sends each batch once [default: `[import] retry_for`,
        /// else 5m].
        #[arg(long, env = env_vars::IMPORT_RETRY_FOR, value_parser = config::parse_human_duration)]
        retry_for: Option<Duration>,
    },
    /// Search one user's documents.
    /// Search one user's documents across every type, or navigate fragments.
    Search(search::SearchArgs),
    /// API tokens: create, list, revoke.
    Token {
        #[command(subcommand)]
        token: token::TokenCommand,
    },
    /// Print a short-lived token for the live stream only
    /// (`GET /v1/stream?user=…&access_token=…`), signed with SWITCHYARD_NOTIFIER_SECRET.
    StreamToken {
        /// Whose stream it opens.
        #[arg(long, value_parser = user_id)]
        user: String,
        /// How long it is valid, in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl_secs: i64,
    },
    /// Forget a user's discovered contacts (or one of them), with their search documents.
    Forget {
        /// Whose contacts.
        #[arg(long, value_parser = user_id)]
        user: String,
        /// Only this address.
        #[arg(long)]
        contact: Option<String>,
    },
    /// Show subscriptions and how far behind they are.
    Status,
    /// Dead letters: list, show, redrive, purge.
    Dlq {
        #[command(subcommand)]
        dlq: dlq::DlqCommand,
    },
    /// Backfills of connected accounts: start, status (--watch), cancel, list.
    Backfill {
        #[command(subcommand)]
        backfill: backfill::BackfillCommand,
    },
    /// The state store: expired-key cleanup.
    State {
        #[command(subcommand)]
        state: dlq::StateCommand,
    },
    /// Check the event registry and write the generated event catalog.
    Catalog {
        #[command(subcommand)]
        catalog: catalog::CatalogCommand,
    },
    /// Benchmarks (release build recommended).
    Bench {
        #[command(subcommand)]
        bench: bench::BenchCommand,
    },
}

/// A `--user` value: a valid user id (see `switchyard_contracts::check_user_id`).
pub(crate) fn user_id(text: &str) -> Result<String, String> {
    switchyard_contracts::check_user_id(text)
        .map(|()| text.to_string())
        .map_err(|err| err.to_string())
}

fn main() -> ExitCode {
    // One TLS stack for the whole binary: every rustls client without a provider of its
    // own (reqwest's) uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve { .. }) {
        "info"
    } else {
        "warn"
    };
    let filter = std::env::var(env_vars::LOG)
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| default_level.to_string());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let engines = EngineUrls {
        bus: cli.bus.clone(),
        bus_namespace: cli.bus_namespace.clone(),
        search: cli.search.clone(),
        state: cli
            .state
            .clone()
            .or_else(|| std::env::var(env_vars::REDIS_URL).ok()),
        outbox: cli.outbox.clone(),
        ca_files: EngineCaFiles::from_env(),
    };
    let mut settings = Settings::resolve(
        cli.config.as_deref(),
        cli.data_dir.clone(),
        cli.listen,
        engines,
    )?;
    settings.client_token = cli.token.clone();
    match cli.command {
        Command::Serve { roles } => {
            let roles = if roles.is_empty() {
                topology::default_roles(&settings)
            } else {
                roles
            };
            serve(&settings, &roles).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Import {
            paths,
            user,
            server,
            follow_symlinks,
            include_trashed,
            retry_for,
        } => {
            let retry = import::OutageRetry {
                retry_for: retry_for.unwrap_or(settings.import_retry_for),
            };
            let discover = switchyard_office::DiscoverOptions {
                follow_symlinks,
                include_trashed,
            };
            import(&settings, &paths, &user, server, discover, &retry).await
        }
        Command::Search(args) => {
            // Search engines block (the Vespa client is a blocking HTTP client).
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || search::run(&settings, args)).await?
        }
        Command::StreamToken { user, ttl_secs } => {
            let secret = std::env::var(env_vars::NOTIFIER_SECRET).with_context(|| {
                format!("set {} to the server's secret", env_vars::NOTIFIER_SECRET)
            })?;
            let signer = TokenSigner::new(secret.as_bytes())?;
            let expires = chrono::Utc::now() + chrono::Duration::seconds(ttl_secs);
            println!("{}", signer.issue(&user, expires));
            Ok(ExitCode::SUCCESS)
        }
        Command::Forget { user, contact } => {
            let forgotten = match Node::open(&settings).await {
                Ok(node) => {
                    switchyard_contacts::forget(
                        node.contacts.as_ref(),
                        &node.index,
                        &user,
                        contact.as_deref(),
                    )
                    .await?
                }
                Err(OpenError::InUse(_)) => {
                    let server = find_server(&settings, None).await?;
                    let mut query = vec![("user", user.clone())];
                    query.extend(contact.clone().map(|c| ("contact", c)));
                    let body = server.delete_json("/v1/contacts", &query).await?;
                    body["forgotten"].as_u64().unwrap_or(0) as usize
                }
                Err(OpenError::Other(err)) => return Err(err),
            };
            println!("forgot {forgotten} contacts of {user}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Status => {
            let status = match Node::open(&settings).await {
                Ok(node) => serde_json::to_value(node.broker.stats().await?)?,
                Err(OpenError::InUse(_)) => {
                    let server = find_server(&settings, None).await?;
                    server.status().await?["subscriptions"].clone()
                }
                Err(OpenError::Other(err)) => return Err(err),
            };
            println!("{}", serde_json::to_string_pretty(&status)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog { catalog } => catalog::run(catalog),
        Command::Token { token } => {
            token::run(&settings.data_dir, token).map(|()| ExitCode::SUCCESS)
        }
        Command::Topics { topics } => topology::run(&settings, topics).await,
        Command::Dlq { dlq } => dlq::run_dlq(&settings, dlq)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Backfill { backfill } => backfill::run(&settings, backfill)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::State { state } => dlq::run_state(&settings, state)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Bench { bench } => bench::run(bench, &settings)
            .await
            .map(|()| ExitCode::SUCCESS),
    }
}

/// How often `serve` checks its engines when nobody asks.
const READINESS_PERIOD: Duration = Duration::from_secs(5);

async fn serve(settings: &Settings, roles: &[topology::Role]) -> anyhow::Result<()> {
    let mut node = Node::open(settings).await?;
    node.create_subscriptions().await?;
    node.start_consumers(roles).await?;
    node.start_maintenance(roles);
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("failed to listen on {}", settings.listen))?;
    let address = listener
        .local_addr()
        .with_context(|| format!("failed to read the address bound for {}", settings.listen))?;
    // Removed when `serve` returns: the commands run beside it find it while it serves.
    let record = HeldServeRecord::write(&settings.data_dir, address)?;
    tracing::info!(address = %address, data_dir = %settings.data_dir.display(), "switchyard serving");
    let control = Arc::new(access_control(settings).await?);
    // Checked in the background too: keeps the readiness gauge current and brings back
    // an idle engine connection without waiting for a request.
    let readiness = node.readiness();
    let probe = tokio::spawn(async move {
        let mut ticks = tokio::time::interval(READINESS_PERIOD);
        loop {
            ticks.tick().await;
            let report = readiness.check().await;
            if !report.is_ready() {
                tracing::debug!(?report, "not ready");
            }
        }
    });
    let reload = tokio::spawn(reload_on_hangup(
        settings.config_file.clone(),
        node.identity.clone(),
    ));
    let integrations = Integrations::open(settings, &node)?;
    integrations.resume().await?;
    integrations.spawn_poll();
    let state = api::ApiState::new(&node, control.clone(), integrations);
    let router = api::router(state, node.journal.clone(), control, &settings.http)?;
    // Live streams never end on their own: once stopping, give requests a moment, then
    // close what is still open.
    let stopping = tokio_util::sync::CancellationToken::new();
    let server = axum::serve(listener, router)
        .with_graceful_shutdown(stopping.clone().cancelled_owned())
        .into_future();
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result.context("the HTTP server failed")?,
        () = shutdown_signal() => {
            stopping.cancel();
            if let Ok(result) = tokio::time::timeout(Duration::from_secs(5), &mut server).await {
                result.context("the HTTP server failed")?;
            }
        }
    }
    probe.abort();
    reload.abort();
    drop(record);
    tracing::info!("shutting down: finishing in-flight batches");
    node.shutdown(node::SHUTDOWN_DEADLINE).await;
    Ok(())
}

/// The credentials `serve` accepts: the data directory's API tokens, JWTs when
/// `[auth.jwt]` is configured, and signed stream tokens when the notifier secret is set.
async fn access_control(settings: &Settings) -> anyhow::Result<api::AccessControl> {
    let jwt = match &settings.jwt {
        Some(config) => {
            let secret = std::env::var(env_vars::JWT_SECRET).ok();
            let verifier = JwtVerifier::load(config.clone(), secret.as_deref().map(str::as_bytes))
                .await
                .map_err(|err| anyhow::anyhow!("[auth.jwt]: {err}"))?;
            let verifier = Arc::new(verifier);
            JwtVerifier::spawn_refresh(&verifier);
            Some(verifier)
        }
        None => None,
    };
    let stream_tokens = match std::env::var(env_vars::NOTIFIER_SECRET) {
        Ok(secret) => Some(
            TokenSigner::new(secret.as_bytes())
                .with_context(|| format!("invalid {}", env_vars::NOTIFIER_SECRET))?,
        ),
        Err(_) => None,
    };
    let audit = AuditLog::open(&settings.audit_log).with_context(|| {
        format!(
            "failed to open the audit log {}",
            settings.audit_log.display()
        )
    })?;
    let tokens = TokenStore::in_data_dir(&settings.data_dir);
    let public: Vec<String> = api::routes()
        .iter()
        .filter(|route| route.access == api::Access::Public)
        .map(|route| format!("{} {}", route.method, route.path))
        .collect();
    tracing::info!(tokens = %tokens.path().display(), audit_log = %settings.audit_log.display(), jwt = jwt.is_some(), public = %public.join(", "), "every route but the public ones needs a credential");
    Ok(api::AccessControl::new(
        Authenticator::new(tokens, jwt),
        stream_tokens,
        audit,
        settings.http.rate_limit,
    ))
}

/// Applies the configuration again on every SIGHUP, for what can change while serving:
/// the identity settings (`[identity] dual_publish`, the code lifetime). A file that does
/// not load is reported and changes nothing.
async fn reload_on_hangup(config_file: Option<PathBuf>, identity: switchyard_identity::Identity) {
    let Ok(mut hangups) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
    else {
        tracing::warn!("no SIGHUP handler: the configuration is read at start only");
        return;
    };
    while hangups.recv().await.is_some() {
        match config::reload_identity_settings(config_file.as_deref()) {
            Ok(settings) => {
                identity.reload(settings);
                tracing::info!(
                    dual_publish = settings.dual_publish,
                    code_lifetime_secs = settings.code_lifetime.num_seconds(),
                    "configuration reloaded"
                );
            }
            Err(err) => {
                tracing::error!(
                    error = format!("{err:#}"),
                    "configuration not reloaded, the previous one stays"
                )
            }
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler installs");
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
}

async fn import(
    settings: &Settings,
    paths: &[PathBuf],
    user: &str,
    server: Option<String>,
    discover: switchyard_office::DiscoverOptions,
    retry: &import::OutageRetry,
) -> anyhow::Result<ExitCode> {
    let read_settings = import::ReadSettings {
        limits: settings.import_limits.clone(),
        discover,
    };
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    let local = match server {
        Some(_) => None,
        None => match Node::open(settings).await {
            Ok(node) => Some(node),
            Err(OpenError::InUse(dir)) => {
                tracing::info!(data_dir = %dir, "data directory in use: sending to the running server");
                None
            }
            Err(OpenError::Other(err)) => return Err(err),
        },
    };
    let report = match local {
        Some(mut node) => {
            // Every role gets what is imported, whenever it first runs.
            node.create_subscriptions().await?;
            // On a distributed bus the indexers are `serve --roles indexer` processes:
            // an import that indexed too would take their work into its own index.
            let distributed = settings.engines.bus.is_some();
            if !distributed {
                node.start_consumers(&topology::Role::PIPELINE).await?;
            }
            let destination = Destination::Local(node.publisher.clone());
            let report =
                import::import(paths, user, &read_settings, &destination, retry, &progress).await;
            progress.set_message(if distributed {
                "waiting for the indexers (`switchyard serve --roles indexer`)"
            } else {
                "indexing"
            });
            let indexed = node.wait_until_indexed().await;
            node.shutdown(node::SHUTDOWN_DEADLINE).await;
            indexed?;
            report?
        }
        None => {
            let remote = find_server(settings, server).await?;
            let destination = Destination::Remote(remote);
            let report =
                import::import(paths, user, &read_settings, &destination, retry, &progress).await?;
            if let Destination::Remote(remote) = &destination {
                remote.wait_until_indexed(retry, &progress).await?;
            }
            report
        }
    };
    progress.finish_and_clear();
    println!(
        "imported {}, rejected {}, warned {} ({} files, {} bytes)",
        report.imported, report.rejected, report.warned, report.files, report.bytes
    );
    Ok(if report.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
