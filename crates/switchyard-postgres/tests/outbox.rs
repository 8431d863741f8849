//! `PostgresOutbox` against the local PostgreSQL (`DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`): transactional enqueue, claiming by several
//! relays, per-partition order, leases and pruning. Each test uses tables of its own and
//! drops them.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TestTable, database_url};
use switchyard_postgres::{PostgresOutbox, PostgresOutboxErrorKind};
use switchyard_state::{Outbox, OutboxEntry};

fn ids(entries: &[OutboxEntry]) -> Vec<u64> {
    entries.iter().map(|entry| entry.id).collect()
}

/// Enqueues `(key, payload)` events, each in a transaction of its own; returns their ids.
async fn enqueue_each(outbox: &PostgresOutbox, events: &[(&str, &str)]) -> Vec<u64> {
    let mut ids = Vec::new();
    for (key, payload) in events {
        let mut tx = outbox.pool().begin().await.unwrap();
        ids.push(
            outbox
                .enqueue(&mut tx, key, payload.as_bytes())
                .await
                .unwrap(),
        );
        tx.commit().await.unwrap();
    }
    ids
}

#[tokio::test]
async fn the_event_commits_and_rolls_back_with_the_domain_write() {
    let table = TestTable::new().await;
    let outbox = &table.outbox;
    let domain = table.domain_table();
    sqlx::query(&format!(
        "CREATE TABLE \"{domain}\" (id text PRIMARY KEY, state text NOT NULL)"
    ))
    .execute(outbox.pool())
    .await
    .unwrap();
    let insert = format!("INSERT INTO \"{domain}\" (id, state) VALUES ($1, 'paid')");

    let mut tx = outbox.pool().begin().await.unwrap();
    sqlx::query(&insert)
        .bind("order-1")
        .execute(&mut *tx)
        .await
        .unwrap();
    let id = outbox
        .enqueue(&mut tx, "order-1", b"order 1 paid")
        .await
        .unwrap();
    assert_eq!(
        outbox.pending_count().await.unwrap(),
        0,
        "invisible before commit"
    );
    tx.commit().await.unwrap();

    let mut tx = outbox.pool().begin().await.unwrap();
    sqlx::query(&insert)
        .bind("order-2")
        .execute(&mut *tx)
        .await
        .unwrap();
    outbox
        .enqueue(&mut tx, "order-2", b"order 2 paid")
        .await
        .unwrap();
    tx.rollback().await.unwrap();

    let orders: Vec<String> =
        sqlx::query_scalar(&format!("SELECT id FROM \"{domain}\" ORDER BY id"))
            .fetch_all(outbox.pool())
            .await
            .unwrap();
    assert_eq!(orders, ["order-1"]);
    assert_eq!(
        outbox.pending(10).await.unwrap(),
        [OutboxEntry {
            id,
            payload: b"order 1 paid".to_vec()
        }]
    );
    assert_eq!(outbox.pending_count().await.unwrap(), 1);
}

#[tokio::test]
async fn pending_is_oldest_first_and_mark_sent_removes_exactly_the_given_ids() {
    let table = TestTable::new().await;
    let outbox = &table.outbox;
    let events: Vec<(String, String)> =
        (0..5).map(|n| (format!("k{n}"), format!("e{n}"))).collect();
    let events: Vec<(&str, &str)> = events
        .iter()
        .map(|(k, p)| (k.as_str(), p.as_str()))
        .collect();
    let enqueued = enqueue_each(outbox, &events).await;

    let first = outbox.pending(3).await.unwrap();
    assert_eq!(ids(&first), enqueued[..3]);
    assert_eq!(first[0].payload, b"e0");
    assert_eq!(outbox.pending(0).await.unwrap(), []);
    outbox
        .mark_sent(&[enqueued[1], enqueued[3], 999_999])
        .await
        .unwrap();
    outbox.mark_sent(&[enqueued[1]]).await.unwrap();
    outbox.mark_sent(&[]).await.unwrap();
    assert_eq!(outbox.pending_count().await.unwrap(), 3);
    let left = outbox.pending(10).await.unwrap();
    assert_eq!(ids(&left), [enqueued[0], enqueued[2], enqueued[4]]);
}

#[tokio::test]
async fn enqueue_many_keeps_the_given_order() {
    let table = TestTable::new().await;
    let outbox = &table.outbox;
    let mut tx = outbox.pool().begin().await.unwrap();
    let events: Vec<(&str, &[u8])> = vec![("a", b"1"), ("b", b"2"), ("a", b"3")];
    let enqueued = outbox.enqueue_many(&mut tx, &events).await.unwrap();
    assert_eq!(
        outbox.enqueue_many(&mut tx, &[]).await.unwrap(),
        Vec::<u64>::new()
    );
    tx.commit().await.unwrap();
    let pending = outbox.pending(10).await.unwrap();
    assert_eq!(ids(&pending), enqueued);
    let payloads: Vec<&[u8]> = pending
        .iter()
        .map(|entry| entry.payload.as_slice())
        .collect();
    assert_eq!(payloads, [b"1", b"2", b"3"]);
}

