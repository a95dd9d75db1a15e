//! The outbox: the notification rows a change writes, and the worker's
//! side of them: claiming due rows under a lease, recording what the relay
//! answered, listing and retrying; the throttles (`outbox/throttle.rs`) and
//! what composing a batch reads (`outbox/batch_reads.rs`).
//!
//! A claim sets `lease_until`; a row is due when it is `pending`, its
//! `next_attempt_at` has come and it holds no live lease. A worker that dies
//! between sending and recording leaves the lease to expire, and the row is
//! sent again: at least once, never zero times. Recording only changes a
//! row that is still `pending`, so a late answer cannot undo an operator's
//! `outbox retry` nor resurrect a sent row.

mod batch_reads;
mod hold;
mod throttle;

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::sql::{Script, get};
use super::{StoreError, now_ms};

pub use batch_reads::BatchReads;
pub(crate) use hold::RecipientHolds;

/// The outbox kind of a new message's notification to the other side.
pub const NEW_MESSAGE: &str = "new_message";

/// The acknowledgement of a new ticket, to the client who opened it.
pub const ACK: &str = "ack";

/// The after-hours auto-reply, to the client.
pub const AFTER_HOURS: &str = "after_hours";

/// A ticket's transcript, to the address it is forwarded to.
pub const TRANSCRIPT: &str = "transcript";

/// A notification row: what to send to whom; sending is the outbox's job.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: i64,
    pub ticket: i64,
    pub message: Option<i64>,
    pub participant: i64,
    pub recipient: String,
    pub token: String,
    pub message_id: String,
    pub kind: String,
    pub state: String,
    pub created_at: i64,
}

/// Where a notification row stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    /// Waiting to be sent (or to be tried again).
    Pending,
    /// The relay took it (250).
    Sent,
    /// Given up: a permanent refusal, too old to retry, or a bounce.
    Failed,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        Some(match s {
            "pending" => OutboxState::Pending,
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            _ => return None,
        })
    }
}

/// A notification row with what the worker keeps about its delivery.
#[derive(Debug, Clone, Serialize)]
pub struct OutboxRow {
    pub id: i64,
    pub ticket: i64,
    pub message: Option<i64>,
    pub participant: i64,
    pub recipient: String,
    pub token: String,
    /// Without angle brackets.
    pub message_id: String,
    /// `new_message`, `ack`, `after_hours`, `moderation_rejected` or
    /// `transcript` (the constants of [`crate::store`]).
    pub kind: String,
    pub state: OutboxState,
    /// Tries of the worker, whatever their outcome: a row sent at its
    /// first try shows 1. A throttle's postponement is none; a row
    /// coalesced into another takes that row's count with its outcome.
    pub attempts: i64,
    pub last_error: Option<String>,
    /// The relay's last answer (code and text) or the connection error.
    pub last_reply: Option<String>,
    /// When it may be tried next (Unix ms).
    pub next_attempt_at: i64,
    pub sent_at: Option<i64>,
    pub created_at: i64,
    /// Held back by a throttle and announced by this later row instead;
    /// takes that row's outcome.
    pub coalesced_into: Option<i64>,
}

pub(super) const OUTBOX_COLUMNS: &str = "id, ticket, message, participant, recipient, token, \
     message_id, kind, state, attempts, last_error, last_reply, next_attempt_at, sent_at, \
     created_at, coalesced_into";

pub(super) fn outbox_row_of<R: Row>(row: &R) -> Result<OutboxRow, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let state: String = get(row, "state")?;
    Ok(OutboxRow {
        id: get(row, "id")?,
        ticket: get(row, "ticket")?,
        message: get(row, "message")?,
        participant: get(row, "participant")?,
        recipient: get(row, "recipient")?,
        token: get(row, "token")?,
        message_id: get(row, "message_id")?,
        kind: get(row, "kind")?,
        state: OutboxState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox state {state:?}")))?,
        attempts: get(row, "attempts")?,
        last_error: get(row, "last_error")?,
        last_reply: get(row, "last_reply")?,
        next_attempt_at: get(row, "next_attempt_at")?,
        sent_at: get(row, "sent_at")?,
        created_at: get(row, "created_at")?,
        coalesced_into: get(row, "coalesced_into")?,
    })
}

