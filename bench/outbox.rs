//! bench/outbox: notifications per second from the outbox worker to
//! Postfix's `smtp-sink`, beside `smtp-source`'s rate against the same sink
//! in the same run (issue 7; target: at least half of it).
//!
//! For each `[outbox]` setting tried (concurrency, batch): a fresh SQLite
//! store (WAL, `synchronous=FULL`) is filled before the clock starts with
//! N new-ticket mails through `Intake::deliver` to a queue with one staff
//! address, which writes one pending `new_message` row each. Then
//! `smtp-source` sends N messages of the composed notification's size to the
//! sink with `-s` = the worker's concurrency (connection reused, as the worker's
//! pool does; and a new connection per message), and the worker of `parley
//! serve` ([`Worker`], built as `serve.rs` builds it) is driven by
//! `Worker::drain`, as `Worker::run` drives it, until a batch claims nothing; timed from
//! the first claim to the last row recorded. Afterwards the store must show
//! N sent and none pending or failed, and the sink's counter (`smtp-sink -c`)
//! must have grown by exactly N.
//!
//! `cargo bench --bench outbox` sends 10,000 (`PARLEY_BENCH_NOTIFICATIONS`
//! changes it) with three settings, the default (8, 32) in the middle. Under
//! `cargo test` a smoke pass sends 200 with the default, the sink also
//! dumping every mail (`-d`): each sent row's Message-ID must have arrived
//! exactly once. Without smtp-source/smtp-sink both fail, saying so.

#[path = "proc.rs"]
#[allow(dead_code)] // its memory readers serve bench/smtp
mod proc;

#[path = "ceiling.rs"]
mod ceiling;
#[path = "postfix.rs"]
mod postfix;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parley::config::Config;
use parley::intake::{Envelope, Intake, Outcome};
use parley::outbox::compose::Composer;
use parley::outbox::throttle::Throttle;
use parley::outbox::worker::{self, Worker};
use parley::store::{self, OutboxState, Source, Store};
use postfix::{Guard, postfix_tools, sink_user};
use proc::{cpu_model, cpu_seconds};

