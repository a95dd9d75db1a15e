//! The store: every ticket, message and raw mail, behind one trait.
//!
//! [`Store`] has two implementations on sqlx, SQLite (the embedded default)
//! and PostgreSQL, both from the generic [`sql::SqlStore`] with their own
//! migrations under `migrations/`. The backend is picked once, by URL, in
//! [`open`]. Reads serve threading and the CLI; every change goes through a
//! single write transaction ([`Store::post`], [`Store::set_status`], …) so
//! that a message, its ticket change, its audit entry and its notification
//! rows commit together or not at all.

mod assign;
mod batch;
mod batch_reads;
mod forward;
mod moderation;
mod outbox;
mod postgres;
mod sql;
mod sqlite;
mod throttle;

use async_trait::async_trait;
use serde::Serialize;

use crate::config::{QueueConfig, StoreConfig};
use crate::tickets::{Role, Status};
use crate::token::Minter;

pub use batch_reads::BatchReads;
pub use moderation::REJECTED_NOTICE;
pub use outbox::{OutboxRow, OutboxState};
pub use sql::SqlStore;

/// How a raw message reached parley.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Smtp,
    Imap,
    Pipe,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Smtp => "smtp",
            Source::Imap => "imap",
            Source::Pipe => "pipe",
        }
    }
}

/// `inbound`: arrived as mail. `outbound`: written in parley (CLI, API) and
/// delivered to the other side as a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    pub id: i64,
    pub name: String,
    pub display_name: String,
    pub intake: Vec<String>,
    pub staff: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Ticket {
    pub number: i64,
    pub queue: String,
    pub subject: String,
    pub status: Status,
    pub assignee: Option<String>,
    pub item_ref: Option<String>,
    pub item_title: Option<String>,
    pub auction_ref: Option<String>,
    pub auction_title: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived: bool,
    pub deleted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    pub id: i64,
    pub ticket: i64,
    pub address: String,
    pub display_name: Option<String>,
    pub role: Role,
    /// When mail to this address bounced (Unix ms); `None` while it works.
    pub failing_since: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: i64,
    pub ticket: i64,
    pub author: Option<i64>,
    pub direction: Direction,
    pub reply_text: String,
    pub html: Option<String>,
    pub raw_id: Option<i64>,
    pub message_id: Option<String>,
    pub matched_by: String,
    pub flags: Vec<String>,
    /// `none`, `auto_reply` or `list`: what kind of sender wrote it.
    pub auto: String,
    /// The quoted history and signature cut from `reply_text`.
    pub elided: String,
    pub created_at: i64,
    /// `allow`, `redact`, `hold` or `reject`.
    pub policy_action: String,
    /// The policy's hits, a JSON array (printed as one).
    #[serde(serialize_with = "as_json")]
    pub policy_hits: String,
    /// `reply_text` with every hit masked whose action is `redact` or
    /// stronger; `None` without such hits (`moderation approve --redact`).
    pub redacted_text: Option<String>,
    /// `reply_text` with the hits masked whose action is `redact`; `None`
    /// without such hits. What the other party sees unless a moderator
    /// decided otherwise ([`crate::moderation::visible_text`]).
    pub masked_text: Option<String>,
    pub moderation: Moderation,
}

/// An attachment of a stored message.
#[derive(Debug, Clone, Serialize)]
pub struct AttachmentInfo {
    pub message: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Where the content is (`attachment_bytes`); `None` when it was over
    /// a size limit and not kept.
    pub sha256: Option<String>,
    pub content_id: Option<String>,
    pub inline: bool,
    pub flags: Vec<String>,
}

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

/// What a bounce was matched to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bounced {
    pub notification: i64,
    pub ticket: i64,
    pub participant: i64,
    pub address: String,
}

/// A notification row: what to send to whom; sending is the outbox's job.
#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: i64,
    pub ticket: i64,
    pub message: Option<i64>,
    pub participant: i64,
    pub recipient: String,
    pub token: String,
    pub message_id: String,
    pub kind: String,
    pub state: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub ticket: Option<i64>,
    pub message: Option<i64>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quarantined {
    pub id: i64,
    pub raw_id: i64,
    pub reason: String,
    pub detail: String,
    pub created_at: i64,
}

/// A raw message as it arrived, to be stored once.
#[derive(Debug, Clone)]
pub struct NewRaw {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
    pub envelope_from: Option<String>,
    pub envelope_to: Vec<String>,
    pub source: Source,
}

