//! A backfill of every data type from a fake Graph account onto the embedded bus, counted
//! in the embedded job store: runners killed at arbitrary points (their tasks aborted
//! mid-page) resume from the last checkpoint, and the job ends with exact counts, every
//! item published (at least once, the same event each time) on its topic, and every
//! feed's delta link kept on the integration for streaming; a grant revoked mid-way fails
//! the job with the provider's reason; a list deleted mid-way is skipped.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::{USER, published, setup};
use switchyard_integrations::{BACKFILL_KIND, BackfillOptions, DataType, IntegrationStore};
use switchyard_state::JobState;

#[tokio::test]
async fn a_killed_backfill_of_every_data_type_resumes_with_exact_counts() {
    let setup = setup(|fake| {
        fake.messages = 35;
        fake.events = 12;
        fake.contacts = 9;
        fake.todo_lists = 2;
        fake.tasks_per_list = 7;
        fake.files = 3;
        fake.page_size = 5;
        fake.page_delay = Duration::from_millis(10);
    })
    .await;
    let expected = 35 + 12 + 9 + 2 * 7 + 3;
    let job = setup
        .backfill
        .create_job(USER, &BackfillOptions::of(support::ALL))
        .await
        .unwrap();

    // Kill the runner at different points of its pages, again and again.
    let kills = [10, 25, 40, 55, 70, 90, 110, 125, 150, 170, 200, 230];
    for kill_after_ms in kills {
        let runner = {
            let (backfill, id, job) = (
                setup.backfill.clone(),
                setup.integration_id.clone(),
                job.clone(),
            );
            tokio::spawn(async move { backfill.backfill(USER, &id, &job).await })
        };
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        runner.abort();
        let _ = runner.await;
    }
    let progress = setup
        .backfill
        .backfill(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!(progress.state, JobState::Done, "{progress:?}");
    assert_eq!(progress.kind, BACKFILL_KIND);
    assert_eq!(progress.owner, USER);
    assert_eq!(
        (progress.total, progress.done, progress.failed),
        (Some(expected), expected, 0)
    );

    let (ids, correlations) = published(&setup.broker).await;
    let per_topic = |topic: &str| {
        ids.keys()
            .filter(|key| key.starts_with(&format!("{topic}/")))
            .count()
    };
    assert_eq!(per_topic("emails"), 35);
    assert_eq!(per_topic("calendars"), 12);
    assert_eq!(per_topic("contacts"), 9);
    assert_eq!(per_topic("todos"), 14);
    assert_eq!(
        per_topic("word_documents")
            + per_topic("sheet_documents")
            + per_topic("presentation_documents"),
        3
    );
    assert_eq!(ids.len() as u64, expected, "every item is published");
    assert_eq!(correlations, BTreeSet::from([job.to_string()]));
    // Resuming re-reads at most the page each kill interrupted.
    let republished: usize = ids.values().map(|count| count - 1).sum();
    assert!(
        republished <= kills.len() * 5,
        "{republished} events published again"
    );

    // Every feed is kept on the integration at its delta link, and the ledger holds
    // every item.
    let stored = setup.store.get(USER, &setup.integration_id).await.unwrap();
    assert!(stored.feeds.len() >= 6, "{:?}", stored.feeds);
    assert_eq!(stored.backfill_feeds, None);
    // The checkpoint names the feed it is at, not every feed's links.
    let checkpoint = progress.cursor.as_deref().unwrap_or_default();
    assert!(
        checkpoint.len() < 512 && !checkpoint.contains("delta"),
        "{checkpoint}"
    );
    assert!(
        stored.feeds.iter().all(|feed| feed.synced),
        "{:?}",
        stored.feeds
    );
    assert_eq!(
        setup
            .store
            .items(&setup.integration_id)
            .await
            .unwrap()
            .len() as u64,
        expected
    );

    // A finished job stays finished.
    let again = setup
        .backfill
        .backfill(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!((again.state, again.done), (JobState::Done, expected));
}

#[tokio::test]
async fn a_revoked_grant_fails_the_backfill_with_the_providers_reason() {
    // Tokens that must be refreshed before each use; the next refresh is refused.
    let setup = setup(|fake| {
        fake.messages = 30;
        fake.page_size = 10;
        *fake.lifetime_secs.get_mut().unwrap() = 1;
    })
    .await;
    let job = setup
        .backfill
        .create_job(USER, &BackfillOptions::of(support::ALL))
        .await
        .unwrap();
    setup.fake.revoked.lock().unwrap().push("refresh-1".into());
    let progress = setup
        .backfill
        .backfill(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!(progress.state, JobState::Failed, "{progress:?}");
    let reason = progress.reason.unwrap_or_default();
    assert!(
        reason.contains("needs its user to connect again") && reason.contains("invalid_grant"),
        "{reason}"
    );
}

#[tokio::test]
async fn a_list_deleted_mid_backfill_is_skipped_and_the_rest_is_read() {
    let setup = setup(|fake| {
        fake.messages = 30;
        fake.todo_lists = 2;
        fake.tasks_per_list = 4;
        fake.page_size = 5;
        fake.page_delay = Duration::from_millis(10);
    })
    .await;
    let id = setup.integration_id.clone();
    let job = setup
        .backfill
        .create_job(
            USER,
            &BackfillOptions::of(&[DataType::Emails, DataType::Todos]),
        )
        .await
        .unwrap();
    // Stopped while reading the mail, with both lists listed ...
    let runner = {
        let (backfill, id, job) = (setup.backfill.clone(), id.clone(), job.clone());
        tokio::spawn(async move { backfill.backfill(USER, &id, &job).await })
    };
    tokio::time::sleep(Duration::from_millis(45)).await;
    runner.abort();
    let _ = runner.await;
    let listed = setup
        .store
        .get(USER, &id)
        .await
        .unwrap()
        .backfill_feeds
        .unwrap();
    assert!(
        listed
            .feeds
            .iter()
            .any(|feed| feed.key == "todos/AAMkTaskList1")
    );
    // ... the second list is deleted before the backfill reaches it.
    setup.fake.remove_todo_list("AAMkTaskList1");
    let progress = setup.backfill.backfill(USER, &id, &job).await.unwrap();
    assert_eq!(progress.state, JobState::Done, "{progress:?}");
    assert_eq!((progress.total, progress.done), (Some(30 + 4), 30 + 4));
    // The next listing drops its feed (and adds the feeds of the data types the
    // integration reads but this backfill did not: calendar, contacts, drive).
    assert_eq!(
        setup.backfill.refresh_feeds(USER, &id).await.unwrap(),
        (4, 1)
    );
}
