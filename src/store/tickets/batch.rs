//! The write path for posts: many messages, one transaction, a fixed
//! handful of statements.
//!
//! A transaction is two scripts. The first opens it, reads what the posts
//! depend on (ticket statuses, participants, duplicates) and reserves
//! ticket numbers and participant ids, because reply tokens are computed
//! here from those ids. The second writes every row with multi-row INSERTs
//! and commits. On SQLite each script goes to the database as one
//! multi-statement call: sqlx runs SQLite on a worker thread, so every call
//! is a round trip between threads, and those trips, not the disk, were the
//! cost (see bench/README.md). On PostgreSQL the statements run one by one.

use crate::store::sql::sql_impl;
use std::collections::{HashMap, HashSet};

use sqlx::pool::PoolConnection;
use sqlx::{ColumnIndex, Database, Decode, Pool, Row, Type};

use super::post::{NewAttachment, NewParticipant, NewTicket, Post, Posted, Target};
use crate::store::desk::OFFLINE_QUEUES;
use crate::store::outbox::RecipientHolds;
use crate::store::search::Docs;
use crate::store::sql::{Backend, Script, push_list};
use crate::store::{
    ACK, AFTER_HOURS, Audience, Direction, EventKind, NEW_MESSAGE, NewEvent, NewRaw, StoreError,
    now_ms,
};
use crate::tickets::{self, Role, Status};
use crate::token::Minter;

/// A connection inside an explicit transaction (on PostgreSQL, inside the
/// batch's statements: a batch of new tickets is one statement, a
/// transaction by itself). If it is dropped before COMMIT or ROLLBACK went
/// through (an error, a cancelled future), the connection is closed, never
/// returned to the pool mid-transaction.
struct Tx<DB: Database> {
    conn: PoolConnection<DB>,
    open: bool,
}

impl<DB: Database> Drop for Tx<DB> {
    fn drop(&mut self) {
        if self.open {
            self.conn.close_on_drop();
        }
    }
}

/// What the posts need to know from the store, read inside the transaction.
#[derive(Default)]
struct State {
    status: HashMap<i64, Status>,
    /// Tickets that have an assignee: their seller side's notifications go
    /// to the assignee alone.
    assignee: HashMap<i64, String>,
    people: HashMap<i64, Vec<(i64, String, Role)>>,
    messages: HashSet<(i64, String)>,
    origins: HashMap<(i64, String), i64>,
    /// ticket → when its latest `after_hours` row was created: the window
    /// of [`super::post::AfterHours`] is measured from it.
    last_after_hours: HashMap<i64, i64>,
    /// ticket → its queue's id.
    queue: HashMap<i64, i64>,
    /// The queues whose operators are all away (asked only when a post
    /// would give the offline answer).
    offline: HashSet<i64>,
    ticket_ids: Vec<i64>,
    participant_ids: Vec<i64>,
    message_ids: Vec<i64>,
}

