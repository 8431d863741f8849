//! The HTTP layer's metrics, served with the runtime's on `GET /metrics`: requests
//! refused before a handler ran, by reason — never by user, token or address.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Why a request was refused.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
pub enum Refusal {
    /// No credential, or one that is unknown, forged, revoked or expired (401).
    Unauthenticated,
    /// Another user's data, or a scope the credential lacks (403).
    Forbidden,
    /// Over the principal's rate (429).
    RateLimited,
    /// A `Host` not served here (421).
    Host,
}

impl Refusal {
    fn as_str(self) -> &'static str {
        match self {
            Refusal::Unauthenticated => "unauthenticated",
            Refusal::Forbidden => "forbidden",
            Refusal::RateLimited => "rate_limited",
            Refusal::Host => "host",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    reason: &'static str,
}

struct HttpMetrics {
    /// `switchyard_http_refusals_total{reason}`.
    refusals: Family<RefusalLabels, Counter>,
    registry: Registry,
}

static METRICS: LazyLock<HttpMetrics> = LazyLock::new(|| {
    let refusals = Family::<RefusalLabels, Counter>::default();
    let mut registry = Registry::default();
    registry.register(
        "switchyard_http_refusals",
        "Requests refused before a handler ran, by reason: unauthenticated, forbidden, rate_limited, host",
        refusals.clone(),
    );
    HttpMetrics { refusals, registry }
});

/// Counts one refused request.
pub fn count(refusal: Refusal) {
    METRICS
        .refusals
        .get_or_create(&RefusalLabels {
            reason: refusal.as_str(),
        })
        .inc();
}

/// The registry to encode beside the runtime's.
pub fn registry() -> &'static Registry {
    &METRICS.registry
}
