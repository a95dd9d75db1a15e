//! `parley serve`: the daemon. Runs the enabled components in one tokio
//! runtime — the SMTP and LMTP listeners, the IMAP poller and the outbox
//! worker — and stops cleanly on SIGTERM or SIGINT: listeners close, idle
//! sessions are answered 421, sessions in the middle of a message get
//! `smtp.shutdown_grace_secs` to finish, the outbox worker finishes the
//! sends in flight and releases the rest of its batch, and the process
//! exits 0.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::{Config, ConfigError};
use crate::error::Failure;
use crate::intake::Intake;
use crate::outbox::compose::Composer;
use crate::outbox::throttle::Throttle;
use crate::outbox::worker::{self, Worker};
use crate::setup::{self, Setup};
use crate::smtp::recipients::Recipients;
use crate::smtp::{self, Protocol, Server, Settings};
use crate::store::Store;

/// Opens the store (creating it and the key file when missing, applying
/// migrations), syncs the queues, binds every listener (a port that cannot
/// be bound fails the start), serves until a signal.
pub async fn run(config: Config) -> Result<(), Failure> {
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
    let recipients = Recipients::new(&config, &secret, store.clone());
    let settings = Settings::new(&config.smtp, config.intake.max_message_bytes, tls);
    let (stop, stopped) = watch::channel(false);
    let server = Server::new(settings, intake.clone(), recipients, stopped.clone());

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
    if listeners.is_empty() && config.imap.is_empty() {
        return Err(ConfigError::new(
            "smtp.listen",
            "nothing to serve: smtp.listen and smtp.lmtp_listen are empty and no [[imap]] mailbox is set",
        )
        .into());
    }
    for mailbox in &config.imap {
        tracing::info!(mailbox = %mailbox.key(), "polling");
        tasks.spawn(crate::imap::run(
            mailbox.clone(),
            intake.clone(),
            stopped.clone(),
        ));
    }
    if config.outbox.enabled {
        let worker = outbox_worker(&config, &secret, store.clone())?;
        tracing::info!(
            relay = %format!("{}:{}", config.relay.host, config.relay.port()),
            "sending notifications"
        );
        tasks.spawn(Arc::new(worker).run(stopped.clone()));
    }
    for (listener, protocol) in listeners {
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, protocol = ?protocol, tls = server.settings().tls.is_some(), "listening");
        }
        tasks.spawn(server.clone().listen(listener, protocol));
    }
    tracing::info!(
        store = %crate::config::redact_url_password(&config.store.url),
        hostname = %server.settings().hostname,
        "parley serve started"
    );
    signal().await?;
    tracing::info!("shutting down");
    let _ = stop.send(true);
    while tasks.join_next().await.is_some() {}
    tracing::info!("stopped");
    Ok(())
}

/// The outbox worker from `[relay]` and `[outbox]`.
fn outbox_worker(
    config: &Config,
    secret: &[u8],
    store: Arc<dyn Store>,
) -> Result<Worker, ConfigError> {
    let composer = Composer::new(config, secret)?;
    Ok(Worker {
        store,
        composer,
        relay: worker::relay(config)?,
        send_timeout: std::time::Duration::from_secs(config.relay.timeout_secs),
        config: config.outbox.clone(),
        throttle: Throttle::new(&config.notify),
    })
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

/// Waits for SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
async fn signal() -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = int.recv() => tracing::info!("SIGINT"),
    }
    Ok(())
}
