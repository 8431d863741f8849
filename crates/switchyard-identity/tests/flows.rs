//! The identity flows end to end on the embedded engines, with the outbox relay woken by
//! each commit: what a registration commits and publishes (the code in the event verifies
//! the account), each way a code is refused, dual publish on and off, no relay running
//! (the event waits in the outbox, committed with the account), and the subscription
//! lifecycle with its events.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use switchyard_bus::{Broker, EmbeddedBroker, SubscriptionConfig};
use switchyard_contracts::identity::SubscriptionStatus;
use switchyard_contracts::{Envelope, Registry};
use switchyard_identity::{
    Actor, CodeRefusal, EmbeddedIdentityStore, Identity, IdentityError, IdentitySettings,
    LEGACY_EXCHANGE, LegacyMessage, NewSubscription,
};
use switchyard_runtime::{OutboxRelay, Publisher};
use switchyard_state::{EmbeddedState, Outbox};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

struct Fixture {
    _dir: tempfile::TempDir,
    broker: Arc<EmbeddedBroker>,
    state: Arc<EmbeddedState>,
    identity: Identity,
    /// Stops the relay when the test ends.
    _relay: tokio_util::sync::DropGuard,
}

const TOPICS: [(&str, &str); 5] = [
    ("mailer", "email.verification.requested"),
    ("legacy", LEGACY_EXCHANGE),
    ("created", "subscription.created"),
    ("cancelled", "subscription.cancelled"),
    ("changed", "subscription.status_changed"),
];

/// The flows with a relay publishing what they commit (or none: `relay` false).
async fn fixture(settings: IdentitySettings) -> Fixture {
    fixture_with(settings, true).await
}

async fn fixture_with(settings: IdentitySettings, relay: bool) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let broker = Arc::new(EmbeddedBroker::open(&dir.path().join("bus")).unwrap());
    for (name, topic) in TOPICS {
        broker
            .ensure_subscription(&SubscriptionConfig::new(name, topic))
            .await
            .unwrap();
    }
    let state = Arc::new(EmbeddedState::open(&dir.path().join("state")).unwrap());
    let registry = Arc::new(Registry::standard());
    let wake = Arc::new(Notify::new());
    let identity = Identity::new(
        Arc::new(EmbeddedIdentityStore::new(state.clone())),
        registry.clone(),
        settings,
    )
    .with_relay_wake(wake.clone());
    let shutdown = CancellationToken::new();
    if relay {
        let relay = OutboxRelay::new(state.clone(), Publisher::new(broker.clone(), registry), 100)
            .with_wake(wake);
        // A long idle pause: only the wake can make the events leave in time.
        tokio::spawn(relay.run(shutdown.child_token(), Duration::from_secs(60)));
    }
    Fixture {
        _dir: dir,
        broker,
        state,
        identity,
        _relay: shutdown.drop_guard(),
    }
}

impl Fixture {
    /// Every message of `subscription` until none comes for a moment, acked.
    async fn take(&self, subscription: &str) -> Vec<(Vec<(String, String)>, Value)> {
        let mut taken = Vec::new();
        loop {
            let deliveries = self
                .broker
                .fetch(subscription, 100, Duration::from_millis(300))
                .await
                .unwrap();
            if deliveries.is_empty() {
                return taken;
            }
            let tags: Vec<_> = deliveries.iter().map(|delivery| delivery.tag).collect();
            self.broker.ack(subscription, &tags).await.unwrap();
            taken.extend(deliveries.into_iter().map(|delivery| {
                (
                    delivery.message.headers,
                    serde_json::from_slice(&delivery.message.payload).unwrap(),
                )
            }));
        }
    }

    /// The verification events waiting, as envelopes.
    async fn mails(&self) -> Vec<Envelope> {
        self.take("mailer")
            .await
            .into_iter()
            .map(|(_, body)| Envelope::from_json_value(body).unwrap())
            .collect()
    }
}

fn code_of(envelope: &Envelope) -> String {
    envelope.data.as_ref().unwrap()["otp_code"]
        .as_str()
        .unwrap()
        .to_string()
}

fn other_code(code: &str) -> String {
    if code == "000000" { "111111" } else { "000000" }.to_string()
}

