//! The store conformance suite: one story per concern, each on every
//! backend (SQLite and the PostgreSQL of `PARLEY_TEST_POSTGRES_URL`; see
//! tests/common), through the store's traits only. A module per trait:
//! tickets (and `opening.rs`: an assignee at opening, joining with a
//! message), moderation, mail, outbox, cursor, filing, events,
//! conversations and read markers, response times, search, webhooks,
//! idempotency
//! (`tests/store/`).

#[macro_use]
mod common;
#[path = "store/conversations.rs"]
mod conversations;
#[path = "store/cursor.rs"]
mod cursor;
#[path = "store/events.rs"]
mod events;
#[path = "store/filing.rs"]
mod filing;
#[path = "store/idempotency.rs"]
mod idempotency;
#[path = "store/mail.rs"]
mod mail;
#[path = "store/moderation.rs"]
mod moderation;
#[path = "store/opening.rs"]
mod opening;
#[path = "store/outbox.rs"]
mod outbox;
#[path = "store/response.rs"]
mod response;
#[path = "store/search.rs"]
mod search;
#[path = "store/tickets.rs"]
mod tickets;
#[path = "store/webhooks.rs"]
mod webhooks;

use common::*;
use parley::store::{
    AutoReplies, Direction, NewParticipant, NewRaw, NewTicket, PolicyRecord, Post, Posted, Store,
    Target,
};
use parley::tickets::{Role, Status};
use parley::token::{Minter, ReplyToken};

fn raw(text: &str) -> NewRaw {
    NewRaw {
        bytes: text.as_bytes().to_vec(),
        sha256: parley::intake::parse::sha256(text.as_bytes()),
        envelope_from: Some(MARIA.into()),
        envelope_to: vec![DESK.into()],
        source: parley::store::Source::Pipe,
    }
}

fn person(address: &str, role: Role) -> NewParticipant {
    NewParticipant {
        address: address.into(),
        display_name: Some(format!("{role:?}")),
        user_id: None,
        role,
    }
}

/// A client's first mail opening a ticket in `queue_id`.
fn opening(queue_id: i64, client: &str, key: &str) -> Post {
    Post {
        raw: Some(raw(&format!("Subject: about {key}\r\n\r\nhello {key}\r\n"))),
        target: Target::New(NewTicket {
            queue_id,
            subject: format!("About {key}"),
            status: Status::Open,
            item_ref: Some("item-7".into()),
            item_title: Some("Oak sideboard".into()),
            item_url: None,
            auction_ref: None,
            auction_title: None,
            assignee: None,
            origin_key: Some(key.into()),
            participants: vec![person(client, Role::Client), person(AGENT, Role::Seller)],
        }),
        direction: Direction::Inbound,
        reply_text: format!("hello {key}"),
        html: None,
        message_id: Some(format!("{key}@buyer.example")),
        dedupe_key: key.into(),
        matched_by: "new".into(),
        flags: Vec::new(),
        auto: "none".into(),
        elided: String::new(),
        signature: String::new(),
        attachments: Vec::new(),
        notify: true,
        policy: PolicyRecord::default(),
        actor: "intake".into(),
        replies: AutoReplies::default(),
    }
}

/// A message on an existing ticket.
fn answer(ticket: i64, author: i64, status: Option<Status>, key: &str) -> Post {
    Post {
        raw: None,
        target: Target::Existing {
            ticket,
            author: Some(author),
            status,
            join: None,
        },
        direction: Direction::Outbound,
        reply_text: format!("answer {key}"),
        html: None,
        message_id: Some(format!("{key}@{REPLY_DOMAIN}")),
        dedupe_key: key.into(),
        matched_by: "cli".into(),
        flags: Vec::new(),
        auto: "none".into(),
        elided: String::new(),
        signature: String::new(),
        attachments: Vec::new(),
        notify: true,
        policy: PolicyRecord::default(),
        actor: "cli".into(),
        replies: AutoReplies::default(),
    }
}

async fn post(store: &dyn Store, minter: &Minter, post: &Post) -> Posted {
    store.post(post, minter).await.expect("post")
}

