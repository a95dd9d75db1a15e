//! Several outbox workers on one PostgreSQL store, as several `parley
//! serve` instances run them: each claims with `FOR UPDATE SKIP LOCKED`,
//! so every notification is claimed once, sent once and recorded `sent`,
//! however the workers' claims interleave. One relay, a small SMTP sink
//! here, counts what arrived by Message-ID.

#[macro_use]
mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use parley::config::Config;
use parley::outbox::worker::Worker;
use parley::store::{OutboxState, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Pending notifications: a few hundred, one new ticket each.
const ROWS: usize = 300;
/// Workers on the one store, each with a store (connection pool) of its own.
const WORKERS: usize = 4;

/// Message-ID → how many times the relay took a mail carrying it.
type Arrived = Arc<Mutex<HashMap<String, usize>>>;

/// An SMTP server on a free loopback port that takes every mail and counts
/// it by its Message-ID: the relay.
async fn counting_sink() -> (u16, Arrived) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let port = listener.local_addr().expect("an address").port();
    let arrived = Arrived::default();
    let counts = Arc::clone(&arrived);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(session(stream, Arc::clone(&counts)));
        }
    });
    (port, arrived)
}

/// One SMTP session (RFC 5321): every command accepted, DATA read up to
/// its dot line, dot-stuffing undone, the mail counted.
async fn session(stream: TcpStream, arrived: Arrived) {
    let (read, mut out) = stream.into_split();
    let mut lines = BufReader::new(read);
    if out.write_all(b"220 sink.test ESMTP\r\n").await.is_err() {
        return;
    }
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let verb = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let answer: &[u8] = if verb.starts_with("EHLO") {
            b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
        } else if verb.starts_with("QUIT") {
            let _ = out.write_all(b"221 2.0.0 bye\r\n").await;
            return;
        } else if verb.starts_with("DATA") {
            if out.write_all(b"354 go on\r\n").await.is_err() {
                return;
            }
            let mut mail = Vec::new();
            loop {
                line.clear();
                match lines.read_until(b'\n', &mut line).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                if line == b".\r\n" {
                    break;
                }
                mail.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
            }
            let id = mail_parser::MessageParser::default()
                .parse(&mail)
                .and_then(|m| m.message_id().map(str::to_string))
                .unwrap_or_default();
            *arrived.lock().unwrap().entry(id).or_default() += 1;
            b"250 2.0.0 queued\r\n"
        } else {
            // HELO, MAIL, RCPT, RSET, NOOP.
            b"250 2.0.0 ok\r\n"
        };
        if out.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// The test config on `url`, its relay on `relay_port`; small batches so
/// that the workers' claims interleave many times, a lease longer than the
/// test so that no row is claimed again legitimately, throttles off (every
/// notification goes to the desk's one agent).
fn config(dir: &std::path::Path, url: &str, relay_port: u16) -> Config {
    let path = dir.join("workers.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"{url}\"\n\n[token]\nsecret = \"{SECRET}\"\n\n{}\n\
             [relay]\nhost = \"127.0.0.1\"\nport = {relay_port}\ntls = \"none\"\ntimeout_secs = 10\n\n\
             [outbox]\nbatch = 5\nconcurrency = 2\nlease_secs = 600\n\n\
             [notify]\nthrottle_ticket_secs = 0\nthrottle_recipient_per_hour = 0\n",
            queues_toml()
        ),
    )
    .expect("config written");
    let mut config = Config::load(Some(&path)).expect("config");
    // PARLEY__* variables of the caller's shell must not redirect the test.
    config.store.url = url.into();
    config
}

/// A worker as `parley serve` builds it, on a store of its own.
async fn worker(config: &Config) -> Arc<Worker> {
    let store: Arc<dyn Store> = Arc::from(parley::store::open(&config.store).await.expect("store"));
    let secret = config.load_secret().expect("secret");
    Arc::new(Worker::new(config, &secret, store).expect("worker"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_one_postgres_send_each_row_once() {
    let Some(postgres) = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
    else {
        println!("{SQLITE_ONLY_ENV}=1: PostgreSQL left out on purpose, nothing to run");
        return;
    };
    let env = TestEnv::new(&postgres, |_| {}).await;
    for i in 0..ROWS {
        let mail = Mail::new(
            &format!("bidder{i}@buyer.example"),
            DESK,
            &format!("Lot {i}: the oak sideboard"),
        )
        .body(&format!(
            "Hello,\n\nis the oak sideboard still available? Could you send a \
             photo of the back and say whether the drawers run smoothly?\n\n\
             Kind regards,\nBidder {i}\n"
        ));
        match env.deliver(&mail, &[DESK]).await {
            parley::intake::Outcome::Stored {
                new_ticket: true, ..
            } => {}
            other => panic!("mail {i}: {other:?}"),
        }
    }
    let store = env.store();
    let pending = store
        .outbox(Some(OutboxState::Pending), ROWS as i64 + 1)
        .await
        .unwrap();
    assert_eq!(pending.len(), ROWS, "one pending notification per ticket");

    let (relay_port, arrived) = counting_sink().await;
    let config = config(env.dir.path(), &env.config.store.url, relay_port);
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        workers.push(worker(&config).await);
    }

    // All drain at once: each claims batch after batch until a claim
    // finds nothing due.
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> = workers
        .iter()
        .map(|w| {
            let (w, stopped) = (Arc::clone(w), stopped.clone());
            tokio::spawn(async move { w.drain(&stopped).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for task in tasks {
        claimed.push(task.await.expect("worker task").expect("claims"));
    }
    println!("rows claimed per worker: {claimed:?}");
    // One row per ticket, throttles off, a lease longer than the test: no
    // row is given back or claimed again, so two workers that took the
    // same row would make the sum exceed ROWS.
    assert_eq!(
        claimed.iter().sum::<usize>(),
        ROWS,
        "every row claimed exactly once in all (per worker: {claimed:?})"
    );
    assert!(
        claimed.iter().filter(|&&n| n > 0).count() >= 2,
        "the workers' claims did not overlap: {claimed:?}"
    );

    let sent = store
        .outbox(Some(OutboxState::Sent), ROWS as i64 + 1)
        .await
        .unwrap();
    let others = store.outbox(None, ROWS as i64 + 1).await.unwrap().len() - sent.len();
    assert_eq!(
        (sent.len(), others),
        (ROWS, 0),
        "every row ends sent, none pending or failed"
    );

    // What the relay took, by Message-ID: each row once, nothing else.
    let mut seen = arrived.lock().unwrap().clone();
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "sent more than once: {twice:?}");
    for row in &sent {
        assert_eq!(
            seen.remove(&row.message_id),
            Some(1),
            "{} recorded sent, arrived once",
            row.message_id
        );
    }
    assert!(seen.is_empty(), "mails no row names: {seen:?}");
}
