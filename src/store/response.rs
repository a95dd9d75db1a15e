//! Response times (migration 0019): each queue's target for the seller
//! side's answer, the reminder of a ticket that waits longer, and the
//! dashboard's counts.
//!
//! The store keeps, by triggers, since when a ticket waits on the seller
//! side (`waiting_since`: its status `open` or `awaiting_seller`) and when
//! the seller side first answered a client (`first_response_at`). A
//! ticket is **overdue** when it has waited longer than its queue's target
//! (`[[queues]] response_target_mins`); `parley serve` then writes one
//! [`OVERDUE`] notification per waiting period ([`ResponseStore::remind_overdue`]),
//! to the ticket's assignee or, unassigned, to its seller side.

use std::collections::HashMap;

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::StoreError;
use super::outbox::NewNotification;
use super::search::push_scope;
use super::sql::{Script, get};
use crate::access::Viewer;
use crate::address;
use crate::tickets::Role;
use crate::token::Minter;

/// The outbox kind of the reminder that a ticket waits longer than its
/// queue's response target, to its assignee (or its seller side).
pub const OVERDUE: &str = "overdue";

/// Tickets reminded in one pass at most (the next pass takes the rest).
const REMIND_BATCH: i64 = 500;

/// Rows each of the dashboard's figures reads at most: the figures of a
/// desk with 100,000 conversations cost what 1,000 cost (the page's
/// budget), and say when they are capped.
pub const STATS_ROWS: i64 = 1_000;

/// A ticket just reminded, and to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminded {
    pub ticket: i64,
    pub recipients: Vec<String>,
}

/// The dashboard's response figures for what one viewer sees.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseStats {
    /// Tickets waiting on the seller side (shown, not deleted nor
    /// archived), at most [`STATS_ROWS`].
    pub unanswered: i64,
    /// Of those, waiting longer than their queue's target (the longest
    /// waiting are read first: exact below [`STATS_ROWS`]).
    pub overdue: i64,
    /// Whether more were waiting than [`STATS_ROWS`].
    pub capped: bool,
    /// By month of creation (UTC, `YYYY-MM`), since the time asked: the
    /// median time to the first answer (ms) of its answered tickets, and
    /// how many those are (of the newest [`STATS_ROWS`] answered).
    pub first_response: HashMap<String, (i64, usize)>,
}

/// A queue's target by queue name (ms; absent or 0: none).
pub type Targets = HashMap<String, i64>;

#[async_trait]
pub trait ResponseStore: Send + Sync {
    /// Writes an [`OVERDUE`] notification for every ticket that waits on
    /// the seller side longer than its queue's target at `now`, once per
    /// waiting period (a client who writes again while it waits does not
    /// start a new one; an answer and a new question do), to its assignee
    /// or else every seller-side participant; audited as `ticket.overdue`.
    /// At most a batch a call.
    async fn remind_overdue(
        &self,
        targets: &Targets,
        now: i64,
        minter: &Minter,
    ) -> Result<Vec<Reminded>, StoreError>;

    /// The response figures of the tickets `scope` sees at `now`; the
    /// median first responses of those created since `since` (Unix ms).
    async fn response_stats(
        &self,
        scope: Viewer<'_>,
        targets: &Targets,
        now: i64,
        since: i64,
    ) -> Result<ResponseStats, StoreError>;
}

/// Whether a ticket of `queue` waiting since `waiting_since` is overdue
/// at `now`.
pub fn is_overdue(targets: &Targets, queue: &str, waiting_since: Option<i64>, now: i64) -> bool {
    match (targets.get(queue), waiting_since) {
        (Some(&target), Some(since)) if target > 0 => now - since > target,
        _ => false,
    }
}

/// `YYYY-MM` of a Unix ms, UTC.
pub fn month_of(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m").to_string())
        .unwrap_or_default()
}

