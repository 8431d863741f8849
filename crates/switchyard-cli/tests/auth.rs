//! Credentials end to end, on the real binary: the token commands, a user token that
//! imports its own mail through a running server (a message over the 256 KiB event
//! limit included, by claim check) but not another user's, and JWTs checked with the
//! `[auth.jwt]` configuration.

mod support;

use std::path::Path;

use serde_json::json;
use support::{Server, binary, create_token, run, stdout};

#[test]
fn tokens_are_created_listed_and_revoked_without_their_secret_on_disk() {
    let data = tempfile::tempdir().unwrap();
    let token = create_token(data.path(), "alice", "read");
    let id = token.split('_').nth(1).unwrap().to_string();

    let listed = stdout(&run(data.path(), &["token", "list"]));
    let entry: serde_json::Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(
        (
            entry["id"].as_str(),
            entry["user_id"].as_str(),
            entry["scope"].as_str()
        ),
        (Some(id.as_str()), Some("alice"), Some("read"))
    );
    let on_disk = std::fs::read_to_string(data.path().join("auth/tokens.json")).unwrap();
    assert!(!on_disk.contains(&token), "the token is stored in clear");

    let bad_user = run(data.path(), &["token", "create", "--user", "a/b"]);
    assert!(!bad_user.status.success());
    assert!(String::from_utf8_lossy(&bad_user.stderr).contains("'/'"));

    let server = Server::start(data.path());
    assert_eq!(server.get_as(&token, "/v1/shipments").0, 200);
    let revoked = run(data.path(), &["token", "revoke", &id]);
    assert!(revoked.status.success(), "{revoked:?}");
    assert_eq!(
        server.get_as(&token, "/v1/shipments").0,
        401,
        "revoked while serving"
    );
    let again = run(data.path(), &["token", "revoke", &id]);
    assert!(!again.status.success());
}

/// An email whose body alone is over the 256 KiB event limit.
fn large_email(dir: &Path) {
    let body = "The zeppelin manifest, line after line. ".repeat(10_000);
    let text = format!(
        "From: Ann <ann@example.com>\r\nTo: carol@example.com\r\nSubject: Zeppelin manifest\r\n\
         Date: Mon, 4 Mar 2024 10:00:00 +0000\r\nMessage-ID: <large-1@example.com>\r\n\r\n{body}\r\n"
    );
    assert!(text.len() > 300 * 1024);
    std::fs::write(dir.join("large.eml"), text).unwrap();
    std::fs::write(
        dir.join("small.eml"),
        "From: Ann <ann@example.com>\r\nTo: carol@example.com\r\nSubject: Zeppelin dinner\r\n\
         Date: Mon, 4 Mar 2024 11:00:00 +0000\r\nMessage-ID: <small-1@example.com>\r\n\r\nSee you.\r\n",
    )
    .unwrap();
}

#[test]
fn a_user_token_imports_its_own_mail_through_the_server_large_items_included() {
    let data = tempfile::tempdir().unwrap();
    let folder = tempfile::tempdir().unwrap();
    large_email(folder.path());
    let server = Server::start(data.path());
    let carol = server.token("carol", "write");
    let listen = server.base_url.trim_start_matches("http://").to_string();
    let import = |user: &str| {
        binary()
            .args(["import", folder.path().to_str().unwrap(), "--user", user])
            .args(["--server", &server.base_url, "--data-dir"])
            .arg(data.path())
            .env("SWITCHYARD_LISTEN", &listen)
            .env("SWITCHYARD_TOKEN", &carol)
            .output()
            .unwrap()
    };
    let own = import("carol");
    assert!(
        own.status.success(),
        "{}",
        String::from_utf8_lossy(&own.stderr)
    );
    assert!(
        stdout(&own).starts_with("imported 2, rejected 0"),
        "{}",
        stdout(&own)
    );
    server.wait_until_indexed();
    let (_, body) = server.get_as(&carol, "/v1/search?q=zeppelin&type=email");
    let mut subjects: Vec<&str> = body["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| hit["title"].as_str().unwrap_or_default())
        .collect();
    subjects.sort();
    assert_eq!(subjects, ["Zeppelin dinner", "Zeppelin manifest"], "{body}");

    let other = import("dave");
    assert!(!other.status.success(), "carol imported dave's data");
    assert!(
        String::from_utf8_lossy(&other.stderr).contains("403"),
        "{}",
        String::from_utf8_lossy(&other.stderr)
    );
}

#[test]
fn jwts_of_the_configured_issuer_are_principals() {
    const SECRET: &str = "an HS256 secret of at least thirty-two bytes";
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "version = 1\n[auth.jwt]\nissuer = \"https://id.example.com/\"\naudience = \"switchyard\"\nalgorithm = \"HS256\"\n",
    )
    .unwrap();
    let server = Server::start_with_env(
        data.path(),
        &["--config", config.to_str().unwrap()],
        &[("SWITCHYARD_JWT_SECRET", SECRET)],
    );
    let jwt = |claims: serde_json::Value, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let now = chrono_now();
    let claims = |sub: &str, exp: i64| json!({"iss": "https://id.example.com/", "aud": "switchyard", "sub": sub, "exp": exp});
    let erin = jwt(claims("erin", now + 600), SECRET);
    assert_eq!(server.get_as(&erin, "/v1/contacts").0, 200);
    assert_eq!(server.get_as(&erin, "/v1/contacts?user=frank").0, 403);
    assert_eq!(server.get_as(&erin, "/v1/status").0, 403, "not an admin");
    let expired = jwt(claims("erin", now - 3600), SECRET);
    assert_eq!(server.get_as(&expired, "/v1/contacts").0, 401);
    let forged = jwt(
        claims("erin", now + 600),
        "another secret of thirty-two bytes or more",
    );
    assert_eq!(server.get_as(&forged, "/v1/contacts").0, 401);
    let mut admin = claims("ops", now + 600);
    admin["scope"] = json!("switchyard:admin");
    assert_eq!(server.get_as(&jwt(admin, SECRET), "/v1/status").0, 200);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
