//! [`RabbitOptions`]: how a [`RabbitBroker`](crate::RabbitBroker) maps onto a RabbitMQ
//! virtual host, and how its consumers behave. Pure data: validation here never talks to
//! the server.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_bus::{BusError, BusErrorKind};

/// The environment variable tests and tools read the server URL from (the ecosystem name).
pub const AMQP_URL_ENV: &str = "AMQP_URL";

/// The URL of a local RabbitMQ with its default account and virtual host.
pub const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The default topic exchange of the office event set.
pub const DEFAULT_EXCHANGE: &str = "switchyard.events";

/// Settings of a [`RabbitBroker`](crate::RabbitBroker).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RabbitOptions {
    /// The durable topic exchange that carries every topic as a routing key
    /// (`switchyard.events`; the identity event set uses `smap.events`). Messages no
    /// subscription takes are kept through its alternate exchange `{exchange}.unrouted`.
    pub exchange: String,
    /// Most deliveries one subscription's consumer holds at once, buffered plus fetched
    /// and not yet settled (the AMQP prefetch count). A fetch never returns more.
    pub prefetch: u16,
    /// Once a fetch has a first message, how long it waits for another before it returns
    /// a partial batch.
    pub fetch_linger_ms: u64,
    /// How long `connect` waits for the server, and the longest any one request waits
    /// for its answer before the connection is given up and opened again.
    pub connect_timeout_ms: u64,
    /// Topics carried by another exchange than `exchange`: topic → exchange. One
    /// exchange per event set: the identity set's topics go through `smap.events`.
    pub topic_exchanges: BTreeMap<String, String>,
    /// When set, subscription queues dead-letter what the server itself drops from them
    /// (a length or TTL policy, a reject without requeue by another client) into the
    /// topic `{topic}{suffix}` of the same exchange, where the runtime's own dead letters
    /// go (`.dlq.v1`), instead of losing it.
    pub dead_letter_suffix: Option<String>,
    /// Topics that `topics()` reports besides those this process published to or
    /// subscribed to, so that dead-letter tooling in a fresh process finds them (AMQP
    /// cannot list queues).
    pub known_topics: Vec<String>,
    /// A PEM file of the CA that signed the server's certificate (`amqps://`), trusted
    /// besides the system's CAs.
    pub ca_file: Option<PathBuf>,
    /// Put before the name of every object this broker creates, with a `.`: exchanges,
    /// subscription queues, retry queues and the queues of unrouted messages. Deployments
    /// with different namespaces share a server without seeing each other.
    pub namespace: Option<String>,
}

impl Default for RabbitOptions {
    fn default() -> Self {
        RabbitOptions {
            exchange: DEFAULT_EXCHANGE.to_string(),
            prefetch: 1000,
            fetch_linger_ms: 10,
            connect_timeout_ms: 10_000,
            known_topics: Vec::new(),
            topic_exchanges: BTreeMap::new(),
            dead_letter_suffix: None,
            ca_file: None,
            namespace: None,
        }
    }
}

impl RabbitOptions {
    /// The same options with another exchange.
    pub fn with_exchange(mut self, exchange: impl Into<String>) -> Self {
        self.exchange = exchange.into();
        self
    }

    /// The same options with every object's name under `namespace` (see
    /// [`RabbitOptions::namespace`]).
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// These options as the server sees them: the namespace applied to the exchange
    /// names. What the broker works with.
    pub(crate) fn on_server(mut self) -> Self {
        if let Some(namespace) = &self.namespace {
            self.exchange = format!("{namespace}.{}", self.exchange);
            for exchange in self.topic_exchanges.values_mut() {
                *exchange = format!("{namespace}.{exchange}");
            }
        }
        self
    }

