//! Moderation: what the other party sees of a message, and what a
//! moderator's decision on a held one does.
//!
//! Pure rules over stored messages, as [`crate::tickets`] is for statuses:
//! [`review::decide`] decides with them for every door (the CLI and the
//! HTTP API), the notification composer shows with them, the store
//! records ([`crate::store::ModerationStore::moderate`]).
//!
//! - What the other party sees ([`visible_text`]): the text with the spans
//!   of `redact` rules masked, also after a moderator's plain approval; a
//!   moderator may mask every span (`--redact`) or let the text through as
//!   written (`--as-written`). Held and rejected messages: nothing.
//! - Who hears of a rejection ([`no_notice`]): not the sender of spam nor
//!   of a message from outside the conversation (their address is usually
//!   forged, so a notice would be backscatter), nor anyone with `--silent`.
//! - What a decision does to the ticket ([`on_approve`], [`on_reject`]): a
//!   ticket opened by a held message is nobody's work until a moderator
//!   approves it (then it is open, as if it had just arrived); rejected, it
//!   is closed.

pub mod review;

use serde_json::Value;

use crate::intake::policy::SPAM_MODEL;
use crate::intake::thread;
use crate::store::{Message, Moderation};
use crate::tickets::{self, OnClosedReply, Role, Status, Transition};

/// The text the other party sees of `message`; `None` while it is held
/// and after it was rejected.
pub fn visible_text(message: &Message) -> Option<&str> {
    let masked = match message.moderation {
        Moderation::Held | Moderation::Rejected => return None,
        Moderation::ApprovedAsWritten => None,
        Moderation::ApprovedRedacted => message.redacted_text.as_deref(),
        Moderation::None | Moderation::Approved => message.masked_text.as_deref(),
    };
    Some(masked.unwrap_or(&message.reply_text))
}

/// Whether the other party is shown `message` (it is neither held nor
/// rejected).
pub fn is_shown(message: &Message) -> bool {
    visible_text(message).is_some()
}

/// The policy's hits stored with `message` (docs/json.md).
fn hits(message: &Message) -> Vec<Value> {
    match serde_json::from_str(&message.policy_hits) {
        Ok(Value::Array(hits)) => hits,
        _ => Vec::new(),
    }
}

/// Whether a stored hit holds its message (its action is `hold` or
/// stronger).
fn holds(hit: &Value) -> bool {
    matches!(hit["action"].as_str(), Some("hold" | "reject"))
}

/// Why `message` is (or was) held: its holding flags (threading) and the
/// rules whose hits hold, each once, in that order.
pub fn held_for(message: &Message) -> Vec<String> {
    let mut reasons: Vec<String> = message
        .flags
        .iter()
        .filter(|f| thread::is_holding(f))
        .cloned()
        .collect();
    for hit in hits(message).iter().filter(|h| holds(h)) {
        if let Some(rule) = hit["rule"].as_str()
            && !reasons.iter().any(|r| r == rule)
        {
            reasons.push(rule.to_string());
        }
    }
    reasons
}

/// The spam model's probability for `message`, when the model found it
/// spam (a `spam_model` hit, which carries its score).
pub fn spam(message: &Message) -> Option<f64> {
    hits(message)
        .iter()
        .find(|h| h["rule"] == SPAM_MODEL)
        .and_then(|h| h["score"].as_f64())
}

/// Why the author of `message`, rejected, is sent no notice: the flag of
/// a sender from outside the conversation (`sender_mismatch`,
/// `sender_not_participant`), `spam_model` when the spam model held it,
/// `silent` when the moderator said so. `None`: the author gets the notice.
pub fn no_notice(message: &Message, silent: bool) -> Option<&'static str> {
    let outsider = message.flags.iter().find_map(|f| match f.as_str() {
        thread::SENDER_MISMATCH => Some(thread::SENDER_MISMATCH),
        thread::SENDER_NOT_PARTICIPANT => Some(thread::SENDER_NOT_PARTICIPANT),
        _ => None,
    });
    let spam = hits(message)
        .iter()
        .any(|h| h["rule"] == SPAM_MODEL && holds(h))
        .then_some(SPAM_MODEL);
    outsider.or(spam).or(silent.then_some("silent"))
}

/// The status the ticket takes when held `message` (by `author`) is
/// approved, from its status now and its `messages`; `None`: unchanged. A
/// ticket none of whose messages is shown yet was opened by this one: it
/// stays as it was opened (`open`), new work as if it had just arrived.
pub fn on_approve(
    status: Status,
    author: Role,
    on_closed: OnClosedReply,
    message: &Message,
    messages: &[Message],
) -> Option<Status> {
    if !messages.iter().any(|m| m.id != message.id && is_shown(m)) {
        return None;
    }
    match tickets::on_message(status, author, on_closed) {
        Transition::To(next) => Some(next).filter(|s| *s != status),
        Transition::Reject | Transition::NewTicket => None,
    }
}