#[tokio::test]
async fn a_leased_row_goes_to_no_one_else_until_the_lease_runs_out() {
    // The lease is far longer than the few local round trips made inside it, so B's empty
    // answers are given while the lease surely runs; the wait for its end is measured
    // from just before A's renewing claim, and B is then asked until the server lets go.
    const LEASE: Duration = Duration::from_secs(2);
    let table = TestTable::new().await;
    let relay_a = table.outbox.with_new_claimant().with_lease(LEASE);
    let relay_b = table.outbox.with_new_claimant();
    let enqueued = enqueue_each(&relay_a, &[("a", "1"), ("b", "2")]).await;

    assert_eq!(ids(&relay_a.pending(10).await.unwrap()), enqueued);
    assert_eq!(relay_b.pending(10).await.unwrap(), [], "leased to A");
    // A relay whose publish failed gets its own rows straight back, lease renewed.
    let renewed_at = tokio::time::Instant::now();
    assert_eq!(ids(&relay_a.pending(10).await.unwrap()), enqueued);
    assert_eq!(relay_b.pending(10).await.unwrap(), []);

    // A dies; once its lease is over, B takes the rows. The server stamped the lease after
    // `renewed_at`, so it may let go a round trip later than `renewed_at + LEASE`.
    tokio::time::sleep_until(renewed_at + LEASE).await;
    let deadline = renewed_at + LEASE + Duration::from_secs(10);
    let taken = loop {
        let taken = relay_b.pending(10).await.unwrap();
        if !taken.is_empty() || tokio::time::Instant::now() > deadline {
            break taken;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(ids(&taken), enqueued);
    relay_b.mark_sent(&enqueued).await.unwrap();
    assert_eq!(relay_a.pending(10).await.unwrap(), []);
    assert_eq!(relay_a.pending_count().await.unwrap(), 0);
}

#[tokio::test]
async fn a_row_waits_while_an_older_row_of_its_key_is_claimed_elsewhere() {
    let table = TestTable::new().await;
    let relay_a = table.outbox.with_new_claimant();
    let relay_b = table.outbox.with_new_claimant();
    let enqueued = enqueue_each(
        &relay_a,
        &[
            ("alice", "a1"),
            ("alice", "a2"),
            ("bob", "b1"),
            ("alice", "a3"),
        ],
    )
    .await;
    let [a1, a2, b1, a3] = enqueued[..] else {
        unreachable!("four events enqueued")
    };

    assert_eq!(ids(&relay_a.pending(1).await.unwrap()), [a1]);
    // a2 and a3 wait behind a1, which A holds; bob's event is free.
    assert_eq!(ids(&relay_b.pending(10).await.unwrap()), [b1]);
    relay_b.mark_sent(&[b1]).await.unwrap();
    assert_eq!(relay_b.pending(10).await.unwrap(), []);

    relay_a.mark_sent(&[a1]).await.unwrap();
    // With a1 sent, the rest of alice's events leave together, in order.
    assert_eq!(ids(&relay_b.pending(10).await.unwrap()), [a2, a3]);
    // Now B holds them: A gets nothing.
    assert_eq!(relay_a.pending(10).await.unwrap(), []);
}

#[tokio::test]
async fn a_claimant_gets_its_own_claimed_rows_again_ahead_of_newer_ones() {
    let table = TestTable::new().await;
    let outbox = &table.outbox;
    let enqueued = enqueue_each(outbox, &[("k", "1"), ("k", "2"), ("other", "3")]).await;
    // A relay retrying after a failed publish sees its claimed row first, then the rest.
    assert_eq!(ids(&outbox.pending(1).await.unwrap()), [enqueued[0]]);
    assert_eq!(ids(&outbox.pending(3).await.unwrap()), enqueued);
}

/// Two relays claim, "publish" (append to a shared log) and mark sent concurrently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_relays_share_the_work_without_overlap_and_keep_key_order() {
    let table = TestTable::new().await;
    let keys = 8;
    let count = 400;
    let mut tx = table.outbox.pool().begin().await.unwrap();
    let partition_keys: Vec<String> = (0..count).map(|n| format!("key-{}", n % keys)).collect();
    let payloads: Vec<Vec<u8>> = (0..count)
        .map(|n: usize| n.to_be_bytes().to_vec())
        .collect();
    let events: Vec<(&str, &[u8])> = partition_keys
        .iter()
        .zip(&payloads)
        .map(|(key, payload)| (key.as_str(), payload.as_slice()))
        .collect();
    let enqueued = table.outbox.enqueue_many(&mut tx, &events).await.unwrap();
    tx.commit().await.unwrap();
    let key_of: BTreeMap<u64, String> = enqueued.iter().copied().zip(partition_keys).collect();

    // (relay, id) in publish order.
    let log: Arc<Mutex<Vec<(usize, u64)>>> = Arc::default();
    let relays: Vec<_> = (0..2)
        .map(|relay| {
            let outbox = table.outbox.with_new_claimant();
            let log = log.clone();
            tokio::spawn(async move {
                let mut idle_rounds = 0;
                while idle_rounds < 3 {
                    let batch = outbox.pending(7).await.unwrap();
                    if batch.is_empty() {
                        idle_rounds += 1;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    }
                    idle_rounds = 0;
                    log.lock()
                        .unwrap()
                        .extend(batch.iter().map(|entry| (relay, entry.id)));
                    // Publishing takes a moment, so the relays' claims overlap.
                    tokio::time::sleep(Duration::from_millis(2)).await;
                    outbox.mark_sent(&ids(&batch)).await.unwrap();
                }
            })
        })
        .collect();
    for relay in relays {
        relay.await.unwrap();
    }
    assert_eq!(table.outbox.pending_count().await.unwrap(), 0);

    let log = log.lock().unwrap().clone();
    let delivered: Vec<u64> = log.iter().map(|(_, id)| *id).collect();
    let unique: BTreeSet<u64> = delivered.iter().copied().collect();
    assert_eq!(delivered.len(), count, "no row was handed out twice");
    assert_eq!(
        unique,
        enqueued.iter().copied().collect(),
        "every row was delivered"
    );
    for relay in 0..2 {
        assert!(
            log.iter().any(|(by, _)| *by == relay),
            "relay {relay} got no work"
        );
    }
    let mut last_per_key: BTreeMap<&str, u64> = BTreeMap::new();
    for id in &delivered {
        let key = key_of[id].as_str();
        if let Some(previous) = last_per_key.insert(key, *id) {
            assert!(previous < *id, "{key}: {id} was published after {previous}");
        }
    }
}

#[tokio::test]
async fn prune_deletes_only_sent_rows_older_than_the_cutoff() {
    let table = TestTable::new().await;
    let outbox = &table.outbox;
    let enqueued = enqueue_each(outbox, &[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]).await;
    outbox.mark_sent(&enqueued[..3]).await.unwrap();
    sqlx::query(&format!(
        "UPDATE {} SET sent_at = now() - interval '2 hours' WHERE id = ANY($1)",
        outbox.table()
    ))
    .bind(vec![enqueued[0] as i64, enqueued[1] as i64])
    .execute(outbox.pool())
    .await
    .unwrap();

    assert_eq!(outbox.prune(Duration::from_secs(3600)).await.unwrap(), 2);
    assert_eq!(outbox.prune(Duration::from_secs(3600)).await.unwrap(), 0);
    assert_eq!(outbox.prune(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(outbox.pending_count().await.unwrap(), 1);
    let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", outbox.table()))
        .fetch_one(outbox.pool())
        .await
        .unwrap();
    assert_eq!(rows, 1, "the unsent row stays");
}

#[tokio::test]
async fn migrate_is_idempotent_and_safe_to_race() {
    let table = TestTable::new().await;
    let other = table.outbox.with_new_claimant();
    let (first, second) = tokio::join!(table.outbox.migrate(), other.migrate());
    first.unwrap();
    second.unwrap();
    enqueue_each(&other, &[("k", "v")]).await;
    assert_eq!(table.outbox.pending_count().await.unwrap(), 1);
}

#[tokio::test]
async fn connect_fails_clearly_when_postgresql_is_unreachable() {
    let err = PostgresOutbox::connect("postgres://postgres@127.0.0.1:1/test", "outbox")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), PostgresOutboxErrorKind::Unavailable);
    assert!(err.is_retryable());
    assert!(
        err.to_string().starts_with(
            "failed to connect to postgresql at postgres://postgres@127.0.0.1:1/test: "
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_missing_table_is_a_query_error_naming_the_table() {
    let outbox = PostgresOutbox::connect(&database_url(), "no_such_outbox_table")
        .await
        .expect("postgresql is reachable");
    let err = outbox.prune(Duration::ZERO).await.unwrap_err();
    assert_eq!(err.kind(), PostgresOutboxErrorKind::Query);
    assert!(
        err.to_string()
            .starts_with("failed to prune \"no_such_outbox_table\": "),
        "{err}"
    );
    let unsafe_name = PostgresOutbox::connect(&database_url(), "x; drop table y").await;
    assert_eq!(
        unsafe_name.unwrap_err().kind(),
        PostgresOutboxErrorKind::InvalidConfig
    );
}
