//! The operator desk's settings (migration 0018): whether each operator
//! is available, and each queue's greeting and offline answer as the
//! console edited them ("customisations"). Every change is audited, with
//! no ticket: `operator.availability` and `queue.texts`.
//!
//! Who a queue's operators are: the console accounts of role `operator`,
//! enabled, whose login is a staff address of the queue. While a queue
//! has some and none is available, a client's message gets the queue's
//! offline answer, as outside working hours: the post's transaction asks
//! (`tickets/batch.rs`, [`OFFLINE_QUEUES`]).

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::sql::get;
use super::{AuditEntry, StoreError};

/// The ids of the queues whose operators are all away, as one query.
pub(super) const OFFLINE_QUEUES: &str = "SELECT a.queue_id FROM queue_addresses a \
     JOIN console_users u ON u.login = a.address \
     WHERE a.kind = 'staff' AND u.role = 'operator' AND u.disabled_ms IS NULL \
     GROUP BY a.queue_id HAVING MAX(u.available) = 0";

/// A queue's texts as the console set them; `None`: the config's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueTexts {
    pub greeting: Option<String>,
    /// The offline answer (the after-hours reply's message).
    pub offline: Option<String>,
    /// Who set them last (`console:LOGIN`) and when (Unix ms).
    pub changed_by: String,
    pub changed_ms: i64,
}

/// An operator of a queue, as the desk shows them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Operator {
    pub login: String,
    pub display_name: Option<String>,
    pub available: bool,
}

