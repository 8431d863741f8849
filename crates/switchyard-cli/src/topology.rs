//! The subscriptions of the office pipeline, declared in one place with their defaults,
//! grouped by the role that consumes them, and the `switchyard topics` commands that create
//! (`setup`) or verify (`check`) them on the bus. Roles not yet implemented add their
//! subscriptions here when they land, so that no subscription exists without a consumer
//! (an embedded topic keeps every message until all its subscriptions have it).

use std::process::ExitCode;
use std::time::Duration;

use clap::{Subcommand, ValueEnum};
use switchyard_bus::{Broker, SubscriptionConfig};
use switchyard_contracts::DataKind;
use switchyard_contracts::office_set::LEGACY_EMAIL_BACKFILL_TOPIC;
use switchyard_meetings::{MEETINGS_BOOKINGS_SUBSCRIPTION, MEETINGS_CALENDARS_SUBSCRIPTION};
use switchyard_notifier::{notifier_subscription, notifier_topics};
use switchyard_runtime::RetryPolicy;

use crate::config::Settings;
use crate::node::Node;

/// Prefix of every search indexer subscription: `search-indexer-{topic}`.
pub const INDEXER_PREFIX: &str = "search-indexer-";

/// Prefix of every chunker subscription: `chunker-{topic}`.
pub const CHUNKER_PREFIX: &str = "chunker-";

/// Prefix of every contact discovery subscription: `contact-discovery-{topic}`.
pub const CONTACTS_PREFIX: &str = "contact-discovery-";

/// The topics contact discovery reads.
const CONTACT_SOURCES: [DataKind; 6] = [
    DataKind::Email,
    DataKind::Calendar,
    DataKind::WordDocument,
    DataKind::SheetDocument,
    DataKind::PresentationDocument,
    DataKind::Todo,
];

/// The subscription of the shipments consumer.
pub const SHIPMENTS_SUBSCRIPTION: &str = "shipments-emails";

/// The topics of whole documents, which the chunker turns into fragments.
const DOCUMENT_KINDS: [DataKind; 3] = [
    DataKind::WordDocument,
    DataKind::SheetDocument,
    DataKind::PresentationDocument,
];

/// What a `serve` process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// Search indexer consumers.
    Indexer,
    /// Document chunking consumers (documents → fragments).
    Chunker,
    /// Shipment tracking from emails.
    Shipments,
    /// Meeting contexts and availability from calendars and bookings.
    Meetings,
    /// Contact discovery from mail, calendars, documents and todos.
    Contacts,
    /// Live change signals for the front end (`GET /v1/stream`).
    Notifier,
    /// Outbox relay.
    Relay,
    /// Periodic expired-key cleanup.
    Cleanup,
}

impl Role {
    /// Every role: what `serve` runs by default.
    pub const ALL: [Role; 8] = [
        Role::Indexer,
        Role::Chunker,
        Role::Shipments,
        Role::Meetings,
        Role::Contacts,
        Role::Notifier,
        Role::Relay,
        Role::Cleanup,
    ];

    /// The roles whose work an import waits for: an event is searchable once they are
    /// done with it.
    pub const PIPELINE: [Role; 2] = [Role::Chunker, Role::Indexer];

    /// The prefix of this role's subscriptions, for consumer roles.
    pub fn subscription_prefix(self) -> Option<&'static str> {
        match self {
            Role::Indexer => Some(INDEXER_PREFIX),
            Role::Chunker => Some(CHUNKER_PREFIX),
            Role::Shipments => Some(SHIPMENTS_SUBSCRIPTION),
            Role::Meetings => Some("meetings-"),
            Role::Contacts => Some(CONTACTS_PREFIX),
            Role::Notifier => Some("notifier-"),
            Role::Relay | Role::Cleanup => None,
        }
    }
}

