//! The conversation list and unread counts: the reads behind
//! `GET /api/v1/conversations` and `GET /api/v1/unread`, each a constant
//! number of statements whatever the page holds (never one per row).
//!
//! Who sees which ticket and message is [`crate::access`]'s rule; the SQL
//! here follows it (tests/store/conversations.rs checks that both agree):
//!
//! - a person sees the tickets they sit in (a participant row by address)
//!   or serve (a staff address of the ticket's queue), a deleted one only
//!   from the seller side ([`crate::access::access`]);
//! - of a message, a person sees their own and the shown ones (neither
//!   held nor rejected); the marketplace the shown ones; a moderator all
//!   ([`crate::access::message`]);
//! - a message is unread for a person when it is after their read horizon
//!   (`read_markers`, src/store/reads.rs), shown, and not theirs
//!   ([`crate::access::counts_as_unread`]): mail that arrived counts like
//!   text written in parley; their own messages never do.
//!
//! The list is by recency: `updated_at` (the last activity: a message, a
//! status, an assignment; filing is not activity), then the number, both
//! descending; a page ends where the next begins ([`ConversationFilter::after`]).

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::sql::{MESSAGE_COLUMNS, SHOWN_TICKET, TICKET_COLUMNS, get, messages_of_json, ticket_of};
use super::{Message, StoreError, Ticket};
use crate::access::Viewer;
use crate::tickets::{Role, Status};

/// What to list (every field narrows; `None`: any).
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    /// A queue by name.
    pub queue: Option<String>,
    pub assignee: Option<String>,
    /// Tickets this address sits in (normalized).
    pub participant: Option<String>,
    pub status: Option<Status>,
    /// Created within `[from, to)`, Unix ms.
    pub created: Option<(i64, i64)>,
    /// A listing's reference (`item_ref`).
    pub listing: Option<String>,
    pub auction: Option<String>,
    /// Archived ones only (`Some(true)`), the others (`Some(false)`), both.
    pub archived: Option<bool>,
    /// The trash (deleted ones) instead of the rest. A person's trash
    /// holds only the tickets they are on the seller side of.
    pub deleted: bool,
    /// Keyset: only rows after this one in the list's order, by its
    /// `(updated_at, number)`.
    pub after: Option<(i64, i64)>,
    /// Only these tickets (a search's hits: the list's `q=`); an empty
    /// list matches nothing.
    pub numbers: Option<Vec<i64>>,
    /// At most this many rows (at least 1).
    pub limit: i64,
}

/// One row of the list.
#[derive(Debug, Clone)]
pub struct ConversationRow {
    pub ticket: Ticket,
    /// The client: address, display name and the marketplace's own user
    /// id.
    pub client: Option<(String, Option<String>, Option<String>)>,
    /// The newest message the viewer may see.
    pub last: Option<Message>,
    /// The viewer's unread messages; 0 for a viewer who is not a person.
    pub unread: i64,
    /// A person viewer's own participant row on it: id and role (`None`:
    /// a staff address of its queue that has not joined it, or not a
    /// person).
    pub viewer_row: Option<(i64, Role)>,
}

/// How many participations make a person's list walk the tickets by
/// recency (probing each for the person) instead of gathering theirs and
/// sorting them: a seller on every ticket of a busy queue, against a
/// buyer with a handful. Walking finds a page of 50 after about 50 / f
/// tickets for a person on a share f of them; gathering reads their N.
/// On 100,000 tickets the two meet near N = 2,000 (√(50 · 100,000)):
/// bench/api's 500 sellers, on 200 tickets each: 61 pages/s walking, 292
/// gathering (200 connections, 2 cores).
const MANY: i64 = 2_000;

#[async_trait]
pub trait ConversationStore: Send + Sync {
    /// A page of the conversations `viewer` may see, newest activity first.
    async fn conversations(
        &self,
        viewer: Viewer<'_>,
        filter: &ConversationFilter,
    ) -> Result<Vec<ConversationRow>, StoreError>;

    /// `address`'s unread messages on `ticket`; 0 when they may not see it.
    async fn unread(&self, ticket: i64, address: &str) -> Result<i64, StoreError>;

    /// `address`'s conversations with unread messages (not deleted, not
    /// archived), `(ticket, unread)` newest activity first.
    async fn unread_all(&self, address: &str) -> Result<Vec<(i64, i64)>, StoreError>;
}

