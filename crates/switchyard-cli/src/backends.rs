//! Which engines a node runs on, chosen by URL: the embedded engines in the data directory
//! (the default), or NATS JetStream / RabbitMQ for the bus, Redis for state and PostgreSQL
//! for the outbox, Vespa for search. Only this module names backend crates; each sits
//! behind a cargo feature of the same name (`nats`, `rabbitmq`, `redis`, `postgres`,
//! `vespa`, all default), and a binary built without one refuses its URLs naming the
//! feature.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use switchyard_bus::{Broker, EmbeddedBroker};
use switchyard_identity::{EmbeddedIdentityStore, IdentityStore};
use switchyard_search::{SearchBackend, SearchErrorKind};
use switchyard_state::{EmbeddedState, JobProgressStore, OpenDatabaseError, Outbox, StateStore};
use switchyard_tantivy::SearchIndex;

/// The RabbitMQ exchange of the identity event set.
#[cfg(feature = "rabbitmq")]
const IDENTITY_EXCHANGE: &str = "smap.events";

/// The outbox table in PostgreSQL, in the schema named after the namespace if there is one.
#[cfg(feature = "postgres")]
const OUTBOX_TABLE: &str = "switchyard_outbox";
/// The table of accounts and subscriptions, beside the outbox.
#[cfg(feature = "postgres")]
const IDENTITY_TABLE: &str = "switchyard_identity";

/// What separates a namespace from the key in Redis, as in the keys themselves
/// (`idempotency:…`, `office:…`).
#[cfg(feature = "redis")]
const REDIS_NAMESPACE_SEPARATOR: &str = ":";

/// The engines of one node.
pub struct Engines {
    /// The message bus.
    pub broker: Arc<dyn Broker>,
    /// Idempotency keys and claim-check blobs.
    pub state: Arc<dyn StateStore>,
    /// Job progress, on the same engine as `state`.
    pub jobs: Arc<dyn JobProgressStore>,
    /// The transactional outbox the relay drains.
    pub outbox: Arc<dyn Outbox>,
    /// Accounts and subscriptions, beside the outbox their events go to.
    pub identity: Arc<dyn IdentityStore>,
    /// Redis, when the state lives there: what `GET /health/redis` asks.
    pub redis: Option<RedisProbe>,
}

/// Asks Redis whether it answers, and the state of the store's circuit breaker.
#[derive(Clone)]
pub struct RedisProbe {
    state: Arc<dyn StateStore>,
    circuit: Arc<dyn Fn() -> &'static str + Send + Sync>,
}

impl RedisProbe {
    /// A round trip to Redis.
    pub async fn ping(&self) -> Result<(), String> {
        self.state.ping().await.map_err(|err| err.to_string())
    }

    /// `closed`, `open` or `half_open`.
    pub fn circuit(&self) -> &'static str {
        (self.circuit)()
    }
}

/// Where each engine lives; `None` is the embedded engine in the data directory.
#[derive(Debug, Clone, Default)]
pub struct EngineUrls {
    /// `nats://…` or `amqp://…`.
    pub bus: Option<String>,
    /// Keeps deployments sharing servers apart: the NATS stream prefix or RabbitMQ
    /// exchange, the Redis key prefix (`{namespace}:`) and the PostgreSQL schema of the
    /// outbox. `None`: each engine's default, no key prefix, the outbox in the search
    /// path's schema.
    pub bus_namespace: Option<String>,
    /// `redis://…`.
    pub state: Option<String>,
    /// `postgres://…`.
    pub outbox: Option<String>,
    /// A Vespa endpoint, `http://host:8080`; `None` is the embedded tantivy index.
    pub search: Option<String>,
    /// CA files for TLS connections to the engines.
    pub ca_files: EngineCaFiles,
}

/// PEM files of the CAs that signed the engines' server certificates, for TLS URLs
/// (`tls://`, `amqps://`, `rediss://`, PostgreSQL `sslmode`, `https://`); `None` trusts the
/// system's CAs (Redis: only the file's CA when one is set).
#[derive(Debug, Clone, Default)]
pub struct EngineCaFiles {
    /// The bus (NATS or RabbitMQ).
    pub bus: Option<PathBuf>,
    /// The state store (Redis).
    pub state: Option<PathBuf>,
    /// The outbox (PostgreSQL; the URL's `sslrootcert` also works).
    pub outbox: Option<PathBuf>,
    /// The search engine (Vespa).
    pub search: Option<PathBuf>,
}