    /// The server's name of the queue of `subscription`.
    pub(crate) fn queue_of(&self, subscription: &str) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}.{subscription}"),
            None => subscription.to_string(),
        }
    }

    /// The same options with another prefetch count.
    pub fn with_prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch;
        self
    }

    /// The same options, with `topic` carried by `exchange`.
    pub fn with_topic_exchange(
        mut self,
        topic: impl Into<String>,
        exchange: impl Into<String>,
    ) -> Self {
        self.topic_exchanges.insert(topic.into(), exchange.into());
        self
    }

    /// The same options, dead-lettering into `{topic}{suffix}` (see
    /// [`RabbitOptions::dead_letter_suffix`]).
    pub fn with_dead_letter_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.dead_letter_suffix = Some(suffix.into());
        self
    }

    /// The exchange that carries `topic`; a dead-letter topic goes with its topic.
    pub fn exchange_for(&self, topic: &str) -> &str {
        let base = self
            .dead_letter_suffix
            .as_deref()
            .and_then(|suffix| topic.strip_suffix(suffix))
            .unwrap_or(topic);
        self.topic_exchanges
            .get(topic)
            .or_else(|| self.topic_exchanges.get(base))
            .map_or(self.exchange.as_str(), String::as_str)
    }

    /// Every exchange this broker uses: the default one and those of `topic_exchanges`.
    pub fn exchanges(&self) -> BTreeSet<&str> {
        std::iter::once(self.exchange.as_str())
            .chain(self.topic_exchanges.values().map(String::as_str))
            .collect()
    }

    /// The same options, also reporting `topics` from `topics()`.
    pub fn with_known_topics(mut self, topics: impl IntoIterator<Item = String>) -> Self {
        self.known_topics.extend(topics);
        self
    }

    /// The same options trusting the CA in the PEM file `ca_file` (for `amqps://`).
    pub fn with_ca_file(mut self, ca_file: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(ca_file.into());
        self
    }

    /// Checks the options without contacting the server.
    pub fn validate(&self) -> Result<(), BusError> {
        let invalid = |message: String| Err(BusError::new(BusErrorKind::InvalidArgument, message));
        for exchange in self.exchanges() {
            if exchange.is_empty() || exchange.len() > 200 {
                return invalid(format!(
                    "invalid exchange name `{exchange}`: 1 to 200 bytes"
                ));
            }
            if exchange.starts_with("amq.") {
                return invalid(format!(
                    "invalid exchange name `{exchange}`: the `amq.` prefix is reserved by RabbitMQ"
                ));
            }
        }
        for topic in self.topic_exchanges.keys() {
            crate::names::validate_topic(topic)?;
        }
        if let Some(namespace) = &self.namespace {
            let valid = (1..=32).contains(&namespace.len())
                && namespace
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
            if !valid {
                return invalid(format!(
                    "invalid namespace `{namespace}`: 1 to 32 of [A-Za-z0-9_-]"
                ));
            }
        }
        if self.prefetch == 0 {
            return invalid("invalid prefetch 0: a consumer needs at least 1".to_string());
        }
        for topic in &self.known_topics {
            crate::names::validate_topic(topic)?;
        }
        Ok(())
    }

    pub(crate) fn fetch_linger(&self) -> Duration {
        Duration::from_millis(self.fetch_linger_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(options: RabbitOptions, expected_error: Option<&str>) {
        let got = options.validate().err().map(|err| err.to_string());
        match (got, expected_error) {
            (None, None) => {}
            (Some(got), Some(expected)) => assert!(got.contains(expected), "{got}"),
            (got, expected) => panic!("expected {expected:?}, got {got:?}"),
        }
    }

    #[test]
    fn validation() {
        check(RabbitOptions::default(), None);
        check(RabbitOptions::default().with_exchange("smap.events"), None);
        check(RabbitOptions::default().with_exchange(""), Some("1 to 200"));
        check(
            RabbitOptions::default().with_exchange("amq.topic"),
            Some("reserved"),
        );
        check(
            RabbitOptions::default().with_topic_exchange("email.verification.requested", "amq.x"),
            Some("reserved"),
        );
        check(RabbitOptions::default().with_namespace("blue-2"), None);
        check(
            RabbitOptions::default().with_namespace("a.b"),
            Some("invalid namespace"),
        );
        check(
            RabbitOptions::default().with_prefetch(0),
            Some("prefetch 0"),
        );
        check(
            RabbitOptions::default().with_known_topics(["a#b".to_string()]),
            Some("invalid topic"),
        );
    }

    #[test]
    fn a_namespace_prefixes_exchanges_and_queues() {
        let options = RabbitOptions::default()
            .with_topic_exchange("subscription.created", "smap.events")
            .with_namespace("blue")
            .on_server();
        assert_eq!(options.exchange_for("emails"), "blue.switchyard.events");
        assert_eq!(
            options.exchange_for("subscription.created"),
            "blue.smap.events"
        );
        assert_eq!(options.queue_of("indexer"), "blue.indexer");
        let plain = RabbitOptions::default().on_server();
        assert_eq!(plain.exchange_for("emails"), "switchyard.events");
        assert_eq!(plain.queue_of("indexer"), "indexer");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_str::<RabbitOptions>(r#"{"exchnage": "x"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let parsed: RabbitOptions = serde_json::from_str(r#"{"exchange": "smap.events"}"#).unwrap();
        assert_eq!(parsed.exchange, "smap.events");
        assert_eq!(parsed.prefetch, 1000);
    }
}