/// Rows to write, planned in memory.
#[derive(Default)]
struct Rows<'a> {
    raws: Vec<&'a NewRaw>,
    /// (number, ticket, shown: its first message is not held)
    tickets: Vec<(i64, &'a NewTicket, bool)>,
    participants: Vec<(i64, i64, &'a NewParticipant)>,
    /// (id, post, ticket, author)
    messages: Vec<(i64, &'a Post, i64, Option<i64>)>,
    /// ticket → final status, and archived as the status move files it
    /// (`tickets::archived_on`; `None`: as it was)
    updates: Vec<(i64, Status, Option<i64>)>,
    outbox: Vec<OutboxPlan>,
    /// (message_id, ticket, participant)
    issued: Vec<(String, i64, Option<i64>)>,
    /// (actor, action, ticket, message, detail)
    audit: Vec<(&'a str, &'static str, i64, i64, String)>,
    /// The event log's entries, in the order the posts made them.
    events: Vec<NewEvent>,
}

/// One outbox row to write.
struct OutboxPlan {
    ticket: i64,
    message: i64,
    participant: i64,
    recipient: String,
    token: String,
    message_id: String,
    kind: &'static str,
    /// `None`: the transaction's time.
    created_at: Option<i64>,
    /// When it is due (`next_attempt_at`): 0, at once, unless its
    /// recipient is held at its hourly cap (`store/outbox/hold.rs`).
    due: i64,
}

/// The outcome of one post before the ids the database assigns are known.
enum Planned {
    Stored {
        ticket: i64,
        message: i64,
        new_ticket: bool,
    },
    Duplicate {
        ticket: Option<i64>,
    },
}

/// Outbox ids the database assigned, by message id.
type Written = HashMap<i64, Vec<i64>>;

// The write path's functions share one set of bounds: the connection
// executes, arguments bind, the column types encode and decode.
sql_impl! {
    impl SqlStore {
        /// Writes `posts` in one transaction on a connection of `pool`.
        ///
        /// Another writer may commit a duplicate between our reads and our writes
        /// (PostgreSQL runs writers concurrently); the unique indexes refuse it and
        /// the transaction runs once more, its reads now seeing the other's rows.
        pub(super) async fn write_posts(
            pool: &Pool<DB>,
            posts: &[Post],
            minter: &Minter,
            holds: &RecipientHolds,
        ) -> Result<Vec<Posted>, StoreError> {
            let mut attempt = 1;
            loop {
                match Self::write_once(pool, posts, minter, holds).await {
                    Err(StoreError::Failed(sqlx::Error::Database(e)))
                        if e.is_unique_violation() && attempt < 3 =>
                    {
                        tracing::debug!(error = %e, attempt, "concurrent duplicate; writing again");
                        attempt += 1;
                    }
                    result => return result,
                }
            }
        }

        /// One attempt of [`Self::write_posts`].
        async fn write_once(
            pool: &Pool<DB>,
            posts: &[Post],
            minter: &Minter,
            holds: &RecipientHolds,
        ) -> Result<Vec<Posted>, StoreError> {
            let mut tx = Tx {
                conn: pool.acquire().await?,
                open: true,
            };
            // Whether a transaction may be open when something fails: from
            // the start on SQLite, on PostgreSQL only from the writes of a
            // batch that opens one (see `write_rows`).
            let mut begun = !DB::DML_IN_WITH;
            let result = async {
                let started = std::time::Instant::now();
                let state = Self::read_state(&mut tx.conn, posts).await?;
                let read = started.elapsed();
                let (mut rows, planned) = plan_rows(posts, state, minter)?;
                let now = now_ms();
                for row in rows.outbox.iter_mut().filter(|r| r.kind == NEW_MESSAGE) {
                    row.due = holds.due(&row.recipient, now);
                }
                let plan = started.elapsed() - read;
                begun = in_transaction::<DB>(&rows);
                let written = Self::write_rows(&mut tx.conn, &rows, now).await?;
                tracing::trace!(
                    posts = posts.len(),
                    read_us = read.as_micros() as u64,
                    plan_us = plan.as_micros() as u64,
                    write_us = (started.elapsed() - read - plan).as_micros() as u64,
                    "batch written"
                );
                Ok::<_, StoreError>((planned, written))
            }
            .await;
            let (planned, mut written) = match result {
                Ok(done) => {
                    tx.open = false;
                    done
                }
                Err(e) => {
                    // Leave the connection clean for the pool; if even that fails,
                    // the guard closes it. (A statement that failed outside a
                    // transaction left nothing behind.)
                    if !begun || sqlx::query("ROLLBACK").execute(&mut *tx.conn).await.is_ok() {
                        tx.open = false;
                    }
                    return Err(e);
                }
            };
            Ok(planned
                .into_iter()
                .map(|p| match p {
                    Planned::Duplicate { ticket } => Posted::Duplicate { ticket },
                    Planned::Stored {
                        ticket,
                        message,
                        new_ticket,
                    } => Posted::Stored {
                        ticket,
                        message,
                        new_ticket,
                        notifications: written.remove(&message).unwrap_or_default(),
                    },
                })
                .collect())
        }

        /// Opens the transaction, reads what the posts depend on and reserves
        /// the ids reply tokens need.
        async fn read_state(
            conn: &mut DB::Connection,
            posts: &[Post],
        ) -> Result<State, StoreError> {
            let mut existing: Vec<i64> = Vec::new();
            let mut new_tickets = 0i64;
            let mut new_people = 0i64;
            let mut origins: Vec<(i64, &str)> = Vec::new();
            for post in posts {
                match &post.target {
                    Target::Existing { ticket, join, .. } => {
                        existing.push(*ticket);
                        new_people += i64::from(join.is_some());
                    }
                    Target::New(t) => {
                        new_tickets += 1;
                        new_people += t.participants.len() as i64;
                        if let Some(key) = &t.origin_key {
                            origins.push((t.queue_id, key));
                        }
                    }
                }
            }
            existing.sort_unstable();
            existing.dedup();
            let mut script = Script::<DB>::new();
            if !DB::DML_IN_WITH {
                script.statement(DB::BEGIN_WRITE);
            }
            let mut at = HashMap::new();
            if !existing.is_empty() {
                let (q, i) = script
                    .statement("SELECT number, status, assignee, queue_id FROM tickets WHERE number IN ");
                push_list(q, existing.iter().copied());
                at.insert("status", i);
                let (q, i) = script.statement(
                    "SELECT id, ticket, address, role FROM participants WHERE ticket IN ",
                );
                push_list(q, existing.iter().copied());
                q.push(" ORDER BY id");
                at.insert("people", i);
                let (q, i) =
                    script.statement("SELECT ticket, dedupe_key FROM messages WHERE ticket IN ");
                push_list(q, existing.iter().copied());
                q.push(" AND dedupe_key IN ");
                push_list(q, posts.iter().map(|p| p.dedupe_key.as_str()));
                at.insert("messages", i);
                if posts
                    .iter()
                    .any(|p| p.replies.after_hours.is_some() || p.replies.offline.is_some())
                {
                    let (q, i) = script.statement(
                        "SELECT ticket, MAX(created_at) AS last FROM outbox WHERE kind = ",
                    );
                    q.push_bind(AFTER_HOURS).push(" AND ticket IN ");
                    push_list(q, existing.iter().copied());
                    q.push(" GROUP BY ticket");
                    at.insert("after_hours", i);
                }
            }
            if posts.iter().any(|p| p.replies.offline.is_some()) {
                let (_, i) = script.statement(OFFLINE_QUEUES);
                at.insert("offline", i);
            }
            if !origins.is_empty() {
                // One probe of the index on (queue_id, origin_key) per key,
                // a subquery per key, whatever the planner believes. As
                // `queue_id IN (…) AND origin_key IN (…)`, PostgreSQL, its
                // statistics not yet gathered (a new or fast-growing
                // table), scanned every ticket of the queue and filtered
                // the keys: 3.5 ms at 3,000 tickets, a quarter of a batch,
                // growing with the queue.
                let (q, i) = script.statement(
                    "SELECT v.column1 AS queue_id, v.column2 AS origin_key, \
                     (SELECT t.number FROM tickets t \
                     WHERE t.queue_id = v.column1 AND t.origin_key = v.column2) AS number FROM (",
                );
                q.push_values(&origins, |mut b, (queue, key)| {
                    b.push("CAST(")
                        .push_bind_unseparated(*queue)
                        .push_unseparated(" AS BIGINT)")
                        .push("CAST(")
                        .push_bind_unseparated(*key)
                        .push_unseparated(" AS TEXT)");
                });
                q.push(") AS v");
                at.insert("origins", i);
            }
            let reservations = [
                ("ticket_ids", "tickets", "number", new_tickets),
                ("participant_ids", "participants", "id", new_people),
                ("message_ids", "messages", "id", posts.len() as i64),
            ];
            // All in one statement, each reservation's rows tagged with its
            // name (`k`): one round trip on PostgreSQL, not three.
            let mut wanted = reservations.iter().filter(|r| r.3 > 0);
            if let Some(&(name, table, column, n)) = wanted.next() {
                let (before, after) = DB::next_ids_sql(name, table, column);
                let (q, i) = script.statement(&before);
                q.push_bind(n).push(after);
                for &(name, table, column, n) in wanted {
                    let (before, after) = DB::next_ids_sql(name, table, column);
                    q.push(" UNION ALL ").push(before).push_bind(n).push(after);
                }
                at.insert("ids", i);
            }
            let groups = script.run(conn).await?;
            let rows = |name: &str| at.get(name).map_or(&[][..], |&i| groups[i].as_slice());
            let mut state = State::default();
            for row in rows("status") {
                let status: String = row.try_get("status")?;
                let number: i64 = row.try_get("number")?;
                state
                    .status
                    .insert(number, status.parse().map_err(StoreError::Corrupt)?);
                state.queue.insert(number, row.try_get("queue_id")?);
                if let Some(assignee) = row.try_get::<Option<String>, _>("assignee")? {
                    state.assignee.insert(number, assignee);
                }
            }
            for row in rows("people") {
                let role: String = row.try_get("role")?;
                let role = Role::parse(&role)
                    .ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?;
                state
                    .people
                    .entry(row.try_get("ticket")?)
                    .or_default()
                    .push((row.try_get("id")?, row.try_get("address")?, role));
            }
            for row in rows("messages") {
                state
                    .messages
                    .insert((row.try_get("ticket")?, row.try_get("dedupe_key")?));
            }
            for row in rows("after_hours") {
                state
                    .last_after_hours
                    .insert(row.try_get("ticket")?, row.try_get("last")?);
            }
            for row in rows("offline") {
                state.offline.insert(row.try_get("queue_id")?);
            }
            for row in rows("origins") {
                if let Some(number) = row.try_get::<Option<i64>, _>("number")? {
                    state.origins.insert(
                        (row.try_get("queue_id")?, row.try_get("origin_key")?),
                        number,
                    );
                }
            }
            let mut drawn: HashMap<String, Vec<i64>> = HashMap::new();
            for row in rows("ids") {
                drawn
                    .entry(row.try_get("k")?)
                    .or_default()
                    .push(row.try_get("id")?);
            }
            for (name, _, _, n) in reservations {
                let mut ids = drawn.remove(name).unwrap_or_default();
                if DB::CONTIGUOUS_IDS && let Some(&first) = ids.first() {
                    // One row: the first free id; the write lock keeps the rest free.
                    ids = (first..first + n).collect();
                }
                // In the order of the posts (a UNION ALL keeps no order).
                ids.sort_unstable();
                match name {
                    "ticket_ids" => state.ticket_ids = ids,
                    "participant_ids" => state.participant_ids = ids,
                    _ => state.message_ids = ids,
                }
            }
            Ok(state)
        }

        /// Writes the planned rows and commits: one script, a statement per
        /// table (in the order the foreign keys need), then COMMIT; the ids of
        /// the outbox rows written, by message.
        async fn write_rows(
            conn: &mut DB::Connection,
            rows: &Rows<'_>,
            now: i64,
        ) -> Result<Written, StoreError> {
            let docs = search_docs(rows);
            let mut script = Script::<DB>::new();
            // Existing tickets' statuses change after their messages are
            // in, as their own statement: the messages' triggers look at
            // the ticket as it was (a seller's first answer counts while
            // the ticket waits, migration 0019). On PostgreSQL that needs a
            // transaction around the two; without such changes (new
            // tickets) the write is one statement, a transaction by itself.
            let transaction = in_transaction::<DB>(rows);
            if DB::DML_IN_WITH && transaction {
                script.statement(DB::BEGIN_WRITE);
            }
            // On PostgreSQL these are one statement (data-modifying CTEs):
            // one round trip. Its members see none of each other's rows but
            // what they return (the raw mails' ids); the foreign keys and
            // AFTER triggers run at its end, when every row is there.
            script.begin_chain();
            // The events first: in a chain PostgreSQL runs the member the
            // statement answers (the outbox's) first and the others after
            // it, the last written first, so the first members run last.
            // There the append takes the lock that orders event ids, held
            // until the commit: taken at the statement's end, it leaves the
            // other inserts outside it, and two committers
            // (`intake.commit_concurrency`) can write at once. (Elsewhere
            // the order changes nothing: SQLite has one writer.)
            Self::push_events(&mut script, now, &rows.events);
            let raws = Self::insert_raws(&mut script, rows, now);
            Self::insert_tickets(&mut script, rows, now);
            Self::insert_messages(&mut script, rows, now, raws.as_deref());
            Self::insert_attachments(&mut script, rows, now);
            let outbox_at = Self::insert_outbox(&mut script, rows, now);
            Self::insert_issued(&mut script, rows, now);
            Self::insert_audit(&mut script, rows, now);
            Self::push_index(&mut script, &docs);
            script.end_chain();
            Self::update_statuses(&mut script, rows, now);
            if transaction {
                script.statement("COMMIT");
            }
            let groups = script.run(conn).await?;
            outbox_ids(outbox_at.map_or(&[][..], |i| groups[i].as_slice()))
        }

        /// The raw mails, once per sha256 (a copy stored before is kept).
        /// In a chain, the name of its member, which returns the id of
        /// each sha256's row, new or stored before (`DO UPDATE` returns the
        /// row it found, even one another transaction just committed).
        fn insert_raws<'a>(
            script: &mut Script<'a, DB>,
            rows: &'a Rows<'_>,
            now: i64,
        ) -> Option<String> {
            if !rows.raws.is_empty() {
                let chained = script.chained();
                let (q, _) = script.statement(
                    "INSERT INTO raw_messages (sha256, bytes, envelope_from, envelope_to, source, received_at) ",
                );
                q.push_values(&rows.raws, |mut b, raw| {
                    b.push_bind(&raw.sha256[..])
                        .push_bind(&raw.bytes[..])
                        .push_bind(raw.envelope_from.as_deref())
                        .push_bind(
                            serde_json::to_string(&raw.envelope_to).expect("strings serialize"),
                        )
                        .push_bind(raw.source.as_str())
                        .push_bind(now);
                });
                if chained {
                    q.push(" ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256 RETURNING id, sha256");
                    return script.member_name();
                }
                q.push(" ON CONFLICT (sha256) DO NOTHING");
            }
            None
        }

        /// The new tickets and their first participants. A ticket is
        /// written `shown` when its first message is: the trigger that keeps
        /// the flag (migration 0015) then finds it set and changes nothing.
        /// (Raised by the trigger instead, the fresh row was rewritten, on
        /// PostgreSQL mostly with a new entry in each of its eleven
        /// indexes: a third of a new ticket's index writes.)
        fn insert_tickets<'a>(script: &mut Script<'a, DB>, rows: &'a Rows<'_>, now: i64) {
            if !rows.tickets.is_empty() {
                let (q, _) = script.statement(
                    "INSERT INTO tickets (number, queue_id, subject, status, item_ref, item_title, item_url, \
                     auction_ref, auction_title, assignee, origin_key, created_at, updated_at, shown) ",
                );
                q.push_values(&rows.tickets, |mut b, (number, t, shown)| {
                    b.push_bind(*number)
                        .push_bind(t.queue_id)
                        .push_bind(t.subject.as_str())
                        .push_bind(t.status.as_str())
                        .push_bind(t.item_ref.as_deref())
                        .push_bind(t.item_title.as_deref())
                        .push_bind(t.item_url.as_deref())
                        .push_bind(t.auction_ref.as_deref())
                        .push_bind(t.auction_title.as_deref())
                        .push_bind(t.assignee.as_deref())
                        .push_bind(t.origin_key.as_deref())
                        .push_bind(now)
                        .push_bind(now)
                        .push_bind(i64::from(*shown));
                });
            }
            if !rows.participants.is_empty() {
                let (q, _) = script.statement(
                    "INSERT INTO participants (id, ticket, address, display_name, user_id, role, created_at) ",
                );
                q.push_values(&rows.participants, |mut b, (id, ticket, p)| {
                    b.push_bind(*id)
                        .push_bind(*ticket)
                        .push_bind(p.address.as_str())
                        .push_bind(p.display_name.as_deref())
                        .push_bind(p.user_id.as_deref())
                        .push_bind(p.role.as_str())
                        .push_bind(now);
                });
            }
        }

        /// The messages, each pointing at its raw mail by sha256: in the
        /// rows of chain member `raws` when there is one, else in the table.
        fn insert_messages<'a>(
            script: &mut Script<'a, DB>,
            rows: &'a Rows<'_>,
            now: i64,
            raws: Option<&str>,
        ) {
            let raw_id = format!("(SELECT id FROM {} WHERE sha256 = ", raws.unwrap_or("raw_messages"));
            if !rows.messages.is_empty() {
                let (q, _) = script.statement(
                    "INSERT INTO messages (id, ticket, author, direction, reply_text, html, raw_id, message_id, \
                     dedupe_key, matched_by, flags, auto, elided, created_at, policy_action, policy_hits, \
                     redacted_text, masked_text, moderation, signature) ",
                );
                q.push_values(&rows.messages, |mut b, (id, post, ticket, author)| {
                    b.push_bind(*id)
                        .push_bind(*ticket)
                        .push_bind(*author)
                        .push_bind(post.direction.as_str())
                        .push_bind(post.reply_text.as_str())
                        .push_bind(post.html.as_deref());
                    match &post.raw {
                        Some(raw) => b
                            .push(&raw_id)
                            .push_bind_unseparated(&raw.sha256[..])
                            .push_unseparated(")"),
                        None => b.push("NULL"),
                    };
                    b.push_bind(post.message_id.as_deref())
                        .push_bind(post.dedupe_key.as_str())
                        .push_bind(post.matched_by.as_str())
                        .push_bind(post.flags.join(" "))
                        .push_bind(post.auto.as_str())
                        .push_bind(post.elided.as_str())
                        .push_bind(now)
                        .push_bind(post.policy.action.as_str())
                        .push_bind(post.policy.hits.as_str())
                        .push_bind(post.policy.redacted_text.as_deref())
                        .push_bind(post.policy.masked_text.as_deref())
                        .push_bind(if post.policy.held { "held" } else { "none" })
                        .push_bind(post.signature.as_str());
                });
            }
        }

        /// The attachments' contents (once per sha256) and each message's links to them.
        fn insert_attachments<'a>(script: &mut Script<'a, DB>, rows: &'a Rows<'_>, now: i64) {
            let contents: Vec<&(String, Vec<u8>)> = rows
                .messages
                .iter()
                .flat_map(|m| &m.1.attachments)
                .filter_map(|a| a.content.as_ref())
                .collect();
            if !contents.is_empty() {
                let (q, _) =
                    script.statement("INSERT INTO attachments (sha256, bytes, size, created_at) ");
                q.push_values(&contents, |mut b, (sha, bytes)| {
                    b.push_bind(sha.as_str())
                        .push_bind(&bytes[..])
                        .push_bind(bytes.len() as i64)
                        .push_bind(now);
                });
                q.push(" ON CONFLICT (sha256) DO NOTHING");
            }
            let attached: Vec<(i64, &NewAttachment)> = rows
                .messages
                .iter()
                .flat_map(|m| m.1.attachments.iter().map(move |a| (m.0, a)))
                .collect();
            if !attached.is_empty() {
                let (q, _) = script.statement(
                    "INSERT INTO message_attachments (message, sha256, filename, content_type, size, \
                     content_id, inline, flags) ",
                );
                q.push_values(&attached, |mut b, (message, a)| {
                    b.push_bind(*message)
                        .push_bind(a.content.as_ref().map(|c| c.0.as_str()))
                        .push_bind(a.filename.as_str())
                        .push_bind(a.content_type.as_str())
                        .push_bind(a.size)
                        .push_bind(a.content_id.as_deref())
                        .push_bind(i64::from(a.inline))
                        .push_bind(a.flags.join(" "));
                });
            }
        }

        /// The tickets' new statuses and times, one statement for all.
        fn update_statuses<'a>(script: &mut Script<'a, DB>, rows: &'a Rows<'_>, now: i64) {
            if !rows.updates.is_empty() {
                let (q, _) = script.statement("UPDATE tickets SET updated_at = ");
                q.push_bind(now).push(
                    ", status = v.column2, archived = COALESCE(v.column3, tickets.archived) FROM (",
                );
                q.push_values(&rows.updates, |mut b, (number, status, archived)| {
                    b.push("CAST(")
                        .push_bind_unseparated(*number)
                        .push_unseparated(" AS BIGINT)")
                        .push("CAST(")
                        .push_bind_unseparated(status.as_str())
                        .push_unseparated(" AS TEXT)")
                        .push("CAST(")
                        .push_bind_unseparated(*archived)
                        .push_unseparated(" AS BIGINT)");
                });
                q.push(") AS v WHERE tickets.number = v.column1");
            }
        }

        /// The notification rows; the index of their statement, whose rows are
        /// their ids (none when there are none).
        fn insert_outbox<'a>(
            script: &mut Script<'a, DB>,
            rows: &'a Rows<'_>,
            now: i64,
        ) -> Option<usize> {
            if rows.outbox.is_empty() {
                return None;
            }
            let (q, i) = script.statement(
                "INSERT INTO outbox (ticket, message, participant, recipient, token, message_id, kind, \
                 created_at, next_attempt_at) ",
            );
            q.push_values(&rows.outbox, |mut b, row| {
                b.push_bind(row.ticket)
                    .push_bind(row.message)
                    .push_bind(row.participant)
                    .push_bind(row.recipient.as_str())
                    .push_bind(row.token.as_str())
                    .push_bind(row.message_id.as_str())
                    .push_bind(row.kind)
                    .push_bind(row.created_at.unwrap_or(now))
                    .push_bind(row.due);
            });
            q.push(" RETURNING id, message");
            script.keep_rows();
            Some(i)
        }

        /// The Message-IDs issued: the notifications' and those of outbound messages.
        fn insert_issued<'a>(script: &mut Script<'a, DB>, rows: &'a Rows<'_>, now: i64) {
            if !rows.issued.is_empty() {
                let (q, _) = script.statement(
                    "INSERT INTO issued_message_ids (message_id, ticket, participant, created_at) ",
                );
                q.push_values(&rows.issued, |mut b, (id, ticket, participant)| {
                    b.push_bind(id.as_str())
                        .push_bind(*ticket)
                        .push_bind(*participant)
                        .push_bind(now);
                });
            }
        }

        /// The audit entries.
        fn insert_audit<'a>(script: &mut Script<'a, DB>, rows: &'a Rows<'_>, now: i64) {
            if !rows.audit.is_empty() {
                let (q, _) = script.statement(
                    "INSERT INTO audit_log (at, actor, action, ticket, message, detail) ",
                );
                q.push_values(
                    &rows.audit,
                    |mut b, (actor, action, ticket, message, detail)| {
                        b.push_bind(now)
                            .push_bind(*actor)
                            .push_bind(*action)
                            .push_bind(*ticket)
                            .push_bind(*message)
                            .push_bind(detail.as_str());
                    },
                );
            }
        }
    }
}