impl EngineCaFiles {
    /// The CA files named by the environment (`SWITCHYARD_*_CA_FILE`).
    pub fn from_env() -> EngineCaFiles {
        use crate::env_vars;
        let path = |name: &str| std::env::var_os(name).map(PathBuf::from);
        EngineCaFiles {
            bus: path(env_vars::BUS_CA_FILE),
            state: path(env_vars::STATE_CA_FILE),
            outbox: path(env_vars::OUTBOX_CA_FILE),
            search: path(env_vars::SEARCH_CA_FILE),
        }
    }

    /// Each file of `self`, else of `fallback`.
    pub fn or(self, fallback: EngineCaFiles) -> EngineCaFiles {
        EngineCaFiles {
            bus: self.bus.or(fallback.bus),
            state: self.state.or(fallback.state),
            outbox: self.outbox.or(fallback.outbox),
            search: self.search.or(fallback.search),
        }
    }
}

fn scheme(url: &str) -> &str {
    url.split_once("://").map_or("", |(scheme, _)| scheme)
}

/// `url` with the password of its user info (and of a `password` query parameter)
/// masked, for messages and logs.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "(not a URL)".to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let path = match path.split_once('?') {
        Some((path, query)) => {
            let query = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.ends_with("password") => format!("{name}=***"),
                    _ => pair.to_string(),
                })
                .collect::<Vec<_>>()
                .join("&");
            format!("{path}?{query}")
        }
        None => path.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

/// Why a data directory could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Another process (a running `serve`) holds it.
    #[error("data directory {0} is in use by another switchyard process")]
    InUse(String),
    /// Anything else.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// `result` of opening an embedded store of `data_dir`: a file held by another process (a
/// running `serve`) becomes [`OpenError::InUse`], any other failure an error naming
/// `what`. Every embedded store is opened through here.
pub(crate) fn opened<T>(
    result: Result<T, OpenDatabaseError>,
    data_dir: &Path,
    what: &str,
) -> Result<T, OpenError> {
    result.map_err(|err| {
        if err.is_in_use() {
            OpenError::InUse(data_dir.display().to_string())
        } else {
            OpenError::Other(anyhow::Error::new(err).context(format!("failed to open {what}")))
        }
    })
}