const INTAKE: &str = "sales@bench.test";
const STAFF: &str = "seller@bench.test";
const TARGET_RATIO: f64 = 0.5;
/// The default `[outbox]` (config/parley.toml): concurrency, batch.
const DEFAULT: (usize, usize) = (8, 32);

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let count: usize = std::env::var("PARLEY_BENCH_NOTIFICATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 10_000 } else { 200 });
    let settings: &[(usize, usize)] = if full {
        &[(4, 16), DEFAULT, (16, 64)]
    } else {
        &[DEFAULT]
    };
    println!(
        "bench/outbox ({}): {}; {} cores, {}; load average {}",
        if full { "full run" } else { "smoke pass" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
        load_average(),
    );
    let Some(tools) = postfix_tools() else {
        println!(
            "FAIL: smtp-source/smtp-sink not found (Debian package postfix). Install without starting a Postfix:\n  \
             printf 'postfix postfix/main_mailer_type select No configuration\\n' | debconf-set-selections\n  \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix"
        );
        std::process::exit(1);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scratch = tempfile::tempdir().expect("tempdir");
    let dumps = (!full).then(|| scratch.path().join("dumps"));
    let sink = Sink::start(&tools.sink, scratch.path(), dumps.as_deref());

    let mut failures = Vec::new();
    let mut rows = Vec::new();
    let reference = runtime.block_on(ceiling::commit_ceiling(if full { 3_000 } else { 100 }));
    for &(concurrency, batch) in settings {
        let bench = runtime.block_on(Bench::fill(count, concurrency, batch));
        let size = runtime.block_on(bench.composed_size());
        let mut line = Line {
            concurrency,
            batch,
            size,
            source: Vec::new(),
            parley: None,
        };
        for reuse in [true, false] {
            let before = sink.received();
            let m = smtp_source(
                &tools.source,
                sink.port,
                concurrency,
                count,
                size,
                reuse,
                &sink,
            );
            let got = sink.received_settled(before + count) - before;
            if !m.errors.is_empty() || got != count {
                failures.push(format!(
                    "smtp-source (-s {concurrency}, reuse {reuse}): sink counted {got} of {count}; {}",
                    m.errors
                ));
            }
            line.source.push((reuse, m));
        }
        if let Some(dir) = &dumps {
            // smtp-source's mails: only the worker's are checked.
            for file in std::fs::read_dir(dir).expect("dump folder").flatten() {
                std::fs::remove_file(file.path()).expect("a dump removed");
            }
        }
        let before = sink.received();
        let m = runtime.block_on(bench.send_all(&sink));
        let got = sink.received_settled(before + count) - before;
        if got != count {
            failures.push(format!(
                "parley (concurrency {concurrency}, batch {batch}): the sink counted {got} mails for {count} notifications"
            ));
        }
        failures.extend(runtime.block_on(bench.check(count, dumps.as_deref())));
        line.parley = Some(m);
        rows.push(line);
    }
    drop(sink);
    print_table(&rows, count, reference);
    if full {
        let default = rows.iter().find(|l| (l.concurrency, l.batch) == DEFAULT);
        if let Some(ratio) = default.and_then(Line::ratio)
            && ratio < TARGET_RATIO
        {
            println!(
                "BELOW TARGET: with the default [outbox] parley sends at {:.0}% of smtp-source's rate (target ≥ {:.0}%)",
                ratio * 100.0,
                TARGET_RATIO * 100.0
            );
        }
    }
    if !failures.is_empty() {
        println!();
        for f in &failures {
            println!("FAIL: {f}");
        }
        std::process::exit(1);
    }
}

/// One client's run against the sink.
struct Measured {
    seconds: f64,
    /// CPU seconds of the sender (smtp-source, or this process: parley's
    /// worker and its SQLite threads) and of the sink.
    sender_cpu: f64,
    sink_cpu: f64,
    errors: String,
}

/// One `[outbox]` setting: smtp-source (reused, new connection) and parley.
struct Line {
    concurrency: usize,
    batch: usize,
    size: usize,
    source: Vec<(bool, Measured)>,
    parley: Option<Measured>,
}

impl Line {
    /// parley's rate over smtp-source's with reused connections.
    fn ratio(&self) -> Option<f64> {
        let source = self.source.iter().find(|(reuse, _)| *reuse)?;
        Some(source.1.seconds / self.parley.as_ref()?.seconds)
    }
}

fn print_table(lines: &[Line], count: usize, reference: f64) {
    println!(
        "\nreference: sqlx single-row commits on this disk (WAL, synchronous=FULL): {reference:.0} commits/s"
    );
    println!(
        "\n{:>4} {:>5} {:>6} {:<28} {:>7} {:>8} {:>9} {:>10} {:>8}",
        "conc", "batch", "size", "sender", "seconds", "msg/s", "p/source", "sender cpu", "sink cpu"
    );
    for line in lines {
        let mut out = Vec::new();
        for (reuse, m) in &line.source {
            let label = if *reuse {
                "smtp-source -d (reused)"
            } else {
                "smtp-source (new conn.)"
            };
            out.push((label, m, "-".to_string()));
        }
        if let Some(m) = &line.parley {
            let ratio = line.ratio().map_or("-".into(), |r| format!("{r:.2}"));
            out.push(("parley outbox worker", m, ratio));
        }
        for (label, m, ratio) in out {
            println!(
                "{:>4} {:>5} {:>6} {:<28} {:>7.2} {:>8.0} {:>9} {:>9.0}% {:>7.0}%",
                line.concurrency,
                line.batch,
                line.size,
                label,
                m.seconds,
                count as f64 / m.seconds,
                ratio,
                m.sender_cpu / m.seconds * 100.0,
                m.sink_cpu / m.seconds * 100.0,
            );
        }
    }
    println!(
        "(conc: smtp-source -s and outbox.concurrency; size: the composed notification, smtp-source -l; \
         p/source: parley's rate over smtp-source -d's; cpu: share of one core, out of {}00%)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

// ---------------------------------------------------------------- parley

struct Bench {
    // Dropped last: the store's files live here.
    _dir: tempfile::TempDir,
    config: Config,
    store: Arc<dyn Store>,
}

impl Bench {
    /// A fresh store holding `count` pending notifications: one new ticket
    /// each, in a queue with one staff address.
    async fn fill(count: usize, concurrency: usize, batch: usize) -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("parley.toml");
        // The lease outlasts the bench: a row is never claimed twice here.
        std::fs::write(
            &path,
            format!(
                "[store]\nurl = \"sqlite://{}/parley.db\"\n[token]\nsecret = \"bench-secret-0123456789\"\n\
                 [mail]\nreply_domain = \"reply.bench.test\"\n\
                 [smtp]\nhostname = \"bench.test\"\n\
                 [relay]\nhost = \"127.0.0.1\"\nport = 25\ntls = \"none\"\ntimeout_secs = 60\n\
                 [outbox]\nconcurrency = {concurrency}\nbatch = {batch}\nlease_secs = 3600\n\
                 [[queues]]\nname = \"bench\"\nintake = [\"{INTAKE}\"]\nstaff = [\"{STAFF}\"]\n",
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
            Arc::new(Intake::new(&config, &secret, store.clone()).with_group_commit(64, 1));
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let (intake, next) = (intake.clone(), next.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        break;
                    }
                    let from = format!("bidder{i}@bidder.test");
                    let env = Envelope {
                        sender: Some(from.clone()),
                        recipients: vec![INTAKE.into()],
                        source: Source::Smtp,
                    };
                    match intake.deliver(new_ticket_mail(&from, i), &env).await {
                        Ok(Outcome::Stored {
                            new_ticket: true, ..
                        }) => {}
                        other => panic!("setup mail {i}: {other:?}"),
                    }
                }
            }));
        }
        for task in tasks {
            task.await.expect("setup task");
        }
        let pending = store
            .outbox(Some(OutboxState::Pending), count as i64 + 1)
            .await
            .expect("outbox");
        assert_eq!(pending.len(), count, "one pending notification per ticket");
        assert!(pending.iter().all(|r| r.recipient == STAFF));
        Bench {
            _dir: dir,
            config,
            store,
        }
    }

    /// The worker `parley serve` runs, built as `serve.rs` builds it, its
    /// relay pointed at `port`.
    fn worker(&self, port: u16) -> Worker {
        let mut config = self.config.clone();
        config.relay.port = Some(port);
        let secret = config.load_secret().expect("secret");
        Worker {
            store: self.store.clone(),
            composer: self.composer(&secret),
            relay: worker::relay(&config).expect("relay"),
            send_timeout: Duration::from_secs(config.relay.timeout_secs),
            config: config.outbox.clone(),
            // Every notification goes to one address: the per-recipient
            // throttle would hold all but the first 200 of an hour back.
            throttle: Throttle::off(),
        }
    }

    fn composer(&self, secret: &[u8]) -> Composer {
        Composer::new(&self.config, secret).expect("composer")
    }

    /// The size of the first row's mail as the worker composes it.
    async fn composed_size(&self) -> usize {
        let row = self.store.outbox(None, 1).await.expect("outbox").remove(0);
        // The relay is not used: composing only.
        let worker = self.worker(0);
        worker
            .compose_alone(&row)
            .await
            .expect("composed")
            .bytes
            .len()
    }

    /// The worker drained (batches until one claims nothing), timed.
    async fn send_all(&self, sink: &Sink) -> Measured {
        let worker = std::sync::Arc::new(self.worker(sink.port));
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let sink_before = cpu_seconds(&sink.pid().to_string(), false);
        let own_before = cpu_seconds("self", false);
        let start = Instant::now();
        let mut errors = String::new();
        if let Err(e) = worker.drain(&stopped).await {
            errors = format!("claim: {e}");
        }
        Measured {
            seconds: start.elapsed().as_secs_f64(),
            sender_cpu: cpu_seconds("self", false) - own_before,
            sink_cpu: cpu_seconds(&sink.pid().to_string(), false) - sink_before,
            errors,
        }
    }

    /// What the store and (when it dumped) the sink say afterwards.
    async fn check(&self, count: usize, dumps: Option<&Path>) -> Vec<String> {
        let mut failures = Vec::new();
        let limit = count as i64 + 1;
        let mut by_state = HashMap::new();
        for state in [OutboxState::Sent, OutboxState::Pending, OutboxState::Failed] {
            let rows = self.store.outbox(Some(state), limit).await.expect("outbox");
            by_state.insert(state.as_str(), rows);
        }
        let n = |s: &str| by_state[s].len();
        if (n("sent"), n("pending"), n("failed")) != (count, 0, 0) {
            let reply = by_state["pending"]
                .iter()
                .chain(&by_state["failed"])
                .find_map(|r| r.last_reply.clone())
                .unwrap_or_default();
            failures.push(format!(
                "store: {} sent, {} pending, {} failed of {count} (a reply: {reply:?})",
                n("sent"),
                n("pending"),
                n("failed"),
            ));
        }
        if let Some(dir) = dumps {
            let mut seen: HashMap<String, usize> = HashMap::new();
            for id in dumped_message_ids(dir) {
                *seen.entry(id).or_default() += 1;
            }
            for row in &by_state["sent"] {
                match seen.remove(&row.message_id) {
                    Some(1) => {}
                    Some(k) => failures.push(format!("{} arrived {k} times", row.message_id)),
                    None => {
                        failures.push(format!("{} recorded sent, never arrived", row.message_id))
                    }
                }
            }
            if !seen.is_empty() {
                failures.push(format!(
                    "{} mails arrived that no sent row names",
                    seen.len()
                ));
            }
        }
        failures
    }
}

