//! [`Notifications`]: the change-notification subscriptions of integrations' feeds, and
//! what a webhook delivery asks for.
//!
//! Each feed of an integration gets a Graph subscription once its backfill has read the
//! history ([`Notifications::subscribe`]); all of an integration's subscriptions carry
//! one random `clientState`, sealed at rest. Subscriptions are renewed before they
//! expire by the same call (the periodic poll makes it), and one Graph no longer knows
//! is created again.
//!
//! A delivery ([`Notifications::receive`]) is checked before anything is done: a
//! notification of a known subscription must carry its `clientState` (compared in
//! constant time), else the whole delivery is [`Forged`] and nothing happens; one of an
//! unknown subscription asks for nothing, and a delivery of nothing else is [`Forged`]
//! too. A
//! genuine one becomes [`Signal`]s: a change or a `missed` lifecycle event asks for a
//! stream of the integration (notifications are signals, the delta is the truth);
//! `reauthorizationRequired` renews the subscription; `subscriptionRemoved` creates it
//! again.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{TimeDelta, Utc};
use switchyard_auth::SecretString;
use switchyard_providers::ProviderErrorKind;
use switchyard_providers::microsoft::{
    LifecycleEvent, Notification, SubscriptionRequest, client_state_matches,
    max_subscription_lifetime, new_client_state, parse_notifications,
};

use crate::store::{FeedSubscription, IntegrationError, IntegrationErrorKind, StoredIntegration};
use crate::{Connector, Sync};

/// The change types every subscription asks for.
const CHANGE_TYPES: &str = "created,updated,deleted";
/// How long before it expires a subscription is renewed (the poll must run more often).
const RENEW_MARGIN: TimeDelta = TimeDelta::hours(12);

/// What a genuine delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Signal {
    /// Read the integration's changes.
    Stream {
        /// Its owner.
        user_id: String,
        /// Its id.
        integration_id: String,
    },
    /// Renew or create the integration's subscriptions again.
    Subscribe {
        /// Its owner.
        user_id: String,
        /// Its id.
        integration_id: String,
    },
}

/// A delivery that is not from the provider: a notification names an unknown
/// subscription or carries the wrong `clientState`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("refused a change notification for subscription {subscription_id}: {reason}")]
pub struct Forged {
    /// The subscription it named.
    pub subscription_id: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Subscriptions and deliveries of Microsoft integrations.
pub struct Notifications {
    connector: Arc<Connector>,
    /// Its Graph client, and the lock that makes one sync of an integration run at a
    /// time (subscribing included).
    sync: Arc<Sync>,
    /// The public URL of `/v1/webhooks/microsoft`; without it nothing subscribes and the
    /// poll alone streams changes.
    webhook_url: Option<String>,
}

/// The associated data a `clientState` is sealed with.
fn seal_context(id: &str) -> String {
    format!("integration/{id}/client_state")
}

impl Notifications {
    /// Subscriptions made through the Graph client of `sync` with the tokens of
    /// `connector`, delivered to `webhook_url`.
    pub fn new(connector: Arc<Connector>, sync: Arc<Sync>, webhook_url: Option<String>) -> Self {
        Notifications {
            connector,
            sync,
            webhook_url,
        }
    }

