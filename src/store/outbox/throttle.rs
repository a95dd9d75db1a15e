//! The store's side of the outbox throttles (see `src/outbox/throttle.rs`):
//! what was sent to whom lately, holding a row back, and coalescing rows
//! into a carrier that announces them all.
//!
//! A coalesced row keeps its place in the outbox (`coalesced_into` names
//! its carrier): it is never claimed itself and takes the carrier's outcome
//! when the carrier is recorded ([`settle`](SqlStore::settle_coalesced_rows)),
//! so `parley outbox list` tells the truth about every message.

use crate::store::sql::sql_impl;

use super::{OUTBOX_COLUMNS, OutboxRow, outbox_row_of};
use crate::store::StoreError;
use crate::store::sql::{Script, get, push_list};

sql_impl! {
    impl SqlStore {
        /// See [`super::OutboxStore::outbox_last_sent`].
        pub(super) async fn last_sent_at(
            &self,
            ticket: i64,
            participant: i64,
        ) -> Result<Option<i64>, StoreError> {
            let row = sqlx::query(
                "SELECT MAX(sent_at) AS at FROM outbox WHERE ticket = $1 AND participant = $2 \
                 AND kind = 'new_message' AND state = 'sent'",
            )
            .bind(ticket)
            .bind(participant)
            .fetch_one(&self.read)
            .await?;
            get(&row, "at")
        }

        /// See [`super::OutboxStore::outbox_sent_since`].
        pub(super) async fn sent_since(
            &self,
            recipient: &str,
            since: i64,
        ) -> Result<(i64, Option<i64>), StoreError> {
            // Coalesced rows went out inside their carrier: one mail each.
            let row = sqlx::query(
                "SELECT COUNT(*) AS n, MIN(sent_at) AS first FROM outbox WHERE recipient = $1 \
                 AND sent_at > $2 AND state = 'sent' AND kind = 'new_message' \
                 AND coalesced_into IS NULL",
            )
            .bind(recipient)
            .bind(since)
            .fetch_one(&self.read)
            .await?;
            Ok((get(&row, "n")?, get(&row, "first")?))
        }

        /// See [`super::OutboxStore::outbox_postpone`].
        pub(super) async fn postpone_rows(&self, ids: &[i64], until: i64) -> Result<(), StoreError> {
            if ids.is_empty() {
                return Ok(());
            }
            // The rows by their ids alone: `(state = 'pending') IS TRUE`
            // is checked on each row found, never a way to find them. As
            // `state = 'pending' AND id IN (…)`, PostgreSQL without
            // statistics on `outbox` (a new table, or pending rows piling
            // up behind a dead relay) read every pending row by the state
            // index and filtered the ids: 8 ms for 32 rows among 6,000.
            let mut script = Script::<DB>::new();
            let (q, _) = script.statement("UPDATE outbox SET next_attempt_at = ");
            q.push_bind(until).push(", lease_until = NULL WHERE id IN ");
            push_list(q, ids.iter().copied());
            q.push(" AND (state = 'pending') IS TRUE");
            script.run(&mut *self.write.acquire().await?).await?;
            Ok(())
        }

        /// See [`super::OutboxStore::outbox_coalesce`].
        pub(super) async fn coalesce_rows(
            &self,
            rows: &[i64],
            into: i64,
        ) -> Result<(), StoreError> {
            if rows.is_empty() {
                return Ok(());
            }
            // The rows, and whatever they carried before, now ride with
            // `into`: one statement, the rows found by id and by carrier,
            // the state checked on each (as in `postpone_rows`: as
            // `state = 'pending' AND …`, PostgreSQL without statistics
            // read every pending row by the state index, the backlog this
            // runs in).
            let mut script = Script::<DB>::new();
            let (q, _) = script.statement("UPDATE outbox SET coalesced_into = ");
            q.push_bind(into)
                .push(", lease_until = NULL WHERE (id IN ");
            push_list(q, rows.iter().copied());
            q.push(" OR coalesced_into IN ");
            push_list(q, rows.iter().copied());
            q.push(") AND (state = 'pending') IS TRUE");
            script.run(&mut *self.write.acquire().await?).await?;
            Ok(())
        }

        /// See [`super::OutboxStore::outbox_coalesced`].
        pub(super) async fn coalesced_rows(
            &self,
            carrier: i64,
        ) -> Result<Vec<OutboxRow>, StoreError> {
            let sql = format!(
                "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE coalesced_into = $1 ORDER BY id"
            );
            let rows = sqlx::query(&sql)
                .bind(carrier)
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(outbox_row_of).collect()
        }

        /// See [`super::OutboxStore::outbox_settle_coalesced`].
        pub(super) async fn settle_coalesced_rows(
            &self,
            carrier: i64,
        ) -> Result<usize, StoreError> {
            let done = sqlx::query(
                "UPDATE outbox SET state = c.state, sent_at = c.sent_at, last_error = c.last_error, \
                 last_reply = c.last_reply, attempts = c.attempts, lease_until = NULL \
                 FROM (SELECT state, sent_at, last_error, last_reply, attempts FROM outbox \
                 WHERE id = $1) AS c \
                 WHERE outbox.coalesced_into = $1 AND outbox.state <> c.state \
                 AND c.state <> 'pending' RETURNING outbox.id",
            )
            .bind(carrier)
            .fetch_all(&self.write)
            .await?;
            Ok(done.len())
        }
    }
}
