//! Retention in `parley serve`: every `retention.interval_secs` (and once
//! at start), what `[retention]` says is old enough is deleted
//! ([`crate::store::RetentionStore::purge`]); `parley purge` does one pass
//! by hand. Off (no task) when every setting is 0, the default.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::{Config, RetentionConfig};
use crate::store::{Cutoffs, Purged, Store, StoreError, now_ms};

pub struct Purger {
    store: Arc<dyn Store>,
    config: RetentionConfig,
}

impl Purger {
    /// The purger of `config`; `None` when nothing is ever purged.
    pub fn new(config: &Config, store: Arc<dyn Store>) -> Option<Purger> {
        config.retention.enabled().then(|| Purger {
            store,
            config: config.retention.clone(),
        })
    }

    /// One pass, now.
    pub async fn pass(&self) -> Result<Purged, StoreError> {
        let cutoffs = Cutoffs::of(&self.config, now_ms());
        self.store.purge(cutoffs, false).await
    }

    /// Passes until `stopped`; a pass that fails is logged and tried again
    /// at the next.
    pub async fn run(self, mut stopped: watch::Receiver<bool>) {
        let every = Duration::from_secs(self.config.interval_secs);
        tracing::info!(
            every_secs = every.as_secs(),
            raw_mail_days = self.config.raw_mail_days,
            notifications_days = self.config.notifications_days,
            "retention started"
        );
        while !*stopped.borrow() {
            match self.pass().await {
                Ok(p) if p == Purged::default() => {}
                Ok(p) => tracing::info!(
                    raw_mails = p.raw_mails,
                    raw_bytes = p.raw_bytes,
                    notifications = p.notifications,
                    "retention: purged"
                ),
                Err(e) => tracing::warn!(error = %e, "retention: pass failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stopped.changed() => {}
            }
        }
    }
}
