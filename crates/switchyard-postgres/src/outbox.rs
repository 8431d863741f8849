//! [`PostgresOutbox`]: the transactional outbox in a PostgreSQL table. Callers enqueue
//! events inside their own SQL transaction; relays claim pending rows with a lease.
//!
//! # Claiming: several relays, order per partition key
//! [`Outbox::pending`] runs one statement (its own short transaction) that
//! 1. selects up to `limit` candidate rows, oldest id first: unsent, and either unclaimed,
//!    past their lease, or claimed by this same instance (so a relay whose publish failed
//!    gets its rows straight back instead of waiting out its own lease), with
//!    `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait for or take each
//!    other's rows;
//! 2. keeps a candidate only if every older unsent row of its partition key is a candidate
//!    too. An older row outside the candidates is claimed by another relay, locked by a
//!    concurrent claim, or beyond the limit; in all three cases handing out the newer row
//!    could publish it first, so it waits for a later call. This needs no view of other
//!    claimers' uncommitted work: the older row is visible as unsent either way;
//! 3. stamps the kept rows `claimed_by` = this instance and `claimed_until` = now + lease,
//!    and returns them in id order.
//!
//! So while a row is leased no other instance gets it, and within a partition key rows
//! leave in id order: a relay gets a row only after every older row of its key was marked
//! sent, or within the same batch, behind them.
//!
//! # What is not guaranteed
//! - A lease that runs out while its relay still publishes lets another relay publish the
//!   same rows again (at-least-once, as after a crash): make the lease longer than a
//!   publish round.
//! - Ids come from a sequence when rows are inserted, not when they commit. Of two
//!   *concurrent* transactions enqueueing for the same key, the later id may commit first
//!   and be relayed first. Writes that follow each other (the second transaction starts
//!   after the first committed) are relayed in order.
//! - One relay per instance: two relays sharing one `PostgresOutbox` are the same claimant
//!   and get the same rows. Use [`PostgresOutbox::with_new_claimant`] for each relay.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode};
use sqlx::{Connection, Postgres, Row, Transaction};
use switchyard_state::{Outbox, OutboxEntry, StateError};

use crate::PostgresOutboxError;
use crate::table::Statements;

/// How long a claim keeps other relays off its rows unless configured otherwise.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);

/// Connections [`PostgresOutbox::connect`] opens at most.
const MAX_CONNECTIONS: u32 = 4;
/// Longest wait for a connection from the pool.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// The outbox table on one pool. Each instance is one claimant: give each relay its own
/// (see [`PostgresOutbox::with_new_claimant`]).
#[derive(Debug)]
pub struct PostgresOutbox {
    pool: PgPool,
    sql: Statements,
    claimant: String,
    lease: Duration,
}

impl PostgresOutbox {
    /// Connects to `url` (`postgres://user@host:port/database`) for the outbox in
    /// `table_name` (`[a-z_][a-z0-9_]*`, optionally `schema.`-qualified, so that
    /// deployments sharing a database keep apart). Does not create the table or its
    /// schema: see [`migrate`](PostgresOutbox::migrate).
    ///
    /// TLS (rustls) follows the URL's `sslmode` (`disable`, `prefer`, the default,
    /// `require`, `verify-ca`, `verify-full`) and `sslrootcert` (a PEM file of CAs); as in
    /// libpq, `require` with an `sslrootcert` verifies the certificate chain (`verify-ca`).
    pub async fn connect(url: &str, table_name: &str) -> Result<Self, PostgresOutboxError> {
        PostgresOutbox::connect_with_ca_file(url, table_name, None).await
    }

    /// Like [`connect`](PostgresOutbox::connect), trusting the CA in the PEM file
    /// `ca_file` (over the URL's `sslrootcert`). A configured CA asks for verification:
    /// `prefer` and `require` become `verify-ca`; `verify-full` also checks the host name.
    pub async fn connect_with_ca_file(
        url: &str,
        table_name: &str,
        ca_file: Option<&Path>,
    ) -> Result<Self, PostgresOutboxError> {
        let sql = Statements::new(table_name)?;
        let context = || format!("failed to connect to postgresql at {}", redact_url(url));
        let options: PgConnectOptions = url
            .parse()
            .map_err(|err| PostgresOutboxError::sql(context(), err))?;
        let options = with_tls_roots(options, url, ca_file);
        // One direct connection first: a pool reports only "timed out" after retrying for
        // its whole acquire timeout, while this fails at once with the reason.
        let probe = PgConnection::connect_with(&options)
            .await
            .map_err(|err| PostgresOutboxError::sql(context(), err))?;
        if let Err(err) = probe.close().await {
            tracing::debug!(error = %err, "closing the postgresql probe connection failed");
        }
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with(options);
        Ok(PostgresOutbox::with_statements(pool, sql))
    }

