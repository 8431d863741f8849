//! The runtime's real `OutboxRelay`, unchanged, publishing from a `PostgresOutbox` to an
//! `EmbeddedBroker`: two relays run at once, every event arrives once, and each user's
//! events arrive in the order their transactions committed. Two deployments whose
//! outboxes have the same table name in two schemas of one database (as
//! `--bus-namespace` makes them) neither see nor relay each other's events.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestTable, database_url, run_cleanup};
use switchyard_bus::{Broker, EmbeddedBroker, SubscriptionConfig};
use switchyard_contracts::{Email, EmailEvent, Envelope, Operation, Registry, SyncType};
use switchyard_postgres::PostgresOutbox;
use switchyard_runtime::{OutboxRelay, Publisher, outbox_entry};
use switchyard_state::Outbox;
use tokio_util::sync::CancellationToken;

fn email_envelope(user: &str, n: usize) -> Envelope {
    let email = Email {
        id: format!("<msg-{user}-{n}@example.com>"),
        subject: format!("mail {n}"),
        ..Email::default()
    };
    EmailEvent::new(
        Operation::Create,
        SyncType::Backfill,
        "mbox",
        user,
        "batch-1",
        email,
    )
    .to_envelope("switchyard://test", "job-1")
    .unwrap()
}

/// Everything the subscription holds, as (partition key, event id), acked.
async fn drain(broker: &EmbeddedBroker) -> Vec<(String, String)> {
    let mut seen = Vec::new();
    loop {
        let batch = broker
            .fetch("s", 1000, Duration::from_millis(20))
            .await
            .unwrap();
        if batch.is_empty() {
            return seen;
        }
        let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
        for delivery in batch {
            let envelope = Envelope::from_json_slice(&delivery.message.payload).unwrap();
            seen.push((delivery.message.key.unwrap_or_default(), envelope.id));
        }
        broker.ack("s", &tags).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_real_relays_publish_every_event_once_in_per_user_order() {
    let table = TestTable::new().await;
    let broker_dir = tempfile::tempdir().unwrap();
    let broker = Arc::new(EmbeddedBroker::open(broker_dir.path()).unwrap());
    broker
        .ensure_subscription(&SubscriptionConfig::new("s", "emails"))
        .await
        .unwrap();
    let registry = Arc::new(Registry::standard());

    // Each import is one transaction: the domain row and its event.
    let domain = table.domain_table();
    let pool = table.outbox.pool();
    sqlx::query(&format!("CREATE TABLE \"{domain}\" (id text PRIMARY KEY)"))
        .execute(pool)
        .await
        .unwrap();
    let mut committed: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for n in 0..40 {
        for user in ["alice", "bob", "carol"] {
            let envelope = email_envelope(user, n);
            let partition_key = registry.prepare(&envelope).unwrap().partition_key;
            let entry = outbox_entry(&registry, &envelope).unwrap();
            let mut tx = pool.begin().await.unwrap();
            sqlx::query(&format!("INSERT INTO \"{domain}\" (id) VALUES ($1)"))
                .bind(&envelope.id)
                .execute(&mut *tx)
                .await
                .unwrap();
            table
                .outbox
                .enqueue(&mut tx, &partition_key, &entry)
                .await
                .unwrap();
            tx.commit().await.unwrap();
            committed
                .entry(partition_key)
                .or_default()
                .push(envelope.id);
        }
    }
    assert_eq!(table.outbox.pending_count().await.unwrap(), 120);

    let shutdown = CancellationToken::new();
    let relays: Vec<_> = (0..2)
        .map(|_| {
            let outbox: Arc<dyn Outbox> = Arc::new(table.outbox.with_new_claimant());
            let publisher = Publisher::new(broker.clone(), registry.clone());
            let relay = OutboxRelay::new(outbox, publisher, 8);
            tokio::spawn(relay.run(shutdown.clone(), Duration::from_millis(5)))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while table.outbox.pending_count().await.unwrap() > 0 {
        assert!(
            Instant::now() < deadline,
            "the relays did not drain the outbox"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    for relay in relays {
        tokio::time::timeout(Duration::from_secs(5), relay)
            .await
            .expect("a relay stops when cancelled")
            .unwrap();
    }

    let mut published: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, event_id) in drain(&broker).await {
        published.entry(key).or_default().push(event_id);
    }
    assert_eq!(published, committed);
}

/// Schemas of one test, dropped with everything in them on drop, even when it fails.
struct TestSchemas(Vec<String>);

impl Drop for TestSchemas {
    fn drop(&mut self) {
        let statements = self
            .0
            .iter()
            .map(|schema| format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
            .collect();
        run_cleanup(&format!("test schemas {:?}", self.0), statements);
    }
}

/// One deployment: its outbox `{schema}.switchyard_outbox`, its broker, its relay.
struct Deployment {
    outbox: PostgresOutbox,
    broker: Arc<EmbeddedBroker>,
    relay: OutboxRelay,
    _broker_dir: tempfile::TempDir,
}

impl Deployment {
    async fn new(schema: &str, registry: &Arc<Registry>) -> Deployment {
        let outbox =
            PostgresOutbox::connect(&database_url(), &format!("{schema}.switchyard_outbox"))
                .await
                .unwrap();
        outbox.migrate().await.unwrap();
        let broker_dir = tempfile::tempdir().unwrap();
        let broker = Arc::new(EmbeddedBroker::open(broker_dir.path()).unwrap());
        broker
            .ensure_subscription(&SubscriptionConfig::new("s", "emails"))
            .await
            .unwrap();
        let relay = OutboxRelay::new(
            Arc::new(outbox.with_new_claimant()),
            Publisher::new(broker.clone(), registry.clone()),
            100,
        );
        Deployment {
            outbox,
            broker,
            relay,
            _broker_dir: broker_dir,
        }
    }

    /// Enqueues `count` emails of `user` in one transaction; returns their event ids.
    async fn enqueue(&self, registry: &Registry, user: &str, count: usize) -> Vec<String> {
        let envelopes: Vec<Envelope> = (0..count).map(|n| email_envelope(user, n)).collect();
        let keys: Vec<String> = envelopes
            .iter()
            .map(|envelope| registry.prepare(envelope).unwrap().partition_key)
            .collect();
        let entries: Vec<Vec<u8>> = envelopes
            .iter()
            .map(|envelope| outbox_entry(registry, envelope).unwrap())
            .collect();
        let events: Vec<(&str, &[u8])> = keys
            .iter()
            .map(String::as_str)
            .zip(entries.iter().map(Vec::as_slice))
            .collect();
        let mut tx = self.outbox.pool().begin().await.unwrap();
        self.outbox.enqueue_many(&mut tx, &events).await.unwrap();
        tx.commit().await.unwrap();
        envelopes.into_iter().map(|envelope| envelope.id).collect()
    }

    async fn relayed(&self) -> Vec<String> {
        drain(&self.broker)
            .await
            .into_iter()
            .map(|(_, event_id)| event_id)
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outboxes_in_two_schemas_of_one_database_are_independent() {
    let run = format!("outbox_test_{}", uuid::Uuid::now_v7().simple());
    let (blue_schema, green_schema) = (format!("{run}_blue"), format!("{run}_green"));
    let _schemas = TestSchemas(vec![blue_schema.clone(), green_schema.clone()]);
    let registry = Arc::new(Registry::standard());
    let blue = Deployment::new(&blue_schema, &registry).await;
    let green = Deployment::new(&green_schema, &registry).await;
    assert_eq!(
        blue.outbox.table(),
        format!("\"{blue_schema}\".\"switchyard_outbox\"")
    );

    let blue_events = blue.enqueue(&registry, "alice", 30).await;
    assert_eq!(blue.outbox.pending_count().await.unwrap(), 30);
    assert_eq!(green.outbox.pending_count().await.unwrap(), 0);
    assert!(green.outbox.pending(100).await.unwrap().is_empty());
    assert_eq!(green.relay.relay_once().await.unwrap().published, 0);
    assert_eq!(blue.relay.relay_once().await.unwrap().published, 30);
    assert_eq!(blue.relayed().await, blue_events);
    assert!(green.relayed().await.is_empty());

    // The same user's same items, now in green: its rows and sequence are its own.
    let green_events = green.enqueue(&registry, "alice", 20).await;
    assert_eq!(blue.outbox.pending_count().await.unwrap(), 0);
    assert_eq!(blue.relay.relay_once().await.unwrap().published, 0);
    assert_eq!(green.relay.relay_once().await.unwrap().published, 20);
    assert_eq!(green.relayed().await, green_events);
    assert!(blue.relayed().await.is_empty());
}
