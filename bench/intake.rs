//! bench/intake: messages per second through the whole intake — parse,
//! thread, durable commit — on SQLite (synchronous=FULL, WAL).
//!
//! `cargo bench --bench intake` runs 10,000 generated 4 KB messages (20% open
//! new tickets, 80% reply by token to one of 200 existing tickets), once with
//! one commit per message and once with group commit, each on a fresh store,
//! beside two references from the same run: single-row commits per second
//! on the same disk, and the stages without the write (parse, thread: the
//! dry run `parley inspect` does).
//! `PARLEY_BENCH_MESSAGES` changes the count. Under `cargo test` it runs a
//! small smoke pass that checks every message was stored once.

#[path = "ceiling.rs"]
mod ceiling;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use parley::config::Config;
use parley::intake::{Envelope, Intake, Outcome};
use parley::store::{self, Source, Store};

const TICKETS: usize = 200;
const BODY_BYTES: usize = 4096;

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let messages = std::env::var("PARLEY_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if bench { 10_000 } else { 300 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let reference = ceiling::commit_ceiling(if bench { 3_000 } else { 100 }).await;
        println!("reference: sqlx single-row commits, synchronous=FULL: {reference:.0} commits/s");
        let modes = [
            ("parse + thread, no write", Mode::PlanOnly, 8),
            ("one commit per message", Mode::Commit(None), 8),
            ("group commit", Mode::Commit(Some(64)), 64),
        ];
        for (label, mode, concurrency) in modes {
            let rate = run(messages, mode, concurrency).await;
            println!("{label:<24} {messages} messages × {BODY_BYTES} B, {concurrency} concurrent: {rate:.0} messages/s");
        }
    });
}

#[derive(Clone, Copy)]
enum Mode {
    /// The stages before the commit only: what intake costs without a write.
    PlanOnly,
    /// Deliver and commit; `Some(n)`: group commit of up to n messages.
    Commit(Option<usize>),
}

struct Bench {
    _dir: tempfile::TempDir,
    intake: Arc<Intake>,
}

async fn open(group: Option<usize>) -> Bench {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("parley.toml");
    std::fs::write(
        &path,
        format!(
            "[store]\nurl = \"sqlite://{}/parley.db\"\n[token]\nsecret = \"bench-secret-0123456789\"\n\
             [mail]\nreply_domain = \"reply.bench.test\"\n\
             [[queues]]\nname = \"bench\"\nintake = [\"sales@bench.test\"]\nstaff = [\"seller@bench.test\"]\n",
            dir.path().display()
        ),
    )
    .expect("config");
    let config = Config::load(Some(&path)).expect("config");
    let store: Arc<dyn Store> = Arc::from(store::open(&config.store).await.expect("store"));
    for queue in &config.queues {
        store.sync_queue(queue).await.expect("queue");
    }
    let mut intake = Intake::new(&config, config.token.secret.as_bytes(), store);
    if let Some(max) = group {
        intake = intake.with_group_commit(max, 1);
    }
    Bench {
        _dir: dir,
        intake: Arc::new(intake),
    }
}

/// A message of about BODY_BYTES: a reply with a quoted history.
fn message(from: &str, to: &str, subject: &str, id: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Bidder {id} <{from}>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-{id}@bidder.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, is lot {id} still available? Can I collect it on Saturday morning?\r\n\r\n\
         On Fri, 20 Nov 2026, Seller wrote:\r\n"
    );
    let mut line = 0;
    while m.len() < BODY_BYTES {
        m.push_str(&format!(
            "> line {line} of the earlier message about the oak sideboard and its drawers\r\n"
        ));
        line += 1;
    }
    m.into_bytes()
}

async fn run(count: usize, mode: Mode, concurrency: usize) -> f64 {
    let bench = open(match mode {
        Mode::Commit(group) => group,
        Mode::PlanOnly => None,
    })
    .await;
    let intake = &bench.intake;
    // Untimed: open the tickets the replies go to.
    let mut clients = Vec::new();
    for i in 0..TICKETS {
        let from = format!("client{i}@bidder.test");
        let raw = message(&from, "sales@bench.test", "Lot question", 1_000_000 + i);
        let env = Envelope {
            sender: Some(from.clone()),
            recipients: vec!["sales@bench.test".into()],
            source: Source::Smtp,
        };
        let Ok(Outcome::Stored { ticket, .. }) = intake.deliver(raw, &env).await else {
            panic!("setup ticket {i} not stored");
        };
        let client = intake
            .store()
            .participant_by_address(ticket, &from)
            .await
            .expect("read")
            .expect("client participant");
        let (_, reply_to) = intake.minter().reply_address(ticket, client.id);
        clients.push((from, reply_to));
    }
    let jobs: Vec<(Vec<u8>, Envelope)> = (0..count)
        .map(|i| {
            let (from, to) = if i % 5 == 0 {
                (
                    format!("new{i}@bidder.test"),
                    "sales@bench.test".to_string(),
                )
            } else {
                clients[i % TICKETS].clone()
            };
            let env = Envelope {
                sender: Some(from.clone()),
                recipients: vec![to.clone()],
                source: Source::Smtp,
            };
            (message(&from, &to, "Re: Lot question", i), env)
        })
        .collect();
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let stored = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (jobs, next, stored, intake) =
            (jobs.clone(), next.clone(), stored.clone(), intake.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((raw, env)) = jobs.get(i) else { break };
                if let Mode::PlanOnly = mode {
                    intake.plan(raw, env).await.expect("plan");
                    stored.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                match intake.deliver(raw.clone(), env).await {
                    Ok(Outcome::Stored { .. }) => {
                        stored.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("message {i}: {other:?}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("delivery task");
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert_eq!(
        stored.load(Ordering::Relaxed),
        count,
        "every message stored"
    );
    let raws = intake.store().raw_count().await.expect("count") as usize;
    let expected = match mode {
        Mode::PlanOnly => TICKETS,
        Mode::Commit(_) => count + TICKETS,
    };
    assert_eq!(raws, expected, "each message stored exactly once");
    count as f64 / elapsed
}