    /// The outbox in `table_name` on an existing pool, e.g. the one the domain code uses.
    pub fn from_pool(pool: PgPool, table_name: &str) -> Result<Self, PostgresOutboxError> {
        Ok(PostgresOutbox::with_statements(
            pool,
            Statements::new(table_name)?,
        ))
    }

    fn with_statements(pool: PgPool, sql: Statements) -> Self {
        PostgresOutbox {
            pool,
            sql,
            claimant: uuid::Uuid::now_v7().to_string(),
            lease: DEFAULT_LEASE,
        }
    }

    /// This outbox with claims held for `lease` (default [`DEFAULT_LEASE`]).
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// Another claimant on the same table and pool, for one more relay.
    #[must_use]
    pub fn with_new_claimant(&self) -> Self {
        PostgresOutbox {
            pool: self.pool.clone(),
            sql: self.sql.clone(),
            claimant: uuid::Uuid::now_v7().to_string(),
            lease: self.lease,
        }
    }

    /// The pool, to begin the transactions that [`enqueue`](PostgresOutbox::enqueue) joins.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The table, quoted as it appears in SQL.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// This instance's claimant id, stored in `claimed_by`.
    pub fn claimant(&self) -> &str {
        &self.claimant
    }

    /// Creates the table and its indexes if missing, and first its schema, for a
    /// `schema.table` name, if that is missing. Safe to run from several processes at once
    /// (advisory locks serialize them).
    pub async fn migrate(&self) -> Result<(), PostgresOutboxError> {
        let context = || format!("failed to create outbox table {}", self.sql.table);
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|err| PostgresOutboxError::sql(context(), err))?;
        if let (Some(schema), Some(create_schema)) = (&self.sql.schema, &self.sql.create_schema) {
            // Two outbox tables of one schema may be migrated at once: the schema has a
            // lock of its own.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(format!("switchyard-outbox-schema:{schema}"))
                .execute(&mut *tx)
                .await
                .map_err(|err| PostgresOutboxError::sql(context(), err))?;
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                    .bind(schema)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|err| PostgresOutboxError::sql(context(), err))?;
            if !exists {
                sqlx::raw_sql(create_schema)
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| {
                        PostgresOutboxError::sql(
                            format_args!("failed to create outbox schema \"{schema}\""),
                            err,
                        )
                    })?;
            }
        }
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(format!("switchyard-outbox-migrate:{}", self.sql.table))
            .execute(&mut *tx)
            .await
            .map_err(|err| PostgresOutboxError::sql(context(), err))?;
        sqlx::raw_sql(&self.sql.migrate)
            .execute(&mut *tx)
            .await
            .map_err(|err| PostgresOutboxError::sql(context(), err))?;
        tx.commit()
            .await
            .map_err(|err| PostgresOutboxError::sql(context(), err))
    }

    /// Appends an event to the outbox inside the caller's transaction `tx`, so it commits
    /// (or rolls back) together with the caller's domain writes. Returns its id.
    pub async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        partition_key: &str,
        payload: &[u8],
    ) -> Result<u64, PostgresOutboxError> {
        let id: i64 = sqlx::query_scalar(&self.sql.enqueue)
            .bind(partition_key)
            .bind(payload)
            .fetch_one(&mut **tx)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to enqueue into {}", self.sql.table),
                    err,
                )
            })?;
        Ok(id as u64)
    }

    /// Appends `(partition_key, payload)` events in one statement inside `tx`; returns
    /// their ids, in the order given.
    pub async fn enqueue_many(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: &[(&str, &[u8])],
    ) -> Result<Vec<u64>, PostgresOutboxError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<&str> = events.iter().map(|(key, _)| *key).collect();
        let payloads: Vec<&[u8]> = events.iter().map(|(_, payload)| *payload).collect();
        let mut ids: Vec<i64> = sqlx::query_scalar(&self.sql.enqueue_many)
            .bind(keys)
            .bind(payloads)
            .fetch_all(&mut **tx)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to enqueue into {}", self.sql.table),
                    err,
                )
            })?;
        // Ids are drawn in insertion order, which the statement fixes; RETURNING's order
        // is not promised, so sort.
        ids.sort_unstable();
        Ok(ids.into_iter().map(|id| id as u64).collect())
    }

    /// Deletes rows marked sent at least `older_than` ago; returns how many. Unsent rows
    /// are never deleted.
    pub async fn prune(&self, older_than: Duration) -> Result<u64, PostgresOutboxError> {
        let result = sqlx::query(&self.sql.prune)
            .bind(duration_ms(older_than))
            .execute(&self.pool)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(format_args!("failed to prune {}", self.sql.table), err)
            })?;
        Ok(result.rows_affected())
    }
}

