//! Threading: which ticket a message belongs to.
//!
//! Rules in order, first hit wins (see `docs/flow.md`):
//! 1. a valid reply token in any recipient address;
//! 2. In-Reply-To/References naming a Message-ID parley issued;
//! 3. In-Reply-To/References naming an inbound message stored on a ticket,
//!    when the sender is a participant of that ticket (a client's follow-up
//!    to their own first mail);
//! 4. the subject tag, when the sender is a participant of that ticket;
//! 5. a new ticket, when a recipient is a queue's intake address;
//! 6. no match.
//!
//! A deleted ticket never threads new mail: a message that rules 1 to 4
//! match to one, from one of its participants, opens a new ticket in its
//! queue ([`Thread::deleted`]); from anyone else, the rule does not match.
//!
//! Decides only: reads the store, writes nothing.

use serde::Serialize;

use super::parse::Parsed;
use super::recipient::{self, Recipient};
use crate::store::{Participant, Queue, Store, StoreError, Ticket};
use crate::token::ReplyToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchedBy {
    Token,
    References,
    InboundReferences,
    Subject,
    New,
    None,
}

impl MatchedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchedBy::Token => "token",
            MatchedBy::References => "references",
            MatchedBy::InboundReferences => "inbound_references",
            MatchedBy::Subject => "subject",
            MatchedBy::New => "new",
            MatchedBy::None => "none",
        }
    }
}

/// A valid token whose participant is not the sender: the message is kept
/// on the ticket but held.
pub const SENDER_MISMATCH: &str = "sender_mismatch";
/// Threaded by References, but the sender is not a participant: held.
pub const SENDER_NOT_PARTICIPANT: &str = "sender_not_participant";
/// A recipient had the shape of a reply address but its token was forged,
/// truncated, signed with a key since rotated, or names nothing: it was not
/// used.
pub const BAD_TOKEN: &str = "bad_token";

/// Flags that hold a message for moderation instead of delivering it.
pub fn is_holding(flag: &str) -> bool {
    flag == SENDER_MISMATCH || flag == SENDER_NOT_PARTICIPANT
}

/// Where the message goes.
#[derive(Debug, Clone)]
pub struct Thread {
    pub matched_by: MatchedBy,
    /// The existing ticket it threads to.
    pub ticket: Option<Ticket>,
    /// The queue of a new ticket.
    pub queue: Option<Queue>,
    /// The participant who wrote it, when known.
    pub author: Option<Participant>,
    pub sender_is_participant: bool,
    pub flags: Vec<&'static str>,
    /// A deleted ticket the message answers (by token, References or the
    /// subject tag, from one of its participants): it opens a new ticket
    /// in that ticket's queue, between the same people.
    pub deleted: Option<Ticket>,
}

impl Thread {
    /// Matched to `ticket` by `matched_by`, written by `author`: that
    /// ticket, or, when it is deleted, a new one after it (a deleted ticket
    /// never threads new mail).
    fn to(
        matched_by: MatchedBy,
        ticket: Ticket,
        author: Option<Participant>,
        flags: Vec<&'static str>,
    ) -> Self {
        let (ticket, deleted) = match ticket.deleted {
            true => (None, Some(ticket)),
            false => (Some(ticket), None),
        };
        Thread {
            matched_by,
            ticket,
            queue: None,
            sender_is_participant: author.is_some(),
            author,
            flags,
            deleted,
        }
    }

    fn none(flags: Vec<&'static str>) -> Self {
        Thread {
            matched_by: MatchedBy::None,
            ticket: None,
            queue: None,
            author: None,
            sender_is_participant: false,
            flags,
            deleted: None,
        }
    }
}

/// The subject tag format split around `{number}`.
#[derive(Debug, Clone)]
pub struct SubjectTag {
    prefix: String,
    suffix: String,
}

impl SubjectTag {
    /// `format` contains `{number}` once (config validation checks it).
    pub fn new(format: &str) -> Self {
        let (prefix, suffix) = format.split_once("{number}").unwrap_or((format, ""));
        SubjectTag {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
        }
    }

    pub fn render(&self, number: i64) -> String {
        format!("{}{number}{}", self.prefix, self.suffix)
    }

    /// Ticket numbers tagged in `subject`, first first.
    pub fn numbers(&self, subject: &str) -> Vec<i64> {
        let mut found = Vec::new();
        let mut rest = subject;
        while let Some(at) = rest.find(&self.prefix) {
            rest = &rest[at + self.prefix.len()..];
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits > 0
                && rest[digits..].starts_with(&self.suffix)
                && let Ok(n) = rest[..digits].parse()
            {
                found.push(n);
            }
            if self.prefix.is_empty() {
                break;
            }
        }
        found
    }
}

/// What threading needs besides the message.
pub struct Rules<'a> {
    /// What each recipient is (the one recipient rule).
    pub recipients: &'a recipient::Rule,
    pub subject_tag: &'a SubjectTag,
}

