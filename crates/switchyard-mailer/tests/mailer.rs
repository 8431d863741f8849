//! The mailer end to end on the real runtime (a `Consumer` over the embedded broker and
//! state) and a real SMTP server (aiosmtpd, [`SmtpSink`]): mails arrive in their language
//! with the code and headers; a server refusing with 421 sees the retries 1, 2 and 4 s
//! apart, then the event is in `email.errors` with the error while other mail still
//! arrives; a 550 dead-letters at once; a redelivered event is not mailed twice. Every
//! log line of the process is kept, to check that none holds a code or a whole address.
//!
//! The subscription reads the exact topic `email.verification.requested`: the pattern
//! `email.#` of [`subscriptions`] needs the bus's pattern subscriptions.

use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use anyhow::Context;
use switchyard_bus::{Broker, EmbeddedBroker};
use switchyard_contracts::identity::{EMAIL_VERIFICATION_REQUESTED, EmailVerificationPayload};
use switchyard_contracts::{Envelope, Registry};
use switchyard_mailer::{
    MAILER_DEAD_LETTER_TOPIC, Mailer, Refusal, SinkMail, SmtpSink, metrics_registry,
    subscription_on,
};
use switchyard_runtime::{
    Consumer, DeadLetterEntry, DeadLetterFilter, DeadLetterQueue, FailureKind, Publisher,
    encode_metrics_with,
};
use switchyard_state::{EmbeddedState, StateStore};
use tokio_util::sync::CancellationToken;

const ALICE: &str = "alice@example.com";
const BOB: &str = "bob@example.com";

/// Every log line of this test process.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogBuffer;

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|err| err.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(|| LogBuffer)
            .init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|err| err.into_inner())).into_owned()
}

