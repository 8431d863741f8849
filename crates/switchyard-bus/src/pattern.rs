//! Routing-key patterns, with the meaning of an AMQP topic exchange's binding keys: a
//! topic is words separated by `.`; in a pattern `*` stands for exactly one word and `#`
//! for zero or more. Every backend gives a pattern subscription the messages of the
//! topics [`pattern_matches`] accepts, so the meaning is the same everywhere.

use crate::{BusError, BusErrorKind};

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
/// word, `#` zero or more. A pattern without wildcards matches only itself.
pub fn pattern_matches(pattern: &str, topic: &str) -> bool {
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
