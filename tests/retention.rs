//! `[retention]`: raw mail of long-closed tickets and old sent
//! notifications purged, on every backend; `parley purge`, its
//! configuration's errors, and `parley serve` purging on its own.

#[macro_use]
mod common;
#[path = "retention/db.rs"]
mod db;

use std::time::Duration;

use common::cli::Cli;
use common::*;
use db::Db;
use parley::store::{Cutoffs, Purged, now_ms};
use parley::tickets::Status;

const DAY: i64 = 24 * HOUR;

/// Opens a ticket by mail from `from`; its number and its raw mail's id.
async fn mailed(env: &TestEnv, from: &str, subject: &str) -> (i64, i64) {
    let ticket = env.open_ticket(from, subject).await;
    let messages = env.store().messages(ticket).await.unwrap();
    (
        ticket,
        messages[0].raw_id.expect("a mail keeps its raw bytes"),
    )
}

async fn purges_raw_mail_of_long_closed_tickets_and_old_sent_notifications(env: &TestEnv) {
    let store = env.store();
    let db = Db::open(&env.config.store.url).await;
    let now = now_ms();
    // Closed 40 days ago, closed yesterday, open for 40 days.
    let (old, old_raw) = mailed(env, MARIA, "Old and closed").await;
    let (recent, recent_raw) = mailed(env, BOB, "Recently closed").await;
    let (open, open_raw) = mailed(env, MALLORY, "Old and open").await;
    for ticket in [old, recent] {
        store
            .set_status(ticket, Status::Closed, "test")
            .await
            .unwrap();
    }
    for (ticket, age) in [(old, 40), (recent, 1), (open, 40)] {
        db.exec(&format!(
            "UPDATE tickets SET updated_at = {} WHERE number = {ticket}",
            now - age * DAY
        ))
        .await;
    }
    // A raw mail also held by a message of a ticket that stays (raw mail
    // is stored once per content): kept. (Made by hand: the open ticket's
    // message points at it; its own raw mail, now held by nothing, is not
    // retention's business either.)
    let (shared, shared_raw) = mailed(env, BOB, "Closed, its mail shared").await;
    store
        .set_status(shared, Status::Closed, "test")
        .await
        .unwrap();
    db.exec(&format!(
        "UPDATE tickets SET updated_at = {} WHERE number = {shared}",
        now - 40 * DAY
    ))
    .await;
    db.exec(&format!(
        "UPDATE messages SET raw_id = {shared_raw} WHERE ticket = {open}"
    ))
    .await;

    // Notifications: every row sent, half of them 40 days ago.
    let rows = store.outbox(None, 1000).await.unwrap();
    assert!(rows.len() >= 4, "{rows:?}");
    let (aged, fresh) = rows.split_at(rows.len() / 2);
    for (part, age) in [(aged, 40), (fresh, 1)] {
        let ids: Vec<String> = part.iter().map(|r| r.id.to_string()).collect();
        db.exec(&format!(
            "UPDATE outbox SET state = 'sent', sent_at = {} WHERE id IN ({})",
            now - age * DAY,
            ids.join(", ")
        ))
        .await;
    }
    // And one pending for 40 days: not sent, kept.
    let pending = fresh.last().unwrap().id;
    db.exec(&format!(
        "UPDATE outbox SET state = 'pending', sent_at = NULL, created_at = {} WHERE id = {pending}",
        now - 40 * DAY
    ))
    .await;
    let aged_count = aged.len() as i64;
    let before = env.counts().await;
    let raws = store.raw_count().await.unwrap();
    let size = store.raw_bytes(old_raw).await.unwrap().unwrap().len() as i64;
    let history = store.audit(old).await.unwrap();

    let cutoffs = Cutoffs {
        raw_mail: Some(now - 30 * DAY),
        notifications: Some(now - 30 * DAY),
    };
    let expected = Purged {
        raw_mails: 1,
        raw_bytes: size,
        notifications: aged_count,
    };
    assert_eq!(store.purge(cutoffs, true).await.unwrap(), expected, "dry");
    assert_eq!(
        store.raw_count().await.unwrap(),
        raws,
        "a dry run deletes nothing"
    );
    assert_eq!(env.counts().await, before);

    assert_eq!(store.purge(cutoffs, false).await.unwrap(), expected);
    assert_eq!(store.raw_count().await.unwrap(), raws - 1);
    assert_eq!(store.raw_bytes(old_raw).await.unwrap(), None);
    for raw in [recent_raw, open_raw, shared_raw] {
        assert!(
            store.raw_bytes(raw).await.unwrap().is_some(),
            "raw {raw} kept"
        );
    }
    // The closed ticket keeps its text, history and existence.
    let message = &store.messages(old).await.unwrap()[0];
    assert_eq!(message.raw_id, None);
    assert!(message.reply_text.contains("Old and closed"), "{message:?}");
    assert_eq!(env.status(old).await, Status::Closed);
    assert_eq!(store.audit(old).await.unwrap().len(), history.len());
    let left = store.outbox(None, 1000).await.unwrap();
    assert_eq!(left.len() as i64, rows.len() as i64 - aged_count);
    assert!(left.iter().all(|r| !aged.iter().any(|a| a.id == r.id)));
    assert!(left.iter().any(|r| r.id == pending), "a pending row stays");
    let after = env.counts().await;
    assert_eq!(
        (after.tickets, after.messages, after.audit),
        (before.tickets, before.messages, before.audit),
        "tickets, messages and history stay"
    );

    // Again: nothing left to purge; nothing at all when kept forever.
    assert_eq!(
        store.purge(cutoffs, false).await.unwrap(),
        Purged::default()
    );
    assert_eq!(
        store.purge(Cutoffs::default(), false).await.unwrap(),
        Purged::default()
    );
}

