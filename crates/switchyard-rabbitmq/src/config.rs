//! [`RabbitOptions`]: how a [`RabbitBroker`](crate::RabbitBroker) maps onto a RabbitMQ
//! virtual host, and how its consumers behave. Pure data: validation here never talks to
//! the server.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_bus::{
    BusError, BusErrorKind, DEAD_LETTER_SUFFIX, is_dead_letter_topic, is_pattern, pattern_matches,
};

use crate::names::{DEAD_LETTER_EXCHANGE_SUFFIX, dead_letter_exchange};

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
    /// Topics published to a durable **fanout** exchange of the same name (the namespace
    /// put before it like before every object) instead of a topic exchange, for legacy
    /// consumers that bind their own queues to it (`smtp_send_email_exc`). A subscription
    /// of such a topic binds its queue to that exchange. What no queue takes goes, through
    /// its alternate exchange `{name}.unrouted`, to the queue `{name}:{topic}` that
    /// `browse` reads, as for a topic exchange.
    pub fanout_exchanges: BTreeSet<String>,
    /// When set, subscription queues dead-letter what the server itself drops from them
    /// (a length or TTL policy, a reject without requeue by another client) into the
    /// topic `{topic}{suffix}`, on the dead-letter exchange where the runtime's own dead
    /// letters go (`.dlq.v1`), instead of losing it. `{topic}{suffix}` must be a
    /// dead-letter topic (`switchyard_bus::is_dead_letter_topic`).
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
            fanout_exchanges: BTreeSet::new(),
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

    /// The same options, with `topic` published to a fanout exchange of its name (see
    /// [`RabbitOptions::fanout_exchanges`]).
    pub fn with_fanout_exchange(mut self, topic: impl Into<String>) -> Self {
        self.fanout_exchanges.insert(topic.into());
        self
    }

    /// The same options, dead-lettering into `{topic}{suffix}` (see
    /// [`RabbitOptions::dead_letter_suffix`]).
    pub fn with_dead_letter_suffix(mut self, suffix: impl Into<String>) -> Self {
        self.dead_letter_suffix = Some(suffix.into());
        self
    }

    /// The exchange that carries `topic`: its fanout exchange, else its topic exchange. A
    /// dead-letter topic (`switchyard_bus::is_dead_letter_topic`: `{topic}.dlq.v1`,
    /// `email.errors`) goes through the dead-letter exchange `{exchange}.dead-letters` of
    /// the topic exchange its own topic is listed with (for `{topic}.dlq.v1`, that of
    /// `{topic}`; the default exchange when neither is listed), which no pattern binds to,
    /// and never through a fanout exchange, whose legacy consumers would take dead letters
    /// for new messages. Names as on the server when asked of
    /// [`RabbitBroker::options`](crate::RabbitBroker::options).
    pub fn exchange_for(&self, topic: &str) -> Cow<'_, str> {
        if is_dead_letter_topic(topic) {
            let origin = self
                .dead_letter_suffix
                .as_deref()
                .and_then(|suffix| topic.strip_suffix(suffix))
                .or_else(|| topic.strip_suffix(DEAD_LETTER_SUFFIX))
                .unwrap_or(topic);
            let exchange = self
                .topic_exchanges
                .get(topic)
                .or_else(|| self.topic_exchanges.get(origin))
                .unwrap_or(&self.exchange);
            return Cow::Owned(dead_letter_exchange(exchange));
        }
        if self.fanout_exchanges.contains(topic) {
            return Cow::Owned(self.fanout_exchange(topic));
        }
        Cow::Borrowed(
            self.topic_exchanges
                .get(topic)
                .map_or(self.exchange.as_str(), String::as_str),
        )
    }

    /// The server's name of the fanout exchange of `topic`.
    fn fanout_exchange(&self, topic: &str) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}.{topic}"),
            None => topic.to_string(),
        }
    }

    /// Every topic exchange this broker uses: the default one and those of
    /// `topic_exchanges`.
    pub fn exchanges(&self) -> BTreeSet<&str> {
        std::iter::once(self.exchange.as_str())
            .chain(self.topic_exchanges.values().map(String::as_str))
            .collect()
    }

    /// The dead-letter exchange of each topic exchange, `{exchange}.dead-letters`, which
    /// carries the dead-letter topics of its topics ([`RabbitOptions::exchange_for`]).
    pub fn dead_letter_exchanges(&self) -> BTreeSet<String> {
        self.exchanges()
            .into_iter()
            .map(dead_letter_exchange)
            .collect()
    }

    /// Every fanout exchange this broker uses, by its server name.
    pub fn fanout_exchange_names(&self) -> BTreeSet<String> {
        self.fanout_exchanges
            .iter()
            .map(|topic| self.fanout_exchange(topic))
            .collect()
    }

    /// Where the queue of a subscription of `topic` is bound: (exchange, binding key)
    /// pairs. A topic binds where it is published (a dead-letter topic on its dead-letter
    /// exchange). A pattern binds, with itself as key, to every topic exchange a topic it
    /// matches may be published to: the default exchange (any topic `topic_exchanges` does
    /// not list), each exchange of `topic_exchanges` whose topic it matches; and to the
    /// fanout exchange of each fanout topic it matches. Never to a dead-letter exchange: a
    /// pattern never matches a dead-letter topic, and a binding key cannot exclude one.
    pub(crate) fn bindings_of(&self, topic: &str) -> BTreeSet<(String, String)> {
        if !is_pattern(topic) {
            return BTreeSet::from([(self.exchange_for(topic).into_owned(), topic.to_string())]);
        }
        let mut bindings = BTreeSet::from([(self.exchange.clone(), topic.to_string())]);
        for (listed, exchange) in &self.topic_exchanges {
            if pattern_matches(topic, listed) {
                bindings.insert((exchange.clone(), topic.to_string()));
            }
        }
        for listed in &self.fanout_exchanges {
            if pattern_matches(topic, listed) {
                bindings.insert((self.fanout_exchange(listed), listed.clone()));
            }
        }
        bindings
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
            if exchange.ends_with(DEAD_LETTER_EXCHANGE_SUFFIX) {
                return invalid(format!(
                    "invalid exchange name `{exchange}`: names ending in \
                     `{DEAD_LETTER_EXCHANGE_SUFFIX}` are the exchanges of dead-letter topics"
                ));
            }
        }
        if let Some(suffix) = &self.dead_letter_suffix
            && !is_dead_letter_topic(&format!("topic{suffix}"))
        {
            return invalid(format!(
                "invalid dead-letter suffix `{suffix}`: `{{topic}}{suffix}` must be a \
                 dead-letter topic, ending in `{DEAD_LETTER_SUFFIX}` or in a word `errors`"
            ));
        }
        for topic in self.topic_exchanges.keys() {
            crate::names::validate_topic(topic)?;
        }
        for topic in &self.fanout_exchanges {
            crate::names::validate_topic(topic)?;
            if is_dead_letter_topic(topic) {
                return invalid(format!(
                    "fanout topic `{topic}` is a dead-letter topic, which goes through a \
                     dead-letter exchange"
                ));
            }
            if self.topic_exchanges.contains_key(topic) {
                return invalid(format!(
                    "topic `{topic}` is in both topic_exchanges and fanout_exchanges"
                ));
            }
            let exchange = self.fanout_exchange(topic);
            if exchange.starts_with("amq.")
                || self.exchanges().contains(exchange.as_str())
                || self.dead_letter_exchanges().contains(&exchange)
            {
                return invalid(format!(
                    "invalid fanout exchange `{exchange}`: reserved (`amq.`) or already a \
                     topic or dead-letter exchange"
                ));
            }
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
    fn fanout_topics_go_to_their_own_exchange() {
        let options = RabbitOptions::default()
            .with_fanout_exchange("smtp_send_email_exc")
            .with_dead_letter_suffix(".dlq.v1")
            .with_namespace("blue")
            .on_server();
        assert_eq!(
            options.exchange_for("smtp_send_email_exc"),
            "blue.smtp_send_email_exc"
        );
        assert_eq!(
            options.exchange_for("smtp_send_email_exc.dlq.v1"),
            "blue.switchyard.events.dead-letters"
        );
        check(options.clone(), None);
        check(
            RabbitOptions::default()
                .with_fanout_exchange("x")
                .with_topic_exchange("x", "smap.events"),
            Some("both"),
        );
        check(
            RabbitOptions::default().with_fanout_exchange("switchyard.events"),
            Some("already a topic or dead-letter exchange"),
        );
        check(
            RabbitOptions::default().with_fanout_exchange("a#"),
            Some("invalid topic"),
        );
        check(
            RabbitOptions::default().with_fanout_exchange("email.errors"),
            Some("is a dead-letter topic"),
        );
        check(
            RabbitOptions::default().with_fanout_exchange("switchyard.events.dead-letters"),
            Some("already a topic or dead-letter exchange"),
        );
    }

    #[test]
    fn dead_letter_topics_go_through_the_dead_letter_exchange_of_their_topic() {
        let options = RabbitOptions::default()
            .with_topic_exchange("email.verification.requested", "smap.events")
            .with_topic_exchange("email.errors", "smap.events")
            .with_dead_letter_suffix(".dlq.v1")
            .with_namespace("blue")
            .on_server();
        for (topic, exchange) in [
            ("emails.dlq.v1", "blue.switchyard.events.dead-letters"),
            ("billing.errors", "blue.switchyard.events.dead-letters"),
            (
                "email.verification.requested.dlq.v1",
                "blue.smap.events.dead-letters",
            ),
            ("email.errors", "blue.smap.events.dead-letters"),
            ("email.errors.dlq.v1", "blue.smap.events.dead-letters"),
            ("email.verification.requested", "blue.smap.events"),
        ] {
            assert_eq!(options.exchange_for(topic), exchange, "{topic}");
        }
        assert_eq!(
            options.dead_letter_exchanges(),
            BTreeSet::from([
                "blue.smap.events.dead-letters".to_string(),
                "blue.switchyard.events.dead-letters".to_string(),
            ])
        );
        // An exact subscription to a dead-letter topic binds where it is published.
        assert_eq!(
            options.bindings_of("email.errors"),
            BTreeSet::from([(
                "blue.smap.events.dead-letters".to_string(),
                "email.errors".to_string()
            )])
        );
    }

    #[test]
    fn dead_letter_settings_are_checked() {
        check(
            RabbitOptions::default().with_dead_letter_suffix(".errors"),
            None,
        );
        check(
            RabbitOptions::default().with_dead_letter_suffix(".dead"),
            Some("invalid dead-letter suffix"),
        );
        check(
            RabbitOptions::default().with_exchange("a.dead-letters"),
            Some("exchanges of dead-letter topics"),
        );
    }

    #[test]
    fn a_pattern_binds_wherever_a_topic_it_matches_is_published() {
        let options = RabbitOptions::default()
            .with_topic_exchange("email.verification.requested", "smap.events")
            .with_topic_exchange("subscription.created", "smap.events")
            .with_topic_exchange("billing.paid", "billing.events")
            .with_fanout_exchange("email.smtp")
            .with_dead_letter_suffix(".dlq.v1");
        let bindings = |topic: &str| -> Vec<(String, String)> {
            options.bindings_of(topic).into_iter().collect()
        };
        let pair = |exchange: &str, key: &str| (exchange.to_string(), key.to_string());
        assert_eq!(
            bindings("email.#"),
            [
                pair("email.smtp", "email.smtp"),
                pair("smap.events", "email.#"),
                pair("switchyard.events", "email.#"),
            ]
        );
        // Dead-letter topics go through exchanges no pattern binds to.
        assert_eq!(
            bindings("#"),
            [
                pair("billing.events", "#"),
                pair("email.smtp", "email.smtp"),
                pair("smap.events", "#"),
                pair("switchyard.events", "#"),
            ]
        );
        assert_eq!(
            bindings("#.dlq.v1"),
            [pair("switchyard.events", "#.dlq.v1")]
        );
        assert_eq!(
            bindings("subscription.created"),
            [pair("smap.events", "subscription.created")]
        );
        assert_eq!(bindings("email.smtp"), [pair("email.smtp", "email.smtp")]);
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
