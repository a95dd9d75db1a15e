//! `parley backup FILE`: a consistent copy of the SQLite store taken while
//! `parley serve` takes mail over SMTP, restored by copying it back.

mod common;

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::*;
use sqlx::Connection;

/// A message acknowledged with 250: its subject, and when the 250 came.
type Acked = Arc<Mutex<Vec<(String, Instant)>>>;

/// Sends mail to the desk over one SMTP session, one transaction after
/// the other, until `stop`; records every subject answered 250 and when.
fn load(port: u16, run: &str, acked: Acked, stop: Arc<AtomicBool>) -> std::io::Result<u64> {
    let mut smtp = Smtp::connect(port)?;
    let greeting = smtp.reply()?;
    assert_eq!(greeting.code, 220, "{greeting:?}");
    smtp.expect("EHLO load.example", 250)?;
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let subject = format!("load {run} {n}");
        smtp.expect(&format!("MAIL FROM:<{MARIA}>"), 250)?;
        smtp.expect(&format!("RCPT TO:<{DESK}>"), 250)?;
        smtp.expect("DATA", 354)?;
        let mail = format!(
            "From: {MARIA}\r\nTo: {DESK}\r\nSubject: {subject}\r\n\
             Message-ID: <load-{run}-{n}@buyer.example>\r\n\
             Date: Sat, 21 Nov 2026 09:15:00 +0100\r\n\r\nHello, number {n} of the load.\r\n.\r\n"
        );
        smtp.send(mail.as_bytes())?;
        let reply = smtp.reply()?;
        assert_eq!(reply.code, 250, "{subject}: {reply:?}");
        acked.lock().unwrap().push((subject, Instant::now()));
    }
    let _ = smtp.command("QUIT");
    Ok(n)
}

/// The subjects of the tickets of the SQLite store at `path`, after an
/// integrity check of the file.
fn subjects(path: &std::path::Path) -> BTreeSet<String> {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let url = format!("sqlite://{}", path.display());
        let options = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(check, "ok", "{}", path.display());
        let rows: Vec<String> = sqlx::query_scalar("SELECT subject FROM tickets")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        rows.into_iter().collect()
    })
}

#[test]
fn a_backup_taken_under_smtp_load_holds_every_acknowledged_message_and_restores() {
    let smtp_port = free_port();
    let served = Served::start_with(
        &format!("listen = [\"127.0.0.1:{smtp_port}\"]"),
        "listen = []",
        "",
    );
    let run = unique();
    let acked: Acked = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (acked, stop, run) = (acked.clone(), stop.clone(), run.clone());
        std::thread::spawn(move || load(smtp_port, &run, acked, stop))
    };
    let count = || acked.lock().unwrap().len();
    let wait_for = |n: usize, why: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while count() < n {
            assert!(
                Instant::now() < deadline,
                "{why}: {} acknowledged\n{}",
                count(),
                served.log()
            );
            assert!(
                !sender.is_finished(),
                "the sender stopped\n{}",
                served.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for(10, "mail before the reader");
    // A reader with a transaction open on the live store (a long report, a
    // search): SQLite cannot checkpoint past it, so what is committed from
    // now on is in the WAL only, not in parley.db. A copy of that file
    // would miss it; the backup must not.
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let live = served.dir.path().join("parley.db");
    let mut reader = runtime.block_on(async {
        let options =
            sqlx::sqlite::SqliteConnectOptions::from_str(&format!("sqlite://{}", live.display()))
                .unwrap();
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::query("BEGIN").execute(&mut conn).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert!(n >= 10, "{n}");
        conn
    });
    wait_for(40, "mail before the backup");

    let file = served.dir.path().join("backup.db");
    let started = Instant::now();
    let out = served.run(&["backup", file.to_str().unwrap()], b"");
    let finished = Instant::now();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}\n{}", served.log());
    runtime.block_on(async {
        sqlx::query("ROLLBACK").execute(&mut reader).await.unwrap();
        let _ = reader.close().await;
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("backed up the store to"), "{stdout}");
    // Serving went on: more mail acknowledged after the backup returned
    // (a while after, so that none of it can have been committed before).
    std::thread::sleep(Duration::from_millis(500));
    let during = count();
    wait_for(during + 20, "mail after the backup");
    stop.store(true, Ordering::SeqCst);
    let sent = sender
        .join()
        .expect("the sender")
        .expect("the SMTP session");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len() as u64, sent, "every message sent got its 250");

    let before: Vec<&String> = acked
        .iter()
        .filter(|(_, at)| *at < started)
        .map(|(s, _)| s)
        .collect();
    let after: Vec<&String> = acked
        .iter()
        .filter(|(_, at)| *at > finished + Duration::from_millis(500))
        .map(|(s, _)| s)
        .collect();
    assert!(before.len() >= 40 && after.len() >= 20, "{acked:?}");

    let copied = subjects(&file);
    let missing: Vec<_> = before.iter().filter(|s| !copied.contains(**s)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup began, not in it: {missing:?}"
    );
    // A snapshot: nothing acknowledged after it returned is in it.
    let later: Vec<_> = after.iter().filter(|s| copied.contains(**s)).collect();
    assert!(later.is_empty(), "in the backup from after it: {later:?}");

    // The live store took all of it, the later mail too.
    let live = subjects(&served.dir.path().join("parley.db"));
    let lost: Vec<_> = acked.iter().filter(|(s, _)| !live.contains(s)).collect();
    assert!(lost.is_empty(), "acknowledged, not stored: {lost:?}");

    // Never over an existing file: exit 64, the file untouched.
    let size = std::fs::metadata(&file).unwrap().len();
    let again = served.run(&["backup", file.to_str().unwrap()], b"");
    assert_eq!(again.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("exists already"), "{stderr}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), size);

    // Restore as documented: stop serve, copy the file to store.url's
    // path, start; parley reads the backup as its store.
    served.sigterm();
    let mut served = served;
    assert!(served.wait_exit(Duration::from_secs(30)).is_some());
    let live_path = served.dir.path().join("parley.db");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", live_path.display()));
    }
    std::fs::copy(&file, &live_path).expect("the backup copied back");
    served.restart();
    let list = served.json(&["tickets", "list", "--json"]);
    let listed: BTreeSet<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        listed, copied,
        "the restored store lists the backup's tickets"
    );
    for subject in &before {
        assert!(listed.contains(*subject), "{subject} after the restore");
    }
    // And takes mail again.
    let mut smtp = Smtp::connect(smtp_port).expect("serve listens after the restore");
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO load.example", 250).unwrap();
}

#[test]
fn a_postgresql_store_is_backed_up_with_pg_dump() {
    let Some(backend) = backends().into_iter().find(|b| b.name() == "postgres") else {
        println!("PostgreSQL left out on purpose");
        return;
    };
    let cli = common::cli::Cli::on(&backend);
    let file = cli.dir.path().join("backup.db");
    let out = cli.run(&["backup", file.to_str().unwrap()], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("pg_dump"), "{stderr}");
    assert!(!file.exists());
}