/// Finds the ticket for a message from `sender` to `recipients`.
pub async fn thread(
    parsed: &Parsed,
    sender: Option<&str>,
    recipients: &[String],
    store: &dyn Store,
    rules: &Rules<'_>,
) -> Result<Thread, StoreError> {
    let mut flags = Vec::new();

    // 1. A reply token in any recipient address.
    for rcpt in recipients {
        let token = match rules.recipients.by_token(rcpt) {
            Some(Recipient::Reply(token)) => token,
            Some(Recipient::StaleReply) => {
                flags.push(BAD_TOKEN);
                continue;
            }
            _ => continue,
        };
        let Some((ticket, owner)) = by_token(token, store).await? else {
            flags.push(BAD_TOKEN);
            continue;
        };
        // The author is whoever sent it: the token's participant, another
        // participant of the ticket, or (held as sender_mismatch) nobody known.
        let owner_id = owner.id;
        let author = match sender {
            Some(s) if s == owner.address => Some(owner),
            Some(s) => store.participant_by_address(ticket.number, s).await?,
            None => None,
        };
        // A deleted ticket is answered by its own people only: a stranger
        // holding a token of it has no way in.
        if ticket.deleted && author.is_none() {
            flags.push(BAD_TOKEN);
            continue;
        }
        if author.as_ref().map(|a| a.id) != Some(owner_id) {
            flags.push(SENDER_MISMATCH);
        }
        return Ok(Thread::to(MatchedBy::Token, ticket, author, flags));
    }

    // 2. In-Reply-To / References naming a Message-ID we issued.
    if let Some(number) = store.ticket_by_issued_id(&parsed.parents).await?
        && let Some(ticket) = store.ticket(number).await?
    {
        let author = match sender {
            Some(s) => store.participant_by_address(number, s).await?,
            None => None,
        };
        match (author.is_some(), ticket.deleted) {
            // A stranger quoting a deleted ticket's mail: not a way in.
            (false, true) => {}
            (false, false) => {
                flags.push(SENDER_NOT_PARTICIPANT);
                return Ok(Thread::to(MatchedBy::References, ticket, author, flags));
            }
            (true, _) => return Ok(Thread::to(MatchedBy::References, ticket, author, flags)),
        }
    }

    // 3. In-Reply-To / References naming a message a participant sent us,
    //    from a participant of its ticket only.
    if let Some(sender) = sender
        && let Some((ticket, author)) =
            by_inbound_id(parsed, sender, recipients, store, rules.recipients).await?
    {
        let matched_by = MatchedBy::InboundReferences;
        return Ok(Thread::to(matched_by, ticket, Some(author), flags));
    }

    // 4. The subject tag, from a participant only.
    if let (Some(subject), Some(sender)) = (&parsed.subject, sender) {
        // A handful of tags is plenty; a subject full of them costs no more.
        for number in rules.subject_tag.numbers(subject).into_iter().take(5) {
            let Some(author) = store.participant_by_address(number, sender).await? else {
                continue;
            };
            if let Some(ticket) = store.ticket(number).await? {
                return Ok(Thread::to(MatchedBy::Subject, ticket, Some(author), flags));
            }
        }
    }

    // 5. A new ticket in the queue of the first intake address.
    for rcpt in recipients {
        if let Recipient::Intake(queue) = rules.recipients.classify(rcpt, store).await? {
            return Ok(Thread {
                matched_by: MatchedBy::New,
                ticket: None,
                queue: Some(queue),
                author: None,
                sender_is_participant: false,
                flags,
                deleted: None,
            });
        }
    }
    Ok(Thread::none(flags))
}

/// The ticket (deleted ones too) and participant a verified token names,
/// if both exist.
async fn by_token(
    token: ReplyToken,
    store: &dyn Store,
) -> Result<Option<(Ticket, Participant)>, StoreError> {
    // One read: the participant with its ticket.
    let found = store.participant_with_ticket(token.participant).await?;
    Ok(found
        .filter(|(p, _)| p.ticket == token.ticket)
        .map(|(p, t)| (t, p)))
}

/// The ticket of the nearest parent that is an inbound message on a
/// ticket of which `sender` is a participant, with that participant.
///
/// The same mail sent to two queues opened a ticket in each and is stored
/// on both: the ticket in the queue this delivery is addressed to wins,
/// else a ticket that is not deleted, else the lowest number.
async fn by_inbound_id(
    parsed: &Parsed,
    sender: &str,
    recipients: &[String],
    store: &dyn Store,
    rule: &recipient::Rule,
) -> Result<Option<(Ticket, Participant)>, StoreError> {
    let found = store.tickets_by_inbound_id(&parsed.parents, sender).await?;
    let Some(nearest) = parsed
        .parents
        .iter()
        .find(|id| found.iter().any(|(m, _)| m == *id))
    else {
        return Ok(None);
    };
    let mut tickets = Vec::new();
    // A handful is plenty: one per queue the first mail was sent to.
    for (_, number) in found.iter().filter(|(m, _)| m == nearest).take(5) {
        if let Some(ticket) = store.ticket(*number).await? {
            tickets.push(ticket);
        }
    }
    tickets.sort_by_key(|t| (t.deleted, t.number));
    let mut chosen = None;
    if tickets.len() > 1 {
        for rcpt in recipients {
            if let Recipient::Intake(queue) = rule.classify(rcpt, store).await?
                && let Some(at) = tickets.iter().position(|t| t.queue == queue.name)
            {
                chosen = Some(tickets.swap_remove(at));
                break;
            }
        }
    }
    let Some(ticket) = chosen.or_else(|| tickets.into_iter().next()) else {
        return Ok(None);
    };
    let author = store.participant_by_address(ticket.number, sender).await?;
    Ok(author.map(|a| (ticket, a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_tags() {
        let tag = SubjectTag::new("[#{number}]");
        assert_eq!(tag.render(42), "[#42]");
        assert_eq!(tag.numbers("Re: [#42] Lot 7"), [42]);
        assert_eq!(tag.numbers("Re: [#42 ] [#x] [#7]"), [7]);
        assert!(tag.numbers("Lot #42").is_empty());
        let other = SubjectTag::new("(Ticket {number})");
        assert_eq!(other.numbers("AW: (Ticket 9) hi"), [9]);
    }
}
