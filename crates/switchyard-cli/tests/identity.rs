//! The identity flows through `switchyard serve` on the distributed engines: RabbitMQ for
//! the bus (the `smap.events` exchange) and PostgreSQL for accounts and the outbox.
//!
//! - Register → the verification mail arrives (through the mailer role, on `email.#`,
//!   to a real SMTP server on loopback) with the code, the locale's language and its
//!   headers → verify succeeds; a wrong code, an expired code and too many attempts each
//!   fail with their reason. With dual publish on, a legacy consumer of the fanout
//!   exchange `smtp_send_email_exc` gets each event once beside the mailer; once it is
//!   off (a configuration reload by SIGHUP, then a restart), only the mailer does, and no
//!   event is lost or doubled.
//! - An SMTP server refusing with 421: the mail is tried again about 1, 2 and 4 s later,
//!   then waits in `email.errors` with the error, which `GET /v1/dlq` shows; other mail is
//!   not held up, mail sent once the server accepts arrives, and the redriven letter too.
//! - kill -9 in the middle of registrations, many rounds: never an account without its
//!   `email.verification.requested` event, never an event without its account, and each
//!   account's event delivered once in effect (one event id, however often the relay
//!   published it again after a kill).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use switchyard_bus::{Broker, SubscriptionConfig};
use switchyard_identity::LEGACY_EXCHANGE;
use switchyard_mailer::{SinkMail, SmtpSink};
use switchyard_rabbitmq::{RabbitBroker, RabbitOptions};

mod support;
use support::{Server, run};

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
        let mut options = RabbitOptions::default()
            .with_namespace(&self.namespace)
            .with_fanout_exchange(LEGACY_EXCHANGE);
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

/// The first six digits in a row of `text`: the code of a verification mail.
fn code_in(text: &str) -> String {
    text.as_bytes()
        .windows(6)
        .find(|window| window.iter().all(u8::is_ascii_digit))
        .map(|window| String::from_utf8(window.to_vec()).unwrap())
        .unwrap_or_else(|| panic!("no code in {text}"))
}

/// The message ids waiting on `subscription`, acked: what arrives within a moment.
fn take(deployment: &Deployment, broker: &RabbitBroker, subscription: &str) -> Vec<Value> {
    let mut taken = Vec::new();
    loop {
        let batch = deployment
            .runtime
            .block_on(broker.fetch(subscription, 100, Duration::from_millis(1000)))
            .unwrap();
        if batch.is_empty() {
            return taken;
        }
        let tags: Vec<_> = batch.iter().map(|delivery| delivery.tag).collect();
        taken.extend(
            batch
                .iter()
                .map(|delivery| serde_json::from_slice(&delivery.message.payload).unwrap()),
        );
        deployment
            .runtime
            .block_on(broker.ack(subscription, &tags))
            .unwrap();
    }
}

fn register(server: &Server, email: &str, locale: &str) -> Value {
    let (status, body) = server.post(
        "/v1/register",
        &json!({"email": email, "password": "correct horse 9", "locale": locale}).to_string(),
    );
    assert_eq!(status, 201, "{email}: {body}");
    body
}

fn verify(server: &Server, email: &str, otp: &str) -> (u16, Value) {
    server.post(
        "/v1/verify",
        &json!({"email": email, "otp": otp}).to_string(),
    )
}

