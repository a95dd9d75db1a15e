//! `parley serve`: the daemon. Runs the enabled components in one tokio
//! runtime — the SMTP and LMTP listeners, the HTTP listener, the IMAP
//! poller, the outbox worker and the webhooks' worker — and stops cleanly on SIGTERM or SIGINT:
//! listeners close, idle sessions are answered 421, sessions in the middle
//! of a message get `smtp.shutdown_grace_secs` to finish, HTTP requests in
//! flight get `http.shutdown_grace_secs`, the outbox worker finishes the
//! sends in flight and releases the rest of its batch (so do the
//! webhooks: the POST in flight finishes), and the process exits 0.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::error::Failure;
use crate::http;
use crate::intake::Intake;
use crate::outbox::transport::Transport;
use crate::outbox::worker::Worker;
use crate::setup::{self, Setup};
use crate::smtp::{self, Protocol, Server, Settings};

/// Opens the store (creating it and the key file when missing, applying
/// migrations), syncs the queues, binds every listener (a port that cannot
/// be bound fails the start), serves until a signal.
pub async fn run(config: Config) -> Result<(), Failure> {
    // Taken before any listener is bound: a SIGTERM while the rest starts
    // stops parley cleanly once it has started (421 to the sessions it
    // took meanwhile), rather than killing it mid-session.
    let signals = Signals::new()?;
    let (store, secret) = setup::open(&config, Setup::Create).await?;
    let tls = if config.smtp.tls_cert.as_os_str().is_empty() {
        None
    } else {
        Some(smtp::tls::acceptor(
            &config.smtp.tls_cert,
            &config.smtp.tls_key,
        )?)
    };
    let intake = Arc::new(
        Intake::new(&config, &secret, store.clone()).with_group_commit(config.intake.commit_batch),
    );
    let settings = Settings::new(&config.smtp, config.intake.max_message_bytes, tls);
    let (stop, stopped) = watch::channel(false);
    let server = Server::new(settings, intake.clone(), stopped.clone());

    let mut tasks = tokio::task::JoinSet::new();
    let mut listeners = Vec::new();
    for (list, protocol) in [
        (&config.smtp.listen, Protocol::Smtp),
        (&config.smtp.lmtp_listen, Protocol::Lmtp),
    ] {
        for (i, addr) in list.iter().enumerate() {
            let key = match protocol {
                Protocol::Smtp => format!("smtp.listen[{i}]"),
                Protocol::Lmtp => format!("smtp.lmtp_listen[{i}]"),
            };
            listeners.push((bind(addr, &key).await?, protocol));
        }
    }
    let mut http_listeners = Vec::new();
    for (i, addr) in config.http.listen.iter().enumerate() {
        http_listeners.push(bind(addr, &format!("http.listen[{i}]")).await?);
    }
    if listeners.is_empty() && http_listeners.is_empty() && config.imap.is_empty() {
        return Err(ConfigError::new(
            "smtp.listen",
            "nothing to serve: smtp.listen, smtp.lmtp_listen and http.listen are empty and \
             no [[imap]] mailbox is set",
        )
        .into());
    }
    if !config.webhooks.is_empty() {
        let deliverer = crate::webhooks::worker::Deliverer::new(&config, store.clone())?;
        // Before any listener or poller starts: a new webhook gets every event from
        // this start on.
        deliverer.start().await?;
        tasks.spawn(Arc::new(deliverer).run(stopped.clone()));
    }
    for mailbox in &config.imap {
        tracing::info!(mailbox = %mailbox.key(), "polling");
        tasks.spawn(crate::imap::run(
            mailbox.clone(),
            intake.clone(),
            stopped.clone(),
        ));
    }
    if let Some(reminders) =
        crate::outbox::reminders::Reminders::new(&config, store.clone(), intake.minter().clone())
    {
        tasks.spawn(reminders.run(stopped.clone()));
    }
    if config.outbox.enabled {
        let worker = Worker::new(&config, &secret, store.clone())?;
        announce(&worker.relay)?;
        tasks.spawn(Arc::new(worker).run(stopped.clone()));
    }
    for (listener, protocol) in listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, protocol = ?protocol, tls = server.settings().tls.is_some(), "listening");
        }
        tasks.spawn(server.clone().listen(listener, protocol));
    }
    let mut hub = None;
    if !http_listeners.is_empty() {
        let state = http::AppState::new(&config, &secret, intake.clone())?;
        hub = Some(state.hub.clone());
        let router = http::router(state);
        let grace = Duration::from_secs(config.http.shutdown_grace_secs);
        for listener in http_listeners {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, protocol = "http", keys = config.http.keys.len(), "listening");
            }
            tasks.spawn(http::serve(
                listener,
                router.clone(),
                stopped.clone(),
                grace,
            ));
        }
    }
    tracing::info!(
        store = %crate::config::redact_url_password(&config.store.url),
        hostname = %server.settings().hostname,
        "parley serve started"
    );
    signals.wait().await;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    // Live event streams never end by themselves: end them, or they would
    // hold the HTTP listeners for their whole grace period.
    if let Some(hub) = &hub {
        hub.close();
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// Says where notifications go, in one line; creates the Maildir when no
/// relay is configured (a new user reads what parley sent there).
fn announce(transport: &Transport) -> Result<(), Failure> {
    match transport {
        Transport::Relay(relay) => {
            tracing::info!(relay = %relay, "sending notifications");
        }
        Transport::Maildir(maildir) => {
            maildir.create().map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot create relay.maildir: {e}"))
            })?;
            let path = maildir.path().display();
            tracing::info!(
                "no relay configured (relay.host is empty): notifications go into the \
                 Maildir {path}, read them with `mutt -f {path}`"
            );
        }
    }
    Ok(())
}

async fn bind(addr: &str, key: &str) -> Result<TcpListener, Failure> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|_| ConfigError::new(key, format!("{addr:?} is not IP:PORT")))?;
    TcpListener::bind(parsed).await.map_err(|e| {
        Failure::Io(std::io::Error::new(
            e.kind(),
            format!("cannot listen on {addr} ({key}): {e}"),
        ))
    })
}

/// SIGTERM (systemd's stop) and SIGINT (Ctrl-C), caught from the moment
/// they are made: one that arrives before [`Signals::wait`] is kept.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> Result<Signals, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    /// Until one of them comes (or came).
    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM"),
            _ = self.int.recv() => tracing::info!("SIGINT"),
        }
    }
}
