//! The SMTP and LMTP listeners of `parley serve`.
//!
//! An MX (or any sender on the internet) delivers over SMTP (RFC 5321); a
//! local MTA can hand over by LMTP (RFC 2033). Recipients are checked at
//! RCPT by intake's recipient rule ([`recipients`]: what each kind is
//! answered); the data is read with dot-stuffing undone and the
//! size enforced while reading; the message goes through [`Intake`] and "250"
//! is answered only once it is committed (through the group committer when
//! many sessions deliver at once). A store failure answers 451 4.3.0: the
//! sender keeps the message and retries.
//!
//! [`Server::listen`] accepts connections and applies the connection limits;
//! [`Server::session`] runs one session over any stream (tests drive it in
//! memory). Limits and timeouts come from the `[smtp]` config section.

mod conn;
pub mod recipients;
mod session;
pub mod tls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use crate::config::SmtpConfig;
use crate::intake::Intake;
use session::Session;

pub use session::TRACE_ROOM;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Smtp,
    Lmtp,
}

/// Limits and identity of the listeners (from `[smtp]`).
#[derive(Clone)]
pub struct Settings {
    pub hostname: String,
    /// What `SIZE` announces and the data may not exceed.
    pub max_message_bytes: usize,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_bad_commands: u32,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub command_timeout: Duration,
    pub data_timeout: Duration,
    pub greeting_delay: Duration,
    pub shutdown_grace: Duration,
    pub tls: Option<TlsAcceptor>,
}

impl Settings {
    /// From the `[smtp]` section and the intake's size limit (less room for
    /// the `Received:` header parley adds).
    pub fn new(config: &SmtpConfig, max_message_bytes: usize, tls: Option<TlsAcceptor>) -> Self {
        let hostname = if config.hostname.is_empty() {
            system_hostname()
        } else {
            config.hostname.clone()
        };
        Settings {
            hostname,
            max_message_bytes: max_message_bytes.saturating_sub(TRACE_ROOM),
            max_recipients: config.max_recipients,
            max_line_length: config.max_line_length,
            max_bad_commands: config.max_bad_commands,
            max_connections: config.max_connections,
            max_connections_per_ip: config.max_connections_per_ip,
            command_timeout: Duration::from_secs(config.command_timeout_secs),
            data_timeout: Duration::from_secs(config.data_timeout_secs),
            greeting_delay: Duration::from_millis(config.greeting_delay_ms),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_secs),
            tls,
        }
    }
}

/// The machine's host name, else `localhost` (also the host part of the
/// outbox's Maildir file names).
pub(crate) fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| crate::address::is_domain(h))
        .unwrap_or_else(|| "localhost".into())
}

/// What every session shares.
pub struct Server {
    /// Swapped whole by [`Server::reload`]; each session keeps the one it
    /// began with.
    settings: std::sync::RwLock<Arc<Settings>>,
    /// Takes the messages, and says at RCPT what each recipient is.
    intake: Arc<Intake>,
    shutdown: watch::Receiver<bool>,
    connections: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    sessions: AtomicU64,
    epoch: u64,
}

impl Server {
    /// `shutdown` turning true stops the listeners and ends idle sessions.
    pub fn new(
        settings: Settings,
        intake: Arc<Intake>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Arc::new(Server {
            connections: Arc::new(Semaphore::new(settings.max_connections)),
            settings: std::sync::RwLock::new(Arc::new(settings)),
            intake,
            shutdown,
            per_ip: Mutex::new(HashMap::new()),
            sessions: AtomicU64::new(0),
            epoch,
        })
    }

    /// The settings new sessions get.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New settings (SIGHUP) for the sessions that begin from now on: the
    /// host name, limits, timeouts and TLS certificate. Sessions open keep
    /// theirs. `max_connections` stays as the server started (the
    /// semaphore is sized once); the listeners' addresses are not here.
    pub fn reload(&self, settings: Settings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    /// A session id unique across restarts: start time and a counter.
    fn next_session_id(&self) -> String {
        let n = self.sessions.fetch_add(1, Ordering::Relaxed);
        format!("{:x}{n:x}", self.epoch)
    }

    /// Runs one session over `stream` (no connection limits: those are
    /// [`Server::listen`]'s).
    pub async fn session<S>(self: &Arc<Self>, stream: S, peer: SocketAddr, protocol: Protocol)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send,
    {
        Session::new(stream, self.clone(), protocol, peer)
            .run()
            .await;
    }

    /// Accepts connections until shutdown, then gives sessions in the
    /// middle of a message `shutdown_grace` to finish and ends the rest.
    pub async fn listen(self: Arc<Self>, listener: TcpListener, protocol: Protocol) {
        let mut sessions = JoinSet::new();
        let mut shutdown = self.shutdown.clone();
        loop {
            if *shutdown.borrow() {
                break;
            }
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => self.admit(stream, peer, protocol, &mut sessions),
                    Err(e) => {
                        // Out of file descriptors and the like: pause, go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
                changed = shutdown.changed() => if changed.is_err() { break },
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        drop(listener);
        let open = sessions.len();
        let drain = async { while sessions.join_next().await.is_some() {} };
        if tokio::time::timeout(self.settings().shutdown_grace, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                sessions = sessions.len(),
                "sessions still open after the grace period: closed without an answer"
            );
            sessions.shutdown().await;
        } else if open > 0 {
            tracing::info!(sessions = open, "sessions finished after shutdown");
        }
    }

    fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        peer: SocketAddr,
        protocol: Protocol,
        sessions: &mut JoinSet<()>,
    ) {
        let _ = stream.set_nodelay(true);
        let settings = self.settings();
        let host = &settings.hostname;
        let Ok(permit) = self.connections.clone().try_acquire_owned() else {
            tracing::warn!(peer = %peer, "connection limit reached; refused");
            let text = format!("421 4.7.0 {host} too many connections, try again later\r\n");
            sessions.spawn(refuse(stream, text));
            return;
        };
        let Some(claim) = IpClaim::take(self, peer.ip()) else {
            tracing::info!(peer = %peer, "per-address connection limit reached; refused");
            let text = format!("421 4.7.0 {host} too many connections from your address\r\n");
            sessions.spawn(refuse(stream, text));
            return;
        };
        let server = self.clone();
        sessions.spawn(async move {
            Session::new(stream, server, protocol, peer).run().await;
            drop(claim);
            drop(permit);
        });
    }
}

/// Answers a connection that is not served, and closes it.
async fn refuse(mut stream: TcpStream, text: String) {
    crate::metrics::metrics().reply(421);
    let write = async {
        stream.write_all(text.as_bytes()).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}

/// One connection counted against its IP address; released on drop.
struct IpClaim {
    server: Arc<Server>,
    ip: IpAddr,
}

impl IpClaim {
    fn take(server: &Arc<Server>, ip: IpAddr) -> Option<IpClaim> {
        let mut counts = server.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        let count = counts.entry(ip).or_insert(0);
        if *count >= server.settings().max_connections_per_ip {
            return None;
        }
        *count += 1;
        Some(IpClaim {
            server: server.clone(),
            ip,
        })
    }
}

impl Drop for IpClaim {
    fn drop(&mut self) {
        let mut counts = self.server.per_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = counts.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}