#[tokio::test]
async fn retention_purges_on_every_backend() {
    on_every_backend!(purges_raw_mail_of_long_closed_tickets_and_old_sent_notifications);
}

/// A purge racing a new message that takes a purgeable raw mail (the same
/// mail again, on an open ticket: the write path's `ON CONFLICT … DO
/// UPDATE` holds the raw row until its commit), on PostgreSQL, whose
/// writers run concurrently (SQLite's one writer excludes the race). The
/// message's transaction is held open by hand while the purge runs: the
/// purge waits for it, sees the message and keeps the raw mail. Purging
/// what it had read before, it failed on the foreign key here (or, had
/// the message committed a moment earlier, cleared its `raw_id` and
/// deleted its raw mail).
#[tokio::test]
async fn a_purge_keeps_a_raw_mail_a_new_message_takes_meanwhile() {
    use sqlx::Connection;
    let Some(admin) = postgres_admin() else {
        return;
    };
    let env = TestEnv::new(&Backend::Postgres(admin), |_| {}).await;
    let store = env.store();
    let db = Db::open(&env.config.store.url).await;
    let now = now_ms();
    let (old, old_raw) = mailed(&env, MARIA, "Old and closed").await;
    store.set_status(old, Status::Closed, "test").await.unwrap();
    db.exec(&format!(
        "UPDATE tickets SET updated_at = {} WHERE number = {old}",
        now - 40 * DAY
    ))
    .await;
    let (open, _) = mailed(&env, BOB, "Open").await;
    let newer = env.store().messages(open).await.unwrap()[0].id;
    // The new message, its transaction open: it takes the old raw mail as
    // the write path does.
    let mut writer = sqlx::PgConnection::connect(&env.config.store.url)
        .await
        .unwrap();
    sqlx::query("BEGIN").execute(&mut writer).await.unwrap();
    sqlx::query(
        "INSERT INTO raw_messages (sha256, bytes, envelope_to, source, received_at) \
         SELECT sha256, bytes, envelope_to, source, received_at FROM raw_messages WHERE id = $1 \
         ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256",
    )
    .bind(old_raw)
    .execute(&mut writer)
    .await
    .unwrap();
    sqlx::query("UPDATE messages SET raw_id = $1 WHERE id = $2")
        .bind(old_raw)
        .bind(newer)
        .execute(&mut writer)
        .await
        .unwrap();
    let cutoffs = Cutoffs {
        raw_mail: Some(now - 30 * DAY),
        notifications: None,
    };
    let purge = {
        let store = env.intake.shared_store();
        tokio::spawn(async move { store.purge(cutoffs, false).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !purge.is_finished(),
        "the purge waits for the message's commit"
    );
    sqlx::query("COMMIT").execute(&mut writer).await.unwrap();
    let purged = purge.await.unwrap().expect("the purge succeeds");
    assert_eq!(purged.raw_mails, 0, "{purged:?}");
    assert_eq!(
        db.int(&format!(
            "SELECT count(*) FROM raw_messages WHERE id = {old_raw}"
        ))
        .await,
        1,
        "the raw mail is kept"
    );
    assert_eq!(
        env.store().messages(open).await.unwrap()[0].raw_id,
        Some(old_raw)
    );
    // Once no open ticket holds it, it goes.
    db.exec(&format!(
        "UPDATE messages SET raw_id = NULL WHERE id = {newer}"
    ))
    .await;
    assert_eq!(store.purge(cutoffs, false).await.unwrap().raw_mails, 1);
}

/// Ages every ticket and notification of the store at `url` by 40 days,
/// closes the tickets and marks the notifications sent.
async fn age_everything(url: &str) {
    let db = Db::open(url).await;
    let then = now_ms() - 40 * DAY;
    db.exec(&format!(
        "UPDATE tickets SET status = 'closed', updated_at = {then}"
    ))
    .await;
    db.exec(&format!(
        "UPDATE outbox SET state = 'sent', sent_at = {then}"
    ))
    .await;
}

#[test]
fn parley_purge_counts_then_deletes_and_says_what() {
    let cli = Cli::with("[retention]\nraw_mail_days = 30\nnotifications_days = 7\n");
    let mail = Mail::new(MARIA, DESK, "An old question").bytes();
    cli.expect(0, &["ingest", "--recipient", DESK], &mail);
    let url = format!("sqlite://{}/data/parley.db", cli.dir.path().display());
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(age_everything(&url));

    let dry = cli.expect(0, &["purge", "--dry-run"], b"");
    assert!(dry.contains("would delete 1 raw mail(s)"), "{dry}");
    assert!(dry.contains("would delete 1 notification(s)"), "{dry}");
    let done = cli.expect(0, &["purge"], b"");
    assert!(done.contains("deleted 1 raw mail(s)"), "{done}");
    assert!(
        done.contains("deleted 1 notification(s) sent more than 7 days"),
        "{done}"
    );
    let again = cli.expect(0, &["purge"], b"");
    assert!(again.contains("deleted 0 raw mail(s)"), "{again}");
    // The ticket and its text are there.
    let shown = cli.expect(0, &["tickets", "show", "1"], b"");
    assert!(shown.contains("An old question"), "{shown}");

    let off = Cli::new();
    let said = off.expect(0, &["purge"], b"");
    assert!(said.contains("nothing to purge"), "{said}");
}

#[test]
fn bad_retention_settings_are_configuration_errors() {
    for (setting, key, says) in [
        (
            "raw_mail_days = 40000",
            "retention.raw_mail_days",
            "more than 36500",
        ),
        (
            "notifications_days = -1",
            "retention.notifications_days",
            "",
        ),
        (
            "interval_secs = 10",
            "retention.interval_secs",
            "at least 60",
        ),
        ("keep_days = 3", "keep_days", ""),
    ] {
        let cli = Cli::unset(&format!("[retention]\n{setting}\n"));
        let out = cli.run(&["check"], b"");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{setting}: {stderr}");
        assert!(
            stderr.contains(key) && stderr.contains(says),
            "{setting}: {stderr}"
        );
    }
    let cli = Cli::unset("[retention]\nraw_mail_days = 365\nnotifications_days = 30\n");
    let shown = cli.expect(0, &["check"], b"");
    assert!(shown.contains("raw_mail_days = 365"), "{shown}");
}

#[test]
fn parley_serve_purges_at_start_and_then_every_interval() {
    let smtp = served_free_port();
    let mut served = common::served::Served::start_with(
        &format!("listen = [\"127.0.0.1:{smtp}\"]"),
        "listen = []",
        "[retention]\nraw_mail_days = 30\nnotifications_days = 30\n",
    );
    let mail = Mail::new(MARIA, DESK, "Served and aged").bytes();
    served.cli(0, &["ingest", "--recipient", DESK], &mail);
    served.sigterm();
    assert!(served.wait_exit(Duration::from_secs(30)).is_some());
    let url = format!("sqlite://{}/parley.db", served.dir.path().display());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(age_everything(&url));
    served.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !served.log().contains("retention: purged") {
        assert!(std::time::Instant::now() < deadline, "{}", served.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = served.log();
    assert!(log.contains("retention started"), "{log}");
    let raws = runtime.block_on(async {
        Db::open(&url)
            .await
            .int("SELECT count(*) FROM raw_messages")
            .await
    });
    assert_eq!(raws, 0, "{log}");
    let shown = served.cli(0, &["tickets", "show", "1"], b"");
    assert!(shown.contains("Served and aged"), "{shown}");
}

fn served_free_port() -> u16 {
    common::served::free_port()
}
