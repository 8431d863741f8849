//! [`Identity`]: the identity flows. Each request decides over one record and commits the
//! record with its events through the outbox ([`IdentityStore::update`]), then wakes the
//! outbox relay, which publishes them at once: the relay is the one publisher of the
//! outbox, so an event leaves once (again only after a crash between its publish and its
//! mark, which consumers deduplicate by event id), and one the bus refuses stays in the
//! outbox until it can leave — never lost.
//!
//! With dual publish on, each event also gets a copy in the legacy shape for the fanout
//! exchange [`LEGACY_EXCHANGE`], committed in the same transaction, so turning the flag off
//! stops the copies of later events without losing or doubling any.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use switchyard_contracts::identity::{
    EMAIL_VERIFICATION_REQUESTED, EmailVerificationPayload, SUBSCRIPTION_CANCELLED,
    SUBSCRIPTION_CREATED, SUBSCRIPTION_STATUS_CHANGED, SubscriptionCancelledPayload,
    SubscriptionCreatedPayload, SubscriptionStatus, SubscriptionStatusChangedPayload, mask_address,
};
use switchyard_contracts::{Envelope, Outbound, Registry};
use tokio::sync::Notify;

use crate::account::{
    Account, Locale, check_code_format, check_password, hash_password, normalize_email,
};
use crate::store::{IdentityStore, OutboxEvent, RecordKind, Update};
use crate::subscription::{Subscription, check_reason, check_uuid, status_word};
use crate::{IdentityError, legacy};

/// The legacy fanout exchange the identity events are copied to while dual publish is on.
pub const LEGACY_EXCHANGE: &str = "smtp_send_email_exc";

/// The CloudEvents `source` of identity events.
const SOURCE: &str = "switchyard/identity";

/// How the identity flows run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentitySettings {
    /// Whether each event is also copied to [`LEGACY_EXCHANGE`] in the legacy shape.
    pub dual_publish: bool,
    /// How long a verification code is accepted.
    pub code_lifetime: chrono::Duration,
}

impl Default for IdentitySettings {
    /// Dual publish on (a migration starts with both paths), codes valid ten minutes.
    fn default() -> Self {
        IdentitySettings {
            dual_publish: true,
            code_lifetime: crate::CODE_LIFETIME,
        }
    }
}

/// Who asks for a subscription change: a user for their own, or an admin for anyone's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The caller's user id.
    pub user_id: String,
    /// Whether the caller may act for any user.
    pub admin: bool,
}

/// A registration that was stored: the account and when its first code expires.
#[derive(Debug, Clone, Serialize)]
pub struct Registered {
    /// The new account's id.
    pub user_id: String,
    /// The normalized address.
    pub email: String,
    /// When the code mailed to it expires.
    pub expires_at: DateTime<Utc>,
}

/// A subscription to create.
#[derive(Debug, Clone)]
pub struct NewSubscription {
    /// Its id (a UUID), chosen by the caller to make retries safe; a new one when absent.
    pub subscription_id: Option<String>,
    /// Whose it is: the caller's own unless an admin names another user.
    pub user_id: Option<String>,
    /// The plan.
    pub plan_code: String,
    /// The status it starts in.
    pub status: SubscriptionStatus,
    /// Its trial, when it has one.
    pub trial_start: Option<DateTime<Utc>>,
    /// End of the trial.
    pub trial_end: Option<DateTime<Utc>>,
}

/// The identity flows over one store.
#[derive(Clone)]
pub struct Identity {
    store: Arc<dyn IdentityStore>,
    registry: Arc<Registry>,
    /// Shared by the clones, replaced whole by [`Identity::reload`].
    settings: Arc<std::sync::RwLock<IdentitySettings>>,
    relay: Arc<Notify>,
}

impl Identity {
    /// Flows storing in `store`, checking events against `registry`.
    pub fn new(
        store: Arc<dyn IdentityStore>,
        registry: Arc<Registry>,
        settings: IdentitySettings,
    ) -> Self {
        Identity {
            store,
            registry,
            settings: Arc::new(std::sync::RwLock::new(settings)),
            relay: Arc::new(Notify::new()),
        }
    }

    /// The same flows, waking the outbox relay that `relay` wakes
    /// (`switchyard_runtime::OutboxRelay::with_wake`) after
    /// each commit; without it, events leave at the relay's next round.
    pub fn with_relay_wake(mut self, relay: Arc<Notify>) -> Self {
        self.relay = relay;
        self
    }

    /// How the flows run.
    pub fn settings(&self) -> IdentitySettings {
        *self.settings.read().expect("never poisoned")
    }

