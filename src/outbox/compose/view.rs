//! What a template sees: the variables of templates/README.md, built from
//! an outbox row and what the worker read for it.
//!
//! Nothing here names another participant's address: the other side is a
//! display name (or "The buyer"), as on the marketplace's site.

use serde::Serialize;

use super::{Composer, Context, visible_text};
use crate::config::fill_url;
use crate::intake::reply::REPLY_MARKER;
use crate::intake::written::MARKETPLACE;
use crate::store::{Message, Moderation, NEW_MESSAGE, OVERDUE, OutboxRow, Participant, TRANSCRIPT};
use crate::tickets::Role;

/// How many characters `message.preview` keeps.
pub const PREVIEW_CHARS: usize = 300;

#[derive(Debug, Clone, Serialize)]
pub struct View {
    pub kind: String,
    pub ticket: TicketView,
    pub queue: QueueView,
    pub recipient: Person,
    /// The author of the message announced; none for notices.
    pub sender: Option<Person>,
    pub message: Option<MessageView>,
    /// Every message this notification announces, oldest first: the
    /// earlier ones a throttle coalesced into it, then `message`.
    pub messages: Vec<Entry>,
    /// The line above which a reply is read (intake cuts the rest).
    pub marker: String,
    /// The recipient's own reply address.
    pub reply_address: String,
    pub web_url: Option<String>,
    pub unsubscribe_url: Option<String>,
    /// A moderator's reason (moderation_rejected).
    pub reason: Option<String>,
    /// The queue's greeting (ack).
    pub greeting: Option<String>,
    /// The queue's after-hours text (after_hours).
    pub after_hours_message: Option<String>,
    /// The note of whoever forwarded the ticket (transcript).
    pub note: Option<String>,
    /// The ticket's messages, oldest first (transcript).
    pub transcript: Vec<Entry>,
    /// How long the ticket waits for the seller side's answer (overdue).
    pub overdue: Option<OverdueView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OverdueView {
    /// Since when it waits: `2026-11-21 13:05 UTC`.
    pub since: String,
    /// How long it had waited when the reminder was written: `26 hours`.
    pub waited: String,
    /// The queue's response target: `24 hours`.
    pub target: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketView {
    pub number: i64,
    /// The subject tag, e.g. `[#42]`.
    pub tag: String,
    pub subject: String,
    pub status: String,
    pub item_ref: Option<String>,
    pub item_title: Option<String>,
    /// The listing's page (http or https: the API takes no other).
    pub item_url: Option<String>,
    pub auction_ref: Option<String>,
    pub auction_title: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QueueView {
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Person {
    /// The display name, else the queue's name (seller side) or "The
    /// buyer" (client).
    pub name: String,
    /// `client`, `seller` or `staff`.
    pub role: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    /// What the other party may see (redacted where the policy said so).
    pub text: String,
    /// The first [`PREVIEW_CHARS`] characters of `text`, cut at a word.
    pub preview: String,
    pub redacted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub author: String,
    pub role: String,
    /// `2026-11-21 13:05 UTC`.
    pub at: String,
    pub text: String,
}

impl View {
    pub fn new(composer: &Composer, row: &OutboxRow, cx: &Context) -> View {
        let queue = QueueView {
            name: cx.ticket.queue.clone(),
            display_name: cx.queue_name.clone(),
        };
        let person = |id: Option<i64>| {
            cx.participants
                .iter()
                .find(|p| Some(p.id) == id)
                .map(|p| person(p, &queue.display_name))
        };
        // The author of a message: its participant, or the marketplace
        // for the marketplace's own (a moderator writing).
        let author = |m: &Message| match m.flags.iter().any(|f| f == MARKETPLACE) {
            true => Some(Person {
                name: composer.marketplace_name.clone(),
                role: MARKETPLACE.into(),
            }),
            false => person(m.author),
        };
        let recipient = person(Some(row.participant)).unwrap_or_else(|| Person {
            name: row.recipient.clone(),
            role: Role::Client.as_str().into(),
        });
        let announced = cx.message.as_ref().filter(|_| row.kind == NEW_MESSAGE);
        let texts = composer.queue_texts(&cx.ticket.queue);
        // The console's edits stand for the config's texts.
        let custom = cx.custom.as_ref();
        let web_url = (!composer.web_url.is_empty())
            .then(|| fill_url(&composer.web_url, cx.ticket.number, &row.token));
        let unsubscribe_url = (!composer.unsubscribe_url.is_empty() && row.kind == NEW_MESSAGE)
            .then(|| fill_url(&composer.unsubscribe_url, cx.ticket.number, &row.token));
        let entry = |m: &Message| Entry {
            author: author(m).map_or_else(|| "Unknown".into(), |p| p.name),
            role: cx
                .participants
                .iter()
                .find(|p| Some(p.id) == m.author)
                .map_or("", |p| p.role.as_str())
                .into(),
            at: format_time(m.created_at),
            text: visible_text(m).trim_end().to_string(),
        };
        let transcript = if row.kind == TRANSCRIPT {
            cx.transcript
                .iter()
                .filter(|m| shown(m))
                .map(entry)
                .collect()
        } else {
            Vec::new()
        };
        let overdue = match (row.kind == OVERDUE, cx.ticket.waiting_since) {
            (true, Some(since)) => Some(OverdueView {
                since: format_time(since),
                waited: duration(row.created_at - since),
                target: duration(texts.map_or(0, |t| t.response_target_ms)),
            }),
            _ => None,
        };
        let messages = cx
            .earlier
            .iter()
            .filter(|m| shown(m))
            .chain(announced)
            .map(entry)
            .collect();
        View {
            kind: row.kind.clone(),
            ticket: TicketView {
                number: cx.ticket.number,
                tag: composer.subject_tag.render(cx.ticket.number),
                subject: cx.ticket.subject.clone(),
                status: cx.ticket.status.as_str().into(),
                item_ref: cx.ticket.item_ref.clone(),
                item_title: cx.ticket.item_title.clone(),
                item_url: cx.ticket.item_url.clone(),
                auction_ref: cx.ticket.auction_ref.clone(),
                auction_title: cx.ticket.auction_title.clone(),
            },
            sender: announced.and_then(author),
            message: announced
                .map(|m| message_view(visible_text(m), visible_text(m) != m.reply_text)),
            messages,
            recipient,
            queue,
            marker: marker(),
            reply_address: format!("reply+{}@{}", row.token, composer.reply_domain),
            web_url,
            unsubscribe_url,
            reason: cx.reason.clone().filter(|r| !r.trim().is_empty()),
            greeting: custom
                .and_then(|c| c.greeting.clone())
                .or_else(|| texts.map(|t| t.greeting.clone())),
            after_hours_message: custom
                .and_then(|c| c.offline.clone())
                .or_else(|| texts.map(|t| t.after_hours_message.clone())),
            note: cx.note.clone().filter(|n| !n.trim().is_empty()),
            transcript,
            overdue,
        }
    }

    /// Every variable set, for checking templates at start-up.
    pub fn sample(kind: &str) -> View {
        let who = |name: &str, role: Role| Person {
            name: name.into(),
            role: role.as_str().into(),
        };
        let text = "Is the sideboard still for sale? Could you send more photos?";
        View {
            kind: kind.into(),
            ticket: TicketView {
                number: 42,
                tag: "[#42]".into(),
                subject: "Oak sideboard".into(),
                status: "awaiting_seller".into(),
                item_ref: Some("item-981".into()),
                item_title: Some("Oak sideboard, 1960s".into()),
                item_url: None,
                auction_ref: Some("auction-77".into()),
                auction_title: Some("Autumn furniture sale".into()),
            },
            queue: QueueView {
                name: "desk".into(),
                display_name: "Example desk".into(),
            },
            recipient: who("Example desk", Role::Seller),
            sender: Some(who("Maria", Role::Client)),
            message: Some(message_view(text, false)),
            messages: vec![
                Entry {
                    author: "Maria".into(),
                    role: "client".into(),
                    at: format_time(0),
                    text: "Hello".into(),
                },
                Entry {
                    author: "Maria".into(),
                    role: "client".into(),
                    at: format_time(60_000),
                    text: text.into(),
                },
            ],
            marker: marker(),
            reply_address: "reply+abc@reply.example".into(),
            web_url: Some("https://market.example/messages/42?t=abc".into()),
            unsubscribe_url: Some("https://market.example/unsubscribe?t=abc".into()),
            reason: Some("Phone numbers are not allowed".into()),
            greeting: Some("Hello! We're here to help.".into()),
            after_hours_message: Some("We are away until Monday.".into()),
            note: Some("Can you check the dimensions?".into()),
            transcript: vec![Entry {
                author: "Maria".into(),
                role: "client".into(),
                at: format_time(0),
                text: text.into(),
            }],
            overdue: Some(OverdueView {
                since: format_time(0),
                waited: duration(26 * 3_600_000),
                target: duration(24 * 3_600_000),
            }),
        }
    }
}

/// A duration in words, rounded down: `26 hours`, `45 minutes`, `1 day`
/// (whole days from two days on).
pub fn duration(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    let (n, unit) = if minutes < 60 {
        (minutes, "minute")
    } else if minutes < 48 * 60 {
        (minutes / 60, "hour")
    } else {
        (minutes / (24 * 60), "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// `## Please reply above this line ##`.
fn marker() -> String {
    format!("## Please {REPLY_MARKER} ##")
}

fn person(p: &Participant, queue_name: &str) -> Person {
    let name = match (&p.display_name, p.role) {
        (Some(n), _) if !n.trim().is_empty() => n.trim().to_string(),
        (_, Role::Client) => "The buyer".into(),
        (_, _) => queue_name.to_string(),
    };
    Person {
        name,
        role: p.role.as_str().into(),
    }
}

fn message_view(text: &str, redacted: bool) -> MessageView {
    let text = text.trim_end();
    MessageView {
        text: text.to_string(),
        preview: preview(text, PREVIEW_CHARS),
        redacted,
    }
}

/// A message in a transcript: not one held for or refused by a moderator.
fn shown(m: &Message) -> bool {
    !matches!(m.moderation, Moderation::Held | Moderation::Rejected)
}

/// The first `max` characters of `text`, cut at the last space before,
/// with an ellipsis when cut.
pub fn preview(text: &str, max: usize) -> String {
    let Some((cut, _)) = text.char_indices().nth(max) else {
        return text.to_string();
    };
    let head = &text[..cut];
    let head = head.rfind(char::is_whitespace).map_or(head, |i| &head[..i]);
    format!("{}…", head.trim_end())
}

/// A stored time (Unix ms) as `YYYY-MM-DD HH:MM UTC`.
fn format_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_cut_at_a_word_and_keep_short_text() {
        assert_eq!(preview("short", 10), "short");
        assert_eq!(preview("one two three four", 9), "one two…");
        assert_eq!(preview("ééééé ééééé", 7), "ééééé…");
        assert_eq!(preview("abcdefghij", 4), "abcd…");
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
    }
}
