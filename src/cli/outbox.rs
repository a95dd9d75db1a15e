//! `parley outbox`: the notifications the worker of `parley serve` sends,
//! where each stands, and sending a failed one again.

use clap::{Subcommand, ValueEnum};

use super::App;
use super::tickets::time;
use crate::error::Failure;
use crate::store::{OutboxState, now_ms};

/// The most rows `outbox list` prints.
const LIST_LIMIT: i64 = 10_000;

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// List notifications, oldest first: state, attempts, the relay's last
    /// answer.
    List {
        /// Only rows in this state.
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        /// Print a JSON array of rows.
        #[arg(long)]
        json: bool,
    },
    /// Make a failed notification pending again, due now (the running
    /// `parley serve` sends it on its next round).
    Retry {
        /// The row id (from `outbox list`).
        id: i64,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StateArg {
    Pending,
    Sent,
    Failed,
}

impl From<StateArg> for OutboxState {
    fn from(s: StateArg) -> Self {
        match s {
            StateArg::Pending => OutboxState::Pending,
            StateArg::Sent => OutboxState::Sent,
            StateArg::Failed => OutboxState::Failed,
        }
    }
}

pub async fn run(app: &App, command: OutboxCommand) -> Result<(), Failure> {
    match command {
        OutboxCommand::List { state, json } => {
            let rows = app
                .store()
                .outbox(state.map(Into::into), LIST_LIMIT)
                .await?;
            if json {
                let text = serde_json::to_string_pretty(&rows)
                    .map_err(|e| Failure::Usage(format!("cannot print JSON: {e}")))?;
                println!("{text}");
                return Ok(());
            }
            if rows.is_empty() {
                println!("no notifications");
            }
            for r in rows {
                println!(
                    "{:>6}  #{:<6} {:<8} {:>8}  {}  {:<20} {}  {}",
                    r.id,
                    r.ticket,
                    r.state.as_str(),
                    tries(r.attempts),
                    time(r.created_at),
                    r.kind,
                    r.recipient,
                    r.last_reply.as_deref().unwrap_or("-")
                );
            }
            Ok(())
        }
        OutboxCommand::Retry { id } => {
            app.store().retry_outbox(id, now_ms()).await?;
            println!("notification {id} is pending again");
            Ok(())
        }
    }
}

/// "1 try", "2 tries": the worker's tries of a row, the one that
/// succeeded included.
fn tries(n: i64) -> String {
    if n == 1 {
        "1 try".to_string()
    } else {
        format!("{n} tries")
    }
}
