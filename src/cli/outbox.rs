//! `parley outbox`: the notifications the worker of `parley serve` sends,
//! where each stands, the mail of one as the worker composes it, and
//! sending a failed one again.

use std::io::Write;

use clap::{Subcommand, ValueEnum};
use mail_parser::{HeaderValue, MessageParser};

use super::App;
use super::tickets::time;
use crate::error::Failure;
use crate::outbox::compose::{Composed, Composer};
use crate::outbox::draft::{DraftError, Drafter};
use crate::outbox::throttle::Throttle;
use crate::store::{OutboxRow, OutboxState, now_ms};

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
    /// Print the mail of a notification as the worker composes it: its
    /// envelope, headers and text parts.
    Show {
        /// The row id (from `outbox list`).
        id: i64,
        /// Print the mail's exact bytes (RFC 5322, CRLF line ends) instead.
        #[arg(long)]
        raw: bool,
    },
    /// Make a failed notification pending again, due now (the running
    /// `parley serve` sends it with its next batch).
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
            let now = now_ms();
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
                    outcome(&r, now)
                );
            }
            Ok(())
        }
        OutboxCommand::Show { id, raw } => show(app, id, raw).await,
        OutboxCommand::Retry { id } => {
            app.store().retry_outbox(id, now_ms()).await?;
            println!("notification {id} is pending again");
            Ok(())
        }
    }
}

/// The last column of `outbox list`: the relay's last reply, and for a
/// pending row held back (a retry's wait, a throttle) when it is due.
fn outcome(row: &OutboxRow, now: i64) -> String {
    let reply = row.last_reply.as_deref().unwrap_or("-");
    if row.state == OutboxState::Pending && row.next_attempt_at > now {
        let due = time(row.next_attempt_at);
        return match &row.last_reply {
            Some(reply) => format!("due {due}; {reply}"),
            None => format!("due {due}"),
        };
    }
    reply.to_string()
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

/// `outbox show`: the row composed by the worker's own reads and composer
/// (its Date and MIME boundaries are fresh each time).
async fn show(app: &App, id: i64, raw: bool) -> Result<(), Failure> {
    let row = app
        .store()
        .outbox_row(id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("outbox row {id} does not exist")))?;
    let composer = Composer::new(&app.config, &app.secret)?;
    let drafter = Drafter {
        store: app.store(),
        composer: &composer,
        throttle: Throttle::new(&app.config.notify),
    };
    let mail = drafter.compose_alone(&row).await.map_err(|e| match e {
        DraftError::Store(e) => Failure::Store(e),
        // What the worker would fail the row with.
        e => Failure::NotFound(format!("outbox row {id} cannot be composed: {e}")),
    })?;
    if raw {
        let mut out = std::io::stdout().lock();
        out.write_all(&mail.bytes)?;
        out.flush()?;
        return Ok(());
    }
    print!("{}", readable(&row, &mail));
    Ok(())
}

/// The mail as a reader sees it: what the row is, the envelope, the
/// headers decoded (the MIME structure's left out), the text parts.
fn readable(row: &OutboxRow, mail: &Composed) -> String {
    let mut out = format!(
        "notification {}: {} to {} on ticket #{}, {}, {}\n",
        row.id,
        row.kind,
        row.recipient,
        row.ticket,
        row.state.as_str(),
        tries(row.attempts)
    );
    let sender = mail
        .envelope
        .from()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let recipients: Vec<String> = mail
        .envelope
        .to()
        .iter()
        .map(|a| format!("<{a}>"))
        .collect();
    out.push_str(&format!(
        "envelope: from <{sender}> to {}\n\n",
        recipients.join(", ")
    ));
    let Some(parsed) = MessageParser::default().parse(&mail.bytes) else {
        out.push_str("(the mail does not parse: `--raw` shows it)\n");
        return out;
    };
    for header in parsed.headers() {
        let name = header.name();
        if name.eq_ignore_ascii_case("MIME-Version")
            || name.to_ascii_lowercase().starts_with("content-")
        {
            continue;
        }
        let ids = ["Message-ID", "In-Reply-To", "References"]
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name));
        out.push_str(&format!("{name}: {}\n", header_text(header.value(), ids)));
    }
    for (i, part) in parsed.text_bodies().enumerate() {
        let kind = if part.is_text_html() {
            "text/html as text"
        } else {
            "text/plain"
        };
        let text = parsed.body_text(i).unwrap_or_default();
        out.push_str(&format!("\n--- {kind} ---\n{}\n", text.trim_end()));
    }
    for part in parsed.html_bodies().filter(|p| p.is_text_html()) {
        out.push_str(&format!(
            "\n--- text/html: {} bytes (`--raw` shows it) ---\n",
            part.len()
        ));
    }
    out
}

/// A header's value decoded; Message-IDs in angle brackets.
fn header_text(value: &HeaderValue, ids: bool) -> String {
    let id = |s: &str| if ids { format!("<{s}>") } else { s.to_string() };
    match value {
        HeaderValue::Address(list) => list
            .iter()
            .map(|a| {
                let address = a.address().unwrap_or_default();
                match a.name() {
                    Some(name) => format!("\"{name}\" <{address}>"),
                    None => format!("<{address}>"),
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
        HeaderValue::Text(text) => id(text),
        HeaderValue::TextList(list) => list.iter().map(|t| id(t)).collect::<Vec<_>>().join(" "),
        HeaderValue::DateTime(date) => date.to_rfc822(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(state: OutboxState, next_attempt_at: i64, last_reply: Option<&str>) -> OutboxRow {
        OutboxRow {
            id: 1,
            ticket: 1,
            message: Some(1),
            participant: 1,
            recipient: "agent@localhost".into(),
            token: "t".into(),
            message_id: "m@x".into(),
            kind: "new_message".into(),
            state,
            attempts: 0,
            last_error: None,
            last_reply: last_reply.map(Into::into),
            next_attempt_at,
            sent_at: None,
            created_at: 0,
            coalesced_into: None,
        }
    }

    #[test]
    fn a_held_row_says_when_it_is_due() {
        let hour = 3_600_000;
        let due = time(hour);
        assert_eq!(outcome(&row(OutboxState::Pending, 0, None), 1000), "-");
        assert_eq!(
            outcome(&row(OutboxState::Pending, hour, None), 1000),
            format!("due {due}")
        );
        assert_eq!(
            outcome(&row(OutboxState::Pending, hour, Some("451 busy")), 1000),
            format!("due {due}; 451 busy")
        );
        assert_eq!(
            outcome(&row(OutboxState::Failed, hour, Some("550 no")), 1000),
            "550 no"
        );
    }
}
