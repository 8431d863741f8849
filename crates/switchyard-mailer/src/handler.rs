//! [`Mailer`]: the mailer consumer's [`Handler`], and its [`subscriptions`]. Each
//! `email.verification.requested` event becomes one email in the recipient's language,
//! sent over SMTP; the events of a batch are sent concurrently, so a slow server delays
//! one email, not the others. A transient failure is a `Retry` (the runtime nacks it with
//! the event's `X-Backoff-Ms` delay, 1 s, 2 s, 4 s, while other mail flows), a permanent
//! one a `Fail`; both end in `email.errors` with the reason. Logs carry the event id and
//! the masked recipient, never the code.
//!
//! Sending is not idempotent, so the runtime's dedupe (by event id) is what keeps a
//! redelivered event from mailing twice; the event id travels in `X-Event-Id` and the
//! `Message-ID`, so that a copy sent after a crash between send and ack is recognizable.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::future::join_all;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, Message, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use switchyard_contracts::identity::{EMAIL_VERIFICATION_REQUESTED, EmailVerificationPayload};
use switchyard_contracts::{ContractError, Envelope};
use switchyard_runtime::{
    ConsumerConfig, Handler, Incoming, Outcome, RetryPolicy, SubscriptionConfig,
};

use crate::metrics::METRICS;
use crate::template::{Language, render_verification};
use crate::transport::{build_transport, classify};
use switchyard_contracts::identity::mask_address;

use crate::{MailerConfig, MailerError, MailerErrorKind};

/// The mailer's subscription (queue) name.
pub const MAILER_SUBSCRIPTION: &str = "smtp_send_email_v2";
/// The routing-key pattern it reads on the identity exchange (`smap.events`): every
/// `email.*` event.
pub const MAILER_TOPIC_PATTERN: &str = "email.#";
/// Where every email the mailer gives up on goes, with its error: a dead-letter topic
/// (its last word is `errors`), so [`MAILER_TOPIC_PATTERN`] does not match it and the
/// mailer never reads its own dead letters, or those of `email.*` topics (`….dlq.v1`).
pub const MAILER_DEAD_LETTER_TOPIC: &str = "email.errors";
/// The header carrying the event id in every email sent.
pub const EVENT_ID_HEADER: &str = "X-Event-Id";

/// The mailer's subscriptions: [`MAILER_SUBSCRIPTION`] on [`MAILER_TOPIC_PATTERN`],
/// dead-lettering to [`MAILER_DEAD_LETTER_TOPIC`].
pub fn subscriptions(config: &MailerConfig) -> Vec<ConsumerConfig> {
    vec![subscription_on(config, MAILER_TOPIC_PATTERN)]
}

/// The mailer's subscription reading `topic` (an exact topic or a pattern), with its
/// batch size, ack deadline, retries (3: 1 s, 2 s, 4 s, as the event's own retry headers
/// say) and dead-letter topic.
pub fn subscription_on(config: &MailerConfig, topic: &str) -> ConsumerConfig {
    // A batch is sent concurrently; one send takes a few SMTP exchanges of `timeout` each.
    let ack_deadline = (config.timeout() * 6).max(Duration::from_secs(60));
    let subscription =
        SubscriptionConfig::new(MAILER_SUBSCRIPTION, topic).with_ack_deadline(ack_deadline);
    ConsumerConfig::new(subscription)
        .with_batch_size(config.batch_size)
        .with_retry(RetryPolicy {
            max_retries: 3,
            backoff: [1, 2, 4].map(Duration::from_secs).to_vec(),
        })
        .with_dead_letter_topic(MAILER_DEAD_LETTER_TOPIC)
        .expect("`email.errors` ends in the word `errors`, so it is a dead-letter topic")
}

