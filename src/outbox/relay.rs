//! The connections to the relay: lettre's SMTP client
//! ([`AsyncSmtpConnection`]: the dialogue, STARTTLS, implicit TLS, AUTH,
//! its typed errors) on sockets we open ourselves, kept in a small pool.
//!
//! Why not lettre's pooled `AsyncSmtpTransport`: it opens its sockets
//! without `TCP_NODELAY` and offers no way to set it, and lettre writes the
//! body and the final `.` as two writes. Nagle then holds the dot until the
//! body is acknowledged, which the relay's delayed ACK puts off by ~40 ms
//! on Linux: every notification waited that long (bench/README.md,
//! bench/outbox). Its pool also sends a NOOP before every reuse, one round
//! trip per mail; here only a connection that sat idle is checked.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::io::{AsyncRead as _, AsyncWrite as _};
use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
#[allow(deprecated)] // lettre's TLS set-up for a socket we opened: see `TlsOver`
use lettre::transport::smtp::client::AsyncNetworkStream;
use lettre::transport::smtp::client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::config::{Config, ConfigError, RelayTls};

/// A pooled connection idle this long is dropped rather than reused: the
/// relay may have closed it (lettre's pool default; Postfix's smtpd waits
/// 300 s).
const IDLE_DROP: Duration = Duration::from_secs(60);
/// A pooled connection idle this long gets a NOOP before it is reused, so
/// that one the relay closed meanwhile costs a reconnect, not a deferred
/// notification. In a burst connections are reused within milliseconds
/// and skip it.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// How the connection is secured, with lettre's TLS parameters (the
/// system's roots, the host's name).
enum Security {
    Plain,
    Starttls(TlsParameters),
    Tls(TlsParameters),
}

/// The relay of `[relay]`: where, how, as whom; and the idle connections.
pub struct Relay {
    host: String,
    port: u16,
    security: Security,
    hello: ClientId,
    credentials: Option<Credentials>,
    /// The longest a TCP connect may take (the whole send is bounded by
    /// the worker's `send_timeout` besides).
    connect_timeout: Duration,
    /// At most this many idle connections are kept (`outbox.concurrency`:
    /// the worker never has more sends in flight).
    max_idle: usize,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    conn: AsyncSmtpConnection,
    since: Instant,
}

/// Why no connection could be set up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Name resolution or TCP: the relay or the way to it may recover.
    #[error("cannot connect to the relay: {0}")]
    Tcp(#[from] std::io::Error),
    /// The greeting, EHLO, TLS or AUTH: classified by lettre's type.
    #[error(transparent)]
    Smtp(#[from] lettre::transport::smtp::Error),
}

/// Builds the relay from `[relay]` (the password file is read here, at
/// start-up); pooled connections up to `outbox.concurrency`.
pub fn relay(config: &Config) -> Result<Relay, ConfigError> {
    let r = &config.relay;
    let host = r.host.trim().to_string();
    let tls = || {
        TlsParameters::new(host.clone())
            .map_err(|e| ConfigError::new("relay.tls", format!("cannot set up TLS: {e}")))
    };
    let security = match r.tls {
        RelayTls::Plain => Security::Plain,
        RelayTls::Starttls => Security::Starttls(tls()?),
        RelayTls::Tls => Security::Tls(tls()?),
    };
    let hello = if config.smtp.hostname.is_empty() {
        ClientId::default()
    } else {
        ClientId::Domain(config.smtp.hostname.clone())
    };
    let credentials = r
        .password()?
        .map(|password| Credentials::new(r.username.clone(), password));
    Ok(Relay {
        port: r.port(),
        host,
        security,
        hello,
        credentials,
        connect_timeout: Duration::from_secs(r.timeout_secs),
        max_idle: config.outbox.concurrency.max(1),
        idle: Mutex::new(Vec::new()),
    })
}

impl Relay {
    /// One mail over a pooled connection (or a new one). The connection
    /// goes back to the pool unless lettre gave it up (any refusal or
    /// broken dialogue aborts it with QUIT); a send cancelled by the
    /// caller's timeout drops it with the future.
    pub async fn send(
        &self,
        envelope: &Envelope,
        bytes: &[u8],
    ) -> Result<Result<Response, lettre::transport::smtp::Error>, ConnectError> {
        let mut conn = self.checkout().await?;
        // After 250 to the final dot the session is back at its initial
        // state (RFC 5321 §4.1.1.4), so the next MAIL needs no RSET.
        let answer = conn.send(envelope, bytes).await;
        if !conn.has_broken() {
            self.checkin(conn);
        }
        Ok(answer)
    }

    /// An idle connection still alive, else a new one.
    async fn checkout(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(Idle { mut conn, since }) = idle else {
                return self.connect().await;
            };
            let idle_for = since.elapsed();
            if idle_for >= IDLE_DROP {
                continue;
            }
            if idle_for < IDLE_CHECK || conn.test_connected().await {
                return Ok(conn);
            }
        }
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < self.max_idle {
            idle.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// TCP with `TCP_NODELAY`, the greeting and EHLO, TLS as configured,
    /// AUTH when credentials are set: what lettre's transport did, on a
    /// socket whose small writes are not held back.
    async fn connect(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
        tcp.set_nodelay(true)?;
        let mut conn = match &self.security {
            Security::Plain => {
                AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?
            }
            Security::Starttls(tls) => {
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?;
                // Refused (an error) when the relay does not offer it:
                // never MAIL FROM in the clear.
                conn.starttls(tls.clone(), &self.hello).await?;
                conn
            }
            Security::Tls(tls) => {
                #[allow(deprecated)]
                let mut stream = AsyncNetworkStream::use_existing_tokio1(Box::new(tcp));
                stream.upgrade_tls(tls.clone()).await?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsOver(stream)), &self.hello)
                    .await?
            }
        };
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

impl std::fmt::Display for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A TLS stream set up by lettre (`upgrade_tls`, the same parameters and
/// roots as its transport) over our socket, handed back to lettre's
/// client as a plain stream: lettre has no public way to open a
/// connection with implicit TLS on a given socket. Its `AsyncNetworkStream`
/// speaks futures' I/O traits; this speaks tokio's.
#[allow(deprecated)]
#[derive(Debug)]
struct TlsOver(AsyncNetworkStream);

impl AsyncRead for TlsOver {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let unfilled = buf.initialize_unfilled();
        match Pin::new(&mut self.0).poll_read(cx, unfilled) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for TlsOver {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_close(cx)
    }
}

impl AsyncTokioStream for TlsOver {
    fn peer_addr(&self) -> std::io::Result<SocketAddr> {
        self.0.peer_addr()
    }
}
