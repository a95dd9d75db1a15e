//! bench/imap: the IMAP poller's messages/s against a real Dovecot, beside
//! the rate at which a plain IMAP client fetches the same messages from the
//! same server in the same run (the ceiling).
//!
//! `cargo bench --bench imap` starts a throwaway Dovecot
//! (tests/imap/dovecot.rs) and appends N messages of ~4 KB (distinct
//! senders, subjects, Message-IDs; To: a queue's intake address, and the
//! mailbox's `queue` set) to the INBOX of two users: one for the ceilings
//! and the poller, one for the poller's IMAP commands alone. Appending is
//! not timed (MULTIAPPEND with LITERAL+ literals, 250 messages a command).
//! Then, timed:
//!
//! - **ceiling**: a plain IMAP client, read-only (EXAMINE, `BODY.PEEK[]`),
//!   fetches every body in `UID FETCH` batches of 50, once with the test
//!   harness's raw blocking client and once with async-imap (what the
//!   poller uses); the faster is the ceiling.
//! - **parley**: `parley::imap::poll_once` (after = "seen", batch = 50) on a
//!   fresh SQLite store (WAL, synchronous=FULL) through an `Intake` with
//!   group commit, as `parley serve` builds it, until all N are stored.
//!   Checked: the store holds exactly N raw messages, every message is
//!   flagged \Seen, the cursor is at the last UID.
//! - **IMAP side alone**: the poller's commands per batch of 50 (sizes,
//!   bodies, `UID STORE +FLAGS (\Seen)`) on the second mailbox, nothing
//!   stored: what the poller costs Dovecot and the round trips.
//! - **intake side alone**: the same N messages delivered as the poller
//!   delivers a batch (50 at once, each its own task, then one cursor
//!   write), no IMAP, on a
//!   fresh store: what parley can commit.
//!
//! Target (issue 5): parley ≥ 70% of the ceiling. `PARLEY_BENCH_MESSAGES`
//! sets N (default 10,000). Under `cargo test --all-targets` (no `--bench`)
//! a smoke pass runs everything with 200 messages and fails if a message
//! was lost or stored twice; it needs Dovecot like the IMAP tests (it never
//! skips).

#[path = "../tests/imap/dovecot.rs"]
mod dovecot;
#[path = "proc.rs"]
#[allow(dead_code)] // raise_nofile serves bench/smtp and bench/events
mod proc;

use std::sync::Arc;
use std::time::Instant;

use dovecot::Dovecot;
use futures_util::TryStreamExt;
use parley::config::{Config, ImapConfig};
use parley::intake::{Envelope, Intake, Outcome};
use parley::store::{self, ImapCursor, Source, Store};
use proc::{cpu_model, cpu_seconds, status_mb};

const USER: &str = "seller";
const PASSWORD: &str = "bench-secret-1";
/// The second mailbox, for the IMAP side alone.
const SIDE_USER: &str = "side";
const SIDE_PASSWORD: &str = "bench-secret-2";
const QUEUE: &str = "desk";
const INTAKE: &str = "desk@shop.example";
const BODY_BYTES: usize = 4096;
/// UIDs per round trip, as the poller's default `batch`.
const BATCH: usize = 50;
/// Messages per MULTIAPPEND command while filling the mailboxes.
const APPEND_CHUNK: usize = 250;
const TARGET_RATIO: f64 = 0.7;

type ImapSession = async_imap::Session<tokio::net::TcpStream>;

/// One line of the table.
struct Row {
    label: &'static str,
    messages: usize,
    seconds: f64,
    /// CPU seconds of this process (client, or parley) and of Dovecot.
    own_cpu: f64,
    dovecot_cpu: f64,
}

impl Row {
    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
}

/// Times `work` with the CPU of this process and of Dovecot's processes.
struct Clock {
    start: Instant,
    own: f64,
    dovecot: f64,
}

impl Clock {
    fn start(d: &Dovecot) -> Clock {
        Clock {
            own: cpu_seconds("self", false),
            dovecot: dovecot_cpu(d),
            start: Instant::now(),
        }
    }

