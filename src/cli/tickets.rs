//! `parley tickets …`: see and drive tickets.

use std::path::PathBuf;

use clap::Subcommand;
use serde::Serialize;

use super::App;
use crate::access::Viewer;
use crate::actions::{self, Act, ActError, Actor, Done};
use crate::address;
use crate::error::Failure;
use crate::intake::written::{About, Draft, Opening, Person, WriteError, WriteOutcome, Written};
use crate::moderation;
use crate::store::{
    AttachmentInfo, AuditEntry, Filing, Message, Moderation, Notification, Participant, Ticket,
    TicketFilter,
};
use crate::tickets::{Role, Status};

#[derive(Debug, Subcommand)]
pub enum TicketsCommand {
    /// List tickets, newest first.
    List {
        /// Only tickets in this status (open, awaiting_client,
        /// awaiting_seller, resolved, closed).
        #[arg(long)]
        status: Option<Status>,
        /// Only tickets of this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only tickets created in this month (UTC), as YYYY-MM.
        #[arg(long, value_name = "YYYY-MM")]
        month: Option<String>,
        /// Also tickets opened by a message that waits for a moderator or
        /// was rejected (nobody's work: left out by default).
        #[arg(long)]
        include_held: bool,
        #[arg(long)]
        json: bool,
    },
    /// Search tickets by subject, listing and auction titles,
    /// participants' names and addresses and message text, as a moderator
    /// sees them (messages as written). Every word must be found; the
    /// last one as a prefix. Best first: found in the titles, then in
    /// titles and participants, then anywhere; newest activity first.
    Search {
        /// Words to find (quotes, `*` and other syntax are plain text).
        query: String,
        /// The most hits shown (1 to 200).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Show a ticket: participants, messages, status history, notifications.
    ///
    /// The text shows each message as the other party sees it (the
    /// policy's redactions applied) and marks held, redacted and rejected
    /// ones; `parley moderation show ID` shows a message as written.
    Show {
        number: i64,
        #[arg(long)]
        json: bool,
    },
    /// Open a ticket as the seller side, writing to a client.
    Create {
        /// The queue (seller or desk) writing; its first staff address is the author.
        #[arg(long)]
        queue: String,
        /// The client's address.
        #[arg(long, value_name = "ADDR")]
        client: String,
        #[arg(long)]
        subject: String,
        /// A file with the message text (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        body_file: PathBuf,
    },
    /// Add a message to a ticket as the client or the seller side.
    Reply {
        number: i64,
        /// Who writes: `seller` (the ticket's first seller-side participant)
        /// or `client`.
        #[arg(long = "as", value_name = "seller|client", value_parser = parse_side)]
        side: Role,
        /// A file with the message text (`-` for stdin).
        #[arg(long, value_name = "FILE")]
        body_file: PathBuf,
    },
    /// Set a ticket's status. Closing a ticket archives it; moving it to
    /// open or awaiting either side takes it out of the archive.
    Status {
        number: i64,
        status: Status,
        /// Who does it, for the history.
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
    /// Print the reply address of a participant of a ticket.
    ReplyAddress { number: i64, address: String },
    /// List the pool: tickets nobody has taken (no assignee, not resolved
    /// or closed), oldest first.
    Pool {
        /// Only tickets of this queue.
        #[arg(long)]
        queue: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take a ticket: ADDR becomes its assignee.
    ///
    /// The client's messages are then notified to ADDR alone (without an
    /// assignee, to the whole seller side). ADDR must be a seller-side
    /// participant of the ticket or a staff address of its queue (who then
    /// joins the ticket). Refused (exit 77) when someone else has it,
    /// unless --force.
    Take {
        number: i64,
        /// Who takes it: the new assignee, also recorded as the actor.
        #[arg(long = "as", value_name = "ADDR")]
        address: String,
        /// Take it from whoever has it.
        #[arg(long)]
        force: bool,
    },
    /// Give a ticket to ADDR, whoever had it.
    ///
    /// The same rules as `take`, without its refusal of a ticket that
    /// someone else has.
    Assign {
        number: i64,
        /// The new assignee: a seller-side participant of the ticket or a
        /// staff address of its queue.
        address: String,
        /// Who assigns, for the history.
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
    /// Forward a ticket to a staff address: it gets the transcript and can
    /// answer for the seller side by replying to it.
    ///
    /// ADDR joins the ticket as a staff participant (a seller-side
    /// participant already is reused; the client is refused, exit 77). The
    /// transcript is queued in the outbox with NOTE; the ticket's status
    /// and assignee stay as they are.
    Forward {
        number: i64,
        #[arg(long, value_name = "ADDR")]
        to: String,
        /// A note to the recipient, shown above the transcript.
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
        /// Who forwards, for the history.
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a ticket (soft, restorable): it leaves every list and the
    /// pool, its client no longer sees it, and mail answering it opens a
    /// new ticket in its queue. `tickets restore` brings it back.
    Delete {
        number: i64,
        /// Who does it, for the history.
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
    /// Bring a deleted ticket back, as it was.
    Restore {
        number: i64,
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
    /// Archive a ticket: filed away, its status unchanged (closing a
    /// ticket archives it too).
    Archive {
        number: i64,
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
    /// Take a ticket out of the archive, its status unchanged.
    Unarchive {
        number: i64,
        #[arg(long = "as", value_name = "NAME", default_value = "cli")]
        actor: String,
    },
}

fn parse_side(s: &str) -> Result<Role, String> {
    match s {
        "seller" => Ok(Role::Seller),
        "client" => Ok(Role::Client),
        _ => Err(format!("{s:?}: expected seller or client")),
    }
}

pub async fn run(app: &App, command: TicketsCommand) -> Result<(), Failure> {
    match command {
        TicketsCommand::List {
            status,
            queue,
            month,
            include_held,
            json,
        } => {
            let filter = TicketFilter {
                status,
                queue,
                created: month.as_deref().map(month_range).transpose()?,
                limit: 0,
                include_held,
            };
            list(app, &filter, json).await
        }
        TicketsCommand::Show { number, json } => show(app, number, json).await,
        TicketsCommand::Create {
            queue,
            client,
            subject,
            body_file,
        } => create(app, &queue, &client, &subject, &body_file).await,
        TicketsCommand::Reply {
            number,
            side,
            body_file,
        } => reply(app, number, side, &body_file).await,
        TicketsCommand::Status {
            number,
            status,
            actor,
        } => {
            let done = act(app, number, &Actor::operator(&actor), &Act::Status(status)).await?;
            if let Done::Status { from, to } = done {
                println!("ticket #{number}: {from} -> {to}");
            }
            Ok(())
        }
        TicketsCommand::ReplyAddress { number, address } => {
            let who = app
                .store()
                .participant_by_address(number, &address::normalize(&address))
                .await?
                .ok_or_else(|| {
                    Failure::NotFound(format!(
                        "{address} is not a participant of ticket #{number}"
                    ))
                })?;
            println!("{}", app.intake.minter().reply_address(number, who.id).1);
            Ok(())
        }
        TicketsCommand::Search { query, limit, json } => {
            super::search::run(app, &query, limit, json).await
        }
        TicketsCommand::Pool { queue, json } => {
            let tickets = actions::pool(app.store(), queue.as_deref(), Viewer::Moderator)
                .await
                .map_err(failure)?;
            // Waiting since: when it was opened.
            print_tickets(&tickets, json, |t| t.created_at);
            Ok(())
        }
        TicketsCommand::Take {
            number,
            address,
            force,
        } => {
            // The operator takes it as ADDR: ADDR is the assignee and the
            // actor.
            let actor = address::normalize(&address);
            let take = Act::Assign {
                to: address,
                replace: force,
            };
            assigned(
                number,
                act(app, number, &Actor::operator(&actor), &take).await,
            )
        }
        TicketsCommand::Assign {
            number,
            address,
            actor,
        } => {
            let assign = Act::Assign {
                to: address,
                replace: true,
            };
            assigned(
                number,
                act(app, number, &Actor::operator(&actor), &assign).await,
            )
        }
        TicketsCommand::Forward {
            number,
            to,
            note,
            actor,
            json,
        } => {
            let forward = Act::Forward { to, note };
            let done = act(app, number, &Actor::operator(&actor), &forward).await?;
            forwarded(number, done, json);
            Ok(())
        }
        TicketsCommand::Delete { number, actor } => file(app, number, Filing::Delete, &actor).await,
        TicketsCommand::Restore { number, actor } => {
            file(app, number, Filing::Restore, &actor).await
        }
        TicketsCommand::Archive { number, actor } => {
            file(app, number, Filing::Archive, &actor).await
        }
        TicketsCommand::Unarchive { number, actor } => {
            file(app, number, Filing::Unarchive, &actor).await
        }
    }
}

/// Does `what` to ticket `number` as every door does
/// ([`actions::act`]).
async fn act(app: &App, number: i64, actor: &Actor<'_>, what: &Act) -> Result<Done, Failure> {
    let ticket = app
        .store()
        .ticket(number)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("ticket #{number} does not exist")))?;
    actions::act(&app.intake, &ticket, actor, what)
        .await
        .map_err(failure)
}

/// An act's refusal as a command's failure: a bad value exits 64, a
/// refusal 77, a missing ticket 1.
fn failure(e: ActError) -> Failure {
    match e {
        ActError::NotFound(what) => Failure::NotFound(what),
        ActError::Invalid(what) => Failure::Usage(what),
        ActError::Taken { ticket, by } => Failure::Rejected(format!(
            "ticket #{ticket} is assigned to {by}; --force takes it over"
        )),
        e @ (ActError::Forbidden(_) | ActError::Conflict(_) | ActError::Refused(_)) => {
            Failure::Rejected(e.to_string())
        }
        ActError::Store(e) => Failure::Store(e),
    }
}

async fn file(app: &App, number: i64, filing: Filing, actor: &str) -> Result<(), Failure> {
    let done = act(app, number, &Actor::operator(actor), &Act::File(filing)).await?;
    let Done::Filed { changed, .. } = done else {
        return Ok(());
    };
    let what = match filing {
        Filing::Delete => "deleted",
        Filing::Restore => "restored",
        Filing::Archive => "archived",
        Filing::Unarchive => "unarchived",
    };
    match changed {
        true => println!("ticket #{number}: {what}"),
        false => println!("ticket #{number}: {what} already"),
    }
    Ok(())
}

fn forwarded(number: i64, done: Done, json: bool) {
    let Done::Forwarded {
        to,
        note,
        participant,
        added,
        notification,
        message,
    } = done
    else {
        return;
    };
    if json {
        let out = serde_json::json!({
            "ticket": number,
            "to": to,
            "note": note,
            "participant": participant,
            "added": added,
            "notification": notification,
            "message": message,
        });
        println!("{out:#}");
    } else {
        let joined = if added {
            "; it joins the ticket as staff"
        } else {
            ""
        };
        println!(
            "ticket #{number}: forwarded to {to}{joined} (transcript queued, notification {notification})"
        );
    }
}

/// What `take` and `assign` print.
fn assigned(number: i64, done: Result<Done, Failure>) -> Result<(), Failure> {
    match done? {
        Done::Assigned {
            to, changed: false, ..
        } => println!("ticket #{number}: assigned to {to} already"),
        Done::Assigned {
            from, to, added, ..
        } => {
            let from = from.as_deref().unwrap_or("nobody");
            let joined = if added {
                "; it joins the ticket as staff"
            } else {
                ""
            };
            println!("ticket #{number}: assigned {from} -> {to}{joined}");
        }
        _ => {}
    }
    Ok(())
}

/// A time for people: UTC, to the second (`2026-12-06 14:03:11 UTC`).
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

/// `YYYY-MM` → `[first of month, first of next month)` in Unix ms, UTC.
fn month_range(month: &str) -> Result<(i64, i64), Failure> {
    let bad = || Failure::Usage(format!("--month {month:?}: expected YYYY-MM"));
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let start = jiff::civil::Date::new(y, m, 1).map_err(|_| bad())?;
    let end = start
        .checked_add(jiff::Span::new().months(1))
        .map_err(|_| bad())?;
    let ms = |d: jiff::civil::Date| {
        d.to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_millisecond())
            .map_err(|_| bad())
    };
    Ok((ms(start)?, ms(end)?))
}

async fn list(app: &App, filter: &TicketFilter, json: bool) -> Result<(), Failure> {
    let tickets = app.store().tickets(filter).await?;
    print_tickets(&tickets, json, |t| t.updated_at);
    Ok(())
}

/// Tickets as a JSON array, or a line each with the time `at` picks and
/// the assignee when there is one.
fn print_tickets(tickets: &[Ticket], json: bool, at: impl Fn(&Ticket) -> i64) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(tickets).expect("tickets serialize")
        );
        return;
    }
    for t in tickets {
        println!(
            "#{:<6} {:<16} {:<12} {}  {}{}",
            t.number,
            t.status.as_str(),
            t.queue,
            time(at(t)),
            t.subject,
            t.assignee
                .as_deref()
                .map(|a| format!("  (assignee {a})"))
                .unwrap_or_default()
        );
    }
}

#[derive(Serialize)]
struct Shown {
    ticket: Ticket,
    participants: Vec<Participant>,
    messages: Vec<ShownMessage>,
    attachments: Vec<AttachmentInfo>,
    history: Vec<AuditEntry>,
    notifications: Vec<Notification>,
}

/// A message with what the other party sees of it (docs/json.md).
#[derive(Serialize)]
struct ShownMessage {
    #[serde(flatten)]
    message: Message,
    /// `None` while held and once rejected.
    shown_text: Option<String>,
}

impl ShownMessage {
    fn new(message: Message) -> ShownMessage {
        let shown_text = moderation::visible_text(&message).map(str::to_string);
        ShownMessage {
            message,
            shown_text,
        }
    }

    /// How the text marks it: held (and why), rejected, or redacted (the
    /// other party sees less than was written); nothing otherwise.
    fn mark(&self) -> String {
        let m = &self.message;
        match (m.moderation, &self.shown_text) {
            (Moderation::Held, _) => {
                format!(" [held: {}]", moderation::held_for(m).join(", "))
            }
            (Moderation::Rejected, _) => " [rejected]".into(),
            (_, Some(shown)) if *shown != m.reply_text => " [redacted]".into(),
            _ => String::new(),
        }
    }
}

async fn show(app: &App, number: i64, json: bool) -> Result<(), Failure> {
    let store = app.store();
    let ticket = store
        .ticket(number)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("ticket #{number} does not exist")))?;
    let shown = Shown {
        participants: store.participants(number).await?,
        messages: store
            .messages(number)
            .await?
            .into_iter()
            .map(ShownMessage::new)
            .collect(),
        attachments: store.attachments(number).await?,
        history: store.audit(number).await?,
        notifications: store.notifications(number).await?,
        ticket,
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&shown).expect("ticket serializes")
        );
        return Ok(());
    }
    let t = &shown.ticket;
    println!("#{} {}", t.number, t.subject);
    println!(
        "queue {}  status {}  created {}  updated {}",
        t.queue,
        t.status,
        time(t.created_at),
        time(t.updated_at)
    );
    if let Some(a) = &t.assignee {
        println!("assignee {a}");
    }
    println!("\nparticipants:");
    for p in &shown.participants {
        println!(
            "  {:<7} {} {}",
            p.role.as_str(),
            p.address,
            p.display_name.as_deref().unwrap_or("")
        );
    }
    println!("\nmessages:");
    for shown_message in &shown.messages {
        let m = &shown_message.message;
        let author = shown
            .participants
            .iter()
            .find(|p| Some(p.id) == m.author)
            .map_or("?", |p| p.address.as_str());
        let flags = if m.flags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", m.flags.join(" "))
        };
        println!(
            "  --- {} {} by {} ({}){}{}",
            time(m.created_at),
            m.direction.as_str(),
            author,
            m.matched_by,
            flags,
            shown_message.mark()
        );
        match &shown_message.shown_text {
            Some(text) => {
                for line in text.lines() {
                    println!("  {line}");
                }
            }
            None => println!(
                "  (not shown to the other party: `parley moderation show {}`)",
                m.id
            ),
        }
        if m.auto != "none" {
            println!("  (automatic: {})", m.auto);
        }
        for a in shown.attachments.iter().filter(|a| a.message == m.id) {
            let flags = if a.flags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", a.flags.join(" "))
            };
            println!(
                "  [attachment] {} ({}, {} bytes){flags}",
                a.filename, a.content_type, a.size
            );
        }
    }
    println!("\nhistory:");
    for h in &shown.history {
        println!(
            "  {} {} {} {}",
            time(h.at),
            h.actor,
            h.action,
            history_detail(h)
        );
    }
    println!("\nnotifications:");
    for n in &shown.notifications {
        println!(
            "  {:>5} {} {} to {} ({})",
            n.id,
            time(n.created_at),
            n.state,
            n.recipient,
            n.kind
        );
    }
    Ok(())
}

