//! A mail backfill from a fake Graph mailbox onto the embedded bus, counted in the
//! embedded job store: runners killed at arbitrary points (their tasks aborted mid-page)
//! resume from the last checkpoint, and the job ends with exact counts, every message
//! published (at least once, the same event each time), and the delta link kept for
//! streaming; a grant revoked mid-way fails the job with the provider's reason.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use switchyard_auth::SecretString;
use switchyard_bus::{Broker, EmbeddedBroker};
use switchyard_contracts::Registry;
use switchyard_integrations::{
    ConnectRequest, DataType, Grant, MAIL_BACKFILL_KIND, MailBackfill, Provider,
};
use switchyard_providers::{GraphClient, Throttle};
use switchyard_runtime::Publisher;
use switchyard_state::{EmbeddedState, JobState};

const USER: &str = "alice@example.com";

struct Setup {
    fake: Arc<support::Fake>,
    backfill: Arc<MailBackfill>,
    broker: Arc<EmbeddedBroker>,
    integration_id: String,
    _dir: tempfile::TempDir,
}

async fn setup(configure: impl FnOnce(&mut support::Fake)) -> Setup {
    let fake = support::start(configure).await;
    let dir = tempfile::tempdir().unwrap();
    let (connector, _) = support::connector(&fake, dir.path());
    let integration = connector
        .connect(
            USER,
            ConnectRequest {
                provider: Provider::Microsoft,
                grant: Grant::RefreshToken(SecretString::new("granted")),
                data_types: vec![DataType::Emails],
            },
        )
        .await
        .unwrap();
    let broker = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    let jobs = Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let publisher = Publisher::new(broker.clone(), Arc::new(Registry::standard()));
    let graph = GraphClient::new(
        &fake.base_url,
        Throttle::new(Duration::from_secs(5), 3, Duration::from_millis(20)),
    );
    let backfill = Arc::new(MailBackfill::new(
        Arc::new(connector),
        graph,
        jobs,
        publisher,
    ));
    Setup {
        fake,
        backfill,
        broker,
        integration_id: integration.id,
        _dir: dir,
    }
}

/// Per message id published on `emails`, how many times, and the correlation ids seen.
async fn published(broker: &EmbeddedBroker) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let mut ids = BTreeMap::new();
    let mut correlations = BTreeSet::new();
    for (_, message) in broker.browse("emails", 0, 100_000).await.unwrap() {
        let envelope: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        let id = envelope["data"]["item"]["id"].as_str().unwrap().to_string();
        *ids.entry(id).or_insert(0) += 1;
        correlations.insert(
            envelope["correlationid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    (ids, correlations)
}

#[tokio::test]
async fn a_killed_backfill_resumes_with_exact_counts() {
    let setup = setup(|fake| {
        fake.messages = 95;
        fake.page_delay = Duration::from_millis(15);
    })
    .await;
    let job = setup.backfill.create_job(USER).await.unwrap();

    // Kill the runner at different points of its pages, again and again.
    for kill_after_ms in [10, 40, 55, 90, 125] {
        let runner = {
            let (backfill, id, job) = (
                setup.backfill.clone(),
                setup.integration_id.clone(),
                job.clone(),
            );
            tokio::spawn(async move { backfill.run(USER, &id, &job).await })
        };
        tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
        runner.abort();
        let _ = runner.await;
    }
    let progress = setup
        .backfill
        .run(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!(progress.state, JobState::Done, "{progress:?}");
    assert_eq!(progress.kind, MAIL_BACKFILL_KIND);
    assert_eq!(progress.owner, USER);
    assert_eq!(
        (progress.total, progress.done, progress.failed),
        (Some(95), 95, 0)
    );
    assert!(
        progress
            .cursor
            .as_deref()
            .unwrap_or_default()
            .contains("$deltatoken=latest"),
        "{:?}",
        progress.cursor
    );

    let (ids, correlations) = published(&setup.broker).await;
    assert_eq!(ids.len(), 95, "every message is published");
    assert_eq!(correlations, BTreeSet::from([job.to_string()]));
    // Resuming re-reads at most the page each kill interrupted.
    let republished: usize = ids.values().map(|count| count - 1).sum();
    assert!(
        republished <= 5 * 10,
        "{republished} events published again"
    );
    assert!(*setup.fake.pages_served.lock().unwrap() >= 10);

    // A finished job stays finished.
    let again = setup
        .backfill
        .run(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!((again.state, again.done), (JobState::Done, 95));
}

#[tokio::test]
async fn a_revoked_grant_fails_the_backfill_with_the_providers_reason() {
    // Tokens that must be refreshed before each use; the next refresh is refused.
    let setup = setup(|fake| {
        fake.messages = 30;
        *fake.lifetime_secs.get_mut().unwrap() = 1;
    })
    .await;
    let job = setup.backfill.create_job(USER).await.unwrap();
    setup.fake.revoked.lock().unwrap().push("refresh-1".into());
    let progress = setup
        .backfill
        .run(USER, &setup.integration_id, &job)
        .await
        .unwrap();
    assert_eq!(progress.state, JobState::Failed, "{progress:?}");
    let reason = progress.reason.unwrap_or_default();
    assert!(
        reason.contains("needs its user to connect again") && reason.contains("invalid_grant"),
        "{reason}"
    );
}
