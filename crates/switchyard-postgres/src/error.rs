//! Errors of the PostgreSQL outbox, with a matchable kind and a retryability verdict.

use switchyard_state::{StateError, StateErrorKind};

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostgresOutboxErrorKind {
    /// A setting was refused before any I/O (an unsafe table name, a malformed URL).
    InvalidConfig,
    /// PostgreSQL could not be reached, the connection broke, or the server asked for a
    /// retry (serialization failure, deadlock, shutdown); trying again may work.
    Unavailable,
    /// PostgreSQL refused the statement (a missing table, a constraint); trying again will
    /// not help until someone changes the database or the call.
    Query,
}

/// An outbox operation failed.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct PostgresOutboxError {
    kind: PostgresOutboxErrorKind,
    message: String,
    #[source]
    source: Option<sqlx::Error>,
}

impl PostgresOutboxError {
    pub(crate) fn invalid_config(message: String) -> Self {
        PostgresOutboxError {
            kind: PostgresOutboxErrorKind::InvalidConfig,
            message,
            source: None,
        }
    }

    /// An error of `context` (`failed to claim outbox rows from outbox_events`) caused by
    /// `err`, classified by its SQLSTATE.
    pub(crate) fn sql(context: impl std::fmt::Display, err: sqlx::Error) -> Self {
        PostgresOutboxError {
            kind: classify(&err),
            message: format!("{context}: {err}"),
            source: Some(err),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> PostgresOutboxErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.kind == PostgresOutboxErrorKind::Unavailable
    }
}

/// The relay sees outbox failures as [`StateError`]s. Those have no kind for a refused
/// statement, so [`PostgresOutboxErrorKind::Query`] becomes `Unavailable` as well: a relay
/// backs off and tries again, which is also what an operator fixing the table needs.
impl From<PostgresOutboxError> for StateError {
    fn from(err: PostgresOutboxError) -> Self {
        StateError::new(StateErrorKind::Unavailable, err.message)
    }
}

fn classify(err: &sqlx::Error) -> PostgresOutboxErrorKind {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => PostgresOutboxErrorKind::Unavailable,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Connection exceptions, insufficient resources, operator intervention
            // (shutdown), serialization failures and deadlocks.
            Some(code)
                if code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P")
                    || code == "40001"
                    || code == "40P01" =>
            {
                PostgresOutboxErrorKind::Unavailable
            }
            _ => PostgresOutboxErrorKind::Query,
        },
        sqlx::Error::Configuration(_) => PostgresOutboxErrorKind::InvalidConfig,
        _ => PostgresOutboxErrorKind::Query,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_are_retryable_and_become_unavailable_state_errors() {
        let err = PostgresOutboxError::sql(
            "failed to reach postgresql",
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        );
        assert_eq!(err.kind(), PostgresOutboxErrorKind::Unavailable);
        assert!(err.is_retryable());
        assert!(err.to_string().starts_with("failed to reach postgresql: "));
        let state: StateError = err.into();
        assert!(state.is_retryable());
    }

    #[test]
    fn other_failures_are_not_retryable() {
        let err = PostgresOutboxError::sql("failed to decode", sqlx::Error::RowNotFound);
        assert_eq!(err.kind(), PostgresOutboxErrorKind::Query);
        assert!(!err.is_retryable());
        let config = PostgresOutboxError::invalid_config("bad".into());
        assert_eq!(config.kind(), PostgresOutboxErrorKind::InvalidConfig);
    }
}
