//! The embedded node: the engines of one data directory (bus, state, search index) and
//! the consumers that run on them. `serve`, a local `import` and `bench` all use it.
//!
//! Layout of the data directory: `bus/` (the broker, dead-letter topics included),
//! `state/` (idempotency keys, claim-check blobs, the outbox, shipments), `index/` (the
//! search index), `meetings.redb` (meeting contexts), `contacts.redb` (discovered contacts),
//! `notifier.redb` (the change-signal journal), and while `serve` runs `serve.json` (where
//! it listens: `serve_record.rs`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use switchyard_bus::Broker;
use switchyard_chunking::Chunker;
use switchyard_contacts::{ContactDiscovery, ContactStore, RedbContactStore, Scoring};
use switchyard_contracts::Registry;
use switchyard_identity::Identity;
use switchyard_indexer::Indexer;
use switchyard_integrations::{IntegrationStore, RedbIntegrationStore};
use switchyard_mailer::Mailer;
use switchyard_meetings::{MeetingStore, MeetingsHandler, RedbMeetingStore};
use switchyard_notifier::{Journal, Notifier, RedbJournalStore};
use switchyard_runtime::{
    ClaimCheck, Consumer, ConsumerHealth, DeadLetterQueue, Handler, OutboxRelay, PublishRetry,
    Publisher,
};
use switchyard_search::SearchBackend;
use switchyard_shipments::{ShipmentTracker, StateShipmentStore};
use switchyard_state::{JobProgressStore, Outbox, StateStore};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backends::{self, Engines, OpenError, RedisProbe, opened};
use crate::config::Settings;
use crate::readiness::Readiness;
use crate::topology::{self, PlannedSubscription, Role};

/// How long a stopping node waits for in-flight batches.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// An open data directory with its consumers.
pub struct Node {
    /// The broker of the data directory.
    pub broker: Arc<dyn Broker>,
    /// Publishes envelopes to the broker.
    pub publisher: Publisher,
    /// The search engine: the embedded index, or Vespa.
    pub index: Arc<dyn SearchBackend>,
    /// The event registry every event is checked against.
    pub registry: Arc<Registry>,
    /// Idempotency keys and claim-check blobs.
    pub state: Arc<dyn StateStore>,
    /// Job progress (backfills), on the state engine.
    pub jobs: Arc<dyn JobProgressStore>,
    /// The accounts users connected.
    pub integrations: Arc<dyn IntegrationStore>,
    /// Meeting contexts, for availability.
    pub meetings: Arc<dyn MeetingStore>,
    /// Discovered contacts.
    pub contacts: Arc<dyn ContactStore>,
    /// The per-user journal of change signals.
    pub journal: Journal,
    /// Registration, verification and subscriptions.
    pub identity: Identity,
    /// Redis, when the state lives there.
    pub redis: Option<RedisProbe>,
    outbox: Arc<dyn Outbox>,
    /// Wakes the outbox relay once events are committed.
    relay_wake: Arc<Notify>,
    /// Whether the consumers' steps succeed.
    consumer_health: ConsumerHealth,
    settings: Settings,
    shutdown: CancellationToken,
    consumers: JoinSet<()>,
}

