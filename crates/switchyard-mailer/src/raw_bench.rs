//! The raw side of `switchyard bench mailer`: the same verification emails sent straight
//! through lettre, `concurrency` at a time (as the mailer sends one batch), with no bus,
//! runtime or handler between — so the bench can show what the consumer path costs over
//! plain SMTP sends. It must not be used by anything but benchmarks.

use std::time::{Duration, Instant};

use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt};
use lettre::AsyncTransport;
use switchyard_contracts::identity::EmailVerificationPayload;

use crate::transport::{build_transport, classify};
use crate::{Mailer, MailerConfig, MailerError};

/// The verification payload of message `index` of a bench run.
pub fn bench_payload(index: usize) -> EmailVerificationPayload {
    EmailVerificationPayload {
        user_id: format!("bench-{index}"),
        recipient: format!("user{index}@example.com"),
        otp_code: format!("{:06}", index % 1_000_000),
        locale: if index.is_multiple_of(2) { "en" } else { "vi" }.to_string(),
        expires_at: Utc::now() + chrono::Duration::minutes(10),
    }
}

/// Sends `messages` verification emails through the server of `config`, `concurrency`
/// at a time; returns how long it took.
pub async fn raw_smtp(
    config: &MailerConfig,
    messages: usize,
    concurrency: usize,
) -> Result<Duration, MailerError> {
    let mailer = Mailer::new(config)?;
    let transport = build_transport(config)?;
    let started = Instant::now();
    futures_util::stream::iter(0..messages)
        .map(|index| {
            let built = mailer.verification_message(&format!("raw-{index}"), &bench_payload(index));
            let transport = &transport;
            async move {
                let (_, message) = built?;
                transport
                    .send(message)
                    .await
                    .map_err(|err| classify(&err))?;
                Ok::<_, MailerError>(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<()>()
        .await?;
    Ok(started.elapsed())
}
