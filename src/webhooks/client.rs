//! The HTTP client of the webhooks: one POST per delivery, HTTP/1.1 over a
//! fresh connection (hyper's client connection, plain TCP or rustls with
//! the system's trust anchors), the whole exchange bounded by the
//! webhook's `timeout_ms`. Redirects are not followed: a 3xx is a failed
//! try like any other answer that is not 2xx.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Where a webhook's POSTs go, from its `url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    /// Without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The `Host` header: the URL's authority.
    pub authority: String,
    /// The request target: path and query, at least `/`.
    pub path: String,
}

impl Target {
    /// Parses an `http://` or `https://` URL with a host, no user info
    /// and no fragment.
    pub fn parse(url: &str) -> Result<Target, String> {
        if url.contains('#') {
            return Err("a URL with a fragment".into());
        }
        let uri: Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("neither http:// nor https://".into()),
        };
        let authority = uri.authority().ok_or("no host")?;
        if authority.as_str().contains('@') {
            return Err("user info in a URL is not sent: remove it".into());
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        if host.is_empty() {
            return Err("no host".into());
        }
        if https && ServerName::try_from(host).is_err() {
            return Err("the host is neither a host name nor an IP address".into());
        }
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        if port == 0 {
            return Err("port 0".into());
        }
        let path = uri
            .path_and_query()
            .map(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or("/");
        Ok(Target {
            https,
            host: host.to_string(),
            port,
            authority: authority.as_str().to_string(),
            path: path.to_string(),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

/// What a POST came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 2xx.
    Delivered(StatusCode),
    /// 410 Gone: the receiver says this URL is gone for good.
    Gone(String),
    /// Any other answer, or none (refused, reset, timed out, TLS): try
    /// again later.
    Retry(String),
}

/// POSTs `body` to `target` with `headers` (besides `Host`,
/// `Content-Type: application/json` and `Content-Length`), within
/// `timeout`.
pub async fn post(
    target: &Target,
    tls: Option<&TlsConnector>,
    headers: &[(&str, String)],
    body: String,
    timeout: Duration,
) -> Answer {
    match tokio::time::timeout(timeout, exchange(target, tls, headers, body)).await {
        Ok(Ok(status)) if status.is_success() => Answer::Delivered(status),
        Ok(Ok(status)) if status == StatusCode::GONE => Answer::Gone("HTTP 410 Gone".into()),
        Ok(Ok(status)) => Answer::Retry(format!("HTTP {status}")),
        Ok(Err(e)) => Answer::Retry(e),
        Err(_) => Answer::Retry(format!("no answer within {} ms", timeout.as_millis())),
    }
}

async fn exchange(
    target: &Target,
    tls: Option<&TlsConnector>,
    headers: &[(&str, String)],
    body: String,
) -> Result<StatusCode, String> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .map_err(|e| format!("connecting to {}:{}: {e}", target.host, target.port))?;
    let _ = tcp.set_nodelay(true);
    if !target.https {
        return request(tcp, target, headers, body).await;
    }
    let name =
        ServerName::try_from(target.host.clone()).map_err(|e| format!("{}: {e}", target.host))?;
    let system;
    let tls = match tls {
        Some(tls) => tls,
        None => {
            system = connector(Vec::new())?;
            &system
        }
    };
    let tls = tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {}: {e}", target.host))?;
    request(tls, target, headers, body).await
}

async fn request<S>(
    stream: S,
    target: &Target,
    headers: &[(&str, String)],
    body: String,
) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP: {e}"))?;
    let driver = tokio::spawn(connection);
    let mut builder = Request::post(target.path.as_str())
        .header("host", target.authority.as_str())
        .header("content-type", "application/json")
        .header("user-agent", concat!("parley/", env!("CARGO_PKG_VERSION")));
    for (name, value) in headers {
        builder = builder.header(*name, value.as_str());
    }
    let request = builder.body(body).map_err(|e| format!("request: {e}"))?;
    let answer = sender.send_request(request).await;
    // The answer's head is all we read: the connection goes with it.
    driver.abort();
    answer
        .map(|response| response.status())
        .map_err(|e| format!("HTTP: {e}"))
}

/// The TLS client: ring, the system's trust anchors (as
/// `rustls-native-certs` finds them, read once per process: also
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`) and `extra`.
pub fn connector(extra: Vec<CertificateDer<'static>>) -> Result<TlsConnector, String> {
    static SYSTEM: OnceLock<RootCertStore> = OnceLock::new();
    let mut roots = SYSTEM
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "webhooks: reading the system's trust anchors");
            }
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            roots
        })
        .clone();
    for cert in extra {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let t = Target::parse("https://hooks.shop.example/parley?x=1").unwrap();
        assert!(t.https);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("hooks.shop.example", 443, "/parley?x=1")
        );
        let t = Target::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (t.https, t.port, t.path.as_str(), t.authority.as_str()),
            (false, 8080, "/", "127.0.0.1:8080")
        );
        let t = Target::parse("http://[::1]:9/in").unwrap();
        assert_eq!(t.host, "::1");
        assert_eq!(t.to_string(), "http://[::1]:9/in");
        for bad in [
            "ftp://x.example/",
            "hooks.example/in",
            "https://user:pw@x.example/",
            "http://x.example/#frag",
            "http://",
            "not a url",
            "http://x.example:0/",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