/// The count of unread messages on ticket `{t}` for the person whose
/// address is bound as `$1` and whose participant id there is `{pid}`
/// (NULL: none). Mirrors [`crate::access::counts_as_unread`]: after the
/// horizon, shown (neither held nor rejected), not their own.
fn unread_sql(t: &str, pid: &str) -> String {
    format!(
        "(SELECT COUNT(*) FROM messages m WHERE m.ticket = {t} \
         AND m.id > COALESCE((SELECT r.horizon FROM read_markers r \
         WHERE r.ticket = {t} AND r.address = $1), 0) \
         AND m.moderation NOT IN ('held', 'rejected') \
         AND (m.author IS NULL OR m.author <> COALESCE({pid}, 0)))"
    )
}

/// The condition on `m` that `viewer` may see it, the participant id of a
/// person being `{pid}`. Mirrors [`crate::access::message`].
fn sees_message(viewer: Viewer<'_>, pid: &str) -> String {
    match viewer {
        Viewer::Moderator => "1 = 1".into(),
        Viewer::Marketplace => "m.moderation NOT IN ('held', 'rejected')".into(),
        Viewer::Person { .. } => {
            format!("(m.moderation NOT IN ('held', 'rejected') OR m.author = {pid})")
        }
    }
}

/// A statement's binds, numbered as they are pushed (`$1`, `$2`, …).
#[derive(Default)]
struct Binds(Vec<Bind>);

enum Bind {
    Int(i64),
    Text(String),
}

impl Binds {
    fn int(&mut self, value: i64) -> String {
        self.0.push(Bind::Int(value));
        format!("${}", self.0.len())
    }

    fn text(&mut self, value: &str) -> String {
        self.0.push(Bind::Text(value.to_string()));
        format!("${}", self.0.len())
    }
}