#[tokio::test]
async fn a_registration_mails_the_code_that_verifies_it() {
    let f = fixture(IdentitySettings::default()).await;
    let registered = f
        .identity
        .register(" Alice@Example.com", "correct horse 9", "vi")
        .await
        .unwrap();
    assert_eq!(registered.email, "alice@example.com");

    let mails = f.mails().await;
    assert_eq!(mails.len(), 1, "one event per registration");
    let mail = &mails[0];
    assert_eq!(mail.event_type, "email.verification.requested");
    assert_eq!(mail.userid.as_deref(), Some(registered.user_id.as_str()));
    let data = mail.data.as_ref().unwrap();
    assert_eq!(data["recipient"], "alice@example.com");
    assert_eq!(data["locale"], "vi");
    assert_eq!(data["user_id"], registered.user_id.as_str());
    let code = code_of(mail);
    assert!(
        code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    let expires_at: chrono::DateTime<Utc> =
        serde_json::from_value(data["expires_at"].clone()).unwrap();
    let lifetime = expires_at - Utc::now();
    assert!(
        lifetime > chrono::Duration::minutes(9) && lifetime <= chrono::Duration::minutes(10),
        "{lifetime}"
    );
    assert_eq!(expires_at, registered.expires_at);

    // The legacy copy: the same event, in the legacy shape.
    let legacy = f.take("legacy").await;
    assert_eq!(legacy.len(), 1);
    let copy: LegacyMessage = serde_json::from_value(legacy[0].1.clone()).unwrap();
    assert_eq!(copy.event_id, mail.id);
    assert_eq!(copy.event_type, "email.verification.requested");
    assert_eq!(copy.data["otp_code"], code.as_str());

    // Published by the woken relay and marked sent: nothing left.
    assert_eq!(f.state.pending_count().await.unwrap(), 0);

    let user_id = f.identity.verify("alice@example.com", &code).await.unwrap();
    assert_eq!(user_id, registered.user_id);
    assert!(matches!(
        f.identity.verify("alice@example.com", &code).await,
        Err(IdentityError::Code(CodeRefusal::AlreadyVerified))
    ));
    // A second registration of the address is refused and publishes nothing.
    assert!(matches!(
        f.identity
            .register("alice@example.com", "another pass 1", "en")
            .await,
        Err(IdentityError::Conflict(_))
    ));
    assert!(f.mails().await.is_empty());
}

#[tokio::test]
async fn a_code_is_refused_when_wrong_expired_or_tried_too_often() {
    let f = fixture(IdentitySettings {
        code_lifetime: chrono::Duration::seconds(1),
        ..IdentitySettings::default()
    })
    .await;
    f.identity
        .register("bob@example.com", "correct horse 9", "en")
        .await
        .unwrap();
    f.identity
        .register("carol@example.com", "correct horse 9", "en")
        .await
        .unwrap();
    let mails = f.mails().await;
    let code = |address: &str| {
        mails
            .iter()
            .find(|mail| mail.data.as_ref().unwrap()["recipient"] == address)
            .map(code_of)
            .unwrap()
    };
    let (bob, carol) = (code("bob@example.com"), code("carol@example.com"));

    assert!(matches!(
        f.identity
            .verify("bob@example.com", &other_code(&bob))
            .await,
        Err(IdentityError::Code(CodeRefusal::Wrong { attempts_left: 4 }))
    ));
    for _ in 0..switchyard_identity::MAX_ATTEMPTS {
        let _ = f
            .identity
            .verify("carol@example.com", &other_code(&carol))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(matches!(
        f.identity.verify("bob@example.com", &bob).await,
        Err(IdentityError::Code(CodeRefusal::Expired))
    ));
    assert!(matches!(
        f.identity.verify("carol@example.com", &carol).await,
        Err(IdentityError::Code(CodeRefusal::TooManyAttempts))
    ));
    assert!(matches!(
        f.identity.verify("nobody@example.com", "123456").await,
        Err(IdentityError::Code(CodeRefusal::Wrong { attempts_left: 0 }))
    ));
    assert!(matches!(
        f.identity.verify("bob@example.com", "12345").await,
        Err(IdentityError::Invalid { field: "otp", .. })
    ));
    // A new code is limited to one a minute.
    assert!(matches!(
        f.identity.resend("bob@example.com").await,
        Err(IdentityError::RateLimited { .. })
    ));
    assert!(matches!(
        f.identity.resend("nobody@example.com").await,
        Err(IdentityError::NotFound(_))
    ));
}

#[tokio::test]
async fn without_dual_publish_nothing_reaches_the_legacy_exchange() {
    let f = fixture(IdentitySettings {
        dual_publish: false,
        ..IdentitySettings::default()
    })
    .await;
    f.identity
        .register("dave@example.com", "correct horse 9", "en")
        .await
        .unwrap();
    assert_eq!(f.mails().await.len(), 1);
    assert!(f.take("legacy").await.is_empty());
}

#[tokio::test]
async fn without_a_relay_the_event_waits_in_the_outbox() {
    let f = fixture_with(IdentitySettings::default(), false).await;
    let registered = f
        .identity
        .register("erin@example.com", "correct horse 9", "en")
        .await
        .expect("the account is stored with no relay running");
    // The event and its legacy copy wait, committed with the account.
    assert_eq!(f.state.pending_count().await.unwrap(), 2);
    assert!(f.mails().await.is_empty());

    let relay = OutboxRelay::new(
        f.state.clone(),
        Publisher::new(f.broker.clone(), Arc::new(Registry::standard())),
        100,
    );
    assert_eq!(relay.relay_once().await.unwrap().published, 2);
    let mails = f.mails().await;
    assert_eq!(mails.len(), 1);
    assert_eq!(
        mails[0].data.as_ref().unwrap()["user_id"],
        registered.user_id.as_str()
    );
    assert_eq!(f.take("legacy").await.len(), 1);
    f.identity
        .verify("erin@example.com", &code_of(&mails[0]))
        .await
        .unwrap();
}

#[tokio::test]
async fn subscriptions_publish_each_change_with_its_idempotency_key() {
    let f = fixture(IdentitySettings::default()).await;
    let owner = Actor {
        user_id: "u-1".into(),
        admin: false,
    };
    let stranger = Actor {
        user_id: "u-2".into(),
        admin: false,
    };
    let now = Utc::now();
    let request = NewSubscription {
        subscription_id: Some("0190f2a0-3b1c-7d2e-8f00-1234567890ab".into()),
        user_id: None,
        plan_code: "pro_monthly".into(),
        status: SubscriptionStatus::Trialing,
        trial_start: Some(now),
        trial_end: Some(now + chrono::Duration::days(14)),
    };
    let (created, fresh) = f
        .identity
        .create_subscription(&owner, request.clone())
        .await
        .unwrap();
    assert!(fresh);
    let id = created.subscription_id.clone();
    // The same request again (a client retrying) changes and publishes nothing.
    let (again, fresh) = f
        .identity
        .create_subscription(&owner, request.clone())
        .await
        .unwrap();
    assert!(!fresh);
    assert_eq!(again, created);
    let events = f.take("created").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["data"]["idempotency_key"], id.as_str());
    assert_eq!(events[0].1["data"]["status"], "trialing");

    assert!(matches!(
        f.identity.subscription(&stranger, &id).await,
        Err(IdentityError::NotFound(_))
    ));
    assert!(matches!(
        f.identity
            .cancel_subscription(&stranger, &id, "user_requested", now)
            .await,
        Err(IdentityError::NotFound(_))
    ));

    let changed = f
        .identity
        .change_subscription_status(&owner, &id, SubscriptionStatus::Active, "trial_ended")
        .await
        .unwrap();
    assert_eq!(changed.status, SubscriptionStatus::Active);
    let events = f.take("changed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["data"]["previous_status"], "trialing");
    assert_eq!(events[0].1["data"]["new_status"], "active");
    assert_eq!(events[0].1["data"]["idempotency_key"], id.as_str());

    assert!(matches!(
        f.identity
            .cancel_subscription(
                &owner,
                &id,
                "user_requested",
                now - chrono::Duration::days(2)
            )
            .await,
        Err(IdentityError::Invalid {
            field: "effective_until",
            ..
        })
    ));
    let until = now + chrono::Duration::days(30);
    let admin = Actor {
        user_id: "ops".into(),
        admin: true,
    };
    let cancelled = f
        .identity
        .cancel_subscription(&admin, &id, "payment_failed", until)
        .await
        .unwrap();
    assert_eq!(cancelled.status, SubscriptionStatus::Cancelled);
    let events = f.take("cancelled").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1["data"]["previous_status"], "active");
    assert_eq!(events[0].1["data"]["cancellation_reason"], "payment_failed");
    // Each subscription event was copied to the legacy exchange too.
    assert_eq!(f.take("legacy").await.len(), 3);

    // Bad input is refused by field, and nothing is published.
    for (request, field) in [
        (
            NewSubscription {
                subscription_id: Some("sub-1".into()),
                ..request.clone()
            },
            "subscription_id",
        ),
        (
            NewSubscription {
                subscription_id: None,
                trial_end: Some(now - chrono::Duration::days(1)),
                ..request.clone()
            },
            "trial_end",
        ),
    ] {
        match f.identity.create_subscription(&owner, request).await {
            Err(IdentityError::Invalid { field: named, .. }) => assert_eq!(named, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let stranger_for_owner = NewSubscription {
        subscription_id: None,
        user_id: Some("u-1".into()),
        ..request
    };
    assert!(matches!(
        f.identity
            .create_subscription(&stranger, stranger_for_owner)
            .await,
        Err(IdentityError::NotFound(_))
    ));
    assert!(f.take("created").await.is_empty());
}
