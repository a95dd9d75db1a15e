//! The IMAP poller: pulls mail from the mailboxes in `[[imap]]` into intake.
//!
//! One task per mailbox. Each pass selects the folder, compares its
//! UIDVALIDITY with the stored cursor (a change starts the folder over;
//! duplicates are recognised at commit), fetches the UIDs above the cursor
//! in batches, hands each message to [`Intake::deliver`], and only after the
//! commit flags, moves or deletes it and advances the cursor. A crash
//! between commit and cursor fetches a message again; the store keeps it
//! once. A message that cannot be taken (too large, unmatched, refused, or
//! whose fetch keeps timing out: see [`Strikes`]) is kept raw in quarantine
//! and moved to the quarantine folder; the mailbox goes on. Every command
//! has the mailbox's `timeout_secs`.

mod mailbox;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::ImapConfig;
use crate::intake::Intake;

pub mod lease;

pub use mailbox::{ImapError, MAX_TIMEOUTS, Pass, Strikes, poll_once};
pub use tls::ImapStream;

/// The longest IDLE before it is renewed: RFC 2177 lets servers end an
/// IDLE after 30 minutes.
const IDLE_RENEW: Duration = Duration::from_secs(25 * 60);

/// The first wait after a failure; each further one twice as long, at
/// most [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A poller's state between failures.
struct Retry {
    backoff: Duration,
    /// The last failure logged (each is logged once until it changes).
    last_error: Option<String>,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            backoff: FIRST_BACKOFF,
            last_error: None,
        }
    }
}

/// Runs the poller of one mailbox until `shutdown` turns true. It keeps a
/// session open: a pass, then IDLE until the server reports a change (or
/// the poll interval passes), or without IDLE a sleep of the interval; the
/// two take the same messages. Failures reconnect with exponential backoff
/// (with jitter, up to five minutes; from one second again once a pass
/// worked), logged once per change of error.
pub async fn run(config: ImapConfig, intake: Arc<Intake>, shutdown: watch::Receiver<bool>) {
    run_reporting(config, intake, shutdown, None).await
}

