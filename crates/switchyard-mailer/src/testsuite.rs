//! [`SmtpSink`] (feature `testsuite`): a real SMTP server for tests, aiosmtpd run as a
//! [`PrivateServer`] on a reserved loopback port with `testsuite/smtp_sink.py`. It keeps
//! every accepted message as an `.eml` file, records every attempt (each DATA: when, to
//! whom, which `X-Event-Id`, the reply code) and refuses on demand ([`Refusal`]: a code
//! for every message, the first N, or one recipient's). [`SmtpSink::start_with`] serves
//! `STARTTLS` or implicit TLS with a certificate of a CA made for the test, and may
//! require a login. Needs `python3` with `aiosmtpd` (`pip install aiosmtpd`, or Debian's
//! `python3-aiosmtpd`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use switchyard_bus::{PrivateServer, TestTls};

use crate::{MailerConfig, SmtpCredentials, SmtpTls};

/// The sink's server, written into its directory at start.
const SINK_SCRIPT: &str = include_str!("../testsuite/smtp_sink.py");

/// How the sink secures its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SinkTls {
    /// `STARTTLS`, required before MAIL (`smtp://`).
    Starttls,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// How [`SmtpSink::start_with`] runs the sink.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkOptions {
    /// TLS, with a certificate for `127.0.0.1` and `localhost` from a CA of the test
    /// ([`SmtpSink::ca_file`]); plain text when `None`.
    pub tls: Option<SinkTls>,
    /// AUTH with this user name and password required before MAIL.
    pub login: Option<(String, String)>,
}

/// When the sink refuses messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The reply code, e.g. 421 (transient) or 550 (permanent).
    pub code: u16,
    /// The reply text.
    pub message: String,
    /// Only the first this many messages from now on; `None` for all.
    pub first: Option<u32>,
    /// Only messages to this address; `None` for all.
    pub recipient: Option<String>,
}

impl Refusal {
    /// Every message, with `code`.
    pub fn all(code: u16) -> Refusal {
        Refusal {
            code,
            message: if code < 500 {
                "4.3.2 service not available, try again later".to_string()
            } else {
                "5.1.1 mailbox unavailable".to_string()
            },
            first: None,
            recipient: None,
        }
    }

    /// The first `count` messages from now on, with `code`.
    pub fn first(count: u32, code: u16) -> Refusal {
        Refusal {
            first: Some(count),
            ..Refusal::all(code)
        }
    }

    /// The same refusal, for messages to `recipient` only.
    pub fn to_recipient(mut self, recipient: impl Into<String>) -> Refusal {
        self.recipient = Some(recipient.into());
        self
    }
}

/// One message the sink was given (a DATA), accepted or refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SinkAttempt {
    /// When the sink received it, in seconds since the Unix epoch.
    pub at: f64,
    /// The envelope sender.
    pub mail_from: String,
    /// The envelope recipients.
    pub rcpt_tos: Vec<String>,
    /// The message's `X-Event-Id` header.
    pub event_id: Option<String>,
    /// The reply: 250 when accepted, else the refusal's code.
    pub code: u16,
    /// Whether the connection was encrypted.
    #[serde(default)]
    pub tls: bool,
    /// Whether the client had logged in.
    #[serde(default)]
    pub authenticated: bool,
}

/// A message the sink accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkMail {
    /// Its bytes as received.
    pub raw: Vec<u8>,
}

impl SinkMail {
    fn parsed(&self) -> mail_parser::Message<'_> {
        mail_parser::MessageParser::default()
            .parse(&self.raw)
            .expect("the sink stores whole messages")
    }

    /// The decoded value of header `name` (first occurrence), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        let parsed = self.parsed();
        let value = parsed.header(name)?;
        let text = match value {
            mail_parser::HeaderValue::Text(text) => text.to_string(),
            mail_parser::HeaderValue::TextList(list) => list.join(", "),
            mail_parser::HeaderValue::Address(address) => address
                .iter()
                .map(|addr| match (&addr.name, &addr.address) {
                    (Some(name), Some(address)) => format!("{name} <{address}>"),
                    (None, Some(address)) => address.to_string(),
                    (Some(name), None) => name.to_string(),
                    (None, None) => String::new(),
                })
                .collect::<Vec<_>>()
                .join(", "),
            _ => parsed.header_raw(name)?.trim().to_string(),
        };
        Some(text)
    }

    /// The decoded subject.
    pub fn subject(&self) -> Option<String> {
        self.parsed().subject().map(str::to_string)
    }

    /// The plain-text body.
    pub fn text(&self) -> Option<String> {
        self.parsed().body_text(0).map(|text| text.into_owned())
    }

    /// The HTML body.
    pub fn html(&self) -> Option<String> {
        self.parsed().body_html(0).map(|html| html.into_owned())
    }
}

/// A private SMTP server (aiosmtpd) on a loopback port; killed when dropped.
pub struct SmtpSink {
    server: PrivateServer,
    options: SinkOptions,
    generation: AtomicU64,
}