    fn row(self, d: &Dovecot, label: &'static str, messages: usize) -> Row {
        let seconds = self.start.elapsed().as_secs_f64();
        let own_cpu = cpu_seconds("self", false) - self.own;
        // The imap process of a session just logged out counts once the
        // master has reaped it.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Row {
            label,
            messages,
            seconds,
            own_cpu,
            dovecot_cpu: dovecot_cpu(d) - self.dovecot,
        }
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("PARLEY_BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 10_000 } else { 200 });
    println!(
        "bench/imap ({}): {}; {} cores, {}",
        if full { "full run" } else { "smoke pass" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
    );
    let failures = run(n, full);
    if !failures.is_empty() {
        println!();
        for f in &failures {
            println!("FAIL: {f}");
        }
        std::process::exit(1);
    }
}

fn run(n: usize, full: bool) -> Vec<String> {
    let mut failures = Vec::new();
    let d = Dovecot::start(&[(USER, PASSWORD), (SIDE_USER, SIDE_PASSWORD)]);
    let started = Instant::now();
    for (user, password) in [(USER, PASSWORD), (SIDE_USER, SIDE_PASSWORD)] {
        append_all(&d, user, password, n);
        let held = d.uids(user, password, "INBOX").len();
        assert_eq!(held, n, "{user}'s INBOX holds {held} of {n} appended");
    }
    println!(
        "Dovecot {} on 127.0.0.1:{}: {n} messages of ~{BODY_BYTES} B appended to each of 2 INBOXes in {:.1} s (not timed)",
        dovecot_version(),
        d.port(),
        started.elapsed().as_secs_f64()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Stores and intakes are dropped in the runtime's context.
    let _runtime = runtime.enter();

    let mut rows = Vec::new();
    // Read-only first: the poller must still find every message as it was.
    let clock = Clock::start(&d);
    let fetched = raw_fetch_all(&d);
    rows.push(clock.row(&d, "ceiling: raw client, UID FETCH × 50", fetched));
    let clock = Clock::start(&d);
    let fetched = runtime.block_on(async_fetch_all(&d));
    rows.push(clock.row(&d, "ceiling: async-imap, UID FETCH × 50", fetched));
    for row in &rows {
        if row.messages != n {
            failures.push(format!("{}: fetched {} of {n}", row.label, row.messages));
        }
    }
    let ceiling = rows.iter().map(Row::rate).fold(0.0, f64::max);

    // parley's poller, as `parley serve` runs it.
    let bench = runtime.block_on(Bench::open());
    let imap = mailbox(&d, USER, PASSWORD);
    let rss_before = status_mb("self", "VmRSS").unwrap_or(f64::NAN);
    let clock = Clock::start(&d);
    let (taken, quarantined, passes) = runtime.block_on(async {
        let (mut taken, mut quarantined, mut passes) = (0, 0, 0);
        while taken + quarantined < n && passes < 5 {
            let pass = parley::imap::poll_once(
                &imap,
                &bench.intake,
                &mut parley::imap::Strikes::default(),
            )
            .await
            .unwrap_or_else(|e| panic!("poll_once: {e}\n{}", d.log()));
            passes += 1;
            taken += pass.taken;
            quarantined += pass.quarantined;
            if pass.taken + pass.quarantined == 0 {
                break;
            }
        }
        (taken, quarantined, passes)
    });
    let parley_row = clock.row(&d, "parley: poll_once", taken);
    let hwm = status_mb("self", "VmHWM").unwrap_or(f64::NAN);
    let rss = status_mb("self", "VmRSS").unwrap_or(f64::NAN);
    if taken != n || quarantined != 0 {
        failures.push(format!(
            "parley took {taken} and quarantined {quarantined} of {n} in {passes} passes"
        ));
    }
    failures.extend(runtime.block_on(bench.check(&imap, n, "parley")));
    let left = unseen(&d, USER, PASSWORD);
    if left != 0 {
        failures.push(format!(
            "parley: {left} messages not flagged \\Seen after the poll"
        ));
    }
    drop(bench);
    let parley = parley_row.rate();
    rows.push(parley_row);

    // The two halves of the poller's work, each alone.
    let clock = Clock::start(&d);
    let flagged = runtime.block_on(imap_side(&d, SIDE_USER, SIDE_PASSWORD));
    rows.push(clock.row(&d, "IMAP side alone: sizes, bodies, STORE", flagged));
    let left = unseen(&d, SIDE_USER, SIDE_PASSWORD);
    if flagged != n || left != 0 {
        failures.push(format!(
            "IMAP side: {flagged} of {n} fetched, {left} not flagged \\Seen"
        ));
    }
    let bench = runtime.block_on(Bench::open());
    let clock = Clock::start(&d);
    runtime.block_on(bench.deliver_batches(&imap, n));
    rows.push(clock.row(&d, "intake side alone: 50 at once + cursor", n));
    failures.extend(runtime.block_on(bench.check(&imap, n, "intake side")));
    drop(bench);
    let intake = rows.last().map_or(f64::NAN, Row::rate);

    print_table(&rows, ceiling, intake);
    println!(
        "\nparley: {parley:.0} msg/s = {:.1}% of the ceiling ({ceiling:.0} msg/s; target ≥ {:.0}%), \
         {:.0}% of the intake side alone ({intake:.0} msg/s)",
        parley / ceiling * 100.0,
        TARGET_RATIO * 100.0,
        parley / intake * 100.0,
    );
    println!(
        "bench process during the poll (parley inside it): VmHWM {hwm:.1} MB, VmRSS {rss_before:.1} MB before, {rss:.1} MB after"
    );
    if full && parley / ceiling < TARGET_RATIO {
        println!(
            "BELOW TARGET: parley at {:.1}% of the ceiling (target ≥ {:.0}%)",
            parley / ceiling * 100.0,
            TARGET_RATIO * 100.0
        );
    }
    failures
}

fn print_table(rows: &[Row], ceiling: f64, intake: f64) {
    println!(
        "\n{:<40} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>11}",
        "line", "messages", "seconds", "msg/s", "/ceiling", "/intake", "own cpu", "dovecot cpu"
    );
    for row in rows {
        println!(
            "{:<40} {:>8} {:>8.2} {:>8.0} {:>9.3} {:>8.3} {:>7.0}% {:>10.0}%",
            row.label,
            row.messages,
            row.seconds,
            row.rate(),
            row.rate() / ceiling,
            row.rate() / intake,
            row.own_cpu / row.seconds * 100.0,
            row.dovecot_cpu / row.seconds * 100.0,
        );
    }
    println!(
        "(ceiling: the faster of the first two lines; intake: the last line; cpu: share of one core \
         during the line, out of {}00%; own: this process: the client, or parley and its SQLite threads)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

// ---------------------------------------------------------------- messages

/// Message `i`: a new conversation of ~BODY_BYTES to the queue's intake
/// address (a question above a quoted history), CRLF line ends.
fn message(i: usize) -> String {
    let mut m = format!(
        "From: Buyer {i} <buyer{i}@buyer.example>\r\nTo: {INTAKE}\r\n\
         Subject: Lot {i}: still available?\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <imap-bench-{i}@buyer.example>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, is lot {i} still available? Can I collect it on Saturday morning?\r\n\r\n\
         On Fri, 20 Nov 2026, Seller wrote:\r\n"
    );
    let mut line = 0;
    while m.len() < BODY_BYTES {
        m.push_str(&format!(
            "> line {line} of the earlier message about the oak sideboard and its drawers\r\n"
        ));
        line += 1;
    }
    m
}

/// Appends messages 0..n to `user`'s INBOX over one connection: MULTIAPPEND
/// with non-synchronizing literals (LITERAL+), APPEND_CHUNK per command;
/// one APPEND per message when the server lacks LITERAL+.
fn append_all(d: &Dovecot, user: &str, password: &str, n: usize) {
    let mut s = d.session(user, password);
    let caps = s.run("CAPABILITY").expect("CAPABILITY");
    let literal_plus = caps
        .untagged
        .iter()
        .any(|l| l.text.split_whitespace().any(|c| c == "LITERAL+"));
    let mut i = 0;
    while i < n {
        let end = (i + APPEND_CHUNK).min(n);
        if literal_plus {
            let mut command = String::from("APPEND INBOX");
            for j in i..end {
                let m = message(j);
                command.push_str(&format!(" {{{}+}}\r\n", m.len()));
                command.push_str(&m);
            }
            s.run(&command)
                .unwrap_or_else(|e| panic!("MULTIAPPEND: {e}\n{}", d.log()));
        } else {
            for j in i..end {
                s.append("INBOX", &[], message(j).as_bytes())
                    .unwrap_or_else(|e| panic!("APPEND: {e}\n{}", d.log()));
            }
        }
        i = end;
    }
    s.logout();
}

/// Messages of `user` not flagged \Seen (read-only).
fn unseen(d: &Dovecot, user: &str, password: &str) -> usize {
    let mut s = d.session(user, password);
    s.run("EXAMINE INBOX").expect("EXAMINE");
    let done = s.run("UID SEARCH UNSEEN").expect("SEARCH UNSEEN");
    let count = done
        .untagged
        .iter()
        .filter(|l| l.text.starts_with("* SEARCH"))
        .map(|l| l.text.split_whitespace().skip(2).count())
        .sum();
    s.logout();
    count
}

// ---------------------------------------------------------------- ceilings

/// The harness's raw client: EXAMINE, UID SEARCH, then every body by
/// `UID FETCH <50 UIDs> BODY.PEEK[]`. Returns the bodies received.
fn raw_fetch_all(d: &Dovecot) -> usize {
    let mut s = d.session(USER, PASSWORD);
    let uids = s.uids("INBOX").expect("EXAMINE + SEARCH");
    let mut bodies = 0;
    for chunk in uids.chunks(BATCH) {
        let done = s
            .run(&format!("UID FETCH {} BODY.PEEK[]", uid_set(chunk)))
            .expect("UID FETCH");
        for line in &done.untagged {
            bodies += line
                .literals
                .iter()
                .filter(|b| b.len() >= BODY_BYTES)
                .count();
        }
    }
    s.logout();
    bodies
}

/// async-imap: EXAMINE, UID SEARCH ALL, then every body by
/// `UID FETCH <50 UIDs> BODY.PEEK[]`. Returns the bodies received.
async fn async_fetch_all(d: &Dovecot) -> usize {
    let mut session = connect(d, USER, PASSWORD).await;
    session.examine("INBOX").await.expect("EXAMINE");
    let uids = all_uids(&mut session).await;
    let mut bodies = 0;
    for chunk in uids.chunks(BATCH) {
        let got = fetch(&mut session, &uid_set(chunk), "BODY.PEEK[]").await;
        bodies += got.iter().filter(|(_, b)| b.len() >= BODY_BYTES).count();
    }
    let _ = session.logout().await;
    bodies
}

/// The poller's IMAP commands without the store: SELECT, UID SEARCH, and
/// per batch of 50 the sizes, the bodies in one `UID FETCH`, and one
/// `UID STORE +FLAGS (\Seen)`. Returns the bodies received.
async fn imap_side(d: &Dovecot, user: &str, password: &str) -> usize {
    let mut session = connect(d, user, password).await;
    session.select("INBOX").await.expect("SELECT");
    let uids = all_uids(&mut session).await;
    let mut bodies = 0;
    for chunk in uids.chunks(BATCH) {
        let set = uid_set(chunk);
        let sizes = fetch(&mut session, &set, "(UID RFC822.SIZE)").await;
        assert!(sizes.is_empty(), "sizes come without a body");
        let got = fetch(&mut session, &set, "BODY.PEEK[]").await;
        bodies += got.iter().filter(|(_, b)| b.len() >= BODY_BYTES).count();
        let _: Vec<_> = session
            .uid_store(&set, "+FLAGS (\\Seen)")
            .await
            .expect("UID STORE")
            .try_collect()
            .await
            .expect("STORE answers");
    }
    let _ = session.logout().await;
    bodies
}

/// Every UID of the selected folder, ascending.
async fn all_uids(session: &mut ImapSession) -> Vec<u32> {
    let mut uids: Vec<u32> = session
        .uid_search("ALL")
        .await
        .expect("SEARCH")
        .into_iter()
        .collect();
    uids.sort_unstable();
    uids
}

/// `item` of every message of `set`: (UID, body bytes) of the answers that
/// carry a body.
async fn fetch(session: &mut ImapSession, set: &str, item: &str) -> Vec<(u32, Vec<u8>)> {
    session
        .uid_fetch(set, item)
        .await
        .expect("UID FETCH")
        .try_filter_map(|f| async move { Ok(f.uid.zip(f.body().map(<[u8]>::to_vec))) })
        .try_collect()
        .await
        .expect("UID FETCH answers")
}

async fn connect(d: &Dovecot, user: &str, password: &str) -> ImapSession {
    let stream = tokio::net::TcpStream::connect((d.host(), d.port()))
        .await
        .expect("connect to Dovecot");
    let mut client = async_imap::Client::new(stream);
    client
        .read_response()
        .await
        .expect("greeting")
        .expect("a greeting");
    client
        .login(user, password)
        .await
        .map_err(|(e, _)| e)
        .expect("LOGIN")
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------- parley

/// A fresh SQLite store (the configured defaults: WAL, synchronous=FULL)
/// and an intake with group commit, as `parley serve` builds them.
struct Bench {
    intake: Arc<Intake>,
    _dir: tempfile::TempDir,
}

impl Bench {
    async fn open() -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("parley.toml");
        std::fs::write(
            &path,
            format!(
                "[store]\nurl = \"sqlite://{}/parley.db\"\n\
                 [token]\nsecret = \"bench-secret-0123456789\"\n\
                 [mail]\nreply_domain = \"reply.bench.test\"\n\
                 [[queues]]\nname = \"{QUEUE}\"\nintake = [\"{INTAKE}\"]\nstaff = [\"seller@shop.example\"]\n",
                dir.path().display()
            ),
        )
        .expect("config");
        let config = Config::load(Some(&path)).expect("config");
        let store: Arc<dyn Store> = Arc::from(store::open(&config.store).await.expect("store"));
        for queue in &config.queues {
            store.sync_queue(queue).await.expect("queue");
        }
        let secret = config.load_secret().expect("secret");
        let intake =
            Intake::new(&config, &secret, store).with_group_commit(config.intake.commit_batch, 1);
        Bench {
            intake: Arc::new(intake),
            _dir: dir,
        }
    }

    /// Every message stored once, and the cursor at the last UID (when an
    /// IMAP line wrote it).
    async fn check(&self, imap: &ImapConfig, n: usize, what: &str) -> Vec<String> {
        let mut failures = Vec::new();
        let raws = self.intake.store().raw_count().await.expect("count") as usize;
        if raws != n {
            failures.push(format!("{what}: the store holds {raws} messages, not {n}"));
        }
        let cursor = self
            .intake
            .store()
            .imap_cursor(&imap.key())
            .await
            .expect("cursor");
        if cursor.map(|c| c.last_uid) != Some(n as i64) {
            failures.push(format!("{what}: cursor {cursor:?}, expected last_uid {n}"));
        }
        failures
    }

    fn envelope() -> Envelope {
        Envelope {
            sender: None,
            recipients: vec![INTAKE.to_string()],
            source: Source::Imap,
        }
    }

    /// Messages 0..n delivered as the poller delivers a batch: BATCH at
    /// once (joined in one task, so group commit batches them), then one
    /// cursor write. No IMAP.
    async fn deliver_batches(&self, imap: &ImapConfig, n: usize) {
        let envelope = Bench::envelope();
        let key = imap.key();
        let ids: Vec<usize> = (0..n).collect();
        for chunk in ids.chunks(BATCH) {
            // As the poller does: each delivery its own task.
            let deliveries = chunk.iter().map(|&i| {
                let (intake, envelope) = (Arc::clone(&self.intake), envelope.clone());
                let task = tokio::spawn(async move {
                    intake.deliver(message(i).into_bytes(), &envelope).await
                });
                async move { (i, task.await.expect("the delivery's task")) }
            });
            for (i, outcome) in futures_util::future::join_all(deliveries).await {
                match outcome {
                    Ok(Outcome::Stored { .. }) => {}
                    other => panic!("message {i}: {other:?}"),
                }
            }
            let cursor = ImapCursor {
                uidvalidity: 1,
                last_uid: *chunk.last().expect("a message") as i64 + 1,
            };
            self.intake
                .store()
                .set_imap_cursor(&key, cursor)
                .await
                .expect("cursor");
        }
    }
}

/// The `[[imap]]` entry of `user` as an admin writes it: plain IMAP on
/// loopback (`tls = "none"`; a build whose `[[imap]]` has no `tls` key
/// takes the entry without it).
fn mailbox(d: &Dovecot, user: &str, password: &str) -> ImapConfig {
    let text = format!(
        "host = \"{}\"\nport = {}\nusername = \"{user}\"\npassword = \"{password}\"\n\
         queue = \"{QUEUE}\"\nafter = \"seen\"\nbatch = {BATCH}\n",
        d.host(),
        d.port()
    );
    toml::from_str(&format!("tls = \"none\"\n{text}"))
        .or_else(|_| toml::from_str(&text))
        .expect("a valid [[imap]] entry")
}

// ---------------------------------------------------------------- /proc

/// CPU seconds of Dovecot: its live processes, and the children its master
/// has reaped (imap processes of closed sessions).
fn dovecot_cpu(d: &Dovecot) -> f64 {
    let processes = d.processes();
    let mut total: f64 = processes
        .iter()
        .map(|pid| cpu_seconds(&pid.to_string(), false))
        .sum();
    if let Some(master) = processes.first() {
        total += cpu_seconds(&master.to_string(), true);
    }
    total
}

fn dovecot_version() -> String {
    std::process::Command::new("dovecot")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "(version unknown)".into())
}
