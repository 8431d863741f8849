//! The same pipeline on the distributed engines of this machine: NATS JetStream or RabbitMQ
//! as the bus, Redis as state, PostgreSQL as the outbox. A fresh user per run keeps runs
//! apart on the long-lived servers.

mod support;

use support::{Server, fixtures, run};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn engines(bus: &str) -> Vec<String> {
    vec![
        "--bus".into(),
        bus.into(),
        "--state".into(),
        env_or("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "--outbox".into(),
        env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test"),
    ]
}

fn pipeline_runs_on(bus: &str) {
    let data = tempfile::tempdir().unwrap();
    let flags = engines(bus);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let user = format!(
        "dist-{}-{}",
        std::process::id(),
        bus.split(':').next().unwrap()
    );

    let mut setup = vec!["topics", "setup"];
    setup.extend(&flags);
    let output = run(data.path(), &setup);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let server = Server::start_with(data.path(), &flags);
    let port = server.base_url.rsplit(':').next().unwrap().to_string();
    let import = support::binary()
        .args([
            "import",
            fixtures().join("good").to_str().unwrap(),
            "--user",
            &user,
            "--data-dir",
        ])
        .arg(data.path())
        .args(&flags)
        .env("SWITCHYARD_LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "{}",
        String::from_utf8_lossy(&import.stderr)
    );
    let (_, body) = support::get(&format!(
        "{}/v1/search?q=Christmas&user={user}",
        server.base_url
    ))
    .unwrap();
    assert_eq!(body["hits"].as_array().unwrap().len(), 1, "{body}");
    let (_, body) =
        support::get(&format!("{}/v1/search?q=LUKS&user={user}", server.base_url)).unwrap();
    assert!(!body["hits"].as_array().unwrap().is_empty(), "{body}");
}

#[test]
fn pipeline_runs_on_nats_redis_and_postgres() {
    pipeline_runs_on(&env_or("NATS_URL", "nats://127.0.0.1:4222"));
}

#[test]
fn pipeline_runs_on_rabbitmq_redis_and_postgres() {
    pipeline_runs_on(&env_or("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2f"));
}