/// [`run`], telling `tried` once the first login has been tried (whether
/// it worked or not): `parley serve` reports itself ready after that.
pub async fn run_reporting(
    config: ImapConfig,
    intake: Arc<Intake>,
    mut shutdown: watch::Receiver<bool>,
    mut tried: Option<tokio::sync::oneshot::Sender<()>>,
) {
    let key = config.key();
    crate::metrics::metrics().imap_started(&key, crate::store::now_ms());
    let lease = lease::Lease::new(intake.shared_store(), &key);
    let mut retry = Retry::default();
    let mut strikes = Strikes::default();
    let mut waiting = false;
    loop {
        if *shutdown.borrow() {
            lease.release().await;
            return;
        }
        let outcome = match lease.hold().await {
            Ok(true) => {
                if std::mem::take(&mut waiting) {
                    tracing::info!(mailbox = %key, "imap: this instance polls the mailbox now");
                    crate::metrics::metrics().imap_started(&key, crate::store::now_ms());
                }
                serve(
                    &config,
                    &intake,
                    &lease,
                    &mut shutdown,
                    &mut retry,
                    &mut strikes,
                    &mut tried,
                )
                .await
            }
            Ok(false) => Err(ImapError::Elsewhere),
            Err(e) => Err(ImapError::Store(e)),
        };
        let error = match outcome {
            Ok(()) => {
                lease.release().await;
                return;
            }
            // Not a failure: wait for the other instance's lease.
            Err(ImapError::Elsewhere) => {
                if !std::mem::replace(&mut waiting, true) {
                    tracing::info!(mailbox = %key, "imap: another instance polls this mailbox; waiting for its lease");
                    // Its lag is the polling instance's to report.
                    crate::metrics::metrics().imap_removed(&key);
                }
                if let Some(tried) = tried.take() {
                    let _ = tried.send(());
                }
                tokio::select! {
                    _ = tokio::time::sleep(lease::RETRY) => continue,
                    _ = shutdown.changed() => return,
                }
            }
            Err(e) => e.to_string(),
        };
        crate::metrics::metrics().imap_failed(&key);
        if let Some(tried) = tried.take() {
            let _ = tried.send(());
        }
        if retry.last_error.as_deref() != Some(error.as_str()) {
            tracing::warn!(mailbox = %key, error = %error, "imap: retrying with backoff");
            retry.last_error = Some(error);
        }
        let wait = retry.backoff + jitter(retry.backoff);
        retry.backoff = (retry.backoff * 2).min(MAX_BACKOFF);
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One connection's life: passes and waits until shutdown (`Ok`) or a
/// failure (`Err`).
async fn serve(
    config: &ImapConfig,
    intake: &Arc<Intake>,
    lease: &lease::Lease,
    shutdown: &mut watch::Receiver<bool>,
    retry: &mut Retry,
    strikes: &mut Strikes,
    tried: &mut Option<tokio::sync::oneshot::Sender<()>>,
) -> Result<(), ImapError> {
    let key = config.key();
    let metrics = crate::metrics::metrics();
    let interval = Duration::from_secs(config.poll_interval_secs.max(1));
    let (mut session, idle) = mailbox::connect(config).await?;
    if let Some(tried) = tried.take() {
        let _ = tried.send(());
    }
    if retry.last_error.take().is_some() {
        tracing::info!(mailbox = %key, "imap: connected again");
    }
    loop {
        if !lease.hold().await? {
            mailbox::log_out(session, config).await;
            return Err(ImapError::Elsewhere);
        }
        let pass = mailbox::take_new(&mut session, config, intake, strikes).await?;
        // A pass worked: the next failure starts the backoff over (it
        // grew for the whole life of the process before, so a mailbox
        // that failed a few times a day ended up waiting five minutes
        // after every Dovecot restart; the chaos suite found it).
        retry.backoff = FIRST_BACKOFF;
        metrics.imap_polled(&key, crate::store::now_ms(), pass.taken as u64);
        if pass.taken > 0 || pass.quarantined > 0 {
            tracing::info!(mailbox = %key, taken = pass.taken, quarantined = pass.quarantined, "imap pass");
        }
        if *shutdown.borrow() {
            mailbox::log_out(session, config).await;
            return Ok(());
        }
        if !idle {
            // Until the next poll, renewing the lease on the way.
            let next = tokio::time::Instant::now() + interval;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(next) => break,
                    _ = shutdown.changed() => {
                        mailbox::log_out(session, config).await;
                        return Ok(());
                    }
                    _ = tokio::time::sleep(lease::RENEW) => if !lease.hold().await? {
                        mailbox::log_out(session, config).await;
                        return Err(ImapError::Elsewhere);
                    },
                }
            }
            continue;
        }
        let mut handle = session.idle();
        mailbox::within(config.timeout(), handle.init()).await?;
        let mut renewals =
            tokio::time::interval_at(tokio::time::Instant::now() + lease::RENEW, lease::RENEW);
        let ended = {
            let (wait, _interrupt) = handle.wait_with_timeout(interval.min(IDLE_RENEW));
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    woke = &mut wait => { woke?; break Idle::Woke }
                    _ = shutdown.changed() => break Idle::Stopping,
                    _ = renewals.tick() => match lease.hold().await {
                        Ok(true) => {}
                        Ok(false) => break Idle::Elsewhere,
                        Err(e) => break Idle::Failed(e),
                    },
                }
            }
        };
        session = mailbox::within(config.timeout(), handle.done()).await?;
        match ended {
            Idle::Woke => {}
            Idle::Stopping => {
                mailbox::log_out(session, config).await;
                return Ok(());
            }
            Idle::Elsewhere => {
                mailbox::log_out(session, config).await;
                return Err(ImapError::Elsewhere);
            }
            Idle::Failed(e) => return Err(ImapError::Store(e)),
        }
    }
}

/// How an IDLE wait ended.
enum Idle {
    /// The server said something, or the wait's time was up: a pass.
    Woke,
    Stopping,
    /// Another instance holds the lease now.
    Elsewhere,
    /// The lease could not be renewed: the store failed.
    Failed(crate::store::StoreError),
}

/// Up to a quarter of `base`, from the clock's low bits: enough to keep
/// many pollers from retrying in step.
fn jitter(base: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    base / 4 * (nanos % 1000) / 1000
}