/// Whether the writes of `rows` run inside BEGIN … COMMIT: always on
/// SQLite (its BEGIN IMMEDIATE opens the batch), on PostgreSQL when
/// existing tickets' statuses move after the chain (`write_rows`).
fn in_transaction<DB: Backend>(rows: &Rows<'_>) -> bool {
    !DB::DML_IN_WITH || !rows.updates.is_empty()
}

/// The outbox ids the database assigned (the rows of the outbox INSERT),
/// by message, each message's in order.
fn outbox_ids<R: Row>(inserted: &[R]) -> Result<Written, StoreError>
where
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'a> &'a str: ColumnIndex<R>,
{
    let mut written = Written::new();
    for row in inserted {
        let message: i64 = row.try_get("message")?;
        written.entry(message).or_default().push(row.try_get("id")?);
    }
    for ids in written.values_mut() {
        ids.sort_unstable();
    }
    Ok(written)
}

impl Rows<'_> {
    /// An outbox row to `(participant, address)` about `message` of
    /// `ticket`, with its fresh reply token and issued Message-ID.
    fn notify(
        &mut self,
        minter: &Minter,
        (ticket, message): (i64, i64),
        (participant, address): (i64, &str),
        kind: &'static str,
        created_at: Option<i64>,
    ) {
        let (token, _) = minter.reply_address(ticket, participant);
        let message_id = minter.message_id(&token);
        self.issued
            .push((message_id.clone(), ticket, Some(participant)));
        self.outbox.push(OutboxPlan {
            ticket,
            message,
            participant,
            recipient: address.to_string(),
            token,
            message_id,
            kind,
            created_at,
            due: 0,
        });
    }
}

