//! The outbox worker of `parley serve`: claim due rows under a lease,
//! compose each, hand it to the relay (or, with no relay configured, the
//! local Maildir: [`Transport`]), record the answer.
//!
//! The answer decides ([`Sent`]): sent; temporary (tried again after an
//! exponential backoff with jitter, until `max_age_secs`); permanent
//! (failed at once, with the reply). A row that cannot be composed (an
//! invalid recipient address, a vanished ticket) is permanent too.
//!
//! Rows are recorded only while pending, and a claim is a lease: a worker
//! that dies mid-send leaves rows that are claimed again once the lease
//! runs out (at least once delivery).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;

use super::compose::{Composed, Composer, MAX_REFERENCES};
use super::draft::Drafter;
use super::throttle::Throttle;
pub use super::transport::{Sent, Transport, relay};
use crate::config::{Config, ConfigError, OutboxConfig};
use crate::store::{BatchReads, OutboxRow, OutboxState, Store, StoreError, now_ms};

/// A claimed batch, sifted and read, ready to send.
#[derive(Default)]
struct Batch {
    rows: Vec<OutboxRow>,
    reads: Arc<BatchReads>,
    /// How many rows the claim took (before the throttles).
    claimed: usize,
}

/// A row the relay took, waiting to be recorded with the batch.
struct Taken {
    row: OutboxRow,
    reply: String,
    /// Rows a throttle coalesced into it take its outcome.
    carries: bool,
}

/// Everything the worker needs; one per `parley serve`.
pub struct Worker {
    pub store: Arc<dyn Store>,
    pub composer: Composer,
    /// Where notifications go: the relay of `[relay]`, or the local
    /// Maildir when none is configured ([`relay`] builds it).
    pub relay: Transport,
    /// The longest one delivery may take in all (`relay.timeout_secs`),
    /// connecting included: the lease must outlast the batch.
    pub send_timeout: Duration,
    pub config: OutboxConfig,
    pub throttle: Throttle,
}

impl Worker {
    /// The worker `parley serve` runs, from `[relay]`, `[outbox]` and
    /// `[notify]` (templates loaded and checked, the relay's password file
    /// read; a Maildir is not created here).
    pub fn new(
        config: &Config,
        secret: &[u8],
        store: Arc<dyn Store>,
    ) -> Result<Worker, ConfigError> {
        // The holds were found under the old cap (`store/outbox/hold.rs`).
        store.outbox_forget_holds();
        Ok(Worker {
            store,
            composer: Composer::new(config, secret)?,
            relay: relay(config)?,
            send_timeout: Duration::from_secs(config.relay.timeout_secs),
            config: config.outbox.clone(),
            throttle: Throttle::new(&config.notify),
        })
    }