#[derive(Debug, Clone)]
pub struct NewParticipant {
    pub address: String,
    pub display_name: Option<String>,
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
    pub auction_ref: Option<String>,
    pub auction_title: Option<String>,
    /// The message's dedupe key: a second delivery opens no second ticket.
    pub origin_key: Option<String>,
    /// The first participant is the message's author.
    pub participants: Vec<NewParticipant>,
}

/// Where a message lands.
#[derive(Debug, Clone)]
pub enum Target {
    Existing {
        ticket: i64,
        author: Option<i64>,
        /// The status after this message; `None` leaves it as it is.
        status: Option<Status>,
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

/// The outbox kind of a new message's notification to the other side.
pub const NEW_MESSAGE: &str = "new_message";
/// The acknowledgement of a new ticket, to the client who opened it.
pub const ACK: &str = "ack";
/// The after-hours auto-reply, to the client.
pub const AFTER_HOURS: &str = "after_hours";
/// A ticket's transcript, to the address it is forwarded to.
pub const TRANSCRIPT: &str = "transcript";

/// Automatic answers to a post's author (who must be the ticket's client;
/// the store writes none to anyone else). Intake decides them
/// (`src/intake/replies.rs`): never for automatic mail nor held messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoReplies {
    /// Write an [`ACK`] row: the author opened a ticket in a queue with a
    /// greeting.
    pub ack: bool,
    /// Write an [`AFTER_HOURS`] row, unless the ticket has one already
    /// within the window.
    pub after_hours: Option<AfterHours>,
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

/// Prints a JSON text as the JSON it holds.
fn as_json<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    serde::Serialize::serialize(&value, s)
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

/// Where a message stands with the moderators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Moderation {
    /// Never held.
    None,
    /// Waits for a moderator.
    Held,
    /// Approved; the other party sees the text with the spans of `redact`
    /// rules masked (`masked_text`).
    Approved,
    /// Approved; the other party sees every span masked (`redacted_text`).
    ApprovedRedacted,
    /// Approved; the other party sees the text as written.
    ApprovedAsWritten,
    Rejected,
}

impl Moderation {
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::None => "none",
            Moderation::Held => "held",
            Moderation::Approved => "approved",
            Moderation::ApprovedRedacted => "approved_redacted",
            Moderation::ApprovedAsWritten => "approved_as_written",
            Moderation::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Moderation> {
        Some(match s {
            "none" => Moderation::None,
            "held" => Moderation::Held,
            "approved" => Moderation::Approved,
            "approved_redacted" => Moderation::ApprovedRedacted,
            "approved_as_written" => Moderation::ApprovedAsWritten,
            "rejected" => Moderation::Rejected,
            _ => return None,
        })
    }

    /// From the columns `moderation` and `approved_as` (migration 0008:
    /// the `moderation` column keeps its values, `approved_as` says how
    /// an approved message is shown).
    pub fn from_columns(moderation: &str, approved_as: Option<&str>) -> Option<Moderation> {
        match (moderation, approved_as) {
            ("approved", Some(how)) => Approval::parse(how).map(Approval::moderation),
            ("approved", None) => Some(Moderation::ApprovedAsWritten),
            (state, _) => Moderation::parse(state),
        }
    }

    /// The `moderation` column's value.
    pub fn column(self) -> &'static str {
        match self {
            Moderation::Approved | Moderation::ApprovedAsWritten => "approved",
            other => other.as_str(),
        }
    }
}

/// How a moderator lets a held message through: what the other party sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Approval {
    /// The spans of `redact` rules stay masked; those of `hold` rules (what
    /// the moderator judged) show. The default.
    Masked,
    /// Every span masked (`--redact`).
    Redacted,
    /// As written (`--as-written`).
    AsWritten,
}

impl Approval {
    pub fn as_str(self) -> &'static str {
        match self {
            Approval::Masked => "masked",
            Approval::Redacted => "redacted",
            Approval::AsWritten => "as_written",
        }
    }

    pub fn parse(s: &str) -> Option<Approval> {
        [Approval::Masked, Approval::Redacted, Approval::AsWritten]
            .into_iter()
            .find(|a| a.as_str() == s)
    }

    pub fn moderation(self) -> Moderation {
        match self {
            Approval::Masked => Moderation::Approved,
            Approval::Redacted => Moderation::ApprovedRedacted,
            Approval::AsWritten => Moderation::ApprovedAsWritten,
        }
    }
}