/// A new conversation of about 1.5 KB of plain text: the text the
/// notification carries.
fn new_ticket_mail(from: &str, i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Bidder {i} <{from}>\r\nTo: {INTAKE}\r\nSubject: Lot {i}: the oak sideboard\r\n\
         Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <outbox-bench-{i}@bidder.test>\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n\
         Hello, is lot {i} still available? Can I collect it on Saturday morning?\r\n\r\n"
    );
    let mut line = 0;
    while m.len() < 1700 {
        m.push_str(&format!(
            "Question {line}: are the drawers of the sideboard original, and do they run smoothly?\r\n"
        ));
        line += 1;
    }
    m.push_str("\r\nKind regards\r\n");
    m.into_bytes()
}

/// The Message-IDs of the mails smtp-sink dumped into `dir`.
fn dumped_message_ids(dir: &Path) -> Vec<String> {
    let files = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
        .unwrap_or_default();
    files
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|text| {
            text.lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("message-id").then(|| {
                        value
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .to_string()
                    })
                })
                .unwrap_or_default()
        })
        .collect()
}

// ---------------------------------------------------------------- processes

/// `smtp-sink -c` on a free port: its running counters go to `counters`,
/// from which [`Sink::received`] reads how many mails it took.
struct Sink {
    child: Guard,
    port: u16,
    counters: PathBuf,
}

