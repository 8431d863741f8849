//! Outage test of the Redis state store under the real `Consumer`: events flow from an
//! embedded broker through a consumer whose idempotency keys live in a redis-server of this
//! test's own (a free loopback port, `switchyard_bus::private_redis`, its append-only file
//! kept). Midway the server is killed, stays away for 10 s and comes back on the same port.
//!
//! What must hold: the circuit opens during the outage; `RedisState::ping` fails during it;
//! no message is acknowledged while the state store is down (the subscription's
//! `backlog + unacked` does not shrink); after the restart, with nothing restarted on the
//! client side, ping answers again within a few seconds, the circuit closes and the
//! backlog drains, every event handled. Prints the times from the restart to the first
//! answered ping, the closed circuit and the drained backlog, and how many handler
//! invocations were repeats.
//!
//! The machine's shared Redis is never touched. The test fails, naming it, when the
//! `redis-server` binary is missing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use async_trait::async_trait;
use switchyard_bus::{
    Broker, EmbeddedBroker, SubscriptionConfig, SubscriptionStats, private_redis,
};
use switchyard_contracts::{AnyOfficeEvent, ContractError, Email, Envelope, Registry};
use switchyard_redis::{CircuitState, RedisState, RedisStateConfig};
use switchyard_runtime::{
    Consumer, ConsumerConfig, Handler, Incoming, Outcome, Publisher, Recorder, office_envelope,
};
use switchyard_state::StateStore;
use tokio_util::sync::CancellationToken;

const EVENTS: usize = 5_000;
const TOPIC: &str = "emails";
const SUBSCRIPTION: &str = "outage-indexer-emails";
/// How long Redis is unreachable.
const OUTAGE: Duration = Duration::from_secs(10);
/// Handled events before the outage starts.
const HANDLED_BEFORE_OUTAGE: usize = 1_000;
/// Longest wait for the backlog to drain after the restart.
const DRAIN_BUDGET: Duration = Duration::from_secs(40);
/// Longest wait, once Redis is back, for state calls to succeed again.
const RECOVERY_BUDGET: Duration = Duration::from_secs(5);

/// The recorder of the runtime suite (the effect is an upsert of the email id), slowed
/// down: each batch takes a few milliseconds, so that the outage starts with most events
/// still to do; the first batch that starts after `HANDLED_BEFORE_OUTAGE` events raises
/// `holding` and takes longer, so that the test kills Redis while it runs and its keys
/// cannot be recorded.
#[derive(Clone, Default)]
struct SlowRecorder {
    recorder: Arc<Recorder>,
    holding: Arc<AtomicBool>,
}

impl SlowRecorder {
    /// (distinct ids handled, handlings beyond the first).
    fn figures(&self) -> (usize, u64) {
        let (distinct, _, extra) = self.recorder.repeats();
        (distinct, extra)
    }
}

#[async_trait]
impl Handler for SlowRecorder {
    type Event = AnyOfficeEvent;

    fn decode(&self, envelope: &Envelope) -> Result<AnyOfficeEvent, ContractError> {
        self.recorder.decode(envelope)
    }

    async fn handle(&self, batch: Vec<Incoming<AnyOfficeEvent>>) -> Vec<Outcome> {
        let hold =
            self.figures().0 >= HANDLED_BEFORE_OUTAGE && !self.holding.swap(true, Ordering::SeqCst);
        let pause = if hold {
            Duration::from_millis(500)
        } else {
            Duration::from_millis(20)
        };
        tokio::time::sleep(pause).await;
        self.recorder.handle(batch).await
    }
}

fn email_envelopes() -> Vec<Envelope> {
    (0..EVENTS)
        .map(|i| {
            let item = Email {
                id: format!("email-{i:04}"),
                subject: format!("status report {i}"),
                ..Email::default()
            };
            office_envelope(&format!("user-{}", i % 16), item)
        })
        .collect()
}

async fn subscription_stats(broker: &dyn Broker) -> anyhow::Result<SubscriptionStats> {
    broker
        .stats()
        .await?
        .into_iter()
        .find(|stats| stats.name == SUBSCRIPTION)
        .context("subscription missing from stats")
}

/// Messages the subscription acknowledged so far.
fn acked(stats: &SubscriptionStats) -> u64 {
    stats.published - stats.lag()
}

