//! [`RedisState`]: the [`StateStore`] on Redis, with retries and a circuit breaker.
//!
//! # Keys
//! Every caller key is stored as `{namespace}{key}` with its value as a plain Redis string,
//! so other tools can read it. Entries with a TTL are written `SET key value PX ttl`, and
//! Redis expires them itself: an expired entry reads as absent at once, whether or not it
//! was purged.
//!
//! # The expiry index and `purge_expired`
//! Redis hides expired keys from every command (`SCAN` included) and reclaims them in the
//! background, so a scan cannot tell which keys expired. The store therefore keeps a sorted
//! set, `{namespace}switchyard:state:expiry-index`, of every key it wrote with a TTL, scored
//! by the expiry time (milliseconds since the Unix epoch, by this process's clock). Writes
//! update it in the same `MULTI`/`EXEC` transaction as the keys: a put with a TTL adds the
//! key, a put without one and a delete remove it.
//!
//! [`purge_expired`](StateStore::purge_expired) runs a Lua script over the index entries
//! whose score has passed, in chunks of [`PURGE_CHUNK`]: it touches each key with `PTTL`
//! (which makes Redis delete it at once if its TTL is over, instead of waiting for the
//! background cycle), and then
//! - key gone: counted as expired and dropped from the index;
//! - key present without a TTL (rewritten by another client): dropped from the index, not
//!   counted;
//! - key present with a TTL (clock skew, or a rewrite by another client): re-scored, not
//!   counted.
//!
//! It returns how many indexed keys it found expired, which is the number of entries this
//! store wrote with a TTL that expired since the previous purge. A key another client
//! deleted, or that Redis evicted under memory pressure, counts as expired too. Purging is
//! what keeps the index from growing: run it periodically, as the runtime does.
//!
//! The script reads keys it does not declare, which a Redis Cluster refuses: this store
//! targets a single Redis server (or a primary with replicas).
//!
//! # Failures
//! Every operation is retried on transient errors (I/O, timeouts, dropped connections,
//! `LOADING`, `TRYAGAIN`…) up to `retry_attempts` times with doubling pauses; the
//! [`ConnectionManager`] reconnects underneath. An operation that still fails counts
//! towards the circuit breaker; server replies such as `WRONGTYPE` do not, since they
//! prove Redis is up. While the circuit is open calls fail at once with a retryable
//! [`StateErrorKind::Unavailable`] naming Redis and the circuit.
//!
//! Retrying is safe for every operation: `SET`, `DEL`, `EXISTS` and the purge script are
//! idempotent. A retried `delete_many` whose first attempt was applied but whose reply was
//! lost reports 0 deleted keys. Job progress (`state/jobs.rs`) is the one exception: a
//! `mark_done` counts, so it is tried once.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, RetryMethod, Script};
use switchyard_state::{StateError, StateErrorKind, StateStore};

use crate::breaker::{CircuitBreaker, CircuitState};
use crate::config::{RedisStateConfig, redact_url};

mod jobs;

/// Index entries a purge script call handles at most, so Redis is never blocked for long.
pub const PURGE_CHUNK: usize = 500;

/// What the store appends to its namespace to name its expiry index.
const EXPIRY_INDEX_SUFFIX: &str = "switchyard:state:expiry-index";

/// See the module header. Returns `{expired, handled}`.
const PURGE_SCRIPT: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local expired = 0
for _, key in ipairs(due) do
  local ttl = redis.call('PTTL', key)
  if ttl == -2 then
    expired = expired + 1
    redis.call('ZREM', KEYS[1], key)
  elseif ttl == -1 then
    redis.call('ZREM', KEYS[1], key)
  else
    redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + ttl, key)
  end
