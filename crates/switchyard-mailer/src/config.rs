//! [`MailerConfig`], the `[mailer]` table: which SMTP server (`smtp_url`, how TLS is used
//! on it, a private CA), the sender address, the timeout and batch size. Credentials never
//! come from the file: [`SmtpCredentials`] are read from the environment
//! (`SWITCHYARD_SMTP_USERNAME`, `SWITCHYARD_SMTP_PASSWORD`) and print as `***`.
//! Validation is pure and runs at load; connecting is the transport's business.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};

use crate::MailerError;

/// Environment variable overriding [`MailerConfig::smtp_url`].
pub const SMTP_URL_ENV: &str = "SWITCHYARD_SMTP_URL";
/// Environment variable holding the SMTP user name.
pub const SMTP_USERNAME_ENV: &str = "SWITCHYARD_SMTP_USERNAME";
/// Environment variable holding the SMTP password.
pub const SMTP_PASSWORD_ENV: &str = "SWITCHYARD_SMTP_PASSWORD";

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SmtpTls {
    /// Plain text, never upgraded: only for a relay on the same host or network.
    /// `smtp://` only.
    None,
    /// `STARTTLS` when the server offers it, else plain text. `smtp://` only.
    Opportunistic,
    /// `STARTTLS` required: a server that does not offer it gets nothing. The default of
    /// `smtp://`.
    Starttls,
    /// TLS from the first byte (SMTPS, port 465). `smtps://` only, and its default.
    Implicit,
}

impl SmtpTls {
    /// The name used in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpTls::None => "none",
            SmtpTls::Opportunistic => "opportunistic",
            SmtpTls::Starttls => "starttls",
            SmtpTls::Implicit => "implicit",
        }
    }
}

/// The SMTP user name and password; `Debug` prints neither.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

impl SmtpCredentials {
    /// A user name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        SmtpCredentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpCredentials(***)")
    }
}

/// The mailer's settings (the `[mailer]` table of the CLI's config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailerConfig {
    /// The SMTP server: `smtp://host[:port]` (port 25 unless given; TLS as `tls` says)
    /// or `smtps://host[:port]` (implicit TLS, port 465 unless given). The environment's
    /// `SWITCHYARD_SMTP_URL` wins over the file. Default `smtp://127.0.0.1:25`.
    pub smtp_url: String,
    /// How the connection is secured: `none`, `opportunistic`, `starttls` (required) or
    /// `implicit`. Default: `starttls` for `smtp://`, `implicit` for `smtps://`.
    pub tls: Option<SmtpTls>,
    /// A PEM file of CA certificates trusted besides the system's, for a server whose
    /// certificate a private CA signed.
    pub ca_file: Option<PathBuf>,
    /// The sender, `Name <address>` or a bare address. Default
    /// `Switchyard <no-reply@localhost>`.
    pub from: String,
    /// How long one SMTP exchange (connect, each command) may take before the send is
    /// retried. Default 10 000.
    pub timeout_ms: u64,
    /// Emails fetched and sent concurrently at most. Default 16.
    pub batch_size: usize,
    /// The user name and password, from the environment only (`SWITCHYARD_SMTP_USERNAME`,
    /// `SWITCHYARD_SMTP_PASSWORD`); never read from or written to the file.
    #[serde(skip)]
    pub credentials: Option<SmtpCredentials>,
}

impl Default for MailerConfig {
    fn default() -> Self {
        MailerConfig {
            smtp_url: "smtp://127.0.0.1:25".to_string(),
            tls: None,
            ca_file: None,
            from: "Switchyard <no-reply@localhost>".to_string(),
            timeout_ms: 10_000,
            batch_size: 16,
            credentials: None,
        }
    }
}

/// Where the SMTP server is and how to speak to it, as [`MailerConfig::validate`] reads
/// the URL and `tls`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpEndpoint {
    /// Host name or IP address (also the name its certificate must carry).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// How the connection is secured.
    pub tls: SmtpTls,
}

