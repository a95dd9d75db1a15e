//! The store: every ticket, message and raw mail, one trait per concern.
//!
//! Each concern is a file holding its trait and the trait's SQL
//! implementation, readable alone:
//!
//! - [`TicketStore`] (`tickets.rs`): queues, tickets, participants,
//!   messages, attachments, the audit log, and every change to a ticket:
//!   posts (`tickets/batch.rs`, many in one transaction), status,
//!   assignment (`tickets/assign.rs`), forwarding (`tickets/forward.rs`);
//! - [`ModerationStore`] (`moderation.rs`): held messages and a
//!   moderator's decisions;
//! - [`MailStore`] (`mail.rs`): raw mail, quarantine, bounces, and the
//!   lookups intake makes before it writes (duplicates, Message-IDs);
//! - [`OutboxStore`] (`outbox.rs`): the notification rows and the worker's
//!   side of them: claim, record, retry, the throttles
//!   (`outbox/throttle.rs`) and a batch's reads (`outbox/batch_reads.rs`);
//! - [`CursorStore`] (`cursor.rs`): the IMAP poller's cursors;
//! - [`FilingStore`] (`filing.rs`): soft delete and restore, archive and
//!   unarchive;
//! - [`ConversationStore`] (`conversations.rs`): the conversation list by
//!   recency and the unread counts, as a viewer may see them;
//! - [`ReadStore`] (`reads.rs`): read markers (a person's horizon on a
//!   ticket, forward only);
//! - [`IdempotencyStore`] (`idempotency.rs`): the answers kept for the
//!   API's `Idempotency-Key`, so that a retried POST never runs twice;
//! - [`EventStore`] (`events.rs`): the event log every change a person
//!   could see is appended to, in the transaction that makes it (the
//!   append itself is in `sql.rs`, shared by the concerns' writes);
//! - [`WebhookStore`] (`webhooks.rs`): each webhook's cursor into the
//!   event log and its deliveries: queue, claim, record, retry;
//! - [`SearchStore`] (`search.rs`): the search index, written by the
//!   other concerns' writes in their transactions, and the scoped,
//!   ranked search over it;
//! - [`RetentionStore`] (`retention.rs`): purging what `[retention]`
//!   says is old enough (raw mail of long-closed tickets, sent
//!   notifications);
//! - [`ErasureStore`] (`erasure.rs`): erasing a participant for a
//!   data-protection request;
//! - [`LeaseStore`] (`lease.rs`): work one instance of several does at a
//!   time (an IMAP mailbox's poller), held until an expiry and renewed;
//! - [`SchemaStore`] (here): migrations (and indexing for search what was
//!   stored before the index existed).
//!
//! [`Store`] is all of them: callers hold an `Arc<dyn Store>` and bring the
//! traits they call into scope with `use crate::store::prelude::*`.
//!
//! Every trait has one implementation on sqlx, [`sql::SqlStore`], generic
//! over SQLite (the embedded default) and PostgreSQL, with their own
//! migrations under `migrations/`; `sql.rs` holds what the concerns share
//! (the backend's differences, row decoding, the writes made inside
//! another concern's transaction). The backend is picked once, by URL, in
//! [`open`]. Every change goes through a single write transaction
//! ([`TicketStore::post`], [`TicketStore::set_status`], …) so that a
//! message, its ticket change, its audit entry and its notification rows
//! commit together or not at all.

mod backup;
mod console;
mod conversations;
mod cursor;
mod desk;
mod erasure;
mod events;
mod filing;
mod health;
mod idempotency;
mod lease;
mod mail;
mod moderation;
mod outbox;
mod postgres;
mod reads;
mod response;
mod retention;
mod search;
mod sql;
mod sqlite;
mod tickets;
mod webhooks;

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;

use crate::config::StoreConfig;
use outbox::NewNotification;

