//! Retention: what parley deletes once it is no longer needed
//! (`[retention]`, `parley purge`, and `parley serve` every
//! `retention.interval_secs`): the raw mail of closed tickets idle for
//! `raw_mail_days` (the messages' text, attachments, the history and the
//! tickets stay; a message's `raw_id` becomes NULL), and notification rows
//! sent more than `notifications_days` ago.
//!
//! A raw mail is deleted only when every message holding it is on such a
//! ticket and no quarantine entry holds it. The work goes in batches of
//! [`BATCH`], a write transaction each, so that a large first purge never
//! holds SQLite's write lock for long: mail arriving meanwhile waits a
//! batch at most.

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
use super::sql::get;
use crate::config::RetentionConfig;

/// Rows deleted per transaction.
const BATCH: i64 = 500;

const DAY_MS: i64 = 86_400_000;

/// What is old enough to go: Unix milliseconds, `None` for what is kept
/// forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cutoffs {
    /// Raw mail of tickets closed and idle since before this.
    pub raw_mail: Option<i64>,
    /// Notifications sent before this.
    pub notifications: Option<i64>,
}

impl Cutoffs {
    /// The cut-offs of `config` at `now`.
    pub fn of(config: &RetentionConfig, now: i64) -> Cutoffs {
        let before = |days: u64| (days > 0).then(|| now - days as i64 * DAY_MS);
        Cutoffs {
            raw_mail: before(config.raw_mail_days),
            notifications: before(config.notifications_days),
        }
    }
}

/// What a purge deleted (or, dry, would delete).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Raw mails deleted.
    pub raw_mails: i64,
    /// Their size in bytes.
    pub raw_bytes: i64,
    /// Notification rows deleted.
    pub notifications: i64,
}

#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes what `cutoffs` says is old enough; with `dry_run`, counts
    /// it and deletes nothing.
    async fn purge(&self, cutoffs: Cutoffs, dry_run: bool) -> Result<Purged, StoreError>;
}

/// The raw mails that may go: held only by messages of tickets closed and
/// idle since before `$1`, by no quarantine entry. Found from the tickets
/// (`tickets_status`), their messages and who else holds each raw mail
/// (`messages_raw`, migration 0021).
const PURGEABLE_RAW: &str = "SELECT DISTINCT m.raw_id AS id FROM tickets t \
     JOIN messages m ON m.ticket = t.number \
     WHERE t.status = 'closed' AND t.updated_at < $1 AND m.raw_id IS NOT NULL \
     AND NOT EXISTS (SELECT 1 FROM messages o JOIN tickets ot ON ot.number = o.ticket \
         WHERE o.raw_id = m.raw_id AND NOT (ot.status = 'closed' AND ot.updated_at < $1)) \
     AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.raw_id = m.raw_id)";

/// Sent notification rows older than `$1`.
const PURGEABLE_SENT: &str = "SELECT id FROM outbox WHERE state = 'sent' AND sent_at < $1";

/// `(a, b, c)` of ids read from the store (numbers: nothing to escape).
pub(super) fn id_list(ids: &[i64]) -> String {
    let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("({})", ids.join(", "))
}

sql_impl! {
    #[async_trait]
    impl RetentionStore for SqlStore {
        async fn purge(&self, cutoffs: Cutoffs, dry_run: bool) -> Result<Purged, StoreError> {
            let mut purged = Purged::default();
            if let Some(before) = cutoffs.raw_mail {
                if dry_run {
                    let row = sqlx::query(&format!(
                        "SELECT count(*) AS n, COALESCE(sum(length(bytes)), 0) AS size \
                         FROM raw_messages WHERE id IN ({PURGEABLE_RAW})"
                    ))
                    .bind(before)
                    .fetch_one(&self.read)
                    .await?;
                    purged.raw_mails = get(&row, "n")?;
                    purged.raw_bytes = get(&row, "size")?;
                } else {
                    loop {
                        let (mails, bytes, more) = self.purge_raw_batch(before).await?;
                        purged.raw_mails += mails;
                        purged.raw_bytes += bytes;
                        if !more {
                            break;
                        }
                    }
                }
            }
            if let Some(before) = cutoffs.notifications {
                if dry_run {
                    let row = sqlx::query(&format!(
                        "SELECT count(*) AS n FROM ({PURGEABLE_SENT}) s"
                    ))
                    .bind(before)
                    .fetch_one(&self.read)
                    .await?;
                    purged.notifications = get(&row, "n")?;
                } else {
                    loop {
                        let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
                        let deleted = sqlx::query(&format!(
                            "DELETE FROM outbox WHERE id IN ({PURGEABLE_SENT} ORDER BY id LIMIT $2) \
                             RETURNING id"
                        ))
                        .bind(before)
                        .bind(BATCH)
                        .fetch_all(&mut *tx)
                        .await?
                        .len() as i64;
                        tx.commit().await?;
                        purged.notifications += deleted;
                        if deleted < BATCH {
                            break;
                        }
                    }
                }
            }
            Ok(purged)
        }
    }
}

sql_impl! {
    impl SqlStore {
        /// Deletes up to [`BATCH`] purgeable raw mails in one transaction:
        /// how many, their bytes, and whether there may be more (a full
        /// batch of candidates was found).
        async fn purge_raw_batch(&self, before: i64) -> Result<(i64, i64, bool), StoreError> {
            let ids_of = |rows: Vec<DB::Row>| {
                rows.iter()
                    .map(|row| get::<i64, _>(row, "id"))
                    .collect::<Result<Vec<_>, _>>()
            };
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let mut ids = ids_of(
                sqlx::query(&format!("{PURGEABLE_RAW} LIMIT $2"))
                    .bind(before)
                    .bind(BATCH)
                    .fetch_all(&mut *tx)
                    .await?,
            )?;
            let more = ids.len() as i64 == BATCH;
            // On SQLite the write lock, taken by BEGIN, has kept every
            // other writer out since before the candidates were read.
            if !DB::FOR_UPDATE.is_empty() && !ids.is_empty() {
                // PostgreSQL: a message may take one of these raw mails
                // meanwhile (the same mail again: the write path's
                // `ON CONFLICT … DO UPDATE` holds the raw row until it
                // commits). Hold the rows, then ask again with what has
                // committed since: a raw mail a new message holds stays.
                // (Cleared without asking again, that message's `raw_id`
                // was set NULL and its raw mail deleted, or the delete
                // failed on the foreign key.)
                let list = id_list(&ids);
                sqlx::query(&format!(
                    "SELECT id FROM raw_messages WHERE id IN {list} ORDER BY id{}",
                    DB::FOR_UPDATE
                ))
                .fetch_all(&mut *tx)
                .await?;
                ids = ids_of(
                    sqlx::query(&format!(
                        "SELECT id FROM ({PURGEABLE_RAW}) AS p WHERE id IN {list}"
                    ))
                    .bind(before)
                    .fetch_all(&mut *tx)
                    .await?,
                )?;
            }
            if ids.is_empty() {
                tx.rollback().await?;
                return Ok((0, 0, more));
            }
            let list = id_list(&ids);
            let size: i64 = get(
                &sqlx::query(&format!(
                    "SELECT COALESCE(sum(length(bytes)), 0) AS size FROM raw_messages \
                     WHERE id IN {list}"
                ))
                .fetch_one(&mut *tx)
                .await?,
                "size",
            )?;
            sqlx::query(&format!("UPDATE messages SET raw_id = NULL WHERE raw_id IN {list}"))
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("DELETE FROM raw_messages WHERE id IN {list}"))
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok((ids.len() as i64, size, more))
        }
    }
}