/// What [`SqlStore::write_notification`] writes.
pub(super) struct NewNotification<'a> {
    pub ticket: i64,
    pub message: Option<i64>,
    pub participant: i64,
    pub recipient: &'a str,
    pub kind: &'a str,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn notifications(&self, ticket: i64) -> Result<Vec<Notification>, StoreError>;

    /// Leases up to `limit` due rows (pending, `next_attempt_at <= now`, no
    /// live lease) until `lease_until`, the longest due first (new rows in
    /// the order written, then retries), returned by id. A row whose lease
    /// expired is claimed again: a crash between send and record sends
    /// twice, never zero times.
    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// The relay took row `id` (one more attempt). False when the row was
    /// no longer pending.
    async fn outbox_sent(&self, id: i64, reply: &str, now: i64) -> Result<bool, StoreError>;

    /// The relay took each row of `sent` (id, its reply): recorded in one
    /// transaction. The ids recorded, in order; a row no longer pending is
    /// left as it is and not named. On an error none is recorded (they
    /// stay leased and are sent again once the lease runs out).
    async fn outbox_sent_many(
        &self,
        sent: &[(i64, String)],
        now: i64,
    ) -> Result<Vec<i64>, StoreError>;

    /// A temporary failure: one more attempt, tried again at
    /// `next_attempt_at`, unless the row was created before
    /// `expire_before`: then it is failed. The new state; `None` when the
    /// row was no longer pending.
    async fn outbox_deferred(
        &self,
        id: i64,
        reply: &str,
        next_attempt_at: i64,
        expire_before: i64,
    ) -> Result<Option<OutboxState>, StoreError>;

    /// A permanent failure, with the relay's reply (one more attempt).
    /// False when the row was no longer pending.
    async fn outbox_failed(&self, id: i64, reply: &str) -> Result<bool, StoreError>;

    /// Gives up the lease on a row not tried (the worker is stopping), so
    /// that the next worker need not wait for the lease to run out.
    async fn release_outbox(&self, id: i64) -> Result<(), StoreError>;

    /// Rows (in `state`, or all), oldest first, at most `limit`.
    async fn outbox(
        &self,
        state: Option<OutboxState>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;

    /// Row `id`, if it exists.
    async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError>;

    /// Makes a failed row pending again, due at `now`. `NotFound` or
    /// `Conflict` (not failed) otherwise.
    async fn retry_outbox(&self, id: i64, now: i64) -> Result<(), StoreError>;

    /// When a new-message notification to `participant` on `ticket` was
    /// last sent (Unix ms).
    async fn outbox_last_sent(
        &self,
        ticket: i64,
        participant: i64,
    ) -> Result<Option<i64>, StoreError>;

    /// How many new-message mails went to `recipient` after `since`, and
    /// when the first of them went.
    async fn outbox_sent_since(
        &self,
        recipient: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError>;

    /// Holds pending rows back until `until` (no attempt counted) and gives
    /// up their leases, in one statement.
    async fn outbox_postpone(&self, ids: &[i64], until: i64) -> Result<(), StoreError>;

    /// No new-message mail can go to `recipient` before `until` (it is at
    /// its hourly cap): until then this process writes such rows due at
    /// `until`, not at once, so they are claimed once, then (a hint; see
    /// `store/outbox/hold.rs`).
    fn outbox_hold_recipient(&self, recipient: &str, until: i64);

    /// Forgets every hold (a worker built from a new configuration, whose
    /// cap may differ).
    fn outbox_forget_holds(&self);

    /// Coalesces pending `rows` (and whatever they carried) into `into`:
    /// they are no longer claimed and take `into`'s outcome.
    async fn outbox_coalesce(&self, rows: &[i64], into: i64) -> Result<(), StoreError>;

    /// The rows coalesced into `carrier`, oldest first.
    async fn outbox_coalesced(&self, carrier: i64) -> Result<Vec<OutboxRow>, StoreError>;

    /// Gives the rows coalesced into `carrier` its outcome and its attempts
    /// (once it is no longer pending); how many changed.
    async fn outbox_settle_coalesced(&self, carrier: i64) -> Result<usize, StoreError>;

    /// What composing `rows` needs, read together (on one connection):
    /// their tickets, those tickets' participants, the messages they
    /// announce and, per row, what [`OutboxStore::thread_ids`] gives for it with
    /// `references` as the limit.
    async fn batch_reads(
        &self,
        rows: &[OutboxRow],
        references: i64,
    ) -> Result<BatchReads, StoreError>;

    /// The last `limit` Message-IDs the notification `row` may name in
    /// In-Reply-To and References, oldest first: those of the mail its
    /// recipient wrote on the ticket and those issued to its recipient (its
    /// own left out), written no later than the row. Never another
    /// participant's: their own Message-IDs name their mail host, and the
    /// ones issued to them carry their token.
    async fn thread_ids(&self, row: &OutboxRow, limit: i64) -> Result<Vec<String>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl OutboxStore for SqlStore {
        async fn notifications(&self, ticket: i64) -> Result<Vec<Notification>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, ticket, message, participant, recipient, token, message_id, kind, state, \
                 created_at FROM outbox WHERE ticket = $1 ORDER BY id",
            )
            .bind(ticket)
            .fetch_all(&self.read)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(Notification {
                        id: get(row, "id")?,
                        ticket: get(row, "ticket")?,
                        message: get(row, "message")?,
                        participant: get(row, "participant")?,
                        recipient: get(row, "recipient")?,
                        token: get(row, "token")?,
                        message_id: get(row, "message_id")?,
                        kind: get(row, "kind")?,
                        state: get(row, "state")?,
                        created_at: get(row, "created_at")?,
                    })
                })
                .collect()
        }

        async fn claim_outbox(
            &self,
            now: i64,
            lease_until: i64,
            limit: i64,
        ) -> Result<Vec<OutboxRow>, StoreError> {
            // One statement: on SQLite the single write connection serialises
            // claims; on PostgreSQL SKIP LOCKED keeps two workers off each
            // other's rows. Ordered as the `outbox_due` index is (state,
            // next_attempt_at, then id), so that SQLite walks it and stops
            // after `limit` rows: ordered by id alone it read every due row
            // and sorted them, each claim, O(backlog) (bench/outbox). New rows
            // (next_attempt_at 0) still go in the order written, before rows
            // waiting for a retry.
            let sql = format!(
                "UPDATE outbox SET lease_until = $1 WHERE id IN (SELECT id FROM outbox \
                 WHERE state = 'pending' AND next_attempt_at <= $2 AND coalesced_into IS NULL \
                 AND (lease_until IS NULL OR lease_until <= $2) \
                 ORDER BY next_attempt_at, id LIMIT $3{}) \
                 RETURNING {OUTBOX_COLUMNS}",
                DB::SKIP_LOCKED
            );
            let rows = sqlx::query(&sql)
                .bind(lease_until)
                .bind(now)
                .bind(limit)
                .fetch_all(&self.write)
                .await?;
            let mut claimed = rows
                .iter()
                .map(outbox_row_of)
                .collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|r| r.id);
            Ok(claimed)
        }

        async fn outbox_sent(&self, id: i64, reply: &str, now: i64) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE outbox SET state = 'sent', sent_at = $1, last_reply = $2, lease_until = NULL, \
                 attempts = attempts + 1 WHERE id = $3 AND state = 'pending' RETURNING id",
            )
            .bind(now)
            .bind(reply)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            Ok(done.is_some())
        }

        async fn outbox_sent_many(
            &self,
            sent: &[(i64, String)],
            now: i64,
        ) -> Result<Vec<i64>, StoreError> {
            if sent.is_empty() {
                return Ok(Vec::new());
            }
            // One statement, one commit for them all: a commit per row capped
            // the worker at the disk's commit rate, and a statement per row
            // held the one SQLite writer (which the group committer waits
            // for) through a round trip each. Same conditions as
            // `outbox_sent`, so a row no longer pending is left alone; the
            // rows found by id, the state checked on each (as in
            // `postpone_rows`).
            let mut script = Script::<DB>::new();
            let (q, i) = script.statement("UPDATE outbox SET state = 'sent', sent_at = ");
            q.push_bind(now).push(
                ", last_reply = v.column2, lease_until = NULL, attempts = attempts + 1 FROM (",
            );
            q.push_values(sent, |mut b, (id, reply)| {
                b.push("CAST(")
                    .push_bind_unseparated(*id)
                    .push_unseparated(" AS BIGINT)")
                    .push("CAST(")
                    .push_bind_unseparated(reply.as_str())
                    .push_unseparated(" AS TEXT)");
            });
            q.push(
                ") AS v WHERE outbox.id = v.column1 AND (outbox.state = 'pending') IS TRUE \
                 RETURNING id",
            );
            let groups = script.run(&mut *self.write.acquire().await?).await?;
            let mut recorded = groups[i]
                .iter()
                .map(|row| get::<i64, _>(row, "id"))
                .collect::<Result<Vec<_>, _>>()?;
            recorded.sort_unstable();
            Ok(recorded)
        }

        async fn outbox_deferred(
            &self,
            id: i64,
            reply: &str,
            next_attempt_at: i64,
            expire_before: i64,
        ) -> Result<Option<OutboxState>, StoreError> {
            let row = sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, last_error = $1, last_reply = $1, \
                 lease_until = NULL, next_attempt_at = $2, \
                 state = CASE WHEN created_at < $3 THEN 'failed' ELSE 'pending' END \
                 WHERE id = $4 AND state = 'pending' RETURNING state",
            )
            .bind(reply)
            .bind(next_attempt_at)
            .bind(expire_before)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            row.map(|row| {
                let state: String = get(&row, "state")?;
                OutboxState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown outbox state {state:?}")))
            })
            .transpose()
        }

        async fn outbox_failed(&self, id: i64, reply: &str) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE outbox SET state = 'failed', last_error = $1, last_reply = $1, \
                 lease_until = NULL, attempts = attempts + 1 \
                 WHERE id = $2 AND state = 'pending' RETURNING id",
            )
            .bind(reply)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            Ok(done.is_some())
        }

        async fn release_outbox(&self, id: i64) -> Result<(), StoreError> {
            sqlx::query("UPDATE outbox SET lease_until = NULL WHERE id = $1 AND state = 'pending'")
                .bind(id)
                .execute(&self.write)
                .await?;
            Ok(())
        }

        async fn outbox(
            &self,
            state: Option<OutboxState>,
            limit: i64,
        ) -> Result<Vec<OutboxRow>, StoreError> {
            let rows = match state {
                Some(state) => {
                    let sql = format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = $1 ORDER BY id LIMIT $2"
                    );
                    sqlx::query(&sql)
                        .bind(state.as_str())
                        .bind(limit)
                        .fetch_all(&self.read)
                        .await?
                }
                None => {
                    let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox ORDER BY id LIMIT $1");
                    sqlx::query(&sql).bind(limit).fetch_all(&self.read).await?
                }
            };
            rows.iter().map(outbox_row_of).collect()
        }

        async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
            let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            row.as_ref().map(outbox_row_of).transpose()
        }

        async fn retry_outbox(&self, id: i64, now: i64) -> Result<(), StoreError> {
            let done = sqlx::query(
                "UPDATE outbox SET state = 'pending', next_attempt_at = $1, lease_until = NULL \
                 WHERE id = $2 AND state = 'failed' RETURNING id",
            )
            .bind(now)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            if done.is_some() {
                // What it carried waits for it again.
                sqlx::query(
                    "UPDATE outbox SET state = 'pending' WHERE coalesced_into = $1 AND state = 'failed'",
                )
                .bind(id)
                .execute(&self.write)
                .await?;
                return Ok(());
            }
            let row = sqlx::query("SELECT state FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            match row {
                None => Err(StoreError::NotFound(format!(
                    "outbox row {id} does not exist"
                ))),
                Some(row) => {
                    let state: String = get(&row, "state")?;
                    Err(StoreError::Conflict(format!(
                        "outbox row {id} is {state}, not failed"
                    )))
                }
            }
        }

        async fn outbox_last_sent(
            &self,
            ticket: i64,
            participant: i64,
        ) -> Result<Option<i64>, StoreError> {
            self.last_sent_at(ticket, participant).await
        }

        async fn outbox_sent_since(
            &self,
            recipient: &str,
            since: i64,
        ) -> Result<(i64, Option<i64>), StoreError> {
            self.sent_since(recipient, since).await
        }

        async fn outbox_postpone(&self, ids: &[i64], until: i64) -> Result<(), StoreError> {
            self.postpone_rows(ids, until).await
        }

        fn outbox_hold_recipient(&self, recipient: &str, until: i64) {
            self.holds.hold(recipient, until, now_ms());
        }

        fn outbox_forget_holds(&self) {
            self.holds.clear();
        }

        async fn outbox_coalesce(&self, rows: &[i64], into: i64) -> Result<(), StoreError> {
            self.coalesce_rows(rows, into).await
        }

        async fn outbox_coalesced(&self, carrier: i64) -> Result<Vec<OutboxRow>, StoreError> {
            self.coalesced_rows(carrier).await
        }

        async fn outbox_settle_coalesced(&self, carrier: i64) -> Result<usize, StoreError> {
            self.settle_coalesced_rows(carrier).await
        }

        async fn batch_reads(
            &self,
            rows: &[OutboxRow],
            references: i64,
        ) -> Result<BatchReads, StoreError> {
            self.read_batch(rows, references).await
        }

        async fn thread_ids(&self, row: &OutboxRow, limit: i64) -> Result<Vec<String>, StoreError> {
            // The recipient's own mail (its author is the recipient) and the
            // IDs issued to the recipient: a notification names nothing of the
            // other side's, whose Message-IDs name their mail host and whose
            // issued IDs carry their token. `read_batch` picks the same.
            let rows = sqlx::query(
                "SELECT message_id, created_at FROM ( \
                   SELECT message_id, created_at FROM messages \
                     WHERE ticket = $1 AND author = $2 AND direction = 'inbound' \
                       AND message_id IS NOT NULL AND created_at <= $4 \
                   UNION ALL \
                   SELECT message_id, created_at FROM issued_message_ids \
                     WHERE ticket = $1 AND participant = $2 AND message_id <> $3 \
                       AND created_at <= $4 \
                 ) AS ids ORDER BY created_at DESC, message_id DESC LIMIT $5",
            )
            .bind(row.ticket)
            .bind(row.participant)
            .bind(row.message_id.as_str())
            .bind(row.created_at)
            .bind(limit)
            .fetch_all(&self.read)
            .await?;
            let mut ids = rows
                .iter()
                .map(|row| get::<String, _>(row, "message_id"))
                .collect::<Result<Vec<_>, _>>()?;
            ids.reverse();
            Ok(ids)
        }
    }
}
