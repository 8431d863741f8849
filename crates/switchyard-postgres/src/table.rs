//! The outbox table: its validated name and every SQL statement run against it.
//!
//! # Layout
//! ```sql
//! CREATE TABLE {table} (
//!     id            bigserial   PRIMARY KEY,    -- the outbox sequence, never reused
//!     partition_key text        NOT NULL,       -- events of one key are relayed in id order
//!     payload       bytea       NOT NULL,       -- opaque to this crate
//!     created_at    timestamptz NOT NULL DEFAULT now(),
//!     sent_at       timestamptz NULL,           -- set by mark_sent; pruned later
//!     claimed_until timestamptz NULL,           -- the claiming relay's lease
//!     claimed_by    text        NULL            -- which PostgresOutbox holds the lease
//! );
//! -- unsent rows in id order (claiming, counting), per key (the order check), sent rows (pruning)
//! CREATE INDEX {table}_unsent_idx ON {table} (id) WHERE sent_at IS NULL;
//! CREATE INDEX {table}_unsent_key_idx ON {table} (partition_key, id) WHERE sent_at IS NULL;
//! CREATE INDEX {table}_sent_idx ON {table} (sent_at) WHERE sent_at IS NOT NULL;
//! ```
//! Table names are interpolated into SQL, so only `[a-z_][a-z0-9_]*` (optionally
//! `schema.table`) is accepted, short enough for the index names to fit PostgreSQL's
//! 63-byte identifiers, and quoted anyway. A schema must fit 63 bytes too (PostgreSQL
//! would silently cut a longer one, and two long names could meet), and may not start
//! with `pg_`, which PostgreSQL reserves. `migrate` creates a missing schema first
//! (`CREATE SCHEMA IF NOT EXISTS "{schema}"`); the indexes live in the table's schema, so
//! the same table name in two schemas is two independent outboxes.

use crate::PostgresOutboxError;

/// Longest identifier PostgreSQL keeps whole.
const MAX_IDENTIFIER_BYTES: usize = 63;
/// Longest table name accepted: 63 bytes minus the longest index suffix.
const MAX_TABLE_NAME_BYTES: usize = MAX_IDENTIFIER_BYTES - "_unsent_key_idx".len();

/// The statements for one outbox table.
#[derive(Debug, Clone)]
pub(crate) struct Statements {
    pub(crate) table: String,
    /// The schema of a `schema.table` name, unquoted.
    pub(crate) schema: Option<String>,
    /// Creates that schema; run by `migrate` only when it is missing, so a role without
    /// the right to create schemas can use one made for it.
    pub(crate) create_schema: Option<String>,
    pub(crate) migrate: String,
    pub(crate) enqueue: String,
    pub(crate) enqueue_many: String,
    pub(crate) claim: String,
    pub(crate) mark_sent: String,
    pub(crate) pending_count: String,
    pub(crate) prune: String,
}

impl Statements {
    pub(crate) fn new(table_name: &str) -> Result<Self, PostgresOutboxError> {
        let (schema, base) = split_table_name(table_name)?;
        let table = match schema {
            Some(schema) => format!("\"{schema}\".\"{base}\""),
            None => format!("\"{base}\""),
        };
        let create_schema =
            schema.map(|schema| format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""));
        let migrate = format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id bigserial PRIMARY KEY,
                partition_key text NOT NULL,
                payload bytea NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                sent_at timestamptz NULL,
                claimed_until timestamptz NULL,
                claimed_by text NULL
            );
            CREATE INDEX IF NOT EXISTS \"{base}_unsent_idx\" ON {table} (id) WHERE sent_at IS NULL;
            CREATE INDEX IF NOT EXISTS \"{base}_unsent_key_idx\" ON {table} (partition_key, id)
                WHERE sent_at IS NULL;
            CREATE INDEX IF NOT EXISTS \"{base}_sent_idx\" ON {table} (sent_at)
                WHERE sent_at IS NOT NULL;"
        );
        let enqueue =
            format!("INSERT INTO {table} (partition_key, payload) VALUES ($1, $2) RETURNING id");
        let enqueue_many = format!(
            "INSERT INTO {table} (partition_key, payload)
             SELECT event.partition_key, event.payload
             FROM UNNEST($1::text[], $2::bytea[]) WITH ORDINALITY
                 AS event (partition_key, payload, position)
             ORDER BY event.position
             RETURNING id"
        );
        // $1 limit, $2 claimant, $3 lease in milliseconds. See `PostgresOutbox::pending`.
        let claim = format!(
            "WITH candidates AS MATERIALIZED (
                SELECT id, partition_key FROM {table}
                WHERE sent_at IS NULL
                  AND (claimed_until IS NULL OR claimed_until < now() OR claimed_by = $2)
                ORDER BY id
                LIMIT $1
                FOR UPDATE SKIP LOCKED
            ),
            ready AS (
                SELECT candidate.id FROM candidates candidate
                WHERE NOT EXISTS (
                    SELECT 1 FROM {table} older
                    WHERE older.partition_key = candidate.partition_key
                      AND older.id < candidate.id
                      AND older.sent_at IS NULL
                      AND older.id NOT IN (SELECT id FROM candidates)
                )
            )
            UPDATE {table} AS claimed
            SET claimed_until = now() + $3::bigint * interval '1 millisecond', claimed_by = $2
            FROM ready
            WHERE claimed.id = ready.id
            RETURNING claimed.id, claimed.payload"
        );
        let mark_sent = format!(
            "UPDATE {table} SET sent_at = now(), claimed_until = NULL, claimed_by = NULL
             WHERE id = ANY($1) AND sent_at IS NULL"
        );
        let pending_count = format!("SELECT count(*) FROM {table} WHERE sent_at IS NULL");
        let prune = format!(
            "DELETE FROM {table}
             WHERE sent_at IS NOT NULL AND sent_at <= now() - $1::bigint * interval '1 millisecond'"
        );
        Ok(Statements {
            table,
            schema: schema.map(str::to_string),
            create_schema,
            migrate,
            enqueue,
            enqueue_many,
            claim,
            mark_sent,
            pending_count,
            prune,
        })
    }
}

