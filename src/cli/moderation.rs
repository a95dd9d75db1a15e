//! `parley moderation`: the messages the policy (or threading) held, and
//! the moderators' decisions on them.

use clap::Subcommand;
use serde_json::{Value, json};

use super::App;
use super::tickets::time;
use crate::error::Failure;
use crate::moderation;
use crate::moderation::review::{self, Choice, DecideError};
use crate::store::{Approval, Message, Participant, Ruling};

#[derive(Debug, Subcommand)]
pub enum ModerationCommand {
    /// List the held messages, oldest first.
    List {
        /// Print the JSON array documented in docs/json.md.
        #[arg(long)]
        json: bool,
    },
    /// Show a held (or moderated) message: what it says, what the policy
    /// found, what the other party would see, and its audit entries.
    Show {
        /// The message id (from `moderation list`).
        id: i64,
        /// Print the JSON object documented in docs/json.md.
        #[arg(long)]
        json: bool,
    },
    /// Let a held message through: the other party is notified and the
    /// ticket's status moves as if it had just arrived. The spans of the
    /// policy's `redact` rules stay masked (those of `hold` rules, which
    /// you judged, show) unless --redact or --as-written.
    Approve {
        id: i64,
        /// The other party sees the text with every hit masked.
        #[arg(long, conflicts_with = "as_written")]
        redact: bool,
        /// The other party sees the text as written, contact details and
        /// all (audited).
        #[arg(long)]
        as_written: bool,
        /// Who decides, for the audit log.
        #[arg(long = "as", value_name = "NAME", default_value = "moderator")]
        actor: String,
    },
    /// Keep a held message from the other party. Its author is sent a
    /// notice with the reason, except for spam and mail from outside the
    /// conversation (its sender is likely forged), or with --silent. A new
    /// ticket that nobody has seen a message of is closed.
    Reject {
        id: i64,
        /// Why, for the author's notice and the audit log.
        #[arg(long)]
        reason: String,
        /// Send the author no notice.
        #[arg(long)]
        silent: bool,
        #[arg(long = "as", value_name = "NAME", default_value = "moderator")]
        actor: String,
    },
}

pub async fn run(app: &App, command: ModerationCommand) -> Result<(), Failure> {
    match command {
        ModerationCommand::List { json } => list(app, json).await,
        ModerationCommand::Show { id, json } => show(app, id, json).await,
        ModerationCommand::Approve {
            id,
            redact,
            as_written,
            actor,
        } => {
            let shows = match (redact, as_written) {
                (true, _) => Approval::Redacted,
                (false, true) => Approval::AsWritten,
                (false, false) => Approval::Masked,
            };
            decide(app, id, Choice::Approve(shows), &actor).await
        }
        ModerationCommand::Reject {
            id,
            reason,
            silent,
            actor,
        } => decide(app, id, Choice::Reject { reason, silent }, &actor).await,
    }
}

/// Decides as every door does ([`review::decide`]) and says what it did.
async fn decide(app: &App, id: i64, choice: Choice, actor: &str) -> Result<(), Failure> {
    let on_closed = app.config.tickets.on_closed_reply;
    let decided = review::decide(&app.intake, on_closed, id, choice, actor)
        .await
        .map_err(|e| match e {
            DecideError::NotFound(what) => Failure::NotFound(what),
            e @ DecideError::NotHeld { .. } => Failure::Rejected(e.to_string()),
            DecideError::Invalid(what) => Failure::Usage(what),
            DecideError::Store(e) => Failure::Store(e),
        })?;
    let what = match &decided.ruling {
        Ruling::Approve {
            shows: Approval::Masked,
        } => "approved (the policy's redactions stay)".to_string(),
        Ruling::Approve {
            shows: Approval::Redacted,
        } => "approved redacted".to_string(),
        Ruling::Approve {
            shows: Approval::AsWritten,
        } => "approved as written".to_string(),
        Ruling::Reject {
            no_notice: Some(why),
            ..
        } => format!("rejected, no notice to its author ({why})"),
        Ruling::Reject { .. } => "rejected".to_string(),
    };
    let moved = match decided.status {
        Some(status) => format!("; the ticket is now {status}"),
        None => String::new(),
    };
    println!(
        "message {id} {what}; {} notification(s) queued{moved}",
        decided.notifications.len()
    );
    Ok(())
}