impl Node {
    /// Opens the engines (embedded in `settings.data_dir` unless URLs name others);
    /// consumers are not started yet.
    pub async fn open(settings: &Settings) -> Result<Node, OpenError> {
        let Engines {
            broker,
            state,
            jobs,
            outbox,
            identity,
            redis,
        } = backends::open(&settings.engines, &settings.data_dir).await?;
        let index = backends::open_search(&settings.engines, &settings.data_dir, false)?;
        let data_dir = &settings.data_dir;
        let meetings = opened(
            RedbMeetingStore::open(data_dir),
            data_dir,
            "the meeting store",
        )?;
        let contacts = opened(
            RedbContactStore::open(data_dir, Scoring::new(&settings.contacts)),
            data_dir,
            "the contact store",
        )?;
        let journal_store = opened(
            RedbJournalStore::open(data_dir, settings.notifier.retention()),
            data_dir,
            "the notifier journal",
        )?;
        let journal =
            Journal::new(Arc::new(journal_store), settings.notifier.clone()).map_err(|err| {
                anyhow::Error::new(err).context("failed to open the notifier journal")
            })?;
        let integrations = opened(
            RedbIntegrationStore::open(data_dir),
            data_dir,
            "the integration store",
        )?;
        let registry = Arc::new(Registry::standard());
        let claim_check = ClaimCheck::new(state.clone(), settings.key_ttls.clone())
            .with_threshold(settings.claim_check_threshold_bytes);
        let publisher =
            Publisher::new(broker.clone(), registry.clone()).with_claim_check(claim_check);
        let relay_wake = Arc::new(Notify::new());
        Ok(Node {
            identity: Identity::new(identity, registry.clone(), settings.identity)
                .with_relay_wake(relay_wake.clone()),
            relay_wake,
            redis,
            publisher,
            registry,
            broker,
            index,
            state,
            jobs,
            integrations: Arc::new(integrations),
            meetings: Arc::new(meetings),
            contacts: Arc::new(contacts),
            journal,
            outbox,
            consumer_health: ConsumerHealth::default(),
            settings: settings.clone(),
            shutdown: CancellationToken::new(),
            consumers: JoinSet::new(),
        })
    }

    /// Creates the subscriptions of every role, whatever roles this process runs, when
    /// `auto_create` is on (with it off, `switchyard topics setup` does): called before
    /// anything is published into the bus, so that each role gets every event, even one
    /// published before that role first runs (an embedded topic keeps a message until
    /// every subscription has it).
    pub async fn create_subscriptions(&self) -> anyhow::Result<()> {
        if !self.settings.auto_create {
            return Ok(());
        }
        for planned in topology::plan(&self.settings) {
            self.broker
                .ensure_subscription(planned.subscription())
                .await?;
        }
        Ok(())
    }

    /// Starts the consumers of `roles` on the pipeline's subscriptions. Missing
    /// subscriptions are created when `auto_create` is on, else reported as an error.
    pub async fn start_consumers(&mut self, roles: &[Role]) -> anyhow::Result<()> {
        let plan = topology::plan(&self.settings);
        if !self.settings.auto_create {
            let missing = topology::missing(self.broker.as_ref(), &plan, roles).await?;
            anyhow::ensure!(
                missing.is_empty(),
                "subscriptions missing on the bus: {} (run `switchyard topics setup`, or set auto_create)",
                missing.join(", ")
            );
        }
        for planned in plan
            .into_iter()
            .filter(|planned| roles.contains(&planned.role))
        {
            // Created before returning, so that nothing published afterwards is missed.
            self.broker
                .ensure_subscription(planned.subscription())
                .await?;
            match planned.role {
                Role::Indexer => {
                    let indexer = Indexer::new(self.index.clone());
                    self.spawn_consumer(planned, indexer);
                }
                Role::Chunker => {
                    let chunker = Chunker::new(
                        self.publisher.clone(),
                        self.state.clone(),
                        self.settings.chunking.clone(),
                    )?;
                    self.spawn_consumer(planned, chunker);
                }
                Role::Shipments => {
                    let store = Arc::new(StateShipmentStore::new(self.state.clone()));
                    let tracker = ShipmentTracker::new(store, self.publisher.clone());
                    self.spawn_consumer(planned, tracker);
                }
                Role::Meetings => {
                    let handler = MeetingsHandler::new(self.meetings.clone());
                    self.spawn_consumer(planned, handler);
                }
                Role::Contacts => {
                    let discovery = ContactDiscovery::new(
                        self.contacts.clone(),
                        self.publisher.clone(),
                        self.settings.contacts.clone(),
                    )?;
                    self.spawn_consumer(planned, discovery);
                }
                Role::Notifier => {
                    let notifier = Notifier::new(self.journal.clone());
                    self.spawn_consumer(planned, notifier);
                }
                Role::Mailer => {
                    let mailer = Mailer::new(&self.settings.mailer_or_default())
                        .context("failed to set up the mailer")?;
                    self.spawn_consumer(planned, mailer);
                }
                Role::Relay | Role::Cleanup => {}
            }
        }
        Ok(())
    }

