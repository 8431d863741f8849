//! Which engines a node runs on, chosen by URL: the embedded engines in the data directory
//! (the default), or NATS JetStream / RabbitMQ for the bus, Redis for state and PostgreSQL
//! for the outbox. Only this module names backend crates.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, bail};
use switchyard_bus::{Broker, BusErrorKind, EmbeddedBroker};
use switchyard_state::{EmbeddedState, Outbox, StateStore};

use crate::node::OpenError;

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
    /// `redis://…`.
    pub state: Option<String>,
    /// `postgres://…`.
    pub outbox: Option<String>,
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
        Some(url) => bail_unknown("bus", url, &["nats", "amqp"])?,
    };
    let embedded_state = match (urls.state.as_deref(), urls.outbox.as_deref()) {
        (Some(_), Some(_)) => None,
        _ => Some(Arc::new(
            EmbeddedState::open(&data_dir.join("state")).context("failed to open state")?,
        )),
    };
    let state: Arc<dyn StateStore> = match urls.state.as_deref() {
        None => embedded_state
            .clone()
            .expect("opened when state is embedded"),
        Some(url) => bail_unknown("state", url, &["redis"])?,
    };
    let outbox: Arc<dyn Outbox> = match urls.outbox.as_deref() {
        None => embedded_state.expect("opened when the outbox is embedded"),
        Some(url) => bail_unknown("outbox", url, &["postgres"])?,
    };
    Ok(Engines {
        broker,
        state,
        outbox,
    })
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
