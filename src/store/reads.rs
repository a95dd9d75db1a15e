//! Read markers: how far each person has read each ticket (a horizon, a
//! message id), which only moves forward. Marking appends the
//! `read.marked` event for the reader alone, in the same transaction
//! (src/store/events.rs). The unread counts built on it are in
//! `conversations.rs`.

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::sql::get;
use super::{Audience, EventKind, NewEvent, StoreError, now_ms};

/// What a [`ReadStore::mark_read`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marked {
    /// The horizon now (the later of the old one and the message marked).
    pub horizon: i64,
    /// Whether it moved (then the event was appended).
    pub moved: bool,
}

#[async_trait]
pub trait ReadStore: Send + Sync {
    /// Marks ticket `ticket` read by `address` (normalized) up to message
    /// `up_to`, which must be one of its messages (else `NotFound`). The
    /// horizon moves forward only: marking an earlier message changes
    /// nothing. When it moves, the `read.marked` event (for `address`
    /// alone, `message`: the new horizon) is appended in the same
    /// transaction.
    async fn mark_read(&self, ticket: i64, address: &str, up_to: i64)
    -> Result<Marked, StoreError>;

    /// `address`'s horizon on `ticket`; `None` before they marked any.
    async fn horizon(&self, ticket: i64, address: &str) -> Result<Option<i64>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl ReadStore for SqlStore {
        async fn mark_read(
            &self,
            ticket: i64,
            address: &str,
            up_to: i64,
        ) -> Result<Marked, StoreError> {
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let exists = sqlx::query("SELECT id FROM messages WHERE id = $1 AND ticket = $2")
                .bind(up_to)
                .bind(ticket)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound(format!(
                    "message {up_to} is not on ticket #{ticket}"
                )));
            }
            // Forward only, also against a concurrent marker (PostgreSQL reads
            // do not lock): the update applies only to an earlier horizon.
            let moved = sqlx::query(
                "INSERT INTO read_markers (ticket, address, horizon, at_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (ticket, address) DO UPDATE SET horizon = excluded.horizon, \
                 at_ms = excluded.at_ms WHERE read_markers.horizon < excluded.horizon \
                 RETURNING horizon",
            )
            .bind(ticket)
            .bind(address)
            .bind(up_to)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
            if !moved {
                let row = sqlx::query(
                    "SELECT horizon FROM read_markers WHERE ticket = $1 AND address = $2",
                )
                .bind(ticket)
                .bind(address)
                .fetch_one(&mut *tx)
                .await?;
                let horizon = get(&row, "horizon")?;
                tx.rollback().await?;
                return Ok(Marked {
                    horizon,
                    moved: false,
                });
            }
            let event = NewEvent {
                kind: EventKind::ReadMarked,
                ticket,
                message: Some(up_to),
                actor: address.to_string(),
                data: serde_json::json!({}),
                audience: Audience::Reader {
                    address: address.to_string(),
                },
            };
            Self::append_events(&mut tx, now, &[event]).await?;
            tx.commit().await?;
            self.events.committed();
            Ok(Marked {
                horizon: up_to,
                moved: true,
            })
        }

        async fn horizon(&self, ticket: i64, address: &str) -> Result<Option<i64>, StoreError> {
            let row =
                sqlx::query("SELECT horizon FROM read_markers WHERE ticket = $1 AND address = $2")
                    .bind(ticket)
                    .bind(address)
                    .fetch_optional(&self.read)
                    .await?;
            row.map(|row| get(&row, "horizon")).transpose()
        }
    }
}
