//! The webhooks' worker of `parley serve`: one task per webhook, woken by
//! the event log's in-process signal (a commit of this process) and at
//! least every [`POLL`] (other processes' events, retries coming due).
//! Each round it queues what is new in the log (the store moves the
//! webhook's cursor in the same transaction), claims the due deliveries
//! under a lease and POSTs them one after the other, in event id order,
//! recording each answer.
//!
//! A failed try is tried again on the mail outbox's schedule
//! (`outbox.first_retry_secs` doubled per attempt up to
//! `outbox.max_retry_secs`, with jitter: [`retry_delay`]) and given up once
//! the delivery is older than `outbox.max_age_secs`; 410 Gone gives up at
//! once. On stop the POST in flight finishes (bounded by `timeout_ms`)
//! and the rest of the batch is released for the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::client::{self, Answer};
use super::{Webhook, payload};
use crate::config::{Config, ConfigError, OutboxConfig};
use crate::outbox::worker::retry_delay;
use crate::store::{DeliveryState, Store, StoreError, WebhookDelivery, now_ms};

/// How often a webhook's task looks for work without a signal.
pub const POLL: Duration = Duration::from_millis(500);
/// Events read from the log per transaction.
const PAGE: i64 = 200;
/// Deliveries claimed at once (sent one after the other).
const BATCH: i64 = 20;

/// Every configured webhook and what their task needs; one per
/// `parley serve`.
pub struct Deliverer {
    pub store: Arc<dyn Store>,
    pub webhooks: Vec<Webhook>,
    /// The retry schedule, the mail outbox's.
    pub schedule: OutboxConfig,
}

impl Deliverer {
    /// The webhooks of `[[webhooks]]` (their secrets read).
    pub fn new(config: &Config, store: Arc<dyn Store>) -> Result<Deliverer, ConfigError> {
        let webhooks = config
            .webhooks
            .iter()
            .enumerate()
            .map(|(i, hook)| Webhook::new(i, hook))
            .collect::<Result<_, _>>()?;
        Ok(Deliverer {
            store,
            webhooks,
            schedule: config.outbox.clone(),
        })
    }

    /// Gives every new webhook its cursor at the end of the log: called
    /// before the listeners open, so that it gets every event from this
    /// start on.
    pub async fn start(&self) -> Result<(), StoreError> {
        for hook in &self.webhooks {
            let cursor = self.store.start_webhook(&hook.name, now_ms()).await?;
            tracing::info!(webhook = %hook.name, url = %hook.target, cursor, "webhook");
        }
        Ok(())
    }

    /// Runs every webhook's task until `stopped` turns true.
    pub async fn run(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..self.webhooks.len() {
            tasks.spawn(self.clone().run_one(i, stopped.clone()));
        }
        while tasks.join_next().await.is_some() {}
        tracing::info!("webhooks stopped");
    }

    async fn run_one(self: Arc<Self>, i: usize, mut stopped: watch::Receiver<bool>) {
        let hook = &self.webhooks[i];
        let mut signal = self.store.event_signal();
        let mut signalled = true;
        // The newest event id queued from (or passed over): rounds with
        // nothing newer in the log skip the queuing transaction.
        let mut known = -1;
        while !*stopped.borrow() {
            let busy = match self.round(hook, &mut known, &stopped).await {
                Ok(busy) => busy,
                Err(e) => {
                    tracing::warn!(webhook = %hook.name, error = %e, "webhook: the store failed; trying again");
                    false
                }
            };
            if !busy {
                tokio::select! {
                    changed = signal.changed(), if signalled => signalled = changed.is_ok(),
                    () = tokio::time::sleep(POLL) => {}
                    _ = stopped.changed() => {}
                }
            }
        }
    }

    /// Queues what is new for `hook` (when the log has events after
    /// `known`, which it moves along) and sends one batch of its due
    /// deliveries; whether there was a batch.
    pub async fn round(
        &self,
        hook: &Webhook,
        known: &mut i64,
        stopped: &watch::Receiver<bool>,
    ) -> Result<bool, StoreError> {
        let newest = self.store.newest_event().await?;
        if newest > *known {
            let kinds: Vec<&str> = hook.kinds.iter().map(String::as_str).collect();
            loop {
                let queued = self
                    .store
                    .queue_webhook(&hook.name, &kinds, &payload, now_ms(), PAGE)
                    .await?;
                if queued.read < PAGE as usize {
                    break;
                }
            }
            *known = newest;
        }
        let now = now_ms();
        let lease = hook
            .timeout
            .saturating_mul(BATCH as u32)
            .saturating_add(Duration::from_secs(60));
        let batch = self
            .store
            .claim_webhook_deliveries(&hook.name, now, now + lease.as_millis() as i64, BATCH)
            .await?;
        let claimed = !batch.is_empty();
        let mut rows = batch.into_iter();
        for delivery in rows.by_ref() {
            self.deliver(hook, &delivery).await?;
            if *stopped.borrow() {
                break;
            }
        }
        for rest in rows {
            self.store.release_webhook_delivery(rest.id).await?;
        }
        Ok(claimed)
    }

    /// POSTs one delivery and records the answer.
    async fn deliver(&self, hook: &Webhook, delivery: &WebhookDelivery) -> Result<(), StoreError> {
        let unix = now_ms().div_euclid(1000);
        let headers = [
            ("parley-event-id", delivery.event.to_string()),
            ("parley-event", delivery.kind.clone()),
            ("parley-signature", hook.sign(unix, &delivery.payload)),
        ];
        let answer = client::post(
            &hook.target,
            hook.tls.as_ref(),
            &headers,
            delivery.payload.clone(),
            hook.timeout,
        )
        .await;
        let (id, event, webhook) = (delivery.id, delivery.event, &hook.name);
        let now = now_ms();
        match answer {
            Answer::Delivered(status) => {
                self.store.webhook_delivered(id, now).await?;
                tracing::info!(%webhook, id, event, %status, "webhook delivered");
            }
            Answer::Gone(error) => {
                self.store.webhook_failed(id, &error, now).await?;
                tracing::warn!(%webhook, id, event, %error, "webhook delivery failed: the receiver is gone");
            }
            Answer::Retry(error) => {
                let delay = retry_delay(&self.schedule, delivery.attempts, id ^ now);
                let next = now.saturating_add(delay.as_millis() as i64);
                let max_age = self.schedule.max_age_secs.saturating_mul(1000);
                let expire = now.saturating_sub(i64::try_from(max_age).unwrap_or(i64::MAX));
                let state = self
                    .store
                    .webhook_deferred(id, &error, now, next, expire)
                    .await?;
                if state == Some(DeliveryState::Failed) {
                    tracing::warn!(%webhook, id, event, %error, "webhook delivery given up: too old");
                } else {
                    tracing::info!(%webhook, id, event, %error, retry_in = ?delay, "webhook delivery deferred");
                }
            }
        }
        Ok(())
    }
}
