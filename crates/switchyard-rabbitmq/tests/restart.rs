//! Restart test of the RabbitMQ backend: a RabbitMQ node of this test's own is killed in
//! the middle of a run that publishes 20 000 messages while a consumer drains them, stays
//! down 10 s, and is started again on the same port and Mnesia directory.
//!
//! What must hold: the same broker (never reconnected by hand) publishes and consumes
//! again on its own, soon after the node is back; `ping` fails while the node is down and
//! succeeds after; every message is received (at least once: what was unacked at the
//! drop comes again) and nothing else. The test prints how long consuming took to resume.
//!
//! The machine's shared RabbitMQ node is never touched.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use switchyard_bus::{Broker, Message, SubscriptionConfig, private_rabbitmq};
use switchyard_rabbitmq::{RabbitBroker, RabbitOptions};

const MESSAGES: usize = 20_000;
const BATCH: usize = 250;
const TOPIC: &str = "emails";
const SUBSCRIPTION: &str = "restart-indexer";
const DOWNTIME: Duration = Duration::from_secs(10);
const RUN_BUDGET: Duration = Duration::from_secs(240);
/// Consuming must resume within this after the node accepts connections again.
const RECOVERY_BUDGET: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    deliveries: usize,
    last_at: Option<Instant>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_is_found_again_and_nothing_is_lost() -> anyhow::Result<()> {
    let mut server = private_rabbitmq(None).await?;
    let url = format!("amqp://guest:guest@127.0.0.1:{}/%2f", server.port());
    let broker = RabbitBroker::connect(&url, RabbitOptions::default())
        .await
        .with_context(|| server.log_tail())?;
    broker
        .ensure_subscription(&SubscriptionConfig::new(SUBSCRIPTION, TOPIC))
        .await?;

    let publisher = tokio::spawn(publish_all(broker.clone()));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let consumer = tokio::spawn(consume(broker.clone(), seen.clone()));

    // Let the run get going, then take the node away mid-flight.
    let started = Instant::now();
    while seen.lock().unwrap().ids.len() < MESSAGES / 5 {
        ensure!(
            started.elapsed() < RUN_BUDGET,
            "nothing consumed before the kill"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill();
    let killed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    ensure!(
        broker.ping().await.is_err(),
        "ping answered while the node was down"
    );
    tokio::time::sleep(DOWNTIME.saturating_sub(killed_at.elapsed())).await;
    server.spawn().await?;
    let back_at = Instant::now();
    let delivered_at_restart = seen.lock().unwrap().deliveries;

    // Consuming resumes by itself.
    let resumed = loop {
        {
            let seen = seen.lock().unwrap();
            if seen.deliveries > delivered_at_restart {
                break seen.last_at.expect("set with deliveries") - back_at;
            }
        }
        ensure!(
            back_at.elapsed() < Duration::from_secs(60),
            "nothing consumed within 60 s of the node coming back: {}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    broker
        .ping()
        .await
        .context("ping after the node came back")?;
    let published = publisher.await??;
    let deadline = Instant::now() + RUN_BUDGET;
    while seen.lock().unwrap().ids.len() < MESSAGES && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    consumer.abort();
    broker.close().await?;
    let seen = seen.lock().unwrap();
    println!(
        "node down {:?}; consuming resumed {:?} after it was back; {} publish calls failed and \
         were resent; {} deliveries for {} messages",
        back_at - killed_at,
        resumed,
        published,
        seen.deliveries,
        seen.ids.len()
    );
    ensure!(
        seen.ids.len() == MESSAGES,
        "{} of {MESSAGES} messages received",
        seen.ids.len()
    );
    ensure!(
        resumed <= RECOVERY_BUDGET,
        "consuming resumed {resumed:?} after the node was back (budget {RECOVERY_BUDGET:?})"
    );
    Ok(())
}

/// Publishes every message, resending a batch whose publish failed; returns how many
/// calls failed.
async fn publish_all(broker: RabbitBroker) -> anyhow::Result<usize> {
    let mut failed = 0;
    let started = Instant::now();
    for first in (0..MESSAGES).step_by(BATCH) {
        let batch: Vec<Message> = (first..first + BATCH)
            .map(|i| Message::new(format!("message-{i:05}").into_bytes()))
            .collect();
        while let Err(err) = broker.publish(TOPIC, batch.clone()).await {
            failed += 1;
            ensure!(
                started.elapsed() < RUN_BUDGET,
                "publishing still fails: {err}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(failed)
}

/// Fetches and acks until aborted, recording every payload; errors are waited out.
async fn consume(broker: RabbitBroker, seen: Arc<Mutex<Seen>>) {
    loop {
        match broker
            .fetch(SUBSCRIPTION, 200, Duration::from_millis(200))
            .await
        {
            Ok(deliveries) if !deliveries.is_empty() => {
                {
                    let mut seen = seen.lock().unwrap();
                    seen.deliveries += deliveries.len();
                    seen.last_at = Some(Instant::now());
                    for delivery in &deliveries {
                        seen.ids
                            .insert(String::from_utf8_lossy(&delivery.message.payload).into());
                    }
                }
                let tags: Vec<_> = deliveries.iter().map(|d| d.tag).collect();
                // A failed ack comes back as a redelivery: already recorded.
                let _ = broker.ack(SUBSCRIPTION, &tags).await;
            }
            Ok(_) => {}
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}
