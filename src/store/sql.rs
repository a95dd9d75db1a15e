//! The store written once for every sqlx backend.
//!
//! Both schemas have the same tables and columns, integers are 64-bit, times
//! are Unix milliseconds and placeholders are `$N` (SQLite reads them too),
//! so one body of SQL serves both. What differs lives in [`Backend`].

use futures_util::TryStreamExt;
use sqlx::{ColumnIndex, Database, Decode, Either, Encode, Pool, QueryBuilder, Row, Type};

use super::events::{Audience, EventKind, EventSignal, NewEvent};
use super::outbox::NewNotification;
use super::{Direction, Message, Moderation, NewRaw, Participant, Queue, StoreError, Ticket};
use crate::tickets::{self, Role, Status};
use crate::token::Minter;

/// Writes an impl block of the store over every [`Backend`], with the
/// bounds every SQL body needs named once, here: the connection executes,
/// arguments bind, the column types encode and decode on this backend.
/// Rust does not carry a where-clause from one item to the next (a bound
/// whose subject is `i64` or `&str` is not implied by `DB: Backend`,
/// rust-lang/rust#20671), so each concern's impl asks for them through
/// this macro instead of repeating them:
///
/// ```text
/// sql_impl! {
///     #[async_trait]
///     impl ConversationStore for SqlStore { … }
/// }
/// sql_impl! {
///     impl SqlStore { … }    // a concern's private steps
/// }
/// ```
///
/// Inside, `DB` is the backend. A new column type goes here, once.
/// rustfmt does not format inside a macro's braces: keep the bodies as it
/// would (they were formatted at 96 columns when the macro came in).
macro_rules! sql_impl {
    ($(#[$meta:meta])* impl $concern:ident for SqlStore { $($body:tt)* }) => {
        $crate::store::sql::sql_impl!(@bounds [$(#[$meta])*] [$concern for] { $($body)* });
    };
    ($(#[$meta:meta])* impl SqlStore { $($body:tt)* }) => {
        $crate::store::sql::sql_impl!(@bounds [$(#[$meta])*] [] { $($body)* });
    };
    (@bounds [$($attr:tt)*] [$($concern:tt)*] { $($body:tt)* }) => {
        $($attr)*
        impl<DB> $($concern)* $crate::store::sql::SqlStore<DB>
        where
            DB: $crate::store::sql::Backend,
            for<'c> &'c mut DB::Connection: ::sqlx::Executor<'c, Database = DB>,
            for<'q> DB::Arguments<'q>: ::sqlx::IntoArguments<'q, DB> + Default,
            for<'q> i64: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB> + ::sqlx::Type<DB>,
            for<'q> Option<i64>: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB>,
            for<'q> &'q str: ::sqlx::Encode<'q, DB> + ::sqlx::Type<DB>,
            for<'q> Option<&'q str>: ::sqlx::Encode<'q, DB>,
            for<'q> String: ::sqlx::Encode<'q, DB> + ::sqlx::Decode<'q, DB> + ::sqlx::Type<DB>,
            for<'q> &'q [u8]: ::sqlx::Encode<'q, DB> + ::sqlx::Type<DB>,
            for<'q> Vec<u8>: ::sqlx::Decode<'q, DB> + ::sqlx::Type<DB>,
            for<'a> &'a str: ::sqlx::ColumnIndex<DB::Row>,
        {
            $($body)*
        }
    };
}
pub(crate) use sql_impl;

/// Statement results and rows of a query, as they come.
pub type ResultStream<'c, DB> = futures_util::stream::BoxStream<
    'c,
    Result<sqlx::Either<<DB as Database>::QueryResult, <DB as Database>::Row>, sqlx::Error>,
>;

/// What one database does differently from the other.
pub trait Backend: Database {
    /// Opens a write transaction. SQLite takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so two writers never deadlock on an upgrade.
    const BEGIN_WRITE: &'static str;
    /// Whether one call may carry several statements with parameters.
    const MULTI_STATEMENT: bool;
    /// Whether INSERTs and UPDATEs may be members of a `WITH`
    /// (PostgreSQL's data-modifying CTEs), so that a chain of them is one
    /// statement and one round trip ([`Script::begin_chain`]). The posts'
    /// write path then writes a batch as one such statement; one of new
    /// tickets only is a transaction by itself, without BEGIN and COMMIT
    /// (`tickets/batch.rs`).
    const DML_IN_WITH: bool;
    /// Whether [`Backend::next_ids_sql`] answers one row, the first of a
    /// free range (true), or one row per reserved id.
    const CONTIGUOUS_IDS: bool;
    /// Appended to the outbox claim's row selection: PostgreSQL's
    /// `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each other's rows);
    /// empty on SQLite, whose single writer serialises claims.
    const SKIP_LOCKED: &'static str;
    /// Appended to a SELECT whose rows the transaction must hold until it
    /// ends: PostgreSQL's `FOR UPDATE` (a concurrent writer of those rows
    /// waits, or is waited for); empty on SQLite, where the write lock
    /// already excludes every other writer.
    const FOR_UPDATE: &'static str;
    /// Taken by a transaction just before it appends events and held to
    /// its commit, so that event ids become visible in id order (a reader
    /// resumes with `id > last`): PostgreSQL's `pg_advisory_xact_lock`;
    /// empty on SQLite, whose single writer commits in order already.
    const EVENT_ORDER_LOCK: &'static str;
    /// The id column of the search index's tables (`search.rs`): FTS5's
    /// `rowid` on SQLite, `id` on PostgreSQL.
    const SEARCH_ID: &'static str;
    /// How a bound string of words becomes a search `doc`, split around
    /// the bind: as it is for FTS5; PostgreSQL takes the words as lexemes,
    /// unparsed (`array_to_tsvector`).
    const SEARCH_DOC: (&'static str, &'static str);
    /// Between the words of a query that must all match, or any: FTS5's
    /// `AND`/`OR`, a `tsquery`'s `&`/`|`.
    const SEARCH_AND: &'static str;
    const SEARCH_OR: &'static str;

    /// Whether the index's writes also keep each row's words in
    /// `search_words` (SQLite: FTS5's contentless tables cannot give them
    /// back; PostgreSQL's `tsvector` can).
    const SEARCH_WORDS_KEPT: bool;

    /// A blob column read as text, split around the column, for a `LIKE`
    /// over raw mail (erasure): SQLite's `CAST(… AS TEXT)`, PostgreSQL's
    /// `encode(…, 'escape')` (bytes outside ASCII become `\ooo`).
    const BYTES_AS_TEXT: (&'static str, &'static str);

    /// `SELECT id FROM {table}` of the search index rows that match one
    /// bound query, split around the bind.
    fn search_match(table: &str) -> (String, &'static str);

    /// What follows the `INSERT INTO {table} (id, doc) VALUES …` of new
    /// words: nothing for FTS5 (the rows of one rowid are one document),
    /// PostgreSQL merges them into the row (`doc || excluded.doc`).
    fn search_upsert(table: &str) -> String;

    /// One word of a query: FTS5's `"word"` (`"word"*` for a prefix), a
    /// `tsquery`'s `'word'` (`'word':*`). Words are letters and digits only
    /// (src/search.rs), so the quotes never need escaping; anything else
    /// is refused.
    fn search_term(word: &str, prefix: bool) -> Option<String>;

    /// The words of the rows of index table `table` whose ids are in a
    /// list that follows, as one row and column `words`: a line per row,
    /// its id then its words, separated by spaces (several lines of one id
    /// together make its document); NULL when there is none. One row, not
    /// one per index row: each row a statement returns costs a trip
    /// between the database's thread and the caller. What a person's
    /// search ranks in Rust (`search/person.rs`).
    fn search_words(table: &str) -> String;

    /// The rows of a subquery (named `s`, following) as one text value: a
    /// JSON array of one array per row, of `columns` (its columns, joined
    /// by commas). A statement's rows each cost a trip between the
    /// database's thread and the caller; one value does not.
    fn json_rows(columns: &str) -> String;

    /// A query that reserves the next N ids of `table.column`, one row
    /// (`id`, and `k`: `name`) each, split around the bind of N:
    /// `(before, after)`. Several join into one statement by `UNION ALL`
    /// (no `ORDER BY`: the caller sorts).
    fn next_ids_sql(name: &str, table: &str, column: &str) -> (String, String);

    /// Runs a built query, statement results and rows as they come. (Here
    /// and not generic: only the concrete argument types shorten their
    /// lifetime to the borrow of the builder.)
    fn fetch_many<'c, 'a: 'c>(
        conn: &'c mut Self::Connection,
        query: &'c mut sqlx::QueryBuilder<'a, Self>,
    ) -> ResultStream<'c, Self>;

    /// Applies the pending migrations of this backend's schema, one
    /// process at a time: several may start together on one store.
    fn migrate(pool: &Pool<Self>) -> futures_util::future::BoxFuture<'_, Result<(), StoreError>>;
}

/// The store on one backend. `write` is the pool for write transactions:
/// on SQLite a single connection (SQLite has one writer; queuing in the pool
/// is cheaper than spinning on the lock), on PostgreSQL the same pool as
/// `read`.
pub struct SqlStore<DB: Database> {
    pub(super) read: Pool<DB>,
    pub(super) write: Pool<DB>,
    /// Queues by intake address, as found: queues change only by
    /// `sync_queue` (at start-up, from config), which empties it. Saves
    /// two reads per new ticket.
    pub(super) intake_queues: IntakeQueues,
    /// Wakes the event log's readers in this process after a commit that
    /// appended events ([`super::EventStore::event_signal`]).
    pub(super) events: EventSignal,
    /// The index's words a person's search reads (SQLite; see
    /// `search/cache.rs`).
    pub(super) words: super::search::WordCache,
    /// Recipients at their hourly cap: their new notifications are
    /// written due when it ends (`store/outbox/hold.rs`).
    pub(super) holds: super::outbox::RecipientHolds,
}

/// The cache of [`super::TicketStore::queue_by_intake`] hits (misses are not kept:
/// unknown addresses are unbounded).
#[derive(Default)]
pub(super) struct IntakeQueues(std::sync::RwLock<std::collections::HashMap<String, Queue>>);

impl IntakeQueues {
    pub(super) fn get(&self, address: &str) -> Option<Queue> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(address).cloned()
    }

    pub(super) fn put(&self, address: &str, queue: &Queue) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.insert(address.to_string(), queue.clone());
    }

    pub(super) fn clear(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

pub(super) const TICKET_COLUMNS: &str = "t.number, q.name AS queue, t.subject, t.status, t.assignee, \
     t.item_ref, t.item_title, t.item_url, t.auction_ref, t.auction_title, t.created_at, \
     t.updated_at, t.archived, t.deleted_at, t.waiting_since";
pub(super) const PARTICIPANT_COLUMNS: &str =
    "id, ticket, address, display_name, user_id, role, failing_since";
/// A message's columns, in the order of `MessageJson` (below).
pub(super) const MESSAGE_COLUMNS: &str = "id, ticket, author, direction, reply_text, html, raw_id, \
     message_id, matched_by, flags, auto, elided, created_at, policy_action, policy_hits, \
     redacted_text, masked_text, moderation, approved_as, signature";
/// A ticket someone is shown a message of: not one whose messages all wait
/// for a moderator or were rejected (a held new ticket is nobody's work).
/// The store keeps the flag (migration 0015: a trigger on `messages`).
pub(super) const SHOWN_TICKET: &str = "t.shown <> 0";

pub(super) fn get<'r, T, R>(row: &'r R, column: &str) -> Result<T, StoreError>
where
    R: Row,
    T: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    row.try_get(column).map_err(StoreError::from)
}

fn status_of(text: &str) -> Result<Status, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

fn role_of(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::Corrupt(format!("unknown role {text:?}")))
}

pub(super) fn ticket_of<R: Row>(row: &R) -> Result<Ticket, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(Ticket {
        number: get(row, "number")?,
        queue: get(row, "queue")?,
        subject: get(row, "subject")?,
        status: status_of(&get::<String, _>(row, "status")?)?,
        assignee: get(row, "assignee")?,
        item_ref: get(row, "item_ref")?,
        item_title: get(row, "item_title")?,
        item_url: get(row, "item_url")?,
        auction_ref: get(row, "auction_ref")?,
        auction_title: get(row, "auction_title")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        archived: get::<i64, _>(row, "archived")? != 0,
        deleted: get::<Option<i64>, _>(row, "deleted_at")?.is_some(),
        waiting_since: get(row, "waiting_since")?,
    })
}

pub(super) fn participant_of<R: Row>(row: &R) -> Result<Participant, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    Ok(Participant {
        id: get(row, "id")?,
        ticket: get(row, "ticket")?,
        address: get(row, "address")?,
        display_name: get(row, "display_name")?,
        user_id: get(row, "user_id")?,
        role: role_of(&get::<String, _>(row, "role")?)?,
        failing_since: get(row, "failing_since")?,
    })
}

pub(super) fn message_of<R: Row>(row: &R) -> Result<Message, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let moderation: String = get(row, "moderation")?;
    let approved_as: Option<String> = get(row, "approved_as")?;
    Ok(Message {
        id: get(row, "id")?,
        ticket: get(row, "ticket")?,
        author: get(row, "author")?,
        direction: direction_of(&get::<String, _>(row, "direction")?),
        reply_text: get(row, "reply_text")?,
        html: get(row, "html")?,
        raw_id: get(row, "raw_id")?,
        message_id: get(row, "message_id")?,
        matched_by: get(row, "matched_by")?,
        flags: flags_of(&get::<String, _>(row, "flags")?),
        auto: get(row, "auto")?,
        elided: get(row, "elided")?,
        signature: get(row, "signature")?,
        created_at: get(row, "created_at")?,
        policy_action: get(row, "policy_action")?,
        policy_hits: get(row, "policy_hits")?,
        redacted_text: get(row, "redacted_text")?,
        masked_text: get(row, "masked_text")?,
        moderation: moderation_of(&moderation, approved_as.as_deref())?,
    })
}

fn direction_of(text: &str) -> Direction {
    match text {
        "inbound" => Direction::Inbound,
        _ => Direction::Outbound,
    }
}

fn moderation_of(moderation: &str, approved_as: Option<&str>) -> Result<Moderation, StoreError> {
    Moderation::from_columns(moderation, approved_as).ok_or_else(|| {
        StoreError::Corrupt(format!("unknown moderation {moderation:?} {approved_as:?}"))
    })
}

/// Messages read as one value: [`Backend::json_rows`] of
/// [`MESSAGE_COLUMNS`] (a page's or a search's messages; every row a
/// statement returns is a trip from the database's thread, one value is
/// one).
pub(super) fn messages_of_json(json: Option<&str>) -> Result<Vec<Message>, StoreError> {
    let rows: Vec<MessageJson> = serde_json::from_str(json.unwrap_or("[]"))
        .map_err(|e| StoreError::Corrupt(format!("messages as JSON: {e}")))?;
    rows.into_iter().map(MessageJson::message).collect()
}

/// A message as [`messages_of_json`] reads it: one array of
/// [`MESSAGE_COLUMNS`] in this order (serde reads a struct from an array
/// field by field).
#[derive(serde::Deserialize)]
struct MessageJson {
    id: i64,
    ticket: i64,
    author: Option<i64>,
    direction: String,
    reply_text: String,
    html: Option<String>,
    raw_id: Option<i64>,
    message_id: Option<String>,
    matched_by: String,
    flags: String,
    auto: String,
    elided: String,
    created_at: i64,
    policy_action: String,
    policy_hits: String,
    redacted_text: Option<String>,
    masked_text: Option<String>,
    moderation: String,
    approved_as: Option<String>,
    signature: String,
}

impl MessageJson {
    fn message(self) -> Result<Message, StoreError> {
        Ok(Message {
            moderation: moderation_of(&self.moderation, self.approved_as.as_deref())?,
            direction: direction_of(&self.direction),
            flags: flags_of(&self.flags),
            id: self.id,
            ticket: self.ticket,
            author: self.author,
            reply_text: self.reply_text,
            html: self.html,
            raw_id: self.raw_id,
            message_id: self.message_id,
            matched_by: self.matched_by,
            auto: self.auto,
            elided: self.elided,
            signature: self.signature,
            created_at: self.created_at,
            policy_action: self.policy_action,
            policy_hits: self.policy_hits,
            redacted_text: self.redacted_text,
            masked_text: self.masked_text,
        })
    }
}

pub(super) fn flags_of(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

sql_impl! {
    impl SqlStore {
        /// A queue from its row (id, name, display_name), with its addresses.
        pub(super) async fn queue_of(
            &self,
            row: Option<DB::Row>,
        ) -> Result<Option<Queue>, StoreError> {
            let Some(row) = row else { return Ok(None) };
            let id: i64 = get(&row, "id")?;
            let mut queue = Queue {
                id,
                name: get(&row, "name")?,
                display_name: get(&row, "display_name")?,
                intake: Vec::new(),
                staff: Vec::new(),
            };
            let rows = sqlx::query(
                "SELECT kind, address FROM queue_addresses WHERE queue_id = $1 ORDER BY kind, address",
            )
            .bind(id)
            .fetch_all(&self.read)
            .await?;
            for row in rows {
                let kind: String = get(&row, "kind")?;
                let addr: String = get(&row, "address")?;
                if kind == "intake" {
                    queue.intake.push(addr)
                } else {
                    queue.staff.push(addr)
                }
            }
            Ok(Some(queue))
        }

        /// Stores the raw bytes once per sha256; returns the row id either way.
        pub(super) async fn insert_raw(
            conn: &mut DB::Connection,
            raw: &NewRaw,
            now: i64,
        ) -> Result<i64, StoreError> {
            let envelope_to = serde_json::to_string(&raw.envelope_to).expect("strings serialize");
            let inserted = sqlx::query(
                "INSERT INTO raw_messages (sha256, bytes, envelope_from, envelope_to, source, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sha256) DO NOTHING RETURNING id",
            )
            .bind(&raw.sha256[..])
            .bind(&raw.bytes[..])
            .bind(raw.envelope_from.as_deref())
            .bind(envelope_to.as_str())
            .bind(raw.source.as_str())
            .bind(now)
            .fetch_optional(&mut *conn)
            .await?;
            let row = match inserted {
                Some(row) => row,
                None => {
                    sqlx::query("SELECT id FROM raw_messages WHERE sha256 = $1")
                        .bind(&raw.sha256[..])
                        .fetch_one(&mut *conn)
                        .await?
                }
            };
            get(&row, "id")
        }

        /// Sets a ticket's status within a transaction, with its
        /// `status.changed` audit entry and its `ticket.status` event (naming
        /// `message` when a message moved it) when it changes, and files it as
        /// [`tickets::archived_on`] says (closing archives); returns the status
        /// it had. It appends an event: call it last before COMMIT.
        pub(super) async fn move_status(
            conn: &mut DB::Connection,
            now: i64,
            actor: &str,
            (ticket, message): (i64, Option<i64>),
            status: Status,
        ) -> Result<Status, StoreError> {
            let old: String = sqlx::query("SELECT status FROM tickets WHERE number = $1")
                .bind(ticket)
                .fetch_optional(&mut *conn)
                .await?
                .map(|row| get(&row, "status"))
                .transpose()?
                .ok_or_else(|| StoreError::NotFound(format!("ticket {ticket} does not exist")))?;
            let old = status_of(&old)?;
            if old != status {
                sqlx::query(
                    "UPDATE tickets SET status = $1, updated_at = $2, \
                     archived = COALESCE($4, archived) WHERE number = $3",
                )
                .bind(status.as_str())
                .bind(now)
                .bind(ticket)
                .bind(tickets::archived_on(old, status).map(i64::from))
                .execute(&mut *conn)
                .await?;
                let detail = serde_json::json!({ "from": old, "to": status });
                let at = (Some(ticket), message);
                Self::audit(conn, now, actor, "status.changed", at, &detail.to_string()).await?;
                let event = NewEvent {
                    kind: EventKind::TicketStatus,
                    ticket,
                    message,
                    actor: actor.to_string(),
                    data: detail,
                    audience: Audience::Ticket,
                };
                Self::append_events(conn, now, &[event]).await?;
            }
            Ok(old)
        }

        pub(super) async fn audit(
            conn: &mut DB::Connection,
            now: i64,
            actor: &str,
            action: &str,
            (ticket, message): (Option<i64>, Option<i64>),
            detail: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO audit_log (at, actor, action, ticket, message, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(now)
            .bind(actor)
            .bind(action)
            .bind(ticket)
            .bind(message)
            .bind(detail)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }

        /// Appends `events` to the event log in the caller's transaction: its
        /// last write before COMMIT (on PostgreSQL it takes the lock that
        /// orders event ids, held until the commit: nothing slow may follow).
        /// After the commit, call `self.events.committed()`. Every change a
        /// person could see appends its events here, in the transaction that
        /// makes it (src/store/events.rs; the kinds: docs/json.md "Events").
        pub(super) async fn append_events(
            conn: &mut DB::Connection,
            now: i64,
            events: &[NewEvent],
        ) -> Result<(), StoreError> {
            let mut script = Script::<DB>::new();
            Self::push_events(&mut script, now, events);
            script.run(conn).await?;
            Ok(())
        }

        /// [`Self::append_events`] as statements of a script (the posts' write
        /// path): push them last, just before its COMMIT. In a chain
        /// ([`Script::begin_chain`]) they are two members of its statement:
        /// the lock, computed once, and the INSERT, each of whose rows
        /// joins the lock's one row, so that no event id is drawn before
        /// the lock is held; there push them first, as the chain's members
        /// run last to first after the one the statement answers (PostgreSQL
        /// finishes a WITH's data-modifying members in reverse order), so
        /// that the lock is taken at the statement's end.
        pub(super) fn push_events<'a>(
            script: &mut Script<'a, DB>,
            now: i64,
            events: &'a [NewEvent],
        ) {
            if events.is_empty() {
                return;
            }
            const INSERT: &str =
                "INSERT INTO events (at, kind, ticket, message, actor, data, audience, person) ";
            let lock = match DB::EVENT_ORDER_LOCK {
                "" => None,
                lock => script.materialized(lock).or_else(|| {
                    script.statement(lock);
                    None
                }),
            };
            let q = match &lock {
                Some(_) => script.statement(&format!("{INSERT}SELECT v.* FROM (")).0,
                None => script.statement(INSERT).0,
            };
            q.push_values(events, |mut b, event| {
                let (audience, person) = event.audience.columns();
                b.push_bind(now)
                    .push_bind(event.kind.as_str())
                    .push_bind(event.ticket)
                    .push_bind(event.message)
                    .push_bind(event.actor.as_str())
                    .push_bind(event.data.to_string())
                    .push_bind(audience)
                    .push_bind(person);
            });
            if let Some(lock) = lock {
                q.push(format!(") AS v CROSS JOIN {lock}"));
            }
        }

        /// One notification row written in the caller's transaction: a fresh token
        /// and Message-ID for `participant`, the ID recorded as issued (a reply
        /// that references it threads), the row; its id. For the rows written one
        /// at a time (moderation, forwarding); intake writes its own in bulk.
        pub(super) async fn write_notification(
            conn: &mut DB::Connection,
            minter: &Minter,
            now: i64,
            row: NewNotification<'_>,
        ) -> Result<i64, StoreError> {
            let (token, _) = minter.reply_address(row.ticket, row.participant);
            let message_id = minter.message_id(&token);
            sqlx::query(
                "INSERT INTO issued_message_ids (message_id, ticket, participant, created_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(message_id.as_str())
            .bind(row.ticket)
            .bind(row.participant)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            let written = sqlx::query(
                "INSERT INTO outbox (ticket, message, participant, recipient, token, message_id, kind, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(row.ticket)
            .bind(row.message)
            .bind(row.participant)
            .bind(row.recipient)
            .bind(token.as_str())
            .bind(message_id.as_str())
            .bind(row.kind)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            get(&written, "id")
        }
    }
}

/// Statements run as one unit: on SQLite one call, elsewhere one by one,
/// except that a chain of INSERTs is one statement on PostgreSQL.
pub(super) struct Script<'a, DB: Database> {
    parts: Vec<QueryBuilder<'a, DB>>,
    statements: usize,
    chain: Option<Chain>,
}

/// An open chain ([`Script::begin_chain`]).
struct Chain {
    /// Members so far (`c0`, `c1`, …).
    members: usize,
    /// The member whose rows the chain's statement answers.
    rows_of: Option<usize>,
}

impl<'a, DB> Script<'a, DB>
where
    DB: Backend,
    DB::Arguments<'a>: Default,
{
    pub(super) fn new() -> Self {
        Script {
            parts: Vec::new(),
            statements: 0,
            chain: None,
        }
    }

    /// The statements started from here to [`Script::end_chain`] (INSERTs
    /// and UPDATEs that read nothing another one of them writes but its
    /// `RETURNING` rows, [`Script::member_name`]; foreign keys and AFTER
    /// triggers are checked at the statement's end, so they see every
    /// member's rows) become one statement where the backend allows it:
    /// on PostgreSQL `WITH c0 AS (INSERT …), c1 AS (INSERT …) SELECT …`,
    /// one round trip instead of one each. Their indices are then all the chain's, whose
    /// rows are those of the member that called [`Script::keep_rows`].
    /// Elsewhere nothing changes.
    pub(super) fn begin_chain(&mut self) {
        if DB::DML_IN_WITH {
            self.chain = Some(Chain {
                members: 0,
                rows_of: None,
            });
        }
    }

    /// In a chain, the statement started last is the one whose rows the
    /// chain answers (its `RETURNING`). Outside a chain nothing.
    pub(super) fn keep_rows(&mut self) {
        if let Some(chain) = &mut self.chain {
            chain.rows_of = chain.members.checked_sub(1);
        }
    }

    /// Closes the chain's statement.
    pub(super) fn end_chain(&mut self) {
        let Some(chain) = self.chain.take() else {
            return;
        };
        if chain.members == 0 {
            return;
        }
        let part = self.parts.last_mut().expect("a chain member");
        match chain.rows_of {
            Some(k) => part.push(format!(") SELECT * FROM c{k}")),
            None => part.push(") SELECT 1 WHERE false"),
        };
    }

    /// Whether a chain is open ([`Script::begin_chain`] on a backend that has them).
    pub(super) fn chained(&self) -> bool {
        self.chain.is_some()
    }

    /// The name of the chain's member started last (`c3`), which later
    /// members may read (its `RETURNING`); `None` outside a chain.
    pub(super) fn member_name(&self) -> Option<String> {
        let chain = self.chain.as_ref()?;
        Some(format!("c{}", chain.members.checked_sub(1)?))
    }

    /// In a chain, `sql` (a query with a side effect, such as taking a
    /// lock) as a member computed once, before any member that reads it
    /// gets its first row: `cN AS MATERIALIZED (sql)`; its name. Outside a
    /// chain `None`, and nothing is added.
    pub(super) fn materialized(&mut self, sql: &str) -> Option<String> {
        self.chain.as_ref()?;
        self.member(sql, "MATERIALIZED ");
        self.member_name()
    }

    /// Starts a statement; returns its builder and its index in the script.
    pub(super) fn statement(&mut self, sql: &str) -> (&mut QueryBuilder<'a, DB>, usize) {
        if self.chain.is_some() {
            self.member(sql, "");
            return (
                self.parts.last_mut().expect("just pushed"),
                self.statements - 1,
            );
        }
        match self.parts.last_mut() {
            Some(part) if DB::MULTI_STATEMENT => {
                part.push(";\n").push(sql);
            }
            _ => self.parts.push(QueryBuilder::new(sql)),
        }
        self.statements += 1;
        (
            self.parts.last_mut().expect("just pushed"),
            self.statements - 1,
        )
    }

    /// Adds member `cN AS {how}(sql` to the open chain.
    fn member(&mut self, sql: &str, how: &str) {
        let chain = self.chain.as_mut().expect("an open chain");
        if chain.members == 0 {
            self.parts
                .push(QueryBuilder::new(format!("WITH c0 AS {how}({sql}")));
            self.statements += 1;
        } else {
            let part = self.parts.last_mut().expect("a chain member");
            part.push(format!("), c{} AS {how}(", chain.members))
                .push(sql);
        }
        chain.members += 1;
    }

    /// Runs the script; returns the rows of each statement by its index.
    pub(super) async fn run(
        mut self,
        conn: &mut DB::Connection,
    ) -> Result<Vec<Vec<DB::Row>>, StoreError> {
        debug_assert!(self.chain.is_none(), "a chain left open");
        let mut groups: Vec<Vec<DB::Row>> = vec![Vec::new()];
        for part in &mut self.parts {
            let mut stream = DB::fetch_many(&mut *conn, part);
            while let Some(item) = stream.try_next().await? {
                match item {
                    Either::Right(row) => groups.last_mut().expect("one group").push(row),
                    Either::Left(_) => groups.push(Vec::new()),
                }
            }
        }
        groups.truncate(self.statements);
        groups.resize_with(self.statements, Vec::new);
        Ok(groups)
    }
}

/// Pushes `(a, b, c)` for a list of binds.
pub(super) fn push_list<'a, DB, T>(q: &mut QueryBuilder<'a, DB>, items: impl IntoIterator<Item = T>)
where
    DB: Database,
    T: 'a + Encode<'a, DB> + Type<DB>,
{
    q.push("(");
    let mut sep = q.separated(", ");
    for item in items {
        sep.push_bind(item);
    }
    sep.push_unseparated(")");
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    /// The files of `dir` and below that spell out the sqlx bounds, with
    /// how often.
    fn bound_lists(dir: &Path, found: &mut Vec<(String, usize)>) {
        for entry in std::fs::read_dir(dir).expect("src/store") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                bound_lists(&path, found);
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("source");
            // Split so that this line is not found itself.
            let needle = concat!("for<'c> &'c mut DB::", "Connection:");
            let times = text.matches(needle).count();
            if times > 0 {
                found.push((path.display().to_string(), times));
            }
        }
    }

    /// The sqlx bounds are written once, in `sql_impl!`: a new concern
    /// wraps its impl in the macro rather than copying the list (or a
    /// shorter one) onto an impl or a function.
    #[test]
    fn the_sqlx_bounds_are_written_once() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut found = Vec::new();
        bound_lists(&dir, &mut found);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(
            found[0].0.ends_with("sql.rs") && found[0].1 == 1,
            "{found:?}"
        );
        let uses = std::fs::read_to_string(dir.join("conversations.rs")).expect("source");
        assert!(uses.contains("sql_impl! {"), "the concerns use the macro");
    }
}