/// An event on the mailer's subscription.
#[derive(Debug, Clone, PartialEq)]
pub enum MailerEvent {
    /// A user asked to verify an address: send the code.
    Verification(EmailVerificationPayload),
    /// An `email.*` event the mailer has no email for; it fails, naming its type.
    Unsupported {
        /// Its event type.
        event_type: String,
    },
}

/// Sends the email of each event over SMTP.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("sender", &self.sender.to_string())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer sending through the server of `config` (validated first; the CA file is
    /// read now). Connects only when it sends.
    pub fn new(config: &MailerConfig) -> Result<Self, MailerError> {
        config.validate()?;
        Ok(Mailer {
            transport: build_transport(config)?,
            sender: config.sender()?,
        })
    }

    /// The verification email of event `event_id`, ready to send.
    pub fn verification_message(
        &self,
        event_id: &str,
        payload: &EmailVerificationPayload,
    ) -> Result<(Language, Message), MailerError> {
        let recipient: Mailbox = payload.recipient.trim().parse().map_err(|err| {
            MailerError::new(
                MailerErrorKind::InvalidMessage,
                format!(
                    "invalid recipient {}: {err}",
                    mask_address(&payload.recipient)
                ),
            )
        })?;
        let language = Language::from_locale(&payload.locale);
        let email = render_verification(language, &payload.otp_code, payload.expires_at);
        let message = Message::builder()
            .from(self.sender.clone())
            .to(recipient)
            .subject(email.subject)
            .message_id(Some(message_id(event_id, &self.sender)))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Content-Language"),
                language.as_str().to_string(),
            ))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str(EVENT_ID_HEADER),
                event_id.to_string(),
            ))
            .multipart(MultiPart::alternative_plain_html(email.text, email.html))
            .map_err(|err| {
                MailerError::new(
                    MailerErrorKind::InvalidMessage,
                    format!("failed to build the email: {err}"),
                )
            })?;
        Ok((language, message))
    }

    /// Sends one event's email; its outcome for the runtime.
    async fn send(&self, incoming: &Incoming<MailerEvent>) -> Outcome {
        let event_id = incoming.event_id.as_str();
        let payload = match &incoming.event {
            MailerEvent::Verification(payload) => payload,
            MailerEvent::Unsupported { event_type } => {
                METRICS.failed(MailerErrorKind::InvalidMessage);
                tracing::error!(event_id, event_type = %event_type, "no email for this event type");
                return Outcome::Fail(format!(
                    "the mailer has no email for event type `{event_type}`"
                ));
            }
        };
        let recipient = mask_address(&payload.recipient);
        let result = match self.verification_message(event_id, payload) {
            Ok((language, message)) => self
                .transport
                .send(message)
                .await
                .map(|_| language)
                .map_err(|err| classify(&err)),
            Err(err) => Err(err),
        };
        match result {
            Ok(language) => {
                METRICS.sent(language);
                tracing::info!(event_id, recipient = %recipient, language = language.as_str(), retry = incoming.retry_count, "verification email sent");
                Outcome::Done
            }
            Err(err) => {
                METRICS.failed(err.kind());
                // A server's reply may quote the address (`550 <alice@…>: unknown`); the
                // reason goes to logs and the dead letter masked like the rest.
                let address = payload.recipient.trim();
                let err = if address.is_empty() {
                    err
                } else {
                    MailerError::new(err.kind(), err.to_string().replace(address, &recipient))
                };
                if err.is_retryable() {
                    tracing::warn!(event_id, recipient = %recipient, retry = incoming.retry_count, error = %err, "verification email not sent, retrying");
                    Outcome::Retry(err.to_string())
                } else {
                    tracing::error!(event_id, recipient = %recipient, error_type = err.kind().as_str(), error = %err, "verification email not sent, giving up");
                    Outcome::Fail(err.to_string())
                }
            }
        }
    }
}

/// `<{event id}@{sender's domain}>`, keeping only the characters a message id may hold.
fn message_id(event_id: &str, sender: &Mailbox) -> String {
    let id: String = event_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .collect();
    format!("<{id}.verification@{}>", sender.email.domain())
}