#[test]
fn a_registration_mails_its_code_and_dual_publish_can_be_turned_off() {
    let deployment = Deployment::new();
    let scratch = tempfile::tempdir().unwrap();
    let sink = deployment.runtime.block_on(SmtpSink::start()).unwrap();
    let (config, flags) = mailer_serve_flags(&deployment, scratch.path(), &sink);
    let broker = deployment.broker();
    let legacy = format!("{}-legacy", deployment.namespace);
    deployment
        .runtime
        .block_on(broker.ensure_subscription(&SubscriptionConfig::new(&legacy, LEGACY_EXCHANGE)))
        .unwrap();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let ttl = [("SWITCHYARD_VERIFICATION_CODE_TTL_SECS", "8")];

    let server = Server::start_with_env(&scratch.path().join("on"), &flags, &ttl);
    let (status, health) = server.get("/health/bus");
    assert_eq!(status, 200, "{health}");
    let destinations: Vec<&str> = health["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|destination| destination["destination"].as_str().unwrap())
        .collect();
    assert_eq!(
        destinations,
        [
            format!("{}.smap.events", deployment.namespace),
            format!("{}.{LEGACY_EXCHANGE}", deployment.namespace)
        ]
    );
    let registered_at = Instant::now();
    let alice = register(&server, "alice@example.com", "en");
    register(&server, "bao@example.com", "vi");
    register(&server, "carol@example.com", "en");
    let mails = deployment
        .runtime
        .block_on(sink.wait_for_messages(3, Duration::from_secs(30)))
        .unwrap();
    let mail_to = |address: &str| -> SinkMail {
        mails
            .iter()
            .find(|mail| mail.header("To").is_some_and(|to| to.contains(address)))
            .unwrap_or_else(|| panic!("no mail to {address}"))
            .clone()
    };
    let (alice_mail, bao_mail, carol_mail) = (
        mail_to("alice@example.com"),
        mail_to("bao@example.com"),
        mail_to("carol@example.com"),
    );
    assert_eq!(
        alice_mail.subject().as_deref(),
        Some("Your verification code")
    );
    assert_eq!(bao_mail.subject().as_deref(), Some("Mã xác minh của bạn"));
    assert_eq!(bao_mail.header("Content-Language").as_deref(), Some("vi"));
    assert!(
        alice_mail
            .header("From")
            .is_some_and(|from| from.contains("no-reply@example.com"))
    );
    for mail in [&alice_mail, &bao_mail, &carol_mail] {
        assert!(
            mail.header("X-Event-Id").is_some(),
            "{:?}",
            mail.header("To")
        );
    }

    let (status, body) = verify(
        &server,
        "alice@example.com",
        &code_in(&alice_mail.text().unwrap()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], alice["user_id"]);
    assert_eq!(body["verified"], true);

    let bao_code = code_in(&bao_mail.text().unwrap());
    let wrong = if bao_code == "000000" {
        "111111"
    } else {
        "000000"
    };
    let (status, body) = verify(&server, "bao@example.com", wrong);
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("wrong_code")),
        "{body}"
    );
    for _ in 0..4 {
        verify(&server, "bao@example.com", wrong);
    }
    let (status, body) = verify(&server, "bao@example.com", &bao_code);
    assert_eq!(
        (status, body["reason"].as_str()),
        (429, Some("too_many_attempts")),
        "{body}"
    );

    // Carol's code expires 8 s after her registration.
    std::thread::sleep(Duration::from_secs(9).saturating_sub(registered_at.elapsed()));
    let (status, body) = verify(
        &server,
        "carol@example.com",
        &code_in(&carol_mail.text().unwrap()),
    );
    assert_eq!(
        (status, body["reason"].as_str()),
        (400, Some("expired")),
        "{body}"
    );

    // The legacy consumer got each event once, in the legacy shape.
    let event_ids: BTreeSet<String> = mails
        .iter()
        .map(|mail| mail.header("X-Event-Id").unwrap())
        .collect();
    let copies = take(&deployment, &broker, &legacy);
    let copied: Vec<String> = copies
        .iter()
        .map(|copy| copy["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(copied.len(), 3, "{copies:?}");
    assert_eq!(copied.iter().cloned().collect::<BTreeSet<_>>(), event_ids);

    // Dual publish off by a configuration reload (SIGHUP): the mailer alone gets the next
    // event.
    let mut reloaded = std::fs::read_to_string(&config).unwrap();
    reloaded.push_str("[identity]\ndual_publish = false\n");
    std::fs::write(&config, reloaded).unwrap();
    assert_eq!(
        unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) },
        0
    );
    let reloaded_by = Instant::now() + Duration::from_secs(10);
    while server.get("/health/bus").1["destinations"]
        .as_array()
        .unwrap()
        .len()
        != 1
    {
        assert!(
            Instant::now() < reloaded_by,
            "not reloaded: {}",
            server.log_tail(5)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    register(&server, "dave@example.com", "en");
    // And by a restart with ENABLE_DUAL_PUBLISH=false.
    server.kill();
    let mut env = ttl.to_vec();
    env.push(("ENABLE_DUAL_PUBLISH", "false"));
    let server = Server::start_with_env(&scratch.path().join("off"), &flags, &env);
    let (status, health) = server.get("/health/bus");
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["destinations"].as_array().unwrap().len(), 1);
    register(&server, "erin@example.com", "en");
    let mails = deployment
        .runtime
        .block_on(sink.wait_for_messages(5, Duration::from_secs(30)))
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let all: Vec<String> = sink
        .messages()
        .iter()
        .map(|mail| mail.header("X-Event-Id").unwrap())
        .collect();
    assert_eq!(all.len(), 5, "one mail per event: {all:?}");
    assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 5);
    for address in ["dave@", "erin@"] {
        assert!(
            mails
                .iter()
                .any(|mail| mail.header("To").is_some_and(|to| to.contains(address)))
        );
    }
    assert!(take(&deployment, &broker, &legacy).is_empty());

    // No secret and no whole address in either server's log.
    let codes: Vec<String> = sink
        .messages()
        .iter()
        .map(|mail| code_in(&mail.text().unwrap()))
        .collect();
    for life in ["on", "off"] {
        let log = std::fs::read_to_string(Server::log_path(&scratch.path().join(life))).unwrap();
        assert!(
            log.contains("al***@example.com") || life == "off",
            "{life}: masked addresses are logged"
        );
        for secret in ["correct horse 9", "alice@example.com", "dave@example.com"] {
            assert!(!log.contains(secret), "{life}: the log holds `{secret}`");
        }
        // A code as a value (a timestamp's microseconds may hold the same digits).
        for code in &codes {
            for shown in [
                format!("={code}"),
                format!(" {code}"),
                format!("\"{code}\""),
            ] {
                assert!(
                    !log.contains(&shown),
                    "{life}: the log holds a code: `{shown}`"
                );
            }
        }
    }

    deployment.runtime.block_on(async {
        broker.delete_subscription(&legacy).await.unwrap();
        broker
            .delete_subscription("smtp_send_email_v2")
            .await
            .unwrap();
    });
}