/// (ticket, message, new_ticket, notifications) of a stored post.
fn stored(posted: Posted) -> (i64, i64, bool, Vec<i64>) {
    match posted {
        Posted::Stored {
            ticket,
            message,
            new_ticket,
            notifications,
        } => (ticket, message, new_ticket, notifications),
        other => panic!("expected the post stored, got {other:?}"),
    }
}

fn names(ticket: i64, participant: i64) -> Result<ReplyToken, parley::token::TokenError> {
    Ok(ReplyToken {
        ticket,
        participant,
    })
}

async fn desk_id(store: &dyn Store) -> i64 {
    store.queue("desk").await.unwrap().expect("desk queue").id
}

/// A fresh store on PostgreSQL and a connection of the test's own to its
/// database, for the tests that look at how PostgreSQL ran a statement;
/// `None` when the run leaves PostgreSQL out on purpose.
async fn postgres_env() -> Option<(TestEnv, sqlx::PgConnection)> {
    use sqlx::Connection;
    let admin = postgres_admin()?;
    let env = TestEnv::new(&Backend::Postgres(admin), |_| {}).await;
    let db = sqlx::PgConnection::connect(&env.config.store.url)
        .await
        .expect("connect");
    Some((env, db))
}

/// The index entries read so far from each index of `table`, by index
/// (PostgreSQL's `pg_stat_user_indexes.idx_tup_read`): how a test tells
/// which way a statement found its rows.
const INDEX_READS: &str =
    "SELECT indexrelname::text, idx_tup_read FROM pg_stat_user_indexes WHERE relname = $1";

/// The rows inserted into and updated in `table` so far (`inserted`,
/// `updated`: PostgreSQL's `pg_stat_user_tables`).
const ROW_WRITES: &str = "SELECT 'inserted', n_tup_ins FROM pg_stat_user_tables WHERE relname = $1 \
     UNION ALL SELECT 'updated', n_tup_upd FROM pg_stat_user_tables WHERE relname = $1";

/// The counts a statistics query (`INDEX_READS`, `ROW_WRITES`) gives for
/// `table`, by name, this connection's own statements counted: a backend
/// sends its counts at most once a second, so what a test wrote through
/// `db` just before could otherwise land after `before`.
async fn table_stats(
    db: &mut sqlx::PgConnection,
    stats: &str,
    table: &str,
) -> std::collections::BTreeMap<String, i64> {
    // Sent when this statement's transaction ends, before the next.
    sqlx::query("SELECT pg_stat_force_next_flush()")
        .execute(&mut *db)
        .await
        .expect("flush this connection's counts");
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *db)
        .await
        .expect("clear the statistics snapshot");
    sqlx::query_as(stats)
        .bind(table)
        .fetch_all(&mut *db)
        .await
        .expect("statistics")
        .into_iter()
        .collect()
}

/// The entries read, in `read` (by index), of the indexes not in `by`.
fn reads_of_others(read: &std::collections::BTreeMap<String, i64>, by: &[&str]) -> i64 {
    read.iter()
        .filter(|(index, _)| !by.contains(&index.as_str()))
        .map(|(_, n)| n)
        .sum()
}

async fn index_reads(
    db: &mut sqlx::PgConnection,
    table: &str,
) -> std::collections::BTreeMap<String, i64> {
    table_stats(db, INDEX_READS, table).await
}

async fn index_reads_since(
    db: &mut sqlx::PgConnection,
    table: &str,
    before: &std::collections::BTreeMap<String, i64>,
) -> std::collections::BTreeMap<String, i64> {
    table_stats_since(db, INDEX_READS, table, before).await
}

/// [`table_stats`] once the store's connections have sent theirs, less
/// `before`: a backend sends its counts when idle, at most once a second
/// (within ten seconds); until they differ from `before`, or panics after
/// 20 s.
async fn table_stats_since(
    db: &mut sqlx::PgConnection,
    stats: &str,
    table: &str,
    before: &std::collections::BTreeMap<String, i64>,
) -> std::collections::BTreeMap<String, i64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let now = table_stats(db, stats, table).await;
        if &now != before {
            return now
                .into_iter()
                .map(|(name, n)| {
                    let was = before.get(&name).copied().unwrap_or(0);
                    (name, n - was)
                })
                .collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the statistics of {table} never changed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
