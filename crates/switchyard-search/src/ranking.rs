//! The ranking formula every engine implements: the recency boost on `last_updated` and
//! the contact boost on contact discovery's relevance, with their constants. Engines
//! apply them to their own text score (tantivy in a score tweaker, Vespa in its rank
//! profile); no engine code lives here.

/// How much a brand-new document's relevance is raised over an equally relevant old one:
/// the boost factor runs from `1 + RECENCY_WEIGHT` (updated now) down to 1 (long ago).
pub const RECENCY_WEIGHT: f32 = 0.5;

/// After how many days without change a document's recency boost halves.
pub const RECENCY_HALF_LIFE_DAYS: f32 = 30.0;

/// The recency factor a text score is multiplied by, for a document last updated
/// `age_secs` seconds ago: `1 + RECENCY_WEIGHT × 0.5 ^ (age_days / RECENCY_HALF_LIFE_DAYS)`.
/// A future `last_updated` (within the allowed clock skew) counts as now.
pub fn recency_boost(age_secs: i64) -> f32 {
    let age_days = age_secs.max(0) as f32 / 86_400.0;
    1.0 + RECENCY_WEIGHT * 0.5_f32.powf(age_days / RECENCY_HALF_LIFE_DAYS)
}

/// The factor a contact's text score is multiplied by for contact discovery's relevance
/// score `relevance`: `1 + ln(1 + relevance)`, so a frequent recent correspondent ranks
/// above a stranger of the same name while the text match still matters most. Other
/// documents have no relevance and keep a factor of 1.
pub fn contact_boost(relevance: f64) -> f32 {
    (1.0 + relevance.max(0.0).ln_1p()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recency_boost_halves_its_bonus_every_half_life() {
        let day = 86_400;
        assert!((recency_boost(0) - 1.5).abs() < 1e-6);
        assert!(
            (recency_boost(-3_600) - 1.5).abs() < 1e-6,
            "future counts as now"
        );
        assert!((recency_boost(30 * day) - 1.25).abs() < 1e-4);
        assert!((recency_boost(60 * day) - 1.125).abs() < 1e-4);
        assert!(recency_boost(3_650 * day) - 1.0 < 1e-6);
        assert!(recency_boost(day) > recency_boost(2 * day));
    }
}
