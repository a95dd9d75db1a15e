//! Each mailbox polled by one instance at a time when several `parley
//! serve` processes share a store: the poller holds the lease
//! `imap:<mailbox key>` ([`crate::store::LeaseStore`]) while it is
//! connected, renews it every [`RENEW`], and lets it go when it stops. An
//! instance that dies (SIGKILL, a lost host) stops renewing; another takes
//! the mailbox over once the lease runs out ([`TTL`]), at the cursor the
//! dead one committed last, so nothing is fetched twice and nothing lost
//! (a message committed whose cursor move was cut off is recognised as a
//! duplicate at commit).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::store::{Store, StoreError, now_ms};

/// How long a lease lasts without renewal: the longest a mailbox waits
/// for another instance after its poller died.
pub const TTL: Duration = Duration::from_secs(15);
/// How often the holder renews it.
pub const RENEW: Duration = Duration::from_secs(5);
/// How often an instance that does not hold it asks again.
pub const RETRY: Duration = Duration::from_secs(3);

/// This process's name as a lease holder: its PID and start time, unique
/// enough across the hosts of one store (the same PID started in the same
/// microsecond on two hosts is the only clash).
pub fn instance() -> &'static str {
    static INSTANCE: OnceLock<String> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let micros = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        format!("{}-{micros:x}", std::process::id())
    })
}

/// One mailbox's lease, held by this process.
pub struct Lease {
    store: Arc<dyn Store>,
    name: String,
}

impl Lease {
    pub fn new(store: Arc<dyn Store>, mailbox: &str) -> Lease {
        Lease {
            store,
            name: format!("imap:{mailbox}"),
        }
    }

    /// Takes or renews it for [`TTL`]: false when another instance holds it.
    pub async fn hold(&self) -> Result<bool, StoreError> {
        let now = now_ms();
        let until = now + TTL.as_millis() as i64;
        self.store
            .take_lease(&self.name, instance(), now, until)
            .await
    }

    /// Lets it go (a clean stop), so another instance need not wait.
    pub async fn release(&self) {
        if let Err(e) = self.store.release_lease(&self.name, instance()).await {
            tracing::warn!(lease = %self.name, error = %e, "imap: cannot release the lease; it runs out by itself");
        }
    }
}