/// An audit entry's detail for the text of `tickets show`. A hold names
/// the rules and flags that held, not the spans the policy found: those
/// are what the other party must not see (`moderation show` has them).
fn history_detail(entry: &AuditEntry) -> String {
    if entry.action != "message.held" {
        return entry.detail.to_string();
    }
    let mut why: Vec<&str> = entry.detail["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str())
        .collect();
    for hit in entry.detail["hits"].as_array().into_iter().flatten() {
        if let Some(rule) = hit["rule"].as_str()
            && !why.contains(&rule)
        {
            why.push(rule);
        }
    }
    format!("({})", why.join(", "))
}

fn read_body(path: &PathBuf) -> Result<String, Failure> {
    let bytes = if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut buf)?;
        buf
    } else {
        std::fs::read(path).map_err(|e| Failure::NotFound(format!("{}: {e}", path.display())))?
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage(format!("{}: not UTF-8 text", path.display())))?;
    let text = text.replace("\r\n", "\n").trim().to_string();
    if text.is_empty() {
        return Err(Failure::Usage(format!(
            "{}: the message is empty",
            path.display()
        )));
    }
    Ok(text)
}

async fn create(
    app: &App,
    queue: &str,
    client: &str,
    subject: &str,
    body: &PathBuf,
) -> Result<(), Failure> {
    if !address::is_address(client) {
        return Err(Failure::Usage(format!(
            "--client {client:?} is not an email address"
        )));
    }
    let text = read_body(body)?;
    let found = app
        .store()
        .queue(queue)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("queue {queue:?} does not exist")))?;
    // The author is the queue's first staff address.
    let Some(author) = found.staff.first() else {
        return Err(Failure::NotFound(format!(
            "queue {} has no staff address to write from",
            found.name
        )));
    };
    let draft = Draft {
        what: Written::Open(Opening {
            queue: found.name.clone(),
            client: Person {
                address: client.to_string(),
                display_name: None,
                user_id: None,
            },
            seller: Some(Person {
                address: author.clone(),
                display_name: None,
                user_id: None,
            }),
            subject: subject.to_string(),
            about: About::default(),
            manager: None,
        }),
        text,
        actor: "cli".into(),
        door: "cli",
    };
    written(app, &draft).await
}

