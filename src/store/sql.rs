//! The store written once for every sqlx backend.
//!
//! Both schemas have the same tables and columns, integers are 64-bit, times
//! are Unix milliseconds and placeholders are `$N` (SQLite reads them too),
//! so one body of SQL serves both. What differs lives in [`Backend`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::batch_reads::BatchReads;
use super::outbox::{OutboxRow, OutboxState};
use super::{
    Assign, Assignment, AttachmentInfo, AuditEntry, Bounced, Forward, Forwarding, ImapCursor,
    Message, Moderate, Moderation, NewRaw, Notification, Participant, Post, Posted, Quarantined,
    Queue, Store, StoreError, Ticket, TicketFilter, now_ms,
};
use crate::address;
use crate::config::QueueConfig;
use crate::store::Direction;
use crate::tickets::{Role, Status};
use crate::token::Minter;

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
    /// Whether [`Backend::next_ids_sql`] answers one row, the first of a
    /// free range (true), or one row per reserved id.
    const CONTIGUOUS_IDS: bool;
    /// Appended to the outbox claim's row selection: PostgreSQL's
    /// `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each other's rows);
    /// empty on SQLite, whose single writer serialises claims.
    const SKIP_LOCKED: &'static str;

    /// A query that reserves the next N ids of `table.column`, one row
    /// (`id`) each, split around the bind of N: `(before, after)`.
    fn next_ids_sql(table: &str, column: &str) -> (String, String);

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
}

/// The cache of [`Store::queue_by_intake`] hits (misses are not kept:
/// unknown addresses are unbounded).
#[derive(Default)]
pub(super) struct IntakeQueues(std::sync::RwLock<std::collections::HashMap<String, Queue>>);

impl IntakeQueues {
    fn get(&self, address: &str) -> Option<Queue> {
        let map = self.0.read().unwrap_or_else(|e| e.into_inner());
        map.get(address).cloned()
    }

    fn put(&self, address: &str, queue: &Queue) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        map.insert(address.to_string(), queue.clone());
    }

    fn clear(&self) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

pub(super) const TICKET_COLUMNS: &str = "t.number, q.name AS queue, t.subject, t.status, t.assignee, \
     t.item_ref, t.item_title, t.auction_ref, t.auction_title, t.created_at, t.updated_at, \
     t.archived, t.deleted_at";
/// The most Message-IDs of one References header looked up.
const MAX_LOOKUP: usize = 100;
pub(super) const PARTICIPANT_COLUMNS: &str =
    "id, ticket, address, display_name, role, failing_since";
pub(super) const MESSAGE_COLUMNS: &str = "id, ticket, author, direction, reply_text, html, raw_id, \
     message_id, matched_by, flags, auto, elided, created_at, policy_action, policy_hits, \
     redacted_text, masked_text, moderation, approved_as";
/// A ticket someone is shown a message of: not one whose messages all wait
/// for a moderator or were rejected (a held new ticket is nobody's work).
pub(super) const SHOWN_TICKET: &str = "EXISTS (SELECT 1 FROM messages m WHERE m.ticket = t.number \
     AND m.moderation NOT IN ('held', 'rejected'))";

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
        auction_ref: get(row, "auction_ref")?,
        auction_title: get(row, "auction_title")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        archived: get::<i64, _>(row, "archived")? != 0,
        deleted: get::<Option<i64>, _>(row, "deleted_at")?.is_some(),
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
        direction: match get::<String, _>(row, "direction")?.as_str() {
            "inbound" => Direction::Inbound,
            _ => Direction::Outbound,
        },
        reply_text: get(row, "reply_text")?,
        html: get(row, "html")?,
        raw_id: get(row, "raw_id")?,
        message_id: get(row, "message_id")?,
        matched_by: get(row, "matched_by")?,
        flags: flags_of(&get::<String, _>(row, "flags")?),
        auto: get(row, "auto")?,
        elided: get(row, "elided")?,
        created_at: get(row, "created_at")?,
        policy_action: get(row, "policy_action")?,
        policy_hits: get(row, "policy_hits")?,
        redacted_text: get(row, "redacted_text")?,
        masked_text: get(row, "masked_text")?,
        moderation: Moderation::from_columns(&moderation, approved_as.as_deref()).ok_or_else(
            || StoreError::Corrupt(format!("unknown moderation {moderation:?} {approved_as:?}")),
        )?,
    })
}

