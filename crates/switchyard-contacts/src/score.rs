//! The relevance score of a contact, and the [`Clock`] it is measured against.
//!
//! ```text
//! score = list_factor · 0.5^(age_days / half_life_days) · Σ_role weight_role · ln(1 + count_role)
//! ```
//!
//! - `count_role`: distinct items in which the address played the role (email from, to,
//!   cc, meeting organizer, attendee, document author, mention, todo assignee);
//! - `ln(1 + count)` damps volume: the 2nd email adds more than the 200th, so a newsletter
//!   or a busy thread cannot bury everyone else, yet more contact always ranks higher;
//! - `age_days`: days from the contact's `last_seen` to now (0 if in the future); the
//!   recency factor halves every `half_life_days` (default 90) without contact, so people
//!   you deal with now come first and old correspondents fade but are kept;
//! - `list_factor`: `mailing_list_factor` (default 0.2) for mailing-list addresses, else 1.
//!
//! A per-interaction decay (each item decaying on its own) would also reward "frequent and
//! recent", but its value moves with every item's age, so it cannot be kept as counters;
//! this form is computed from the stored counters and `last_seen` alone.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::{ContactsConfig, EmailContact, Role, SourceWeights};

/// The time source scores are measured against. Cloning is cheap.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that always reads `now`.
    pub fn fixed(now: DateTime<Utc>) -> Self {
        Clock(Arc::new(move || now))
    }

    /// A clock read from `now` (a test clock that moves).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

/// Scores contacts: the weights, half-life and list factor of a [`ContactsConfig`], and a
/// clock.
#[derive(Debug, Clone)]
pub struct Scoring {
    weights: SourceWeights,
    half_life_days: f64,
    mailing_list_factor: f64,
    clock: Clock,
}

const SECONDS_PER_DAY: f64 = 86_400.0;

impl Scoring {
    /// The scoring of `config`, against the system clock.
    pub fn new(config: &ContactsConfig) -> Self {
        Self::with_clock(config, Clock::system())
    }

    /// The scoring of `config`, against `clock`.
    pub fn with_clock(config: &ContactsConfig, clock: Clock) -> Self {
        Scoring {
            weights: config.weights.clone(),
            half_life_days: config.half_life_days,
            mailing_list_factor: config.mailing_list_factor,
            clock,
        }
    }

    /// The clock scores are measured against.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The score of `contact` now.
    pub fn score(&self, contact: &EmailContact) -> f64 {
        self.score_at(contact, self.clock.now())
    }

    /// The score of `contact` at `now` (the formula of the module docs).
    pub fn score_at(&self, contact: &EmailContact, now: DateTime<Utc>) -> f64 {
        let volume: f64 = Role::ALL
            .iter()
            .map(|role| self.weights.of(*role) * f64::from(contact.counts.get(*role)).ln_1p())
            .sum();
        let age_days = ((now - contact.last_seen).num_seconds() as f64 / SECONDS_PER_DAY).max(0.0);
        let recency = 0.5_f64.powf(age_days / self.half_life_days);
        let list_factor = if contact.mailing_list {
            self.mailing_list_factor
        } else {
            1.0
        };
        list_factor * recency * volume
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;
    use crate::SourceCounts;

    fn contact(counts: SourceCounts, last_seen: DateTime<Utc>, mailing_list: bool) -> EmailContact {
        EmailContact {
            user_id: "alice".into(),
            address: "bob@x.org".into(),
            names: Vec::new(),
            counts,
            items: 1,
            first_seen: last_seen,
            last_seen,
            mailing_list,
        }
    }

    fn check(score: f64, expected: f64) {
        assert!((score - expected).abs() < 1e-9, "{score} != {expected}");
    }

    #[test]
    fn the_score_follows_the_formula() {
        let now = Utc.with_ymd_and_hms(2024, 6, 1, 0, 0, 0).unwrap();
        let scoring = Scoring::with_clock(&ContactsConfig::default(), Clock::fixed(now));
        let counts = SourceCounts {
            email_from: 3,
            email_cc: 1,
            ..SourceCounts::default()
        };
        let volume = 3f64.ln_1p() + 0.5 * 1f64.ln_1p();
        check(scoring.score(&contact(counts.clone(), now, false)), volume);
        let older = now - Duration::days(90);
        check(
            scoring.score(&contact(counts.clone(), older, false)),
            volume / 2.0,
        );
        check(
            scoring.score(&contact(counts.clone(), now - Duration::days(180), true)),
            0.2 * volume / 4.0,
        );
        // A date in the future does not inflate the score.
        check(
            scoring.score(&contact(counts, now + Duration::days(30), false)),
            volume,
        );
    }
}