/// The JSON object of a message for moderators (docs/json.md).
fn entry(message: &Message, author: Option<&Participant>) -> Value {
    json!({
        "id": message.id,
        "ticket": message.ticket,
        "author": author.map(|p| p.address.as_str()),
        "role": author.map(|p| p.role.as_str()),
        "created_at": message.created_at,
        "moderation": message.moderation,
        "action": message.policy_action,
        "flags": message.flags,
        "hits": serde_json::from_str::<Value>(&message.policy_hits).unwrap_or(json!([])),
        "spam": moderation::spam(message),
        "reply_text": message.reply_text,
        "masked_text": message.masked_text,
        "redacted_text": message.redacted_text,
    })
}

async fn list(app: &App, as_json: bool) -> Result<(), Failure> {
    let held = review::held(app.store()).await?;
    let entries: Vec<(&Message, Value)> = held
        .iter()
        .map(|(message, author)| (message, entry(message, author.as_ref())))
        .collect();
    if as_json {
        let all: Vec<&Value> = entries.iter().map(|(_, e)| e).collect();
        println!("{}", serde_json::to_string_pretty(&all).unwrap_or_default());
        return Ok(());
    }
    if entries.is_empty() {
        println!("no message is held");
        return Ok(());
    }
    println!(
        "{:>6}  {:>7}  {:<30}  {:<28}  text",
        "id", "ticket", "author", "why"
    );
    for (message, entry) in entries {
        let preview: String = message
            .reply_text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(50)
            .collect();
        println!(
            "{:>6}  {:>7}  {:<30}  {:<28}  {preview}",
            message.id,
            format!("#{}", message.ticket),
            entry["author"].as_str().unwrap_or("-"),
            moderation::held_for(message).join(","),
        );
    }
    Ok(())
}

async fn show(app: &App, id: i64, as_json: bool) -> Result<(), Failure> {
    let review = review::review(app.store(), id).await.map_err(|e| match e {
        DecideError::NotFound(what) => Failure::NotFound(what),
        DecideError::Store(e) => Failure::Store(e),
        e => Failure::Rejected(e.to_string()),
    })?;
    let message = review.message;
    let audit: Vec<Value> = review
        .audit
        .into_iter()
        .map(|a| json!({ "at": a.at, "actor": a.actor, "action": a.action, "detail": a.detail }))
        .collect();
    let mut object = entry(&message, review.author.as_ref());
    object["audit"] = Value::Array(audit.clone());
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&object).unwrap_or_default()
        );
        return Ok(());
    }
    println!("message {id} on ticket #{}", message.ticket);
    println!(
        "author:      {}",
        object["author"].as_str().unwrap_or("(unknown)")
    );
    println!("moderation:  {}", message.moderation.as_str());
    println!("policy:      {}", message.policy_action);
    let why = moderation::held_for(&message);
    if !why.is_empty() {
        println!("held for:    {}", why.join(", "));
    }
    if let Some(p) = moderation::spam(&message) {
        let hold_at = app.config.policy.rules().spam.hold_at;
        println!("spam:        {p:.3} (the spam model holds from {hold_at})");
    }
    if !message.flags.is_empty() {
        println!("flags:       {}", message.flags.join(" "));
    }
    if let Some(hits) = object["hits"].as_array() {
        for hit in hits {
            println!(
                "hit:         {} ({}, {}) in {} [{}..{}]: {:?}",
                hit["rule"].as_str().unwrap_or(""),
                hit["category"].as_str().unwrap_or(""),
                hit["action"].as_str().unwrap_or(""),
                hit["field"].as_str().unwrap_or(""),
                hit["start"],
                hit["end"],
                hit["text"].as_str().unwrap_or(""),
            );
        }
    }
    println!(
        "\n--- as written (approve --as-written)\n{}",
        message.reply_text
    );
    if let Some(masked) = &message.masked_text {
        println!("\n--- with the redact rules' spans masked (approve)\n{masked}");
    }
    if let Some(redacted) = &message.redacted_text {
        println!("\n--- with every span masked (approve --redact)\n{redacted}");
    }
    if let Some(shown) = moderation::visible_text(&message) {
        println!("\n--- what the other party sees\n{shown}");
    }
    for a in audit {
        println!(
            "audit:       {} {} by {} {}",
            a["at"].as_i64().map_or_else(|| a["at"].to_string(), time),
            a["action"].as_str().unwrap_or(""),
            a["actor"].as_str().unwrap_or(""),
            a["detail"]
        );
    }
    Ok(())
}