/// One subscription of the pipeline.
#[derive(Debug, Clone)]
pub struct PlannedSubscription {
    /// The role that consumes it.
    pub role: Role,
    /// Name, topic and ack deadline.
    pub config: SubscriptionConfig,
    /// Messages per fetch.
    pub batch_size: usize,
    /// Most messages handled together while a backlog lasts.
    pub handle_batch_size: usize,
    /// Retries of events without retry headers: the indexer's from `[indexer]`, the
    /// runtime's default for every other consumer.
    pub retry: RetryPolicy,
}

/// The pipeline's subscriptions with the batch sizes and ack deadlines of `settings`.
pub fn plan(settings: &Settings) -> Vec<PlannedSubscription> {
    let indexer_deadline = Duration::from_secs(settings.indexer_ack_deadline_secs);
    DataKind::ALL
        .iter()
        .map(|kind| kind.topic().to_string())
        .chain([LEGACY_EMAIL_BACKFILL_TOPIC.to_string()])
        .map(|topic| PlannedSubscription {
            role: Role::Indexer,
            config: SubscriptionConfig::new(format!("{INDEXER_PREFIX}{topic}"), topic)
                .with_ack_deadline(indexer_deadline),
            batch_size: settings.indexer_batch_size,
            handle_batch_size: settings.indexer_commit_batch_size,
            retry: settings.indexer_retry.clone(),
        })
        .chain(DOCUMENT_KINDS.iter().map(|kind| {
            let topic = kind.topic_name();
            // Documents are large: few per batch, and time to chunk and publish them.
            PlannedSubscription {
                role: Role::Chunker,
                config: SubscriptionConfig::new(format!("{CHUNKER_PREFIX}{topic}"), topic)
                    .with_ack_deadline(Duration::from_secs(300)),
                batch_size: 10,
                handle_batch_size: 10,
                retry: RetryPolicy::default(),
            }
        }))
        .chain([PlannedSubscription {
            role: Role::Shipments,
            config: SubscriptionConfig::new(SHIPMENTS_SUBSCRIPTION, DataKind::Email.topic_name())
                .with_ack_deadline(Duration::from_secs(60)),
            batch_size: 50,
            handle_batch_size: 50,
            retry: RetryPolicy::default(),
        }])
        .chain(
            [
                (MEETINGS_CALENDARS_SUBSCRIPTION, DataKind::Calendar),
                (MEETINGS_BOOKINGS_SUBSCRIPTION, DataKind::MeetingBooking),
            ]
            .map(|(name, kind)| PlannedSubscription {
                role: Role::Meetings,
                config: SubscriptionConfig::new(name, kind.topic_name())
                    .with_ack_deadline(Duration::from_secs(60)),
                batch_size: 25,
                handle_batch_size: 25,
                retry: RetryPolicy::default(),
            }),
        )
        .chain(CONTACT_SOURCES.iter().map(|kind| {
            let topic = kind.topic_name();
            PlannedSubscription {
                role: Role::Contacts,
                config: SubscriptionConfig::new(format!("{CONTACTS_PREFIX}{topic}"), topic)
                    .with_ack_deadline(Duration::from_secs(60)),
                batch_size: 100,
                handle_batch_size: 100,
                retry: RetryPolicy::default(),
            }
        }))
        .chain(
            notifier_topics(settings.notifier.include_fragments)
                .into_iter()
                .map(|topic| PlannedSubscription {
                    role: Role::Notifier,
                    config: SubscriptionConfig::new(notifier_subscription(topic), topic)
                        .with_ack_deadline(Duration::from_secs(60)),
                    batch_size: 100,
                    handle_batch_size: 100,
                    retry: RetryPolicy::default(),
                }),
        )
        .collect()
}

/// Subscriptions of `plan` (for `roles`) that the bus does not have.
pub async fn missing(
    broker: &dyn Broker,
    plan: &[PlannedSubscription],
    roles: &[Role],
) -> anyhow::Result<Vec<String>> {
    let mut missing = Vec::new();
    for planned in plan.iter().filter(|planned| roles.contains(&planned.role)) {
        if !broker.has_subscription(&planned.config.name).await? {
            missing.push(planned.config.name.clone());
        }
    }
    Ok(missing)
}

