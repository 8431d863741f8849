//! The SMTP side: the lettre transport built from [`MailerConfig`] (rustls with ring, the
//! system's CAs plus `ca_file`, `STARTTLS` or implicit TLS as configured, credentials when
//! given, one connection per send) and [`classify`], which sorts a failed send into
//! transient (4xx, unreachable, timeout, dropped connection, TLS: retried) and permanent
//! (5xx: dead-lettered).

use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, Tokio1Executor};

use crate::config::{MailerConfig, SmtpTls};
use crate::{MailerError, MailerErrorKind};

/// The transport every send of a [`Mailer`](crate::Mailer) goes through.
pub(crate) fn build_transport(
    config: &MailerConfig,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, MailerError> {
    let endpoint = config.endpoint()?;
    let tls_parameters = || -> Result<TlsParameters, MailerError> {
        let mut builder = TlsParameters::builder(endpoint.host.clone());
        if let Some(ca_file) = &config.ca_file {
            let pem = std::fs::read(ca_file).map_err(|err| {
                MailerError::invalid_config(format!(
                    "invalid mailer config: `ca_file` {}: {err}",
                    ca_file.display()
                ))
            })?;
            let certificate = Certificate::from_pem(&pem).map_err(|err| {
                MailerError::invalid_config(format!(
                    "invalid mailer config: `ca_file` {} holds no PEM certificate: {err}",
                    ca_file.display()
                ))
            })?;
            builder = builder.add_root_certificate(certificate);
        }
        builder.build_rustls().map_err(|err| {
            MailerError::invalid_config(format!("invalid mailer config: tls: {err}"))
        })
    };
    let tls = match endpoint.tls {
        SmtpTls::None => Tls::None,
        SmtpTls::Opportunistic => Tls::Opportunistic(tls_parameters()?),
        SmtpTls::Starttls => Tls::Required(tls_parameters()?),
        SmtpTls::Implicit => Tls::Wrapper(tls_parameters()?),
    };
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(endpoint.host)
        .port(endpoint.port)
        .tls(tls)
        .timeout(Some(config.timeout()));
    if let Some(credentials) = &config.credentials {
        builder = builder.credentials(Credentials::new(
            credentials.username.clone(),
            credentials.password.clone(),
        ));
    }
    Ok(builder.build())
}

/// A failed send as a [`MailerError`]: permanent for a 5xx reply, transient for anything
/// else (a 4xx reply, a refused or dropped connection, a timeout, a TLS failure, an
/// unreadable reply), so that nothing is given up on that may work seconds later.
pub(crate) fn classify(err: &SmtpError) -> MailerError {
    let kind = if err.is_permanent() {
        MailerErrorKind::Permanent
    } else {
        MailerErrorKind::Transient
    };
    let what = match kind {
        MailerErrorKind::Permanent => "smtp server refused the email",
        _ if err.is_transient() => "smtp server refused the email for now",
        _ if err.is_timeout() => "smtp server timed out",
        _ => "failed to reach the smtp server",
    };
    // lettre's message already ends with its cause (the server's reply, the I/O error).
    MailerError::new(kind, format!("{what}: {err}"))
}