    /// Composes rows as this worker does (`compose_alone`, `context`).
    pub fn drafter(&self) -> Drafter<'_> {
        Drafter {
            store: &*self.store,
            composer: &self.composer,
            throttle: self.throttle,
        }
    }

    /// Runs until `stopped` turns true. Sends in flight then finish (each
    /// is bounded by `relay.timeout_secs`) so that nothing sent is left
    /// unrecorded, which would send it again after the lease; rows of the
    /// batch not yet tried are released for the next start.
    pub async fn run(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        tracing::info!(batch = self.config.batch, "outbox worker started");
        while !*stopped.borrow() {
            let busy = match self.drain(&stopped).await {
                Ok(n) => n > 0,
                Err(e) => {
                    tracing::warn!(error = %e, "outbox: cannot claim rows");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    _ = tokio::time::sleep(poll) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
        tracing::info!("outbox worker stopped");
    }

    /// Sends batch after batch until one claims nothing (or `stopped`
    /// turns true); how many rows it claimed in all. The next batch is
    /// claimed and read while the sends of this one run, so the
    /// connections do not wait for the store between batches. The rows
    /// the relay took are recorded together once their batch is done, in
    /// one commit (recording each in its own commit capped the worker at
    /// the store's commit rate); until then they stay leased, so a crash
    /// in between sends them again (at least once, never zero times).
    pub async fn drain(
        self: &Arc<Self>,
        stopped: &watch::Receiver<bool>,
    ) -> Result<usize, StoreError> {
        let mut next = self.prepare(&HashSet::new()).await?;
        let mut claimed = next.claimed;
        while !next.rows.is_empty() && !*stopped.borrow() {
            let current = std::mem::take(&mut next);
            let in_flight = current
                .rows
                .iter()
                .map(|r| (r.ticket, r.participant))
                .collect();
            let (sent, prepared) =
                tokio::join!(self.send_all(current, stopped), self.prepare(&in_flight));
            self.record_sent(&sent).await;
            next = prepared?;
            claimed += next.claimed;
        }
        for row in &next.rows {
            if let Err(e) = self.store.release_outbox(row.id).await {
                tracing::warn!(id = row.id, error = %e, "outbox: cannot release a row");
            }
        }
        Ok(claimed)
    }

    /// Claims a batch, sifts it through the throttles and reads what
    /// composing it needs. Rows to a (ticket, participant) of the batch in
    /// flight are given back: the throttles must see that batch recorded.
    async fn prepare(&self, in_flight: &HashSet<(i64, i64)>) -> Result<Batch, StoreError> {
        let now = now_ms();
        let lease = now.saturating_add(secs_ms(self.config.lease_secs));
        let rows = self
            .store
            .claim_outbox(now, lease, self.config.batch as i64)
            .await?;
        let claimed = rows.len();
        let (later, rows): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|r| in_flight.contains(&(r.ticket, r.participant)));
        for row in &later {
            self.store.release_outbox(row.id).await?;
        }
        let rows = self.throttle.sift(&*self.store, rows, now).await?;
        let reads = Arc::new(self.store.batch_reads(&rows, MAX_REFERENCES).await?);
        Ok(Batch {
            rows,
            reads,
            claimed,
        })
    }

    /// Delivers a batch, `outbox.concurrency` at once (the rows not yet
    /// tried when `stopped` turns true are released); the rows the relay
    /// took.
    async fn send_all(
        self: &Arc<Self>,
        batch: Batch,
        stopped: &watch::Receiver<bool>,
    ) -> Vec<Taken> {
        let reads = batch.reads;
        futures_util::stream::iter(batch.rows)
            .map(|row| {
                let worker = Arc::clone(self);
                let reads = Arc::clone(&reads);
                let stopped = stopped.clone();
                // Each send is a task of its own, so that composing runs on
                // every core rather than all on the batch's task. A task
                // that panicked leaves its row leased: sent again later.
                let task = tokio::spawn(async move {
                    if *stopped.borrow() {
                        if let Err(e) = worker.store.release_outbox(row.id).await {
                            tracing::warn!(id = row.id, error = %e, "outbox: cannot release a row");
                        }
                        None
                    } else {
                        worker.deliver(row, &reads).await
                    }
                });
                async move {
                    task.await.unwrap_or_else(|e| {
                        tracing::error!(error = %e, "outbox: a send failed unexpectedly");
                        None
                    })
                }
            })
            .buffer_unordered(self.config.concurrency.max(1))
            .filter_map(std::future::ready)
            .collect()
            .await
    }

    /// Composes and sends one row; records a failure at once and hands a
    /// success back with the relay's reply, for [`Worker::record_sent`]. A
    /// store failure leaves the row leased: it is tried again when the
    /// lease runs out.
    async fn deliver(&self, row: OutboxRow, reads: &BatchReads) -> Option<Taken> {
        let mut carries = false;
        let outcome = match self.drafter().context(&row, reads).await {
            Ok(Some(cx)) => {
                carries = !cx.earlier.is_empty();
                match self.composer.compose(&row, &cx) {
                    Ok(mail) => {
                        (self.relay)
                            .send(&mail.envelope, &mail.bytes, self.send_timeout)
                            .await
                    }
                    Err(e) => Sent::Permanent(e.to_string()),
                }
            }
            Ok(None) => Sent::Permanent(format!("ticket {} does not exist", row.ticket)),
            Err(e) => {
                tracing::warn!(id = row.id, error = %e, "outbox: cannot read the row's ticket");
                return None;
            }
        };
        use crate::metrics::{Send, metrics};
        metrics().send(match &outcome {
            Sent::Sent(_) => Send::Sent,
            Sent::Permanent(_) => Send::Failed,
            Sent::Retry(_) => Send::Deferred,
        });
        match outcome {
            Sent::Sent(reply) => {
                return Some(Taken {
                    row,
                    reply,
                    carries,
                });
            }
            Sent::Permanent(reply) => {
                if let Err(e) = self.store.outbox_failed(row.id, &reply).await {
                    tracing::warn!(id = row.id, error = %e, %reply, "outbox: cannot record a failure");
                } else {
                    tracing::warn!(id = row.id, ticket = row.ticket, %reply, "notification failed");
                }
            }
            Sent::Retry(reply) => {
                if let Err(e) = self.record_deferred(&row, &reply).await {
                    tracing::warn!(id = row.id, error = %e, %reply, "outbox: cannot record a deferral");
                }
            }
        }
        if carries {
            // Failed for good (or too old): so is what it carried.
            self.settle(row.id).await;
        }
        None
    }

    /// The mail `row` is sent as, read and composed as a batch of one
    /// (bench/outbox sizes smtp-source's messages by it); the reason when
    /// it cannot be.
    pub async fn compose_alone(&self, row: &OutboxRow) -> Result<Composed, String> {
        self.drafter()
            .compose_alone(row)
            .await
            .map_err(|e| e.to_string())
    }

    /// Gives the rows coalesced into `carrier` its outcome.
    async fn settle(&self, carrier: i64) {
        if let Err(e) = self.store.outbox_settle_coalesced(carrier).await {
            // They wait, unclaimed, for the next record of their carrier.
            tracing::warn!(id = carrier, error = %e, "outbox: cannot settle coalesced rows");
        }
    }

    /// Records the rows the relay took, in one transaction. On an error
    /// none is recorded: they stay leased and are sent again after it.
    async fn record_sent(&self, sent: &[Taken]) {
        if sent.is_empty() {
            return;
        }
        let ids: Vec<(i64, String)> = sent.iter().map(|t| (t.row.id, t.reply.clone())).collect();
        match self.store.outbox_sent_many(&ids, now_ms()).await {
            Ok(recorded) => {
                for Taken {
                    row,
                    carries,
                    reply,
                } in sent
                {
                    if recorded.contains(&row.id) {
                        tracing::info!(id = row.id, ticket = row.ticket, %reply, "notification sent");
                        if *carries {
                            self.settle(row.id).await;
                        }
                    } else {
                        // An operator's `outbox retry` or a bounce got there
                        // first; the row stays as they left it.
                        tracing::info!(id = row.id, "notification sent, row no longer pending");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(rows = sent.len(), error = %e, "outbox: cannot record sent notifications");
            }
        }
    }

    /// A temporary failure: tried again after the backoff, or given up
    /// when the row is older than `max_age_secs`.
    async fn record_deferred(&self, row: &OutboxRow, reply: &str) -> Result<(), StoreError> {
        let now = now_ms();
        let delay = retry_delay(&self.config, row.attempts, row.id ^ now);
        let next = now.saturating_add(delay.as_millis() as i64);
        let expire = now.saturating_sub(secs_ms(self.config.max_age_secs));
        let state = self
            .store
            .outbox_deferred(row.id, reply, next, expire)
            .await?;
        if state == Some(OutboxState::Failed) {
            tracing::warn!(id = row.id, %reply, "notification given up: too old");
        } else {
            tracing::info!(id = row.id, %reply, retry_in = ?delay, "notification deferred");
        }
        Ok(())
    }
}

/// The wait before the next try after `attempts` earlier tries (temporary
/// failures, or a permanent one an operator retried): `first_retry_secs` doubled per attempt, at most
/// `max_retry_secs`, plus up to 25% jitter (from `seed`) so that rows that
/// failed together do not come back together.
pub fn retry_delay(config: &OutboxConfig, attempts: i64, seed: i64) -> Duration {
    let shift = attempts.clamp(0, 30) as u32;
    let base = config
        .first_retry_secs
        .saturating_mul(1u64 << shift)
        .min(config.max_retry_secs)
        .saturating_mul(1000);
    // A splitmix64 step: cheap, and good enough to spread retries.
    let mut x = (seed as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let jitter = x % (base / 4).max(1);
    Duration::from_millis(base.saturating_add(jitter))
}

fn secs_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OutboxConfig {
        OutboxConfig {
            enabled: true,
            batch: 10,
            concurrency: 2,
            lease_secs: 300,
            poll_interval_ms: 1000,
            first_retry_secs: 60,
            max_retry_secs: 3600,
            max_age_secs: 172_800,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let c = config();
        for seed in [0, 1, 42, -7, i64::MAX] {
            let d0 = retry_delay(&c, 0, seed).as_millis();
            assert!((60_000..75_000).contains(&d0), "{d0}");
            let d2 = retry_delay(&c, 2, seed).as_millis();
            assert!((240_000..300_000).contains(&d2), "{d2}");
            let big = retry_delay(&c, 1000, seed).as_millis();
            assert!((3_600_000..4_500_000).contains(&big), "{big}");
        }
        assert_ne!(retry_delay(&c, 3, 1), retry_delay(&c, 3, 2));
    }
}
