//! Filing a ticket away and back: soft delete and restore, archive and
//! unarchive, each one transaction with its audit entry.
//!
//! Filing moves neither the status nor `updated_at` (the recency of a
//! conversation is its activity, not where someone filed it). The status
//! files a ticket too: closing archives it ([`crate::tickets::archived_on`],
//! applied where a status moves). A deleted ticket stays in the store with
//! everything on it: its messages, history and notifications; threading
//! sends mail answering it to a new ticket ([`crate::intake::thread`]).

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;

use super::sql::get;
use super::{Audience, EventKind, NewEvent, StoreError, now_ms};

/// Where a ticket is put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Filing {
    /// Soft-deleted: out of every list but the seller side's trash, hidden
    /// from the client; restorable.
    Delete,
    Restore,
    Archive,
    Unarchive,
}

impl Filing {
    /// The audit entry's action (and the event's kind).
    pub fn action(self) -> &'static str {
        match self {
            Filing::Delete => "ticket.deleted",
            Filing::Restore => "ticket.restored",
            Filing::Archive => "ticket.archived",
            Filing::Unarchive => "ticket.unarchived",
        }
    }

    /// The event it appends to the log.
    pub fn event(self) -> EventKind {
        match self {
            Filing::Delete => EventKind::TicketDeleted,
            Filing::Restore => EventKind::TicketRestored,
            Filing::Archive => EventKind::TicketArchived,
            Filing::Unarchive => EventKind::TicketUnarchived,
        }
    }
}

/// A request to file ticket `ticket`, by `actor` (for the audit log).
#[derive(Debug, Clone)]
pub struct File {
    pub ticket: i64,
    pub filing: Filing,
    pub actor: String,
}

/// What a [`File`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filed {
    /// Filed and audited.
    Changed,
    /// It was filed so already: nothing written.
    Unchanged,
}

#[async_trait]
pub trait FilingStore: Send + Sync {
    /// Files a ticket, with the audit entry ([`Filing::action`], detail
    /// `{}`), in one transaction. A missing ticket is `NotFound`; archiving
    /// or unarchiving a deleted one is a `Conflict` (restore it first).
    async fn file(&self, request: &File) -> Result<Filed, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl FilingStore for SqlStore {
        async fn file(&self, request: &File) -> Result<Filed, StoreError> {
            let number = request.ticket;
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row = sqlx::query("SELECT archived, deleted_at FROM tickets WHERE number = $1")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("ticket #{number} does not exist")))?;
            let archived = get::<i64, _>(&row, "archived")? != 0;
            let deleted = get::<Option<i64>, _>(&row, "deleted_at")?.is_some();
            // Each statement changes the row only from what we read: of two
            // people filing it at once (PostgreSQL reads do not lock), the
            // second finds it filed. `$1` is the ticket, `$2` the time.
            let (already, sql) = match request.filing {
                Filing::Delete => (
                    deleted,
                    "UPDATE tickets SET deleted_at = $2 WHERE number = $1 AND deleted_at IS NULL \
                     RETURNING number",
                ),
                Filing::Restore => (
                    !deleted,
                    "UPDATE tickets SET deleted_at = NULL WHERE number = $1 AND deleted_at IS NOT NULL \
                     RETURNING number",
                ),
                Filing::Archive | Filing::Unarchive if deleted => {
                    return Err(StoreError::Conflict(format!(
                        "ticket #{number} is deleted; restore it first"
                    )));
                }
                Filing::Archive => (
                    archived,
                    "UPDATE tickets SET archived = 1 WHERE number = $1 AND archived = 0 \
                     AND deleted_at IS NULL RETURNING number",
                ),
                Filing::Unarchive => (
                    !archived,
                    "UPDATE tickets SET archived = 0 WHERE number = $1 AND archived <> 0 \
                     AND deleted_at IS NULL RETURNING number",
                ),
            };
            if already {
                return Ok(Filed::Unchanged);
            }
            let mut query = sqlx::query(sql).bind(number);
            if request.filing == Filing::Delete {
                query = query.bind(now);
            }
            if query.fetch_optional(&mut *tx).await?.is_none() {
                return Ok(Filed::Unchanged);
            }
            let action = request.filing.action();
            Self::audit(
                &mut tx,
                now,
                &request.actor,
                action,
                (Some(number), None),
                "{}",
            )
            .await?;
            let event = NewEvent {
                kind: request.filing.event(),
                ticket: number,
                message: None,
                actor: request.actor.clone(),
                data: serde_json::json!({}),
                audience: Audience::Ticket,
            };
            Self::append_events(&mut tx, now, &[event]).await?;
            tx.commit().await?;
            self.events.committed();
            Ok(Filed::Changed)
        }
    }
}
