//! What `parley serve` rebuilds from the configuration on SIGHUP
//! (`parley reload`, systemd's `ExecReload=`), and how.
//!
//! The file is read and validated first; a bad one changes nothing (the
//! log says why). Then everything that can fail is built before anything
//! is swapped: the TLS certificate, the outbox worker (relay,
//! templates), the webhooks' worker. Then the queues are synced into the
//! store (new intake addresses are taken at RCPT from then on), intake
//! takes its new settings (policy rules, spam model, greetings, working
//! hours, limits), SMTP its new settings for the sessions that begin
//! after (open sessions keep theirs), the workers of the old
//! configuration stop as on shutdown (sends in flight finish, the rest of
//! their batch is released for the new ones) and the new ones start, and
//! IMAP mailboxes that were added start polling while removed or changed
//! ones log out. No session is dropped and no message is lost: an SMTP
//! message in flight is taken whole by the intake it began with.
//!
//! Not reloaded (a restart applies them, and the log says so when they
//! changed): the store, the token key and reply domain (tokens already
//! sent must keep verifying), the listeners' addresses and connection
//! limit, `[http]` (keys, limits), `intake.commit_batch`, `intake.commit_concurrency` and `[retention]`.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use crate::config::{Config, ImapConfig};
use crate::error::Failure;
use crate::intake::Intake;
use crate::outbox::worker::Worker;
use crate::store::Store;
use crate::webhooks::worker::Deliverer;

/// The workers built from one configuration, stopped together.
pub(super) struct Workers {
    stop: watch::Sender<bool>,
}

/// Workers built but not started: what a reload makes before it swaps.
pub(super) struct Built {
    outbox: Option<Worker>,
    webhooks: Option<Deliverer>,
    reminders: Option<crate::outbox::reminders::Reminders>,
}

impl Built {
    /// Every worker `config` asks for; an error (a relay or template that
    /// does not work, a webhook's bad URL) before any starts.
    pub fn new(
        config: &Config,
        secret: &[u8],
        store: &Arc<dyn Store>,
        intake: &Intake,
    ) -> Result<Built, Failure> {
        let outbox = match config.outbox.enabled {
            true => {
                let worker = Worker::new(config, secret, store.clone())?;
                super::announce(&worker.relay)?;
                Some(worker)
            }
            false => None,
        };
        let webhooks = match config.webhooks.is_empty() {
            true => None,
            false => Some(Deliverer::new(config, store.clone())?),
        };
        let reminders = crate::outbox::reminders::Reminders::new(
            config,
            store.clone(),
            intake.minter().clone(),
        );
        Ok(Built {
            outbox,
            webhooks,
            reminders,
        })
    }

    /// Gives each new webhook its cursor: it gets every event from here on
    /// (done before the listeners and pollers start, and before a reload
    /// stops the old workers, so that a store error changes nothing).
    pub async fn prepare(&self) -> Result<(), Failure> {
        if let Some(deliverer) = &self.webhooks {
            deliverer.start().await?;
        }
        Ok(())
    }

    /// Starts them into `tasks` (after [`Built::prepare`]).
    pub fn spawn(self, tasks: &mut JoinSet<()>) -> Workers {
        let (stop, stopped) = watch::channel(false);
        if let Some(deliverer) = self.webhooks {
            tasks.spawn(Arc::new(deliverer).run(stopped.clone()));
        }
        if let Some(reminders) = self.reminders {
            tasks.spawn(reminders.run(stopped.clone()));
        }
        if let Some(worker) = self.outbox {
            tasks.spawn(Arc::new(worker).run(stopped));
        }
        Workers { stop }
    }
}

impl Workers {
    /// Stops them as on shutdown; the caller's task set waits for them.
    pub fn stop(&self) {
        let _ = self.stop.send(true);
    }
}

/// The IMAP pollers, one per mailbox, each with its own stop.
#[derive(Default)]
pub(super) struct Pollers {
    running: HashMap<String, (String, watch::Sender<bool>)>,
}

/// What identifies a mailbox's settings: a change restarts its poller.
fn fingerprint(mailbox: &ImapConfig) -> String {
    format!("{mailbox:?}")
}

impl Pollers {
    /// Starts a poller for each mailbox of `config` that is not running
    /// with the same settings, and stops the others. Returns, for each
    /// started, a receiver told when its first login was tried.
    pub fn update(
        &mut self,
        config: &Config,
        intake: &Arc<Intake>,
        tasks: &mut JoinSet<()>,
    ) -> Vec<oneshot::Receiver<()>> {
        let wanted: HashMap<String, &ImapConfig> =
            config.imap.iter().map(|m| (m.key(), m)).collect();
        self.running.retain(|key, (print, stop)| {
            let keep = wanted.get(key).is_some_and(|m| fingerprint(m) == *print);
            if !keep {
                tracing::info!(mailbox = %key, "imap: stopping (removed or changed by a reload)");
                let _ = stop.send(true);
                crate::metrics::metrics().imap_removed(key);
            }
            keep
        });
        let mut first_logins = Vec::new();
        for mailbox in &config.imap {
            let key = mailbox.key();
            if self.running.contains_key(&key) {
                continue;
            }
            tracing::info!(mailbox = %key, "polling");
            let (stop, stopped) = watch::channel(false);
            let (tried, first) = oneshot::channel();
            first_logins.push(first);
            tasks.spawn(crate::imap::run_reporting(
                mailbox.clone(),
                intake.clone(),
                stopped,
                Some(tried),
            ));
            self.running.insert(key, (fingerprint(mailbox), stop));
        }
        first_logins
    }

    pub fn stop_all(&self) {
        for (_, stop) in self.running.values() {
            let _ = stop.send(true);
        }
    }
}

/// The keys a reload does not apply, by name, when `fresh` changes them.
pub(super) fn needs_restart(old: &Config, fresh: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, same: bool| {
        if !same {
            changed.push(name);
        }
    };
    check("store", old.store.url == fresh.store.url);
    check(
        "token",
        format!("{:?}", old.token) == format!("{:?}", fresh.token),
    );
    check(
        "mail.reply_domain",
        old.mail.reply_domain == fresh.mail.reply_domain,
    );
    check("smtp.listen", old.smtp.listen == fresh.smtp.listen);
    check(
        "smtp.lmtp_listen",
        old.smtp.lmtp_listen == fresh.smtp.lmtp_listen,
    );
    check(
        "smtp.max_connections",
        old.smtp.max_connections == fresh.smtp.max_connections,
    );
    check(
        "http",
        format!("{:?}", old.http) == format!("{:?}", fresh.http),
    );
    check(
        "intake.commit_batch",
        old.intake.commit_batch == fresh.intake.commit_batch,
    );
    check(
        "intake.commit_concurrency",
        old.intake.commit_concurrency == fresh.intake.commit_concurrency,
    );
    changed
}