impl SmtpSink {
    /// Starts the sink in plain text, accepting every message.
    pub async fn start() -> anyhow::Result<SmtpSink> {
        SmtpSink::start_with(SinkOptions::default()).await
    }

    /// Starts the sink with TLS or a login as `options` say, accepting every message.
    pub async fn start_with(options: SinkOptions) -> anyhow::Result<SmtpSink> {
        let tls = options.tls;
        let login = options.login.clone();
        let server = PrivateServer::builder(
            "python3",
            "python3 with aiosmtpd: pip install aiosmtpd, or apt-get install python3-aiosmtpd",
            move |port, dir| {
                let mut args = vec![
                    dir.join("smtp_sink.py").display().to_string(),
                    port.to_string(),
                    dir.display().to_string(),
                ];
                if let Some(tls) = tls {
                    let mode = match tls {
                        SinkTls::Starttls => "starttls",
                        SinkTls::Implicit => "implicit",
                    };
                    args.extend([
                        "--tls".to_string(),
                        mode.to_string(),
                        dir.join("server.pem").display().to_string(),
                        dir.join("server.key").display().to_string(),
                    ]);
                }
                if let Some((user, password)) = &login {
                    args.extend(["--login".to_string(), user.clone(), password.clone()]);
                }
                args
            },
        )
        .prepare(move |_, dir| {
            std::fs::write(dir.join("smtp_sink.py"), SINK_SCRIPT)?;
            if tls.is_some() {
                TestTls::generate("smtp sink")?.write(dir)?;
            }
            Ok(())
        })
        .start()
        .await
        .context("failed to start the smtp sink")?;
        Ok(SmtpSink {
            server,
            options,
            generation: AtomicU64::new(0),
        })
    }

    /// `smtp://127.0.0.1:{port}`, or `smtps://…` with implicit TLS.
    pub fn url(&self) -> String {
        let scheme = match self.options.tls {
            Some(SinkTls::Implicit) => "smtps",
            _ => "smtp",
        };
        format!("{scheme}://127.0.0.1:{}", self.server.port())
    }

    /// The PEM file of the CA that signed the sink's certificate (with TLS).
    pub fn ca_file(&self) -> PathBuf {
        self.server.dir().join("ca.pem")
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// A mailer config sending to the sink: in plain text, or with its TLS mode and CA,
    /// logged in when the sink wants a login.
    pub fn mailer_config(&self) -> MailerConfig {
        let mut config = MailerConfig {
            from: "Switchyard <no-reply@switchyard.test>".to_string(),
            timeout_ms: 5_000,
            ..MailerConfig::default()
        }
        .with_smtp_url(self.url());
        config = match self.options.tls {
            None => config.with_tls(SmtpTls::None),
            Some(SinkTls::Starttls) => config.with_tls(SmtpTls::Starttls),
            Some(SinkTls::Implicit) => config.with_tls(SmtpTls::Implicit),
        };
        if self.options.tls.is_some() {
            config.ca_file = Some(self.ca_file());
        }
        if let Some((user, password)) = &self.options.login {
            config = config.with_credentials(SmtpCredentials::new(user, password));
        }
        config
    }

    /// Refuses every message from now on with `code`.
    pub fn refuse_with(&self, code: u16) -> anyhow::Result<()> {
        self.refuse(Refusal::all(code))
    }

    /// Refuses messages as `refusal` says, from now on.
    pub fn refuse(&self, refusal: Refusal) -> anyhow::Result<()> {
        self.write_control(serde_json::json!({
            "code": refusal.code,
            "message": refusal.message,
            "first": refusal.first,
            "recipient": refusal.recipient,
        }))
    }

    /// Accepts every message from now on.
    pub fn accept(&self) -> anyhow::Result<()> {
        self.write_control(serde_json::json!({ "code": null }))
    }

    fn write_control(&self, mut control: serde_json::Value) -> anyhow::Result<()> {
        control["generation"] = self.generation.fetch_add(1, Ordering::SeqCst).into();
        let path = self.server.dir().join("control.json");
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, serde_json::to_vec(&control)?)?;
        std::fs::rename(&temporary, &path)?;
        Ok(())
    }

    /// Every attempt so far, in order.
    pub fn attempts(&self) -> Vec<SinkAttempt> {
        std::fs::read_to_string(self.server.dir().join("attempts.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Every accepted message so far, in order.
    pub fn messages(&self) -> Vec<SinkMail> {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(self.server.dir())
            .map(|entries| {
                entries
                    .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                    .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
                    .collect()
            })
            .unwrap_or_default();
        paths.sort();
        paths
            .into_iter()
            .filter_map(|path| std::fs::read(path).ok())
            .map(|raw| SinkMail { raw })
            .collect()
    }

    /// Waits up to `timeout` until the sink accepted at least `count` messages; returns
    /// them all.
    pub async fn wait_for_messages(
        &self,
        count: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<SinkMail>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return Ok(messages);
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the smtp sink accepted {} of {count} messages within {timeout:?}; attempts: {:?}; log: {}",
                    messages.len(),
                    self.attempts(),
                    self.server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The sink's log (aiosmtpd's output), for failure messages.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }
}
