//! The identity flows through `switchyard serve` on the distributed engines: RabbitMQ for
//! the bus (the `smap.events` exchange) and PostgreSQL for accounts and the outbox.
//!
//! - kill -9 in the middle of registrations, many rounds: never an account without its
//!   `email.verification.requested` event, never an event without its account, and each
//!   account's event delivered once in effect (one event id, however often the relay
//!   published it again after a kill).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchyard_bus::{Broker, SubscriptionConfig};
use switchyard_rabbitmq::{RabbitBroker, RabbitOptions};

mod support;
use support::Server;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A deployment of its own on the shared servers: a bus namespace (RabbitMQ object names,
/// the PostgreSQL schema), removed at the end.
struct Deployment {
    namespace: String,
    amqp: String,
    postgres: String,
    runtime: tokio::runtime::Runtime,
}

impl Deployment {
    fn new() -> Deployment {
        Deployment {
            namespace: format!("syid{}{}", std::process::id(), nanos()),
            amqp: env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"),
            postgres: env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn flags(&self) -> Vec<String> {
        [
            "--bus",
            &self.amqp,
            "--bus-namespace",
            &self.namespace,
            "--outbox",
            &self.postgres,
        ]
        .map(str::to_string)
        .to_vec()
    }

    /// The bus as the server sees it: the identity set's topics on `smap.events`.
    fn broker(&self) -> RabbitBroker {
        let mut options = RabbitOptions::default().with_namespace(&self.namespace);
        for topic in [
            "email.verification.requested",
            "subscription.created",
            "subscription.cancelled",
            "subscription.status_changed",
        ] {
            options = options.with_topic_exchange(topic, "smap.events");
        }
        self.runtime
            .block_on(RabbitBroker::connect(&self.amqp, options))
            .expect("rabbitmq answers")
    }

    /// Every account's (user id, address) in PostgreSQL.
    fn accounts(&self) -> BTreeMap<String, String> {
        self.runtime.block_on(async {
            let pool = sqlx::PgPool::connect(&self.postgres).await.unwrap();
            let rows: Vec<(Vec<u8>,)> = sqlx::query_as(&format!(
                "SELECT value FROM {}.switchyard_identity WHERE kind = 'account'",
                self.namespace
            ))
            .fetch_all(&pool)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(value,)| {
                    let account: serde_json::Value = serde_json::from_slice(&value).unwrap();
                    (
                        account["user_id"].as_str().unwrap().to_string(),
                        account["email"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let (postgres, schema) = (self.postgres.clone(), self.namespace.clone());
        self.runtime.block_on(async move {
            if let Ok(pool) = sqlx::PgPool::connect(&postgres).await {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .execute(&pool)
                    .await;
            }
        });
    }
}

/// Registers accounts one after another until the server stops answering; returns the
/// addresses it answered 201 for.
fn register_until_killed(base_url: String, round: usize) -> Vec<String> {
    support::tls_provider();
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut registered = Vec::new();
    for index in 0.. {
        let email = format!("user{round}-{index}@example.com");
        let answer = client
            .post(format!("{base_url}/v1/register"))
            .header("content-type", "application/json")
            .body(
                serde_json::json!({"email": email, "password": "correct horse 9", "locale": "en"})
                    .to_string(),
            )
            .send();
        match answer {
            Ok(response) if response.status().as_u16() == 201 => registered.push(email),
            Ok(response) => panic!("{email}: {}", response.status()),
            Err(_) => break,
        }
    }
    registered
}

#[test]
fn kill_9_mid_registration_never_parts_an_account_from_its_event() {
    const ROUNDS: usize = 8;
    let deployment = Deployment::new();
    let scratch = tempfile::tempdir().unwrap();
    let broker = deployment.broker();
    let subscription = format!("{}-kill-test", deployment.namespace);
    deployment
        .runtime
        .block_on(broker.ensure_subscription(&SubscriptionConfig::new(
            &subscription,
            "email.verification.requested",
        )))
        .unwrap();
    let mut flags = deployment.flags();
    flags.extend(["--roles".to_string(), "relay".to_string()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    let answered = Arc::new(Mutex::new(BTreeSet::new()));
    for round in 0..ROUNDS {
        let data_dir = scratch.path().join(format!("round{round}"));
        let server = Server::start_with(&data_dir, &flags);
        let base_url = server.base_url.clone();
        let client = std::thread::spawn(move || register_until_killed(base_url, round));
        // Somewhere between 150 and 650 ms into the registrations.
        std::thread::sleep(Duration::from_millis(150 + (nanos() % 500) as u64));
        server.kill();
        answered.lock().unwrap().extend(client.join().unwrap());
    }

    // One more life of the server: its relay publishes what the kills left in the outbox.
    let data_dir = scratch.path().join("last");
    let _server = Server::start_with(&data_dir, &flags);
    let accounts = deployment.accounts();
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() >= ROUNDS,
        "{} registrations answered",
        answered.len()
    );
    let stored: BTreeSet<String> = accounts.values().cloned().collect();
    assert!(
        answered.is_subset(&stored),
        "an answered registration is missing: {:?}",
        answered.difference(&stored).collect::<Vec<_>>()
    );

    let mut events: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut deliveries = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while events.len() < accounts.len() && Instant::now() < deadline {
        let batch = deployment
            .runtime
            .block_on(broker.fetch(&subscription, 500, Duration::from_millis(500)))
            .unwrap();
        let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
        for delivery in batch {
            let envelope: serde_json::Value =
                serde_json::from_slice(&delivery.message.payload).unwrap();
            let user_id = envelope["data"]["user_id"].as_str().unwrap().to_string();
            let event_id = envelope["id"].as_str().unwrap().to_string();
            events.entry(user_id).or_default().insert(event_id);
            deliveries += 1;
        }
        deployment
            .runtime
            .block_on(broker.ack(&subscription, &tags))
            .unwrap();
    }
    let users_with_events: BTreeSet<&String> = events.keys().collect();
    let users: BTreeSet<&String> = accounts.keys().collect();
    assert_eq!(
        users_with_events,
        users,
        "accounts and events differ: {} accounts, {} with events",
        users.len(),
        users_with_events.len()
    );
    for (user, ids) in &events {
        assert_eq!(ids.len(), 1, "user {user} has several events: {ids:?}");
    }
    eprintln!(
        "{ROUNDS} kills: {} accounts, {deliveries} deliveries of {} events",
        accounts.len(),
        events.len()
    );
    deployment
        .runtime
        .block_on(broker.delete_subscription(&subscription))
        .unwrap();
}
