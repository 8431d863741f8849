//! Switchyard's mailer: sends the one-time code of every `email.verification.requested`
//! event (`switchyard_contracts::identity`) by email, in the user's language.
//!
//! - [`Mailer`], a runtime [`Handler`](switchyard_runtime::Handler) on its
//!   [`subscriptions`] (`smtp_send_email_v2` on `email.#` of the `smap.events` exchange),
//!   renders the email ([`render_verification`]: `en` or `vi`, with the code and its
//!   expiry) and sends it over SMTP with lettre (rustls with ring; `STARTTLS` or implicit
//!   TLS as [`SmtpTls`] says; credentials from the environment).
//! - A transient failure (4xx, unreachable, timeout) is retried 1 s, 2 s and 4 s later
//!   without holding other mail back; then, or at once for a permanent one (5xx, a bad
//!   address, an `email.*` event it has no email for), the event goes to `email.errors`
//!   with the error ([`MAILER_DEAD_LETTER_TOPIC`]).
//! - Metrics ([`metrics_registry`]): `emails_processed_total`,
//!   `emails_failed_total`. Logs name the event id and the masked
//!   recipient (`switchyard_contracts::identity::mask_address`); the code is never logged or counted.
//!
//! **Boundary:** no broker or store code; SMTP is its only I/O, and it reads no
//! environment variable itself ([`MailerConfig::with_env`] takes a lookup).
//!
//! ```no_run
//! # async fn example(broker: std::sync::Arc<dyn switchyard_bus::Broker>,
//! #     state: std::sync::Arc<dyn switchyard_state::StateStore>,
//! #     registry: std::sync::Arc<switchyard_contracts::Registry>)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use switchyard_mailer::{Mailer, MailerConfig, subscriptions};
//! use switchyard_runtime::Consumer;
//!
//! let config = MailerConfig::default().with_env(|name| std::env::var(name).ok());
//! let mailer = Mailer::new(&config)?;
//! for consumer_config in subscriptions(&config) {
//!     let consumer = Consumer::new(
//!         broker.clone(), state.clone(), registry.clone(), consumer_config, mailer.clone(),
//!     );
//!     tokio::spawn(consumer.run(tokio_util::sync::CancellationToken::new()));
//! }
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod config;
mod error;
mod handler;
mod metrics;
#[cfg(feature = "bench")]
mod raw_bench;
mod template;
#[cfg(feature = "testsuite")]
mod testsuite;
mod transport;

pub use config::{
    MailerConfig, SMTP_PASSWORD_ENV, SMTP_URL_ENV, SMTP_USERNAME_ENV, SmtpCredentials,
    SmtpEndpoint, SmtpTls,
};
pub use error::{MailerError, MailerErrorKind};
pub use handler::{
    EVENT_ID_HEADER, MAILER_DEAD_LETTER_TOPIC, MAILER_SUBSCRIPTION, MAILER_TOPIC_PATTERN, Mailer,
    MailerEvent, subscription_on, subscriptions,
};
pub use metrics::metrics_registry;
#[cfg(feature = "bench")]
pub use raw_bench::{bench_payload, raw_smtp};
pub use template::{Language, RenderedEmail, render_verification};
#[cfg(feature = "testsuite")]
pub use testsuite::{Refusal, SinkAttempt, SinkMail, SinkOptions, SinkTls, SmtpSink};
