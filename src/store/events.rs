//! The event log: every change a person could see (a message stored, a
//! ticket opened, a status, an assignment, a forward, a moderator's
//! decision, a read marker, …), appended in the same transaction as the
//! change itself, so that the log holds exactly what committed. Live
//! streams (`GET /api/v1/events`), webhooks and other instances read it in
//! id order and resume after the last id they saw.
//!
//! Writing: a concern's write transaction builds [`NewEvent`]s and appends
//! them with `SqlStore::append_events` (or `push_events` into a
//! [`Script`](super::sql::Script)), in `sql.rs`, as the last write before
//! its COMMIT, and calls `self.events.committed()` after the commit
//! (the in-process wake-up of the readers). Ids become visible in id
//! order: SQLite has one writer at a time; PostgreSQL takes an advisory
//! transaction lock before the INSERT ([`Backend::EVENT_ORDER_LOCK`]).
//!
//! A write of another concern (read markers, delete and restore, archive)
//! appends this way:
//!
//! ```ignore
//! let event = NewEvent {
//!     kind: EventKind::ReadMarked,
//!     ticket,
//!     message: Some(horizon),
//!     actor: reader.to_string(),
//!     data: serde_json::json!({}),
//!     audience: Audience::Reader { address: reader.to_string() },
//! };
//! Self::append_events(&mut tx, now, &[event]).await?; // last, then:
//! tx.commit().await?;
//! self.events.committed();
//! ```
//!
//! Reading: [`EventStore::events_after`] pages through the log by id.
//! Who may see an event is decided by [`crate::access::sees_event`] from
//! the ticket's access facts and the event's [`Audience`].

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::{ColumnIndex, Decode, Row, Type};
use tokio::sync::watch;

use super::StoreError;
use super::sql::get;

/// What happened. `as_str` is the `kind` column and the SSE `event:`
/// field (docs/json.md "Events").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A message was stored on a ticket (mail, or text written in parley);
    /// held ones too, for their author and moderators.
    MessageCreated,
    /// A ticket was opened (before the `message.created` of its first
    /// message).
    TicketCreated,
    /// A ticket's status changed: `{from, to}`.
    TicketStatus,
    /// A ticket was given to someone on the seller side: `{from, to}`.
    TicketAssigned,
    /// A ticket was forwarded to a staff address: `{to}` (seller side only).
    TicketForwarded,
    /// A moderator decided on a held message: `{decision, shows}`.
    MessageModerated,
    /// A person read a ticket up to a message (`message`); for that reader
    /// alone.
    ReadMarked,
    /// A ticket was deleted (soft) or restored.
    TicketDeleted,
    TicketRestored,
    /// A ticket was archived or taken out of the archive.
    TicketArchived,
    TicketUnarchived,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::MessageCreated,
        EventKind::TicketCreated,
        EventKind::TicketStatus,
        EventKind::TicketAssigned,
        EventKind::TicketForwarded,
        EventKind::MessageModerated,
        EventKind::ReadMarked,
        EventKind::TicketDeleted,
        EventKind::TicketRestored,
        EventKind::TicketArchived,
        EventKind::TicketUnarchived,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::TicketCreated => "ticket.created",
            EventKind::TicketStatus => "ticket.status",
            EventKind::TicketAssigned => "ticket.assigned",
            EventKind::TicketForwarded => "ticket.forwarded",
            EventKind::MessageModerated => "message.moderated",
            EventKind::ReadMarked => "read.marked",
            EventKind::TicketDeleted => "ticket.deleted",
            EventKind::TicketRestored => "ticket.restored",
            EventKind::TicketArchived => "ticket.archived",
            EventKind::TicketUnarchived => "ticket.unarchived",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Who may see an event, beyond the ticket's own access rules (which
/// always apply: nobody sees an event of a ticket they may not see).
/// Decided by [`crate::access::sees_event`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "to")]
pub enum Audience {
    /// Whoever may see the ticket.
    Ticket,
    /// Its seller side, the marketplace and moderators (a forward).
    SellerSide,
    /// Moderators and the author of a held message (by their address;
    /// `None`: moderators alone). A held message, the ticket it opened,
    /// a rejection.
    Held { author: Option<String> },
    /// One person alone, by their address (a read marker).
    Reader { address: String },
}

impl Audience {
    /// The `audience` and `person` columns.
    pub(super) fn columns(&self) -> (&'static str, Option<&str>) {
        match self {
            Audience::Ticket => ("ticket", None),
            Audience::SellerSide => ("seller", None),
            Audience::Held { author } => ("held", author.as_deref()),
            Audience::Reader { address } => ("reader", Some(address)),
        }
    }