    /// Makes sure every feed of the integration `integration_id` of `user_id` has a
    /// subscription that lives beyond the renewal margin: creates the missing ones,
    /// renews those about to expire (again when `renew_all`), recreates those Graph no
    /// longer knows. How many it created or renewed.
    pub async fn subscribe(
        &self,
        user_id: &str,
        integration_id: &str,
        renew_all: bool,
    ) -> Result<usize, IntegrationError> {
        let Some(webhook_url) = &self.webhook_url else {
            return Ok(0);
        };
        // Two calls at once would both create a subscription for a feed without one.
        let _held = self.sync.hold(integration_id).await;
        let graph = self.sync.graph();
        let stored = self.connector.stored(user_id, integration_id).await?;
        let client_state = self.client_state(user_id, &stored).await?;
        let token = self.connector.access_token(user_id, integration_id).await?;
        let now = Utc::now();
        let mut made = 0;
        for feed in &stored.feeds {
            let lifetime = max_subscription_lifetime(&feed.subscription_resource);
            let expiration = now + lifetime - TimeDelta::minutes(5);
            let renewed = match &feed.subscription {
                Some(subscription)
                    if !renew_all && subscription.expiration - RENEW_MARGIN > now =>
                {
                    continue;
                }
                Some(subscription) => match graph
                    .renew_subscription(integration_id, &subscription.id, expiration, &token)
                    .await
                {
                    Ok(renewed) => Some(renewed),
                    Err(err) if err.kind() == ProviderErrorKind::NotFound => {
                        tracing::info!(integration = integration_id, feed = %feed.key, "subscription gone: creating it again");
                        None
                    }
                    Err(err) => return Err(provider_error(err)),
                },
                None => None,
            };
            let subscription = match renewed {
                Some(renewed) => renewed,
                None => graph
                    .create_subscription(
                        integration_id,
                        &SubscriptionRequest {
                            resource: feed.subscription_resource.clone(),
                            change_type: CHANGE_TYPES.to_string(),
                            notification_url: webhook_url.clone(),
                            lifecycle_notification_url: webhook_url.clone(),
                            client_state: client_state.clone(),
                            expiration,
                        },
                        &token,
                    )
                    .await
                    .map_err(provider_error)?,
            };
            let key = feed.key.clone();
            self.connector
                .update(user_id, integration_id, |stored| {
                    if let Some(kept) = stored.feeds.iter_mut().find(|kept| kept.key == key) {
                        kept.subscription = Some(FeedSubscription {
                            id: subscription.id,
                            expiration: subscription.expiration,
                        });
                    }
                })
                .await?;
            made += 1;
        }
        if made > 0 {
            tracing::info!(
                integration = integration_id,
                subscriptions = made,
                "change notifications subscribed"
            );
        }
        Ok(made)
    }

    /// Forgets the subscription `subscription_id` of an integration, so that the next
    /// [`subscribe`](Self::subscribe) creates it again.
    async fn forget(
        &self,
        user_id: &str,
        integration_id: &str,
        subscription_id: &str,
    ) -> Result<(), IntegrationError> {
        self.connector
            .update(user_id, integration_id, |stored| {
                for feed in &mut stored.feeds {
                    if feed
                        .subscription
                        .as_ref()
                        .is_some_and(|subscription| subscription.id == subscription_id)
                    {
                        feed.subscription = None;
                    }
                }
            })
            .await
            .map(drop)
    }

    /// Deletes every subscription of the integration `id` of `user_id` at the provider
    /// (before it is disconnected); a failure is logged, and the subscription expires on
    /// its own.
    pub async fn unsubscribe(&self, user_id: &str, id: &str) {
        let stored = match self.connector.stored(user_id, id).await {
            Ok(stored) => stored,
            Err(err) => {
                tracing::warn!(integration = %id, error = %err, "cannot read the subscriptions of an integration");
                return;
            }
        };
        let subscriptions: Vec<&FeedSubscription> = stored
            .feeds
            .iter()
            .filter_map(|feed| feed.subscription.as_ref())
            .collect();
        if subscriptions.is_empty() {
            return;
        }
        let token = match self.connector.access_token(user_id, id).await {
            Ok(token) => token,
            Err(err) => {
                tracing::warn!(integration = %id, error = %err, "cannot delete the subscriptions of a disconnected integration; they expire on their own");
                return;
            }
        };
        for subscription in subscriptions {
            if let Err(err) = self
                .sync
                .graph()
                .delete_subscription(id, &subscription.id, &token)
                .await
            {
                tracing::warn!(integration = %id, subscription = %subscription.id, error = %err, "failed to delete a subscription; it expires on its own");
            }
        }
    }