/// The automatic answer `post` asks for, if any, as (kind, created_at):
/// the after-hours reply (or, when its queue is `offline`, the offline
/// answer, the same row) unless the ticket had one within the window
/// (counting the rows this transaction plans), else the acknowledgement of
/// a new ticket.
fn auto_reply(
    post: &Post,
    last_after_hours: &mut HashMap<i64, i64>,
    (ticket, new_ticket): (i64, bool),
    offline: bool,
) -> Option<(&'static str, Option<i64>)> {
    let away = post.replies.offline.filter(|_| offline);
    if let Some(after) = post.replies.after_hours.or(away) {
        let quiet = last_after_hours
            .get(&ticket)
            .is_none_or(|last| *last <= after.at.saturating_sub(after.window_ms));
        if quiet {
            last_after_hours.insert(ticket, after.at);
            return Some((AFTER_HOURS, Some(after.at)));
        }
        return None;
    }
    (post.replies.ack && new_ticket).then_some((ACK, None))
}

/// What one stored post changed, for its events.
struct Change {
    ticket: i64,
    message: i64,
    /// The status a new ticket opens with (`None`: an existing ticket).
    opened: Option<Status>,
    /// Whom a new ticket is assigned to from the start.
    assigned: Option<String>,
    /// An existing ticket's status change, (from, to).
    moved: Option<(Status, Status)>,
}

