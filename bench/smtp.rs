//! bench/smtp: `parley serve` over SMTP against the protocol ceiling of this
//! machine, Postfix's `smtp-sink`, measured in the same run, on both stores
//! and with several instances on one PostgreSQL database (issue 18).
//!
//! `cargo bench --bench smtp` drives each server with Postfix's
//! `smtp-source` (16 sessions; 4 KB and 64 KB messages; a new connection
//! per message as an MX sees, and the connection reused with `-d`) and
//! prints messages/s. A client of our own (16 threads, blocking sockets,
//! MAIL+RCPT+DATA pipelined) times each transaction from MAIL to the 250
//! after the dot for p50/p99. The servers, in turn, each with the same
//! clients: smtp-sink; parley on SQLite; for 4 KB, parley on a fresh
//! PostgreSQL database with 1, 2 and 3 instances (each its own listener;
//! the sessions split among them, one smtp-source per instance running at
//! once, the rate being all messages over the wall time of the slowest).
//! Then parley's peak resident memory (VmHWM), and its resident memory with
//! 500 idle sessions open (target: below 100 MB). After every run against
//! parley the store is counted: it must hold exactly the messages that
//! were acknowledged ("250" means durable), none twice.
//!
//! The PostgreSQL server is the tests' `PARLEY_TEST_POSTGRES_URL` (a
//! server where databases may be created: each run creates its own and
//! drops it); unset or unreachable, the full run prints that the
//! PostgreSQL rows were skipped.
//!
//! `PARLEY_BENCH_MESSAGES` sets the smtp-source count for 4 KB (default
//! 40,000, about 4 s against smtp-sink and 15-40 s against parley here);
//! 64 KB runs send 3/10 of it. Under `cargo test` (no `--bench`) a smoke
//! pass sends 200 messages of 4 KB over 4 sessions and fails if parley lost
//! an acknowledged message; when `PARLEY_TEST_POSTGRES_URL` is set, 100
//! more to one instance on PostgreSQL (then a server that does not answer
//! fails it); without smtp-source/smtp-sink it runs only its own client.

#[path = "proc.rs"]
mod proc;

#[path = "postfix.rs"]
mod postfix;

#[path = "smtp/servers.rs"]
mod servers;

#[path = "smtp/client.rs"]
mod client;

use std::time::Duration;

use client::{idle_sessions, own_client, smtp_source};

use postfix::{Tools, postfix_tools};
use proc::{cpu_model, raise_nofile, status_field, status_mb};
use servers::{Counts, POSTGRES_ENV, Parley, Sink, Target, postgres_admin};
use tokio::runtime::Runtime;

const PARLEY: &str = env!("CARGO_BIN_EXE_parley");
const SENDER: &str = "a@x.test";
const INTAKE: &str = "desk@shop.example";
const TARGET_RATIO: f64 = 0.5;
const IDLE_LIMIT_MB: f64 = 100.0;
/// The client column of our own client rows.
const OWN: &str = "own, 250 timed";
/// The message size PostgreSQL is measured with.
const PG_SIZE: usize = 4096;

/// What one run sends.
struct Plan {
    full: bool,
    sessions: usize,
    /// (message size, smtp-source messages, own-client messages per thread)
    sizes: Vec<(usize, usize, usize)>,
    /// Instances on PostgreSQL, one row each (4 KB only).
    pg_instances: Vec<usize>,
    /// smtp-source messages per PostgreSQL run.
    pg_messages: usize,
    idle: usize,
}

impl Plan {
    fn new(full: bool) -> Plan {
        let n: usize = std::env::var("PARLEY_BENCH_MESSAGES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(if full { 40_000 } else { 200 });
        if full {
            Plan {
                full,
                sessions: 16,
                sizes: vec![(4096, n, 1500), (65536, (n * 3 / 10).max(1), 300)],
                pg_instances: vec![1, 2, 3],
                pg_messages: n,
                idle: 500,
            }
        } else {
            Plan {
                full,
                sessions: 4,
                sizes: vec![(4096, n, 10)],
                pg_instances: vec![1],
                pg_messages: n.min(100),
                idle: 20,
            }
        }
    }
}

/// One line of the table.
struct Row {
    target: Target,
    size: usize,
    client: &'static str,
    reuse: bool,
    messages: usize,
    seconds: f64,
    /// CPU seconds of the server(s) and of the client(s) during the run.
    server_cpu: f64,
    client_cpu: f64,
    latency: Option<(Duration, Duration)>,
    /// The largest of the servers' peaks.
    peak_rss_mb: Option<f64>,
}

/// What one load run gave.
struct Measured {
    seconds: f64,
    server_cpu: f64,
    client_cpu: f64,
    /// p50 and p99 per transaction (our own client only).
    latency: Option<(Duration, Duration)>,
    /// Transactions answered 250 (our own client only).
    acked: usize,
    /// What the client reported; empty when all went well.
    errors: String,
}

impl Row {
    fn new(
        target: Target,
        size: usize,
        client: &'static str,
        reuse: bool,
        messages: usize,
        m: &Measured,
        pids: &[u32],
    ) -> Row {
        Row {
            target,
            size,
            client,
            reuse,
            messages,
            seconds: m.seconds,
            server_cpu: m.server_cpu,
            client_cpu: m.client_cpu,
            latency: m.latency,
            peak_rss_mb: pids
                .iter()
                .filter_map(|pid| status_mb(&pid.to_string(), "VmHWM"))
                .reduce(f64::max),
        }
    }

