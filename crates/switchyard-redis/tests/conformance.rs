//! `RedisState` against the local Redis (`REDIS_URL`, default `redis://127.0.0.1:6379/0`):
//! the state and job progress conformance suites, the runtime conformance suite over it,
//! the expiry index, two deployments side by side in namespaces of one database, and
//! failure handling.
//!
//! Each test works in a namespace of its own and leaves nothing behind. Redis must be
//! running; these tests fail, naming the URL, when it is not.

use std::time::Duration;

use redis::AsyncCommands;
use switchyard_redis::{CircuitState, DEFAULT_REDIS_URL, RedisState, RedisStateConfig};
use switchyard_state::{
    StateErrorKind, StateStore, job_conformance_suite, state_conformance_suite,
};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string())
}

fn unique_namespace() -> String {
    format!("switchyard-test:{}:", uuid::Uuid::now_v7().simple())
}

async fn connect(namespace: &str) -> RedisState {
    let url = redis_url();
    RedisState::connect(RedisStateConfig::new(&url).with_namespace(namespace))
        .await
        .unwrap_or_else(|err| {
            panic!(
                "redis is not reachable at {url} (set REDIS_URL, or start it: redis-server --daemonize yes --port 6379): {err}"
            )
        })
}

/// A plain connection, to look behind the store's back.
async fn raw() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("redis is reachable")
}

/// Every Redis key under `namespace`, the expiry index included.
async fn keys_under(namespace: &str) -> Vec<String> {
    let mut connection = raw().await;
    let mut found = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{}*", glob_escape(namespace)))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut connection)
            .await
            .unwrap();
        found.extend(batch);
        if next == 0 {
            return found;
        }
        cursor = next;
    }
}

fn glob_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
            other => vec![other],
        })
        .collect()
}