fn flags_of(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_string).collect()
}

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    /// A queue from its row (id, name, display_name), with its addresses.
    async fn queue_of(&self, row: Option<DB::Row>) -> Result<Option<Queue>, StoreError> {
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
}

// The bounds every query needs: the connection executes, arguments bind, and
// the column types encode and decode on this backend.
#[async_trait]
impl<DB> Store for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> String: Encode<'q, DB>,
    for<'q> Vec<u8>: Decode<'q, DB> + Type<DB>,
    for<'q> DB::Arguments<'q>: Default,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    async fn migrate(&self) -> Result<(), StoreError> {
        DB::migrate(&self.write).await
    }

    async fn sync_queue(&self, queue: &QueueConfig) -> Result<Queue, StoreError> {
        let display = if queue.display_name.is_empty() {
            &queue.name
        } else {
            &queue.display_name
        };
        let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO queues (name, display_name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name RETURNING id",
        )
        .bind(queue.name.as_str())
        .bind(display.as_str())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        sqlx::query("DELETE FROM queue_addresses WHERE queue_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for (kind, list) in [("intake", &queue.intake), ("staff", &queue.staff)] {
            for addr in list {
                let addr = address::normalize(addr);
                if kind == "intake" {
                    // An intake address belongs to one queue: it moves here.
                    sqlx::query(
                        "DELETE FROM queue_addresses WHERE kind = 'intake' AND address = $1",
                    )
                    .bind(addr.as_str())
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO queue_addresses (queue_id, kind, address) VALUES ($1, $2, $3) \
                     ON CONFLICT (queue_id, kind, address) DO NOTHING",
                )
                .bind(id)
                .bind(kind)
                .bind(addr.as_str())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        self.intake_queues.clear();
        self.queue(&queue.name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("queue {} vanished", queue.name)))
    }

    async fn queue(&self, name: &str) -> Result<Option<Queue>, StoreError> {
        let row = sqlx::query("SELECT id, name, display_name FROM queues WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.read)
            .await?;
        self.queue_of(row).await
    }

    async fn queue_by_intake(&self, addr: &str) -> Result<Option<Queue>, StoreError> {
        if let Some(queue) = self.intake_queues.get(addr) {
            return Ok(Some(queue));
        }
        let row = sqlx::query(
            "SELECT q.id, q.name, q.display_name FROM queue_addresses a JOIN queues q ON q.id = a.queue_id \
             WHERE a.kind = 'intake' AND a.address = $1",
        )
        .bind(addr)
        .fetch_optional(&self.read)
        .await?;
        let queue = self.queue_of(row).await?;
        if let Some(queue) = &queue {
            self.intake_queues.put(addr, queue);
        }
        Ok(queue)
    }

    async fn participant_with_ticket(
        &self,
        id: i64,
    ) -> Result<Option<(Participant, Ticket)>, StoreError> {
        let sql = format!(
            "SELECT p.id, p.ticket, p.address, p.display_name, p.role, p.failing_since, {TICKET_COLUMNS} \
             FROM participants p JOIN tickets t ON t.number = p.ticket JOIN queues q ON q.id = t.queue_id \
             WHERE p.id = $1"
        );
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| Ok((participant_of(&row)?, ticket_of(&row)?)))
            .transpose()
    }

    async fn ticket(&self, number: i64) -> Result<Option<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id WHERE t.number = $1"
        );
        let row = sqlx::query(&sql)
            .bind(number)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| ticket_of(&row)).transpose()
    }

    async fn participant_by_address(
        &self,
        ticket: i64,
        addr: &str,
    ) -> Result<Option<Participant>, StoreError> {
        let sql = format!(
            "SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE ticket = $1 AND address = $2"
        );
        let row = sqlx::query(&sql)
            .bind(ticket)
            .bind(addr)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| participant_of(&row)).transpose()
    }

    async fn ticket_by_issued_id(&self, message_ids: &[String]) -> Result<Option<i64>, StoreError> {
        // One query, however long the References header: the nearest
        // MAX_LOOKUP ids, the first of them that is ours wins.
        let ids = &message_ids[..message_ids.len().min(MAX_LOOKUP)];
        if ids.is_empty() {
            return Ok(None);
        }
        let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT message_id, ticket FROM issued_message_ids WHERE message_id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.read).await?;
        let mut found = std::collections::HashMap::new();
        for row in &rows {
            found.insert(
                get::<String, _>(row, "message_id")?,
                get::<i64, _>(row, "ticket")?,
            );
        }
        Ok(ids.iter().find_map(|id| found.get(id).copied()))
    }

    async fn tickets_by_inbound_id(
        &self,
        message_ids: &[String],
        sender: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        // As above: one query for the nearest MAX_LOOKUP ids. The sender's
        // participation is part of the query, so a stranger's guess finds
        // nothing (and reads nothing more). `IS NOT NULL` and the direction
        // let both backends use the partial index of migration 0009.
        let ids = &message_ids[..message_ids.len().min(MAX_LOOKUP)];
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (2..ids.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT DISTINCT m.message_id, m.ticket FROM messages m \
             JOIN participants p ON p.ticket = m.ticket AND p.address = $1 \
             JOIN tickets t ON t.number = m.ticket AND t.deleted_at IS NULL \
             WHERE m.direction = 'inbound' AND m.message_id IS NOT NULL \
             AND m.message_id IN ({}) ORDER BY m.ticket LIMIT {MAX_LOOKUP}",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(sender);
        for id in ids {
            query = query.bind(id.as_str());
        }
        let rows = query.fetch_all(&self.read).await?;
        rows.iter()
            .map(|row| Ok((get(row, "message_id")?, get(row, "ticket")?)))
            .collect()
    }

    async fn has_message(&self, ticket: i64, dedupe_key: &str) -> Result<bool, StoreError> {
        let row =
            sqlx::query("SELECT 1 AS one FROM messages WHERE ticket = $1 AND dedupe_key = $2")
                .bind(ticket)
                .bind(dedupe_key)
                .fetch_optional(&self.read)
                .await?;
        Ok(row.is_some())
    }

    async fn ticket_by_origin(
        &self,
        queue_id: i64,
        origin_key: &str,
    ) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT number FROM tickets WHERE queue_id = $1 AND origin_key = $2")
            .bind(queue_id)
            .bind(origin_key)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| get(&row, "number")).transpose()
    }

    async fn post(&self, post: &Post, minter: &Minter) -> Result<Posted, StoreError> {
        let mut posted = Self::write_posts(&self.write, std::slice::from_ref(post), minter).await?;
        Ok(posted.pop().expect("one result per post"))
    }

    async fn post_many(&self, posts: &[Post], minter: &Minter) -> Result<Vec<Posted>, StoreError> {
        Self::write_posts(&self.write, posts, minter).await
    }

    async fn quarantine(
        &self,
        raw: &NewRaw,
        reason: &str,
        detail: &str,
    ) -> Result<i64, StoreError> {
        let now = now_ms();
        let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
        let raw_id = insert_raw::<DB>(&mut tx, raw, now).await?;
        // The same message quarantined again keeps its one entry.
        let existing = sqlx::query("SELECT id FROM quarantine WHERE raw_id = $1")
            .bind(raw_id)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(row) = existing {
            tx.rollback().await?;
            return get(&row, "id");
        }
        let id: i64 = sqlx::query(
            "INSERT INTO quarantine (raw_id, reason, detail, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(raw_id)
        .bind(reason)
        .bind(detail)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        tx.commit().await?;
        Ok(id)
    }

    async fn assign(&self, request: &Assign) -> Result<Assignment, StoreError> {
        super::assign::assign(self, request).await
    }

    async fn forward(&self, request: &Forward, minter: &Minter) -> Result<Forwarding, StoreError> {
        super::forward::forward(self, request, minter).await
    }

    async fn pool(&self, queue: Option<&str>) -> Result<Vec<Ticket>, StoreError> {
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
             WHERE t.assignee IS NULL AND t.deleted_at IS NULL \
             AND t.status NOT IN ('resolved', 'closed') AND ($1 = '' OR q.name = $1) \
             AND {SHOWN_TICKET} ORDER BY t.created_at, t.number"
        );
        let rows = sqlx::query(&sql)
            .bind(queue.unwrap_or(""))
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(ticket_of).collect()
    }

    async fn set_status(
        &self,
        ticket: i64,
        status: Status,
        actor: &str,
    ) -> Result<Status, StoreError> {
        let now = now_ms();
        let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
        let old = move_status::<DB>(&mut tx, now, actor, (ticket, None), status).await?;
        tx.commit().await?;
        Ok(old)
    }

    async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError> {
        let (from, to) = filter.created.unwrap_or((i64::MIN, i64::MAX));
        let shown = match filter.include_held {
            true => String::new(),
            false => format!("AND {SHOWN_TICKET} "),
        };
        let sql = format!(
            "SELECT {TICKET_COLUMNS} FROM tickets t JOIN queues q ON q.id = t.queue_id \
             WHERE t.deleted_at IS NULL AND ($1 = '' OR t.status = $1) AND ($2 = '' OR q.name = $2) \
             AND t.created_at >= $3 AND t.created_at < $4 {shown}ORDER BY t.number DESC LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(filter.status.map_or("", Status::as_str))
            .bind(filter.queue.as_deref().unwrap_or(""))
            .bind(from)
            .bind(to)
            .bind(if filter.limit > 0 {
                filter.limit
            } else {
                i64::MAX
            })
            .fetch_all(&self.read)
            .await?;
        rows.iter().map(ticket_of).collect()
    }

    async fn participants(&self, ticket: i64) -> Result<Vec<Participant>, StoreError> {
        let sql =
            format!("SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE ticket = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(ticket).fetch_all(&self.read).await?;
        rows.iter().map(participant_of).collect()
    }

    async fn messages(&self, ticket: i64) -> Result<Vec<Message>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket = $1 ORDER BY id");
        let rows = sqlx::query(&sql).bind(ticket).fetch_all(&self.read).await?;
        rows.iter().map(message_of).collect()
    }

    async fn message(&self, id: i64) -> Result<Option<Message>, StoreError> {
        let sql = format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.as_ref().map(message_of).transpose()
    }

    async fn held(&self) -> Result<Vec<Message>, StoreError> {
        let sql =
            format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE moderation = 'held' ORDER BY id");
        let rows = sqlx::query(&sql).fetch_all(&self.read).await?;
        rows.iter().map(message_of).collect()
    }

    async fn moderated(&self) -> Result<Vec<Message>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE moderation IN \
             ('approved', 'approved_redacted', 'rejected') ORDER BY id"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.read).await?;
        rows.iter().map(message_of).collect()
    }

    async fn moderate(&self, m: &Moderate, minter: &Minter) -> Result<Vec<i64>, StoreError> {
        super::moderation::moderate(self, m, minter).await
    }

    async fn notifications(&self, ticket: i64) -> Result<Vec<Notification>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, ticket, message, participant, recipient, token, message_id, kind, state, \
             created_at FROM outbox WHERE ticket = $1 ORDER BY id",
        )
        .bind(ticket)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Notification {
                    id: get(row, "id")?,
                    ticket: get(row, "ticket")?,
                    message: get(row, "message")?,
                    participant: get(row, "participant")?,
                    recipient: get(row, "recipient")?,
                    token: get(row, "token")?,
                    message_id: get(row, "message_id")?,
                    kind: get(row, "kind")?,
                    state: get(row, "state")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn claim_outbox(
        &self,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.claim_outbox_rows(now, lease_until, limit).await
    }

    async fn outbox_sent(&self, id: i64, reply: &str, now: i64) -> Result<bool, StoreError> {
        self.record_outbox_sent(id, reply, now).await
    }

    async fn outbox_sent_many(
        &self,
        sent: &[(i64, String)],
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        self.record_outbox_sent_many(sent, now).await
    }

    async fn outbox_deferred(
        &self,
        id: i64,
        reply: &str,
        next_attempt_at: i64,
        expire_before: i64,
    ) -> Result<Option<OutboxState>, StoreError> {
        self.record_outbox_deferred(id, reply, next_attempt_at, expire_before)
            .await
    }

    async fn outbox_failed(&self, id: i64, reply: &str) -> Result<bool, StoreError> {
        self.record_outbox_failed(id, reply).await
    }

    async fn release_outbox(&self, id: i64) -> Result<(), StoreError> {
        self.release_outbox_row(id).await
    }

    async fn outbox(
        &self,
        state: Option<OutboxState>,
        limit: i64,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_rows(state, limit).await
    }

    async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        self.outbox_row_by_id(id).await
    }

    async fn retry_outbox(&self, id: i64, now: i64) -> Result<(), StoreError> {
        self.retry_outbox_row(id, now).await
    }

    async fn outbox_last_sent(
        &self,
        ticket: i64,
        participant: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.last_sent_at(ticket, participant).await
    }

    async fn outbox_sent_since(
        &self,
        recipient: &str,
        since: i64,
    ) -> Result<(i64, Option<i64>), StoreError> {
        self.sent_since(recipient, since).await
    }

    async fn outbox_postpone(&self, id: i64, until: i64) -> Result<(), StoreError> {
        self.postpone_row(id, until).await
    }

    async fn outbox_coalesce(&self, rows: &[i64], into: i64) -> Result<(), StoreError> {
        self.coalesce_rows(rows, into).await
    }

    async fn outbox_coalesced(&self, carrier: i64) -> Result<Vec<OutboxRow>, StoreError> {
        self.coalesced_rows(carrier).await
    }

    async fn outbox_settle_coalesced(&self, carrier: i64) -> Result<usize, StoreError> {
        self.settle_coalesced_rows(carrier).await
    }

    async fn batch_reads(
        &self,
        rows: &[OutboxRow],
        references: i64,
    ) -> Result<BatchReads, StoreError> {
        self.read_batch(rows, references).await
    }

    async fn thread_ids(&self, row: &OutboxRow, limit: i64) -> Result<Vec<String>, StoreError> {
        self.thread_message_ids(row, limit).await
    }

    async fn audit(&self, ticket: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT at, actor, action, ticket, message, detail FROM audit_log WHERE ticket = $1 ORDER BY id",
        )
        .bind(ticket)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = get(row, "detail")?;
                Ok(AuditEntry {
                    at: get(row, "at")?,
                    actor: get(row, "actor")?,
                    action: get(row, "action")?,
                    ticket: get(row, "ticket")?,
                    message: get(row, "message")?,
                    detail: serde_json::from_str(&detail)
                        .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
                })
            })
            .collect()
    }

    async fn attachments(&self, ticket: i64) -> Result<Vec<AttachmentInfo>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.message, a.filename, a.content_type, a.size, a.sha256, a.content_id, a.inline, \
             a.flags FROM message_attachments a JOIN messages m ON m.id = a.message \
             WHERE m.ticket = $1 ORDER BY a.id",
        )
        .bind(ticket)
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AttachmentInfo {
                    message: get(row, "message")?,
                    filename: get(row, "filename")?,
                    content_type: get(row, "content_type")?,
                    size: get(row, "size")?,
                    sha256: get(row, "sha256")?,
                    content_id: get(row, "content_id")?,
                    inline: get::<i64, _>(row, "inline")? != 0,
                    flags: flags_of(&get::<String, _>(row, "flags")?),
                })
            })
            .collect()
    }

    async fn attachment_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM attachments WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| get(&row, "bytes")).transpose()
    }

    async fn record_bounce(
        &self,
        notification: i64,
        raw: &NewRaw,
        detail: &str,
    ) -> Result<Option<Bounced>, StoreError> {
        let now = now_ms();
        let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
        let row = sqlx::query("SELECT ticket, participant, recipient FROM outbox WHERE id = $1")
            .bind(notification)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let bounced = Bounced {
            notification,
            ticket: get(&row, "ticket")?,
            participant: get(&row, "participant")?,
            address: get(&row, "recipient")?,
        };
        sqlx::query("UPDATE outbox SET state = 'failed', last_error = $1 WHERE id = $2")
            .bind(detail)
            .bind(notification)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE participants SET failing_since = COALESCE(failing_since, $1), \
             failing_reason = $2 WHERE id = $3",
        )
        .bind(now)
        .bind(detail)
        .bind(bounced.participant)
        .execute(&mut *tx)
        .await?;
        // The bounce itself is kept, visible to admins with the quarantine.
        let raw_id = insert_raw::<DB>(&mut tx, raw, now).await?;
        sqlx::query(
            "INSERT INTO quarantine (raw_id, reason, detail, created_at) SELECT $1, 'bounce', $2, $3 \
             WHERE NOT EXISTS (SELECT 1 FROM quarantine WHERE raw_id = $1)",
        )
        .bind(raw_id)
        .bind(detail)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let audit_detail = serde_json::json!({
            "notification": notification,
            "participant": bounced.participant,
            "address": bounced.address,
            "detail": detail,
        })
        .to_string();
        audit::<DB>(
            &mut tx,
            now,
            "intake",
            "address.bounced",
            (Some(bounced.ticket), None),
            &audit_detail,
        )
        .await?;
        tx.commit().await?;
        Ok(Some(bounced))
    }

    async fn quarantined(&self) -> Result<Vec<Quarantined>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, raw_id, reason, detail, created_at FROM quarantine ORDER BY id",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Quarantined {
                    id: get(row, "id")?,
                    raw_id: get(row, "raw_id")?,
                    reason: get(row, "reason")?,
                    detail: get(row, "detail")?,
                    created_at: get(row, "created_at")?,
                })
            })
            .collect()
    }

    async fn raw_bytes(&self, raw_id: i64) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM raw_messages WHERE id = $1")
            .bind(raw_id)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| get::<Vec<u8>, _>(&row, "bytes")).transpose()
    }

    async fn raw_count(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT count(*) AS n FROM raw_messages")
            .fetch_one(&self.read)
            .await?;
        get(&row, "n")
    }

    async fn imap_cursor(&self, mailbox: &str) -> Result<Option<ImapCursor>, StoreError> {
        let row = sqlx::query("SELECT uidvalidity, last_uid FROM imap_cursors WHERE mailbox = $1")
            .bind(mailbox)
            .fetch_optional(&self.read)
            .await?;
        row.map(|row| {
            Ok(ImapCursor {
                uidvalidity: get(&row, "uidvalidity")?,
                last_uid: get(&row, "last_uid")?,
            })
        })
        .transpose()
    }

    async fn set_imap_cursor(&self, mailbox: &str, cursor: ImapCursor) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO imap_cursors (mailbox, uidvalidity, last_uid, updated_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (mailbox) DO UPDATE SET \
             last_uid = CASE WHEN imap_cursors.uidvalidity = excluded.uidvalidity \
                 AND imap_cursors.last_uid > excluded.last_uid \
                 THEN imap_cursors.last_uid ELSE excluded.last_uid END, \
             uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at",
        )
        .bind(mailbox)
        .bind(cursor.uidvalidity)
        .bind(cursor.last_uid)
        .bind(now_ms())
        .execute(&self.write)
        .await?;
        Ok(())
    }
}

