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
use crate::store::Store;
use crate::systemd::Notifier;

/// Opens the store (creating it and the key file when missing, applying
/// migrations), syncs the queues, binds every listener (a port that cannot
/// be bound fails the start), serves until a signal.
pub async fn run(config: Config) -> Result<(), Failure> {
    // Taken before any listener is bound: a SIGTERM while the rest starts
    // stops parley cleanly once it has started (421 to the sessions it
    // took meanwhile), rather than killing it mid-session.
    let signals = Signals::new()?;
    let notifier = Notifier::from_env();
    notifier.status("opening the store");
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
    let mut monitor_listeners = Vec::new();
    for (i, addr) in config.http.monitor_listen.iter().enumerate() {
        monitor_listeners.push(bind(addr, &format!("http.monitor_listen[{i}]")).await?);
    }
    if listeners.is_empty()
        && http_listeners.is_empty()
        && monitor_listeners.is_empty()
        && config.imap.is_empty()
    {
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
    let mut first_logins = Vec::new();
    for mailbox in &config.imap {
        tracing::info!(mailbox = %mailbox.key(), "polling");
        let (tried, first) = tokio::sync::oneshot::channel();
        first_logins.push(first);
        tasks.spawn(crate::imap::run_reporting(
            mailbox.clone(),
            intake.clone(),
            stopped.clone(),
            Some(tried),
        ));
    }
    if let Some(reminders) =
        crate::outbox::reminders::Reminders::new(&config, store.clone(), intake.minter().clone())
    {
        tasks.spawn(reminders.run(stopped.clone()));
    }
    if let Some(purger) = crate::retention::Purger::new(&config, store.clone()) {
        tasks.spawn(purger.run(stopped.clone()));
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
    let mut app = None;
    if !http_listeners.is_empty() || !monitor_listeners.is_empty() {
        let state = http::AppState::new(&config, &secret, intake.clone())?;
        let grace = Duration::from_secs(config.http.shutdown_grace_secs);
        if !http_listeners.is_empty() {
            hub = Some(state.hub.clone());
        }
        for (listeners, router, what) in [
            (http_listeners, http::router(state.clone()), "http"),
            (
                monitor_listeners,
                http::monitor_router(state.clone()),
                "monitor",
            ),
        ] {
            for listener in listeners {
                if let Ok(addr) = listener.local_addr() {
                    tracing::info!(%addr, protocol = what, keys = config.http.keys.len(), "listening");
                }
                tasks.spawn(http::serve(
                    listener,
                    router.clone(),
                    stopped.clone(),
                    grace,
                ));
            }
        }
        app = Some(state);
    }
    // Ready once every mailbox's first login was tried (each bounded by
    // its timeout): a wrong password shows in the log before systemd
    // calls the start done.
    for first in first_logins {
        let _ = first.await;
    }
    if let Some(app) = &app {
        app.mark_started();
    }
    let status = serving_status(&config);
    tracing::info!(
        store = %crate::config::redact_url_password(&config.store.url),
        hostname = %server.settings().hostname,
        "parley serve started"
    );
    notifier.ready(&status);
    main_loop(signals, &notifier, &status, store.as_ref()).await;
    tracing::info!("shutting down");
    notifier.stopping();
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

/// What `systemctl status` shows while parley serves.
fn serving_status(config: &Config) -> String {
    let mut parts = Vec::new();
    for (name, list) in [
        ("SMTP", &config.smtp.listen),
        ("LMTP", &config.smtp.lmtp_listen),
        ("HTTP", &config.http.listen),
    ] {
        if !list.is_empty() {
            parts.push(format!("{name} {}", list.join(" ")));
        }
    }
    if !config.imap.is_empty() {
        parts.push(format!("{} IMAP mailbox(es)", config.imap.len()));
    }
    format!("serving: {}", parts.join(", "))
}

/// Until SIGTERM or SIGINT: feeds systemd's watchdog (when it watches)
/// every third of its interval, but only while the store answers, so that
/// a process whose store is gone is restarted rather than kept.
async fn main_loop(mut signals: Signals, notifier: &Notifier, status: &str, store: &dyn Store) {
    let Some(interval) = notifier.watchdog() else {
        signals.wait().await;
        return;
    };
    let period = (interval / 3).max(Duration::from_millis(100));
    let mut ticks = tokio::time::interval(period);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = signals.wait_one() => return,
            _ = ticks.tick() => {
                match tokio::time::timeout(period, store.ping()).await {
                    Ok(Ok(())) => {
                        notifier.watchdog_ping();
                        if failing {
                            failing = false;
                            tracing::info!("the store answers again");
                            notifier.status(status);
                        }
                    }
                    outcome => {
                        let error = match outcome {
                            Ok(Err(e)) => e.to_string(),
                            _ => format!("no answer within {period:?}"),
                        };
                        if !failing {
                            failing = true;
                            tracing::warn!(error = %error, "the store does not answer: the watchdog is not fed");
                        }
                        notifier.status(&format!("the store does not answer: {error}"));
                    }
                }
            }
        }
    }
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
        self.wait_one().await
    }

    /// The same, without giving the signals up (in a `select!` loop).
    async fn wait_one(&mut self) {
        tokio::select! {
            _ = self.term.recv() => tracing::info!("SIGTERM"),
            _ = self.int.recv() => tracing::info!("SIGINT"),
        }
    }
}
