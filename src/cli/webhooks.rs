//! `parley webhooks`: where each webhook stands (its cursor in the event
//! log, its deliveries pending and failed, the last error) and queuing
//! failed deliveries again.

use clap::Subcommand;
use serde::Serialize;

use super::App;
use super::tickets::time;
use crate::error::Failure;
use crate::store::{WebhookSummary, now_ms};

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Per webhook: its URL, the last event id queued (its cursor), its
    /// deliveries pending, delivered and failed, the last error.
    Status {
        /// Print a JSON array, one object per webhook.
        #[arg(long)]
        json: bool,
    },
    /// Make a failed delivery (or every failed one) pending again, due
    /// now: the running `parley serve` sends it with its next round.
    Retry {
        /// The delivery id (from `webhooks status --json` or the log).
        #[arg(required_unless_present = "failed", conflicts_with = "failed")]
        id: Option<i64>,
        /// Every failed delivery (of `--webhook`, else of every webhook).
        #[arg(long)]
        failed: bool,
        /// With `--failed`: only this webhook's.
        #[arg(long, value_name = "NAME", requires = "failed")]
        webhook: Option<String>,
    },
}

/// One line of `webhooks status`.
#[derive(Debug, Serialize)]
struct Status {
    name: String,
    /// `null`: the webhook is in the store but no longer configured.
    url: Option<String>,
    #[serde(flatten)]
    store: WebhookSummary,
}

pub async fn run(app: &App, command: WebhooksCommand) -> Result<(), Failure> {
    match command {
        WebhooksCommand::Status { json } => status(app, json).await,
        WebhooksCommand::Retry { id: Some(id), .. } => {
            app.store().retry_webhook_delivery(id, now_ms()).await?;
            println!("webhook delivery {id} is pending again");
            Ok(())
        }
        WebhooksCommand::Retry { webhook, .. } => {
            let n = app
                .store()
                .retry_failed_webhook_deliveries(webhook.as_deref(), now_ms())
                .await?;
            println!("{n} failed webhook deliveries are pending again");
            Ok(())
        }
    }
}

async fn status(app: &App, json: bool) -> Result<(), Failure> {
    let mut stored = app.store().webhook_summaries().await?;
    let mut all = Vec::new();
    for hook in &app.config.webhooks {
        let found = stored.iter().position(|s| s.webhook == hook.name);
        let store = match found {
            Some(i) => stored.remove(i),
            None => WebhookSummary {
                webhook: hook.name.clone(),
                ..WebhookSummary::default()
            },
        };
        let url = crate::webhooks::Target::parse(&hook.url)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| hook.url.clone());
        all.push(Status {
            name: hook.name.clone(),
            url: Some(url),
            store,
        });
    }
    all.extend(stored.into_iter().map(|store| Status {
        name: store.webhook.clone(),
        url: None,
        store,
    }));
    if json {
        let text = serde_json::to_string_pretty(&all)
            .map_err(|e| Failure::Usage(format!("cannot print JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    if all.is_empty() {
        println!("no webhooks ([[webhooks]] in the config)");
    }
    for s in all {
        let cursor = s
            .store
            .cursor
            .map_or("not started".to_string(), |c| format!("after event {c}"));
        println!(
            "{}  {}  {cursor}  {} pending, {} delivered, {} failed",
            s.name,
            s.url.as_deref().unwrap_or("(no longer configured)"),
            s.store.pending,
            s.store.delivered,
            s.store.failed
        );
        if let (Some(error), Some(at)) = (&s.store.last_error, s.store.last_error_ms) {
            println!("  last error {}: {error}", time(at));
        }
    }
    Ok(())
}