#[async_trait]
pub trait DeskStore: Send + Sync {
    /// Marks operator account `login` available or away, audited as
    /// `actor`. [`StoreError::NotFound`] when there is no such account.
    async fn set_available(
        &self,
        login: &str,
        available: bool,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The operators of queue `queue` (by name), by login.
    async fn queue_operators(&self, queue: &str) -> Result<Vec<Operator>, StoreError>;

    /// Queue `queue`'s texts as the console set them, if it ever did.
    async fn queue_texts(&self, queue: &str) -> Result<Option<QueueTexts>, StoreError>;

    /// Sets queue `queue`'s texts (`None`: back to the config's), audited
    /// with what changed. [`StoreError::NotFound`] when there is no such
    /// queue.
    async fn set_queue_texts(
        &self,
        queue: &str,
        greeting: Option<&str>,
        offline: Option<&str>,
        actor: &str,
        now: i64,
    ) -> Result<(), StoreError>;

    /// The audit entries of the desk about queue `queue`, newest first, at
    /// most `limit`: its texts' changes, and the availability switches of
    /// the operators `operators` (logins).
    async fn desk_history(
        &self,
        queue: &str,
        operators: &[String],
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl DeskStore for SqlStore {
        async fn set_available(
            &self,
            login: &str,
            available: bool,
            actor: &str,
            now: i64,
        ) -> Result<(), StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let row = sqlx::query(
                "UPDATE console_users SET available = $1 WHERE login = $2 RETURNING id",
            )
                .bind(i64::from(available))
                .bind(login)
                .fetch_optional(&mut *tx)
                .await?;
            if row.is_none() {
                return Err(StoreError::NotFound(format!("no account {login}")));
            }
            let detail = serde_json::json!({ "login": login, "available": available });
            Self::audit(
                &mut tx,
                now,
                actor,
                "operator.availability",
                (None, None),
                &detail.to_string(),
            )
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn queue_operators(&self, queue: &str) -> Result<Vec<Operator>, StoreError> {
            let rows = sqlx::query(
                "SELECT DISTINCT u.login, u.display_name, u.available FROM queues q \
                 JOIN queue_addresses a ON a.queue_id = q.id AND a.kind = 'staff' \
                 JOIN console_users u ON u.login = a.address \
                 WHERE q.name = $1 AND u.role = 'operator' AND u.disabled_ms IS NULL \
                 ORDER BY u.login",
            )
                .bind(queue)
                .fetch_all(&self.read)
                .await?;
            rows.iter()
                .map(|row| {
                    Ok(Operator {
                        login: get(row, "login")?,
                        display_name: get(row, "display_name")?,
                        available: get::<i64, _>(row, "available")? != 0,
                    })
                })
                .collect()
        }

        async fn queue_texts(&self, queue: &str) -> Result<Option<QueueTexts>, StoreError> {
            let row = sqlx::query(
                "SELECT x.greeting, x.offline, x.changed_by, x.changed_ms FROM queue_texts x \
                 JOIN queues q ON q.id = x.queue_id WHERE q.name = $1",
            )
                .bind(queue)
                .fetch_optional(&self.read)
                .await?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some(QueueTexts {
                greeting: get(&row, "greeting")?,
                offline: get(&row, "offline")?,
                changed_by: get(&row, "changed_by")?,
                changed_ms: get(&row, "changed_ms")?,
            }))
        }

        async fn set_queue_texts(
            &self,
            queue: &str,
            greeting: Option<&str>,
            offline: Option<&str>,
            actor: &str,
            now: i64,
        ) -> Result<(), StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let Some(row) = sqlx::query("SELECT id FROM queues WHERE name = $1")
                .bind(queue)
                .fetch_optional(&mut *tx)
                .await?
            else {
                return Err(StoreError::NotFound(format!("no queue {queue}")));
            };
            let id: i64 = get(&row, "id")?;
            let before = sqlx::query("SELECT greeting, offline FROM queue_texts WHERE queue_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let (old_greeting, old_offline): (Option<String>, Option<String>) = match &before {
                Some(row) => (get(row, "greeting")?, get(row, "offline")?),
                None => (None, None),
            };
            let mut detail = serde_json::json!({ "queue": queue });
            for (name, old, new) in [
                ("greeting", old_greeting.as_deref(), greeting),
                ("offline", old_offline.as_deref(), offline),
            ] {
                if old != new {
                    detail[name] = serde_json::json!({ "from": old, "to": new });
                }
            }
            if detail.as_object().is_some_and(|d| d.len() == 1) {
                // Nothing changed: nothing to record.
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO queue_texts (queue_id, greeting, offline, changed_by, changed_ms) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (queue_id) DO UPDATE SET \
                 greeting = excluded.greeting, offline = excluded.offline, \
                 changed_by = excluded.changed_by, changed_ms = excluded.changed_ms",
            )
                .bind(id)
                .bind(greeting)
                .bind(offline)
                .bind(actor)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            Self::audit(&mut tx, now, actor, "queue.texts", (None, None), &detail.to_string())
                .await?;
            tx.commit().await?;
            Ok(())
        }

        async fn desk_history(
            &self,
            queue: &str,
            operators: &[String],
            limit: usize,
        ) -> Result<Vec<AuditEntry>, StoreError> {
            // The desk's entries are few (a change by hand each); the ones
            // of this queue are picked here, where the JSON is read.
            let rows = sqlx::query(
                "SELECT at, actor, action, ticket, message, detail FROM audit_log \
                 WHERE ticket IS NULL AND action IN ('queue.texts', 'operator.availability') \
                 ORDER BY id DESC LIMIT 5000",
            )
                .fetch_all(&self.read)
                .await?;
            let mut entries = Vec::new();
            for row in &rows {
                let detail: String = get(row, "detail")?;
                let detail: serde_json::Value = serde_json::from_str(&detail)
                    .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?;
                let action: String = get(row, "action")?;
                let text = |key: &str| detail.get(key).and_then(|v| v.as_str());
                let ours = match action.as_str() {
                    "queue.texts" => text("queue") == Some(queue),
                    _ => text("login").is_some_and(|l| operators.iter().any(|o| o == l)),
                };
                if !ours {
                    continue;
                }
                entries.push(AuditEntry {
                    at: get(row, "at")?,
                    actor: get(row, "actor")?,
                    action,
                    ticket: get(row, "ticket")?,
                    message: get(row, "message")?,
                    detail,
                });
                if entries.len() == limit {
                    break;
                }
            }
            Ok(entries)
        }
    }
}
