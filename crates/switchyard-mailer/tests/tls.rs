//! The mailer over TLS against aiosmtpd with a certificate from a CA made for the test:
//! implicit TLS (`smtps://`) with the CA in `ca_file` delivers, and without it the server
//! is refused (a retry, nothing sent); `STARTTLS` with the login from the credentials
//! delivers encrypted and authenticated, and a wrong password is a permanent failure.

use anyhow::Context;
use switchyard_contracts::Envelope;
use switchyard_contracts::identity::{EMAIL_VERIFICATION_REQUESTED, EmailVerificationPayload};
use switchyard_mailer::{Mailer, MailerConfig, SinkOptions, SinkTls, SmtpCredentials, SmtpSink};
use switchyard_runtime::{Handler, Incoming, Outcome};

/// What the mailer's handler makes of one verification event sent with `config`.
async fn send(config: &MailerConfig, otp_code: &str) -> anyhow::Result<Outcome> {
    let payload = EmailVerificationPayload {
        user_id: "u-1".into(),
        recipient: "carol@example.com".into(),
        otp_code: otp_code.into(),
        locale: "en".into(),
        expires_at: "2031-03-01T10:15:00Z".parse()?,
    };
    let envelope = Envelope::new(
        EMAIL_VERIFICATION_REQUESTED,
        "/tests/identity",
        serde_json::to_value(payload)?,
    );
    let mailer = Mailer::new(config)?;
    let event = mailer.decode(&envelope)?;
    let mut outcomes = mailer
        .handle(vec![Incoming::new(event, envelope.id.clone())])
        .await;
    outcomes.pop().context("one outcome per event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_trusts_the_private_ca_and_refuses_the_server_without_it() -> anyhow::Result<()>
{
    let sink = SmtpSink::start_with(SinkOptions {
        tls: Some(SinkTls::Implicit),
        login: None,
    })
    .await?;
    let config = sink.mailer_config();
    assert!(
        config.smtp_url.starts_with("smtps://"),
        "{}",
        config.smtp_url
    );
    assert_eq!(send(&config, "610061").await?, Outcome::Done);
    let attempts = sink.attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].tls, "{attempts:?}");
    let mails = sink.messages();
    assert!(mails[0].text().unwrap_or_default().contains("610061"));

    let without_ca = MailerConfig {
        ca_file: None,
        ..config
    };
    match send(&without_ca, "620062").await? {
        Outcome::Retry(reason) => assert!(reason.contains("certificate"), "{reason}"),
        other => panic!("an untrusted server should be retried later, got {other:?}"),
    }
    assert_eq!(
        sink.attempts().len(),
        1,
        "a message went to an untrusted server"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_the_login_delivers_and_a_wrong_password_fails_for_good() -> anyhow::Result<()>
{
    let sink = SmtpSink::start_with(SinkOptions {
        tls: Some(SinkTls::Starttls),
        login: Some(("mailer".into(), "s3cret".into())),
    })
    .await?;
    let config = sink.mailer_config();
    assert!(
        config.smtp_url.starts_with("smtp://"),
        "{}",
        config.smtp_url
    );
    assert_eq!(send(&config, "630063").await?, Outcome::Done);
    let attempts = sink.attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(attempts[0].tls && attempts[0].authenticated, "{attempts:?}");

    let wrong = config.with_credentials(SmtpCredentials::new("mailer", "guess"));
    match send(&wrong, "640064").await? {
        Outcome::Fail(reason) => {
            assert!(reason.contains("535"), "{reason}");
            assert!(!reason.contains("guess"), "{reason}");
        }
        other => panic!("a refused login is permanent, got {other:?}"),
    }
    assert_eq!(sink.attempts().len(), 1);
    Ok(())
}
