//! [`IdentityError`]: what an identity request can fail with, each kind carrying what the
//! HTTP layer needs to answer (the field at fault, the reason of a failed verification,
//! when to come back).

/// Why a verification code was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeRefusal {
    /// The code is not the one sent (or no account has that address, which is not told
    /// apart, so the answer does not reveal who registered).
    Wrong {
        /// Attempts left before the code is locked.
        attempts_left: u32,
    },
    /// The code was right once but its ten minutes have passed: ask for a new one.
    Expired,
    /// Too many wrong attempts: this code no longer counts; ask for a new one.
    TooManyAttempts,
    /// The address is verified already.
    AlreadyVerified,
}

impl CodeRefusal {
    /// The reason as a stable, machine-readable word (`wrong_code`, `expired`,
    /// `too_many_attempts`, `already_verified`).
    pub fn reason(self) -> &'static str {
        match self {
            CodeRefusal::Wrong { .. } => "wrong_code",
            CodeRefusal::Expired => "expired",
            CodeRefusal::TooManyAttempts => "too_many_attempts",
            CodeRefusal::AlreadyVerified => "already_verified",
        }
    }
}

/// An identity request failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A field of the request is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field, as named in the request body (`email`, `trial_end`, …).
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The change conflicts with what exists (an address already registered).
    #[error("{0}")]
    Conflict(String),
    /// Nothing has that id (or the caller may not see it).
    #[error("{0}")]
    NotFound(String),
    /// A verification code was refused.
    #[error("verification failed: {}", .0.reason())]
    Code(CodeRefusal),
    /// Asked again too soon.
    #[error("{message}")]
    RateLimited {
        /// What was limited.
        message: String,
        /// Seconds until asking again may succeed.
        retry_after_secs: u64,
    },
    /// The store failed; nothing was changed.
    #[error("identity store: {message}")]
    Store {
        /// What failed.
        message: String,
        /// Whether the same request may succeed later.
        retryable: bool,
    },
}

impl IdentityError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        IdentityError::Invalid {
            field,
            message: message.into(),
        }
    }

    pub(crate) fn store(message: impl std::fmt::Display, retryable: bool) -> Self {
        IdentityError::Store {
            message: message.to_string(),
            retryable,
        }
    }
}

impl From<switchyard_state::StateError> for IdentityError {
    fn from(err: switchyard_state::StateError) -> Self {
        let retryable = err.is_retryable();
        IdentityError::store(err, retryable)
    }
}
