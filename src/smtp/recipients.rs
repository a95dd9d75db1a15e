//! What parley answers at RCPT, from what the recipient rule
//! ([`crate::intake::recipient`]) says the address is.
//!
//! Taken: a reply address whose token verifies, a queue's intake address,
//! a VERP bounce address whose token verifies, `postmaster@` a served
//! domain (RFC 5321 §4.5.1; a ticket in the `mail.postmaster` queue, else
//! quarantine). Taken provisionally: a reply
//! address of our reply domain whose token does not verify (a key rotated
//! since the notification went out, or a forgery): its message must thread
//! by References or the subject tag, else it is refused after the data
//! (docs/smtp.md). Refused at RCPT, so that parley never accepts mail it
//! would have to bounce later (no backscatter) and never relays: unknown
//! addresses and bounce addresses whose token does not verify (a bounce
//! has nothing else to be matched by).
//!
//! Each taken recipient has a [`Target`]: a message is delivered once per
//! distinct target (one stored copy, a post on each ticket and in each
//! queue it was sent to).

use crate::intake::recipient::Recipient;

/// What a recipient gets at RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Taken: deliver to this target.
    Accept(Target),
    /// A bounce address whose token does not verify: refused.
    ForgedBounce,
    /// Not ours: refused.
    Unknown,
}

/// Where a taken recipient leads; recipients with the same target are one
/// delivery.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// `reply+TOKEN@<reply domain>`: the ticket the token names.
    Ticket(i64),
    /// A queue's intake address: the queue, by name.
    Queue(String),
    /// `bounce+TOKEN@<reply domain>`: the notification it returns.
    Bounce(i64),
    /// `reply+TOKEN@<reply domain>` whose token does not verify: taken
    /// provisionally; intake threads the message by References or the
    /// subject tag, or it matches nothing and is refused.
    Stale,
    /// `postmaster@` a served domain with no queue to route it to: kept in
    /// quarantine.
    Postmaster,
}

impl Verdict {
    pub fn of(recipient: Recipient) -> Verdict {
        match recipient {
            Recipient::Reply(token) => Verdict::Accept(Target::Ticket(token.ticket)),
            Recipient::StaleReply => Verdict::Accept(Target::Stale),
            Recipient::Bounce(outbox) => Verdict::Accept(Target::Bounce(outbox)),
            Recipient::ForgedBounce => Verdict::ForgedBounce,
            Recipient::Intake(queue) => Verdict::Accept(Target::Queue(queue.name)),
            Recipient::Postmaster => Verdict::Accept(Target::Postmaster),
            Recipient::Unknown => Verdict::Unknown,
        }
    }
}
