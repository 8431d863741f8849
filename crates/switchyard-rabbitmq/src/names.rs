//! Names on the server: which exchange and queue stands for which topic or subscription,
//! and the rules a topic or subscription name must follow so that those names are valid.

use std::time::Duration;

use switchyard_bus::{BusError, BusErrorKind};

/// The direct exchange that receives what the topic exchange cannot route (its
/// `alternate-exchange`).
pub(crate) fn unrouted_exchange(exchange: &str) -> String {
    format!("{exchange}.unrouted")
}

/// The topic exchange that carries the dead-letter topics of the topics of `exchange`
/// (`switchyard.events.dead-letters`): no pattern subscription binds to it, which is how a
/// pattern never matches a dead-letter topic on RabbitMQ.
pub(crate) fn dead_letter_exchange(exchange: &str) -> String {
    format!("{exchange}{DEAD_LETTER_EXCHANGE_SUFFIX}")
}

/// What [`dead_letter_exchange`] puts after the name of its topics' exchange.
pub(crate) const DEAD_LETTER_EXCHANGE_SUFFIX: &str = ".dead-letters";

/// The queue that keeps a topic's messages no subscription took: what `browse` reads.
pub(crate) fn topic_queue(exchange: &str, topic: &str) -> String {
    format!("{exchange}:{topic}")
}

/// The queue where nacked deliveries of `subscription` wait `delay` before they return.
pub(crate) fn retry_queue(subscription: &str, delay_ms: u64) -> String {
    format!("{subscription}.retry.{delay_ms}")
}

/// A nack delay in whole milliseconds, within what `x-message-ttl` accepts.
pub(crate) fn delay_ms(delay: Duration) -> u64 {
    delay.as_millis().min(u128::from(u32::MAX)) as u64
}

/// Topics are routing keys of a topic exchange, so the wildcards `*` and `#` must not
/// appear: the bus's shared rule guarantees it.
pub(crate) use switchyard_bus::validate_topic;

/// A subscription is a queue name, plus room for the retry queue suffix.
pub(crate) fn validate_subscription(name: &str) -> Result<(), BusError> {
    if name.is_empty() || name.len() > 200 || name.starts_with("amq.") {
        return Err(BusError::new(
            BusErrorKind::InvalidArgument,
            format!("invalid subscription name `{name}`: 1 to 200 bytes, not starting with `amq.`"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_topic(topic: &str, valid: bool) {
        assert_eq!(validate_topic(topic).is_ok(), valid, "{topic}");
    }

    #[test]
    fn topics() {
        check_topic("emails", true);
        check_topic("identity.user.created.v1", true);
        check_topic("emails.dlq.v1", true);
        check_topic("", false);
        check_topic("emails.*", false);
        check_topic("emails.#", false);
        check_topic("with space", false);
        check_topic(&"a".repeat(201), false);
    }

    #[test]
    fn subscriptions() {
        assert!(validate_subscription("search-indexer-emails").is_ok());
        assert!(validate_subscription("").is_err());
        assert!(validate_subscription("amq.gen-1").is_err());
        assert!(validate_subscription(&"s".repeat(201)).is_err());
    }

    #[test]
    fn queue_names() {
        assert_eq!(
            topic_queue("switchyard.events", "emails"),
            "switchyard.events:emails"
        );
        assert_eq!(retry_queue("indexer", 400), "indexer.retry.400");
        assert_eq!(unrouted_exchange("smap.events"), "smap.events.unrouted");
        assert_eq!(
            dead_letter_exchange("smap.events"),
            "smap.events.dead-letters"
        );
        assert_eq!(delay_ms(Duration::from_secs(1 << 40)), u64::from(u32::MAX));
    }
}