/// Polls the circuit every 10 ms until stopped; returns whether it was seen open.
fn watch_circuit(state: RedisState, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<bool> {
    tokio::spawn(async move {
        let mut seen_open = false;
        while !stop.load(Ordering::SeqCst) {
            seen_open |= state.circuit_state() == CircuitState::Open;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        seen_open
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_waits_out_a_redis_outage_without_acking() -> anyhow::Result<()> {
    let mut server = private_redis().await?;
    let url = format!("redis://127.0.0.1:{}/0", server.port());
    let dir = tempfile::tempdir()?;
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus"))?);
    let config = RedisStateConfig {
        connection_timeout_ms: 200,
        response_timeout_ms: 500,
        retry_attempts: 2,
        retry_initial_backoff_ms: 10,
        circuit_failure_threshold: 2,
        circuit_cooldown_ms: 1_000,
        ..RedisStateConfig::new(&url).with_namespace("outage-test:")
    };
    let redis = RedisState::connect(config)
        .await
        .with_context(|| format!("private redis at {url} unreachable"))?;
    let state: Arc<dyn StateStore> = Arc::new(redis.clone());
    let registry = Arc::new(Registry::standard());

    let subscription =
        SubscriptionConfig::new(SUBSCRIPTION, TOPIC).with_ack_deadline(Duration::from_secs(2));
    broker.ensure_subscription(&subscription).await?;
    let report = Publisher::new(broker.clone(), registry.clone())
        .publish(&email_envelopes())
        .await?;
    ensure!(report.published == EVENTS, "refused: {:?}", report.rejected);

    let mut config = ConsumerConfig::new(subscription);
    config.batch_size = 50;
    config.max_wait = Duration::from_millis(100);
    let handler = SlowRecorder::default();
    let consumer = Consumer::new(broker.clone(), state, registry, config, handler.clone());
    let shutdown = CancellationToken::new();
    let consuming = tokio::spawn(consumer.run(shutdown.clone()));
    let started = Instant::now();
    while !handler.holding.load(Ordering::SeqCst) {
        ensure!(
            started.elapsed() < Duration::from_secs(30),
            "only {} events handled in 30 s before the outage",
            handler.figures().0
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    let stop_watching = Arc::new(AtomicBool::new(false));
    let watcher = watch_circuit(redis.clone(), stop_watching.clone());
    server.kill();
    let killed_at = Instant::now();
    let (handled_at_kill, _) = handler.figures();
    // A batch whose keys were recorded just before the kill may still be acking; from the
    // moment the circuit opens, every step fails before it could ack anything.
    while redis.circuit_state() != CircuitState::Open {
        ensure!(
            killed_at.elapsed() < OUTAGE / 2,
            "the circuit did not open within {:?} of the kill",
            OUTAGE / 2
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let opened_after = killed_at.elapsed();
    let at_open = subscription_stats(broker.as_ref()).await?;
    // Once while the circuit refuses calls, once when a cool-down is over and a ping may
    // be the probe that finds Redis still gone.
    let mut pings_in_outage = vec![redis.ping().await];
    let mut lowest_lag = at_open.lag();
    while killed_at.elapsed() < OUTAGE {
        lowest_lag = lowest_lag.min(subscription_stats(broker.as_ref()).await?.lag());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pings_in_outage.push(redis.ping().await);
    let before_restart = subscription_stats(broker.as_ref()).await?;
    lowest_lag = lowest_lag.min(before_restart.lag());
    let (handled_in_outage, _) = handler.figures();
    stop_watching.store(true, Ordering::SeqCst);
    let seen_open = watcher.await?;

    server.spawn().await?;
    let restarted_at = Instant::now();
    let mut ping_answered_after = None;
    let mut closed_after = None;
    let drained_after = loop {
        if ping_answered_after.is_none() && redis.ping().await.is_ok() {
            ping_answered_after = Some(restarted_at.elapsed());
        }
        if closed_after.is_none() && redis.circuit_state() == CircuitState::Closed {
            closed_after = Some(restarted_at.elapsed());
        }
        let stats = subscription_stats(broker.as_ref()).await?;
        if ping_answered_after.is_some() && handler.figures().0 == EVENTS && stats.lag() == 0 {
            break restarted_at.elapsed();
        }
        if restarted_at.elapsed() > DRAIN_BUDGET {
            shutdown.cancel();
            bail!(
                "not drained {DRAIN_BUDGET:?} after the restart: {} of {EVENTS} handled, \
                 {stats:?}, circuit {:?}",
                handler.figures().0,
                redis.circuit_state()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    shutdown.cancel();
    consuming.await?;
    let ping_answered_after =
        ping_answered_after.expect("the drain loop ends only after a ping answered");

    let (distinct, repeated) = handler.figures();
    println!(
        "redis outage: {EVENTS} events, redis killed with {handled_at_kill} handled and a batch \
         in the handler, circuit \
         open {} ms after the kill, down {:.1} s; acked {} at open and {} before the restart \
         (backlog+unacked {} → {}); {handled_in_outage} handled by the end of the outage; \
         after the restart: ping answered in {} ms, circuit closed in {}, drained in {:.1} s; \
         handler: {distinct} distinct ids, {repeated} repeated invocations",
        opened_after.as_millis(),
        restarted_at.duration_since(killed_at).as_secs_f64(),
        acked(&at_open),
        acked(&before_restart),
        at_open.lag(),
        before_restart.lag(),
        ping_answered_after.as_millis(),
        closed_after.map_or("(not seen)".to_string(), |after| format!(
            "{} ms",
            after.as_millis()
        )),
        drained_after.as_secs_f64(),
    );
    ensure!(
        seen_open,
        "the circuit was never seen open during the outage"
    );
    for ping in pings_in_outage {
        let err = ping.err().context("ping answered while redis was down")?;
        println!("ping during the outage: {err}");
    }
    ensure!(
        ping_answered_after <= RECOVERY_BUDGET,
        "state calls failed for {ping_answered_after:?} after the restart (budget \
         {RECOVERY_BUDGET:?})"
    );
    ensure!(
        lowest_lag == at_open.lag() && acked(&before_restart) == acked(&at_open),
        "messages were acknowledged while redis was down: backlog+unacked went from {} to {} \
         (lowest {lowest_lag})",
        at_open.lag(),
        before_restart.lag()
    );
    ensure!(
        redis.circuit_state() == CircuitState::Closed,
        "the circuit did not close after the restart: {:?}",
        redis.circuit_state()
    );
    ensure!(distinct == EVENTS, "handled {distinct} of {EVENTS} ids");
    ensure!(
        repeated > 0,
        "no handler invocation repeated: the test did not catch a batch handled while redis went down"
    );
    Ok(())
}