sql_impl! {
    #[async_trait]
    impl ConversationStore for SqlStore {
        async fn conversations(
            &self,
            viewer: Viewer<'_>,
            filter: &ConversationFilter,
        ) -> Result<Vec<ConversationRow>, StoreError> {
            let mut binds = Binds::default();
            let mut wheres: Vec<String> = Vec::new();
            // The page's tickets (`t`) and, for a person, their row (`me`).
            let (from, pid) = match viewer {
                Viewer::Person { address } => {
                    let me = binds.text(address); // always $1
                    let many = self.serves_many(address).await?;
                    let from = if many {
                        // Walk the tickets by recency, probing each.
                        wheres.push(format!(
                            "(me.id IS NOT NULL OR t.queue_id IN (SELECT qa.queue_id FROM \
                             queue_addresses qa WHERE qa.kind = 'staff' AND qa.address = {me}))"
                        ));
                        format!(
                            "tickets t LEFT JOIN participants me ON me.ticket = t.number \
                             AND me.address = {me}"
                        )
                    } else {
                        // Gather their few tickets, then sort (CROSS JOIN: SQLite
                        // keeps `me` outside, by participants_address).
                        wheres.push(format!("t.number = me.ticket AND me.address = {me}"));
                        "participants me CROSS JOIN tickets t".to_string()
                    };
                    // A client does not see a deleted ticket (access::access).
                    wheres.push(
                        "(t.deleted_at IS NULL OR me.role IS NULL OR me.role <> 'client')".into(),
                    );
                    // A message they may see: a shown one (the ticket's flag,
                    // [`SHOWN_TICKET`]) or their own.
                    wheres.push(format!(
                        "({SHOWN_TICKET} OR EXISTS (SELECT 1 FROM messages m \
                         WHERE m.ticket = t.number AND m.author = me.id))"
                    ));
                    (from, "page.pid")
                }
                Viewer::Marketplace => {
                    wheres.push(SHOWN_TICKET.to_string());
                    ("tickets t".to_string(), "NULL")
                }
                Viewer::Moderator => ("tickets t".to_string(), "NULL"),
            };
            filters(filter, &mut binds, &mut wheres);
            let limit = binds.int(filter.limit.max(1));
            let person = matches!(viewer, Viewer::Person { .. });
            let page_pid = match person {
                true => ", me.id AS pid, me.role AS my_role",
                false => "",
            };
            let (unread, mine) = match person {
                true => (unread_sql("t.number", pid), "page.pid, page.my_role"),
                false => (
                    "CAST(0 AS BIGINT)".to_string(),
                    "CAST(NULL AS BIGINT) AS pid, CAST(NULL AS TEXT) AS my_role",
                ),
            };
            let shown = sees_message(viewer, pid);
            let sql = format!(
                "SELECT {TICKET_COLUMNS}, c.address AS client_address, c.display_name AS client_name, \
                 c.user_id AS client_user_id, \
                 {unread} AS unread, \
                 (SELECT m.id FROM messages m WHERE m.ticket = t.number AND {shown} \
                 ORDER BY m.id DESC LIMIT 1) AS last_id, {mine} \
                 FROM (SELECT t.number AS n{page_pid} FROM {from} WHERE {} \
                 ORDER BY t.updated_at DESC, t.number DESC LIMIT {limit}) page \
                 JOIN tickets t ON t.number = page.n JOIN queues q ON q.id = t.queue_id \
                 LEFT JOIN participants c ON c.id = (SELECT MIN(cp.id) FROM participants cp \
                 WHERE cp.ticket = t.number AND cp.role = 'client') \
                 ORDER BY t.updated_at DESC, t.number DESC",
                wheres.join(" AND ")
            );
            let mut query = sqlx::query(&sql);
            for bind in binds.0 {
                query = match bind {
                    Bind::Int(v) => query.bind(v),
                    Bind::Text(v) => query.bind(v),
                };
            }
            let rows = query.fetch_all(&self.read).await?;
            let mut page = Vec::with_capacity(rows.len());
            let mut last_ids = Vec::new();
            for row in &rows {
                let client: Option<String> = get(row, "client_address")?;
                let name: Option<String> = get(row, "client_name")?;
                let user_id: Option<String> = get(row, "client_user_id")?;
                let pid: Option<i64> = get(row, "pid")?;
                let role: Option<String> = get(row, "my_role")?;
                let last: Option<i64> = get(row, "last_id")?;
                last_ids.extend(last);
                page.push((
                    ConversationRow {
                        ticket: ticket_of(row)?,
                        client: client.map(|a| (a, name, user_id)),
                        last: None,
                        unread: get(row, "unread")?,
                        viewer_row: pid.zip(role.as_deref().and_then(Role::parse)),
                    },
                    last,
                ));
            }
            let mut messages = self.messages_by_id(&last_ids).await?;
            Ok(page
                .into_iter()
                .map(|(mut row, last)| {
                    if let Some(id) = last
                        && let Some(at) = messages.iter().position(|m| m.id == id)
                    {
                        row.last = Some(messages.swap_remove(at));
                    }
                    row
                })
                .collect())
        }

        async fn unread(&self, ticket: i64, address: &str) -> Result<i64, StoreError> {
            // 0 for a ticket they may not see (access::access).
            let sql = format!(
                "SELECT COALESCE((SELECT {} FROM tickets t LEFT JOIN participants me \
                 ON me.ticket = t.number AND me.address = $1 WHERE t.number = $2 \
                 AND (me.id IS NOT NULL OR t.queue_id IN (SELECT qa.queue_id FROM queue_addresses qa \
                 WHERE qa.kind = 'staff' AND qa.address = $1)) \
                 AND (t.deleted_at IS NULL OR me.role IS NULL OR me.role <> 'client')), 0) AS unread",
                unread_sql("t.number", "me.id")
            );
            let row = sqlx::query(&sql)
                .bind(address)
                .bind(ticket)
                .fetch_one(&self.read)
                .await?;
            get(&row, "unread")
        }

        async fn unread_all(&self, address: &str) -> Result<Vec<(i64, i64)>, StoreError> {
            // Their tickets: as a participant, and as a staff address of a
            // queue where they have not joined one.
            let sql = format!(
                "SELECT t.number, {} AS unread FROM (\
                 SELECT p.ticket AS n, p.id AS pid FROM participants p WHERE p.address = $1 \
                 UNION ALL SELECT t2.number AS n, CAST(NULL AS BIGINT) AS pid FROM tickets t2 \
                 WHERE t2.queue_id IN (SELECT qa.queue_id FROM queue_addresses qa \
                 WHERE qa.kind = 'staff' AND qa.address = $1) AND NOT EXISTS (SELECT 1 FROM \
                 participants p2 WHERE p2.ticket = t2.number AND p2.address = $1)) mine \
                 JOIN tickets t ON t.number = mine.n \
                 WHERE t.deleted_at IS NULL AND t.archived = 0 \
                 ORDER BY t.updated_at DESC, t.number DESC",
                unread_sql("t.number", "mine.pid")
            );
            let rows = sqlx::query(&sql)
                .bind(address)
                .fetch_all(&self.read)
                .await?;
            let mut all = Vec::new();
            for row in &rows {
                let unread: i64 = get(row, "unread")?;
                if unread > 0 {
                    all.push((get(row, "number")?, unread));
                }
            }
            Ok(all)
        }
    }
}

