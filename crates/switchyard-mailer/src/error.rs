//! [`MailerError`]: what went wrong in the mailer, with a matchable kind and a
//! retryability verdict that the handler turns into a runtime `Outcome`.

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailerErrorKind {
    /// The settings cannot work (a bad URL, TLS mode, sender or CA file).
    InvalidConfig,
    /// This email can never be sent as it is: a bad recipient, an event the mailer has no
    /// template for.
    InvalidMessage,
    /// The server refused for now (4xx), or could not be reached, timed out or dropped
    /// the connection: the same send may work later.
    Transient,
    /// The server refused for good (5xx).
    Permanent,
}

impl MailerErrorKind {
    /// The name used in metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            MailerErrorKind::InvalidConfig => "invalid_config",
            MailerErrorKind::InvalidMessage => "invalid_message",
            MailerErrorKind::Transient => "transient",
            MailerErrorKind::Permanent => "permanent",
        }
    }
}

/// A mailer operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct MailerError {
    kind: MailerErrorKind,
    message: String,
}

impl MailerError {
    /// A new error of `kind`; `message` is lowercase, context first.
    pub fn new(kind: MailerErrorKind, message: impl Into<String>) -> Self {
        MailerError {
            kind,
            message: message.into(),
        }
    }

    /// A [`MailerErrorKind::InvalidConfig`] error.
    pub fn invalid_config(message: impl Into<String>) -> Self {
        MailerError::new(MailerErrorKind::InvalidConfig, message)
    }

    /// The kind of failure.
    pub fn kind(&self) -> MailerErrorKind {
        self.kind
    }

    /// Whether the same send may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == MailerErrorKind::Transient
    }
}
