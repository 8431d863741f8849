//! The PostgreSQL identity store against the local server: an account and its event are
//! one transaction (an outbox that refuses the event leaves no account), concurrent
//! registrations of one address make one account and one event, and the relay side of
//! the same outbox sees exactly what was committed.

use std::sync::Arc;

use switchyard_contracts::{Outbound, Registry};
use switchyard_identity::{
    Identity, IdentityError, IdentitySettings, IdentityStore, PostgresIdentityStore, RecordKind,
};
use switchyard_postgres::PostgresOutbox;
use switchyard_state::Outbox;

/// The trust-auth default of the local server; `DATABASE_URL` overrides it.
fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// A schema of the test's own, dropped at the end.
struct Schema {
    name: String,
    pool: sqlx::PgPool,
}

impl Schema {
    async fn new() -> Schema {
        let name = format!("identity_test_{}", uuid::Uuid::now_v7().simple());
        let pool = sqlx::PgPool::connect(&database_url())
            .await
            .unwrap_or_else(|err| {
                panic!("postgresql is not reachable at {}: {err}", database_url())
            });
        Schema { name, pool }
    }

    /// The store of this schema, with no relay: its events stay in the outbox to be
    /// counted.
    async fn store(&self) -> (Arc<PostgresIdentityStore>, Arc<PostgresOutbox>, Identity) {
        let outbox = Arc::new(
            PostgresOutbox::connect(&database_url(), &format!("{}.outbox", self.name))
                .await
                .unwrap(),
        );
        outbox.migrate().await.unwrap();
        let store = Arc::new(
            PostgresIdentityStore::new(outbox.clone(), &format!("{}.identity", self.name)).unwrap(),
        );
        store.migrate().await.unwrap();
        let identity = Identity::new(
            store.clone(),
            Arc::new(Registry::standard()),
            IdentitySettings {
                dual_publish: false,
                ..IdentitySettings::default()
            },
        );
        (store, outbox, identity)
    }

    async fn drop_schema(self) {
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&self.pool)
            .await
            .unwrap();
    }
}

/// The recipients of the verification events waiting in `outbox`.
async fn recipients(outbox: &PostgresOutbox) -> Vec<String> {
    outbox
        .pending(1000)
        .await
        .unwrap()
        .into_iter()
        .map(|entry| {
            let outbound: Outbound = serde_json::from_slice(&entry.payload).unwrap();
            let envelope: serde_json::Value = serde_json::from_slice(&outbound.payload).unwrap();
            envelope["data"]["recipient"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn an_event_the_outbox_refuses_rolls_the_registration_back() {
    let schema = Schema::new().await;
    let (store, outbox, identity) = schema.store().await;
    // The outbox refuses every row from now on.
    for statement in [
        "CREATE FUNCTION {0}.refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'outbox refuses'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse BEFORE INSERT ON {0}.outbox FOR EACH ROW EXECUTE FUNCTION {0}.refuse()",
    ] {
        sqlx::query(&statement.replace("{0}", &schema.name))
            .execute(&schema.pool)
            .await
            .unwrap();
    }
    let refused = identity
        .register("frank@example.com", "correct horse 9", "en")
        .await;
    assert!(
        matches!(refused, Err(IdentityError::Store { .. })),
        "{refused:?}"
    );
    assert_eq!(
        store
            .get(RecordKind::Account, "frank@example.com")
            .await
            .unwrap(),
        None,
        "no account without its event"
    );

    sqlx::query(&format!("DROP TRIGGER refuse ON {}.outbox", schema.name))
        .execute(&schema.pool)
        .await
        .unwrap();
    identity
        .register("frank@example.com", "correct horse 9", "en")
        .await
        .expect("nothing of the refused registration stayed");
    assert!(
        store
            .get(RecordKind::Account, "frank@example.com")
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(recipients(&outbox).await, ["frank@example.com"]);
    schema.drop_schema().await;
}

#[tokio::test]
async fn concurrent_registrations_of_one_address_make_one_account_and_one_event() {
    let schema = Schema::new().await;
    let (_, outbox, identity) = schema.store().await;
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let identity = identity.clone();
            tokio::spawn(async move {
                identity
                    .register("grace@example.com", "correct horse 9", "en")
                    .await
            })
        })
        .collect();
    let mut registered = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => registered += 1,
            Err(IdentityError::Conflict(_)) => {}
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(registered, 1);
    assert_eq!(recipients(&outbox).await, ["grace@example.com"]);

    // A verification attempt is a change of the same row: counted, with no event.
    assert!(
        identity
            .verify("grace@example.com", "000000")
            .await
            .is_err()
    );
    assert_eq!(outbox.pending_count().await.unwrap(), 1);
    schema.drop_schema().await;
}