    /// Runs from now on with `settings` (a configuration reload): a change committed
    /// before keeps the events it was committed with, so turning dual publish off loses
    /// and doubles nothing.
    pub fn reload(&self, settings: IdentitySettings) {
        *self.settings.write().expect("never poisoned") = settings;
    }

    /// Registers an account and, in the same transaction, the event asking the mailer to
    /// send its verification code.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        locale: &str,
    ) -> Result<Registered, IdentityError> {
        let email = normalize_email(email)?;
        let locale = Locale::parse(locale)?;
        check_password(password, &email)?;
        let password = password.to_string();
        let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|err| {
                IdentityError::store(format!("password hashing stopped: {err}"), true)
            })??;
        let now = Utc::now();
        let mut account = Account::new(email.clone(), password_hash, locale, now);
        let issued = account.issue_code(now, self.settings().code_lifetime)?;
        let registered = Registered {
            user_id: account.user_id.clone(),
            email: email.clone(),
            expires_at: issued.expires_at,
        };
        let events = self.verification_events(&account, &issued.code, issued.expires_at)?;
        let value = to_json(&account);
        let taken = email.clone();
        self.change(RecordKind::Account, &email, move |current| match current {
            Some(_) => Err(IdentityError::Conflict(format!(
                "an account with the address {} exists already",
                mask_address(&taken)
            ))),
            None => Ok((Update::write(value, events), ())),
        })
        .await?;
        tracing::info!(user_id = %registered.user_id, email = %mask_address(&email), "account registered");
        Ok(registered)
    }

    /// Checks a code typed by the account's owner; the account is verified when it is
    /// right, in time, and within the attempts.
    pub async fn verify(&self, email: &str, otp: &str) -> Result<String, IdentityError> {
        let email = normalize_email(email)?;
        check_code_format(otp)?;
        let otp = otp.to_string();
        let now = Utc::now();
        let result = self
            .change(RecordKind::Account, &email, move |current| {
                let Some(current) = current else {
                    return Err(IdentityError::Code(crate::CodeRefusal::Wrong {
                        attempts_left: 0,
                    }));
                };
                let mut account: Account = from_json(current)?;
                // A wrong attempt counts: the account is stored whatever the answer.
                let answer = account.verify(&otp, now).map_err(IdentityError::Code);
                let update = Update {
                    value: Some(to_json(&account)),
                    events: Vec::new(),
                    then: answer,
                };
                Ok((update, account.user_id))
            })
            .await;
        match &result {
            Ok(user_id) => {
                tracing::info!(user_id = %user_id, email = %mask_address(&email), "address verified")
            }
            Err(err) => {
                tracing::info!(email = %mask_address(&email), reason = %err, "verification refused")
            }
        }
        result
    }

    /// Sends a new code (the previous one stops counting), within the resend limits.
    pub async fn resend(&self, email: &str) -> Result<DateTime<Utc>, IdentityError> {
        let email = normalize_email(email)?;
        let now = Utc::now();
        let this = self.clone();
        let missing = email.clone();
        let expires_at = self
            .change(RecordKind::Account, &email, move |current| {
                let Some(current) = current else {
                    return Err(IdentityError::NotFound(format!(
                        "no account has the address {}",
                        mask_address(&missing)
                    )));
                };
                let mut account: Account = from_json(current)?;
                let issued = account.issue_code(now, this.settings().code_lifetime)?;
                let events = this.verification_events(&account, &issued.code, issued.expires_at)?;
                Ok((Update::write(to_json(&account), events), issued.expires_at))
            })
            .await?;
        tracing::info!(email = %mask_address(&email), "verification code sent again");
        Ok(expires_at)
    }

    /// Creates a subscription and its `subscription.created` event. Creating again with
    /// the same id, user and plan returns the existing one (`false`) and publishes
    /// nothing.
    pub async fn create_subscription(
        &self,
        actor: &Actor,
        request: NewSubscription,
    ) -> Result<(Subscription, bool), IdentityError> {
        let subscription_id = match &request.subscription_id {
            Some(id) => check_uuid("subscription_id", id)?,
            None => uuid::Uuid::now_v7().to_string(),
        };
        let user_id = match request.user_id {
            Some(user_id) if user_id != actor.user_id && !actor.admin => {
                return Err(IdentityError::NotFound(
                    "only an admin creates subscriptions for another user".into(),
                ));
            }
            Some(user_id) => user_id,
            None => actor.user_id.clone(),
        };
        switchyard_contracts::check_user_id(&user_id)
            .map_err(|err| IdentityError::invalid("user_id", err.to_string()))?;
        let now = Utc::now();
        let subscription = Subscription::new(
            subscription_id.clone(),
            user_id,
            request.plan_code,
            request.status,
            (request.trial_start, request.trial_end),
            now,
        )?;
        let payload = SubscriptionCreatedPayload {
            subscription_id: subscription.subscription_id.clone(),
            user_id: subscription.user_id.clone(),
            plan_code: subscription.plan_code.clone(),
            status: subscription.status,
            trial_start: subscription.trial_start,
            trial_end: subscription.trial_end,
            idempotency_key: Some(subscription.subscription_id.clone()),
        };
        let events = self.events(SUBSCRIPTION_CREATED, &subscription.user_id, &payload)?;
        let created = subscription.clone();
        let existing = self
            .change(RecordKind::Subscription, &subscription_id, move |current| {
                let Some(current) = current else {
                    return Ok((Update::write(to_json(&created), events), None));
                };
                let stored: Subscription = from_json(current)?;
                if stored.user_id != created.user_id || stored.plan_code != created.plan_code {
                    return Err(IdentityError::Conflict(format!(
                        "subscription {} exists with another user or plan",
                        stored.subscription_id
                    )));
                }
                let unchanged = Update {
                    value: None,
                    events: Vec::new(),
                    then: Ok(()),
                };
                Ok((unchanged, Some(stored)))
            })
            .await?;
        if let Some(stored) = existing {
            return Ok((stored, false));
        }
        tracing::info!(subscription_id = %subscription.subscription_id, user_id = %subscription.user_id, plan = %subscription.plan_code, "subscription created");
        Ok((subscription, true))
    }

    /// Cancels a subscription, access running until `effective_until`; publishes
    /// `subscription.cancelled`.
    pub async fn cancel_subscription(
        &self,
        actor: &Actor,
        subscription_id: &str,
        reason: &str,
        effective_until: DateTime<Utc>,
    ) -> Result<Subscription, IdentityError> {
        check_reason("reason", reason)?;
        let reason = reason.trim().to_string();
        let subscription = self
            .change_subscription(actor, subscription_id, move |subscription, now| {
                let previous = subscription.cancel(effective_until, now)?;
                Ok((
                    SUBSCRIPTION_CANCELLED,
                    to_value(&SubscriptionCancelledPayload {
                        subscription_id: subscription.subscription_id.clone(),
                        user_id: subscription.user_id.clone(),
                        previous_status: previous,
                        cancellation_reason: reason,
                        effective_until,
                        idempotency_key: Some(subscription.subscription_id.clone()),
                    }),
                ))
            })
            .await?;
        tracing::warn!(
            subscription_id = %subscription.subscription_id,
            user_id = %subscription.user_id,
            effective_until = %effective_until,
            "subscription cancelled"
        );
        Ok(subscription)
    }

    /// Moves a subscription to another status; publishes `subscription.status_changed`.
    pub async fn change_subscription_status(
        &self,
        actor: &Actor,
        subscription_id: &str,
        status: SubscriptionStatus,
        reason: &str,
    ) -> Result<Subscription, IdentityError> {
        check_reason("reason", reason)?;
        let reason = reason.trim().to_string();
        let subscription = self
            .change_subscription(actor, subscription_id, move |subscription, now| {
                let previous = subscription.change_status(status, now)?;
                Ok((
                    SUBSCRIPTION_STATUS_CHANGED,
                    to_value(&SubscriptionStatusChangedPayload {
                        subscription_id: subscription.subscription_id.clone(),
                        user_id: subscription.user_id.clone(),
                        previous_status: previous,
                        new_status: status,
                        transition_reason: reason,
                        idempotency_key: Some(subscription.subscription_id.clone()),
                    }),
                ))
            })
            .await?;
        tracing::info!(
            subscription_id = %subscription.subscription_id,
            status = %status_word(subscription.status),
            "subscription status changed"
        );
        Ok(subscription)
    }

    /// A subscription the actor may see.
    pub async fn subscription(
        &self,
        actor: &Actor,
        subscription_id: &str,
    ) -> Result<Subscription, IdentityError> {
        let subscription_id = check_uuid("subscription_id", subscription_id)?;
        let stored = self
            .store
            .get(RecordKind::Subscription, &subscription_id)
            .await?
            .map(|bytes| from_json::<Subscription>(&bytes))
            .transpose()?;
        match stored {
            Some(subscription) if actor.admin || subscription.user_id == actor.user_id => {
                Ok(subscription)
            }
            _ => Err(not_found(&subscription_id)),
        }
    }

    /// Applies `change` to a subscription the actor owns (or any, for an admin) and
    /// commits it with the event it returns.
    async fn change_subscription<F>(
        &self,
        actor: &Actor,
        subscription_id: &str,
        change: F,
    ) -> Result<Subscription, IdentityError>
    where
        F: FnOnce(&mut Subscription, DateTime<Utc>) -> Result<(&'static str, Value), IdentityError>
            + Send
            + 'static,
    {
        let subscription_id = check_uuid("subscription_id", subscription_id)?;
        let actor = actor.clone();
        let this = self.clone();
        let id = subscription_id.clone();
        self.change(RecordKind::Subscription, &subscription_id, move |current| {
            let mut subscription: Subscription = match current {
                Some(current) => from_json(current)?,
                None => return Err(not_found(&id)),
            };
            if !actor.admin && subscription.user_id != actor.user_id {
                return Err(not_found(&id));
            }
            let (event_type, payload) = change(&mut subscription, Utc::now())?;
            let events = this.events_of_value(event_type, &subscription.user_id, payload)?;
            Ok((Update::write(to_json(&subscription), events), subscription))
        })
        .await
    }

    /// Runs `decide` over the record `key` of `kind` in one store transaction
    /// ([`IdentityStore::update`]): the value and events it returns are committed
    /// together, then the relay is woken; returns what `decide` handed back beside them.
    async fn change<T: Send + 'static>(
        &self,
        kind: RecordKind,
        key: &str,
        decide: impl FnOnce(Option<&[u8]>) -> Result<(Update, T), IdentityError> + Send + 'static,
    ) -> Result<T, IdentityError> {
        let handed = Arc::new(std::sync::Mutex::new(None));
        let hand = handed.clone();
        let ids = self
            .store
            .update(
                kind,
                key,
                Box::new(move |current| {
                    let (update, value) = decide(current)?;
                    *hand.lock().expect("never poisoned") = Some(value);
                    Ok(update)
                }),
            )
            .await?;
        if !ids.is_empty() {
            self.relay.notify_one();
        }
        Ok(handed
            .lock()
            .expect("never poisoned")
            .take()
            .expect("a committed change has decided"))
    }

    fn verification_events(
        &self,
        account: &Account,
        code: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<Vec<OutboxEvent>, IdentityError> {
        let payload = EmailVerificationPayload {
            user_id: account.user_id.clone(),
            recipient: account.email.clone(),
            otp_code: code.to_string(),
            locale: account.locale.as_str().to_string(),
            expires_at,
        };
        self.events(EMAIL_VERIFICATION_REQUESTED, &account.user_id, &payload)
    }

    fn events<T: Serialize>(
        &self,
        event_type: &str,
        user_id: &str,
        payload: &T,
    ) -> Result<Vec<OutboxEvent>, IdentityError> {
        self.events_of_value(event_type, user_id, to_value(payload))
    }

    /// The outbox rows of the prepared event and, with dual publish on, its legacy copy
    /// ([`prepare_events`]).
    fn events_of_value(
        &self,
        event_type: &str,
        user_id: &str,
        payload: Value,
    ) -> Result<Vec<OutboxEvent>, IdentityError> {
        let outbounds = prepare_events(
            &self.registry,
            self.settings().dual_publish,
            event_type,
            user_id,
            payload,
        )?;
        Ok(outbounds
            .iter()
            .map(|outbound| OutboxEvent {
                partition_key: outbound.partition_key.clone(),
                payload: serde_json::to_vec(outbound).expect("an Outbound always serializes"),
            })
            .collect())
    }
}