/// The events of one stored post, in order: `ticket.created` (a new
/// ticket), `ticket.assigned` (a new ticket routed to its manager),
/// `message.created`, `ticket.status` (a status it moved).
/// `author` is the author's participant row. A held message, and the
/// ticket it opens, are for its author and moderators alone; its actor is
/// the author (the audit log's actor, `intake`, says only which door).
fn post_events(post: &Post, change: Change, author: Option<&(i64, String, Role)>) -> Vec<NewEvent> {
    let Change {
        ticket,
        message,
        opened,
        assigned,
        moved,
    } = change;
    let audience = match post.policy.held {
        true => Audience::Held {
            author: author.map(|p| p.1.clone()),
        },
        false => Audience::Ticket,
    };
    let mut events = Vec::with_capacity(4);
    if let Some(status) = opened {
        events.push(NewEvent {
            kind: EventKind::TicketCreated,
            ticket,
            message: None,
            actor: post.actor.clone(),
            data: serde_json::json!({ "status": status }),
            audience: audience.clone(),
        });
    }
    if let Some(to) = assigned {
        events.push(NewEvent {
            kind: EventKind::TicketAssigned,
            ticket,
            message: None,
            actor: post.actor.clone(),
            data: serde_json::json!({ "from": null, "to": to }),
            audience: audience.clone(),
        });
    }
    let side = author.map(|p| match p.2.is_seller_side() {
        true => "seller",
        false => "client",
    });
    events.push(NewEvent {
        kind: EventKind::MessageCreated,
        ticket,
        message: Some(message),
        actor: author.map_or_else(|| post.actor.clone(), |p| p.1.clone()),
        data: serde_json::json!({
            "author_side": side,
            "direction": post.direction,
            "held": post.policy.held,
            "new_ticket": opened.is_some(),
        }),
        audience,
    });
    if let Some((from, to)) = moved {
        events.push(NewEvent {
            kind: EventKind::TicketStatus,
            ticket,
            message: Some(message),
            actor: post.actor.clone(),
            data: serde_json::json!({ "from": from, "to": to }),
            audience: Audience::Ticket,
        });
    }
    events
}

