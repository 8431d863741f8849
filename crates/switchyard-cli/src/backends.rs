//! Which engines a node runs on, chosen by URL: the embedded engines in the data directory
//! (the default), or NATS JetStream / RabbitMQ for the bus, Redis for state and PostgreSQL
//! for the outbox, Vespa for search. Only this module names backend crates.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use switchyard_bus::{Broker, BusErrorKind, EmbeddedBroker};
use switchyard_search::{SearchBackend, SearchErrorKind, SearchIndex};
use switchyard_state::{EmbeddedState, Outbox, StateErrorKind, StateStore};

use crate::node::OpenError;

/// The RabbitMQ exchange of the identity event set.
#[cfg(feature = "rabbitmq")]
const IDENTITY_EXCHANGE: &str = "smap.events";

/// The outbox table in PostgreSQL.
#[cfg(feature = "postgres")]
const OUTBOX_TABLE: &str = "switchyard_outbox";

/// The engines of one node.
pub struct Engines {
    /// The message bus.
    pub broker: Arc<dyn Broker>,
    /// Idempotency keys and claim-check blobs.
    pub state: Arc<dyn StateStore>,
    /// The transactional outbox the relay drains.
    pub outbox: Arc<dyn Outbox>,
}

/// Where each engine lives; `None` is the embedded engine in the data directory.
#[derive(Debug, Clone, Default)]
pub struct EngineUrls {
    /// `nats://…` or `amqp://…`.
    pub bus: Option<String>,
    /// The NATS stream prefix or RabbitMQ exchange; `None` is the engine's default.
    pub bus_namespace: Option<String>,
    /// `redis://…`.
    pub state: Option<String>,
    /// `postgres://…`.
    pub outbox: Option<String>,
    /// A Vespa endpoint, `http://host:8080`; `None` is the embedded tantivy index.
    pub search: Option<String>,
}

fn scheme(url: &str) -> &str {
    url.split_once("://").map_or("", |(scheme, _)| scheme)
}

/// Opens the engines named by `urls`, embedded ones under `data_dir`.
pub async fn open(urls: &EngineUrls, data_dir: &Path) -> Result<Engines, OpenError> {
    let broker: Arc<dyn Broker> = match urls.bus.as_deref() {
        None => match EmbeddedBroker::open(&data_dir.join("bus")) {
            Ok(broker) => Arc::new(broker),
            Err(err) if err.kind() == BusErrorKind::InUse => {
                return Err(OpenError::InUse(data_dir.display().to_string()));
            }
            Err(err) => return Err(anyhow::Error::new(err).into()),
        },
        #[cfg(feature = "nats")]
        Some(url) if scheme(url) == "nats" => {
            let mut options = switchyard_nats::NatsOptions::default();
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
                .collect::<Vec<_>>();
            let mut options = switchyard_rabbitmq::RabbitOptions::default()
                .with_known_topics(dead_letter_topics)
                .with_dead_letter_suffix(switchyard_runtime::DLQ_SUFFIX);
            // One exchange per event set: the identity set keeps its established name.
            for (set, event) in switchyard_contracts::Registry::standard().events() {
                if set.name == "identity" {
                    options = options.with_topic_exchange(event.topic, IDENTITY_EXCHANGE);
                }
            }
            if let Some(namespace) = &urls.bus_namespace {
                options = options.with_exchange(namespace);
            }
            Arc::new(
                switchyard_rabbitmq::RabbitBroker::connect(url, options)
                    .await
                    .context("failed to open the RabbitMQ bus")?,
            )
        }
        Some(url) => bail_unknown("bus", url, &["nats", "amqp"])?,
    };
    let embedded_state = match (urls.state.as_deref(), urls.outbox.as_deref()) {
        (Some(_), Some(_)) => None,
        _ => match EmbeddedState::open(&data_dir.join("state")) {
            Ok(state) => Some(Arc::new(state)),
            Err(err) if err.kind() == StateErrorKind::InUse => {
                return Err(OpenError::InUse(data_dir.display().to_string()));
            }
            Err(err) => {
                return Err(anyhow::Error::new(err)
                    .context("failed to open state")
                    .into());
            }
        },
    };
    let state: Arc<dyn StateStore> = match urls.state.as_deref() {
        None => embedded_state
            .clone()
            .expect("opened when state is embedded"),
        #[cfg(feature = "redis")]
        Some(url) if scheme(url) == "redis" => Arc::new(
            switchyard_redis::RedisState::connect(switchyard_redis::RedisStateConfig::new(url))
                .await
                .context("failed to open the redis state store")?,
        ),
        Some(url) => bail_unknown("state", url, &["redis"])?,
    };
    let outbox: Arc<dyn Outbox> = match urls.outbox.as_deref() {
        None => embedded_state.expect("opened when the outbox is embedded"),
        #[cfg(feature = "postgres")]
        Some(url) if matches!(scheme(url), "postgres" | "postgresql") => {
            let outbox = switchyard_postgres::PostgresOutbox::connect(url, OUTBOX_TABLE)
                .await
                .context("failed to open the postgres outbox")?;
            outbox
                .migrate()
                .await
                .context("failed to create the outbox table")?;
            Arc::new(outbox)
        }
        Some(url) => bail_unknown("outbox", url, &["postgres"])?,
    };
    Ok(Engines {
        broker,
        state,
        outbox,
    })
}

/// The search engine named by `url` (a Vespa endpoint), or the embedded index of
/// `data_dir`: writable for a node, read-only for a one-off query.
pub fn open_search(
    url: Option<&str>,
    data_dir: &Path,
    read_only: bool,
) -> Result<Arc<dyn SearchBackend>, OpenError> {
    let index_dir = data_dir.join("index");
    match url {
        Some(url) if matches!(scheme(url), "http" | "https") => Ok(Arc::new(
            switchyard_vespa::VespaBackend::new(url).context("failed to open the Vespa search")?,
        )),
        Some(url) => Ok(bail_unknown("search", url, &["http", "https"])?),
        None if read_only => Ok(Arc::new(
            SearchIndex::open_read_only(&index_dir).with_context(|| {
                format!("failed to open the search index in {}", data_dir.display())
            })?,
        )),
        None => match SearchIndex::open(&index_dir) {
            Ok(index) => Ok(Arc::new(index)),
            Err(err) if err.kind() == SearchErrorKind::Locked => {
                Err(OpenError::InUse(data_dir.display().to_string()))
            }
            Err(err) => Err(anyhow::Error::new(err)
                .context("failed to open the search index")
                .into()),
        },
    }
}

fn bail_unknown<T>(engine: &str, url: &str, supported: &[&str]) -> anyhow::Result<T> {
    bail!(
        "unsupported {engine} URL `{url}` (scheme `{}`): use one of {}",
        scheme(url),
        supported
            .iter()
            .map(|s| format!("{s}://"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
