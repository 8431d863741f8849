//! [`TestTls`]: a certificate authority and a server certificate made by a test (rcgen),
//! for servers the test starts with TLS on loopback. The CA exists only in the test's
//! memory and files, so a client that does not load its PEM file must refuse the server.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA and a server certificate for `localhost`, `127.0.0.1` and `::1`, signed by it.
#[derive(Clone)]
pub struct TestTls {
    /// The CA certificate, PEM: what a client must trust.
    pub ca_pem: String,
    /// The server's certificate, PEM.
    pub cert_pem: String,
    /// The server's private key, PKCS#8 PEM.
    pub key_pem: String,
}

/// Where [`TestTls::write`] put the PEM files.
#[derive(Debug, Clone)]
pub struct TestTlsFiles {
    /// `ca.pem`.
    pub ca: PathBuf,
    /// `server.pem`.
    pub cert: PathBuf,
    /// `server.key` (mode 0600).
    pub key: PathBuf,
}

impl TestTls {
    /// A fresh CA (its common name says `name`) and a server certificate signed by it.
    pub fn generate(name: &str) -> anyhow::Result<TestTls> {
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, format!("switchyard test CA {name}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&server_key, &issuer)?;
        Ok(TestTls {
            ca_pem: ca_cert.pem(),
            cert_pem: cert.pem(),
            key_pem: server_key.serialize_pem(),
        })
    }

    /// Writes `ca.pem`, `server.pem` and `server.key` into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<TestTlsFiles> {
        use std::os::unix::fs::PermissionsExt;
        let files = TestTlsFiles {
            ca: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server.key"),
        };
        for (path, pem) in [
            (&files.ca, &self.ca_pem),
            (&files.cert, &self.cert_pem),
            (&files.key, &self.key_pem),
        ] {
            std::fs::write(path, pem)
                .with_context(|| format!("failed to write {}", path.display()))?;
        }
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))?;
        Ok(files)
    }
}

/// The message of a connection that had to fail because the server's certificate is not
/// trusted; an error if it connected, or failed for another reason.
pub fn certificate_error<T, E: std::fmt::Display>(result: Result<T, E>) -> anyhow::Result<String> {
    let err = match result {
        Ok(_) => anyhow::bail!("connected to a server whose certificate is not trusted"),
        Err(err) => err.to_string(),
    };
    anyhow::ensure!(
        err.contains("certificate") || err.contains("UnknownIssuer"),
        "not a certificate error: {err}"
    );
    Ok(err)
}

/// Publishes one message over `broker` (connected over TLS) and fetches and acks it
/// through a `tls-emails` subscription.
pub async fn tls_round_trip(broker: &dyn crate::Broker) -> anyhow::Result<()> {
    let subscription = crate::SubscriptionConfig::new("tls-emails", "emails");
    broker.ensure_subscription(&subscription).await?;
    broker
        .publish("emails", vec![crate::Message::new(b"over tls".to_vec())])
        .await?;
    let deliveries = broker
        .fetch(&subscription.name, 10, std::time::Duration::from_secs(5))
        .await?;
    anyhow::ensure!(
        deliveries.len() == 1 && deliveries[0].message.payload == b"over tls",
        "fetched {deliveries:?}"
    );
    let tags: Vec<_> = deliveries.iter().map(|delivery| delivery.tag).collect();
    broker.ack(&subscription.name, &tags).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_pem_files() {
        let tls = TestTls::generate("unit").unwrap();
        assert!(tls.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(tls.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let dir = tempfile::tempdir().unwrap();
        let files = tls.write(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&files.cert).unwrap(), tls.cert_pem);
    }
}
