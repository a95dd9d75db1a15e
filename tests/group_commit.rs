//! Group commit with several committers at once (`intake.commit_concurrency`):
//! many deliveries together, each new one delivered twice at the same
//! moment (an MTA's retry racing the first try), and replies racing on one
//! ticket. Every message is stored once, each conversation is one ticket,
//! on both backends. On SQLite, what the commits write reaches the database
//! file beside them (the checkpoint task), not only once the WAL is large.
//! On PostgreSQL, a batch's statement takes the lock that orders event ids
//! after its other inserts.

mod common;

use std::sync::Arc;

use common::*;
use parley::intake::{Intake, Outcome};

const NEW: usize = 60;
const REPLIES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_committers_store_each_message_once() {
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        let ticket = env.open_ticket(MARIA, "Lot 1").await;
        let reply_to = env.reply_address(ticket, MARIA).await;
        let intake = Arc::new(
            Intake::new(&env.config, SECRET.as_bytes(), env.intake.shared_store())
                .with_group_commit(8, 4),
        );
        let mut raws: Vec<Vec<u8>> = Vec::new();
        for n in 0..NEW {
            let mail = Mail::new(
                &format!("buyer{n}@buyer.example"),
                DESK,
                &format!("Lot {n}"),
            );
            raws.push(mail.bytes());
            raws.push(mail.bytes());
        }
        for n in 0..REPLIES {
            raws.push(Mail::new(MARIA, &reply_to, &format!("Re: Lot 1 ({n})")).bytes());
        }
        let mut deliveries = tokio::task::JoinSet::new();
        for raw in raws {
            let intake = intake.clone();
            deliveries.spawn(async move { intake.deliver(raw, &envelope(&[])).await });
        }
        let (mut stored, mut duplicates) = (0, 0);
        while let Some(outcome) = deliveries.join_next().await {
            match outcome.unwrap() {
                Ok(Outcome::Stored { .. }) => stored += 1,
                Ok(Outcome::Duplicate { .. }) => duplicates += 1,
                other => panic!("{}: {other:?}", env.backend),
            }
        }
        assert_eq!(
            (stored, duplicates),
            (NEW + REPLIES, NEW),
            "{}",
            env.backend
        );
        let counts = env.counts().await;
        assert_eq!(counts.tickets, 1 + NEW, "{}", env.backend);
        assert_eq!(counts.messages, 1 + NEW + REPLIES, "{}", env.backend);
        let on_ticket = env.store().messages(ticket).await.unwrap();
        assert_eq!(on_ticket.len(), 1 + REPLIES, "{}", env.backend);
    }
}

/// SQLite checkpoints beside the commits (src/store/sqlite/checkpoint.rs):
/// a few tickets, far fewer WAL pages than any automatic checkpoint waits
/// for, are in the database file itself shortly after their commits,
/// while the store is still open. A copy of that file alone (no WAL)
/// holds them. With the writer checkpointing by itself, as before, they
/// stayed in the WAL until about 1,000 pages had gathered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_commits_reach_the_database_file_beside_them() {
    const TICKETS: usize = 5;
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    for n in 0..TICKETS {
        env.open_ticket(&format!("buyer{n}@buyer.example"), &format!("Lot {n}"))
            .await;
    }
    let live = env.dir.path().join("parley.db");
    let copies = tempfile::tempdir().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = None;
    while std::time::Instant::now() < deadline {
        seen = tickets_in_file_alone(&live, copies.path()).await;
        if seen == Some(TICKETS as i64) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the database file alone holds {seen:?} of {TICKETS} committed tickets after 10 s");
}

/// The tickets in a copy of the database file `live` without its WAL;
/// `None` while the copy cannot be read (taken mid-checkpoint).
async fn tickets_in_file_alone(live: &std::path::Path, dir: &std::path::Path) -> Option<i64> {
    use sqlx::Connection;
    let copy = dir.join(format!("copy-{}.db", unique()));
    std::fs::copy(live, &copy).ok()?;
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&copy);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.ok()?;
    let n = sqlx::query_scalar("SELECT count(*) FROM tickets")
        .fetch_one(&mut conn)
        .await
        .ok();
    let _ = conn.close().await;
    n
}

/// PostgreSQL: a batch's write takes the lock that orders event ids at its
/// statement's end, after its other inserts, so that two committers' writes
/// overlap but for that end and the commit. With the lock held elsewhere, a
/// delivery's statement waits for it with its raw mail already inserted
/// (the raw mail's id drawn); taken first, it waited before any insert.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_take_the_event_order_lock_last() {
    use sqlx::Connection;
    let Some(admin) = postgres_admin() else {
        return;
    };
    let env = TestEnv::new(&Backend::Postgres(admin), |_| {}).await;
    env.open_ticket(MARIA, "Lot 1").await;
    // The key of `EVENT_ORDER_LOCK` (src/store/postgres.rs).
    const LOCK: i64 = 8097879414873157236;
    const RAW_ID: &str =
        "SELECT pg_sequence_last_value(pg_get_serial_sequence('raw_messages', 'id'))";
    let mut holder = sqlx::PgConnection::connect(&env.config.store.url)
        .await
        .unwrap();
    let before: Option<i64> = sqlx::query_scalar(RAW_ID)
        .fetch_one(&mut holder)
        .await
        .unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK)
        .execute(&mut holder)
        .await
        .unwrap();
    let delivery = {
        let intake = Arc::clone(&env.intake);
        let mail = Mail::new(BOB, DESK, "Lot 2").bytes();
        tokio::spawn(async move { intake.deliver(mail, &envelope(&[DESK])).await })
    };
    let mut waiting = 0;
    for _ in 0..200 {
        waiting = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
        )
        .fetch_one(&mut holder)
        .await
        .unwrap();
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(waiting, 1, "the delivery's write waits for the lock");
    let meanwhile: Option<i64> = sqlx::query_scalar(RAW_ID)
        .fetch_one(&mut holder)
        .await
        .unwrap();
    assert!(
        meanwhile > before,
        "the raw mail was inserted before the lock was asked for: {before:?} → {meanwhile:?}"
    );
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK)
        .execute(&mut holder)
        .await
        .unwrap();
    let outcome = delivery.await.unwrap().unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Stored {
                new_ticket: true,
                ..
            }
        ),
        "{outcome:?}"
    );
}
