//! Routing-key patterns, with the meaning of an AMQP topic exchange's binding keys: a
//! topic is words separated by `.`; in a pattern `*` stands for exactly one word and `#`
//! for zero or more. Every backend gives a pattern subscription the messages of the
//! topics [`pattern_matches`] accepts, so the meaning is the same everywhere.
//!
//! One rule departs from AMQP: **a pattern never matches a dead-letter topic**
//! ([`is_dead_letter_topic`]: `{topic}.dlq.v1`, or a last word `errors` as in
//! `email.errors`). A consumer on `email.#` must not receive the dead letters it or
//! others write under `email.`, and those letters must stay where the dead-letter tools
//! browse them; an exact subscription to a dead-letter topic still receives it.

use crate::{BusError, BusErrorKind};

/// The suffix of the dead-letter topic of each topic, `{topic}.dlq.v1`, where the runtime
/// puts what a consumer of `topic` gives up on.
pub const DEAD_LETTER_SUFFIX: &str = ".dlq.v1";

/// Whether `topic` is a dead-letter topic: it ends in [`DEAD_LETTER_SUFFIX`]
/// (`orders.created.dlq.v1`) or its last word is `errors` (`email.errors`, a dead-letter
/// topic a consumer names). No pattern matches one ([`pattern_matches`]).
pub fn is_dead_letter_topic(topic: &str) -> bool {
    topic.ends_with(DEAD_LETTER_SUFFIX) || topic.rsplit('.').next() == Some("errors")
}

/// Whether `topic` contains a wildcard word (`*` or `#`): a subscription on it reads every
/// topic it matches.
pub fn is_pattern(topic: &str) -> bool {
    topic.split('.').any(|word| word == "*" || word == "#")
}

/// Checks a topic or pattern: 1 to 200 bytes of words separated by `.`, each word
/// non-empty `[A-Za-z0-9_-]`, or `*` or `#` as a whole word.
pub fn validate_pattern(pattern: &str) -> Result<(), BusError> {
    let valid = !pattern.is_empty()
        && pattern.len() <= 200
        && pattern.split('.').all(|word| {
            word == "*"
                || word == "#"
                || (!word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
        });
    if valid {
        Ok(())
    } else {
        Err(BusError::new(
            BusErrorKind::InvalidArgument,
            format!(
                "invalid topic pattern `{pattern}`: 1 to 200 bytes of `.`-separated words of \
                 [A-Za-z0-9_-], or `*` (one word) or `#` (zero or more words)"
            ),
        ))
    }
}

/// Whether `topic` matches `pattern`: words compared one by one, `*` taking exactly one
/// word, `#` zero or more. A pattern without wildcards matches only itself; a pattern with
/// wildcards never matches a dead-letter topic ([`is_dead_letter_topic`]).
pub fn pattern_matches(pattern: &str, topic: &str) -> bool {
    if is_pattern(pattern) && is_dead_letter_topic(topic) {
        return false;
    }
    let topic: Vec<&str> = topic.split('.').collect();
    // `matched[i]`: whether the pattern words seen so far match the first `i` topic words.
    // One pass per pattern word keeps the cost at words × words, whatever the `#`s.
    let mut matched = vec![false; topic.len() + 1];
    matched[0] = true;
    for word in pattern.split('.') {
        let mut next = vec![false; topic.len() + 1];
        for i in 0..=topic.len() {
            next[i] = match word {
                "#" => matched[i] || (i > 0 && next[i - 1]),
                "*" => i > 0 && matched[i - 1],
                word => i > 0 && matched[i - 1] && topic[i - 1] == word,
            };
        }
        matched = next;
    }
    matched[topic.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pattern: &str, topic: &str, expected: bool) {
        assert_eq!(
            pattern_matches(pattern, topic),
            expected,
            "`{pattern}` against `{topic}`"
        );
    }

    #[test]
    fn hash_matches_zero_or_more_words() {
        check("email.#", "email", true);
        check("email.#", "email.verification.requested", true);
        check("email.#", "email.sent", true);
        check("email.#", "emails.sent", false);
        check("email.#", "other.email", false);
        check("#", "anything.at.all", true);
        check("#", "x", true);
        check("#.created", "created", true);
        check("#.created", "subscription.created", true);
        check("#.created", "subscription.created.v1", false);
        check("a.#.c", "a.c", true);
        check("a.#.c", "a.b.b.c", true);
        check("a.#.#.c", "a.c", true);
    }

    #[test]
    fn star_matches_exactly_one_word() {
        check("subscription.*", "subscription.created", true);
        check("subscription.*", "subscription.a.b", false);
        check("subscription.*", "subscription", false);
        check("a.*.c", "a.b.c", true);
        check("a.*.c", "a.c", false);
        check("a.*.c", "a.b.b.c", false);
        check("*", "one", true);
        check("*", "one.two", false);
        check("*.#", "one", true);
        check("*.*.#", "one", false);
    }

    #[test]
    fn plain_topics_match_only_themselves() {
        check("emails", "emails", true);
        check("emails", "emails.dlq.v1", false);
        check("a.b", "a.bb", false);
    }

    #[test]
    fn no_pattern_matches_a_dead_letter_topic() {
        check("#", "email.errors", false);
        check("email.#", "email.errors", false);
        check("email.*", "email.errors", false);
        check("#", "x.dlq.v1", false);
        check("email.#", "email.verification.requested.dlq.v1", false);
        check("#.v1", "x.dlq.v1", false);
        check("email.errors", "email.errors", true);
        check("x.dlq.v1", "x.dlq.v1", true);
        // Near misses are ordinary topics.
        check("#", "email.errors.count", true);
        check("#", "email.myerrors", true);
        check("#", "x.dlq.v2", true);
        check("#", "dlq.v1", true);
    }

    #[test]
    fn what_is_a_dead_letter_topic() {
        for dead_letters in ["email.errors", "errors", "x.dlq.v1", "a.b.errors.dlq.v1"] {
            assert!(is_dead_letter_topic(dead_letters), "{dead_letters}");
        }
        for other in [
            "email",
            "email.errors.count",
            "errors-v2",
            "x.dlq",
            "dlq.v1",
        ] {
            assert!(!is_dead_letter_topic(other), "{other}");
        }
    }

    #[test]
    fn what_is_a_pattern() {
        assert!(is_pattern("email.#"));
        assert!(is_pattern("*.created"));
        assert!(!is_pattern("email.verification.requested"));
        assert!(!is_pattern("a#b"));
    }

    #[test]
    fn validation() {
        for valid in ["emails", "email.#", "*.created", "a.*.c", "#", "a_b-c.D9"] {
            assert!(validate_pattern(valid).is_ok(), "{valid}");
        }
        for invalid in ["", "a..b", ".a", "a.", "a#", "email.#x", "a b", "a/b"] {
            let err = validate_pattern(invalid).unwrap_err();
            assert_eq!(err.kind(), BusErrorKind::InvalidArgument, "{invalid}");
        }
        assert!(validate_pattern(&"a".repeat(200)).is_ok());
        assert!(validate_pattern(&"a".repeat(201)).is_err());
    }
}