#[async_trait]
impl Outbox for PostgresOutbox {
    /// Claims up to `limit` entries for this instance, oldest first (see the module
    /// header for the ordering rules).
    #[tracing::instrument(skip_all, fields(table = %self.sql.table, limit))]
    async fn pending(&self, limit: usize) -> Result<Vec<OutboxEntry>, StateError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&self.sql.claim)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(&self.claimant)
            .bind(duration_ms(self.lease))
            .fetch_all(&self.pool)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to claim outbox rows from {}", self.sql.table),
                    err,
                )
            })?;
        let mut entries = rows
            .into_iter()
            .map(|row| {
                Ok(OutboxEntry {
                    id: row.try_get::<i64, _>(0)? as u64,
                    payload: row.try_get(1)?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to read outbox rows from {}", self.sql.table),
                    err,
                )
            })?;
        entries.sort_unstable_by_key(|entry| entry.id);
        Ok(entries)
    }

    /// Marks the entries sent (ids already sent or gone are ignored); they stay in the
    /// table until [`prune`](PostgresOutbox::prune).
    async fn mark_sent(&self, ids: &[u64]) -> Result<(), StateError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = ids
            .iter()
            .filter_map(|id| i64::try_from(*id).ok())
            .collect();
        sqlx::query(&self.sql.mark_sent)
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to mark outbox rows sent in {}", self.sql.table),
                    err,
                )
            })?;
        Ok(())
    }

    async fn ping(&self) -> Result<(), StateError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to reach the database of {}", self.sql.table),
                    err,
                )
            })?;
        Ok(())
    }

    /// Unsent entries, claimed or not.
    async fn pending_count(&self) -> Result<u64, StateError> {
        let count: i64 = sqlx::query_scalar(&self.sql.pending_count)
            .fetch_one(&self.pool)
            .await
            .map_err(|err| {
                PostgresOutboxError::sql(
                    format_args!("failed to count pending rows in {}", self.sql.table),
                    err,
                )
            })?;
        Ok(count as u64)
    }
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// `options` with `ca_file` as the trusted CA, and the TLS mode raised to `verify-ca`
/// where a CA is given but the mode would not check against it (see
/// [`PostgresOutbox::connect_with_ca_file`]).
fn with_tls_roots(
    options: PgConnectOptions,
    url: &str,
    ca_file: Option<&Path>,
) -> PgConnectOptions {
    let mode = options.get_ssl_mode();
    match ca_file {
        Some(ca_file) => {
            let options = options.ssl_root_cert(ca_file);
            match mode {
                PgSslMode::Allow | PgSslMode::Prefer | PgSslMode::Require => {
                    options.ssl_mode(PgSslMode::VerifyCa)
                }
                PgSslMode::Disable | PgSslMode::VerifyCa | PgSslMode::VerifyFull => options,
            }
        }
        None if matches!(mode, PgSslMode::Require) && has_query_param(url, "sslrootcert") => {
            options.ssl_mode(PgSslMode::VerifyCa)
        }
        None => options,
    }
}

fn has_query_param(url: &str, name: &str) -> bool {
    url.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(name))
    })
}

/// `url` without its password, for messages.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_mode(url: &str, ca_file: Option<&str>, expected: PgSslMode) {
        let options: PgConnectOptions = url.parse().unwrap();
        let options = with_tls_roots(options, url, ca_file.map(Path::new));
        let mode = options.get_ssl_mode();
        assert_eq!(
            format!("{mode:?}"),
            format!("{expected:?}"),
            "{url} with {ca_file:?}"
        );
    }

    #[test]
    fn a_ca_asks_for_verification() {
        let base = "postgres://app@db/app";
        check_mode(base, None, PgSslMode::Prefer);
        check_mode(base, Some("/ca.pem"), PgSslMode::VerifyCa);
        check_mode(&format!("{base}?sslmode=require"), None, PgSslMode::Require);
        check_mode(
            &format!("{base}?sslmode=require&sslrootcert=/ca.pem"),
            None,
            PgSslMode::VerifyCa,
        );
        check_mode(
            &format!("{base}?sslmode=require"),
            Some("/ca.pem"),
            PgSslMode::VerifyCa,
        );
        check_mode(
            &format!("{base}?sslmode=verify-full"),
            Some("/ca.pem"),
            PgSslMode::VerifyFull,
        );
        check_mode(
            &format!("{base}?sslmode=disable"),
            Some("/ca.pem"),
            PgSslMode::Disable,
        );
    }

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact_url("postgres://app:secret@db/app"),
            "postgres://app:***@db/app"
        );
    }
}
