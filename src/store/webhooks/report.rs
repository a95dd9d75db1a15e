//! The operator's side of the webhooks: how each stands (`parley webhooks
//! status`) and queuing failed deliveries again (`parley webhooks retry`).

use crate::store::sql::sql_impl;

use super::WebhookSummary;
use crate::store::StoreError;
use crate::store::sql::get;

sql_impl! {
    impl SqlStore {
        /// See [`super::WebhookStore::webhook_summaries`].
        pub(super) async fn summaries(&self) -> Result<Vec<WebhookSummary>, StoreError> {
            let mut all: std::collections::BTreeMap<String, WebhookSummary> = Default::default();
            let cursors = sqlx::query("SELECT webhook, last_event FROM webhook_cursors")
                .fetch_all(&self.read)
                .await?;
            for row in &cursors {
                let webhook: String = get(row, "webhook")?;
                let entry = all.entry(webhook.clone()).or_default();
                entry.webhook = webhook;
                entry.cursor = Some(get(row, "last_event")?);
            }
            let counts = sqlx::query(
                "SELECT webhook, COUNT(CASE WHEN state = 'pending' THEN 1 END) AS pending, \
                 COUNT(CASE WHEN state = 'delivered' THEN 1 END) AS delivered, \
                 COUNT(CASE WHEN state = 'failed' THEN 1 END) AS failed, \
                 MAX(last_error_ms) AS last_error_ms \
                 FROM webhook_deliveries GROUP BY webhook",
            )
            .fetch_all(&self.read)
            .await?;
            for row in &counts {
                let webhook: String = get(row, "webhook")?;
                let entry = all.entry(webhook.clone()).or_default();
                entry.webhook = webhook;
                entry.pending = get(row, "pending")?;
                entry.delivered = get(row, "delivered")?;
                entry.failed = get(row, "failed")?;
                entry.last_error_ms = get(row, "last_error_ms")?;
            }
            for entry in all.values_mut() {
                let Some(at) = entry.last_error_ms else {
                    continue;
                };
                let row = sqlx::query(
                    "SELECT last_error FROM webhook_deliveries WHERE webhook = $1 \
                     AND last_error_ms = $2 ORDER BY id DESC LIMIT 1",
                )
                .bind(entry.webhook.as_str())
                .bind(at)
                .fetch_optional(&self.read)
                .await?;
                entry.last_error = match row {
                    Some(row) => get(&row, "last_error")?,
                    None => None,
                };
            }
            Ok(all.into_values().collect())
        }

        /// See [`super::WebhookStore::retry_webhook_delivery`].
        pub(super) async fn retry_delivery(&self, id: i64, now: i64) -> Result<(), StoreError> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_ms = $1, \
                 lease_until_ms = NULL WHERE id = $2 AND state = 'failed' RETURNING id",
            )
            .bind(now)
            .bind(id)
            .fetch_optional(&self.write)
            .await?;
            if done.is_some() {
                return Ok(());
            }
            let row = sqlx::query("SELECT state FROM webhook_deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.read)
                .await?;
            match row {
                None => Err(StoreError::NotFound(format!(
                    "webhook delivery {id} does not exist"
                ))),
                Some(row) => {
                    let state: String = get(&row, "state")?;
                    Err(StoreError::Conflict(format!(
                        "webhook delivery {id} is {state}, not failed"
                    )))
                }
            }
        }

        /// See [`super::WebhookStore::retry_failed_webhook_deliveries`].
        pub(super) async fn retry_failed(
            &self,
            webhook: Option<&str>,
            now: i64,
        ) -> Result<u64, StoreError> {
            let done = sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', next_attempt_ms = $1, \
                 lease_until_ms = NULL WHERE state = 'failed' AND ($2 IS NULL OR webhook = $2) \
                 RETURNING id",
            )
            .bind(now)
            .bind(webhook)
            .fetch_all(&self.write)
            .await?;
            Ok(done.len() as u64)
        }
    }
}