/// Opens the engines named by `urls`, embedded ones under `data_dir`.
pub async fn open(urls: &EngineUrls, data_dir: &Path) -> Result<Engines, OpenError> {
    let broker: Arc<dyn Broker> = match urls.bus.as_deref() {
        None => Arc::new(opened(
            EmbeddedBroker::open(&data_dir.join("bus")),
            data_dir,
            "the bus",
        )?),
        #[cfg(feature = "nats")]
        Some(url) if matches!(scheme(url), "nats" | "tls") => {
            let mut options = switchyard_nats::NatsOptions::default();
            if let Some(ca_file) = &urls.ca_files.bus {
                options = options.with_ca_file(ca_file);
            }
            if let Some(namespace) = &urls.bus_namespace {
                options = options.with_stream_prefix(namespace);
            }
            Arc::new(
                switchyard_nats::NatsBroker::connect(url, options)
                    .await
                    .context("failed to open the NATS bus")?,
            )
        }
        #[cfg(feature = "rabbitmq")]
        Some(url) if matches!(scheme(url), "amqp" | "amqps") => {
            // A fresh process knows no topics; the dead-letter tools need to find them.
            let dead_letter_topics = switchyard_contracts::Registry::standard()
                .events()
                .map(|(_, event)| switchyard_runtime::dlq_topic(event.topic))
                .chain([switchyard_mailer::MAILER_DEAD_LETTER_TOPIC.to_string()])
                .collect::<Vec<_>>();
            let mut options = switchyard_rabbitmq::RabbitOptions::default()
                .with_known_topics(dead_letter_topics)
                .with_dead_letter_suffix(switchyard_runtime::DLQ_SUFFIX);
            // One exchange per event set: the identity set keeps its established name,
            // and its legacy copies go to the fanout exchange the legacy consumers read.
            for (set, event) in switchyard_contracts::Registry::standard().events() {
                if set.name == "identity" {
                    options = options.with_topic_exchange(event.topic, IDENTITY_EXCHANGE);
                }
            }
            options = options.with_fanout_exchange(switchyard_identity::LEGACY_EXCHANGE);
            if let Some(namespace) = &urls.bus_namespace {
                options = options.with_namespace(namespace);
            }
            if let Some(ca_file) = &urls.ca_files.bus {
                options = options.with_ca_file(ca_file);
            }
            Arc::new(
                switchyard_rabbitmq::RabbitBroker::connect(url, options)
                    .await
                    .context("failed to open the RabbitMQ bus")?,
            )
        }
        #[cfg(not(feature = "nats"))]
        Some(url) if matches!(scheme(url), "nats" | "tls") => {
            bail_without_feature("bus", url, "nats")?
        }
        #[cfg(not(feature = "rabbitmq"))]
        Some(url) if matches!(scheme(url), "amqp" | "amqps") => {
            bail_without_feature("bus", url, "rabbitmq")?
        }
        Some(url) => bail_unknown("bus", url, &["nats", "tls", "amqp", "amqps"])?,
    };
    let embedded_state = match (urls.state.as_deref(), urls.outbox.as_deref()) {
        (Some(_), Some(_)) => None,
        _ => Some(Arc::new(opened(
            EmbeddedState::open(&data_dir.join("state")),
            data_dir,
            "state",
        )?)),
    };
    let mut redis = None;
    let (state, jobs): (Arc<dyn StateStore>, Arc<dyn JobProgressStore>) =
        match urls.state.as_deref() {
            None => {
                let state = embedded_state
                    .clone()
                    .expect("opened when state is embedded");
                (state.clone(), state)
            }
            #[cfg(feature = "redis")]
            Some(url) if matches!(scheme(url), "redis" | "rediss") => {
                let mut config = switchyard_redis::RedisStateConfig::new(url);
                config.ca_file = urls.ca_files.state.clone();
                if let Some(namespace) = &urls.bus_namespace {
                    config = config.with_namespace(redis_namespace(namespace));
                }
                let state = Arc::new(
                    switchyard_redis::RedisState::connect(config)
                        .await
                        .context("failed to open the redis state store")?,
                );
                let breaker = state.clone();
                redis = Some(RedisProbe {
                    state: state.clone(),
                    circuit: Arc::new(move || match breaker.circuit_state() {
                        switchyard_redis::CircuitState::Closed => "closed",
                        switchyard_redis::CircuitState::Open => "open",
                        switchyard_redis::CircuitState::HalfOpen => "half_open",
                    }),
                });
                (state.clone(), state)
            }
            #[cfg(not(feature = "redis"))]
            Some(url) if matches!(scheme(url), "redis" | "rediss") => {
                bail_without_feature("state", url, "redis")?
            }
            Some(url) => bail_unknown("state", url, &["redis", "rediss"])?,
        };
    let (outbox, identity): (Arc<dyn Outbox>, Arc<dyn IdentityStore>) = match urls.outbox.as_deref()
    {
        None => {
            let state = embedded_state.expect("opened when the outbox is embedded");
            (state.clone(), Arc::new(EmbeddedIdentityStore::new(state)))
        }
        #[cfg(feature = "postgres")]
        Some(url) if matches!(scheme(url), "postgres" | "postgresql") => {
            let table = outbox_table(urls.bus_namespace.as_deref());
            let outbox = switchyard_postgres::PostgresOutbox::connect_with_ca_file(
                url,
                &table,
                urls.ca_files.outbox.as_deref(),
            )
            .await
            .with_context(|| match &urls.bus_namespace {
                Some(namespace) => format!(
                    "failed to open the postgres outbox in the schema of bus namespace `{namespace}`"
                ),
                None => "failed to open the postgres outbox".to_string(),
            })?;
            outbox
                .migrate()
                .await
                .context("failed to create the outbox table")?;
            let identity = switchyard_identity::PostgresIdentityStore::new(
                Arc::new(outbox.with_new_claimant()),
                &postgres_table(urls.bus_namespace.as_deref(), IDENTITY_TABLE),
            )
            .context("failed to open the identity store")?;
            identity
                .migrate()
                .await
                .context("failed to create the identity table")?;
            (Arc::new(outbox), Arc::new(identity))
        }
        #[cfg(not(feature = "postgres"))]
        Some(url) if matches!(scheme(url), "postgres" | "postgresql") => {
            bail_without_feature("outbox", url, "postgres")?
        }
        Some(url) => bail_unknown("outbox", url, &["postgres"])?,
    };
    Ok(Engines {
        broker,
        state,
        jobs,
        outbox,
        identity,
        redis,
    })
}

