//! What composing one notification reads: the batch's reads
//! ([`BatchReads`]) and, for the kinds that need more, the store (the rows a
//! throttle coalesced, the moderator's reason, the forwarder's note, a
//! transcript's messages). The worker drafts every row this way, and so do
//! [`Drafter::compose_alone`] (`parley outbox show`, bench/outbox): a row is
//! shown as the worker composes it.

use super::compose::{ComposeError, Composed, Composer, Context, MAX_REFERENCES};
use super::throttle::Throttle;
use crate::store::{
    ACK, AFTER_HOURS, BatchReads, NEW_MESSAGE, OutboxRow, REJECTED_NOTICE, Store, StoreError,
    TRANSCRIPT,
};

/// What composing a row needs besides the row.
#[derive(Clone, Copy)]
pub struct Drafter<'a> {
    pub store: &'a dyn Store,
    pub composer: &'a Composer,
    /// Rows are read for what a throttle coalesced into them only while a
    /// throttle is on.
    pub throttle: Throttle,
}

/// Why a row cannot be composed.
#[derive(Debug, thiserror::Error)]
pub enum DraftError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("ticket {0} does not exist")]
    NoTicket(i64),
    #[error(transparent)]
    Compose(#[from] ComposeError),
}

impl Drafter<'_> {
    /// The mail `row` is sent as, read and composed as a batch of one.
    pub async fn compose_alone(&self, row: &OutboxRow) -> Result<Composed, DraftError> {
        let reads = self
            .store
            .batch_reads(std::slice::from_ref(row), MAX_REFERENCES)
            .await?;
        let cx = self
            .context(row, &reads)
            .await?
            .ok_or(DraftError::NoTicket(row.ticket))?;
        Ok(self.composer.compose(row, &cx)?)
    }

    /// What composing `row` needs, from the batch's reads and, for the
    /// kinds that need more, the store; `None` when its ticket is gone.
    pub async fn context(
        &self,
        row: &OutboxRow,
        reads: &BatchReads,
    ) -> Result<Option<Context>, StoreError> {
        let Some(ticket) = reads.tickets.get(&row.ticket).cloned() else {
            return Ok(None);
        };
        // Configured queues are synced into the store at start-up; one
        // removed from the config since is read.
        let queue_name = match self.composer.queue_texts(&ticket.queue) {
            Some(texts) => texts.display_name.clone(),
            None => match self.store.queue(&ticket.queue).await? {
                Some(q) if !q.display_name.is_empty() => q.display_name,
                _ => ticket.queue.clone(),
            },
        };
        let message = row.message.and_then(|id| reads.messages.get(&id).cloned());
        // The messages of the rows a throttle coalesced into this one.
        let mut earlier = Vec::new();
        if row.kind == NEW_MESSAGE && self.throttle != Throttle::off() {
            for r in self.store.outbox_coalesced(row.id).await? {
                if let Some(id) = r.message
                    && let Some(m) = self.store.message(id).await?
                {
                    earlier.push(m);
                }
            }
        }
        let thread_ids = reads.thread_ids.get(&row.id).cloned().unwrap_or_default();
        // The moderator's reason and the forwarder's note are in the audit
        // log, with the decision they belong to.
        let audit = if row.kind == REJECTED_NOTICE || row.kind == TRANSCRIPT {
            self.store.audit(row.ticket).await?
        } else {
            Vec::new()
        };
        let detail =
            |action: &str, matches: &dyn Fn(&crate::store::AuditEntry) -> bool, key: &str| {
                audit
                    .iter()
                    .rev()
                    .find(|a| a.action == action && matches(a))
                    .and_then(|a| a.detail.get(key)?.as_str().map(str::to_string))
            };
        let reason = detail(
            "moderation.rejected",
            &|a| a.message == row.message,
            "reason",
        );
        let note = detail(
            "ticket.forwarded",
            &|a| a.detail.get("to").and_then(|t| t.as_str()) == Some(row.recipient.as_str()),
            "note",
        );
        let transcript = if row.kind == TRANSCRIPT {
            self.store.messages(row.ticket).await?
        } else {
            Vec::new()
        };
        let custom = if row.kind == ACK || row.kind == AFTER_HOURS {
            self.store.queue_texts(&ticket.queue).await?
        } else {
            None
        };
        Ok(Some(Context {
            participants: reads
                .participants
                .get(&row.ticket)
                .cloned()
                .unwrap_or_default(),
            ticket,
            queue_name,
            message,
            thread_ids,
            reason,
            transcript,
            note,
            earlier,
            custom,
        }))
    }
}
