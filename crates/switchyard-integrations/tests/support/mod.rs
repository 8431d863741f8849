//! Shared by the integration tests: the fake Microsoft of `switchyard-providers`, a
//! connector that asks it for tokens, and an account of every data type connected and
//! read through it onto the embedded bus.
#![allow(dead_code)] // each test binary uses its part

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchyard_auth::{SecretKeys, SecretString};
use switchyard_bus::{Broker, EmbeddedBroker};
use switchyard_contracts::Registry;
use switchyard_integrations::{
    ConnectRequest, Connector, DataType, Grant, Provider, ProviderEndpoints, RedbIntegrationStore,
    Sync,
};
pub use switchyard_providers::fake::FakeMicrosoft as Fake;
use switchyard_providers::{GraphClient, Throttle, TokenEndpoint};
use switchyard_runtime::Publisher;
use switchyard_state::EmbeddedState;

/// Starts the fake, `configure` setting its mailbox up.
pub async fn start(configure: impl FnOnce(&mut Fake)) -> Arc<Fake> {
    // The binary installs ring as the process's TLS provider; so does each test.
    let _ = rustls::crypto::ring::default_provider().install_default();
    switchyard_providers::fake::start(configure).await
}

/// A connector keeping integrations in `dir`, asking `fake` for tokens.
pub fn connector(fake: &Fake, dir: &Path) -> (Connector, Arc<RedbIntegrationStore>) {
    let store = Arc::new(RedbIntegrationStore::open(dir).unwrap());
    let (keys, _) = SecretKeys::in_data_dir(dir).unwrap();
    let endpoints = ProviderEndpoints {
        microsoft: Some(TokenEndpoint::new(
            &fake.token_url(),
            "client",
            Some(SecretString::new("secret")),
        )),
    };
    (
        Connector::new(store.clone(), Arc::new(keys), endpoints),
        store,
    )
}

/// Every data type an integration reads.
pub const ALL: &[DataType] = &[
    DataType::Emails,
    DataType::Calendars,
    DataType::Contacts,
    DataType::Todos,
    DataType::Files,
];

pub const USER: &str = "alice@example.com";

pub struct Setup {
    pub fake: Arc<Fake>,
    pub backfill: Arc<Sync>,
    pub store: Arc<switchyard_integrations::RedbIntegrationStore>,
    pub broker: Arc<EmbeddedBroker>,
    pub integration_id: String,
    pub connector: Arc<Connector>,
    pub dir: tempfile::TempDir,
}

pub async fn setup(configure: impl FnOnce(&mut Fake)) -> Setup {
    let fake = start(configure).await;
    let dir = tempfile::tempdir().unwrap();
    let (connector, store) = connector(&fake, dir.path());
    let integration = connector
        .connect(
            USER,
            ConnectRequest {
                provider: Provider::Microsoft,
                grant: Grant::RefreshToken(SecretString::new("granted")),
                data_types: ALL.to_vec(),
            },
        )
        .await
        .unwrap();
    let broker = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let jobs = Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let publisher = Publisher::new(broker.clone(), Arc::new(Registry::standard()));
    let graph = GraphClient::new(
        &fake.base_url,
        Throttle::new(Duration::from_secs(5), 3, Duration::from_millis(20)),
    );
    let connector = Arc::new(connector);
    let backfill = Arc::new(Sync::new(connector.clone(), graph, jobs, publisher));
    Setup {
        fake,
        backfill,
        store,
        broker,
        integration_id: integration.id,
        connector,
        dir,
    }
}

/// The topics a backfill of every data type publishes to.
pub const TOPICS: [&str; 7] = [
    "emails",
    "calendars",
    "contacts",
    "todos",
    "word_documents",
    "sheet_documents",
    "presentation_documents",
];

/// Per `topic/item id` published, how many times, and the correlation ids seen.
pub async fn published(broker: &EmbeddedBroker) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let mut ids = BTreeMap::new();
    let mut correlations = BTreeSet::new();
    for topic in TOPICS {
        for (_, message) in broker.browse(topic, 0, 100_000).await.unwrap() {
            let envelope: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
            let id = envelope["data"]["item"]["id"].as_str().unwrap();
            *ids.entry(format!("{topic}/{id}")).or_insert(0) += 1;
            correlations.insert(
                envelope["correlationid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
    }
    (ids, correlations)
}
