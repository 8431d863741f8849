//! The state conformance suite: named checks every [`StateStore`] backend must pass.
//!
//! Every key a run writes starts with a prefix unique to that run, so the suite never
//! touches other data and runs safely against a shared server. The purge check counts what
//! `purge_expired` reports, so it expects no other writer to leave expired entries in the
//! same store while it runs: give it a fresh embedded store, or a Redis namespace of its own.
//! Expiry is real time here (a backend's clock is not ours to pause): TTLs are tens of
//! milliseconds and the waits a little longer.

use std::time::Duration;

use anyhow::{Context, ensure};

use crate::StateStore;

mod jobs;

pub use jobs::job_conformance_suite;

/// Time to live of the entries meant to expire during a check.
const BRIEF_TTL: Duration = Duration::from_millis(40);
/// How long a check waits for [`BRIEF_TTL`] entries to expire.
const EXPIRY_WAIT: Duration = Duration::from_millis(120);
/// Time to live of the entries meant to outlive every check.
const LONG_TTL: Duration = Duration::from_secs(3600);
/// Size of the large-value check's value.
const LARGE_VALUE_BYTES: usize = 5 * 1024 * 1024;

/// Runs every check against `store`; the error names the check that failed.
pub async fn state_conformance_suite(store: &dyn StateStore) -> anyhow::Result<()> {
    let run = format!("conformance:{}:", uuid::Uuid::now_v7().simple());
    put_get_contains_delete(store, &run)
        .await
        .context("put_get_contains_delete")?;
    overwrite_replaces_value_and_ttl(store, &run)
        .await
        .context("overwrite_replaces_value_and_ttl")?;
    empty_batches(store).await.context("empty_batches")?;
    expired_entries_read_as_absent(store, &run)
        .await
        .context("expired_entries_read_as_absent")?;
    purge_deletes_exactly_the_expired(store, &run)
        .await
        .context("purge_deletes_exactly_the_expired")?;
    put_many_of_many_keys(store, &run)
        .await
        .context("put_many_of_many_keys")?;
    special_character_keys(store, &run)
        .await
        .context("special_character_keys")?;
    large_values(store, &run).await.context("large_values")?;
    Ok(())
}

fn keys(run: &str, check: &str, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|name| format!("{run}{check}:{name}"))
        .collect()
}

async fn put_get_contains_delete(store: &dyn StateStore, run: &str) -> anyhow::Result<()> {
    let [a, b, absent] = <[String; 3]>::try_from(keys(run, "basic", &["a", "b", "absent"]))
        .expect("three names give three keys");
    store
        .put_many(&[a.clone(), b.clone()], b"value", None)
        .await?;
    ensure!(store.get(&a).await? == Some(b"value".to_vec()), "get {a}");
    ensure!(store.get(&absent).await?.is_none(), "get of an absent key");
    let found = store
        .contains_many(&[a.clone(), absent.clone(), b.clone()])
        .await?;
    ensure!(found == [true, false, true], "contains_many gave {found:?}");
    let deleted = store.delete_many(&[a.clone(), absent.clone()]).await?;
    ensure!(
        deleted == 1,
        "delete_many counted {deleted} live keys, not 1"
    );
    let found = store.contains_many(&[a.clone(), b.clone()]).await?;
    ensure!(
        found == [false, true],
        "after delete, contains_many gave {found:?}"
    );
    ensure!(store.get(&a).await?.is_none(), "a deleted key still reads");
    let deleted = store.delete_many(&[a, b]).await?;
    ensure!(deleted == 1, "second delete_many counted {deleted}, not 1");
    Ok(())
}

async fn overwrite_replaces_value_and_ttl(store: &dyn StateStore, run: &str) -> anyhow::Result<()> {
    let [key] =
        <[String; 1]>::try_from(keys(run, "overwrite", &["k"])).expect("one name gives one key");
    let key = vec![key];
    store.put_many(&key, b"old", Some(BRIEF_TTL)).await?;
    // Rewriting without a TTL must drop the earlier one: the entry now never expires.
    store.put_many(&key, b"new", None).await?;
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure!(
        store.get(&key[0]).await? == Some(b"new".to_vec()),
        "an overwrite without TTL kept the old TTL or value"
    );
    ensure!(store.delete_many(&key).await? == 1, "cleanup delete");
    Ok(())
}

async fn empty_batches(store: &dyn StateStore) -> anyhow::Result<()> {
    store.put_many(&[], b"ignored", None).await?;
    ensure!(
        store.contains_many(&[]).await?.is_empty(),
        "contains_many(&[])"
    );
    ensure!(store.delete_many(&[]).await? == 0, "delete_many(&[])");
    Ok(())
}

