//! Mail as it arrived: the raw bytes (stored once per sha256), the
//! quarantine, bounces, and the lookups intake makes before it writes (has
//! this mail been stored already, which ticket do its Message-IDs name).

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

use super::sql::get;
use super::{NewRaw, StoreError, now_ms};

/// The most Message-IDs of one References header looked up.
const MAX_LOOKUP: usize = 100;

/// What a bounce was matched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounced {
    pub notification: i64,
    pub ticket: i64,
    pub participant: i64,
    pub address: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    pub id: i64,
    pub raw_id: i64,
    pub reason: String,
    pub detail: String,
    pub created_at: i64,
}

#[async_trait]
pub trait MailStore: Send + Sync {
    /// Stores a raw message in quarantine with the reason.
    async fn quarantine(&self, raw: &NewRaw, reason: &str, detail: &str)
    -> Result<i64, StoreError>;

    /// A bounce of notification `notification`: marks the notification
    /// failed and its recipient failing, and keeps the bounce in quarantine
    /// (reason `bounce`). `None` when no such notification exists.
    async fn record_bounce(
        &self,
        notification: i64,
        raw: &NewRaw,
        detail: &str,
    ) -> Result<Option<Bounced>, StoreError>;

    async fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError>;

    /// How many raw messages are stored (tests and benchmarks count with it).
    async fn raw_count(&self) -> Result<i64, StoreError>;