    fn spawn_consumer<H: Handler>(&mut self, planned: PlannedSubscription, handler: H) {
        let mut config = planned.consumer;
        config.handle_batch_size = config.handle_batch_size.max(config.batch_size);
        config.key_ttls = self.settings.key_ttls.clone();
        let consumer = Consumer::new(
            self.broker.clone(),
            self.state.clone(),
            self.registry.clone(),
            config,
            handler,
        )
        .with_health(self.consumer_health.clone());
        self.consumers
            .spawn(consumer.run(self.shutdown.child_token()));
    }

    /// Starts the background duties of `roles`: the outbox relay and the periodic
    /// cleanup of expired keys.
    pub fn start_maintenance(&mut self, roles: &[Role]) {
        if roles.contains(&Role::Relay) {
            // A round's publish gets three attempts (100 ms, then 200 ms apart); then its
            // events stay in the outbox and the relay backs off before the next round.
            let publisher = self.publisher.clone().with_retry(PublishRetry {
                initial_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_millis(400),
                max_attempts: Some(3),
                ..PublishRetry::default()
            });
            let relay = OutboxRelay::new(self.outbox.clone(), publisher, 500)
                .with_wake(self.relay_wake.clone());
            self.consumers
                .spawn(relay.run(self.shutdown.child_token(), Duration::from_millis(200)));
        }
        if !roles.contains(&Role::Cleanup) {
            return;
        }
        let state = self.state.clone();
        let contacts = self.contacts.clone();
        let index = self.index.clone();
        let retention_days = self.settings.contacts.retention_days;
        let period = self.settings.cleanup_interval;
        let shutdown = self.shutdown.child_token();
        self.consumers.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                match state.purge_expired().await {
                    Ok(purged) => tracing::info!(purged, "expired keys deleted"),
                    Err(err) => tracing::warn!(error = %err, "expired-key cleanup failed"),
                }
                if let Some(days) = retention_days {
                    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
                    match switchyard_contacts::drop_stale(contacts.as_ref(), &index, cutoff).await {
                        Ok(dropped) => tracing::info!(dropped, days, "stale contacts dropped"),
                        Err(err) => tracing::warn!(error = %err, "contact retention failed"),
                    }
                }
            }
        });
    }

    /// The subscriptions an event passes before it is searchable: those of the
    /// [`Role::PIPELINE`] roles.
    pub fn pipeline_subscriptions(&self) -> Vec<String> {
        Role::PIPELINE
            .iter()
            .flat_map(|role| role.subscriptions(&self.settings))
            .map(|consumer| consumer.subscription.name)
            .collect()
    }

    /// What `/health/ready` checks: this node's engines and consumers.
    pub fn readiness(&self) -> Readiness {
        Readiness {
            broker: self.broker.clone(),
            state: self.state.clone(),
            outbox: self.outbox.clone(),
            consumers: self.consumer_health.clone(),
        }
    }

    /// The dead letters of this node's broker.
    pub fn dead_letters(&self) -> DeadLetterQueue {
        DeadLetterQueue::new(self.broker.clone())
            .with_topics([switchyard_mailer::MAILER_DEAD_LETTER_TOPIC])
    }

    /// Returns once every published event is indexed and searchable.
    pub async fn wait_until_indexed(&self) -> anyhow::Result<()> {
        let pipeline = self.pipeline_subscriptions();
        while indexer_lag(self.broker.as_ref(), &pipeline).await? > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    }

    /// Stops the consumers after their current batch and waits for them, at most
    /// `deadline`; what is still in flight then is delivered again on the next start.
    pub async fn shutdown(mut self, deadline: Duration) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(deadline, async {
            while self.consumers.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                deadline_secs = deadline.as_secs(),
                "shutdown deadline passed: in-flight batches will be redelivered"
            );
            self.consumers.abort_all();
        }
    }
}

/// Events published to the office topics but not yet searchable: the lag of the
/// `pipeline` subscriptions (the chunker's and the indexer's, see
/// [`Node::pipeline_subscriptions`]). The chunker publishes a document's fragments before
/// it acks the document, so a zero chunker lag read before a zero indexer lag means all is
/// indexed.
pub async fn indexer_lag(broker: &dyn Broker, pipeline: &[String]) -> anyhow::Result<u64> {
    let stats = broker.stats().await?;
    Ok(stats
        .iter()
        .filter(|s| pipeline.contains(&s.name))
        .map(|s| s.lag())
        .sum())
}
