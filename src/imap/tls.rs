//! TLS for the IMAP poller: the stream of a session (plain or TLS, one
//! type for all modes) and the client side of the handshake — rustls with
//! ring, trusting the system's roots plus the mailbox's `tls_ca_file`, the
//! server name being the configured host.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::ImapError;
use crate::config::{ImapConfig, ImapTls};

/// The byte stream under an IMAP session.
pub enum ImapStream {
    /// `tls = "none"` (loopback only).
    Plain(TcpStream),
    /// `tls = "tls"`, or `"starttls"` after the upgrade.
    Tls(Box<TlsStream<TcpStream>>),
}

impl fmt::Debug for ImapStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, tcp) = match self {
            ImapStream::Plain(s) => ("Plain", s),
            ImapStream::Tls(s) => ("Tls", s.get_ref().0),
        };
        f.debug_tuple(kind).field(&tcp.peer_addr().ok()).finish()
    }
}

/// Wraps `tcp` in TLS with the mailbox's server (the handshake included).
/// A refused certificate is [`ImapError::Certificate`]; other failures are
/// [`ImapError::Tls`]; both name the host.
pub async fn handshake(config: &ImapConfig, tcp: TcpStream) -> Result<ImapStream, ImapError> {
    let host = config.host.trim();
    let fail = |reason: String| ImapError::Tls {
        host: host.to_string(),
        reason,
    };
    let name = ServerName::try_from(host)
        .map_err(|e| fail(format!("not a name to check the certificate against: {e}")))?
        .to_owned();
    let connector = connector(config)?;
    let stream = connector
        .connect(name, tcp)
        .await
        .map_err(|e| handshake_error(config, e))?;
    Ok(ImapStream::Tls(Box::new(stream)))
}

/// The client config: TLS 1.2 and 1.3 with ring, the system's roots plus
/// `tls_ca_file`'s certificates, no client certificate.
fn connector(config: &ImapConfig) -> Result<TlsConnector, ImapError> {
    let mut roots = system_roots().clone();
    for cert in config.ca_certificates()? {
        roots.add(cert).map_err(|e| ImapError::Tls {
            host: config.host.trim().to_string(),
            reason: format!("tls_ca_file: {e}"),
        })?;
    }
    if roots.is_empty() {
        return Err(ImapError::Tls {
            host: config.host.trim().to_string(),
            reason: "no trust anchors: the system has none and tls_ca_file is empty".into(),
        });
    }
    let client = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| ImapError::Tls {
            host: config.host.trim().to_string(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(client)))
}

/// The system's trust anchors (as `rustls-native-certs` finds them: also
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`), read once per process; problems
/// are logged then.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "imap: reading the system's trust anchors");
        }
        let mut roots = RootCertStore::empty();
        let (_, unusable) = roots.add_parsable_certificates(found.certs);
        if unusable > 0 {
            tracing::debug!(
                unusable,
                "imap: system certificates not usable as trust anchors"
            );
        }
        roots
    })
}

/// Tells a refused certificate from other handshake failures.
fn handshake_error(config: &ImapConfig, error: io::Error) -> ImapError {
    let host = config.host.trim();
    let tls = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(refused @ rustls::Error::InvalidCertificate(reason)) => {
            let hint = match reason {
                rustls::CertificateError::UnknownIssuer => {
                    " (its issuer is not among the trusted roots: for a private CA, set \
                     tls_ca_file to the CA's PEM certificate)"
                }
                _ => "",
            };
            ImapError::Certificate {
                host: host.to_string(),
                reason: format!("{refused}{hint}"),
            }
        }
        Some(other @ rustls::Error::InvalidMessage(_)) if config.tls == ImapTls::Tls => {
            ImapError::Tls {
                host: host.to_string(),
                reason: format!(
                    "{other} (the server does not answer in TLS: for a plain IMAP port \
                     such as 143, use tls = \"starttls\")"
                ),
            }
        }
        Some(other) => ImapError::Tls {
            host: host.to_string(),
            reason: other.to_string(),
        },
        None => ImapError::Tls {
            host: host.to_string(),
            reason: error.to_string(),
        },
    }
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
