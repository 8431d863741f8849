//! The roles of a `serve` process and the subscriptions of the office pipeline, gathered
//! from the consumer crates that declare them (one line per role in
//! [`Role::subscriptions`]), and the `switchyard topics` commands that create (`setup`) or
//! verify (`check`) them on the bus. Every subscription has a consumer in its role, and
//! the subscriptions of all roles exist before anything is published
//! (`Node::create_subscriptions` when `auto_create` is on, else `topics setup`): an
//! embedded topic keeps every message until all its subscriptions have it, so a role that
//! first runs later still gets every event.

use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use switchyard_bus::{Broker, SubscriptionConfig};
use switchyard_runtime::ConsumerConfig;

use crate::config::Settings;
use crate::node::Node;

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
    /// Verification mail over SMTP (`email.#` on `smap.events`); in the default roles
    /// only when an SMTP server is configured (`SWITCHYARD_SMTP_URL` or `[mailer]`).
    Mailer,
    /// Outbox relay.
    Relay,
    /// Periodic expired-key cleanup.
    Cleanup,
}

impl Role {
    /// Every role: what `serve` runs by default.
    pub const ALL: [Role; 9] = [
        Role::Indexer,
        Role::Chunker,
        Role::Shipments,
        Role::Meetings,
        Role::Contacts,
        Role::Notifier,
        Role::Mailer,
        Role::Relay,
        Role::Cleanup,
    ];

    /// The roles whose work an import waits for: an event is searchable once they are
    /// done with it.
    pub const PIPELINE: [Role; 2] = [Role::Chunker, Role::Indexer];

    /// The subscriptions this role consumes, with the batch sizes, ack deadlines and
    /// retries of `settings`; none for the roles that are not consumers. Each consumer
    /// crate declares its own: adding a consumer adds one line here.
    pub fn subscriptions(self, settings: &Settings) -> Vec<ConsumerConfig> {
        match self {
            Role::Indexer => switchyard_indexer::subscriptions(&settings.indexer),
            Role::Chunker => switchyard_chunking::subscriptions(),
            Role::Shipments => switchyard_shipments::subscriptions(),
            Role::Meetings => switchyard_meetings::subscriptions(),
            Role::Contacts => switchyard_contacts::subscriptions(),
            Role::Notifier => switchyard_notifier::subscriptions(&settings.notifier),
            Role::Mailer => switchyard_mailer::subscriptions(&settings.mailer_or_default()),
            Role::Relay | Role::Cleanup => Vec::new(),
        }
    }
}

/// What `serve` runs without `--roles`: every role, but the mailer only when an SMTP
/// server is configured (without one, every mail would end in `email.errors`; the
/// mailer's subscription exists all the same, so verification mail waits for a mailer).
pub fn default_roles(settings: &Settings) -> Vec<Role> {
    Role::ALL
        .into_iter()
        .filter(|role| *role != Role::Mailer || settings.mailer.is_some())
        .collect()
}

/// One subscription of the pipeline and the role that consumes it.
#[derive(Debug, Clone)]
pub struct PlannedSubscription {
    /// The role that consumes it.
    pub role: Role,
    /// The subscription (name, topic, ack deadline) and how its consumer runs.
    pub consumer: ConsumerConfig,
}

impl PlannedSubscription {
    /// The subscription on the bus.
    pub fn subscription(&self) -> &SubscriptionConfig {
        &self.consumer.subscription
    }
}

/// The pipeline's subscriptions, role by role, with the settings of `settings`.
pub fn plan(settings: &Settings) -> Vec<PlannedSubscription> {
    Role::ALL
        .into_iter()
        .flat_map(|role| {
            role.subscriptions(settings)
                .into_iter()
                .map(move |consumer| PlannedSubscription { role, consumer })
        })
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
        if !broker
            .has_subscription(&planned.subscription().name)
            .await?
        {
            missing.push(planned.subscription().name.clone());
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
            let found = stats
                .iter()
                .find(|s| s.name == planned.subscription().name)?;
            (found.topic != planned.subscription().topic).then(|| {
                format!(
                    "{}: reads {}, expected {} (delete it and run `switchyard topics setup`)",
                    planned.subscription().name,
                    found.topic,
                    planned.subscription().topic
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
                node.broker
                    .ensure_subscription(planned.subscription())
                    .await?;
                println!(
                    "ok {} on {}",
                    planned.subscription().name,
                    planned.subscription().topic
                );
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
            ["shipments-emails"]
        );
        // Someone made the shipments subscription on the wrong topic.
        broker
            .ensure_subscription(&SubscriptionConfig::new("shipments-emails", "calendars"))
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
