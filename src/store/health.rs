//! What `/readyz`, `/metrics` and the watchdog ask the store: whether it
//! answers, and the few figures an operator watches (messages held for a
//! moderator, notifications not yet sent). Each is one indexed read
//! (`messages_held`, `outbox_pending`, `outbox_due`).

use async_trait::async_trait;

use super::StoreError;
use super::sql::get;
use crate::metrics::Gauges;
use crate::store::sql::sql_impl;

#[async_trait]
pub trait HealthStore: Send + Sync {
    /// One round trip to the database (`SELECT 1`) on the connection pool
    /// writes use, so that a store that cannot write is not "up".
    async fn ping(&self) -> Result<(), StoreError>;

    /// The held messages, the notifications not yet sent and the oldest of
    /// them, at Unix ms `now`.
    async fn gauges(&self, now: i64) -> Result<Gauges, StoreError>;

    /// Since when (Unix ms) the longest-waiting notification has been due
    /// without a worker taking it: a pending row whose time has come
    /// (written, or its retry time reached), not leased, not folded into
    /// another. `None` when every due row is taken.
    async fn outbox_due_since(&self, now: i64) -> Result<Option<i64>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl HealthStore for SqlStore {
        async fn ping(&self) -> Result<(), StoreError> {
            sqlx::query("SELECT 1").fetch_one(&self.write).await?;
            Ok(())
        }

        async fn gauges(&self, now: i64) -> Result<Gauges, StoreError> {
            let held = sqlx::query("SELECT COUNT(*) AS n FROM messages WHERE moderation = 'held'")
                .fetch_one(&self.read)
                .await?;
            let pending = sqlx::query("SELECT COUNT(*) AS n FROM outbox WHERE state = 'pending'")
                .fetch_one(&self.read)
                .await?;
            // Ids grow with time: the first pending id is the oldest row.
            let oldest = sqlx::query(
                "SELECT created_at FROM outbox WHERE state = 'pending' ORDER BY id LIMIT 1",
            )
            .fetch_optional(&self.read)
            .await?;
            Ok(Gauges {
                held: get(&held, "n")?,
                outbox_pending: get(&pending, "n")?,
                oldest_pending_at: oldest.map(|r| get(&r, "created_at")).transpose()?,
                now,
            })
        }

        async fn outbox_due_since(&self, now: i64) -> Result<Option<i64>, StoreError> {
            // New rows wait with next_attempt_at 0: they are due since written.
            let row = sqlx::query(
                "SELECT MIN(CASE WHEN next_attempt_at = 0 THEN created_at \
                 ELSE next_attempt_at END) AS since FROM outbox \
                 WHERE state = 'pending' AND next_attempt_at <= $1 \
                 AND coalesced_into IS NULL AND (lease_until IS NULL OR lease_until <= $1)",
            )
            .bind(now)
            .fetch_one(&self.read)
            .await?;
            get(&row, "since")
        }
    }
}
