//! The reminders of overdue tickets: every `notify.overdue_check_secs`,
//! `parley serve` asks the store for the tickets that wait on the seller
//! side longer than their queue's response target (`[[queues]]
//! response_target_mins`, [`crate::store::ResponseStore::remind_overdue`]),
//! which writes one `overdue` row each, once per waiting period; the
//! outbox worker sends them like any other notification.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::store::{Reminded, Store, StoreError, Targets, now_ms};
use crate::token::Minter;

pub struct Reminders {
    store: Arc<dyn Store>,
    minter: Minter,
    targets: Targets,
    every: Duration,
}

/// Every queue's response target by name, ms (0: none).
pub fn targets(config: &Config) -> Targets {
    config
        .queues
        .iter()
        .map(|q| (q.name.clone(), q.response_target_ms()))
        .collect()
}

impl Reminders {
    /// The reminders of `config`; `None` when they are off
    /// (`overdue_check_secs = 0`) or no queue has a target.
    pub fn new(config: &Config, store: Arc<dyn Store>, minter: Minter) -> Option<Reminders> {
        let targets = targets(config);
        if config.notify.overdue_check_secs == 0 || targets.values().all(|t| *t <= 0) {
            return None;
        }
        Some(Reminders {
            store,
            minter,
            targets,
            every: Duration::from_secs(config.notify.overdue_check_secs),
        })
    }

    /// One pass: the tickets reminded now.
    pub async fn pass(&self) -> Result<Vec<Reminded>, StoreError> {
        self.store
            .remind_overdue(&self.targets, now_ms(), &self.minter)
            .await
    }

    /// Passes until `stopped`; a pass that fails is logged and tried again
    /// at the next.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        tracing::info!(
            every_secs = self.every.as_secs(),
            "overdue reminders started"
        );
        while !*stopped.borrow() {
            match self.pass().await {
                Ok(reminded) => {
                    for r in &reminded {
                        tracing::info!(ticket = r.ticket, to = ?r.recipients, "overdue: reminded");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "overdue reminders: pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
