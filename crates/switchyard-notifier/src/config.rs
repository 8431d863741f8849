//! [`NotifierConfig`]: how long the journal keeps signals, how often streams send
//! heartbeats, and how much live buffer a client gets before it falls back to the
//! journal. Validation is pure and runs before anything opens.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::NotifierError;

/// The notifier's settings (the `[notifier]` table of the CLI's config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifierConfig {
    /// The journal keeps at most this many signals per user (the oldest go first);
    /// `None` for no count bound. Default 1000.
    pub max_signals_per_user: Option<u64>,
    /// The journal drops signals older than this; `None` for no age bound. Default 7 days.
    pub max_signal_age_secs: Option<u64>,
    /// A stream sends a heartbeat comment after this many idle seconds. Default 15.
    pub heartbeat_secs: u64,
    /// Signals held for one user's live streams; a stream further behind than this
    /// catches up from the journal instead. Default 256.
    pub live_buffer_signals: usize,
    /// Signals read from the journal at a time while a stream catches up. Default 500.
    pub replay_page_signals: usize,
    /// Whether fragment events (`word_fragment`, `sheet_fragment`,
    /// `presentation_fragment`) produce signals. Default false: a fragment changes only
    /// with its document, whose own signal already tells the front end to refetch, and
    /// one document can have hundreds of fragments that would push older signals out of
    /// the count window.
    pub include_fragments: bool,
    /// Live streams one user may hold open at once; more get 429. Default 8.
    pub max_streams_per_user: usize,
    /// Live streams the node holds open at once, for every user; more get 503.
    /// Default 1000.
    pub max_streams: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            max_signals_per_user: Some(1000),
            max_signal_age_secs: Some(7 * 24 * 60 * 60),
            heartbeat_secs: 15,
            live_buffer_signals: 256,
            replay_page_signals: 500,
            include_fragments: false,
            max_streams_per_user: 8,
            max_streams: 1000,
        }
    }
}

impl NotifierConfig {
    /// Checks the settings; every error names the field.
    pub fn validate(&self) -> Result<(), NotifierError> {
        if self.max_signals_per_user.is_none() && self.max_signal_age_secs.is_none() {
            return Err(NotifierError::invalid_config(
                "invalid notifier config: set `max_signals_per_user` or `max_signal_age_secs`, \
                 or the journal grows forever",
            ));
        }
        for (field, value) in [
            (
                "max_signals_per_user",
                self.max_signals_per_user.unwrap_or(1),
            ),
            ("max_signal_age_secs", self.max_signal_age_secs.unwrap_or(1)),
            ("heartbeat_secs", self.heartbeat_secs),
            ("live_buffer_signals", self.live_buffer_signals as u64),
            ("replay_page_signals", self.replay_page_signals as u64),
            ("max_streams_per_user", self.max_streams_per_user as u64),
            ("max_streams", self.max_streams as u64),
        ] {
            if value == 0 {
                return Err(NotifierError::invalid_config(format!(
                    "invalid notifier config: `{field}` must be at least 1"
                )));
            }
        }
        Ok(())
    }

    /// The journal's retention window.
    pub fn retention(&self) -> Retention {
        Retention {
            max_signals_per_user: self.max_signals_per_user,
            max_age: self.max_signal_age_secs.map(Duration::from_secs),
        }
    }

    /// The heartbeat interval.
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.heartbeat_secs)
    }
}

/// How long a journal keeps each user's signals: whichever bound is hit first wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    /// At most this many signals per user.
    pub max_signals_per_user: Option<u64>,
    /// Signals older than this go.
    pub max_age: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(edit: impl FnOnce(&mut NotifierConfig), expected_error: Option<&str>) {
        let mut config = NotifierConfig::default();
        edit(&mut config);
        let result = config.validate().map_err(|err| err.to_string());
        match expected_error {
            None => assert_eq!(result, Ok(())),
            Some(fragment) => {
                let message = result.expect_err("config should be rejected");
                assert!(message.contains(fragment), "{message}");
            }
        }
    }

    #[test]
    fn validation_names_the_field() {
        check(|_| {}, None);
        check(|c| c.max_signals_per_user = None, None);
        check(
            |c| {
                c.max_signals_per_user = None;
                c.max_signal_age_secs = None;
            },
            Some("grows forever"),
        );
        check(|c| c.heartbeat_secs = 0, Some("`heartbeat_secs`"));
        check(
            |c| c.max_signals_per_user = Some(0),
            Some("`max_signals_per_user`"),
        );
        check(|c| c.live_buffer_signals = 0, Some("`live_buffer_signals`"));
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<NotifierConfig>(r#"{"heartbeat": 5}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("unknown field"), "{err}");
        let config: NotifierConfig =
            serde_json::from_str(r#"{"heartbeat_secs": 5}"#).expect("known field");
        assert_eq!(config.heartbeat_secs, 5);
        assert_eq!(config.max_signals_per_user, Some(1000));
    }
}
