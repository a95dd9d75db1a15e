//! Queuing a webhook's deliveries from the event log, in the transaction
//! that moves its cursor ([`super::WebhookStore::queue_webhook`]).

use crate::store::sql::sql_impl;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use super::{Queued, START_SQL, Sift};
use crate::store::events::{EVENT_COLUMNS, Event, event_of};
use crate::store::sql::{TICKET_COLUMNS, get, ticket_of};
use crate::store::{StoreError, Ticket};

sql_impl! {
    impl SqlStore {
        /// See [`super::WebhookStore::queue_webhook`].
        pub(super) async fn queue_events(
            &self,
            webhook: &str,
            kinds: &[&str],
            sift: Sift<'_>,
            now: i64,
            limit: i64,
        ) -> Result<Queued, StoreError> {
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let cursor = sqlx::query("SELECT last_event FROM webhook_cursors WHERE webhook = $1")
                .bind(webhook)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(cursor) = cursor else {
                sqlx::query(START_SQL)
                    .bind(webhook)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(Queued::default());
            };
            let cursor: i64 = get(&cursor, "last_event")?;
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
            let rows = sqlx::query(&sql)
                .bind(cursor)
                .bind(limit.clamp(1, crate::store::MAX_PAGE))
                .fetch_all(&mut *tx)
                .await?;
            let events = rows.iter().map(event_of).collect::<Result<Vec<_>, _>>()?;
            let Some(last) = events.last().map(|e| e.id) else {
                return Ok(Queued::default());
            };
            let wanted: Vec<&Event> = events
                .iter()
                .filter(|e| kinds.contains(&e.kind.as_str()))
                .collect();
            // Each ticket once: what decides whether the marketplace sees it.
            let mut tickets: HashMap<i64, Option<Ticket>> = HashMap::new();
            for event in &wanted {
                if let Entry::Vacant(slot) = tickets.entry(event.ticket) {
                    let sql = format!(
                        "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
                         WHERE t.number = $1"
                    );
                    let row = sqlx::query(&sql)
                        .bind(event.ticket)
                        .fetch_optional(&mut *tx)
                        .await?;
                    slot.insert(row.map(|row| ticket_of(&row)).transpose()?);
                }
            }
            let mut queued = 0;
            for event in wanted {
                let ticket = tickets.get(&event.ticket).and_then(Option::as_ref);
                let Some(payload) = sift(event, ticket) else {
                    continue;
                };
                let done = sqlx::query(
                    "INSERT INTO webhook_deliveries (webhook, event, kind, payload, next_attempt_ms, \
                     created_ms) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (webhook, event) DO NOTHING RETURNING id",
                )
                .bind(webhook)
                .bind(event.id)
                .bind(event.kind.as_str())
                .bind(payload.as_str())
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                queued += usize::from(done.is_some());
            }
            sqlx::query(
                "UPDATE webhook_cursors SET last_event = $1, updated_ms = $2 \
                 WHERE webhook = $3 AND last_event < $1",
            )
            .bind(last)
            .bind(now)
            .bind(webhook)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Queued {
                read: events.len(),
                queued,
            })
        }
    }
}