end
return {expired, #due}
";

/// One attempt of an operation, on its own handle to the shared connection.
type Attempt<'a, T> = Pin<Box<dyn Future<Output = RedisResult<T>> + Send + 'a>>;

/// The Redis state store. Cloning is cheap; clones share the connection and the breaker.
#[derive(Clone)]
pub struct RedisState {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    namespace: String,
    expiry_index: String,
    retry_attempts: u32,
    retry_initial_backoff: Duration,
    breaker: CircuitBreaker,
    failure_threshold: u32,
    purge_script: Script,
}

impl RedisState {
    /// Connects to the configured server; fails if it cannot be reached now.
    pub async fn connect(config: RedisStateConfig) -> Result<Self, StateError> {
        config.validate()?;
        let client = client(&config)?;
        let connection = ConnectionManager::new_with_config(client, manager_config(&config))
            .await
            .map_err(|err| {
                StateError::new(
                    StateErrorKind::Unavailable,
                    format!(
                        "failed to connect to redis at {}: {err}",
                        redact_url(&config.url)
                    ),
                )
            })?;
        Ok(RedisState::with_connection(connection, &config))
    }

    /// Like [`connect`](RedisState::connect), but connects on first use, so a process can
    /// start while Redis is down. Must be called within a tokio runtime.
    pub fn connect_lazy(config: RedisStateConfig) -> Result<Self, StateError> {
        config.validate()?;
        let client = client(&config)?;
        let connection = ConnectionManager::new_lazy_with_config(client, manager_config(&config))
            .map_err(|err| {
            StateError::new(
                StateErrorKind::Unavailable,
                format!(
                    "failed to set up redis at {}: {err}",
                    redact_url(&config.url)
                ),
            )
        })?;
        Ok(RedisState::with_connection(connection, &config))
    }

    fn with_connection(connection: ConnectionManager, config: &RedisStateConfig) -> Self {
        RedisState {
            inner: std::sync::Arc::new(Inner {
                connection,
                namespace: config.namespace.clone(),
                expiry_index: format!("{}{EXPIRY_INDEX_SUFFIX}", config.namespace),
                retry_attempts: config.retry_attempts.max(1),
                retry_initial_backoff: config.retry_initial_backoff(),
                breaker: CircuitBreaker::new(
                    config.circuit_failure_threshold,
                    config.circuit_cooldown(),
                ),
                failure_threshold: config.circuit_failure_threshold,
                purge_script: Script::new(PURGE_SCRIPT),
            }),
        }
    }

    /// Where the circuit breaker stands (for status pages and tests).
    pub fn circuit_state(&self) -> CircuitState {
        self.inner.breaker.state()
    }

    /// The Redis key of the store's expiry index (see the module header).
    pub fn expiry_index_key(&self) -> &str {
        &self.inner.expiry_index
    }

    fn redis_key(&self, key: &str) -> String {
        format!("{}{key}", self.inner.namespace)
    }

    fn redis_keys(&self, keys: &[String]) -> Vec<String> {
        keys.iter().map(|key| self.redis_key(key)).collect()
    }

    /// Runs `attempt` through the circuit breaker, retrying transient errors.
    async fn run<'a, T>(
        &'a self,
        operation: &'static str,
        attempt: impl Fn(ConnectionManager) -> Attempt<'a, T> + Send + Sync + 'a,
    ) -> Result<T, StateError> {
        self.run_tries(operation, self.inner.retry_attempts, attempt)
            .await
    }

    /// Runs `attempt` through the circuit breaker, at most `tries` times while it fails
    /// with transient errors (once, for an operation that must not be repeated).
    async fn run_tries<'a, T>(
        &'a self,
        operation: &'static str,
        tries: u32,
        attempt: impl Fn(ConnectionManager) -> Attempt<'a, T> + Send + Sync + 'a,
    ) -> Result<T, StateError> {
        let inner = &*self.inner;
        let permit = inner.breaker.admit().map_err(|rejected| {
            StateError::new(
                StateErrorKind::Unavailable,
                format!(
                    "redis {operation} refused: circuit open after {} consecutive failures, next probe in {} ms",
                    inner.failure_threshold,
                    rejected.retry_in.as_millis()
                ),
            )
        })?;
        let mut backoff = inner.retry_initial_backoff;
        let mut attempts_made = 0;
        loop {
            attempts_made += 1;
            match attempt(inner.connection.clone()).await {
                Ok(value) => {
                    permit.succeeded();
                    return Ok(value);
                }
                Err(err) if is_transient(&err) && attempts_made < tries => {
                    tracing::warn!(
                        operation,
                        attempt = attempts_made,
                        backoff_ms = backoff.as_millis() as u64,
                        error = %err,
                        "redis operation failed, retrying"
                    );
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                }
                Err(err) => {
                    let transient = is_transient(&err);
                    if transient {
                        permit.failed();
                    } else {
                        // Redis answered: it is up, whatever it said.
                        permit.succeeded();
                    }
                    let kind = if err.code() == Some("WRONGTYPE") {
                        StateErrorKind::Corrupt
                    } else {
                        StateErrorKind::Unavailable
                    };
                    let after = if attempts_made > 1 {
                        format!(" after {attempts_made} attempts")
                    } else {
                        String::new()
                    };
                    return Err(StateError::new(
                        kind,
                        format!("redis {operation} failed{after}: {err}"),
                    ));
                }
            }
        }
    }
}

/// The client of `config.url`: TLS (rustls) for `rediss://`, trusting only the CA of
/// `config.ca_file` when one is set.
pub(crate) fn client(config: &RedisStateConfig) -> Result<redis::Client, StateError> {
    let invalid = |err: redis::RedisError| {
        StateError::new(
            StateErrorKind::Unavailable,
            format!("invalid redis url {}: {err}", redact_url(&config.url)),
        )
    };
    let Some(ca_file) = &config.ca_file else {
        return redis::Client::open(config.url.as_str()).map_err(invalid);
    };
    let root_cert = std::fs::read(ca_file).map_err(|err| {
        StateError::new(
            StateErrorKind::Unavailable,
            format!(
                "failed to read the redis CA file {}: {err}",
                ca_file.display()
            ),
        )
    })?;
    redis::Client::build_with_tls(
        config.url.as_str(),
        redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(root_cert),
        },
    )
    .map_err(invalid)
}