/// A moderator's decision on a held message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ruling {
    /// Let it through, shown as `shows` says.
    Approve { shows: Approval },
    /// Keep it from the other party. Its author is told (`reason`) unless
    /// `no_notice` says why not ([`crate::moderation::no_notice`]).
    Reject {
        reason: String,
        no_notice: Option<&'static str>,
    },
}

/// A decision to record: on which message, by whom, and the ticket status
/// the decision sets (`None`: unchanged; [`crate::moderation::on_approve`],
/// [`crate::moderation::on_reject`]).
#[derive(Debug, Clone)]
pub struct Moderate {
    pub message: i64,
    pub ruling: Ruling,
    pub actor: String,
    pub status: Option<Status>,
}

/// A request to give a ticket to someone on the seller side.
#[derive(Debug, Clone)]
pub struct Assign {
    pub ticket: i64,
    /// The new assignee, normalized: a seller-side participant of the
    /// ticket or a staff address of its queue (who then joins the ticket
    /// as a `staff` participant).
    pub address: String,
    /// Who did it, for the audit log.
    pub actor: String,
    /// Take it from whoever has it. Without, a ticket assigned to someone
    /// else is refused ([`Assignment::Taken`]).
    pub replace: bool,
}

/// What an [`Assign`] did: a verdict, not an error, so that callers map
/// refusals to their own answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// Assigned, audited (`ticket.assigned`). `added`: the address joined
    /// the ticket now, as participant `participant`.
    Assigned {
        from: Option<String>,
        participant: i64,
        added: bool,
    },
    /// It was assigned to that address already: nothing written.
    Unchanged,
    /// Refused: someone else has it (and `replace` was not set).
    Taken { by: String },
    /// Refused: the address is neither a seller-side participant of the
    /// ticket nor a staff address of its queue.
    NotEligible,
}

/// A request to forward a ticket to a staff address (`tickets forward`).
#[derive(Debug, Clone)]
pub struct Forward {
    pub ticket: i64,
    /// The address, normalized. Not a participant yet: it joins the ticket
    /// as `staff`; a seller-side participant already: reused.
    pub to: String,
    /// A note for the recipient, kept in the audit entry.
    pub note: Option<String>,
    /// Who did it, for the audit log.
    pub actor: String,
}

/// What a [`Forward`] did: a verdict, not an error, as [`Assignment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarding {
    /// Audited (`ticket.forwarded`) and a `transcript` row written.
    Forwarded {
        /// The participant the address is on the ticket.
        participant: i64,
        /// It joined the ticket now.
        added: bool,
        /// The outbox row of the transcript.
        notification: i64,
        /// The newest message the transcript covers (the row's `message`);
        /// `None` when the ticket has none.
        message: Option<i64>,
    },
    /// Refused: the address is the ticket's client.
    IsClient,
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

#[derive(Debug, Clone, Default)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub queue: Option<String>,
    /// Created within `[from, to)`, Unix milliseconds.
    pub created: Option<(i64, i64)>,
    pub limit: i64,
    /// Also tickets nobody is shown a message of: opened by a message that
    /// waits for a moderator or was rejected. Left out by default: they
    /// are nobody's work.
    pub include_held: bool,
}

/// A store failure. Temporary failures (the database is down, busy, out of
/// connections) are worth retrying; the rest are not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("the store failed: {0}")]
    Failed(#[source] sqlx::Error),
    #[error("the store holds invalid data: {0}")]
    Corrupt(String),
    #[error("migrating the store failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// There is no store where the config points ([`open_existing`]):
    /// where it looked.
    #[error("no store at {0}")]
    Missing(String),
    #[error("{0}")]
    NotFound(String),
    /// The request does not fit the data's state (e.g. moderating a message
    /// that is not held).
    #[error("{0}")]
    Conflict(String),
}

impl StoreError {
    pub fn is_temporary(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        let temporary = match &e {
            E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed => true,
            E::Database(db) => is_temporary_db_error(db.code().as_deref()),
            _ => false,
        };
        if temporary {
            StoreError::Unavailable(e)
        } else {
            StoreError::Failed(e)
        }
    }
}