/// Splits `schema.table` (or `table`) after checking both parts.
fn split_table_name(name: &str) -> Result<(Option<&str>, &str), PostgresOutboxError> {
    let (schema, base) = match name.split_once('.') {
        Some((schema, base)) => (Some(schema), base),
        None => (None, name),
    };
    if let Some(schema) = schema
        && (!is_plain_identifier(schema)
            || schema.len() > MAX_IDENTIFIER_BYTES
            || schema.starts_with("pg_"))
    {
        return Err(PostgresOutboxError::invalid_config(format!(
            "invalid outbox schema `{schema}` in `{name}`: expected [a-z_][a-z0-9_]* of at most {MAX_IDENTIFIER_BYTES} bytes, not starting with `pg_`"
        )));
    }
    if !is_plain_identifier(base) || base.len() > MAX_TABLE_NAME_BYTES {
        return Err(PostgresOutboxError::invalid_config(format!(
            "invalid outbox table name `{name}`: expected [a-z_][a-z0-9_]* of at most {MAX_TABLE_NAME_BYTES} bytes, optionally after `schema.`"
        )));
    }
    Ok((schema, base))
}

/// Whether `part` is `[a-z_][a-z0-9_]*`: nothing to escape, and the same name quoted or not.
fn is_plain_identifier(part: &str) -> bool {
    part.bytes()
        .next()
        .is_some_and(|first| first.is_ascii_lowercase() || first == b'_')
        && part
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: Option<&str>) {
        let table = Statements::new(name)
            .ok()
            .map(|statements| statements.table);
        assert_eq!(table.as_deref(), expected, "{name}");
    }

    #[test]
    fn accepts_plain_and_schema_qualified_names() {
        check("outbox", Some("\"outbox\""));
        check("_outbox_2", Some("\"_outbox_2\""));
        check("app.outbox", Some("\"app\".\"outbox\""));
        check(&"t".repeat(48), Some(&format!("\"{}\"", "t".repeat(48))));
        let long_schema = format!("{}.outbox", "s".repeat(63));
        check(
            &long_schema,
            Some(&format!("\"{}\".\"outbox\"", "s".repeat(63))),
        );
    }

    #[test]
    fn a_schema_is_created_only_for_a_qualified_name() {
        let qualified = Statements::new("blue.switchyard_outbox").unwrap();
        assert_eq!(qualified.schema.as_deref(), Some("blue"));
        assert_eq!(
            qualified.create_schema.as_deref(),
            Some("CREATE SCHEMA IF NOT EXISTS \"blue\"")
        );
        let plain = Statements::new("switchyard_outbox").unwrap();
        assert_eq!((plain.schema, plain.create_schema), (None, None));
    }

    #[test]
    fn refuses_names_that_could_change_the_sql() {
        check("", None);
        check("Outbox", None);
        check("2outbox", None);
        check("out-box", None);
        check("outbox\"; DROP TABLE users; --", None);
        check("a.b.c", None);
        check(".outbox", None);
        check("app.", None);
        check(&"t".repeat(49), None);
        check("Blue.outbox", None);
        check("blue-green.outbox", None);
        check("pg_temp.outbox", None);
        check(&format!("{}.outbox", "s".repeat(64)), None);
        let err = Statements::new("Blue.switchyard_outbox").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid outbox schema `Blue` in `Blue.switchyard_outbox`: expected [a-z_][a-z0-9_]* \
             of at most 63 bytes, not starting with `pg_`"
        );
        let err = Statements::new("bad name").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid outbox table name `bad name`: "),
            "{err}"
        );
    }
}