/// No log line holds one of `codes` or a whole address of the tests.
fn assert_logs_keep_secrets(codes: &[&str]) {
    let logs = logs();
    for secret in codes.iter().chain(&[ALICE, BOB]) {
        assert!(!logs.contains(secret), "`{secret}` logged:\n{logs}");
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    broker: Arc<dyn Broker>,
    publisher: Publisher,
    sink: SmtpSink,
    subscription: String,
    shutdown: CancellationToken,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// A running mailer consumer sending to a fresh sink.
async fn fixture() -> anyhow::Result<Fixture> {
    capture_logs();
    let dir = tempfile::tempdir()?;
    let broker: Arc<dyn Broker> = Arc::new(EmbeddedBroker::open(&dir.path().join("bus"))?);
    let state: Arc<dyn StateStore> = Arc::new(EmbeddedState::open(&dir.path().join("state"))?);
    let registry = Arc::new(Registry::standard());
    let sink = SmtpSink::start().await?;
    let config = sink.mailer_config();
    let mut consumer_config = subscription_on(&config, EMAIL_VERIFICATION_REQUESTED);
    consumer_config.max_wait = Duration::from_millis(50);
    broker
        .ensure_subscription(&consumer_config.subscription)
        .await?;
    let subscription = consumer_config.subscription.name.clone();
    let consumer = Consumer::new(
        broker.clone(),
        state,
        registry.clone(),
        consumer_config,
        Mailer::new(&config)?,
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(consumer.run(shutdown.clone()));
    Ok(Fixture {
        _dir: dir,
        publisher: Publisher::new(broker.clone(), registry),
        broker,
        sink,
        subscription,
        shutdown,
    })
}

fn verification(recipient: &str, locale: &str, otp_code: &str) -> Envelope {
    let payload = EmailVerificationPayload {
        user_id: "u-1".into(),
        recipient: recipient.into(),
        otp_code: otp_code.into(),
        locale: locale.into(),
        expires_at: "2031-03-01T10:15:00Z".parse().expect("a timestamp"),
    };
    Envelope::new(
        EMAIL_VERIFICATION_REQUESTED,
        "/tests/identity",
        serde_json::to_value(payload).expect("payloads serialize"),
    )
}

impl Fixture {
    async fn publish(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let report = self
            .publisher
            .publish(std::slice::from_ref(envelope))
            .await?;
        anyhow::ensure!(report.rejected.is_empty(), "{:?}", report.rejected);
        Ok(())
    }

    async fn dead_letters(&self) -> anyhow::Result<Vec<DeadLetterEntry>> {
        Ok(DeadLetterQueue::new(self.broker.clone())
            .with_topics([MAILER_DEAD_LETTER_TOPIC])
            .list(&DeadLetterFilter::default())
            .await?)
    }

    /// Waits until a dead letter of `event_id` is in `email.errors`.
    async fn dead_letter_of(
        &self,
        event_id: &str,
        timeout: Duration,
    ) -> anyhow::Result<DeadLetterEntry> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let letters = self.dead_letters().await?;
            if let Some(entry) = letters
                .into_iter()
                .find(|entry| entry.letter.event_id.as_deref() == Some(event_id))
            {
                return Ok(entry);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "no dead letter of {event_id} within {timeout:?}; attempts: {:?}",
                self.sink.attempts()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the subscription has nothing left to finish.
    async fn drained(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let stats = self.broker.stats().await?;
            let lag: u64 = stats
                .iter()
                .filter(|stats| stats.name == self.subscription)
                .map(|stats| stats.lag())
                .sum();
            if lag == 0 {
                return Ok(());
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the subscription still has {lag} messages after {timeout:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn mail_to<'a>(mails: &'a [SinkMail], recipient: &str) -> &'a SinkMail {
    mails
        .iter()
        .find(|mail| mail.header("To").as_deref() == Some(recipient))
        .unwrap_or_else(|| panic!("no mail to {recipient}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mails_arrive_in_their_language_with_the_code_expiry_and_headers() -> anyhow::Result<()> {
    let f = fixture().await?;
    let english = verification(ALICE, "en", "482913");
    let vietnamese = verification(BOB, "vi-VN", "775104");
    f.publish(&english).await?;
    f.publish(&vietnamese).await?;
    let mails = f.sink.wait_for_messages(2, Duration::from_secs(20)).await?;
    assert_eq!(mails.len(), 2);

    let en = mail_to(&mails, ALICE);
    assert_eq!(en.subject().as_deref(), Some("Your verification code"));
    assert_eq!(
        en.header("From").as_deref(),
        Some("Switchyard <no-reply@switchyard.test>")
    );
    assert_eq!(
        en.header("X-Event-Id").as_deref(),
        Some(english.id.as_str())
    );
    assert_eq!(en.header("Content-Language").as_deref(), Some("en"));
    let message_id = en.header("Message-ID").context("a Message-ID")?;
    assert!(message_id.contains(&english.id), "{message_id}");
    let text = en.text().context("a text body")?;
    assert!(text.contains("482913"), "{text}");
    assert!(
        text.contains("It expires at 10:15 UTC on 2031-03-01."),
        "{text}"
    );
    assert!(en.html().context("an html body")?.contains("482913"));

    let vi = mail_to(&mails, BOB);
    assert_eq!(vi.subject().as_deref(), Some("Mã xác minh của bạn"));
    assert_eq!(
        vi.header("X-Event-Id").as_deref(),
        Some(vietnamese.id.as_str())
    );
    assert_eq!(vi.header("Content-Language").as_deref(), Some("vi"));
    let text = vi.text().context("a text body")?;
    assert!(text.contains("775104"), "{text}");
    assert!(
        text.contains("Mã hết hạn lúc 10:15 UTC ngày 01/03/2031."),
        "{text}"
    );

    // The envelope sender is the configured one.
    let attempts = f.sink.attempts();
    assert!(
        attempts
            .iter()
            .all(|attempt| attempt.mail_from == "no-reply@switchyard.test" && attempt.code == 250),
        "{attempts:?}"
    );
    let metrics = encode_metrics_with(&[metrics_registry()]);
    assert!(
        metrics.contains("emails_processed_total{language=\"vi\"}"),
        "{metrics}"
    );
    assert!(!metrics.contains("482913") && !metrics.contains("775104"));
    let logs = logs();
    let sent = logs
        .lines()
        .find(|line| line.contains("verification email sent") && line.contains(&english.id))
        .with_context(|| format!("no log line of the sent email:\n{logs}"))?;
    assert!(sent.contains("al***@example.com"), "{sent}");
    assert_logs_keep_secrets(&["482913", "775104"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_421_is_retried_after_1_2_and_4_s_then_dead_lettered_while_other_mail_flows()
-> anyhow::Result<()> {
    let f = fixture().await?;
    f.sink.refuse(Refusal::all(421).to_recipient(ALICE))?;
    let refused = verification(ALICE, "en", "111111");
    f.publish(&refused).await?;
    // Mail to someone else goes through while the first one waits for its retries.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let other = verification(BOB, "en", "222222");
    f.publish(&other).await?;
    let mails = f.sink.wait_for_messages(1, Duration::from_secs(5)).await?;
    assert_eq!(
        mails[0].header("X-Event-Id").as_deref(),
        Some(other.id.as_str())
    );
    assert!(
        f.dead_letters().await?.is_empty(),
        "the refused mail was given up on before its retries"
    );

    let entry = f
        .dead_letter_of(&refused.id, Duration::from_secs(20))
        .await?;
    let letter = &entry.letter;
    assert!(entry.id.starts_with("email.errors/"), "{}", entry.id);
    assert_eq!(letter.error_type, FailureKind::RetriesExhausted);
    assert_eq!(letter.retry_count, 3);
    assert_eq!(letter.original_topic, EMAIL_VERIFICATION_REQUESTED);
    assert!(letter.error.contains("421"), "{}", letter.error);
    assert!(letter.error.contains("try again later"), "{}", letter.error);

    let tries: Vec<f64> = f
        .sink
        .attempts()
        .iter()
        .filter(|attempt| attempt.event_id.as_deref() == Some(refused.id.as_str()))
        .inspect(|attempt| assert_eq!(attempt.code, 421))
        .map(|attempt| attempt.at)
        .collect();
    assert_eq!(tries.len(), 4, "{tries:?}");
    let gaps: Vec<f64> = tries.windows(2).map(|pair| pair[1] - pair[0]).collect();
    eprintln!("421 retry gaps (s): {gaps:.3?}");
    for (gap, expected) in gaps.iter().zip([1.0, 2.0, 4.0]) {
        assert!(
            (0.8 * expected..=2.0 * expected).contains(gap),
            "gaps {gaps:?}, expected about 1, 2, 4 s"
        );
    }

    // Nothing lost: once the server accepts again, mail to the same address arrives.
    f.sink.accept()?;
    let later = verification(ALICE, "en", "333333");
    f.publish(&later).await?;
    let mails = f.sink.wait_for_messages(2, Duration::from_secs(10)).await?;
    assert_eq!(
        mails[1].header("X-Event-Id").as_deref(),
        Some(later.id.as_str())
    );
    assert!(mails[1].text().unwrap_or_default().contains("333333"));
    assert_logs_keep_secrets(&["111111", "222222", "333333"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_550_goes_to_email_errors_at_once() -> anyhow::Result<()> {
    let f = fixture().await?;
    f.sink.refuse(Refusal {
        message: format!("5.1.1 <{ALICE}>: recipient address rejected"),
        ..Refusal::all(550)
    })?;
    let refused = verification(ALICE, "vi", "444444");
    f.publish(&refused).await?;
    let entry = f
        .dead_letter_of(&refused.id, Duration::from_secs(10))
        .await?;
    assert_eq!(entry.letter.error_type, FailureKind::Permanent);
    assert_eq!(entry.letter.retry_count, 0);
    let error = &entry.letter.error;
    assert!(error.contains("550"), "{error}");
    // The server quoted the address; the error keeps it masked.
    assert!(
        error.contains("<al***@example.com>: recipient address rejected"),
        "{error}"
    );
    assert_eq!(f.sink.attempts().len(), 1, "{:?}", f.sink.attempts());
    assert!(f.sink.messages().is_empty());
    assert_logs_keep_secrets(&["444444"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_delivered_twice_is_mailed_once() -> anyhow::Result<()> {
    let f = fixture().await?;
    let event = verification(ALICE, "en", "555555");
    f.publish(&event).await?;
    f.sink.wait_for_messages(1, Duration::from_secs(10)).await?;
    // The same event again (a producer's retry): the runtime's dedupe by event id.
    f.publish(&event).await?;
    f.drained(Duration::from_secs(10)).await?;
    let attempts = f.sink.attempts();
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(f.sink.messages().len(), 1);
    assert!(f.dead_letters().await?.is_empty());
    // The second copy was delivered and skipped as a duplicate, not lost on the way.
    let metrics = encode_metrics_with(&[]);
    assert!(
        metrics.contains(
            "switchyard_consumer_events_total{subscription=\"smtp_send_email_v2\",outcome=\"duplicate\"} 1"
        ),
        "{metrics}"
    );
    Ok(())
}
