//! Webhooks: per configured webhook a cursor into the event log and the
//! deliveries queued from it (docs/webhooks.md).
//!
//! [`WebhookStore::queue_webhook`] reads the events after a webhook's
//! cursor, hands each of its kinds to a [`Sift`] (which decides, by
//! [`crate::access`], whether the marketplace may see it, and renders the
//! body), writes a delivery row per body and moves the cursor past them,
//! all in one transaction (`webhooks/queue.rs`): an event is queued once,
//! or the cursor stays. A webhook met for the first time starts at the
//! newest event. `webhooks/report.rs` is the operator's side: the
//! summaries of `parley webhooks status`, retrying failed deliveries.
//!
//! The worker's side is the mail outbox's (`outbox.rs`): a claim sets
//! `lease_until_ms` (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite's single
//! writer serialises claims), a row is recorded only while pending, and a
//! worker that dies between POST and record leaves its lease to run out:
//! the row is sent again (at least once, never zero times).

mod queue;
mod report;

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::events::Event;
use super::sql::get;
use super::{StoreError, Ticket};

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting to be POSTed (or tried again).
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Given up: too old to retry, or 410 Gone.
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryState> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => return None,
        })
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookDelivery {
    pub id: i64,
    /// The webhook's configured name.
    pub webhook: String,
    /// The event's id in the log (the `Parley-Event-Id` header).
    pub event: i64,
    /// The event's kind (the `Parley-Event` header).
    pub kind: String,
    /// The exact JSON body POSTed.
    pub payload: String,
    /// Tries so far, whatever their outcome.
    pub attempts: i64,
    /// When it may be tried next (Unix ms).
    pub next_attempt_ms: i64,
    pub state: DeliveryState,
    /// The last failed try's answer (`HTTP 500 …`, a connection error).
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
    pub created_ms: i64,
    pub delivered_ms: Option<i64>,
}

/// How a webhook stands, for `parley webhooks status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WebhookSummary {
    pub webhook: String,
    /// The last event id queued or passed over; `None`: not started.
    pub cursor: Option<i64>,
    pub pending: i64,
    pub delivered: i64,
    pub failed: i64,
    /// The newest failed try's answer, and when (Unix ms).
    pub last_error: Option<String>,
    pub last_error_ms: Option<i64>,
}

/// What one [`WebhookStore::queue_webhook`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queued {
    /// Events read past (0: the webhook is caught up).
    pub read: usize,
    /// Deliveries written.
    pub queued: usize,
}

/// Decides what a webhook gets of an event of one of its kinds, given the
/// event's ticket (`None`: no such ticket): the JSON body to POST, or
/// `None` (not for the marketplace's eyes). Called inside the transaction:
/// it must not wait.
pub type Sift<'a> = &'a (dyn Fn(&Event, Option<&Ticket>) -> Option<String> + Send + Sync);

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Gives `webhook` a cursor at the newest event unless it has one; its
    /// cursor. A new webhook does not replay the log.
    async fn start_webhook(&self, webhook: &str, now: i64) -> Result<i64, StoreError>;

    /// In one transaction: reads up to `limit` events after `webhook`'s
    /// cursor (starting it first when it has none), hands those whose kind
    /// is in `kinds` to `sift`, queues a delivery (due at `now`) per body
    /// it returns, and moves the cursor past every event read. An event
    /// already queued for `webhook` (another instance got there first) is
    /// not queued twice.
    async fn queue_webhook(
        &self,
        webhook: &str,
        kinds: &[&str],
        sift: Sift<'_>,
        now: i64,
        limit: i64,
    ) -> Result<Queued, StoreError>;

    /// Leases up to `limit` of `webhook`'s due deliveries (pending,
    /// `next_attempt_ms <= now`, no live lease) until `lease_until`, by id
    /// (the event log's order).
    async fn claim_webhook_deliveries(
        &self,
        webhook: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// The receiver took delivery `id` (one more attempt). False when it
    /// was no longer pending.
    async fn webhook_delivered(&self, id: i64, now: i64) -> Result<bool, StoreError>;

    /// A failed try: one more attempt, tried again at `next_attempt_ms`,
    /// unless the delivery was created before `expire_before`: then it is
    /// failed. The new state; `None` when it was no longer pending.
    async fn webhook_deferred(
        &self,
        id: i64,
        error: &str,
        now: i64,
        next_attempt_ms: i64,
        expire_before: i64,
    ) -> Result<Option<DeliveryState>, StoreError>;

    /// Given up at once (410 Gone): one more attempt. False when it was no
    /// longer pending.
    async fn webhook_failed(&self, id: i64, error: &str, now: i64) -> Result<bool, StoreError>;

    /// Gives up the lease on a delivery not tried (the worker is stopping).
    async fn release_webhook_delivery(&self, id: i64) -> Result<(), StoreError>;

    /// Deliveries (of `webhook`, in `state`, or all), oldest first, at most
    /// `limit`.
    async fn webhook_deliveries(
        &self,
        webhook: Option<&str>,
        state: Option<DeliveryState>,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>, StoreError>;

    /// Every webhook the store knows (a cursor or a delivery), by name.
    async fn webhook_summaries(&self) -> Result<Vec<WebhookSummary>, StoreError>;

    /// Makes failed delivery `id` pending again, due at `now`. `NotFound`,
    /// or `Conflict` when it is not failed.
    async fn retry_webhook_delivery(&self, id: i64, now: i64) -> Result<(), StoreError>;

    /// Makes every failed delivery (of `webhook`, or of all) pending again,
    /// due at `now`; how many.
    async fn retry_failed_webhook_deliveries(
        &self,
        webhook: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError>;
}

const DELIVERY_COLUMNS: &str = "id, webhook, event, kind, payload, attempts, next_attempt_ms, \
     state, last_error, last_error_ms, created_ms, delivered_ms";

fn delivery_of<R: Row>(row: &R) -> Result<WebhookDelivery, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let state: String = get(row, "state")?;
    Ok(WebhookDelivery {
        id: get(row, "id")?,
        webhook: get(row, "webhook")?,
        event: get(row, "event")?,
        kind: get(row, "kind")?,
        payload: get(row, "payload")?,
        attempts: get(row, "attempts")?,
        next_attempt_ms: get(row, "next_attempt_ms")?,
        state: DeliveryState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state:?}")))?,
        last_error: get(row, "last_error")?,
        last_error_ms: get(row, "last_error_ms")?,
        created_ms: get(row, "created_ms")?,
        delivered_ms: get(row, "delivered_ms")?,
    })
}

