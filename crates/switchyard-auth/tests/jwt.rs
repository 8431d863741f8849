//! JWT verification against a JWKS file, a JWKS URL (served locally) and an HS256 secret:
//! good tokens become principals, and expired, forged, foreign and malformed ones are
//! refused.

use std::path::PathBuf;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use switchyard_auth::{
    AuthError, Authenticator, Credential, JwtConfig, JwtVerifier, Scope, TokenStore,
};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn config(algorithm: Algorithm) -> JwtConfig {
    serde_json::from_value(json!({
        "issuer": "https://id.example.com/",
        "audience": "switchyard",
        "algorithm": format!("{algorithm:?}"),
    }))
    .unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(sub: &str, exp_in: i64) -> Value {
    json!({"iss": "https://id.example.com/", "aud": "switchyard", "sub": sub, "exp": now() + exp_in, "iat": now()})
}

fn rs256(claims: &Value, kid: Option<&str>) -> String {
    let key =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-private.pem")).unwrap()).unwrap();
    let mut header = Header::new(Algorithm::RS256);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn rs256_tokens_from_a_jwks_file() {
    let mut config = config(Algorithm::RS256);
    config.jwks_file = Some(fixture("jwks.json"));
    let verifier = JwtVerifier::load(config, None).await.unwrap();

    let principal = verifier
        .verify(&rs256(&claims("alice", 600), Some("test-key-1")))
        .unwrap();
    assert_eq!(principal.user_id, "alice");
    assert_eq!(principal.scope, Scope::Write, "default scope");
    assert_eq!(
        principal.credential,
        Credential::Jwt("https://id.example.com/".into())
    );

    let mut admin = claims("ops", 600);
    admin["scope"] = json!("openid switchyard:read switchyard:admin");
    assert_eq!(
        verifier
            .verify(&rs256(&admin, Some("test-key-1")))
            .unwrap()
            .scope,
        Scope::Admin
    );
    let mut read = claims("bob", 600);
    read["scope"] = json!(["switchyard:read"]);
    assert_eq!(
        verifier.verify(&rs256(&read, None)).unwrap().scope,
        Scope::Read
    );

    let refused = |token: String, why: &str| {
        let err = verifier.verify(&token).unwrap_err();
        assert!(matches!(err, AuthError::Invalid(_)), "{why}: {err}");
        err.to_string()
    };
    let expired = refused(
        rs256(&claims("alice", -3600), Some("test-key-1")),
        "expired",
    );
    assert!(expired.contains("Expired"), "{expired}");
    let mut early = claims("alice", 7200);
    early["nbf"] = json!(now() + 3600);
    refused(rs256(&early, Some("test-key-1")), "not yet valid");
    let mut foreign = claims("alice", 600);
    foreign["iss"] = json!("https://evil.example.com/");
    refused(rs256(&foreign, Some("test-key-1")), "issuer");
    let mut other_audience = claims("alice", 600);
    other_audience["aud"] = json!("another-app");
    refused(rs256(&other_audience, Some("test-key-1")), "audience");
    refused(rs256(&claims("alice", 600), Some("unknown-kid")), "kid");
    refused(rs256(&claims("a:b", 600), Some("test-key-1")), "user id");
    let mut no_sub = claims("alice", 600);
    no_sub.as_object_mut().unwrap().remove("sub");
    refused(rs256(&no_sub, Some("test-key-1")), "sub");

    // Signed with the right algorithm by a key the JWKS does not hold.
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("alice", 600),
        &EncodingKey::from_secret(&[7; 32]),
    )
    .unwrap();
    refused(forged, "algorithm switch");
    let good = rs256(&claims("alice", 600), Some("test-key-1"));
    let (head, _) = good.rsplit_once('.').unwrap();
    refused(format!("{head}.AAAA"), "signature");
}

#[tokio::test]
async fn hs256_tokens_with_a_secret_and_a_custom_user_claim() {
    let secret = [42u8; 32];
    let mut config = config(Algorithm::HS256);
    config.user_claim = "uid".into();
    let verifier = JwtVerifier::load(config.clone(), Some(&secret))
        .await
        .unwrap();
    let mut body = claims("ignored", 600);
    body["uid"] = json!("carol");
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &body,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap();
    assert_eq!(verifier.verify(&token).unwrap().user_id, "carol");
    let other = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &body,
        &EncodingKey::from_secret(&[1u8; 32]),
    )
    .unwrap();
    assert!(verifier.verify(&other).is_err());
    assert!(JwtVerifier::load(config, Some(b"short")).await.is_err());

    // Through the authenticator, beside API tokens.
    let dir = tempfile::tempdir().unwrap();
    let authenticator = Authenticator::new(
        TokenStore::in_data_dir(dir.path()),
        Some(Arc::new(verifier)),
    );
    assert_eq!(authenticator.authenticate(&token).unwrap().user_id, "carol");
    assert_eq!(authenticator.authenticate(""), Err(AuthError::Missing));
    assert!(authenticator.authenticate("garbage").is_err());
}

#[tokio::test]
async fn keys_from_a_jwks_url() {
    // The binary's TLS provider, which its `main` installs.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let jwks = std::fs::read_to_string(fixture("jwks.json")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || async move { jwks }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let mut config = config(Algorithm::RS256);
    config.jwks_url = Some(url);
    let verifier = Arc::new(JwtVerifier::load(config, None).await.unwrap());
    JwtVerifier::spawn_refresh(&verifier);
    let principal = verifier
        .verify(&rs256(&claims("dora", 600), Some("test-key-1")))
        .unwrap();
    assert_eq!(principal.user_id, "dora");

    let mut missing = self::config(Algorithm::RS256);
    missing.jwks_url = Some("http://127.0.0.1:9/none".into());
    let err = JwtVerifier::load(missing, None).await.unwrap_err();
    assert!(err.contains("failed to fetch the JWKS"), "{err}");
}
