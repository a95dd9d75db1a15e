//! Tickets: queues, tickets, their participants and messages, and every
//! change to them. Each change is one write transaction: a message, its
//! ticket change, its audit entry and its notification rows commit
//! together or not at all ([`TicketStore::post`], written in `batch.rs`;
//! [`TicketStore::assign`], `assign.rs`; [`TicketStore::forward`],
//! `forward.rs`).

mod assign;
mod batch;
mod forward;
mod post;

use crate::store::sql::sql_impl;
use async_trait::async_trait;
use serde::Serialize;
use sqlx::Row;

use super::sql::{
    MESSAGE_COLUMNS, PARTICIPANT_COLUMNS, SHOWN_TICKET, TICKET_COLUMNS, flags_of, get, message_of,
    participant_of, ticket_of,
};
use super::{Direction, Moderation, StoreError, now_ms};
use crate::address;
use crate::config::QueueConfig;
use crate::tickets::{Role, Status};
use crate::token::Minter;

pub use assign::{Assign, Assignment};
pub use forward::{Forward, Forwarding};
pub use post::{
    AfterHours, AutoReplies, NewAttachment, NewParticipant, NewTicket, PolicyRecord, Post, Posted,
    Target,
};

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
    /// The listing's page on the marketplace.
    pub item_url: Option<String>,
    pub auction_ref: Option<String>,
    pub auction_title: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub archived: bool,
    pub deleted: bool,
    /// Since when it waits on the seller side (Unix ms; migration 0019):
    /// its status is `open` or `awaiting_seller`. Not in the JSON formats.
    #[serde(skip)]
    pub waiting_since: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Participant {
    pub id: i64,
    pub ticket: i64,
    pub address: String,
    pub display_name: Option<String>,
    /// The marketplace's own id of the person, when it gave one.
    pub user_id: Option<String>,
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
    /// The signature ([`crate::intake::reply::Reply::signature`]): the
    /// closing `reply_text` ends with, then what was cut under a delimiter
    /// or as the mail client's sign-off. Empty without one.
    pub signature: String,
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

/// Prints a JSON text as the JSON it holds.
fn as_json<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    serde::Serialize::serialize(&value, s)
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

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub ticket: Option<i64>,
    pub message: Option<i64>,
    pub detail: serde_json::Value,
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

#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Creates or updates a queue from config; its addresses become exactly
    /// the configured ones.
    async fn sync_queue(&self, queue: &QueueConfig) -> Result<Queue, StoreError>;

    async fn queue(&self, name: &str) -> Result<Option<Queue>, StoreError>;

    /// The queue whose intake address is `address` (normalized).
    async fn queue_by_intake(&self, address: &str) -> Result<Option<Queue>, StoreError>;

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

    /// Stores a message on a ticket (opening it when new), its raw mail, the
    /// status change, audit and notifications, in one transaction.
    async fn post(&self, post: &Post, minter: &Minter) -> Result<Posted, StoreError>;

    /// Stores several posts in one transaction (group commit: one disk
    /// flush for all). A duplicate among them is skipped alone; any other
    /// failure fails them all and nothing is written.
    async fn post_many(&self, posts: &[Post], minter: &Minter) -> Result<Vec<Posted>, StoreError>;

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

    async fn tickets(&self, filter: &TicketFilter) -> Result<Vec<Ticket>, StoreError>;

    async fn participants(&self, ticket: i64) -> Result<Vec<Participant>, StoreError>;

    async fn messages(&self, ticket: i64) -> Result<Vec<Message>, StoreError>;

    async fn message(&self, id: i64) -> Result<Option<Message>, StoreError>;

    async fn audit(&self, ticket: i64) -> Result<Vec<AuditEntry>, StoreError>;

    async fn attachments(&self, ticket: i64) -> Result<Vec<AttachmentInfo>, StoreError>;

    async fn attachment_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

sql_impl! {
    #[async_trait]
    impl TicketStore for SqlStore {
        async fn sync_queue(&self, queue: &QueueConfig) -> Result<Queue, StoreError> {
            let display = queue.shown_name();
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let id: i64 = sqlx::query(
                "INSERT INTO queues (name, display_name, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET display_name = excluded.display_name RETURNING id",
            )
            .bind(queue.name.as_str())
            .bind(display)
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

        async fn participant_with_ticket(
            &self,
            id: i64,
        ) -> Result<Option<(Participant, Ticket)>, StoreError> {
            let sql = format!(
                "SELECT p.id, p.ticket, p.address, p.display_name, p.user_id, p.role, p.failing_since, {TICKET_COLUMNS} \
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

        async fn post(&self, post: &Post, minter: &Minter) -> Result<Posted, StoreError> {
            let posts = std::slice::from_ref(post);
            let mut posted = Self::write_posts(&self.write, posts, minter, &self.holds).await?;
            self.events.committed();
            Ok(posted.pop().expect("one result per post"))
        }

        async fn post_many(
            &self,
            posts: &[Post],
            minter: &Minter,
        ) -> Result<Vec<Posted>, StoreError> {
            let posted = Self::write_posts(&self.write, posts, minter, &self.holds).await?;
            self.events.committed();
            Ok(posted)
        }

        async fn assign(&self, request: &Assign) -> Result<Assignment, StoreError> {
            self.assign_ticket(request).await
        }

        async fn forward(
            &self,
            request: &Forward,
            minter: &Minter,
        ) -> Result<Forwarding, StoreError> {
            self.forward_ticket(request, minter).await
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
            let old = Self::move_status(&mut tx, now, actor, (ticket, None), status).await?;
            tx.commit().await?;
            self.events.committed();
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
            let sql = format!(
                "SELECT {PARTICIPANT_COLUMNS} FROM participants WHERE ticket = $1 ORDER BY id"
            );
            let rows = sqlx::query(&sql).bind(ticket).fetch_all(&self.read).await?;
            rows.iter().map(participant_of).collect()
        }

        async fn messages(&self, ticket: i64) -> Result<Vec<Message>, StoreError> {
            let sql =
                format!("SELECT {MESSAGE_COLUMNS} FROM messages WHERE ticket = $1 ORDER BY id");
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
    }
}
