//! `parley moderation`: the messages the policy (or threading) held, and
//! the moderators' decisions on them.

use clap::Subcommand;
use serde_json::{Value, json};

use super::App;
use crate::error::Failure;
use crate::store::{Message, Moderate, Moderation, Participant, Ruling};
use crate::tickets::{self, Transition};

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
    /// ticket's status moves as if it had just arrived.
    Approve {
        id: i64,
        /// The other party sees the text with the policy's hits masked.
        #[arg(long)]
        redact: bool,
        /// Who decides, for the audit log.
        #[arg(long = "as", value_name = "NAME", default_value = "moderator")]
        actor: String,
    },
    /// Keep a held message from the other party; its author is sent a
    /// notice with the reason.
    Reject {
        id: i64,
        /// Why, for the author's notice and the audit log.
        #[arg(long)]
        reason: String,
        #[arg(long = "as", value_name = "NAME", default_value = "moderator")]
        actor: String,
    },
}

pub async fn run(app: &App, command: ModerationCommand) -> Result<(), Failure> {
    match command {
        ModerationCommand::List { json } => list(app, json).await,
        ModerationCommand::Show { id, json } => show(app, id, json).await,
        ModerationCommand::Approve { id, redact, actor } => {
            let message = held(app, id).await?;
            if redact && message.redacted_text.is_none() {
                return Err(Failure::Usage(format!(
                    "message {id} has nothing to redact: the policy found no span in it; \
                     approve it without --redact or reject it"
                )));
            }
            let status = match tickets_status(app, &message).await? {
                Transition::To(status) => Some(status),
                Transition::Reject | Transition::NewTicket => None,
            };
            let ruling = Ruling::Approve { redacted: redact };
            decide(app, id, ruling, actor, status).await
        }
        ModerationCommand::Reject { id, reason, actor } => {
            held(app, id).await?;
            if reason.trim().is_empty() {
                return Err(Failure::Usage("--reason must say why".into()));
            }
            decide(app, id, Ruling::Reject { reason }, actor, None).await
        }
    }
}

async fn decide(
    app: &App,
    id: i64,
    ruling: Ruling,
    actor: String,
    status: Option<tickets::Status>,
) -> Result<(), Failure> {
    let what = match &ruling {
        Ruling::Approve { redacted: false } => "approved",
        Ruling::Approve { redacted: true } => "approved redacted",
        Ruling::Reject { .. } => "rejected",
    };
    let m = Moderate {
        message: id,
        ruling,
        actor,
        status,
    };
    let notices = app.store().moderate(&m, app.intake.minter()).await?;
    println!(
        "message {id} {what}; {} notification(s) queued",
        notices.len()
    );
    Ok(())
}

/// The message, which must exist and be held.
async fn held(app: &App, id: i64) -> Result<Message, Failure> {
    let message = found(app, id).await?;
    if message.moderation != Moderation::Held {
        return Err(Failure::Rejected(format!(
            "message {id} is not held (it is {})",
            message.moderation.as_str()
        )));
    }
    Ok(message)
}

async fn found(app: &App, id: i64) -> Result<Message, Failure> {
    app.store()
        .message(id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("message {id} does not exist")))
}

/// The transition the message makes once approved, from the ticket's
/// status now.
async fn tickets_status(app: &App, message: &Message) -> Result<Transition, Failure> {
    let ticket =
        app.store().ticket(message.ticket).await?.ok_or_else(|| {
            Failure::NotFound(format!("ticket #{} does not exist", message.ticket))
        })?;
    let people = app.store().participants(message.ticket).await?;
    let role = author_of(message, &people).map_or(tickets::Role::Client, |p| p.role);
    Ok(tickets::on_message(
        ticket.status,
        role,
        app.config.tickets.on_closed_reply,
    ))
}

fn author_of<'a>(message: &Message, people: &'a [Participant]) -> Option<&'a Participant> {
    people.iter().find(|p| Some(p.id) == message.author)
}

/// The JSON object of a message for moderators (docs/json.md).
fn entry(message: &Message, people: &[Participant]) -> Value {
    json!({
        "id": message.id,
        "ticket": message.ticket,
        "author": author_of(message, people).map(|p| p.address.as_str()),
        "role": author_of(message, people).map(|p| p.role.as_str()),
        "created_at": message.created_at,
        "moderation": message.moderation,
        "action": message.policy_action,
        "flags": message.flags,
        "hits": serde_json::from_str::<Value>(&message.policy_hits).unwrap_or(json!([])),
        "reply_text": message.reply_text,
        "redacted_text": message.redacted_text,
    })
}

/// Why a message is held, in a few words: its holding flags and hit rules.
fn reasons(message: &Message) -> String {
    let mut reasons: Vec<String> = message
        .flags
        .iter()
        .filter(|f| crate::intake::thread::is_holding(f))
        .cloned()
        .collect();
    if let Ok(Value::Array(hits)) = serde_json::from_str::<Value>(&message.policy_hits) {
        for hit in hits {
            if let Some(rule) = hit["rule"].as_str()
                && !reasons.iter().any(|r| r == rule)
            {
                reasons.push(rule.to_string());
            }
        }
    }
    reasons.join(",")
}

async fn list(app: &App, as_json: bool) -> Result<(), Failure> {
    let held = app.store().held().await?;
    let mut entries = Vec::with_capacity(held.len());
    for message in &held {
        let people = app.store().participants(message.ticket).await?;
        entries.push((message, entry(message, &people)));
    }
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
            reasons(message),
        );
    }
    Ok(())
}

async fn show(app: &App, id: i64, as_json: bool) -> Result<(), Failure> {
    let message = found(app, id).await?;
    let people = app.store().participants(message.ticket).await?;
    let audit: Vec<Value> = app
        .store()
        .audit(message.ticket)
        .await?
        .into_iter()
        .filter(|a| a.message == Some(id))
        .map(|a| json!({ "at": a.at, "actor": a.actor, "action": a.action, "detail": a.detail }))
        .collect();
    let mut object = entry(&message, &people);
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
    println!("\n--- as written\n{}", message.reply_text);
    if let Some(redacted) = &message.redacted_text {
        println!("\n--- redacted\n{redacted}");
    }
    for a in audit {
        println!(
            "audit:       {} {} by {} {}",
            a["at"],
            a["action"].as_str().unwrap_or(""),
            a["actor"].as_str().unwrap_or(""),
            a["detail"]
        );
    }
    Ok(())
}