/// The status the ticket takes when held `message` is rejected; `None`:
/// unchanged. A ticket none of whose other messages is shown or still
/// held was never anyone's work: it is closed.
pub fn on_reject(status: Status, message: &Message, messages: &[Message]) -> Option<Status> {
    let others = messages.iter().filter(|m| m.id != message.id);
    let alive = others
        .clone()
        .any(|m| is_shown(m) || m.moderation == Moderation::Held);
    (!alive && status != Status::Closed).then_some(Status::Closed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Direction;

    fn message(id: i64, moderation: Moderation) -> Message {
        Message {
            id,
            ticket: 1,
            author: Some(1),
            direction: Direction::Inbound,
            reply_text: "Call 0151 2345 6789, pay by Venmo".into(),
            html: None,
            raw_id: None,
            message_id: None,
            matched_by: "token".into(),
            flags: Vec::new(),
            auto: "none".into(),
            elided: String::new(),
            signature: String::new(),
            created_at: 0,
            policy_action: "hold".into(),
            policy_hits: r#"[{"rule":"phone","action":"redact"},{"rule":"venmo","action":"hold"}]"#
                .into(),
            redacted_text: Some("Call [contact removed], pay by [payment removed]".into()),
            masked_text: Some("Call [contact removed], pay by Venmo".into()),
            moderation,
        }
    }

    #[test]
    fn the_other_party_sees_what_the_moderator_chose() {
        let seen = |m: Moderation| visible_text(&message(1, m)).map(str::to_string);
        assert_eq!(seen(Moderation::Held), None);
        assert_eq!(seen(Moderation::Rejected), None);
        let masked = Some("Call [contact removed], pay by Venmo".to_string());
        assert_eq!(seen(Moderation::Approved), masked);
        assert_eq!(seen(Moderation::None), masked);
        assert_eq!(
            seen(Moderation::ApprovedRedacted).as_deref(),
            Some("Call [contact removed], pay by [payment removed]")
        );
        assert_eq!(
            seen(Moderation::ApprovedAsWritten).as_deref(),
            Some("Call 0151 2345 6789, pay by Venmo")
        );
        let mut plain = message(1, Moderation::None);
        plain.masked_text = None;
        assert_eq!(visible_text(&plain), Some(plain.reply_text.as_str()));
    }

    #[test]
    fn notices_go_to_participants_of_messages_the_spam_model_did_not_hold() {
        let mut m = message(1, Moderation::Held);
        assert_eq!(held_for(&m), ["venmo"]);
        assert_eq!(no_notice(&m, false), None);
        assert_eq!(no_notice(&m, true), Some("silent"));
        m.flags = vec!["bad_token".into(), "sender_mismatch".into()];
        assert_eq!(held_for(&m), ["sender_mismatch", "venmo"]);
        assert_eq!(no_notice(&m, true), Some("sender_mismatch"));
        m.flags.clear();
        m.policy_hits = r#"[{"rule":"spam_model","action":"hold","score":0.93}]"#.into();
        assert_eq!(no_notice(&m, false), Some("spam_model"));
        assert_eq!(spam(&m), Some(0.93));
        // A spam hit that does not hold (spam = "redact") is not spam held.
        m.policy_hits = r#"[{"rule":"spam_model","action":"redact","score":0.93}]"#.into();
        assert_eq!(no_notice(&m, false), None);
        assert!(held_for(&m).is_empty());
    }

    #[test]
    fn a_ticket_opened_by_a_held_message_is_new_work_or_closed() {
        let first = message(1, Moderation::Held);
        let on_closed = OnClosedReply::Reopen;
        let alone = [first.clone()];
        assert_eq!(
            on_approve(Status::Open, Role::Client, on_closed, &first, &alone),
            None
        );
        assert_eq!(
            on_reject(Status::Open, &first, &alone),
            Some(Status::Closed)
        );
        // Another message shown: approval moves the status as always, a
        // rejection leaves it.
        let answer = message(2, Moderation::None);
        let both = [answer.clone(), first.clone()];
        assert_eq!(
            on_approve(
                Status::AwaitingClient,
                Role::Client,
                on_closed,
                &first,
                &both
            ),
            Some(Status::AwaitingSeller)
        );
        assert_eq!(on_reject(Status::AwaitingClient, &first, &both), None);
        // Another one still held: not closed yet.
        let waiting = [first.clone(), message(3, Moderation::Held)];
        assert_eq!(on_reject(Status::Open, &first, &waiting), None);
    }
}