impl Sink {
    fn start(path: &Path, dir: &Path, dumps: Option<&Path>) -> Sink {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let user = sink_user();
        let counters = dir.join("sink-counters");
        let out = std::fs::File::create(&counters).expect("counters file");
        let mut cmd = Command::new(path);
        cmd.args(["-c", "-u", &user]);
        if let Some(dumps) = dumps {
            std::fs::create_dir_all(dumps).expect("dump folder");
            cmd.arg("-d").arg(dumps.join("%M."));
        }
        let child = cmd
            .args([&format!("127.0.0.1:{port}"), "1024"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(Stdio::null())
            .spawn()
            .expect("start smtp-sink");
        let mut sink = Sink {
            child: Guard(child),
            port,
            counters,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sink.child.0.try_wait() {
                panic!("smtp-sink exited before it listened ({status})");
            }
            assert!(Instant::now() < deadline, "smtp-sink does not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        // The connection above counts as a session, not as a mail.
        sink.wait_settled();
        sink
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// Mails taken so far: the last `mesg=` of its counters.
    fn received(&self) -> usize {
        let text = std::fs::read_to_string(&self.counters).unwrap_or_default();
        text.rsplit("mesg=")
            .next()
            .filter(|_| text.contains("mesg="))
            .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The count once it reached `want` (or stopped moving for a second).
    fn received_settled(&self, want: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut last = self.received();
        let mut still = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.received();
            if now >= want && now == last && still.elapsed() > Duration::from_millis(100) {
                return now;
            }
            if now != last {
                still = Instant::now();
                last = now;
            }
            if Instant::now() > deadline || still.elapsed() > Duration::from_secs(1) {
                return now;
            }
        }
    }

    fn wait_settled(&self) {
        let _ = self.received_settled(usize::MAX);
    }
}

/// Runs smtp-source against the sink and times it.
fn smtp_source(
    path: &Path,
    port: u16,
    sessions: usize,
    messages: usize,
    size: usize,
    reuse: bool,
    sink: &Sink,
) -> Measured {
    let mut cmd = Command::new(path);
    cmd.args(["-s", &sessions.to_string(), "-m", &messages.to_string()])
        .args(["-l", &size.to_string(), "-f", "a@x.test", "-t", STAFF]);
    if reuse {
        cmd.arg("-d");
    }
    cmd.arg(format!("127.0.0.1:{port}"));
    let children_before = cpu_seconds("self", true);
    let sink_before = cpu_seconds(&sink.pid().to_string(), false);
    let start = Instant::now();
    let out = cmd.output().expect("run smtp-source");
    let seconds = start.elapsed().as_secs_f64();
    let mut errors = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        errors.push_str(&format!(" (exit: {})", out.status));
    }
    Measured {
        seconds,
        sender_cpu: cpu_seconds("self", true) - children_before,
        sink_cpu: cpu_seconds(&sink.pid().to_string(), false) - sink_before,
        errors,
    }
}

/// /proc/loadavg's first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
