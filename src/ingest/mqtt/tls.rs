//! The rustls client configuration of an `mqtts://` broker: trust roots (a CA file or the
//! system's store), an optional client certificate, an optional server-name override.
//! Built with the `ring` provider explicitly, so no process-wide default is needed.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::MqttTlsConfig;

/// Reads and checks every file `tls` names and returns the configuration rumqttc uses.
pub fn client_config(tls: &MqttTlsConfig) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(match &tls.ca_file {
        Some(path) => ca_roots(path)?,
        None => system_roots()?,
    });
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &tls.server_name {
        None => builder.with_root_certificates(roots),
        Some(name) => {
            let name = ServerName::try_from(name.clone())
                .with_context(|| format!("mqtt.tls.server_name {name:?} is not a DNS name or IP address"))?;
            let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .context("build the broker certificate verifier")?;
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NameOverride { inner, name }))
        }
    };
    let config = match (&tls.client_cert_file, &tls.client_key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let chain = certificates(cert, "mqtt.tls.client_cert_file")?;
            let key = private_key(key)?;
            builder
                .with_client_auth_cert(chain, key)
                .context("mqtt.tls.client_cert_file and mqtt.tls.client_key_file do not make a usable pair")?
        }
        (Some(_), None) => {
            anyhow::bail!("mqtt.tls.client_cert_file is set without mqtt.tls.client_key_file (set both or neither)")
        }
        (None, Some(_)) => {
            anyhow::bail!("mqtt.tls.client_key_file is set without mqtt.tls.client_cert_file (set both or neither)")
        }
    };
    Ok(Arc::new(config))
}

fn read(path: &Path, setting: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("read {setting} {}", path.display()))
}

/// Every certificate of a PEM file; at least one.
fn certificates(path: &Path, setting: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let pem = read(path, setting)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{setting} {}: bad PEM", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{setting} {}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it", path.display());
    }
    Ok(certs)
}

fn ca_roots(path: &Path) -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for (i, cert) in certificates(path, "mqtt.tls.ca_file")?.into_iter().enumerate() {
        roots.add(cert).with_context(|| {
            format!("mqtt.tls.ca_file {}: certificate #{} is not usable as a CA", path.display(), i + 1)
        })?;
    }
    Ok(roots)
}

fn system_roots() -> anyhow::Result<RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let why = found.errors.first().map(|e| format!(" ({e})")).unwrap_or_default();
        anyhow::bail!(
            "no trusted root certificate found in the system store{why}: install ca-certificates or set mqtt.tls.ca_file"
        );
    }
    Ok(roots)
}

fn private_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    let pem = read(path, "mqtt.tls.client_key_file")?;
    PrivateKeyDer::from_pem_slice(&pem).with_context(|| {
        format!("mqtt.tls.client_key_file {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it", path.display())
    })
}

/// Verifies the broker's certificate against a configured name instead of the host
/// rumqttc connects to (rumqttc always passes the URL's host).
#[derive(Debug)]
struct NameOverride {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NameOverride {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner.verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary directory, removed on drop.
    struct TmpDir(std::path::PathBuf);

    impl TmpDir {
        fn new() -> Self {
            let dir = std::env::temp_dir().join(format!("roc42-tls-unit-{}", uuid::Uuid::new_v4().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }

        /// Writes a file under a fresh name.
        fn file(&self, contents: &[u8]) -> std::path::PathBuf {
            let p = self.0.join(uuid::Uuid::new_v4().simple().to_string());
            std::fs::write(&p, contents).unwrap();
            p
        }
    }

    impl Drop for TmpDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A self-signed certificate and its key, in PEM.
    fn rcgen_pair() -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    fn err(tls: &MqttTlsConfig) -> String {
        format!("{:#}", client_config(tls).unwrap_err())
    }

    #[test]
    fn system_roots_load() {
        // Debian's ca-certificates is on every machine that builds roc42.
        client_config(&MqttTlsConfig::default()).unwrap();
    }

    #[test]
    fn missing_and_bad_files_are_reported_with_the_setting() {
        let tmp = TmpDir::new();
        let missing = MqttTlsConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let e = err(&missing);
        assert!(e.starts_with("read mqtt.tls.ca_file /nonexistent/ca.pem:"), "{e}");

        let not_pem = MqttTlsConfig { ca_file: Some(tmp.file(b"hello")), ..Default::default() };
        assert!(err(&not_pem).contains("no PEM certificate"), "{}", err(&not_pem));

        let garbled = b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n";
        let garbled = MqttTlsConfig { ca_file: Some(tmp.file(garbled)), ..Default::default() };
        assert!(err(&garbled).contains("bad PEM"), "{}", err(&garbled));

        let cert_only = MqttTlsConfig { client_cert_file: Some("/x.pem".into()), ..Default::default() };
        assert_eq!(
            err(&cert_only),
            "mqtt.tls.client_cert_file is set without mqtt.tls.client_key_file (set both or neither)"
        );
        let key_only = MqttTlsConfig { client_key_file: Some("/x.key".into()), ..Default::default() };
        assert!(err(&key_only).starts_with("mqtt.tls.client_key_file is set without"));

        let empty_key = MqttTlsConfig {
            client_cert_file: Some(tmp.file(rcgen_pair().0.as_bytes())),
            client_key_file: Some(tmp.file(b"")),
            ..Default::default()
        };
        assert!(err(&empty_key).contains("no PEM private key"), "{}", err(&empty_key));

        let (cert, _) = rcgen_pair();
        let (_, other_key) = rcgen_pair();
        let mismatch = MqttTlsConfig {
            client_cert_file: Some(tmp.file(cert.as_bytes())),
            client_key_file: Some(tmp.file(other_key.as_bytes())),
            ..Default::default()
        };
        assert!(err(&mismatch).contains("do not make a usable pair"), "{}", err(&mismatch));

        let bad_name = MqttTlsConfig { server_name: Some("not a name".into()), ..Default::default() };
        assert!(err(&bad_name).contains("mqtt.tls.server_name"), "{}", err(&bad_name));
    }
}