/// The prefix of every Redis key of the deployment `namespace`.
#[cfg(feature = "redis")]
fn redis_namespace(namespace: &str) -> String {
    format!("{namespace}{REDIS_NAMESPACE_SEPARATOR}")
}

/// The outbox table of the deployment `namespace`: `{namespace}.switchyard_outbox`, in a
/// schema of its own (the outbox checks the name is a plain lowercase identifier).
#[cfg(feature = "postgres")]
fn outbox_table(namespace: Option<&str>) -> String {
    postgres_table(namespace, OUTBOX_TABLE)
}

/// `table` in the schema of the deployment `namespace`, if any.
#[cfg(feature = "postgres")]
fn postgres_table(namespace: Option<&str>, table: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}.{table}"),
        None => table.to_string(),
    }
}

/// The search engine named by `urls.search` (a Vespa endpoint), or the embedded index of
/// `data_dir`: writable for a node, read-only for a one-off query.
pub fn open_search(
    urls: &EngineUrls,
    data_dir: &Path,
    read_only: bool,
) -> Result<Arc<dyn SearchBackend>, OpenError> {
    let index_dir = data_dir.join("index");
    match urls.search.as_deref() {
        #[cfg(feature = "vespa")]
        Some(url) if matches!(scheme(url), "http" | "https") => Ok(Arc::new(
            switchyard_vespa::VespaBackend::with_ca_file(url, urls.ca_files.search.as_deref())
                .context("failed to open the Vespa search")?,
        )),
        #[cfg(not(feature = "vespa"))]
        Some(url) if matches!(scheme(url), "http" | "https") => {
            Ok(bail_without_feature("search", url, "vespa")?)
        }
        Some(url) => Ok(bail_unknown("search", url, &["http", "https"])?),
        None if read_only => Ok(Arc::new(
            SearchIndex::open_read_only(&index_dir).with_context(|| {
                format!("failed to open the search index in {}", data_dir.display())
            })?,
        )),
        None => match SearchIndex::open(&index_dir) {
            Ok(index) => Ok(Arc::new(index)),
            Err(err) if err.kind() == SearchErrorKind::InUse => {
                Err(OpenError::InUse(data_dir.display().to_string()))
            }
            Err(err) => Err(anyhow::Error::new(err)
                .context("failed to open the search index")
                .into()),
        },
    }
}

/// Writes the Vespa application package (`switchyard search vespa-package`) into
/// `out_dir`: how many schemas it holds, and the directory written.
pub fn write_vespa_package(out_dir: &Path) -> anyhow::Result<(usize, PathBuf)> {
    #[cfg(feature = "vespa")]
    {
        let report = switchyard_vespa::write_application_package(out_dir).with_context(|| {
            format!("failed to write the Vespa package to {}", out_dir.display())
        })?;
        Ok((report.schemas.len(), report.dir))
    }
    #[cfg(not(feature = "vespa"))]
    bail!(
        "failed to write the Vespa package to {}: {}",
        out_dir.display(),
        built_without("vespa")
    )
}

/// Refuses `url`, whose engine this binary was built without, naming the cargo feature
/// that adds it; the URL is shown without its password. Unused when every backend is in.
#[cfg_attr(
    all(
        feature = "nats",
        feature = "rabbitmq",
        feature = "redis",
        feature = "postgres",
        feature = "vespa"
    ),
    allow(dead_code)
)]
fn bail_without_feature<T>(engine: &str, url: &str, feature: &str) -> anyhow::Result<T> {
    bail!(
        "unsupported {engine} URL `{}`: {}",
        redact_url(url),
        built_without(feature)
    )
}

/// Why an engine behind the cargo feature `feature` is missing, and how to get it.
fn built_without(feature: &str) -> String {
    format!(
        "this switchyard was built without the `{feature}` feature (build it with `--features {feature}`)"
    )
}

