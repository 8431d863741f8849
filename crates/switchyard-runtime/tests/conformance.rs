//! The runtime conformance suite on the embedded engines (redb bus and redb state).

use std::sync::Arc;

use switchyard_bus::EmbeddedBroker;
use switchyard_runtime::runtime_conformance_suite;
use switchyard_state::EmbeddedState;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_engines_pass_the_runtime_conformance_suite() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let broker = Arc::new(EmbeddedBroker::open(&dir.path().join("bus"))?);
    let state = Arc::new(EmbeddedState::open(&dir.path().join("state"))?);
    runtime_conformance_suite(broker, state).await
}
