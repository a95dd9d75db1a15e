//! `parley webhooks`: where each webhook stands (its cursor in the event
//! log, its deliveries pending and failed, the last error), its
//! deliveries one by one, and queuing failed deliveries again.

use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use super::App;
use super::tickets::time;
use crate::error::Failure;
use crate::store::{DeliveryState, WebhookSummary, now_ms};

/// The most deliveries `webhooks list` prints.
const LIST_LIMIT: i64 = 10_000;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Per webhook: its URL, the last event id queued (its cursor), its
    /// deliveries pending, delivered and failed, the last error.
    Status {
        /// Print a JSON array, one object per webhook.
        #[arg(long)]
        json: bool,
    },
    /// List deliveries, oldest first: id, webhook, event, state, tries,
    /// the last error.
    List {
        /// Only this webhook's.
        #[arg(long, value_name = "NAME")]
        webhook: Option<String>,
        /// Only deliveries in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Print a JSON array of deliveries.
        #[arg(long)]
        json: bool,
    },
    /// Make a failed delivery (or every failed one) pending again, due
    /// now: the running `parley serve` sends it with its next round.
    Retry {
        /// The delivery id (from `webhooks list`).
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

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Pending,
    Delivered,
    Failed,
}

impl From<StateArg> for DeliveryState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Pending => DeliveryState::Pending,
            StateArg::Delivered => DeliveryState::Delivered,
            StateArg::Failed => DeliveryState::Failed,
        }
    }
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
        WebhooksCommand::List {
            webhook,
            state,
            json,
        } => list(app, webhook, state, json).await,
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

async fn list(
    app: &App,
    webhook: Option<String>,
    state: Option<StateArg>,
    json: bool,
) -> Result<(), Failure> {
    let rows = app
        .store()
        .webhook_deliveries(webhook.as_deref(), state.map(Into::into), LIST_LIMIT)
        .await?;
    if json {
        let text = serde_json::to_string_pretty(&rows)
            .map_err(|e| Failure::Usage(format!("cannot print JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        println!("no webhook deliveries");
    }
    for d in rows {
        println!(
            "{:>6}  {:<12} event {:<8} {:<18} {:<9} {:>3} tries  {}  {}",
            d.id,
            d.webhook,
            d.event,
            d.kind,
            d.state.as_str(),
            d.attempts,
            time(d.created_ms),
            d.last_error.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}