/// Decides every row in memory: duplicates, new tickets and participants,
/// status changes, audit entries and the notifications with their tokens.
fn plan_rows<'a>(
    posts: &'a [Post],
    mut state: State,
    minter: &Minter,
) -> Result<(Rows<'a>, Vec<Planned>), StoreError> {
    let mut rows = Rows::default();
    let mut planned = Vec::with_capacity(posts.len());
    let mut ticket_ids = state.ticket_ids.drain(..);
    let mut participant_ids = state.participant_ids.drain(..);
    let mut message_ids = state.message_ids.drain(..);
    let mut raws = HashSet::new();
    let mut final_status: HashMap<i64, Status> = HashMap::new();
    let reserved = || StoreError::Corrupt("fewer ids reserved than needed".into());
    for post in posts {
        let key = post.dedupe_key.as_str();
        // Audit entries of this post, written once its message id is known.
        let mut audit = Vec::new();
        // For its events: the status a new ticket opens with, or the
        // status change on an existing one.
        let (mut opened, mut moved) = (None, None);
        let (ticket, author, new_ticket) = match &post.target {
            Target::Existing {
                ticket,
                author,
                status,
                join,
            } => {
                let Some(&current) = final_status.get(ticket).or(state.status.get(ticket)) else {
                    return Err(StoreError::NotFound(format!(
                        "ticket {ticket} does not exist"
                    )));
                };
                if !state.messages.insert((*ticket, key.to_string())) {
                    planned.push(Planned::Duplicate {
                        ticket: Some(*ticket),
                    });
                    continue;
                }
                let next = status.unwrap_or(current);
                if next != current {
                    let detail = serde_json::json!({ "from": current, "to": next }).to_string();
                    audit.push((post.actor.as_str(), "status.changed", *ticket, detail));
                    moved = Some((current, next));
                }
                final_status.insert(*ticket, next);
                let author = match join {
                    None => *author,
                    Some(p) => {
                        let people = state.people.entry(*ticket).or_default();
                        match people.iter().find(|q| q.1 == p.address) {
                            // Joined meanwhile (another message of theirs).
                            Some(q) => Some(q.0),
                            None => {
                                let id = participant_ids.next().ok_or_else(reserved)?;
                                rows.participants.push((id, *ticket, p));
                                people.push((id, p.address.clone(), p.role));
                                Some(id)
                            }
                        }
                    }
                };
                (*ticket, author, false)
            }
            Target::New(new) => {
                let origin = new.origin_key.as_ref().map(|k| (new.queue_id, k.clone()));
                if let Some(origin) = &origin
                    && let Some(&number) = state.origins.get(origin)
                {
                    planned.push(Planned::Duplicate {
                        ticket: Some(number),
                    });
                    continue;
                }
                let number = ticket_ids.next().ok_or_else(reserved)?;
                if let Some(origin) = origin {
                    state.origins.insert(origin, number);
                }
                rows.tickets.push((number, new, !post.policy.held));
                let mut people = Vec::new();
                for p in &new.participants {
                    let id = participant_ids.next().ok_or_else(reserved)?;
                    rows.participants.push((id, number, p));
                    people.push((id, p.address.clone(), p.role));
                }
                let author = people.first().map(|p| p.0);
                state.people.insert(number, people);
                state.messages.insert((number, key.to_string()));
                let detail = serde_json::json!({ "status": new.status }).to_string();
                audit.push((post.actor.as_str(), "ticket.created", number, detail));
                if let Some(to) = &new.assignee {
                    // Routed at opening (the auction's manager): the seller
                    // side's notifications of this very post go to them.
                    state.assignee.insert(number, to.clone());
                    let detail = serde_json::json!({ "from": null, "to": to }).to_string();
                    audit.push((post.actor.as_str(), "ticket.assigned", number, detail));
                }
                opened = Some(new.status);
                state.queue.insert(number, new.queue_id);
                (number, author, true)
            }
        };
        if let Some(raw) = &post.raw
            && raws.insert(raw.sha256)
        {
            rows.raws.push(raw);
        }
        let message = message_ids.next().ok_or_else(reserved)?;
        rows.messages.push((message, post, ticket, author));
        if post.direction == Direction::Outbound
            && let Some(id) = &post.message_id
        {
            rows.issued.push((id.clone(), ticket, author));
        }
        if post.policy.held {
            let detail = serde_json::json!({
                "action": post.policy.action,
                "flags": post.flags,
                "hits": serde_json::from_str::<serde_json::Value>(&post.policy.hits)
                    .unwrap_or_default(),
            });
            audit.push((
                post.actor.as_str(),
                "message.held",
                ticket,
                detail.to_string(),
            ));
        }
        if post.notify {
            let people = state.people.get(&ticket).map_or(&[][..], |p| p.as_slice());
            let assignee = state.assignee.get(&ticket).map(String::as_str);
            for (id, address, _) in tickets::notified(people, author, assignee) {
                rows.notify(minter, (ticket, message), (*id, address), NEW_MESSAGE, None);
            }
        }
        let offline = state
            .queue
            .get(&ticket)
            .is_some_and(|queue| state.offline.contains(queue));
        if let Some((kind, at)) = auto_reply(
            post,
            &mut state.last_after_hours,
            (ticket, new_ticket),
            offline,
        ) && let Some((id, address, _)) = state
            .people
            .get(&ticket)
            .and_then(|people| people.iter().find(|p| Some(p.0) == author))
            // Automatic answers go to a client only: never to the
            // seller side, whatever a caller asked for.
            .filter(|p| p.2 == Role::Client)
        {
            rows.notify(minter, (ticket, message), (*id, address), kind, at);
        }
        rows.audit.extend(
            audit
                .into_iter()
                .map(|(actor, action, ticket, detail)| (actor, action, ticket, message, detail)),
        );
        let person = state
            .people
            .get(&ticket)
            .and_then(|people| people.iter().find(|p| Some(p.0) == author));
        let change = Change {
            ticket,
            message,
            opened,
            assigned: match (&post.target, new_ticket) {
                (Target::New(t), true) => t.assignee.clone(),
                _ => None,
            },
            moved,
        };
        rows.events.extend(post_events(post, change, person));
        planned.push(Planned::Stored {
            ticket,
            message,
            new_ticket,
        });
    }
    rows.updates = final_status
        .into_iter()
        .map(|(number, to)| {
            let from = state.status.get(&number).copied().unwrap_or(to);
            (number, to, tickets::archived_on(from, to).map(i64::from))
        })
        .collect();
    rows.updates.sort_unstable_by_key(|u| u.0);
    Ok((rows, planned))
}

/// The search index's rows of what the batch stores: its new tickets,
/// participants and messages (a held one without visible text).
fn search_docs(rows: &Rows<'_>) -> Docs {
    let mut docs = Docs::default();
    for (number, t, _) in &rows.tickets {
        docs.ticket(
            *number,
            &t.subject,
            [t.item_title.as_deref(), t.auction_title.as_deref()],
        );
    }
    for (_, ticket, p) in &rows.participants {
        docs.person(*ticket, p.display_name.as_deref(), &p.address);
    }
    for (_, post, ticket, author) in &rows.messages {
        // moderation::visible_text of a message just stored.
        let visible = match post.policy.held {
            true => None,
            false => Some(
                post.policy
                    .masked_text
                    .as_deref()
                    .unwrap_or(&post.reply_text),
            ),
        };
        docs.message(*ticket, *author, &post.reply_text, visible);
    }
    docs
}
