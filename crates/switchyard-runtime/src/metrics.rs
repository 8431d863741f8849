//! The runtime's Prometheus metrics, declared once: events per subscription and outcome,
//! handler latency, published or refused events per topic, and publish retries per
//! topic, and the same publishes under the names the identity team's dashboards read
//! (`events_published_total{routing_key}`, `event_publish_failures_total{routing_key}`,
//! `event_publish_duration_seconds`). Rendered in the Prometheus text format by [`encode_metrics`].

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ConsumerLabels {
    pub subscription: String,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct SubscriptionLabel {
    pub subscription: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RoutingKeyLabel {
    pub routing_key: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct PublishLabels {
    pub topic: String,
    pub outcome: &'static str,
}

pub(crate) struct RuntimeMetrics {
    /// `switchyard_consumer_events_total{subscription, outcome}`.
    pub consumer_events: Family<ConsumerLabels, Counter>,
    /// `switchyard_consumer_handler_duration_seconds{subscription}`.
    pub handler_duration: Family<SubscriptionLabel, Histogram>,
    /// `switchyard_publisher_events_total{topic, outcome}`.
    pub publisher_events: Family<PublishLabels, Counter>,
    /// `switchyard_publisher_retries_total{topic}`.
    pub publisher_retries: Family<TopicLabel, Counter>,
    /// `events_published_total{routing_key}`: events a broker took, per topic.
    pub events_published: Family<RoutingKeyLabel, Counter>,
    /// `event_publish_failures_total{routing_key}`: events a publish gave up on.
    pub event_publish_failures: Family<RoutingKeyLabel, Counter>,
    /// `event_publish_duration_seconds`: one broker publish call, retries included.
    pub event_publish_duration: Histogram,
    registry: Registry,
}

pub(crate) static METRICS: LazyLock<RuntimeMetrics> = LazyLock::new(|| {
    let consumer_events = Family::<ConsumerLabels, Counter>::default();
    let handler_duration = Family::<SubscriptionLabel, Histogram>::new_with_constructor(|| {
        Histogram::new(exponential_buckets(0.0005, 2.0, 16))
    });
    let publisher_events = Family::<PublishLabels, Counter>::default();
    let publisher_retries = Family::<TopicLabel, Counter>::default();
    let events_published = Family::<RoutingKeyLabel, Counter>::default();
    let event_publish_failures = Family::<RoutingKeyLabel, Counter>::default();
    let event_publish_duration = Histogram::new(exponential_buckets(0.0001, 2.0, 18));
    let mut registry = Registry::default();
    registry.register(
        "switchyard_consumer_events",
        "Events per subscription by outcome: received, handled, duplicate, retried, dead_lettered, dead_letter_skipped",
        consumer_events.clone(),
    );
    registry.register(
        "switchyard_consumer_handler_duration_seconds",
        "Time a handler took for one batch",
        handler_duration.clone(),
    );
    registry.register(
        "switchyard_publisher_events",
        "Events per topic by outcome: published, rejected",
        publisher_events.clone(),
    );
    registry.register(
        "switchyard_publisher_retries",
        "Broker publish calls made again per topic after a transient error",
        publisher_retries.clone(),
    );
    registry.register(
        "events_published",
        "Events a broker took, per routing key (topic)",
        events_published.clone(),
    );
    registry.register(
        "event_publish_failures",
        "Events whose publish failed once retries were spent, per routing key (topic)",
        event_publish_failures.clone(),
    );
    registry.register(
        "event_publish_duration_seconds",
        "Time one broker publish call took until the broker confirmed, retries included",
        event_publish_duration.clone(),
    );
    RuntimeMetrics {
        consumer_events,
        handler_duration,
        publisher_events,
        publisher_retries,
        events_published,
        event_publish_failures,
        event_publish_duration,
        registry,
    }
});

impl RuntimeMetrics {
    pub(crate) fn count(&self, subscription: &str, outcome: &'static str, events: usize) {
        if events > 0 {
            self.consumer_events
                .get_or_create(&ConsumerLabels {
                    subscription: subscription.to_string(),
                    outcome,
                })
                .inc_by(events as u64);
        }
    }
}

/// Every runtime metric in the Prometheus text exposition format.
pub fn encode_metrics() -> String {
    encode_metrics_with(&[])
}

/// Every runtime metric and those of `extra` (a node's other parts, such as its HTTP
/// layer), in one Prometheus text exposition.
pub fn encode_metrics_with(extra: &[&Registry]) -> String {
    use prometheus_client::encoding::text::{encode_eof, encode_registry};
    let mut text = String::new();
    for registry in std::iter::once(&METRICS.registry).chain(extra.iter().copied()) {
        encode_registry(&mut text, registry).expect("writing to a String cannot fail");
    }
    encode_eof(&mut text).expect("writing to a String cannot fail");
    text
}