    /// Checks a webhook delivery and answers what it asks for; a delivery with any
    /// notification not from the provider is refused whole. An unreadable body is
    /// [`IntegrationErrorKind::Invalid`].
    pub async fn receive(
        &self,
        body: &[u8],
    ) -> Result<Result<Vec<Signal>, Forged>, IntegrationError> {
        let notifications = parse_notifications(body)
            .map_err(|reason| IntegrationError::new(IntegrationErrorKind::Invalid, reason))?;
        let mut signals = BTreeSet::new();
        let mut forget = Vec::new();
        let mut unknown = None;
        for notification in &notifications {
            let (subscription_id, client_state) =
                (notification.subscription_id(), notification.client_state());
            let forged = |reason| Forged {
                subscription_id: subscription_id.to_string(),
                reason,
            };
            let Some((user_id, integration_id)) = self
                .connector
                .store()
                .by_subscription(subscription_id)
                .await?
            else {
                // One we no longer know (deleted, or lost to a crash mid-creation) asks
                // for nothing; genuine ones beside it in the delivery still count.
                unknown = Some(subscription_id.to_string());
                continue;
            };
            let stored = self.connector.stored(&user_id, &integration_id).await?;
            let Some(sealed) = &stored.client_state else {
                return Ok(Err(forged("the integration has no client state")));
            };
            let expected = self
                .connector
                .open_secret(sealed, &seal_context(&integration_id))?;
            if !client_state_matches(&expected, client_state) {
                return Ok(Err(forged("wrong clientState")));
            }
            let stream = Signal::Stream {
                user_id: user_id.clone(),
                integration_id: integration_id.clone(),
            };
            let subscribe = Signal::Subscribe {
                user_id: user_id.clone(),
                integration_id: integration_id.clone(),
            };
            match notification {
                Notification::Change { .. } => {
                    signals.insert(stream);
                }
                Notification::Lifecycle { event, .. } => match event {
                    LifecycleEvent::Missed => {
                        signals.insert(stream);
                    }
                    LifecycleEvent::ReauthorizationRequired => {
                        signals.insert(subscribe);
                    }
                    LifecycleEvent::SubscriptionRemoved => {
                        forget.push((user_id, integration_id, subscription_id.to_string()));
                        signals.insert(subscribe);
                        signals.insert(stream);
                    }
                    LifecycleEvent::Other(name) => {
                        tracing::info!(subscription = %subscription_id, lifecycle_event = %name, "lifecycle notification ignored");
                    }
                },
            }
        }
        if signals.is_empty()
            && forget.is_empty()
            && let Some(subscription_id) = unknown
        {
            return Ok(Err(Forged {
                subscription_id,
                reason: "no such subscription",
            }));
        }
        for (user_id, integration_id, subscription_id) in forget {
            self.forget(&user_id, &integration_id, &subscription_id)
                .await?;
        }
        Ok(Ok(signals.into_iter().collect()))
    }

    /// The integration's `clientState`, made and sealed the first time.
    async fn client_state(
        &self,
        user_id: &str,
        stored: &StoredIntegration,
    ) -> Result<SecretString, IntegrationError> {
        let id = &stored.integration.id;
        if let Some(sealed) = &stored.client_state {
            return self.connector.open_secret(sealed, &seal_context(id));
        }
        let sealed = self
            .connector
            .seal(&new_client_state(), &seal_context(id))?;
        // Set only if no concurrent call set one first: every subscription must carry
        // the same.
        let stored = self
            .connector
            .update(user_id, id, |stored| {
                stored.client_state.get_or_insert(sealed);
            })
            .await?;
        let sealed = stored.client_state.expect("the client state was just set");
        self.connector.open_secret(&sealed, &seal_context(id))
    }
}

fn provider_error(err: switchyard_providers::ProviderError) -> IntegrationError {
    let kind = match err.kind() {
        ProviderErrorKind::NeedsReauth => IntegrationErrorKind::NeedsReauth,
        ProviderErrorKind::Unavailable => IntegrationErrorKind::Unavailable,
        _ => IntegrationErrorKind::Invalid,
    };
    IntegrationError::new(kind, format!("change-notification subscription: {err}"))
}