    /// The exact bytes of a stored raw message.
    async fn raw_bytes(&self, raw_id: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// Whether a message with this dedupe key is on the ticket already.
    async fn has_message(&self, ticket: i64, dedupe_key: &str) -> Result<bool, StoreError>;

    /// The ticket opened in `queue_id` by the message with this dedupe key.
    async fn ticket_by_origin(
        &self,
        queue_id: i64,
        origin_key: &str,
    ) -> Result<Option<i64>, StoreError>;

    /// The ticket of the first of `message_ids` that parley issued.
    async fn ticket_by_issued_id(&self, message_ids: &[String]) -> Result<Option<i64>, StoreError>;

    /// The live tickets holding an inbound message whose Message-ID is
    /// among the nearest `message_ids`, and of which `sender` is a
    /// participant: (Message-ID, ticket) pairs, lowest ticket first.
    async fn tickets_by_inbound_id(
        &self,
        message_ids: &[String],
        sender: &str,
    ) -> Result<Vec<(String, i64)>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl MailStore for SqlStore {
        async fn quarantine(
            &self,
            raw: &NewRaw,
            reason: &str,
            detail: &str,
        ) -> Result<i64, StoreError> {
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let raw_id = Self::insert_raw(&mut tx, raw, now).await?;
            // The same message quarantined again keeps its one entry.
            let existing = sqlx::query("SELECT id FROM quarantine WHERE raw_id = $1")
                .bind(raw_id)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(row) = existing {
                tx.rollback().await?;
                return get(&row, "id");
            }
            let id: i64 = sqlx::query(
                "INSERT INTO quarantine (raw_id, reason, detail, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(raw_id)
            .bind(reason)
            .bind(detail)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?
            .try_get("id")?;
            tx.commit().await?;
            Ok(id)
        }

        async fn record_bounce(
            &self,
            notification: i64,
            raw: &NewRaw,
            detail: &str,
        ) -> Result<Option<Bounced>, StoreError> {
            let now = now_ms();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row =
                sqlx::query("SELECT ticket, participant, recipient FROM outbox WHERE id = $1")
                    .bind(notification)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(row) = row else {
                tx.rollback().await?;
                return Ok(None);
            };
            let bounced = Bounced {
                notification,
                ticket: get(&row, "ticket")?,
                participant: get(&row, "participant")?,
                address: get(&row, "recipient")?,
            };
            sqlx::query("UPDATE outbox SET state = 'failed', last_error = $1 WHERE id = $2")
                .bind(detail)
                .bind(notification)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE participants SET failing_since = COALESCE(failing_since, $1), \
                 failing_reason = $2 WHERE id = $3",
            )
            .bind(now)
            .bind(detail)
            .bind(bounced.participant)
            .execute(&mut *tx)
            .await?;
            // The bounce itself is kept, visible to admins with the quarantine.
            let raw_id = Self::insert_raw(&mut tx, raw, now).await?;
            sqlx::query(
                "INSERT INTO quarantine (raw_id, reason, detail, created_at) SELECT $1, 'bounce', $2, $3 \
                 WHERE NOT EXISTS (SELECT 1 FROM quarantine WHERE raw_id = $1)",
            )
            .bind(raw_id)
            .bind(detail)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let audit_detail = serde_json::json!({
                "notification": notification,
                "participant": bounced.participant,
                "address": bounced.address,
                "detail": detail,
            })
            .to_string();
            Self::audit(
                &mut tx,
                now,
                "intake",
                "address.bounced",
                (Some(bounced.ticket), None),
                &audit_detail,
            )
            .await?;
            tx.commit().await?;
            Ok(Some(bounced))
        }

        async fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, raw_id, reason, detail, created_at FROM quarantine ORDER BY id",
            )
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(Quarantined {
                        id: get(row, "id")?,
                        raw_id: get(row, "raw_id")?,
                        reason: get(row, "reason")?,
                        detail: get(row, "detail")?,
                        created_at: get(row, "created_at")?,
                    })
                })
                .collect()
        }

        async fn raw_count(&self) -> Result<i64, StoreError> {
            let row = sqlx::query("SELECT count(*) AS n FROM raw_messages")
                .fetch_one(&self.read)
                .await?;
            get(&row, "n")
        }

        async fn raw_bytes(&self, raw_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
            let row = sqlx::query("SELECT bytes FROM raw_messages WHERE id = $1")
                .bind(raw_id)
                .fetch_optional(&self.read)
                .await?;
            row.map(|row| get::<Vec<u8>, _>(&row, "bytes")).transpose()
        }

        async fn has_message(&self, ticket: i64, dedupe_key: &str) -> Result<bool, StoreError> {
            let row =
                sqlx::query("SELECT 1 AS one FROM messages WHERE ticket = $1 AND dedupe_key = $2")
                    .bind(ticket)
                    .bind(dedupe_key)
                    .fetch_optional(&self.read)
                    .await?;
            Ok(row.is_some())
        }

        async fn ticket_by_origin(
            &self,
            queue_id: i64,
            origin_key: &str,
        ) -> Result<Option<i64>, StoreError> {
            let row =
                sqlx::query("SELECT number FROM tickets WHERE queue_id = $1 AND origin_key = $2")
                    .bind(queue_id)
                    .bind(origin_key)
                    .fetch_optional(&self.read)
                    .await?;
            row.map(|row| get(&row, "number")).transpose()
        }

        async fn ticket_by_issued_id(
            &self,
            message_ids: &[String],
        ) -> Result<Option<i64>, StoreError> {
            // One query, however long the References header: the nearest
            // MAX_LOOKUP ids, the first of them that is ours wins.
            let ids = &message_ids[..message_ids.len().min(MAX_LOOKUP)];
            if ids.is_empty() {
                return Ok(None);
            }
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT message_id, ticket FROM issued_message_ids WHERE message_id IN ({})",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&self.read).await?;
            let mut found = std::collections::HashMap::new();
            for row in &rows {
                found.insert(
                    get::<String, _>(row, "message_id")?,
                    get::<i64, _>(row, "ticket")?,
                );
            }
            Ok(ids.iter().find_map(|id| found.get(id).copied()))
        }

        async fn tickets_by_inbound_id(
            &self,
            message_ids: &[String],
            sender: &str,
        ) -> Result<Vec<(String, i64)>, StoreError> {
            // As above: one query for the nearest MAX_LOOKUP ids. The sender's
            // participation is part of the query, so a stranger's guess finds
            // nothing (and reads nothing more). `IS NOT NULL` and the direction
            // let both backends use the partial index of migration 0009.
            let ids = &message_ids[..message_ids.len().min(MAX_LOOKUP)];
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT DISTINCT m.message_id, m.ticket FROM messages m \
                 JOIN participants p ON p.ticket = m.ticket AND p.address = $1 \
                 JOIN tickets t ON t.number = m.ticket AND t.deleted_at IS NULL \
                 WHERE m.direction = 'inbound' AND m.message_id IS NOT NULL \
                 AND m.message_id IN ({}) ORDER BY m.ticket LIMIT {MAX_LOOKUP}",
                placeholders.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(sender);
            for id in ids {
                query = query.bind(id.as_str());
            }
            let rows = query.fetch_all(&self.read).await?;
            rows.iter()
                .map(|row| Ok((get(row, "message_id")?, get(row, "ticket")?)))
                .collect()
        }
    }
}