/// An identity event of `event_type` for `user_id`, checked against its contract and
/// prepared for the bus, followed by its legacy copy for [`LEGACY_EXCHANGE`] when
/// `dual_publish` is on: what one identity change publishes.
pub fn prepare_events(
    registry: &Registry,
    dual_publish: bool,
    event_type: &str,
    user_id: &str,
    payload: Value,
) -> Result<Vec<Outbound>, IdentityError> {
    let mut envelope = Envelope::new(event_type, SOURCE, payload);
    envelope.userid = Some(user_id.to_string());
    let outbound = registry.prepare(&envelope).map_err(|err| {
        IdentityError::store(
            format!("the {event_type} event breaks its contract: {err}"),
            false,
        )
    })?;
    let mut outbounds = vec![outbound];
    if dual_publish {
        outbounds.push(legacy::copy(&envelope, &outbounds[0]));
    }
    Ok(outbounds)
}

fn not_found(subscription_id: &str) -> IdentityError {
    IdentityError::NotFound(format!("no subscription {subscription_id}"))
}

fn to_value<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("identity records always serialize")
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("identity records always serialize")
}

fn from_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, IdentityError> {
    serde_json::from_slice(bytes).map_err(|err| {
        IdentityError::store(format!("a stored identity record is damaged: {err}"), false)
    })
}