/// The scope of the figures' queries: [`push_scope`]'s, asked more
/// cheaply. Both queries read only tickets that are not deleted and were
/// shown to someone (waiting on the seller side after a shown message, or
/// answered by them), where a person's scope comes down to: a staff
/// address of the queue (one list, read once), or a participant (one
/// probe of the unique index on (ticket, address)). [`push_scope`] asks
/// three subqueries of every ticket, which a desk of 100,000 feels.
fn push_figures_scope<'a, DB>(
    q: &mut sqlx::QueryBuilder<'a, DB>,
    scope: Viewer<'_>,
    person: Option<&'a str>,
) where
    DB: super::sql::Backend,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    match (scope, person) {
        (Viewer::Person { .. }, Some(address)) => {
            q.push(
                "(t.queue_id IN (SELECT a.queue_id FROM queue_addresses a \
                 WHERE a.kind = 'staff' AND a.address = ",
            );
            q.push_bind(address);
            q.push(") OR EXISTS (SELECT 1 FROM participants p WHERE p.ticket = t.number AND p.address = ");
            q.push_bind(address);
            q.push("))");
        }
        _ => push_scope(q, scope, person),
    }
}

fn median(values: &mut [i64]) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(match values.len() % 2 {
        0 => (values[mid - 1] + values[mid]) / 2,
        _ => values[mid],
    })
}