/// Refuses `url`, naming its scheme; the URL is shown without its password.
fn bail_unknown<T>(engine: &str, url: &str, supported: &[&str]) -> anyhow::Result<T> {
    bail!(
        "unsupported {engine} URL `{}` (scheme `{}`): use one of {}",
        redact_url(url),
        scheme(url),
        supported
            .iter()
            .map(|s| format!("{s}://"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_redacted(url: &str, expected: &str) {
        assert_eq!(redact_url(url), expected);
    }

    #[test]
    fn redacts_passwords() {
        check_redacted("nats://127.0.0.1:4222", "nats://127.0.0.1:4222");
        check_redacted(
            "amqps://guest:secret@rabbit:5671/%2f",
            "amqps://guest:***@rabbit:5671/%2f",
        );
        check_redacted("rediss://:secret@redis", "rediss://:***@redis");
        check_redacted(
            "postgres://app@db/app?sslmode=verify-full&password=secret",
            "postgres://app@db/app?sslmode=verify-full&password=***",
        );
        check_redacted(
            "mongodb://user:p@ss:word@host/db",
            "mongodb://user:***@host/db",
        );
        check_redacted("user:secret@host", "(not a URL)");
    }

    #[test]
    fn an_unsupported_scheme_is_named_without_the_password() {
        let err = bail_unknown::<()>("state", "memcached://admin:hunter2@cache:11211", &["redis"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unsupported state URL `memcached://admin:***@cache:11211` (scheme `memcached`): \
             use one of redis://"
        );
        assert!(!err.contains("hunter2"));
    }

    #[test]
    fn a_url_of_an_engine_built_without_names_its_feature() {
        let err = bail_without_feature::<()>("search", "https://admin:hunter2@vespa:8443", "vespa")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unsupported search URL `https://admin:***@vespa:8443`: this switchyard was built \
             without the `vespa` feature (build it with `--features vespa`)"
        );
    }

    #[cfg(all(feature = "redis", feature = "postgres"))]
    #[test]
    fn a_namespace_names_the_redis_prefix_and_the_outbox_schema() {
        assert_eq!(redis_namespace("blue"), "blue:");
        assert_eq!(outbox_table(Some("blue")), "blue.switchyard_outbox");
        assert_eq!(outbox_table(None), "switchyard_outbox");
    }

    /// The namespace reaches the engines `open` builds: on the shared Redis and
    /// PostgreSQL (`REDIS_URL`, `DATABASE_URL`), a key lands under `{namespace}:` and the
    /// outbox is the table of schema `{namespace}`, which `open` created. Both are removed
    /// afterwards, passed or failed.
    #[cfg(all(feature = "redis", feature = "postgres"))]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn open_puts_state_and_outbox_in_the_namespace() -> anyhow::Result<()> {
        use std::time::Duration;

        use switchyard_postgres::PostgresOutbox;
        use switchyard_redis::{RedisState, RedisStateConfig};

        let redis_url = std::env::var("REDIS_URL")
            .unwrap_or_else(|_| switchyard_redis::DEFAULT_REDIS_URL.to_string());
        let database_url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
        let namespace = format!("switchyard_cli_test_{}", uuid::Uuid::now_v7().simple());
        let data_dir = tempfile::tempdir()?;
        let urls = EngineUrls {
            state: Some(redis_url.clone()),
            outbox: Some(database_url.clone()),
            bus_namespace: Some(namespace.clone()),
            ..EngineUrls::default()
        };
        let bare_redis = RedisState::connect(RedisStateConfig::new(&redis_url)).await?;
        let schema_outbox =
            PostgresOutbox::connect(&database_url, &format!("{namespace}.{OUTBOX_TABLE}")).await?;

        let checks = async {
            let engines = open(&urls, data_dir.path()).await?;
            let keys = vec!["idempotency:cli-namespace".to_string()];
            engines
                .state
                .put_many(&keys, b"in the namespace", Some(Duration::from_secs(60)))
                .await?;
            let stored = bare_redis
                .get(&format!("{namespace}:idempotency:cli-namespace"))
                .await?;
            anyhow::ensure!(
                stored.as_deref() == Some(b"in the namespace".as_slice()),
                "the key is not under `{namespace}:`: {stored:?}"
            );

            let mut tx = schema_outbox.pool().begin().await?;
            schema_outbox.enqueue(&mut tx, "key", b"event").await?;
            tx.commit().await?;
            anyhow::ensure!(
                engines.outbox.pending_count().await? == 1,
                "the node's outbox is not {}",
                schema_outbox.table()
            );
            Ok(())
        }
        .await;

        bare_redis
            .delete_many(&[
                format!("{namespace}:idempotency:cli-namespace"),
                format!("{namespace}:switchyard:state:expiry-index"),
            ])
            .await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{namespace}\" CASCADE"))
            .execute(schema_outbox.pool())
            .await?;
        checks
    }
}