/// SQLite BUSY/LOCKED/IOERR/FULL/CANTOPEN (primary codes, extended codes
/// reduce to them) and PostgreSQL classes 08 (connection), 53 (resources),
/// 57 (operator intervention), 40001/40P01 (serialization, deadlock).
fn is_temporary_db_error(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    if let Ok(n) = code.parse::<u32>() {
        // A SQLite result code (PostgreSQL SQLSTATEs all-digit too, but five wide).
        if code.len() < 5 {
            return matches!(n & 0xff, 5 | 6 | 10 | 13 | 14);
        }
    }
    ["08", "53", "57"]
        .iter()
        .any(|class| code.starts_with(class))
        || code == "40001"
        || code == "40P01"
}

#[async_trait]
pub trait Store: Send + Sync {
    /// Applies pending migrations; safe when several processes start on
    /// one store at once (they wait for each other).
    async fn migrate(&self) -> Result<(), StoreError>;

    // Queues.
    /// Creates or updates a queue from config; its addresses become exactly
    /// the configured ones.
    async fn sync_queue(&self, queue: &QueueConfig) -> Result<Queue, StoreError>;
    async fn queue(&self, name: &str) -> Result<Option<Queue>, StoreError>;
    /// The queue whose intake address is `address` (normalized).
    async fn queue_by_intake(&self, address: &str) -> Result<Option<Queue>, StoreError>;

    // Reads for threading.
    async fn ticket(&self, number: i64) -> Result<Option<Ticket>, StoreError>;
    /// A participant with its ticket, in one read (the reply-token lookup).
    async fn participant_with_ticket(
        &self,
        id: i64,
    ) -> Result<Option<(Participant, Ticket)>, StoreError>;
    async fn participant_by_address(
        &self,
        ticket: i64,
        address: &str,
    ) -> Result<Option<Participant>, StoreError>;
    /// The ticket of the first of `message_ids` that parley issued.
    async fn ticket_by_issued_id(&self, message_ids: &[String]) -> Result<Option<i64>, StoreError>;
    /// The live tickets holding an inbound message whose Message-ID is
    /// among the nearest `message_ids`, and of which `sender` is a
    /// participant: (Message-ID, ticket) pairs, lowest ticket first.
    async fn tickets_by_inbound_id(
        &self,
        message_ids: &[String],
        sender: &str,
    ) -> Result<Vec<(String, i64)>, StoreError>;
    /// Whether a message with this dedupe key is on the ticket already.
    async fn has_message(&self, ticket: i64, dedupe_key: &str) -> Result<bool, StoreError>;
    /// The ticket opened in `queue_id` by the message with this dedupe key.
    async fn ticket_by_origin(
        &self,
        queue_id: i64,
        origin_key: &str,
    ) -> Result<Option<i64>, StoreError>;

    // Writes.
    /// Stores a message on a ticket (opening it when new), its raw mail, the
    /// status change, audit and notifications, in one transaction.
    async fn post(&self, post: &Post, minter: &Minter) -> Result<Posted, StoreError>;
    /// Stores several posts in one transaction (group commit: one disk
    /// flush for all). A duplicate among them is skipped alone; any other
    /// failure fails them all and nothing is written.
    async fn post_many(&self, posts: &[Post], minter: &Minter) -> Result<Vec<Posted>, StoreError>;
    /// Stores a raw message in quarantine with the reason.
    async fn quarantine(&self, raw: &NewRaw, reason: &str, detail: &str)
    -> Result<i64, StoreError>;
    /// A bounce of notification `notification`: marks the notification
    /// failed and its recipient failing, and keeps the bounce in quarantine
    /// (reason `bounce`). `None` when no such notification exists.
    async fn record_bounce(
        &self,
        notification: i64,
        raw: &NewRaw,
        detail: &str,
    ) -> Result<Option<Bounced>, StoreError>;
    /// Sets a ticket's assignee, adds a queue's staff address as a
    /// participant when needed and writes the audit entry
    /// (`ticket.assigned` {from, to}), in one transaction. A missing or
    /// deleted ticket is `NotFound`; an assignee changed by someone else
    /// between our read and our write, a `Conflict`.
    async fn assign(&self, request: &Assign) -> Result<Assignment, StoreError>;
    /// Forwards a ticket to a staff address, in one transaction: the
    /// address joins it as a `staff` participant (reused when it is one of
    /// the seller side already), a `transcript` outbox row goes to it with
    /// a fresh reply token (its answers by mail land on the ticket for the
    /// seller side), and the audit entry `ticket.forwarded` {to, note} is
    /// written. A missing or deleted ticket is `NotFound`.
    async fn forward(&self, request: &Forward, minter: &Minter) -> Result<Forwarding, StoreError>;
    /// The pool: tickets nobody has taken (no assignee, not resolved or
    /// closed, not deleted, a message shown: not only held or rejected
    /// ones), of `queue` or all, oldest first.
    async fn pool(&self, queue: Option<&str>) -> Result<Vec<Ticket>, StoreError>;
    /// Sets a ticket's status; returns the previous one.
    async fn set_status(
        &self,
        ticket: i64,
        status: Status,
        actor: &str,
    ) -> Result<Status, StoreError>;

