//! Connecting, using and disconnecting accounts against a local fake token endpoint that
//! answers as the Microsoft identity platform documents it: refresh tokens rotate, access
//! tokens are cached until five minutes before expiry, a refused grant marks the
//! integration `needs_reauth` for good, credentials rest sealed, and each user sees only
//! their own integrations.

mod support;

use std::sync::Arc;

use support::Fake;
use switchyard_auth::{SecretKeys, SecretString};
use switchyard_integrations::{
    ConnectRequest, Connector, DataType, Grant, IntegrationErrorKind, IntegrationState,
    IntegrationStore, Provider, ProviderEndpoints, RedbIntegrationStore,
};

struct Setup {
    fake: Arc<Fake>,
    connector: Connector,
    store: Arc<RedbIntegrationStore>,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let fake = support::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let (connector, store) = support::connector(&fake, dir.path());
    Setup {
        fake,
        connector,
        store,
        dir,
    }
}

fn request(refresh_token: &str) -> ConnectRequest {
    ConnectRequest {
        provider: Provider::Microsoft,
        grant: Grant::RefreshToken(SecretString::new(refresh_token)),
        data_types: vec![DataType::Emails, DataType::Calendars, DataType::Emails],
    }
}

#[tokio::test]
async fn connected_accounts_rotate_tokens_and_rest_sealed() {
    let Setup {
        fake,
        connector,
        store,
        dir,
    } = setup().await;
    let integration = connector
        .connect("alice", request("user-given-token"))
        .await
        .unwrap();
    assert_eq!(integration.state, IntegrationState::Active);
    assert_eq!(
        integration.data_types,
        [DataType::Emails, DataType::Calendars]
    );

    // The token from connecting is used until it nears its expiry.
    let token = connector
        .access_token("alice", &integration.id)
        .await
        .unwrap();
    assert_eq!(token.expose(), "access-1");
    assert_eq!(fake.seen.lock().unwrap().len(), 1);

    // Near expiry, the rotated refresh token (not the first one) is presented.
    *fake.lifetime_secs.lock().unwrap() = 60;
    let other = connector.connect("alice", request("second")).await.unwrap();
    for expected in ["access-3", "access-4"] {
        let token = connector.access_token("alice", &other.id).await.unwrap();
        assert_eq!(token.expose(), expected);
    }
    assert_eq!(
        fake.seen.lock().unwrap().as_slice(),
        ["user-given-token", "second", "refresh-2", "refresh-3"]
    );

    // No credential rests in the clear.
    let file = std::fs::read(dir.path().join("integrations.redb")).unwrap();
    for secret in ["user-given-token", "refresh-1", "refresh-4", "access-"] {
        assert!(
            !file
                .windows(secret.len())
                .any(|window| window == secret.as_bytes()),
            "{secret} is stored in the clear"
        );
    }

    // Only the owner sees them.
    assert_eq!(connector.list("alice").await.unwrap().len(), 2);
    assert!(connector.list("bob").await.unwrap().is_empty());
    let error = connector
        .access_token("bob", &integration.id)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), IntegrationErrorKind::NotFound);
    assert_eq!(
        connector
            .get("bob", &integration.id)
            .await
            .unwrap_err()
            .kind(),
        IntegrationErrorKind::NotFound
    );

    let gone = connector
        .disconnect("alice", &integration.id)
        .await
        .unwrap();
    assert_eq!(gone.id, integration.id);
    assert_eq!(
        store
            .get("alice", &integration.id)
            .await
            .unwrap_err()
            .kind(),
        IntegrationErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_refused_grant_needs_reauth_and_is_not_retried() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    *fake.lifetime_secs.lock().unwrap() = 60;
    let integration = connector.connect("alice", request("first")).await.unwrap();
    fake.revoked.lock().unwrap().push("refresh-1".into());

    let error = connector
        .access_token("alice", &integration.id)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), IntegrationErrorKind::NeedsReauth);
    assert!(error.to_string().contains("AADSTS50173"), "{error}");
    let stored = connector.get("alice", &integration.id).await.unwrap();
    assert_eq!(stored.state, IntegrationState::NeedsReauth);
    assert!(stored.state_reason.unwrap().contains("invalid_grant"));

    // Asked again: refused at once, without calling the provider.
    let calls = fake.seen.lock().unwrap().len();
    let error = connector
        .access_token("alice", &integration.id)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), IntegrationErrorKind::NeedsReauth);
    assert_eq!(fake.seen.lock().unwrap().len(), calls);
}

#[tokio::test]
async fn bad_requests_are_refused_at_connect_time() {
    let Setup {
        fake, connector, ..
    } = setup().await;
    fake.revoked.lock().unwrap().push("stale".into());
    let error = connector
        .connect("alice", request("stale"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), IntegrationErrorKind::Invalid);
    assert!(
        error.to_string().starts_with("the grant was refused: "),
        "{error}"
    );

    let mut empty = request("good");
    empty.data_types.clear();
    let error = connector.connect("alice", empty).await.unwrap_err();
    assert_eq!(error.kind(), IntegrationErrorKind::Invalid);

    let dir = tempfile::tempdir().unwrap();
    let (keys, _) = SecretKeys::in_data_dir(dir.path()).unwrap();
    let unconfigured = Connector::new(
        Arc::new(RedbIntegrationStore::open(dir.path()).unwrap()),
        Arc::new(keys),
        ProviderEndpoints::default(),
    );
    let error = unconfigured
        .connect("alice", request("good"))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("SWITCHYARD_MICROSOFT_CLIENT_ID"),
        "{error}"
    );
    assert!(connector.list("alice").await.unwrap().is_empty());
}