    fn rate(&self) -> f64 {
        self.messages as f64 / self.seconds
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let plan = Plan::new(full);
    let failures = run(&plan);
    if !failures.is_empty() {
        println!();
        for f in &failures {
            println!("FAIL: {f}");
        }
        std::process::exit(1);
    }
}

fn run(plan: &Plan) -> Vec<String> {
    let mut failures = Vec::new();
    println!(
        "bench/smtp ({}): {}; {} cores, {}",
        if plan.full { "full run" } else { "smoke pass" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
    );
    println!("parley: {PARLEY}");
    let tools = postfix_tools();
    if tools.is_none() {
        println!(
            "smtp-source/smtp-sink not found (Debian package postfix). Install without starting a Postfix:\n  \
             printf 'postfix postfix/main_mailer_type select No configuration\\n' | debconf-set-selections\n  \
             DEBIAN_FRONTEND=noninteractive apt-get install -y -q postfix"
        );
        if plan.full {
            return vec!["smtp-source/smtp-sink are missing".into()];
        }
        println!("smoke pass: only our own client against parley");
    }
    raise_nofile(plan.idle * 2 + 200);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let pg = match postgres_admin(&runtime) {
        Ok(Some(admin)) => Some(admin),
        Ok(None) => {
            println!("PostgreSQL rows skipped: {POSTGRES_ENV} is not set");
            None
        }
        Err(e) if plan.full => {
            println!("PostgreSQL rows skipped: {e}");
            None
        }
        Err(e) => {
            failures.push(e);
            None
        }
    };

    let mut rows = Vec::new();
    for &(size, messages, per_thread) in &plan.sizes {
        if let Some(tools) = &tools {
            measure_sink(
                tools,
                plan,
                size,
                messages,
                per_thread,
                &mut rows,
                &mut failures,
            );
        }
        let mut targets = vec![(Target::Sqlite, messages)];
        if pg.is_some() && size == PG_SIZE {
            targets.extend(
                plan.pg_instances
                    .iter()
                    .map(|&n| (Target::Postgres(n), plan.pg_messages)),
            );
        }
        for (target, messages) in targets {
            let mut parley = match Parley::start(target, pg.as_deref(), &runtime) {
                Ok(parley) => parley,
                Err(e) => {
                    failures.push(format!("{target}: {e}"));
                    continue;
                }
            };
            let load = Load {
                tools: tools.as_ref(),
                sessions: plan.sessions,
                size,
                messages,
                per_thread,
            };
            load.measure(&runtime, &mut parley, target, &mut rows, &mut failures);
            let log = parley.log_tail();
            if !log.is_empty() {
                println!("parley's log ({target}, {size} B):\n{log}");
            }
        }
    }
    print_table(&rows);
    print_summary(&rows);
    for row in rows.iter().filter(|r| r.client == "smtp-source") {
        let below = |ratio: Option<f64>, of: &str, target: f64| match ratio {
            Some(r) if plan.full && row.size == 4096 && !row.reuse && r < target => println!(
                "BELOW TARGET: parley on {} at {:.0}% of {of}'s rate for 4 KB, new connection per message (target ≥ {:.0}%)",
                row.target,
                r * 100.0,
                target * 100.0
            ),
            _ => {}
        };
        match row.target {
            Target::Sqlite => below(ratio(&rows, row, Target::Sink), "smtp-sink", TARGET_RATIO),
            Target::Postgres(1) => below(ratio(&rows, row, Target::Sqlite), "SQLite", 1.0),
            _ => {}
        }
    }

    // Idle sessions on a fresh parley: greeted, EHLO answered, then nothing.
    let parley = Parley::start(Target::Sqlite, None, &runtime).expect("parley on SQLite");
    let pid = parley.pids()[0].to_string();
    let base = status_mb(&pid, "VmRSS").unwrap_or(0.0);
    let (open, idle_errors) = idle_sessions(parley.ports[0], plan.idle);
    std::thread::sleep(Duration::from_millis(300));
    let rss = status_mb(&pid, "VmRSS").unwrap_or(f64::NAN);
    let hwm = status_mb(&pid, "VmHWM").unwrap_or(f64::NAN);
    let threads = status_field(&pid, "Threads").unwrap_or_default();
    println!(
        "\nidle sessions: {} open (greeted, EHLO answered): parley VmRSS {rss:.1} MB \
         (before: {base:.1} MB; +{:.1} KB per session), VmHWM {hwm:.1} MB, {threads} threads",
        open.len(),
        (rss - base) * 1024.0 / open.len().max(1) as f64,
    );
    if open.len() < plan.idle {
        failures.push(format!(
            "only {} of {} idle sessions opened: {idle_errors}",
            open.len(),
            plan.idle
        ));
    }
    if plan.full && (rss.is_nan() || rss >= IDLE_LIMIT_MB) {
        println!(
            "FAIL: {rss:.1} MB resident with {} idle sessions (target < {IDLE_LIMIT_MB} MB)",
            open.len()
        );
        failures.push(format!("idle memory {rss:.1} MB ≥ {IDLE_LIMIT_MB} MB"));
    }
    drop(open);
    failures
}

/// smtp-source (new connections, then reused) and our own client against
/// a fresh smtp-sink.
fn measure_sink(
    tools: &Tools,
    plan: &Plan,
    size: usize,
    messages: usize,
    per_thread: usize,
    rows: &mut Vec<Row>,
    failures: &mut Vec<String>,
) {
    let sink = Sink::start(&tools.sink);
    let pids = [sink.pid()];
    for reuse in [false, true] {
        let m = smtp_source(
            &tools.source,
            &[sink.port],
            plan.sessions,
            messages,
            size,
            reuse,
            &pids,
        );
        if !m.errors.is_empty() {
            failures.push(format!("smtp-source → smtp-sink reported: {}", m.errors));
        }
        rows.push(Row::new(
            Target::Sink,
            size,
            "smtp-source",
            reuse,
            messages,
            &m,
            &pids,
        ));
    }
    let own_sent = plan.sessions * per_thread;
    let m = own_client(&[sink.port], plan.sessions, per_thread, size, &pids, "sink");
    if !m.errors.is_empty() || m.acked != own_sent {
        failures.push(format!(
            "own client → smtp-sink: {} of {own_sent} acknowledged; {}",
            m.acked, m.errors
        ));
    }
    rows.push(Row::new(Target::Sink, size, OWN, true, m.acked, &m, &pids));
}

/// The load of one size, the same against every parley.
struct Load<'a> {
    tools: Option<&'a Tools>,
    sessions: usize,
    size: usize,
    messages: usize,
    per_thread: usize,
}

impl Load<'_> {
    /// smtp-source (new connections, then reused) and our own client
    /// against `parley`, counting its store after each run: it must have
    /// gained exactly the messages acknowledged, each once.
    fn measure(
        &self,
        runtime: &Runtime,
        parley: &mut Parley,
        target: Target,
        rows: &mut Vec<Row>,
        failures: &mut Vec<String>,
    ) {
        let size = self.size;
        let pids = parley.pids();
        let ports = parley.ports.clone();
        if let Some(tools) = self.tools {
            for reuse in [false, true] {
                let before = parley.counts(runtime);
                let m = smtp_source(
                    &tools.source,
                    &ports,
                    self.sessions,
                    self.messages,
                    size,
                    reuse,
                    &pids,
                );
                if !m.errors.is_empty() {
                    failures.push(format!(
                        "smtp-source → {target} ({size} B, reuse {reuse}) reported errors: {}",
                        m.errors
                    ));
                }
                rows.push(Row::new(
                    target,
                    size,
                    "smtp-source",
                    reuse,
                    self.messages,
                    &m,
                    &pids,
                ));
                let what = format!("smtp-source, {size} B, reuse {reuse}");
                check(
                    runtime,
                    parley,
                    target,
                    before,
                    self.messages,
                    &what,
                    failures,
                );
            }
        }
        let before = parley.counts(runtime);
        let own_sent = self.sessions * self.per_thread;
        let label = target.to_string();
        let m = own_client(&ports, self.sessions, self.per_thread, size, &pids, &label);
        if !m.errors.is_empty() || m.acked != own_sent {
            failures.push(format!(
                "own client → {target} ({size} B): {} of {own_sent} acknowledged; {}",
                m.acked, m.errors
            ));
        }
        rows.push(Row::new(target, size, OWN, true, m.acked, &m, &pids));
        let what = format!("own client, {size} B");
        check(runtime, parley, target, before, m.acked, &what, failures);
    }
}

/// Fails the run unless the store gained exactly `acked` messages since
/// `before`, and holds none twice.
fn check(
    runtime: &Runtime,
    parley: &mut Parley,
    target: Target,
    before: Counts,
    acked: usize,
    what: &str,
    failures: &mut Vec<String>,
) {
    let after = parley.counts(runtime);
    let raw = (after.raw - before.raw) as usize;
    let inbound = (after.inbound - before.inbound) as usize;
    if raw != acked || inbound != acked {
        failures.push(format!(
            "{target} acknowledged {acked} messages but stored {raw} (threaded {inbound}) ({what})"
        ));
    }
    if after.distinct_raw != after.inbound {
        failures.push(format!(
            "{target} holds {} messages from {} received: some stored twice ({what})",
            after.inbound, after.distinct_raw
        ));
    }
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<7} {:>5} {:<15} {:<6} {:>8} {:>7} {:>7} {:>7} {:>8} {:>8} {:>10} {:>10} {:>8}",
        "target",
        "size",
        "client",
        "conn",
        "messages",
        "seconds",
        "msg/s",
        "p/sink",
        "p50 ms",
        "p99 ms",
        "server cpu",
        "client cpu",
        "peak RSS"
    );
    for row in rows {
        let ratio = match row.target {
            Target::Sink => "-".into(),
            _ => ratio(rows, row, Target::Sink).map_or("-".into(), |r| format!("{r:.2}")),
        };
        let (p50, p99) = match row.latency {
            Some((a, b)) => (ms(a), ms(b)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<7} {:>5} {:<15} {:<6} {:>8} {:>7.2} {:>7.0} {:>7} {:>8} {:>8} {:>9.0}% {:>9.0}% {:>8}",
            row.target,
            format!("{}K", row.size / 1024),
            row.client,
            if row.reuse { "reused" } else { "new" },
            row.messages,
            row.seconds,
            row.rate(),
            ratio,
            p50,
            p99,
            row.server_cpu / row.seconds * 100.0,
            row.client_cpu / row.seconds * 100.0,
            row.peak_rss_mb.map_or("-".into(), |m| format!("{m:.1} MB")),
        );
    }
    println!(
        "(p/sink: parley's msg/s over smtp-sink's for the same client, size and connection mode; \
         pg×N: N instances on one PostgreSQL database, cpu summed over them, peak RSS the largest; \
         cpu: share of one core during the run, out of {}00%)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

/// One line per client, size and connection mode: msg/s on each server
/// side by side, and the ratios the issue asks about.
fn print_summary(rows: &[Row]) {
    let targets = [
        Target::Sink,
        Target::Sqlite,
        Target::Postgres(1),
        Target::Postgres(2),
        Target::Postgres(3),
    ];
    println!(
        "\n{:<28} {:>9} {:>7} {:>7} {:>7} {:>7} {:>11} {:>9} {:>11}",
        "client, size, connection",
        "smtp-sink",
        "SQLite",
        "PG×1",
        "PG×2",
        "PG×3",
        "SQLite/sink",
        "PG×1/sink",
        "PG×1/SQLite"
    );
    let mut seen = Vec::new();
    for row in rows {
        let key = (row.client, row.size, row.reuse);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let rate = |target| {
            rows.iter()
                .find(|r| r.target == target && (r.client, r.size, r.reuse) == key)
                .map(Row::rate)
        };
        let cell = |r: Option<f64>| r.map_or("-".into(), |r| format!("{r:.0}"));
        let over = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        let [sink, sqlite, pg1, pg2, pg3] = targets.map(rate);
        println!(
            "{:<28} {:>9} {:>7} {:>7} {:>7} {:>7} {:>11} {:>9} {:>11}",
            format!(
                "{}, {} KB, {}",
                if row.client == OWN {
                    "own client"
                } else {
                    row.client
                },
                row.size / 1024,
                if row.reuse { "reused" } else { "new" }
            ),
            cell(sink),
            cell(sqlite),
            cell(pg1),
            cell(pg2),
            cell(pg3),
            over(sqlite, sink),
            over(pg1, sink),
            over(pg1, sqlite),
        );
    }
    println!(
        "(msg/s; PG×N: N `parley serve` on one PostgreSQL database, the sessions split among them)"
    );
}

/// `row`'s rate over that of `of` for the same client, size and mode.
fn ratio(rows: &[Row], row: &Row, of: Target) -> Option<f64> {
    rows.iter()
        .find(|r| {
            r.target == of && r.size == row.size && r.client == row.client && r.reuse == row.reuse
        })
        .map(|other| row.rate() / other.rate())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}