/// Inserts `webhook`'s cursor at the newest event unless it has one.
const START_SQL: &str = "INSERT INTO webhook_cursors (webhook, last_event, updated_ms) \
     SELECT $1, COALESCE(MAX(id), 0), $2 FROM events WHERE true \
     ON CONFLICT (webhook) DO NOTHING";

sql_impl! {
    #[async_trait]
    impl WebhookStore for SqlStore {
        async fn start_webhook(&self, webhook: &str, now: i64) -> Result<i64, StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            sqlx::query(START_SQL)
                .bind(webhook)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let row = sqlx::query("SELECT last_event FROM webhook_cursors WHERE webhook = $1")
                .bind(webhook)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            get(&row, "last_event")
        }

        async fn queue_webhook(
            &self,
            webhook: &str,
            kinds: &[&str],
            sift: Sift<'_>,
            now: i64,
            limit: i64,
        ) -> Result<Queued, StoreError> {
            self.queue_events(webhook, kinds, sift, now, limit).await
        }

        async fn claim_webhook_deliveries(
            &self,
            webhook: &str,
            now: i64,
            lease_until: i64,
            limit: i64,
        ) -> Result<Vec<WebhookDelivery>, StoreError> {
            let sql = format!(
                "UPDATE webhook_deliveries SET lease_until_ms = $1 WHERE id IN (SELECT id \
                 FROM webhook_deliveries WHERE webhook = $2 AND state = 'pending' \
                 AND next_attempt_ms <= $3 AND (lease_until_ms IS NULL OR lease_until_ms <= $3) \
                 ORDER BY id LIMIT $4{}) RETURNING {DELIVERY_COLUMNS}",
                DB::SKIP_LOCKED
            );
            let rows = sqlx::query(&sql)
                .bind(lease_until)
                .bind(webhook)
                .bind(now)
                .bind(limit)
                .fetch_all(&self.write)
                .await?;
            let mut claimed = rows
                .iter()
                .map(delivery_of)
                .collect::<Result<Vec<_>, _>>()?;
            claimed.sort_by_key(|d| d.id);
            Ok(claimed)
        }

        async fn webhook_delivered(&self, id: i64, now: i64) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET state = 'delivered', delivered_ms = $1, \
                 lease_until_ms = NULL, attempts = attempts + 1 \
                 WHERE id = $2 AND state = 'pending' RETURNING id",
            )
            .bind(now)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            Ok(done.is_some())
        }

        async fn webhook_deferred(
            &self,
            id: i64,
            error: &str,
            now: i64,
            next_attempt_ms: i64,
            expire_before: i64,
        ) -> Result<Option<DeliveryState>, StoreError> {
            let row = sqlx::query(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = $1, \
                 last_error_ms = $2, lease_until_ms = NULL, next_attempt_ms = $3, \
                 state = CASE WHEN created_ms < $4 THEN 'failed' ELSE 'pending' END \
                 WHERE id = $5 AND state = 'pending' RETURNING state",
            )
            .bind(error)
            .bind(now)
            .bind(next_attempt_ms)
            .bind(expire_before)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            row.map(|row| {
                let state: String = get(&row, "state")?;
                DeliveryState::parse(&state)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown delivery state {state:?}")))
            })
            .transpose()
        }

        async fn webhook_failed(&self, id: i64, error: &str, now: i64) -> Result<bool, StoreError> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET state = 'failed', attempts = attempts + 1, \
                 last_error = $1, last_error_ms = $2, lease_until_ms = NULL \
                 WHERE id = $3 AND state = 'pending' RETURNING id",
            )
            .bind(error)
            .bind(now)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            Ok(done.is_some())
        }

        async fn release_webhook_delivery(&self, id: i64) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE webhook_deliveries SET lease_until_ms = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .execute(&self.write)
            .await?;
            Ok(())
        }

        async fn webhook_deliveries(
            &self,
            webhook: Option<&str>,
            state: Option<DeliveryState>,
            limit: i64,
        ) -> Result<Vec<WebhookDelivery>, StoreError> {
            let sql = format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries \
                 WHERE ($1 IS NULL OR webhook = $1) AND ($2 IS NULL OR state = $2) \
                 ORDER BY id LIMIT $3"
            );
            let rows = sqlx::query(&sql)
                .bind(webhook)
                .bind(state.map(DeliveryState::as_str))
                .bind(limit)
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(delivery_of).collect()
        }

        async fn webhook_summaries(&self) -> Result<Vec<WebhookSummary>, StoreError> {
            self.summaries().await
        }

        async fn retry_webhook_delivery(&self, id: i64, now: i64) -> Result<(), StoreError> {
            self.retry_delivery(id, now).await
        }

        async fn retry_failed_webhook_deliveries(
            &self,
            webhook: Option<&str>,
            now: i64,
        ) -> Result<u64, StoreError> {
            self.retry_failed(webhook, now).await
        }
    }
}