    // Reads for the CLI.
    async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError>;
    async fn participants(&self, ticket: i64) -> Result<Vec<Participant>, StoreError>;
    async fn messages(&self, ticket: i64) -> Result<Vec<Message>, StoreError>;
    async fn message(&self, id: i64) -> Result<Option<Message>, StoreError>;
    /// Messages waiting for a moderator, oldest first.
    async fn held(&self) -> Result<Vec<Message>, StoreError>;
    /// Messages a moderator approved or rejected, oldest first.
    async fn moderated(&self) -> Result<Vec<Message>, StoreError>;
    /// Records a moderator's decision on a held message (a `Conflict` when
    /// it is not held): approved, its notifications are written as if it
    /// had just arrived and `status` is applied; rejected, a notice to its
    /// author is written. Returns the outbox ids written.
    async fn moderate(&self, m: &Moderate, minter: &Minter) -> Result<Vec<i64>, StoreError>;
    async fn notifications(&self, ticket: i64) -> Result<Vec<Notification>, StoreError>;
    async fn audit(&self, ticket: i64) -> Result<Vec<AuditEntry>, StoreError>;

    // The outbox worker (`src/store/outbox.rs`).
    /// Leases up to `limit` due rows (pending, `next_attempt_at <= now`, no
    /// live lease) until `lease_until`, the longest due first (new rows in
    /// the order written, then retries), returned by id. A row whose lease
    /// expired is claimed again: a crash between send and record sends
    /// twice, never zero times.
    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// The relay took row `id` (one more attempt). False when the row was
    /// no longer pending.
    async fn outbox_sent(&self, id: i64, reply: &str, now: i64) -> Result<bool, StoreError>;
    /// The relay took each row of `sent` (id, its reply): recorded in one
    /// transaction. The ids recorded, in order; a row no longer pending is
    /// left as it is and not named. On an error none is recorded (they
    /// stay leased and are sent again once the lease runs out).
    async fn outbox_sent_many(
        &self,
        sent: &[(i64, String)],
        now: i64,
    ) -> Result<Vec<i64>, StoreError>;
    /// A temporary failure: one more attempt, tried again at
    /// `next_attempt_at`, unless the row was created before
    /// `expire_before`: then it is failed. The new state; `None` when the
    /// row was no longer pending.
    async fn outbox_deferred(
        &self,
        id: i64,
        reply: &str,
        next_attempt_at: i64,
        expire_before: i64,
    ) -> Result<Option<OutboxState>, StoreError>;
    /// A permanent failure, with the relay's reply (one more attempt).
    /// False when the row was no longer pending.
    async fn outbox_failed(&self, id: i64, reply: &str) -> Result<bool, StoreError>;
    /// Gives up the lease on a row not tried (the worker is stopping), so
    /// that the next worker need not wait for the lease to run out.
    async fn release_outbox(&self, id: i64) -> Result<(), StoreError>;
    /// Rows (in `state`, or all), oldest first, at most `limit`.
    async fn outbox(
        &self,
        state: Option<OutboxState>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    /// Row `id`, if it exists.
    async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError>;
    /// Makes a failed row pending again, due at `now`. `NotFound` or
    /// `Conflict` (not failed) otherwise.
    async fn retry_outbox(&self, id: i64, now: i64) -> Result<(), StoreError>;
    // The throttles (`src/store/throttle.rs`).
    /// When a new-message notification to `participant` on `ticket` was
    /// last sent (Unix ms).
    async fn outbox_last_sent(
        &self,
        ticket: i64,
        participant: i64,
    ) -> Result<Option<i64>, StoreError>;
    /// How many new-message mails went to `recipient` after `since`, and
    /// when the first of them went.
    async fn outbox_sent_since(
        &self,
        recipient: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError>;
    /// Holds a pending row back until `until` (no attempt counted) and
    /// gives up its lease.
    async fn outbox_postpone(&self, id: i64, until: i64) -> Result<(), StoreError>;
    /// Coalesces pending `rows` (and whatever they carried) into `into`:
    /// they are no longer claimed and take `into`'s outcome.
    async fn outbox_coalesce(&self, rows: &[i64], into: i64) -> Result<(), StoreError>;
    /// The rows coalesced into `carrier`, oldest first.
    async fn outbox_coalesced(&self, carrier: i64) -> Result<Vec<OutboxRow>, StoreError>;
    /// Gives the rows coalesced into `carrier` its outcome and its attempts
    /// (once it is no longer pending); how many changed.
    async fn outbox_settle_coalesced(&self, carrier: i64) -> Result<usize, StoreError>;
    /// What composing `rows` needs, read together (on one connection):
    /// their tickets, those tickets' participants, the messages they
    /// announce and, per row, what [`Store::thread_ids`] gives for it with
    /// `references` as the limit.
    async fn batch_reads(
        &self,
        rows: &[OutboxRow],
        references: i64,
    ) -> Result<BatchReads, StoreError>;
    /// The last `limit` Message-IDs the notification `row` may name in
    /// In-Reply-To and References, oldest first: those of the mail its
    /// recipient wrote on the ticket and those issued to its recipient (its
    /// own left out), written no later than the row. Never another
    /// participant's: their own Message-IDs name their mail host, and the
    /// ones issued to them carry their token.
    async fn thread_ids(&self, row: &OutboxRow, limit: i64) -> Result<Vec<String>, StoreError>;
    async fn attachments(&self, ticket: i64) -> Result<Vec<AttachmentInfo>, StoreError>;
    async fn attachment_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    async fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError>;
    /// How many raw messages are stored (tests and benchmarks count with it).
    async fn raw_count(&self) -> Result<i64, StoreError>;
    /// The exact bytes of a stored raw message.
    async fn raw_bytes(&self, raw_id: i64) -> Result<Option<Vec<u8>>, StoreError>;

    // The IMAP poller's cursors.
    /// Where the poller stands in `mailbox`, if it has been there.
    async fn imap_cursor(&self, mailbox: &str) -> Result<Option<ImapCursor>, StoreError>;
    /// Records that every message up to `cursor.last_uid` under
    /// `cursor.uidvalidity` is committed. Under the same UIDVALIDITY the
    /// cursor only moves forward (a lower UID is ignored); a different
    /// UIDVALIDITY replaces it.
    async fn set_imap_cursor(&self, mailbox: &str, cursor: ImapCursor) -> Result<(), StoreError>;
}

/// The IMAP poller's place in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapCursor {
    pub uidvalidity: i64,
    /// The highest UID whose message is committed.
    pub last_uid: i64,
}

/// Opens the store named by `config.url` (SQLite or PostgreSQL), creating
/// it when missing (the SQLite file and its folder; parley's schema in the
/// PostgreSQL database, which must exist), and applies pending migrations.
/// Only `parley serve` and `parley migrate` create a store
/// ([`crate::setup`]); the other commands call [`open_existing`].
pub async fn open(config: &StoreConfig) -> Result<Box<dyn Store>, StoreError> {
    let store: Box<dyn Store> = if config.url.starts_with("sqlite:") {
        Box::new(sqlite::connect(config).await?)
    } else {
        Box::new(postgres::connect(config).await?)
    };
    store.migrate().await?;
    Ok(store)
}

/// Opens the store named by `config.url` when there is one, and applies
/// pending migrations; [`StoreError::Missing`] when there is none (no
/// SQLite file, or a database without parley's schema). Creates nothing.
pub async fn open_existing(config: &StoreConfig) -> Result<Box<dyn Store>, StoreError> {
    let store: Box<dyn Store> = if config.url.starts_with("sqlite:") {
        Box::new(sqlite::connect_existing(config).await?)
    } else {
        Box::new(postgres::connect_existing(config).await?)
    };
    store.migrate().await?;
    Ok(store)
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