/// The filters of `filter` as conditions on `t` (the keyset too).
fn filters(filter: &ConversationFilter, binds: &mut Binds, wheres: &mut Vec<String>) {
    if let Some(queue) = &filter.queue {
        let queue = binds.text(queue);
        wheres.push(format!(
            "t.queue_id = (SELECT qn.id FROM queues qn WHERE qn.name = {queue})"
        ));
    }
    if let Some(assignee) = &filter.assignee {
        wheres.push(format!("t.assignee = {}", binds.text(assignee)));
    }
    if let Some(participant) = &filter.participant {
        let who = binds.text(participant);
        // IN, not EXISTS: the planner starts from their tickets
        // (participants_address) rather than probing every ticket.
        wheres.push(format!(
            "t.number IN (SELECT pp.ticket FROM participants pp WHERE pp.address = {who})"
        ));
    }
    if let Some(numbers) = &filter.numbers {
        // Integers written into the SQL, not bound: a search may name a
        // thousand tickets, more than SQLite's binds of one statement.
        wheres.push(match numbers.is_empty() {
            true => "1 = 0".into(),
            false => format!(
                "t.number IN ({})",
                numbers
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    if let Some(status) = filter.status {
        wheres.push(format!("t.status = {}", binds.text(status.as_str())));
    }
    if let Some((from, to)) = filter.created {
        let from = binds.int(from);
        let to = binds.int(to);
        wheres.push(format!("t.created_at >= {from} AND t.created_at < {to}"));
    }
    if let Some(listing) = &filter.listing {
        wheres.push(format!("t.item_ref = {}", binds.text(listing)));
    }
    if let Some(auction) = &filter.auction {
        wheres.push(format!("t.auction_ref = {}", binds.text(auction)));
    }
    match filter.archived {
        Some(true) => wheres.push("t.archived <> 0".into()),
        Some(false) => wheres.push("t.archived = 0".into()),
        None => {}
    }
    wheres.push(match filter.deleted {
        true => "t.deleted_at IS NOT NULL".into(),
        false => "t.deleted_at IS NULL".into(),
    });
    if let Some((updated, number)) = filter.after {
        let updated = binds.int(updated);
        let number = binds.int(number);
        wheres.push(format!(
            "t.updated_at <= {updated} AND (t.updated_at < {updated} OR t.number < {number})"
        ));
    }
}

sql_impl! {
    impl SqlStore {
        /// Whether `address` sits in [`MANY`] tickets or more, or serves a
        /// queue: then its list walks the tickets by recency.
        async fn serves_many(&self, address: &str) -> Result<bool, StoreError> {
            let row = sqlx::query(
                "SELECT (SELECT COUNT(*) FROM (SELECT 1 AS one FROM participants \
                 WHERE address = $1 LIMIT $2) x) AS sits, (SELECT COUNT(*) FROM queue_addresses \
                 WHERE kind = 'staff' AND address = $1) AS serves",
            )
            .bind(address)
            .bind(MANY)
            .fetch_one(&self.read)
            .await?;
            let sits: i64 = get(&row, "sits")?;
            let serves: i64 = get(&row, "serves")?;
            Ok(sits >= MANY || serves > 0)
        }

        /// The messages with these ids, in one statement and one value
        /// ([`messages_of_json`]).
        async fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>, StoreError> {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let list: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let sql = format!(
                "{}(SELECT {MESSAGE_COLUMNS} FROM messages WHERE id IN ({})) s",
                DB::json_rows(MESSAGE_COLUMNS),
                list.join(", ")
            );
            let mut query = sqlx::query(&sql);
            for id in ids {
                query = query.bind(*id);
            }
            let row = query.fetch_one(&self.read).await?;
            messages_of_json(get::<Option<String>, _>(&row, "rows")?.as_deref())
        }
    }
}
