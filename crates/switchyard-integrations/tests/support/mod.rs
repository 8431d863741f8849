//! Shared by the integration tests: the fake Microsoft of `switchyard-providers` and a
//! connector that asks it for tokens.

use std::path::Path;
use std::sync::Arc;

use switchyard_auth::{SecretKeys, SecretString};
use switchyard_integrations::{Connector, ProviderEndpoints, RedbIntegrationStore};
use switchyard_providers::TokenEndpoint;
pub use switchyard_providers::fake::FakeMicrosoft as Fake;

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