impl MailerConfig {
    /// The settings with the environment applied: `SWITCHYARD_SMTP_URL` replaces
    /// `smtp_url`, and `SWITCHYARD_SMTP_USERNAME` with `SWITCHYARD_SMTP_PASSWORD` become
    /// the credentials. `env` looks a variable up (`|name| std::env::var(name).ok()`), so
    /// that the caller decides where the environment comes from.
    pub fn with_env(mut self, env: impl Fn(&str) -> Option<String>) -> Self {
        if let Some(url) = env(SMTP_URL_ENV).filter(|url| !url.trim().is_empty()) {
            self.smtp_url = url;
        }
        if let Some(username) = env(SMTP_USERNAME_ENV).filter(|name| !name.is_empty()) {
            let password = env(SMTP_PASSWORD_ENV).unwrap_or_default();
            self.credentials = Some(SmtpCredentials::new(username, password));
        }
        self
    }

    /// The same settings sending through `smtp_url`.
    pub fn with_smtp_url(mut self, smtp_url: impl Into<String>) -> Self {
        self.smtp_url = smtp_url.into();
        self
    }

    /// The same settings securing the connection as `tls` says.
    pub fn with_tls(mut self, tls: SmtpTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The same settings logging in with `credentials`.
    pub fn with_credentials(mut self, credentials: SmtpCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Checks the settings; every error names the field.
    pub fn validate(&self) -> Result<(), MailerError> {
        self.endpoint()?;
        self.sender()?;
        if self.timeout_ms == 0 {
            return Err(MailerError::invalid_config(
                "invalid mailer config: `timeout_ms` must be at least 1",
            ));
        }
        if self.batch_size == 0 {
            return Err(MailerError::invalid_config(
                "invalid mailer config: `batch_size` must be at least 1",
            ));
        }
        Ok(())
    }

    /// The server, port and TLS mode `smtp_url` and `tls` give.
    pub fn endpoint(&self) -> Result<SmtpEndpoint, MailerError> {
        let invalid = |reason: String| {
            MailerError::invalid_config(format!("invalid mailer config: `smtp_url`: {reason}"))
        };
        let url = self.smtp_url.trim();
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| invalid(format!("`{url}` is not smtp://host[:port] or smtps://…")))?;
        let (default_port, default_tls, allowed): (u16, SmtpTls, &[SmtpTls]) = match scheme {
            "smtp" => (
                25,
                SmtpTls::Starttls,
                &[SmtpTls::None, SmtpTls::Opportunistic, SmtpTls::Starttls],
            ),
            "smtps" => (465, SmtpTls::Implicit, &[SmtpTls::Implicit]),
            other => return Err(invalid(format!("scheme `{other}` is not smtp or smtps"))),
        };
        let authority = rest.trim_end_matches('/');
        if authority.contains(['/', '?', '#', '@']) {
            return Err(invalid(format!(
                "`{url}` must be only a host and port (credentials come from \
                 {SMTP_USERNAME_ENV} and {SMTP_PASSWORD_ENV})"
            )));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => {
                let port = port
                    .parse::<u16>()
                    .ok()
                    .filter(|port| *port > 0)
                    .ok_or_else(|| invalid(format!("`{port}` is not a port")))?;
                (host, port)
            }
            _ => (authority, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid(format!("`{url}` has no host")));
        }
        let tls = self.tls.unwrap_or(default_tls);
        if !allowed.contains(&tls) {
            return Err(MailerError::invalid_config(format!(
                "invalid mailer config: `tls = \"{}\"` does not go with {scheme}:// (use {})",
                tls.as_str(),
                allowed
                    .iter()
                    .map(|tls| format!("`{}`", tls.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(SmtpEndpoint {
            host: host.to_string(),
            port,
            tls,
        })
    }

    /// The sender mailbox.
    pub fn sender(&self) -> Result<Mailbox, MailerError> {
        self.from.parse().map_err(|err| {
            MailerError::invalid_config(format!(
                "invalid mailer config: `from`: `{}` is not an email address: {err}",
                self.from
            ))
        })
    }

    /// The SMTP timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(toml_text: &str, expected: Result<(&str, u16, SmtpTls), &str>) {
        let config: MailerConfig = toml::from_str(toml_text).expect("parses");
        let endpoint = config.validate().and_then(|()| config.endpoint());
        match (endpoint, expected) {
            (Ok(endpoint), Ok((host, port, tls))) => {
                assert_eq!(
                    (endpoint.host.as_str(), endpoint.port, endpoint.tls),
                    (host, port, tls)
                )
            }
            (Err(err), Err(fragment)) => {
                assert!(err.to_string().contains(fragment), "{err}")
            }
            (got, want) => panic!("{toml_text}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn the_url_and_tls_give_the_endpoint() {
        check("", Ok(("127.0.0.1", 25, SmtpTls::Starttls)));
        check(
            "smtp_url = \"smtp://127.0.0.1:2525\"\ntls = \"none\"",
            Ok(("127.0.0.1", 2525, SmtpTls::None)),
        );
        check(
            "smtp_url = \"smtp://mail.example.com\"\ntls = \"opportunistic\"",
            Ok(("mail.example.com", 25, SmtpTls::Opportunistic)),
        );
        check(
            "smtp_url = \"smtps://mail.example.com\"",
            Ok(("mail.example.com", 465, SmtpTls::Implicit)),
        );
        check(
            "smtp_url = \"smtp://[::1]:2525/\"",
            Ok(("::1", 2525, SmtpTls::Starttls)),
        );
    }

    #[test]
    fn bad_settings_are_refused_naming_the_field() {
        check("smtp_url = \"http://x\"", Err("scheme `http`"));
        check("smtp_url = \"mail.example.com\"", Err("`smtp_url`"));
        check("smtp_url = \"smtp://:25\"", Err("has no host"));
        check("smtp_url = \"smtp://x:0\"", Err("is not a port"));
        check(
            "smtp_url = \"smtp://user:pw@x\"",
            Err("SWITCHYARD_SMTP_USERNAME"),
        );
        check(
            "smtp_url = \"smtps://x\"\ntls = \"starttls\"",
            Err("`tls = \"starttls\"` does not go with smtps://"),
        );
        check("tls = \"implicit\"", Err("does not go with smtp://"));
        check("from = \"not an address\"", Err("`from`"));
        check("timeout_ms = 0", Err("`timeout_ms`"));
        check("batch_size = 0", Err("`batch_size`"));
        let unknown = toml::from_str::<MailerConfig>("password = \"x\"").unwrap_err();
        assert!(unknown.to_string().contains("unknown field"), "{unknown}");
    }

    #[test]
    fn the_environment_wins_and_credentials_never_print() {
        let env = |name: &str| match name {
            SMTP_URL_ENV => Some("smtps://mail.example.com".to_string()),
            SMTP_USERNAME_ENV => Some("mailer@example.com".to_string()),
            SMTP_PASSWORD_ENV => Some("hunter2".to_string()),
            _ => None,
        };
        let config = MailerConfig::default().with_env(env);
        assert_eq!(config.smtp_url, "smtps://mail.example.com");
        assert_eq!(
            config.credentials,
            Some(SmtpCredentials::new("mailer@example.com", "hunter2"))
        );
        let printed = format!("{config:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains("mailer@example.com"), "{printed}");
        let written = serde_json::to_string(&config).unwrap();
        assert!(!written.contains("hunter2"), "{written}");
        // Nothing set: the file's values stay.
        let unchanged = MailerConfig::default().with_env(|_| None);
        assert_eq!(unchanged, MailerConfig::default());
    }
}