async fn expired_entries_read_as_absent(store: &dyn StateStore, run: &str) -> anyhow::Result<()> {
    let names = keys(run, "ttl", &["brief", "hour"]);
    store
        .put_many(&names[..1], b"soon gone", Some(BRIEF_TTL))
        .await?;
    store
        .put_many(&names[1..], b"stays", Some(LONG_TTL))
        .await?;
    ensure!(
        store.get(&names[1]).await? == Some(b"stays".to_vec()),
        "an entry with an hour to live does not read"
    );
    tokio::time::sleep(EXPIRY_WAIT).await;
    ensure!(
        store.get(&names[0]).await?.is_none(),
        "an expired entry still reads"
    );
    let found = store.contains_many(&names).await?;
    ensure!(found == [false, true], "contains_many gave {found:?}");
    let deleted = store.delete_many(&names).await?;
    ensure!(
        deleted == 1,
        "delete_many counted {deleted} live keys, not 1 (an expired key is not live)"
    );
    Ok(())
}

async fn purge_deletes_exactly_the_expired(
    store: &dyn StateStore,
    run: &str,
) -> anyhow::Result<()> {
    // Leftovers of earlier checks or runs must not be counted below.
    store.purge_expired().await?;
    let expiring = keys(run, "purge", &["brief-1", "brief-2", "brief-3"]);
    let live = keys(run, "purge", &["hour"]);
    let forever = keys(run, "purge", &["forever"]);
    store.put_many(&expiring, b"", Some(BRIEF_TTL)).await?;
    store.put_many(&live, b"live", Some(LONG_TTL)).await?;
    store.put_many(&forever, b"forever", None).await?;
    tokio::time::sleep(EXPIRY_WAIT).await;
    let purged = store.purge_expired().await?;
    ensure!(
        purged == expiring.len() as u64,
        "purge_expired reported {purged}, not the {} expired entries",
        expiring.len()
    );
    let again = store.purge_expired().await?;
    ensure!(again == 0, "a second purge_expired reported {again}, not 0");
    ensure!(
        store.get(&live[0]).await? == Some(b"live".to_vec()),
        "purge deleted an entry with an hour to live"
    );
    ensure!(
        store.get(&forever[0]).await? == Some(b"forever".to_vec()),
        "purge deleted an entry without TTL"
    );
    let found = store.contains_many(&expiring).await?;
    ensure!(
        found.iter().all(|present| !present),
        "purged entries read: {found:?}"
    );
    let cleanup = [live, forever].concat();
    ensure!(store.delete_many(&cleanup).await? == 2, "cleanup delete");
    Ok(())
}

async fn put_many_of_many_keys(store: &dyn StateStore, run: &str) -> anyhow::Result<()> {
    let count = 2_000;
    let names: Vec<String> = (0..count).map(|n| format!("{run}many:{n}")).collect();
    store.put_many(&names, b"x", Some(LONG_TTL)).await?;
    let found = store.contains_many(&names).await?;
    ensure!(
        found.len() == count,
        "contains_many gave {} answers",
        found.len()
    );
    let missing = found.iter().filter(|present| !**present).count();
    ensure!(missing == 0, "{missing} of {count} keys are missing");
    ensure!(
        store.get(&names[count - 1]).await? == Some(b"x".to_vec()),
        "the last key does not read"
    );
    let deleted = store.delete_many(&names).await?;
    ensure!(
        deleted == count as u64,
        "delete_many counted {deleted}, not {count}"
    );
    Ok(())
}

async fn special_character_keys(store: &dyn StateStore, run: &str) -> anyhow::Result<()> {
    let names: Vec<String> = [
        "idempotency:emails:alice:<msg-1@example.com>:1".to_string(),
        "office:u:emails:<id@x>".to_string(),
        "spaces and\ttabs".to_string(),
        "glob*chars?[a-z]\\".to_string(),
        "unicode:ÆØÅ:日本語:🚂".to_string(),
        "quotes:'\"".to_string(),
    ]
    .into_iter()
    .map(|name| format!("{run}{name}"))
    .collect();
    for (n, name) in names.iter().enumerate() {
        store
            .put_many(std::slice::from_ref(name), &[n as u8], None)
            .await?;
    }
    for (n, name) in names.iter().enumerate() {
        ensure!(
            store.get(name).await? == Some(vec![n as u8]),
            "key {name:?} does not read back its own value"
        );
    }
    let found = store.contains_many(&names).await?;
    ensure!(
        found.iter().all(|present| *present),
        "contains_many gave {found:?}"
    );
    let deleted = store.delete_many(&names).await?;
    ensure!(
        deleted == names.len() as u64,
        "delete_many counted {deleted}"
    );
    Ok(())
}

async fn large_values(store: &dyn StateStore, run: &str) -> anyhow::Result<()> {
    let value: Vec<u8> = (0..LARGE_VALUE_BYTES).map(|n| (n % 251) as u8).collect();
    let names = keys(run, "large", &["blob"]);
    store.put_many(&names, &value, Some(LONG_TTL)).await?;
    let read = store
        .get(&names[0])
        .await?
        .context("the large value is missing")?;
    ensure!(
        read.len() == value.len() && read == value,
        "a {}-byte value read back as {} different bytes",
        value.len(),
        read.len()
    );
    ensure!(store.delete_many(&names).await? == 1, "cleanup delete");
    Ok(())
}
