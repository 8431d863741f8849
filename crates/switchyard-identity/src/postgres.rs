//! [`PostgresIdentityStore`]: accounts and subscriptions in one PostgreSQL table beside
//! the outbox, each change committed in the same SQL transaction as its outbox rows.
//!
//! A change locks its row (`SELECT … FOR UPDATE`), so changes of one record run one at a
//! time across processes; a record that did not exist is inserted with
//! `ON CONFLICT DO NOTHING`, and a concurrent creation of the same key is a conflict, not
//! an overwrite.

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::Row;
use switchyard_postgres::PostgresOutbox;
use switchyard_state::Outbox;

use crate::IdentityError;
use crate::store::{Change, IdentityStore, RecordKind};

/// The records of one deployment, in `table`, with events in `outbox`.
pub struct PostgresIdentityStore {
    outbox: Arc<PostgresOutbox>,
    table: String,
}

impl PostgresIdentityStore {
    /// The store in `table` (`[a-z_][a-z0-9_]*`, optionally `schema.`-qualified, like the
    /// outbox's), on the outbox's pool. Call [`migrate`](Self::migrate) once.
    pub fn new(outbox: Arc<PostgresOutbox>, table: &str) -> Result<Self, IdentityError> {
        let identifier = |part: &str| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !table.split('.').all(identifier) || table.split('.').count() > 2 {
            return Err(IdentityError::store(
                format!("invalid identity table name `{table}`"),
                false,
            ));
        }
        Ok(PostgresIdentityStore {
            outbox,
            table: table.to_string(),
        })
    }

    /// Creates the table (and its schema) when missing.
    pub async fn migrate(&self) -> Result<(), IdentityError> {
        if let Some((schema, _)) = self.table.split_once('.') {
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(self.outbox.pool())
                .await
                .map_err(sql("failed to create the identity schema"))?;
        }
        sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                kind TEXT NOT NULL,
                key TEXT NOT NULL,
                value BYTEA NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
                PRIMARY KEY (kind, key)
            )",
            self.table
        ))
        .execute(self.outbox.pool())
        .await
        .map_err(sql("failed to create the identity table"))?;
        Ok(())
    }
}

fn sql(context: &'static str) -> impl Fn(sqlx::Error) -> IdentityError {
    move |err| {
        let retryable = matches!(
            err,
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        );
        IdentityError::store(format!("{context}: {err}"), retryable)
    }
}

#[async_trait]
impl IdentityStore for PostgresIdentityStore {
    async fn get(&self, kind: RecordKind, key: &str) -> Result<Option<Vec<u8>>, IdentityError> {
        let row = sqlx::query(&format!(
            "SELECT value FROM {} WHERE kind = $1 AND key = $2",
            self.table
        ))
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(self.outbox.pool())
        .await
        .map_err(sql("failed to read an identity record"))?;
        Ok(row.map(|row| row.get::<Vec<u8>, _>(0)))
    }

    async fn update(
        &self,
        kind: RecordKind,
        key: &str,
        change: Change,
    ) -> Result<Vec<u64>, IdentityError> {
        let mut tx = self
            .outbox
            .pool()
            .begin()
            .await
            .map_err(sql("failed to begin an identity change"))?;
        let current: Option<Vec<u8>> = sqlx::query(&format!(
            "SELECT value FROM {} WHERE kind = $1 AND key = $2 FOR UPDATE",
            self.table
        ))
        .bind(kind.as_str())
        .bind(key)
        .fetch_optional(&mut *tx)
        .await
        .map_err(sql("failed to read an identity record"))?
        .map(|row| row.get(0));
        let existed = current.is_some();
        let update = change(current.as_deref())?;
        if let Some(value) = &update.value {
            let statement = if existed {
                format!(
                    "UPDATE {} SET value = $3, updated_at = now() WHERE kind = $1 AND key = $2",
                    self.table
                )
            } else {
                format!(
                    "INSERT INTO {} (kind, key, value) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    self.table
                )
            };
            let written = sqlx::query(&statement)
                .bind(kind.as_str())
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await
                .map_err(sql("failed to write an identity record"))?;
            if written.rows_affected() != 1 {
                return Err(IdentityError::Conflict(format!(
                    "the {} `{key}` was created concurrently",
                    kind.as_str()
                )));
            }
        }
        let events: Vec<(&str, &[u8])> = update
            .events
            .iter()
            .map(|event| (event.partition_key.as_str(), event.payload.as_slice()))
            .collect();
        let ids = self
            .outbox
            .enqueue_many(&mut tx, &events)
            .await
            .map_err(|err| IdentityError::store(err, true))?;
        tx.commit()
            .await
            .map_err(sql("failed to commit an identity change"))?;
        update.then.map(|()| ids)
    }

    fn outbox(&self) -> Arc<dyn Outbox> {
        self.outbox.clone()
    }
}