/// Stores the raw bytes once per sha256; returns the row id either way.
async fn insert_raw<DB>(
    conn: &mut DB::Connection,
    raw: &NewRaw,
    now: i64,
) -> Result<i64, StoreError>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q [u8]: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
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
/// `status.changed` audit entry (naming `message` when a message moved it)
/// when it changes; returns the status it had.
pub(super) async fn move_status<DB>(
    conn: &mut DB::Connection,
    now: i64,
    actor: &str,
    (ticket, message): (i64, Option<i64>),
    status: Status,
) -> Result<Status, StoreError>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
{
    let old: String = sqlx::query("SELECT status FROM tickets WHERE number = $1")
        .bind(ticket)
        .fetch_optional(&mut *conn)
        .await?
        .map(|row| get(&row, "status"))
        .transpose()?
        .ok_or_else(|| StoreError::NotFound(format!("ticket {ticket} does not exist")))?;
    let old = status_of(&old)?;
    if old != status {
        sqlx::query("UPDATE tickets SET status = $1, updated_at = $2 WHERE number = $3")
            .bind(status.as_str())
            .bind(now)
            .bind(ticket)
            .execute(&mut *conn)
            .await?;
        let detail = serde_json::json!({ "from": old, "to": status }).to_string();
        let at = (Some(ticket), message);
        audit::<DB>(conn, now, actor, "status.changed", at, &detail).await?;
    }
    Ok(old)
}

pub(super) async fn audit<DB>(
    conn: &mut DB::Connection,
    now: i64,
    actor: &str,
    action: &str,
    (ticket, message): (Option<i64>, Option<i64>),
    detail: &str,
) -> Result<(), StoreError>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
{
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
