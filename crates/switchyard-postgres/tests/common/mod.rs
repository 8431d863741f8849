//! Test helpers shared by the PostgreSQL test binaries: the database URL, and outbox
//! tables unique to a test that are dropped when it ends, even when it fails.

use switchyard_postgres::PostgresOutbox;

/// The trust-auth default of the local server; `DATABASE_URL` overrides it.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string())
}

/// An outbox table of its own, dropped (with the test's other tables) on drop.
pub struct TestTable {
    pub name: String,
    pub outbox: PostgresOutbox,
}

impl TestTable {
    /// A new, migrated outbox table; fails naming the URL when PostgreSQL is unreachable.
    pub async fn new() -> TestTable {
        let url = database_url();
        let name = format!("outbox_test_{}", uuid::Uuid::now_v7().simple());
        let outbox = PostgresOutbox::connect(&url, &name)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "postgresql is not reachable at {url} (set DATABASE_URL, or start it: pg_ctlcluster <version> main start): {err}"
                )
            });
        outbox.migrate().await.expect("the outbox table is created");
        TestTable { name, outbox }
    }

    /// A table name for the test's domain rows, dropped with the outbox table.
    pub fn domain_table(&self) -> String {
        format!("{}_domain", self.name)
    }
}

impl Drop for TestTable {
    fn drop(&mut self) {
        let statements = [self.name.clone(), self.domain_table()]
            .map(|table| format!("DROP TABLE IF EXISTS \"{table}\""));
        run_cleanup(&format!("test table {}", self.name), statements.to_vec());
    }
}

/// Runs cleanup `statements` (drops) against the test database, reporting a failure
/// about `what` without failing the test. Drops run inside (or after) an async test, so
/// on a runtime of their own.
pub fn run_cleanup(what: &str, statements: Vec<String>) {
    let url = database_url();
    let dropped = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime for cleanup")
            .block_on(async move {
                let pool = sqlx::PgPool::connect(&url).await?;
                for statement in statements {
                    sqlx::query(&statement).execute(&pool).await?;
                }
                pool.close().await;
                Ok::<(), sqlx::Error>(())
            })
    })
    .join();
    if let Ok(Err(err)) = dropped {
        eprintln!("failed to drop {what}: {err}");
    }
}
