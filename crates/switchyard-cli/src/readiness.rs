//! Readiness: whether this process can do its work now. Every engine it uses must answer
//! (each engine's `ping`, all at once, each bounded) and none of its consumers may be
//! stuck on a failing step. `GET /health/ready` (and `/health`) answer 503 naming what
//! fails, `GET /v1/status` carries the same report, and the gauge
//! `switchyard_engine_ready{engine}` shows it over time.
//!
//! Liveness is not here: a process that answers HTTP is alive (`/health/live`).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;
use switchyard_bus::Broker;
use switchyard_runtime::{ConsumerHealth, FailingConsumer};
use switchyard_state::{Outbox, StateStore};

/// The longest one engine's check may take before it counts as not answering.
const PING_BUDGET: Duration = Duration::from_secs(3);

/// What a node checks.
#[derive(Clone)]
pub struct Readiness {
    pub(crate) broker: Arc<dyn Broker>,
    pub(crate) state: Arc<dyn StateStore>,
    pub(crate) outbox: Arc<dyn Outbox>,
    pub(crate) consumers: ConsumerHealth,
}

/// One engine's answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineReadiness {
    /// `bus`, `state` or `outbox`.
    pub engine: &'static str,
    /// Whether it answered within the budget.
    pub ready: bool,
    /// Why not, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A consumer whose steps fail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FailingConsumerReport {
    /// Its subscription.
    pub subscription: String,
    /// The last error of its steps.
    pub error: String,
    /// For how long, in seconds.
    pub failing_for_seconds: f64,
}

/// The whole answer of a readiness check.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadinessReport {
    /// `ready` or `unavailable`.
    pub status: &'static str,
    /// Each engine this process uses.
    pub engines: Vec<EngineReadiness>,
    /// How many consumers run in this process.
    pub consumers_running: usize,
    /// The consumers whose steps fail now.
    pub consumers_failing: Vec<FailingConsumerReport>,
}

impl ReadinessReport {
    /// Whether everything answered and no consumer fails.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

impl Readiness {
    /// Checks every engine now (concurrently, each within its budget) and collects the
    /// consumers' state; updates the readiness gauge.
    pub async fn check(&self) -> ReadinessReport {
        let (bus, state, outbox) = tokio::join!(
            bounded(self.broker.ping()),
            bounded(self.state.ping()),
            bounded(self.outbox.ping()),
        );
        let engines = vec![
            engine("bus", bus),
            engine("state", state),
            engine("outbox", outbox),
        ];
        for engine in &engines {
            METRICS
                .engine_ready
                .get_or_create(&EngineLabels {
                    engine: engine.engine,
                })
                .set(i64::from(engine.ready));
        }
        let consumers_failing: Vec<FailingConsumerReport> = self
            .consumers
            .failing()
            .into_iter()
            .map(
                |FailingConsumer {
                     subscription,
                     error,
                     for_duration,
                 }| FailingConsumerReport {
                    subscription,
                    error,
                    failing_for_seconds: for_duration.as_secs_f64(),
                },
            )
            .collect();
        let ready = engines.iter().all(|engine| engine.ready) && consumers_failing.is_empty();
        ReadinessReport {
            status: if ready { "ready" } else { "unavailable" },
            engines,
            consumers_running: self.consumers.running(),
            consumers_failing,
        }
    }
}

async fn bounded<E: std::fmt::Display>(
    ping: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(PING_BUDGET, ping).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no answer within {PING_BUDGET:?}")),
    }
}

fn engine(name: &'static str, answer: Result<(), String>) -> EngineReadiness {
    EngineReadiness {
        engine: name,
        ready: answer.is_ok(),
        error: answer.err(),
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EngineLabels {
    engine: &'static str,
}

struct ReadinessMetrics {
    /// `switchyard_engine_ready{engine}`: 1 when the engine answered the last check.
    engine_ready: Family<EngineLabels, Gauge>,
    registry: Registry,
}

static METRICS: LazyLock<ReadinessMetrics> = LazyLock::new(|| {
    let engine_ready = Family::<EngineLabels, Gauge>::default();
    let mut registry = Registry::default();
    registry.register(
        "switchyard_engine_ready",
        "Whether each engine this process uses answered the last readiness check (1) or not (0)",
        engine_ready.clone(),
    );
    ReadinessMetrics {
        engine_ready,
        registry,
    }
});

/// The registry to encode beside the runtime's.
pub fn registry() -> &'static Registry {
    &METRICS.registry
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_bus::{DownBroker, EmbeddedBroker};
    use switchyard_state::EmbeddedState;

    #[tokio::test]
    async fn names_the_engine_that_does_not_answer() {
        let dir = tempfile::tempdir().unwrap();
        let state = Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
        let mut readiness = Readiness {
            broker: Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap()),
            state: state.clone(),
            outbox: state,
            consumers: ConsumerHealth::default(),
        };
        let report = readiness.check().await;
        assert!(report.is_ready(), "{report:?}");

        readiness.broker = Arc::new(DownBroker);
        let report = readiness.check().await;
        assert!(!report.is_ready());
        let bus = &report.engines[0];
        assert_eq!((bus.engine, bus.ready), ("bus", false));
        assert!(bus.error.as_deref().unwrap().contains("broker down"));
        assert!(report.engines[1..].iter().all(|engine| engine.ready));
        // The value races with other tests' checks in this process; the fault suite
        // reads it from a server of its own.
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, registry()).unwrap();
        assert!(
            text.contains("switchyard_engine_ready{engine=\"bus\"}"),
            "{text}"
        );
    }
}
