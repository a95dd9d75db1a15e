//! `parley serve`: the daemon. Runs the enabled components in one tokio
//! runtime — the SMTP and LMTP listeners, the HTTP listener, the IMAP
//! poller, the outbox worker and the webhooks' worker — and stops cleanly on SIGTERM or SIGINT:
//! listeners close, idle sessions are answered 421, sessions in the middle
//! of a message get `smtp.shutdown_grace_secs` to finish, HTTP requests in
//! flight get `http.shutdown_grace_secs`, the outbox worker finishes the
//! sends in flight and releases the rest of its batch (so do the
//! webhooks: the POST in flight finishes), and the process exits 0.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::error::Failure;
use crate::http;
use crate::intake::Intake;
use crate::outbox::transport::Transport;
use crate::setup::{self, Setup};
use crate::smtp::{self, Protocol, Server, Settings};
use crate::store::Store;
use crate::systemd::Notifier;

mod reload;

/// Opens the store (creating it and the key file when missing, applying
/// migrations), syncs the queues, binds every listener (a port that cannot
/// be bound fails the start), serves until a signal.
pub async fn run(config: Config, path: Option<PathBuf>) -> Result<(), Failure> {
    // Taken before any listener is bound: a SIGTERM while the rest starts
    // stops parley cleanly once it has started (421 to the sessions it
    // took meanwhile), rather than killing it mid-session.
    let signals = Signals::new()?;
    let notifier = Notifier::from_env();
    notifier.status("opening the store");
    let (store, secret) = setup::open(&config, Setup::Create).await?;
    let tls = tls_acceptor(&config)?;
    let intake = Arc::new(
        Intake::new(&config, &secret, store.clone())
            .with_group_commit(config.intake.commit_batch, config.intake.commit_concurrency),
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
    // Before any listener or poller starts: a new webhook gets every event
    // from this start on.
    let built = reload::Built::new(&config, &secret, &store, &intake)?;
    built.prepare().await?;
    let workers = built.spawn(&mut tasks);
    let mut pollers = reload::Pollers::default();
    let first_logins = pollers.update(&config, &intake, &mut tasks);
    if let Some(purger) = crate::retention::Purger::new(&config, store.clone()) {
        tasks.spawn(purger.run(stopped.clone()));
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
    tracing::info!(
        store = %crate::config::redact_url_password(&config.store.url),
        hostname = %server.settings().hostname,
        "parley serve started"
    );
    notifier.ready(&serving_status(&config, &config));
    let mut running = Running {
        started: config.clone(),
        config,
        path,
        secret,
        store,
        intake,
        server,
        workers,
        pollers,
        tasks,
        notifier,
    };
    running.main_loop(signals).await;
    tracing::info!("shutting down");
    running.notifier.stopping();
    let _ = stop.send(true);
    running.workers.stop();
    running.pollers.stop_all();
    let mut tasks = running.tasks;
    // Live event streams never end by themselves: end them, or they would
    // hold the HTTP listeners for their whole grace period.
    if let Some(hub) = &hub {
        hub.close();
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// What `systemctl status` shows while parley serves: the listeners it
/// started with (a reload does not move them) and the mailboxes it polls.
fn serving_status(started: &Config, current: &Config) -> String {
    let mut parts = Vec::new();
    for (name, list) in [
        ("SMTP", &started.smtp.listen),
        ("LMTP", &started.smtp.lmtp_listen),
        ("HTTP", &started.http.listen),
    ] {
        if !list.is_empty() {
            parts.push(format!("{name} {}", list.join(" ")));
        }
    }
    if !current.imap.is_empty() {
        parts.push(format!("{} IMAP mailbox(es)", current.imap.len()));
    }
    format!("serving: {}", parts.join(", "))
}

/// What runs, and what a reload swaps.
struct Running {
    /// The configuration the process started with: what a reload cannot
    /// change (listeners, store, keys) is as it says.
    started: Config,
    /// The configuration in use, the last reload's.
    config: Config,
    /// The file named on the command line, read again on SIGHUP.
    path: Option<PathBuf>,
    secret: Vec<u8>,
    store: Arc<dyn Store>,
    intake: Arc<Intake>,
    server: Arc<Server>,
    workers: reload::Workers,
    pollers: reload::Pollers,
    tasks: tokio::task::JoinSet<()>,
    notifier: Notifier,
}

impl Running {
    /// Until SIGTERM or SIGINT, reloading on SIGHUP. Feeds systemd's
    /// watchdog (when it watches) every third of its interval, but only
    /// while the store answers, so that a process whose store is gone is
    /// restarted rather than kept.
    async fn main_loop(&mut self, mut signals: Signals) {
        let period = self
            .notifier
            .watchdog()
            .map(|interval| (interval / 3).max(Duration::from_millis(100)));
        // Without a watchdog the ticks only reap finished tasks.
        let mut ticks = tokio::time::interval(period.unwrap_or(Duration::from_secs(60)));
        let mut failing = false;
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Signal::Stop => return,
                    Signal::Reload => self.reload().await,
                },
                _ = ticks.tick() => {
                    while self.tasks.try_join_next().is_some() {}
                    let Some(period) = period else { continue };
                    match tokio::time::timeout(period, self.store.ping()).await {
                        Ok(Ok(())) => {
                            self.notifier.watchdog_ping();
                            if failing {
                                failing = false;
                                tracing::info!("the store answers again");
                                self.notifier.status(&self.status());
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
                            self.notifier
                                .status(&format!("the store does not answer: {error}"));
                        }
                    }
                }
            }
        }
    }

    /// SIGHUP: the configuration read again and applied (`reload.rs`), or
    /// kept whole when the new one is not valid.
    async fn reload(&mut self) {
        self.notifier.reloading();
        tracing::info!("reloading the configuration");
        let outcome = self.apply(Config::load(self.path.as_deref())).await;
        crate::metrics::metrics().reload(outcome.is_ok());
        match outcome {
            Ok(()) => tracing::info!("configuration reloaded"),
            Err(e) => tracing::error!(
                error = %e,
                "reload refused: the configuration in use is kept unchanged"
            ),
        }
        self.notifier.ready(&self.status());
    }

    fn status(&self) -> String {
        serving_status(&self.started, &self.config)
    }

    async fn apply(&mut self, fresh: Result<Config, ConfigError>) -> Result<(), Failure> {
        let fresh = fresh?;
        let tls = tls_acceptor(&fresh)?;
        let built = reload::Built::new(&fresh, &self.secret, &self.store, &self.intake)?;
        built.prepare().await?;
        for queue in &fresh.queues {
            self.store.sync_queue(queue).await?;
        }
        for key in reload::needs_restart(&self.started, &fresh) {
            tracing::warn!(key, "changed in the file, applied at the next restart only");
        }
        self.intake.reload(&fresh);
        self.server.reload(Settings::new(
            &fresh.smtp,
            fresh.intake.max_message_bytes,
            tls,
        ));
        // The old workers finish what they are sending and release the
        // rest; the new ones take it from there.
        self.workers.stop();
        self.workers = built.spawn(&mut self.tasks);
        let _ = self.pollers.update(&fresh, &self.intake, &mut self.tasks);
        self.config = fresh;
        Ok(())
    }
}

/// The STARTTLS acceptor of `[smtp]`, if a certificate is set.
fn tls_acceptor(config: &Config) -> Result<Option<tokio_rustls::TlsAcceptor>, Failure> {
    if config.smtp.tls_cert.as_os_str().is_empty() {
        return Ok(None);
    }
    Ok(Some(smtp::tls::acceptor(
        &config.smtp.tls_cert,
        &config.smtp.tls_key,
    )?))
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

/// SIGTERM (systemd's stop), SIGINT (Ctrl-C) and SIGHUP (reload), caught
/// from the moment they are made: one that arrives before the main loop
/// asks is kept.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

/// What a signal asks for.
enum Signal {
    Stop,
    Reload,
}

impl Signals {
    fn new() -> Result<Signals, Failure> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The next one (or one that came before).
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => { tracing::info!("SIGTERM"); Signal::Stop }
            _ = self.int.recv() => { tracing::info!("SIGINT"); Signal::Stop }
            _ = self.hup.recv() => { tracing::info!("SIGHUP"); Signal::Reload }
        }
    }
}