#[test]
fn a_refusing_smtp_server_gets_retries_then_the_mail_waits_in_email_errors() {
    let deployment = Deployment::new();
    let scratch = tempfile::tempdir().unwrap();
    let sink = deployment.runtime.block_on(SmtpSink::start()).unwrap();
    let (_, flags) = mailer_serve_flags(&deployment, scratch.path(), &sink);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Server::start_with_env(
        &scratch.path().join("serve"),
        &flags,
        &[("ENABLE_DUAL_PUBLISH", "false")],
    );

    sink.refuse_with(421).unwrap();
    register(&server, "frank@example.com", "en");
    // Four attempts, all refused, then the dead letter.
    let deadline = Instant::now() + Duration::from_secs(30);
    let letters = loop {
        let (status, body) = server.get("/v1/dlq?topic=email.verification.requested");
        assert_eq!(status, 200, "{body}");
        if body["entries"]
            .as_array()
            .is_some_and(|entries| !entries.is_empty())
        {
            break body["entries"].as_array().unwrap().clone();
        }
        assert!(
            Instant::now() < deadline,
            "no dead letter: {:?}",
            sink.attempts()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let attempts: Vec<f64> = sink.attempts().iter().map(|attempt| attempt.at).collect();
    assert_eq!(
        attempts.len(),
        4,
        "{:?}\n{}",
        sink.attempts(),
        server.log_tail(40)
    );
    assert!(sink.attempts().iter().all(|attempt| attempt.code == 421));
    let gaps: Vec<f64> = attempts.windows(2).map(|pair| pair[1] - pair[0]).collect();
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            *gap >= expected * 0.8 && *gap <= expected * 2.0,
            "retries at {gaps:?}, expected about 1, 2 and 4 s"
        );
    }
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(
        letters[0]["id"]
            .as_str()
            .unwrap()
            .starts_with("email.errors/"),
        "{letters:?}"
    );
    assert!(
        letters[0]["error"].as_str().unwrap().contains("421"),
        "{letters:?}"
    );
    assert_eq!(letters[0]["error_type"], "retries_exhausted");

    // The server accepts again: new mail arrives, and the letter once redriven.
    sink.accept().unwrap();
    register(&server, "grace@example.com", "en");
    deployment
        .runtime
        .block_on(sink.wait_for_messages(1, Duration::from_secs(30)))
        .unwrap();
    let (status, body) = server.post(
        "/v1/dlq/redrive",
        &json!({"topic": "email.verification.requested"}).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    let mails = deployment
        .runtime
        .block_on(sink.wait_for_messages(2, Duration::from_secs(30)))
        .unwrap();
    let recipients: BTreeSet<String> = mails.iter().filter_map(|mail| mail.header("To")).collect();
    assert!(
        recipients.iter().any(|to| to.contains("frank@")),
        "{recipients:?}"
    );
    assert!(
        recipients.iter().any(|to| to.contains("grace@")),
        "{recipients:?}"
    );
    let broker = deployment.broker();
    deployment
        .runtime
        .block_on(broker.delete_subscription("smtp_send_email_v2"))
        .unwrap();
}

/// A configuration file in `dir` sending mail to `sink`, the mailer's subscription set up on
/// the deployment's bus, and the flags of a `serve` running the mailer and the relay on it.
fn mailer_serve_flags(
    deployment: &Deployment,
    dir: &std::path::Path,
    sink: &SmtpSink,
) -> (std::path::PathBuf, Vec<String>) {
    let config = dir.join("switchyard.toml");
    std::fs::write(
        &config,
        format!(
            "[mailer]\nsmtp_url = \"{}\"\ntls = \"none\"\nfrom = \"Example <no-reply@example.com>\"\n",
            sink.url()
        ),
    )
    .unwrap();
    let mut flags = deployment.flags();
    flags.extend(["--config", config.to_str().unwrap()].map(str::to_string));
    let mut setup: Vec<String> = ["topics", "setup", "--roles", "mailer"]
        .map(str::to_string)
        .to_vec();
    setup.extend(flags.clone());
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    let output = run(&dir.join("setup"), &setup);
    assert!(output.status.success(), "{output:?}");
    flags.extend(["--roles", "mailer,relay"].map(str::to_string));
    (config, flags)
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

/// `GET /health/redis`: not configured with the embedded state; with Redis, its latency
/// and the closed circuit.
#[test]
fn the_redis_health_check_reports_latency_and_the_circuit() {
    let scratch = tempfile::tempdir().unwrap();
    let embedded = Server::start(&scratch.path().join("embedded"));
    let (status, body) = embedded.get("/health/redis");
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("not_configured")),
        "{body}"
    );
    drop(embedded);

    let redis = env_or("REDIS_URL", "redis://127.0.0.1:6379/0");
    let namespace = format!("syid{}", nanos());
    let server = Server::start_with(
        &scratch.path().join("redis"),
        &["--state", &redis, "--bus-namespace", &namespace],
    );
    let (status, body) = server.get("/health/redis");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["circuit"], "closed");
    assert!(
        body["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
        "{body}"
    );
}