pub use backup::backup;
pub use console::{ConsoleRole, ConsoleSession, ConsoleStore, ConsoleUser};
pub use conversations::{ConversationFilter, ConversationRow, ConversationStore};
pub use cursor::{CursorStore, ImapCursor};
pub use desk::{DeskStore, Operator, QueueTexts};
pub use erasure::{ERASED_TEXT, Erased, ErasureStore};
pub use events::{Audience, Event, EventKind, EventStore, MAX_PAGE, NewEvent};
pub use filing::{File, Filed, Filing, FilingStore};
pub use health::HealthStore;
pub use idempotency::{IDEMPOTENCY_TTL_MS, IdempotencyStore, Reserved};
pub use lease::LeaseStore;
pub use mail::{Bounced, MailStore, Quarantined};
pub use moderation::{Approval, Moderate, Moderation, ModerationStore, REJECTED_NOTICE, Ruling};
pub use outbox::{
    ACK, AFTER_HOURS, BatchReads, NEW_MESSAGE, Notification, OutboxRow, OutboxState, OutboxStore,
    TRANSCRIPT,
};
pub use reads::{Marked, ReadStore};
pub use response::{
    OVERDUE, Reminded, ResponseStats, ResponseStore, STATS_ROWS, Targets, is_overdue, month_of,
};
pub use retention::{Cutoffs, Purged, RetentionStore};
pub use search::{Hit, Matched, SearchStore};
pub use sql::SqlStore;
pub use tickets::{
    AfterHours, Assign, Assignment, AttachmentInfo, AuditEntry, AutoReplies, Forward, Forwarding,
    Message, NewAttachment, NewParticipant, NewTicket, Participant, PolicyRecord, Post, Posted,
    Queue, Target, Ticket, TicketFilter, TicketStore,
};
pub use webhooks::{DeliveryState, Queued, Sift, WebhookDelivery, WebhookStore, WebhookSummary};

/// The store's traits, for callers: `use crate::store::prelude::*;` makes
/// every method of a `dyn Store` callable.
pub mod prelude {
    pub use super::{
        ConsoleStore, ConversationStore, CursorStore, DeskStore, ErasureStore, EventStore,
        FilingStore, HealthStore, IdempotencyStore, LeaseStore, MailStore, ModerationStore,
        OutboxStore, ReadStore, ResponseStore, RetentionStore, SchemaStore, SearchStore, Store,
        TicketStore, WebhookStore,
    };
}

/// The whole store: every concern. Implemented for whatever implements them
/// all, so a new concern is one more trait here and its own file.
pub trait Store:
    SchemaStore
    + ConsoleStore
    + DeskStore
    + TicketStore
    + ModerationStore
    + MailStore
    + OutboxStore
    + CursorStore
    + FilingStore
    + EventStore
    + WebhookStore
    + ConversationStore
    + ReadStore
    + ResponseStore
    + RetentionStore
    + ErasureStore
    + IdempotencyStore
    + SearchStore
    + HealthStore
    + LeaseStore
    + Send
    + Sync
{
}

impl<S> Store for S where
    S: SchemaStore
        + ConsoleStore
        + DeskStore
        + TicketStore
        + ModerationStore
        + MailStore
        + OutboxStore
        + CursorStore
        + FilingStore
        + EventStore
        + WebhookStore
        + ConversationStore
        + ReadStore
        + ResponseStore
        + RetentionStore
        + ErasureStore
        + IdempotencyStore
        + SearchStore
        + HealthStore
        + LeaseStore
        + Send
        + Sync
{
}

/// The schema.
#[async_trait]
pub trait SchemaStore: Send + Sync {
    /// Applies pending migrations; safe when several processes start on
    /// one store at once (they wait for each other).
    async fn migrate(&self) -> Result<(), StoreError>;
}

sql_impl! {
    #[async_trait]
    impl SchemaStore for SqlStore {
        async fn migrate(&self) -> Result<(), StoreError> {
            DB::migrate(&self.write).await?;
            self.backfill_search().await
        }
    }
}

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

/// A raw message as it arrived, to be stored once.
#[derive(Debug, Clone)]
pub struct NewRaw {
    pub bytes: Vec<u8>,
    pub sha256: [u8; 32],
    pub envelope_from: Option<String>,
    pub envelope_to: Vec<String>,
    pub source: Source,
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