sql_impl! {
    #[async_trait]
    impl ResponseStore for SqlStore {
        async fn remind_overdue(
            &self,
            targets: &Targets,
            now: i64,
            minter: &Minter,
        ) -> Result<Vec<Reminded>, StoreError> {
            // A read first: most passes find nothing, and take no write lock.
            let mut due: Vec<(i64, Option<String>, i64, i64)> = Vec::new();
            for (queue, &target) in targets {
                if target <= 0 {
                    continue;
                }
                let rows = sqlx::query(
                    "SELECT t.number, t.assignee, t.waiting_since FROM tickets t \
                     JOIN queues q ON q.id = t.queue_id \
                     WHERE q.name = $1 AND t.waiting_since IS NOT NULL AND t.waiting_since < $2 \
                     AND (t.reminded_at IS NULL OR t.reminded_at < t.waiting_since) \
                     AND t.shown <> 0 AND t.deleted_at IS NULL AND t.archived = 0 \
                     ORDER BY t.waiting_since LIMIT $3",
                )
                    .bind(queue)
                    .bind(now - target)
                    .bind(REMIND_BATCH)
                    .fetch_all(&self.read)
                    .await?;
                for row in &rows {
                    due.push((get(row, "number")?, get(row, "assignee")?, get(row, "waiting_since")?, target));
                }
            }
            if due.is_empty() {
                return Ok(Vec::new());
            }
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let mut reminded = Vec::new();
            for (number, assignee, waiting_since, target) in due {
                // Still due, now under the write lock (answered meanwhile, or
                // reminded by another instance: skipped).
                let still = sqlx::query(
                    "UPDATE tickets SET reminded_at = $1 WHERE number = $2 AND waiting_since = $3 \
                     AND (reminded_at IS NULL OR reminded_at < waiting_since) RETURNING number",
                )
                    .bind(now)
                    .bind(number)
                    .bind(waiting_since)
                    .fetch_optional(&mut *tx)
                    .await?;
                if still.is_none() {
                    continue;
                }
                let mut script = Script::<DB>::new();
                let (q, _) = script.statement(
                    "SELECT id, address, role FROM participants WHERE ticket = ",
                );
                q.push_bind(number).push(" ORDER BY id");
                let (q, _) =
                    script.statement("SELECT MAX(id) AS last FROM messages WHERE ticket = ");
                q.push_bind(number);
                let groups = script.run(&mut *tx).await?;
                let mut seller_side = Vec::new();
                for row in &groups[0] {
                    let role: String = get(row, "role")?;
                    if Role::parse(&role).is_some_and(|r| r.is_seller_side()) {
                        seller_side.push((get::<i64, _>(row, "id")?, get::<String, _>(row, "address")?));
                    }
                }
                let last: Option<i64> = match groups[1].first() {
                    Some(row) => get(row, "last")?,
                    None => None,
                };
                let assigned: Vec<(i64, String)> = seller_side
                    .iter()
                    .filter(|p| assignee.as_deref() == Some(p.1.as_str()))
                    .cloned()
                    .collect();
                let recipients = if assigned.is_empty() { seller_side } else { assigned };
                for (participant, address) in &recipients {
                    Self::write_notification(
                        &mut tx,
                        minter,
                        now,
                        NewNotification {
                            ticket: number,
                            message: last,
                            participant: *participant,
                            recipient: address,
                            kind: OVERDUE,
                        },
                    )
                        .await?;
                }
                let to: Vec<String> = recipients.into_iter().map(|(_, a)| a).collect();
                let detail = serde_json::json!({
                    "waiting_since": waiting_since,
                    "target_ms": target,
                    "to": to,
                });
                Self::audit(
                    &mut tx,
                    now,
                    "parley",
                    "ticket.overdue",
                    (Some(number), None),
                    &detail.to_string(),
                )
                    .await?;
                reminded.push(Reminded { ticket: number, recipients: to });
            }
            tx.commit().await?;
            Ok(reminded)
        }

        async fn response_stats(
            &self,
            scope: Viewer<'_>,
            targets: &Targets,
            now: i64,
            since: i64,
        ) -> Result<ResponseStats, StoreError> {
            let person = match scope {
                Viewer::Person { address } => Some(address::normalize(address)),
                _ => None,
            };
            let mut script = Script::<DB>::new();
            let (q, _) = script.statement(
                "SELECT q.name AS queue, t.waiting_since FROM tickets t \
                 JOIN queues q ON q.id = t.queue_id WHERE t.waiting_since IS NOT NULL \
                 AND t.shown <> 0 AND t.deleted_at IS NULL AND t.archived = 0 AND ",
            );
            push_figures_scope(q, scope, person.as_deref());
            // The longest waiting first (the partial index tickets_waiting).
            q.push(" ORDER BY t.waiting_since LIMIT ").push_bind(STATS_ROWS + 1);
            let (q, _) = script.statement(
                "SELECT t.created_at, t.first_response_at FROM tickets t \
                 JOIN queues q ON q.id = t.queue_id WHERE t.first_response_at IS NOT NULL \
                 AND t.deleted_at IS NULL AND t.created_at >= ",
            );
            q.push_bind(since).push(" AND ");
            push_figures_scope(q, scope, person.as_deref());
            q.push(" ORDER BY t.number DESC LIMIT ").push_bind(STATS_ROWS + 1);
            let mut conn = self.read.acquire().await?;
            let groups = script.run(&mut conn).await?;
            let mut stats = ResponseStats {
                capped: groups[0].len() as i64 > STATS_ROWS,
                ..ResponseStats::default()
            };
            for row in groups[0].iter().take(STATS_ROWS as usize) {
                stats.unanswered += 1;
                let queue: String = get(row, "queue")?;
                if is_overdue(targets, &queue, get(row, "waiting_since")?, now) {
                    stats.overdue += 1;
                }
            }
            let mut by_month: HashMap<String, Vec<i64>> = HashMap::new();
            for row in groups[1].iter().take(STATS_ROWS as usize) {
                let created: i64 = get(row, "created_at")?;
                let first: i64 = get(row, "first_response_at")?;
                by_month.entry(month_of(created)).or_default().push((first - created).max(0));
            }
            for (month, mut times) in by_month {
                if let Some(m) = median(&mut times) {
                    stats.first_response.insert(month, (m, times.len()));
                }
            }
            Ok(stats)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_even_and_odd_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
    }

    #[test]
    fn overdue_only_past_a_target() {
        let targets: Targets = [("desk".to_string(), 1_000), ("none".to_string(), 0)].into();
        assert!(is_overdue(&targets, "desk", Some(0), 1_001));
        assert!(!is_overdue(&targets, "desk", Some(0), 1_000));
        assert!(!is_overdue(&targets, "desk", None, 5_000));
        assert!(!is_overdue(&targets, "none", Some(0), 5_000));
        assert!(!is_overdue(&targets, "other", Some(0), 5_000));
        assert_eq!(month_of(1_796_083_200_000), "2026-12");
    }
}
