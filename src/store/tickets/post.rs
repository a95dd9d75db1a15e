//! A post: what lands on a ticket when a message arrives or is written,
//! and what the store did with it. [`super::TicketStore::post`] writes it
//! (`batch.rs`), with its ticket change, audit and notifications, in one
//! transaction.

use serde::Serialize;

use crate::store::{Direction, NewRaw};
use crate::tickets::{Role, Status};

/// An attachment to store with its message; contents are stored once per
/// sha256.
#[derive(Debug, Clone)]
pub struct NewAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// `(sha256 hex, bytes)`; `None` when not kept (over a limit).
    pub content: Option<(String, Vec<u8>)>,
    pub content_id: Option<String>,
    pub inline: bool,
    pub flags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct NewParticipant {
    pub address: String,
    pub display_name: Option<String>,
    /// The marketplace's own id of the person (the API's `user_id`).
    pub user_id: Option<String>,
    pub role: Role,
}

/// A ticket to open with the message that opens it.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub queue_id: i64,
    pub subject: String,
    pub status: Status,
    pub item_ref: Option<String>,
    pub item_title: Option<String>,
    /// The listing's page on the marketplace.
    pub item_url: Option<String>,
    pub auction_ref: Option<String>,
    pub auction_title: Option<String>,
    /// Who on the seller side has it from the start (the auction's
    /// manager): a seller-side address among `participants`. The seller
    /// side's notifications go to them alone; audited and announced as
    /// `ticket.assigned`.
    pub assignee: Option<String>,
    /// The message's dedupe key: a second delivery opens no second ticket.
    pub origin_key: Option<String>,
    /// The first participant is the message's author.
    pub participants: Vec<NewParticipant>,
}

/// Where a message lands.
// One per post, built once and read in place: boxing the new ticket would
// save a few hundred bytes per post in a batch at the cost of an
// allocation for every new ticket.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Target {
    Existing {
        ticket: i64,
        author: Option<i64>,
        /// The status after this message; `None` leaves it as it is.
        status: Option<Status>,
        /// The author joins the ticket with this message (a staff address
        /// of its queue not on it yet, writing in parley); `author` is
        /// then `None`. Reused when the address joined meanwhile.
        join: Option<NewParticipant>,
    },
    New(NewTicket),
}

/// Everything that happens when a message lands on a ticket, committed in
/// one transaction.
#[derive(Debug, Clone)]
pub struct Post {
    pub raw: Option<NewRaw>,
    pub target: Target,
    pub direction: Direction,
    pub reply_text: String,
    pub html: Option<String>,
    pub message_id: Option<String>,
    pub dedupe_key: String,
    pub matched_by: String,
    pub flags: Vec<String>,
    /// `none`, `auto_reply` or `list`.
    pub auto: String,
    /// What reply extraction cut, kept for moderators.
    pub elided: String,
    /// The signature reply extraction found ([`crate::store::Message::signature`]).
    pub signature: String,
    pub attachments: Vec<NewAttachment>,
    /// Write notification rows for the other side (held messages: none).
    pub notify: bool,
    /// The content policy's verdict; a held message waits for a moderator.
    pub policy: PolicyRecord,
    /// Who did it, for the audit log (`intake`, `cli`, an address).
    pub actor: String,
    /// The automatic answers to the author intake decided on; written as
    /// outbox rows in this post's transaction. Default: none.
    pub replies: AutoReplies,
}

/// Automatic answers to a post's author (who must be the ticket's client;
/// the store writes none to anyone else). Intake decides them
/// (`src/intake/replies.rs`): never for automatic mail nor held messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoReplies {
    /// Write an [`ACK`](crate::store::ACK) row: the author opened a ticket in a queue with a
    /// greeting.
    pub ack: bool,
    /// Write an [`AFTER_HOURS`](crate::store::AFTER_HOURS) row, unless the ticket has one already
    /// within the window.
    pub after_hours: Option<AfterHours>,
    /// Write an [`AFTER_HOURS`](crate::store::AFTER_HOURS) row as above
    /// (the queue's offline answer) if the ticket's queue has operators
    /// and none is available, which the post's transaction reads
    /// ([`crate::store::DeskStore`]). Set for a client's message when the
    /// queue is open.
    pub offline: Option<AfterHours>,
}

/// A message that arrived outside its queue's working hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AfterHours {
    /// When intake found the queue closed (Unix ms, by intake's clock). The
    /// row is stamped with it, so that the window is measured on the clock
    /// that judged the hours.
    pub at: i64,
    /// No row when the ticket has an `after_hours` row created after
    /// `at - window_ms`.
    pub window_ms: i64,
}

/// What the content policy decided about a message, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// `allow`, `redact`, `hold` or `reject`.
    pub action: String,
    /// The hits, a JSON array (docs/json.md).
    pub hits: String,
    /// The reply text with the hits masked whose action is `redact` or
    /// stronger; `None` without hits.
    pub redacted_text: Option<String>,
    /// The reply text with the hits masked whose action is `redact`.
    pub masked_text: Option<String>,
    /// Held for a moderator: not shown to nor notified to the other party.
    pub held: bool,
}

impl Default for PolicyRecord {
    fn default() -> Self {
        PolicyRecord {
            action: "allow".into(),
            hits: "[]".into(),
            redacted_text: None,
            masked_text: None,
            held: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Posted {
    Stored {
        ticket: i64,
        message: i64,
        new_ticket: bool,
        notifications: Vec<i64>,
    },
    /// Already there: nothing was written.
    Duplicate { ticket: Option<i64> },
}