#[async_trait]
impl Handler for Mailer {
    type Event = MailerEvent;

    fn decode(&self, envelope: &Envelope) -> Result<MailerEvent, ContractError> {
        if envelope.event_type != EMAIL_VERIFICATION_REQUESTED {
            return Ok(MailerEvent::Unsupported {
                event_type: envelope.event_type.clone(),
            });
        }
        let data = envelope
            .data
            .clone()
            .ok_or_else(|| ContractError::MissingField {
                field: "data".to_string(),
            })?;
        serde_path_to_error::deserialize(data)
            .map(MailerEvent::Verification)
            .map_err(|err| ContractError::InvalidField {
                field: format!("data.{}", err.path()),
                reason: err.inner().to_string(),
            })
    }

    #[tracing::instrument(skip_all, fields(events = batch.len()))]
    async fn handle(&self, batch: Vec<Incoming<MailerEvent>>) -> Vec<Outcome> {
        join_all(batch.iter().map(|incoming| self.send(incoming))).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(recipient: &str, locale: &str) -> EmailVerificationPayload {
        EmailVerificationPayload {
            user_id: "u-1".into(),
            recipient: recipient.into(),
            otp_code: "482913".into(),
            locale: locale.into(),
            expires_at: "2025-03-01T10:15:00Z".parse().unwrap(),
        }
    }

    fn mailer() -> Mailer {
        let config = MailerConfig::default()
            .with_smtp_url("smtp://127.0.0.1:1")
            .with_tls(crate::SmtpTls::None);
        Mailer::new(&config).unwrap()
    }

    #[test]
    fn a_verification_email_carries_its_headers_and_both_bodies() {
        let (language, message) = mailer()
            .verification_message("0190-abc", &payload("alice@example.com", "vi-VN"))
            .unwrap();
        assert_eq!(language, Language::Vi);
        let text = String::from_utf8(message.formatted()).unwrap();
        for expected in [
            "From: Switchyard <no-reply@localhost>",
            "To: alice@example.com",
            "X-Event-Id: 0190-abc",
            "Message-ID: <0190-abc.verification@localhost>",
            "Content-Language: vi",
            "multipart/alternative",
            "text/html",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }

    #[test]
    fn a_bad_recipient_is_invalid_and_masked() {
        let err = mailer()
            .verification_message("e", &payload("alice at example", "en"))
            .unwrap_err();
        assert_eq!(err.kind(), MailerErrorKind::InvalidMessage);
        assert!(!err.to_string().contains("alice at example"), "{err}");
    }

    #[test]
    fn other_email_types_decode_as_unsupported_and_bad_payloads_name_the_field() {
        let other = Envelope::new("email.bounced", "/t", serde_json::json!({}));
        assert_eq!(
            mailer().decode(&other).unwrap(),
            MailerEvent::Unsupported {
                event_type: "email.bounced".into()
            }
        );
        let mut bad = serde_json::to_value(payload("a@example.com", "en")).unwrap();
        bad["expires_at"] = serde_json::json!(42);
        let bad = Envelope::new(EMAIL_VERIFICATION_REQUESTED, "/t", bad);
        let err = mailer().decode(&bad).unwrap_err();
        assert!(err.to_string().contains("data.expires_at"), "{err}");
    }

    #[test]
    fn the_subscription_reads_every_email_event_and_dead_letters_to_email_errors() {
        let [config] = subscriptions(&MailerConfig::default()).try_into().unwrap();
        assert_eq!(config.subscription.name, "smtp_send_email_v2");
        assert_eq!(config.subscription.topic, "email.#");
        assert_eq!(config.dead_letter_topic.as_deref(), Some("email.errors"));
        assert_eq!(config.retry.max_retries, 3);
        assert_eq!(config.batch_size, 16);
    }
}
