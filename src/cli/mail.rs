//! `parley ingest`, `parley inspect` and `parley quarantine`.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;

use super::App;
use crate::error::Failure;
use crate::intake::{Decision, Envelope, Outcome, Report};
use crate::store::Source;

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List quarantined messages with their reasons.
    List {
        #[arg(long)]
        json: bool,
    },
}

/// Reads at most `limit + 1` bytes, so an endless stdin cannot exhaust memory;
/// intake refuses what is over the limit.
fn read_message(reader: impl Read, limit: usize) -> Result<Vec<u8>, Failure> {
    let mut raw = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut raw)?;
    Ok(raw)
}

pub async fn ingest(
    app: &App,
    recipients: Vec<String>,
    sender: Option<String>,
) -> Result<(), Failure> {
    for r in &recipients {
        if !crate::address::is_address(r) {
            return Err(Failure::Usage(format!(
                "--recipient {r:?} is not an email address"
            )));
        }
    }
    let raw = read_message(std::io::stdin().lock(), app.config.intake.max_message_bytes)?;
    let envelope = Envelope {
        // `--sender ""` is the null sender of a bounce; no --sender: unknown.
        sender,
        recipients,
        source: Source::Pipe,
    };
    match app.intake.deliver(raw, &envelope).await? {
        Outcome::Stored {
            ticket,
            message,
            new_ticket,
        } => {
            let what = if new_ticket { "new ticket" } else { "ticket" };
            tracing::info!(ticket, message, new_ticket, "stored");
            eprintln!("parley: stored as message {message} on {what} #{ticket}");
            Ok(())
        }
        Outcome::Duplicate { ticket } => {
            eprintln!(
                "parley: duplicate of a stored message{}",
                ticket
                    .map(|t| format!(" on ticket #{t}"))
                    .unwrap_or_default()
            );
            Ok(())
        }
        Outcome::Quarantined { id, reason } => {
            tracing::warn!(id, reason, "quarantined");
            eprintln!("parley: quarantined ({reason}), entry {id}");
            Ok(())
        }
        Outcome::Bounced(Some(b)) => {
            tracing::info!(notification = b.notification, address = %b.address, "bounce");
            eprintln!(
                "parley: bounce of notification {} to {}: address marked failing",
                b.notification, b.address
            );
            Ok(())
        }
        Outcome::Bounced(None) => {
            eprintln!("parley: bounce of a notification that no longer exists: quarantined");
            Ok(())
        }
        Outcome::NoMatch => Err(Failure::NoMatch),
        Outcome::Rejected { reason } => Err(Failure::Rejected(reason)),
    }
}

pub async fn inspect(
    app: &App,
    file: Option<PathBuf>,
    recipients: Vec<String>,
    json: bool,
) -> Result<(), Failure> {
    let limit = app.config.intake.max_message_bytes;
    let raw = match file.filter(|f| f.as_os_str() != "-") {
        Some(path) => read_message(
            std::fs::File::open(&path)
                .map_err(|e| Failure::NotFound(format!("{}: {e}", path.display())))?,
            limit,
        )?,
        None => read_message(std::io::stdin().lock(), limit)?,
    };
    let envelope = Envelope {
        sender: None,
        recipients,
        source: Source::Pipe,
    };
    let plan = app.intake.plan(&raw, &envelope).await?;
    let report = Report::new(&plan);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serializes")
        );
        return Ok(());
    }
    println!(
        "message-id:  {}",
        report.message_id.as_deref().unwrap_or("-")
    );
    println!("from:        {}", report.from.as_deref().unwrap_or("-"));
    println!("recipients:  {}", report.recipients.join(", "));
    println!("subject:     {}", report.subject.as_deref().unwrap_or("-"));
    if let Some(c) = plan
        .classification
        .as_ref()
        .filter(|_| report.auto != "none")
    {
        println!("auto:        {} ({})", report.auto, c.reason);
    }
    let t = &report.thread;
    println!(
        "thread:      {} (ticket {}, queue {}, sender is participant: {})",
        t.matched_by,
        t.ticket.map_or("-".into(), |n| format!("#{n}")),
        t.queue.as_deref().unwrap_or("-"),
        t.sender_is_participant
    );
    if !t.flags.is_empty() {
        println!("flags:       {}", t.flags.join(" "));
    }
    for a in &report.attachments {
        let flags = match a.flags.is_empty() {
            true => String::new(),
            false => format!(" [{}]", a.flags.join(" ")),
        };
        println!(
            "attachment:  {} ({}, {} bytes){flags}",
            a.filename, a.content_type, a.size
        );
    }
    println!(
        "policy:      {} (spam probability {:.3})",
        report.policy.action, report.policy.spam
    );
    for hit in &report.policy.hits {
        println!(
            "hit:         {} ({}, {}) in {}: {:?}",
            hit["rule"].as_str().unwrap_or(""),
            hit["category"].as_str().unwrap_or(""),
            hit["action"].as_str().unwrap_or(""),
            hit["field"].as_str().unwrap_or(""),
            hit["text"].as_str().unwrap_or(""),
        );
    }
    let decision = match &plan.decision {
        Decision::Post(_) => "store on the ticket".to_string(),
        Decision::Duplicate { .. } => "duplicate: nothing to store".to_string(),
        Decision::Quarantine { reason, .. } => format!("quarantine ({reason})"),
        Decision::NoMatch => "no match: refuse (ingest exits 67)".to_string(),
        Decision::Reject { reason } => format!("refuse: {reason}"),
        Decision::Bounce { notification, .. } => {
            format!("bounce of notification {notification}: mark its recipient failing")
        }
    };
    println!("decision:    {decision}");
    println!("reply text:\n{}", report.reply_text);
    Ok(())
}

pub async fn quarantine(app: &App, command: QuarantineCommand) -> Result<(), Failure> {
    let QuarantineCommand::List { json } = command;
    let entries = app.store().quarantined().await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&entries).expect("entries serialize")
        );
        return Ok(());
    }
    for q in entries {
        println!(
            "{:>6}  {}  raw {}  {}  {}",
            q.id,
            super::tickets::time(q.created_at),
            q.raw_id,
            q.reason,
            q.detail
        );
    }
    Ok(())
}