    fn from_columns(audience: &str, person: Option<String>) -> Option<Audience> {
        Some(match (audience, person) {
            ("ticket", _) => Audience::Ticket,
            ("seller", _) => Audience::SellerSide,
            ("held", author) => Audience::Held { author },
            ("reader", Some(address)) => Audience::Reader { address },
            _ => return None,
        })
    }
}

/// An event to append, built inside a write transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub kind: EventKind,
    pub ticket: i64,
    /// The message it is about, when it is about one.
    pub message: Option<i64>,
    /// Who did it, as the audit log names them: an address, `intake`,
    /// `cli`, `key:NAME`. Shown only to moderators, the marketplace and
    /// the person themselves.
    pub actor: String,
    /// A JSON object of ids and states, safe for everyone `audience`
    /// admits: never a message's text (docs/json.md "Events").
    pub data: serde_json::Value,
    pub audience: Audience,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub id: i64,
    /// Unix ms, the transaction's time.
    pub at: i64,
    /// [`EventKind::as_str`]; kept as text so that a kind written by a
    /// newer parley is passed on, not refused.
    pub kind: String,
    pub ticket: i64,
    pub message: Option<i64>,
    pub actor: String,
    pub data: serde_json::Value,
    pub audience: Audience,
}

impl Event {
    pub fn kind(&self) -> Option<EventKind> {
        EventKind::parse(&self.kind)
    }

    /// Whether it may change who sees its ticket (the participants, the
    /// deletion): readers that cache a ticket's access facts read them
    /// again for it. A kind this parley does not know (written by a newer
    /// one) counts as changing them.
    pub fn changes_access(&self) -> bool {
        !matches!(
            self.kind(),
            Some(
                EventKind::MessageCreated
                    | EventKind::TicketStatus
                    | EventKind::MessageModerated
                    | EventKind::ReadMarked
                    | EventKind::TicketArchived
                    | EventKind::TicketUnarchived
            )
        )
    }
}

/// The most events one [`EventStore::events_after`] returns.
pub const MAX_PAGE: i64 = 1000;

#[async_trait]
pub trait EventStore: Send + Sync {
    /// The events with an id greater than `after`, oldest first, at most
    /// `limit` (capped at [`MAX_PAGE`]). An id once read is never
    /// followed by a smaller one committed later.
    async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>, StoreError>;

    /// The newest event's id; 0 when the log is empty.
    async fn newest_event(&self) -> Result<i64, StoreError>;

    /// Changes after every commit of this process that may have appended
    /// events: readers wait on it instead of polling (events of other
    /// processes still need a poll).
    fn event_signal(&self) -> watch::Receiver<u64>;
}

/// The in-process wake-up of [`EventStore::event_signal`].
pub(super) struct EventSignal(watch::Sender<u64>);

impl Default for EventSignal {
    fn default() -> Self {
        EventSignal(watch::channel(0).0)
    }
}

impl EventSignal {
    /// Called after a commit that may have appended events.
    pub(super) fn committed(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

pub(super) const EVENT_COLUMNS: &str =
    "id, at, kind, ticket, message, actor, data, audience, person";

/// An event of a row of [`EVENT_COLUMNS`].
pub(super) fn event_of<R: Row>(row: &R) -> Result<Event, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let data: String = get(row, "data")?;
    let audience: String = get(row, "audience")?;
    Ok(Event {
        id: get(row, "id")?,
        at: get(row, "at")?,
        kind: get(row, "kind")?,
        ticket: get(row, "ticket")?,
        message: get(row, "message")?,
        actor: get(row, "actor")?,
        data: serde_json::from_str(&data)
            .map_err(|e| StoreError::Corrupt(format!("event data: {e}")))?,
        audience: Audience::from_columns(&audience, get(row, "person")?)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown event audience {audience:?}")))?,
    })
}

sql_impl! {
    #[async_trait]
    impl EventStore for SqlStore {
        async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<Event>, StoreError> {
            let sql =
                format!("SELECT {EVENT_COLUMNS} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
            let rows = sqlx::query(&sql)
                .bind(after)
                .bind(limit.clamp(1, MAX_PAGE))
                .fetch_all(&self.read)
                .await?;
            rows.iter().map(event_of).collect()
        }

        async fn newest_event(&self) -> Result<i64, StoreError> {
            let row = sqlx::query("SELECT COALESCE(MAX(id), 0) AS id FROM events")
                .fetch_one(&self.read)
                .await?;
            get(&row, "id")
        }

        fn event_signal(&self) -> watch::Receiver<u64> {
            self.events.subscribe()
        }
    }
}