fn manager_config(config: &RedisStateConfig) -> ConnectionManagerConfig {
    // The manager's own reconnect retries stay few: our retry loop and breaker are the
    // policy, and a call must not hang on a dead server.
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connection_timeout()))
        .set_response_timeout(Some(config.response_timeout()))
        .set_number_of_retries(1)
}

/// Whether trying the same call again may work.
fn is_transient(err: &RedisError) -> bool {
    if err.kind() == ErrorKind::AuthenticationFailed {
        return false;
    }
    err.is_io_error()
        || err.is_timeout()
        || err.is_connection_dropped()
        || matches!(
            err.retry_method(),
            RetryMethod::Reconnect | RetryMethod::RetryImmediately | RetryMethod::WaitAndRetry
        )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

/// A TTL in Redis milliseconds: `PX 0` is an error, so anything shorter than 1 ms is 1 ms.
fn ttl_ms(ttl: Duration) -> u64 {
    (ttl.as_millis() as u64).max(1)
}

#[async_trait]
impl StateStore for RedisState {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        let key = &self.redis_key(key);
        self.run("get", |mut connection| {
            Box::pin(async move {
                redis::cmd("GET")
                    .arg(key)
                    .query_async::<Option<Vec<u8>>>(&mut connection)
                    .await
            })
        })
        .await
    }

    async fn put_many(
        &self,
        keys: &[String],
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<(), StateError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        let index = &self.inner.expiry_index;
        match ttl {
            Some(ttl) => {
                let ttl_ms = ttl_ms(ttl);
                let expires_at = now_ms() + ttl_ms;
                for key in self.redis_keys(keys) {
                    pipe.cmd("SET")
                        .arg(&key)
                        .arg(value)
                        .arg("PX")
                        .arg(ttl_ms)
                        .ignore();
                    pipe.cmd("ZADD")
                        .arg(index)
                        .arg(expires_at)
                        .arg(key)
                        .ignore();
                }
            }
            None => {
                let redis_keys = self.redis_keys(keys);
                for key in &redis_keys {
                    pipe.cmd("SET").arg(key).arg(value).ignore();
                }
                pipe.cmd("ZREM").arg(index).arg(&redis_keys).ignore();
            }
        }
        let pipe = &pipe;
        self.run("put_many", |mut connection| {
            Box::pin(async move { pipe.query_async::<()>(&mut connection).await })
        })
        .await
    }

    async fn contains_many(&self, keys: &[String]) -> Result<Vec<bool>, StateError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for key in self.redis_keys(keys) {
            pipe.cmd("EXISTS").arg(key);
        }
        let pipe = &pipe;
        self.run("contains_many", |mut connection| {
            Box::pin(async move { pipe.query_async::<Vec<bool>>(&mut connection).await })
        })
        .await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64, StateError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let redis_keys = self.redis_keys(keys);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("DEL").arg(&redis_keys);
        pipe.cmd("ZREM")
            .arg(&self.inner.expiry_index)
            .arg(&redis_keys)
            .ignore();
        let pipe = &pipe;
        self.run("delete_many", |mut connection| {
            Box::pin(async move {
                let (deleted,) = pipe.query_async::<(u64,)>(&mut connection).await?;
                Ok(deleted)
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StateError> {
        self.run("ping", |mut connection| {
            Box::pin(async move { redis::cmd("PING").query_async::<()>(&mut connection).await })
        })
        .await
    }

    async fn purge_expired(&self) -> Result<u64, StateError> {
        let mut expired_total = 0;
        loop {
            let now = now_ms();
            let (expired, handled) = self
                .run("purge_expired", |mut connection| {
                    Box::pin(async move {
                        self.inner
                            .purge_script
                            .key(&self.inner.expiry_index)
                            .arg(now)
                            .arg(PURGE_CHUNK)
                            .invoke_async::<(u64, usize)>(&mut connection)
                            .await
                    })
                })
                .await?;
            expired_total += expired;
            if handled < PURGE_CHUNK {
                return Ok(expired_total);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_a_millisecond() {
        assert_eq!(ttl_ms(Duration::ZERO), 1);
        assert_eq!(ttl_ms(Duration::from_micros(1500)), 1);
        assert_eq!(ttl_ms(Duration::from_secs(2)), 2000);
    }

    #[test]
    fn only_infrastructure_errors_are_transient() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_transient(&io));
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert!(is_transient(&timeout));
        let wrong_type = RedisError::from((
            ErrorKind::Extension,
            "WRONGTYPE",
            "Operation against a key holding the wrong kind of value".to_string(),
        ));
        assert!(!is_transient(&wrong_type));
        let auth = RedisError::from((ErrorKind::AuthenticationFailed, "auth failed"));
        assert!(!is_transient(&auth));
    }
}