async fn reply(app: &App, number: i64, side: Role, body: &PathBuf) -> Result<(), Failure> {
    let text = read_body(body)?;
    let author = app
        .store()
        .participants(number)
        .await?
        .into_iter()
        .find(|p| p.role.is_seller_side() == side.is_seller_side())
        .ok_or_else(|| {
            Failure::NotFound(format!(
                "ticket #{number} does not exist or has no {} participant",
                side.as_str()
            ))
        })?;
    let draft = Draft {
        what: Written::Reply {
            ticket: number,
            author: Person {
                address: author.address,
                display_name: None,
                user_id: None,
            },
        },
        text,
        actor: "cli".into(),
        door: "cli",
    };
    written(app, &draft).await
}

/// Takes text typed on the command line as every door does
/// ([`crate::intake::Intake::write`]: the content policy, one
/// transaction) and says what became of it.
async fn written(app: &App, draft: &Draft) -> Result<(), Failure> {
    match app.intake.write(draft).await {
        Ok(WriteOutcome::Posted {
            ticket,
            message,
            new_ticket,
            status,
            notifications,
        }) => {
            match new_ticket {
                true => {
                    println!("ticket #{ticket} opened ({notifications} notification(s) queued)")
                }
                false => println!(
                    "message {message} on ticket #{ticket} ({status}; {notifications} notification(s) queued)"
                ),
            }
            Ok(())
        }
        Ok(WriteOutcome::Held {
            ticket,
            message,
            rules,
            ..
        }) => {
            println!(
                "message {message} on ticket #{ticket} is held for a moderator ({}): \
                 nobody is notified until `parley moderation approve {message}`",
                rules.join(", ")
            );
            Ok(())
        }
        Err(WriteError::Invalid(e)) => Err(Failure::Usage(e)),
        Err(WriteError::NotFound(e)) => Err(Failure::NotFound(e)),
        Err(
            e @ (WriteError::NotAllowed(_) | WriteError::Closed(_) | WriteError::Refused { .. }),
        ) => Err(Failure::Rejected(e.to_string())),
        Err(WriteError::Store(e)) => Err(Failure::Store(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months() {
        let (from, to) = month_range("2026-02").unwrap();
        assert_eq!(from, 1_769_904_000_000); // 2026-02-01T00:00:00Z
        assert_eq!(to - from, 28 * 86_400_000);
        assert!(month_range("2026-13").is_err());
        assert!(month_range("26").is_err());
    }
}
