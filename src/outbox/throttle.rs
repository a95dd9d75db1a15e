//! Throttles (`notify.throttle_*`): nobody is flooded, nothing is dropped.
//!
//! Before a batch is sent, its new-message rows are sifted:
//! 1. rows to the same participant on the same ticket are coalesced into
//!    the newest (the carrier), whose mail announces them all;
//! 2. a carrier whose recipient had a notification on the ticket less than
//!    `throttle_ticket_secs` ago is postponed to the end of that window
//!    (rows written meanwhile are postponed to the same moment, come due
//!    together and are coalesced then);
//! 3. a carrier whose address got `throttle_recipient_per_hour` mails in
//!    the last hour waits until the first of them is an hour old (checked
//!    before 2., which it overrides: such a row cannot go sooner). Until
//!    then, the address is held in this process: its new rows are written
//!    due at that moment, not at once, so they are not claimed and
//!    postponed batch after batch (`store/outbox/hold.rs`).
//!
//! Other kinds (acknowledgements, after-hours replies, notices,
//! transcripts) pass untouched: each has its own rule or is one of a kind.

use std::collections::HashMap;

use crate::config::NotifyConfig;
use crate::store::{NEW_MESSAGE, OutboxRow, Store, StoreError};

const HOUR_MS: i64 = 3_600_000;

/// The throttle settings of `[notify]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// 0: off.
    pub ticket_ms: i64,
    /// 0: off.
    pub recipient_per_hour: i64,
}

impl Throttle {
    pub fn new(config: &NotifyConfig) -> Throttle {
        Throttle {
            ticket_ms: i64::try_from(config.throttle_ticket_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            recipient_per_hour: i64::try_from(config.throttle_recipient_per_hour)
                .unwrap_or(i64::MAX),
        }
    }

    pub fn off() -> Throttle {
        Throttle {
            ticket_ms: 0,
            recipient_per_hour: 0,
        }
    }

    fn is_off(&self) -> bool {
        self.ticket_ms == 0 && self.recipient_per_hour == 0
    }

    /// The rows of a claimed batch to send now; the others are coalesced
    /// or postponed in the store (and their leases given up).
    pub async fn sift(
        &self,
        store: &dyn Store,
        rows: Vec<OutboxRow>,
        now: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        if self.is_off() {
            return Ok(rows);
        }
        let (mut send, news): (Vec<_>, Vec<_>) =
            rows.into_iter().partition(|r| r.kind != NEW_MESSAGE);
        // 1. The newest row per (ticket, participant) carries the others.
        let mut groups: HashMap<(i64, i64), Vec<OutboxRow>> = HashMap::new();
        for row in news {
            groups
                .entry((row.ticket, row.participant))
                .or_default()
                .push(row);
        }
        let mut carriers = Vec::new();
        for (_, mut group) in groups {
            group.sort_by_key(|r| r.id);
            let carrier = group.pop().expect("a group has a row");
            if !group.is_empty() {
                let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
                store.outbox_coalesce(&ids, carrier.id).await?;
            }
            carriers.push(carrier);
        }
        carriers.sort_by_key(|r| r.id);
        // 3. and 2. Windows, the recipient's first: its count is read once
        // a batch (this batch's own sends are added as they are planned),
        // the ticket's last send once a row. A row past its recipient's
        // cap cannot go before the cap's hour is over, whatever its
        // ticket's window says (if that window ends later still, the row
        // is held back again then), so it is postponed without reading it:
        // a busy address past its cap, a few reads a batch, not one a row.
        // The rows held back until one moment are postponed together, one
        // statement each moment (a busy address's whole batch: one).
        let mut sent_since: HashMap<String, (i64, Option<i64>)> = HashMap::new();
        let mut postponed: HashMap<i64, Vec<i64>> = HashMap::new();
        for row in carriers {
            let mut counted = None;
            if self.recipient_per_hour > 0 {
                if !sent_since.contains_key(&row.recipient) {
                    let since = store
                        .outbox_sent_since(&row.recipient, now - HOUR_MS)
                        .await?;
                    sent_since.insert(row.recipient.clone(), since);
                }
                let (sent, first) = sent_since.get_mut(&row.recipient).expect("just counted");
                if *sent >= self.recipient_per_hour {
                    let until = first.map_or(now + HOUR_MS, |f| f + HOUR_MS).max(now + 1000);
                    // And the rows written meanwhile are written due then.
                    store.outbox_hold_recipient(&row.recipient, until);
                    postponed.entry(until).or_default().push(row.id);
                    continue;
                }
                counted = Some(sent);
            }
            if self.ticket_ms > 0
                && let Some(last) = store.outbox_last_sent(row.ticket, row.participant).await?
                && now < last.saturating_add(self.ticket_ms)
            {
                let until = last.saturating_add(self.ticket_ms);
                postponed.entry(until).or_default().push(row.id);
                continue;
            }
            if let Some(sent) = counted {
                *sent += 1;
            }
            send.push(row);
        }
        for (until, ids) in postponed {
            store.outbox_postpone(&ids, until).await?;
        }
        send.sort_by_key(|r| r.id);
        Ok(send)
    }
}