/// Subscriptions of `plan` (for `roles`) that exist on the bus reading another topic
/// than the plan says, as `name: reads X, expected Y`. Engines that keep subscriptions
/// per process (RabbitMQ) only report those this process has seen.
pub async fn misconfigured(
    broker: &dyn Broker,
    plan: &[PlannedSubscription],
    roles: &[Role],
) -> anyhow::Result<Vec<String>> {
    let stats = broker.stats().await?;
    Ok(plan
        .iter()
        .filter(|planned| roles.contains(&planned.role))
        .filter_map(|planned| {
            let found = stats.iter().find(|s| s.name == planned.config.name)?;
            (found.topic != planned.config.topic).then(|| {
                format!(
                    "{}: reads {}, expected {} (delete it and run `switchyard topics setup`)",
                    planned.config.name, found.topic, planned.config.topic
                )
            })
        })
        .collect())
}

/// The topology commands.
#[derive(Subcommand)]
pub enum TopicsCommand {
    /// Create every subscription (stream, queue, consumer) the roles need; idempotent.
    Setup {
        /// Only these roles [default: all].
        #[arg(long, value_delimiter = ',')]
        roles: Vec<Role>,
    },
    /// Report the subscriptions the roles need that the bus lacks or that read another
    /// topic; exit 1 if any.
    Check {
        /// Only these roles [default: all].
        #[arg(long, value_delimiter = ',')]
        roles: Vec<Role>,
    },
}

/// Runs one topology command.
pub async fn run(settings: &Settings, command: TopicsCommand) -> anyhow::Result<ExitCode> {
    let node = Node::open(settings).await?;
    let plan = plan(settings);
    let roles_or_all = |roles: Vec<Role>| {
        if roles.is_empty() {
            Role::ALL.to_vec()
        } else {
            roles
        }
    };
    match command {
        TopicsCommand::Setup { roles } => {
            let roles = roles_or_all(roles);
            for planned in plan.iter().filter(|planned| roles.contains(&planned.role)) {
                node.broker.ensure_subscription(&planned.config).await?;
                println!("ok {} on {}", planned.config.name, planned.config.topic);
            }
            Ok(ExitCode::SUCCESS)
        }
        TopicsCommand::Check { roles } => {
            let roles = roles_or_all(roles);
            let missing = missing(node.broker.as_ref(), &plan, &roles).await?;
            for name in &missing {
                println!("missing {name} (run `switchyard topics setup`)");
            }
            let misconfigured = misconfigured(node.broker.as_ref(), &plan, &roles).await?;
            for problem in &misconfigured {
                println!("misconfigured {problem}");
            }
            println!(
                "{} subscriptions missing, {} misconfigured",
                missing.len(),
                misconfigured.len()
            );
            Ok(if missing.is_empty() && misconfigured.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use switchyard_bus::EmbeddedBroker;

    use super::*;
    use crate::backends::EngineUrls;

    #[tokio::test]
    async fn check_reports_missing_and_misconfigured_subscriptions() {
        let dir = tempfile::tempdir().unwrap();
        let broker = EmbeddedBroker::open(dir.path()).unwrap();
        let settings = Settings::resolve(None, None, None, EngineUrls::default()).unwrap();
        let plan = plan(&settings);
        let roles = [Role::Shipments];
        assert_eq!(
            missing(&broker, &plan, &roles).await.unwrap(),
            [SHIPMENTS_SUBSCRIPTION]
        );
        // Someone made the shipments subscription on the wrong topic.
        broker
            .ensure_subscription(&SubscriptionConfig::new(
                SHIPMENTS_SUBSCRIPTION,
                "calendars",
            ))
            .await
            .unwrap();
        assert!(missing(&broker, &plan, &roles).await.unwrap().is_empty());
        let problems = misconfigured(&broker, &plan, &roles).await.unwrap();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].starts_with("shipments-emails: reads calendars, expected emails"),
            "{}",
            problems[0]
        );
    }
}