fn keys(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_conformance_suite_and_leaves_nothing_behind() {
    let namespace = unique_namespace();
    let state = connect(&namespace).await;
    state_conformance_suite(&state).await.unwrap();
    assert_eq!(keys_under(&namespace).await, Vec::<String>::new());
    assert_eq!(state.circuit_state(), CircuitState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_the_job_conformance_suite_and_leaves_nothing_behind() {
    let namespace = unique_namespace();
    let state = std::sync::Arc::new(connect(&namespace).await);
    job_conformance_suite(state.clone()).await.unwrap();
    assert_eq!(keys_under(&namespace).await, Vec::<String>::new());
    assert_eq!(state.circuit_state(), CircuitState::Closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_conformance_on_the_embedded_bus_with_redis_state() {
    let namespace = unique_namespace();
    let state = std::sync::Arc::new(connect(&namespace).await);
    let dir = tempfile::tempdir().unwrap();
    let broker = std::sync::Arc::new(switchyard_bus::EmbeddedBroker::open(dir.path()).unwrap());
    let outcome = switchyard_runtime::runtime_conformance_suite(broker, state).await;
    let keys = keys_under(&namespace).await;
    if !keys.is_empty() {
        let _: () = raw().await.del(keys).await.unwrap();
    }
    outcome.unwrap();
}

#[tokio::test]
async fn values_are_plain_redis_strings_under_the_namespace() {
    let namespace = unique_namespace();
    let state = connect(&namespace).await;
    state
        .put_many(&keys(&["office:u:emails:<id@x>"]), b"raw", None)
        .await
        .unwrap();
    let mut connection = raw().await;
    let stored: Option<Vec<u8>> = connection
        .get(format!("{namespace}office:u:emails:<id@x>"))
        .await
        .unwrap();
    assert_eq!(stored.as_deref(), Some(&b"raw"[..]));
    state
        .delete_many(&keys(&["office:u:emails:<id@x>"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn purge_counts_expired_entries_and_empties_the_index() {
    let namespace = unique_namespace();
    let state = connect(&namespace).await;
    let mut connection = raw().await;
    let brief = keys(&["a", "b", "c"]);
    state
        .put_many(&brief, b"", Some(Duration::from_millis(30)))
        .await
        .unwrap();
    state
        .put_many(&keys(&["hour"]), b"", Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let indexed: u64 = connection.zcard(state.expiry_index_key()).await.unwrap();
    assert_eq!(indexed, 4);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(state.purge_expired().await.unwrap(), 3);
    let indexed: u64 = connection.zcard(state.expiry_index_key()).await.unwrap();
    assert_eq!(indexed, 1, "only the live entry stays indexed");
    // Deleting the last indexed key empties the index, which Redis then drops.
    assert_eq!(state.delete_many(&keys(&["hour"])).await.unwrap(), 1);
    assert_eq!(keys_under(&namespace).await, Vec::<String>::new());
}

#[tokio::test]
async fn purge_does_not_count_keys_rewritten_by_other_clients() {
    let namespace = unique_namespace();
    let state = connect(&namespace).await;
    let mut connection = raw().await;
    state
        .put_many(
            &keys(&["rewritten", "extended"]),
            b"",
            Some(Duration::from_millis(30)),
        )
        .await
        .unwrap();
    // Another client makes one key permanent and gives the other an hour more.
    let () = connection
        .set(format!("{namespace}rewritten"), b"theirs")
        .await
        .unwrap();
    let () = connection
        .pset_ex(format!("{namespace}extended"), b"theirs", 3_600_000)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(state.purge_expired().await.unwrap(), 0);
    let found = state
        .contains_many(&keys(&["rewritten", "extended"]))
        .await
        .unwrap();
    assert_eq!(found, [true, true]);
    let score: Option<f64> = connection
        .zscore(state.expiry_index_key(), format!("{namespace}extended"))
        .await
        .unwrap();
    assert!(score.is_some(), "the extended key stays indexed, re-scored");
    assert_eq!(
        state
            .delete_many(&keys(&["rewritten", "extended"]))
            .await
            .unwrap(),
        2
    );
    assert_eq!(keys_under(&namespace).await, Vec::<String>::new());
}

/// Two deployments on one Redis, each under its namespace as `--bus-namespace blue` and
/// `green` name them (`blue:`, `green:`): the same keys hold independent values, and
/// deleting or purging in one leaves the other's keys and expiry index alone.
#[tokio::test]
async fn two_namespaces_on_one_database_do_not_see_each_other() {
    let run = unique_namespace();
    let blue = connect(&format!("{run}blue:")).await;
    let green = connect(&format!("{run}green:")).await;
    let mut connection = raw().await;
    // Live for a minute, so that a failed run leaves nothing for long.
    let shared = keys(&["idempotency:same", "office:u:emails:<same@x>"]);
    let minute = Some(Duration::from_secs(60));
    blue.put_many(&shared, b"blue", minute).await.unwrap();
    green.put_many(&shared, b"green", minute).await.unwrap();
    for key in &shared {
        assert_eq!(blue.get(key).await.unwrap().as_deref(), Some(&b"blue"[..]));
        assert_eq!(
            green.get(key).await.unwrap().as_deref(),
            Some(&b"green"[..])
        );
    }
    assert_ne!(blue.expiry_index_key(), green.expiry_index_key());

    let brief = Some(Duration::from_millis(30));
    blue.put_many(&keys(&["idempotency:b1", "idempotency:b2"]), b"", brief)
        .await
        .unwrap();
    green
        .put_many(
            &keys(&["idempotency:b1", "idempotency:g2", "idempotency:g3"]),
            b"",
            brief,
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(blue.purge_expired().await.unwrap(), 2);
    let green_indexed: u64 = connection.zcard(green.expiry_index_key()).await.unwrap();
    assert_eq!(green_indexed, 5, "blue's purge left green's index alone");
    assert_eq!(green.purge_expired().await.unwrap(), 3);

    assert_eq!(blue.delete_many(&shared).await.unwrap(), 2);
    assert_eq!(blue.contains_many(&shared).await.unwrap(), [false, false]);
    assert_eq!(green.contains_many(&shared).await.unwrap(), [true, true]);
    assert_eq!(green.delete_many(&shared).await.unwrap(), 2);
    assert_eq!(keys_under(&run).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_wrong_type_is_corrupt_and_does_not_trip_the_circuit() {
    let namespace = unique_namespace();
    let config = RedisStateConfig {
        circuit_failure_threshold: 1,
        ..RedisStateConfig::new(redis_url()).with_namespace(&namespace)
    };
    let state = RedisState::connect(config).await.unwrap();
    let mut connection = raw().await;
    let () = connection
        .lpush(format!("{namespace}list"), "x")
        .await
        .unwrap();
    let err = state.get("list").await.unwrap_err();
    assert_eq!(err.kind(), StateErrorKind::Corrupt);
    assert!(!err.is_retryable());
    assert!(err.to_string().starts_with("redis get failed: "), "{err}");
    assert_eq!(state.circuit_state(), CircuitState::Closed);
    assert_eq!(state.delete_many(&keys(&["list"])).await.unwrap(), 1);
}

/// A server nobody listens on: connection refused at once.
const UNREACHABLE_URL: &str = "redis://127.0.0.1:1/0";

#[tokio::test]
async fn connect_fails_clearly_when_redis_is_unreachable() {
    let config = RedisStateConfig {
        connection_timeout_ms: 500,
        ..RedisStateConfig::new(UNREACHABLE_URL)
    };
    let err = RedisState::connect(config).await.err().expect("no server");
    assert_eq!(err.kind(), StateErrorKind::Unavailable);
    assert!(
        err.to_string()
            .starts_with("failed to connect to redis at redis://127.0.0.1:1/0: "),
        "{err}"
    );
}

#[tokio::test]
async fn retries_then_opens_the_circuit_and_fails_fast() {
    let config = RedisStateConfig {
        connection_timeout_ms: 500,
        retry_attempts: 2,
        retry_initial_backoff_ms: 1,
        circuit_failure_threshold: 2,
        circuit_cooldown_ms: 60_000,
        ..RedisStateConfig::new(UNREACHABLE_URL)
    };
    let state = RedisState::connect_lazy(config).unwrap();
    for _ in 0..2 {
        let err = state.get("k").await.unwrap_err();
        assert!(err.is_retryable());
        assert!(
            err.to_string()
                .starts_with("redis get failed after 2 attempts: "),
            "{err}"
        );
    }
    assert_eq!(state.circuit_state(), CircuitState::Open);
    let started = std::time::Instant::now();
    let err = state.put_many(&keys(&["k"]), b"", None).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_millis(50), "fails fast");
    assert_eq!(err.kind(), StateErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert!(
        err.to_string()
            .starts_with("redis put_many refused: circuit open after 2 consecutive failures"),
        "{err}"
    );
}
