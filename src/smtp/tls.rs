//! STARTTLS: the server certificate and key from config, rustls with ring.

use std::path::Path;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ConfigError;

/// Builds the acceptor from a PEM certificate chain and a PEM private key.
/// Errors name the config key at fault.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, ConfigError> {
    let read = |field: &str, path: &Path| {
        std::fs::read(path).map_err(|e| {
            ConfigError::new(format!("smtp.{field}"), format!("{}: {e}", path.display()))
        })
    };
    let cert_pem = read("tls_cert", cert)?;
    let key_pem = read("tls_key", key)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ConfigError::new("smtp.tls_cert", format!("{}: {e}", cert.display())))?;
    if chain.is_empty() {
        return Err(ConfigError::new(
            "smtp.tls_cert",
            format!("{}: no PEM certificate in it", cert.display()),
        ));
    }
    let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| ConfigError::new("smtp.tls_key", format!("{}: {e}", key.display())))?;
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::new("smtp.tls_cert", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| {
            ConfigError::new("smtp.tls_key", format!("does not fit the certificate: {e}"))
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
