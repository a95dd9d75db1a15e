//! bench/smtp: `parley serve` over SMTP against the protocol ceiling of this
//! machine, Postfix's `smtp-sink`, measured in the same run.
//!
//! `cargo bench --bench smtp` drives both servers with Postfix's `smtp-source`
//! (16 sessions; 4 KB and 64 KB messages; a new connection per message as an
//! MX sees, and the connection reused with `-d`) and prints messages/s and the
//! ratio parley/sink. A client of our own (16 threads, blocking sockets,
//! MAIL+RCPT+DATA pipelined) times each transaction from MAIL to the 250
//! after the dot for p50/p99. Then parley's peak resident memory (VmHWM), and
//! its resident memory with 500 idle sessions open (target: below 100 MB).
//! After every run against parley the store is counted: it must hold exactly
//! the messages that were acknowledged ("250" means durable).
//!
//! `PARLEY_BENCH_MESSAGES` sets the smtp-source count for 4 KB (default
//! 40,000, about 4 s against smtp-sink and 15-20 s against parley here);
//! 64 KB runs send 3/10 of it. Under `cargo test` (no `--bench`) a smoke
//! pass sends 200 messages of 4 KB over 4 sessions and fails if parley lost
//! an acknowledged message; without smtp-source/smtp-sink it runs only its
//! own client.

#[path = "proc.rs"]
mod proc;

#[path = "postfix.rs"]
mod postfix;

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parley::config::Config;
use parley::store::{self, Store};
use postfix::{Guard, postfix_tools};
use proc::{cpu_model, cpu_seconds, raise_nofile, status_field, status_mb};

const PARLEY: &str = env!("CARGO_BIN_EXE_parley");
const SENDER: &str = "a@x.test";
const INTAKE: &str = "desk@shop.example";
const TARGET_RATIO: f64 = 0.5;
const IDLE_LIMIT_MB: f64 = 100.0;
/// The client column of our own client rows.
const OWN: &str = "own, 250 timed";

/// What one run sends.
struct Plan {
    full: bool,
    sessions: usize,
    /// (message size, smtp-source messages, own-client messages per thread)
    sizes: Vec<(usize, usize, usize)>,
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
                idle: 500,
            }
        } else {
            Plan {
                full,
                sessions: 4,
                sizes: vec![(4096, n, 10)],
                idle: 20,
            }
        }
    }
}

/// One line of the table.
struct Row {
    target: &'static str,
    size: usize,
    client: &'static str,
    reuse: bool,
    messages: usize,
    seconds: f64,
    /// CPU seconds of the server and of the client during the run.
    server_cpu: f64,
    client_cpu: f64,
    latency: Option<(Duration, Duration)>,
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
        target: &'static str,
        size: usize,
        client: &'static str,
        reuse: bool,
        messages: usize,
        m: &Measured,
        pid: u32,
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
            peak_rss_mb: status_mb(&pid.to_string(), "VmHWM"),
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

    let mut rows = Vec::new();
    for &(size, messages, per_thread) in &plan.sizes {
        let own_sent = plan.sessions * per_thread;
        if let Some(tools) = &tools {
            let sink = Sink::start(&tools.sink);
            for reuse in [false, true] {
                let m = smtp_source(
                    &tools.source,
                    sink.port,
                    plan.sessions,
                    messages,
                    size,
                    reuse,
                    sink.pid(),
                );
                if !m.errors.is_empty() {
                    failures.push(format!("smtp-source → smtp-sink reported: {}", m.errors));
                }
                rows.push(Row::new(
                    "sink",
                    size,
                    "smtp-source",
                    reuse,
                    messages,
                    &m,
                    sink.pid(),
                ));
            }
            let m = own_client(
                sink.port,
                plan.sessions,
                per_thread,
                size,
                sink.pid(),
                "sink",
            );
            if !m.errors.is_empty() || m.acked != own_sent {
                failures.push(format!(
                    "own client → smtp-sink: {} of {own_sent} acknowledged; {}",
                    m.acked, m.errors
                ));
            }
            rows.push(Row::new("sink", size, OWN, true, m.acked, &m, sink.pid()));
        }

        let parley = Parley::start();
        let store = runtime.block_on(parley.store());
        let count = || runtime.block_on(store.raw_count()).expect("count") as usize;
        if let Some(tools) = &tools {
            for reuse in [false, true] {
                let before = count();
                let m = smtp_source(
                    &tools.source,
                    parley.port,
                    plan.sessions,
                    messages,
                    size,
                    reuse,
                    parley.pid(),
                );
                let stored = count() - before;
                if !m.errors.is_empty() {
                    failures.push(format!(
                        "smtp-source → parley ({size} B, reuse {reuse}) reported errors: {}",
                        m.errors
                    ));
                }
                if stored != messages {
                    failures.push(format!(
                        "parley stored {stored} of {messages} messages smtp-source sent ({size} B, reuse {reuse})"
                    ));
                }
                rows.push(Row::new(
                    "parley",
                    size,
                    "smtp-source",
                    reuse,
                    messages,
                    &m,
                    parley.pid(),
                ));
            }
        }
        let before = count();
        let m = own_client(
            parley.port,
            plan.sessions,
            per_thread,
            size,
            parley.pid(),
            "parley",
        );
        let stored = count() - before;
        if !m.errors.is_empty() || m.acked != own_sent {
            failures.push(format!(
                "own client → parley ({size} B): {} of {own_sent} acknowledged; {}",
                m.acked, m.errors
            ));
        }
        if stored != m.acked {
            failures.push(format!(
                "parley acknowledged {} messages but stored {stored} ({size} B, own client)",
                m.acked
            ));
        }
        rows.push(Row::new(
            "parley",
            size,
            OWN,
            true,
            m.acked,
            &m,
            parley.pid(),
        ));
        let log = parley.log_tail();
        if !log.is_empty() {
            println!("parley's log ({size} B):\n{log}");
        }
    }
    print_table(&rows);
    for row in rows
        .iter()
        .filter(|r| r.target == "parley" && r.client == "smtp-source")
    {
        let ratio = ratio(&rows, row).unwrap_or(0.0);
        if plan.full && row.size == 4096 && !row.reuse && ratio < TARGET_RATIO {
            println!(
                "BELOW TARGET: parley at {:.0}% of smtp-sink's rate for 4 KB, new connection per message (target ≥ {:.0}%)",
                ratio * 100.0,
                TARGET_RATIO * 100.0
            );
        }
    }

    // Idle sessions on a fresh parley: greeted, EHLO answered, then nothing.
    let parley = Parley::start();
    let base = status_mb(&parley.pid().to_string(), "VmRSS").unwrap_or(0.0);
    let (open, idle_errors) = idle_sessions(parley.port, plan.idle);
    std::thread::sleep(Duration::from_millis(300));
    let rss = status_mb(&parley.pid().to_string(), "VmRSS").unwrap_or(f64::NAN);
    let hwm = status_mb(&parley.pid().to_string(), "VmHWM").unwrap_or(f64::NAN);
    let threads = status_field(&parley.pid().to_string(), "Threads").unwrap_or_default();
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
        let ratio = if row.target == "parley" {
            ratio(rows, row).map_or("-".into(), |r| format!("{r:.2}"))
        } else {
            "-".into()
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
         cpu: share of one core during the run, out of {}00%)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

fn ratio(rows: &[Row], row: &Row) -> Option<f64> {
    rows.iter()
        .find(|r| {
            r.target == "sink"
                && r.size == row.size
                && r.client == row.client
                && r.reuse == row.reuse
        })
        .map(|sink| row.rate() / sink.rate())
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

// ---------------------------------------------------------------- processes

struct Sink {
    child: Guard,
    port: u16,
}

impl Sink {
    fn start(path: &Path) -> Sink {
        let port = free_port();
        let user = Command::new("id")
            .arg("-un")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "nobody".into());
        let child = Command::new(path)
            .args(["-u", &user, &format!("127.0.0.1:{port}"), "1024"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start smtp-sink");
        let mut child = Guard(child);
        wait_ready(port, &mut child.0, "smtp-sink", None);
        Sink { child, port }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

struct Parley {
    // Dropped first: the process goes before its directory.
    child: Guard,
    dir: tempfile::TempDir,
    port: u16,
}

impl Parley {
    /// `parley serve` on a fresh store in a temporary directory.
    fn start() -> Parley {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        std::fs::write(
            dir.path().join("parley.toml"),
            format!(
                "[store]\nurl = \"sqlite://{dir}/parley.db\"\n\
                 [token]\nsecret = \"bench-secret-0123456789\"\n\
                 [mail]\nreply_domain = \"reply.bench.test\"\n\
                 [smtp]\nlisten = [\"127.0.0.1:{port}\"]\nhostname = \"bench.test\"\n\
                 max_connections = 2000\nmax_connections_per_ip = 1000\n\
                 [http]\nlisten = []\n\
                 [[queues]]\nname = \"desk\"\nintake = [\"{INTAKE}\"]\nstaff = [\"seller@shop.example\"]\n",
                dir = dir.path().display()
            ),
        )
        .expect("config");
        let log = File::create(dir.path().join("parley.log")).expect("log");
        // Through sh so that the descriptor limit can be raised for the
        // child alone; exec keeps the pid parley's.
        let child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -n 4096 2>/dev/null; exec \"$0\" serve --config \"$1\"")
            .arg(PARLEY)
            .arg(dir.path().join("parley.toml"))
            .current_dir(dir.path())
            .env("PARLEY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start parley serve");
        let mut child = Guard(child);
        let log_path = dir.path().join("parley.log");
        wait_ready(port, &mut child.0, "parley serve", Some(&log_path));
        Parley { child, dir, port }
    }

    fn pid(&self) -> u32 {
        self.child.0.id()
    }

    /// The store parley writes, opened beside it (WAL: readers do not block
    /// the writer) to count what it holds.
    async fn store(&self) -> Arc<dyn Store> {
        let config = Config::load(Some(&self.dir.path().join("parley.toml"))).expect("config");
        Arc::from(store::open(&config.store).await.expect("open the store"))
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("parley.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until the server greets on `port`; panics if it exits first.
fn wait_ready(port: u16, child: &mut Child, name: &str, log: Option<&Path>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let log = log
                .and_then(|p| std::fs::read_to_string(p).ok())
                .unwrap_or_default();
            panic!("{name} exited before it listened ({status}):\n{log}");
        }
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
            let mut reader = BufReader::new(&stream);
            if let Ok(greeting) = read_reply(&mut reader)
                && greeting.0 == 220
            {
                let _ = (&stream).write_all(b"QUIT\r\n");
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name} did not answer on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs smtp-source against `port` (whose server is process `server`) and
/// times it; its errors are what it printed on stderr.
fn smtp_source(
    path: &Path,
    port: u16,
    sessions: usize,
    messages: usize,
    size: usize,
    reuse: bool,
    server: u32,
) -> Measured {
    let mut cmd = Command::new(path);
    cmd.args(["-s", &sessions.to_string(), "-m", &messages.to_string()])
        .args(["-l", &size.to_string(), "-f", SENDER, "-t", INTAKE]);
    if reuse {
        cmd.arg("-d");
    }
    cmd.arg(format!("127.0.0.1:{port}"));
    let children_before = cpu_seconds("self", true);
    let server_before = cpu_seconds(&server.to_string(), false);
    let start = Instant::now();
    let out = cmd.output().expect("run smtp-source");
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(&server.to_string(), false) - server_before;
    let client_cpu = cpu_seconds("self", true) - children_before;
    let mut errors = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        errors.push_str(&format!(" (exit: {})", out.status));
    }
    Measured {
        seconds,
        server_cpu,
        client_cpu,
        latency: None,
        acked: 0,
        errors,
    }
}

// ---------------------------------------------------------------- our client

/// `threads` sessions, each EHLO once, then `per_thread` transactions
/// (MAIL, RCPT and DATA in one write, then the message), timed from MAIL to
/// the reply after the dot.
fn own_client(
    port: u16,
    threads: usize,
    per_thread: usize,
    size: usize,
    server: u32,
    label: &str,
) -> Measured {
    let body = Arc::new(body(size));
    let tag = format!("{label}-{size}-{}", std::process::id());
    let server_before = cpu_seconds(&server.to_string(), false);
    let own_before = cpu_seconds("self", false);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let body = body.clone();
            let tag = tag.clone();
            std::thread::spawn(move || session(port, t, per_thread, &body, &tag))
        })
        .collect();
    let mut times = Vec::new();
    let mut errors = Vec::new();
    let mut acked = 0;
    for handle in handles {
        let (t, a, e) = handle.join().expect("client thread");
        times.extend(t);
        acked += a;
        errors.extend(e);
    }
    let seconds = start.elapsed().as_secs_f64();
    let server_cpu = cpu_seconds(&server.to_string(), false) - server_before;
    let client_cpu = cpu_seconds("self", false) - own_before;
    times.sort();
    let pct = |p: usize| {
        times
            .get((times.len() * p / 100).min(times.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    errors.truncate(5);
    Measured {
        seconds,
        server_cpu,
        client_cpu,
        latency: Some((pct(50), pct(99))),
        acked,
        errors: errors.join("; "),
    }
}

/// A body of about `size` bytes in 78-character lines (none starts with a
/// dot, so no stuffing is needed).
fn body(size: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(size + 100);
    let mut n = 0;
    while body.len() < size {
        let _ = write!(
            body,
            "{n:05} the oak sideboard, its drawers and the brass handles, collected Saturday.\r\n"
        );
        n += 1;
    }
    body
}

fn session(
    port: u16,
    thread: usize,
    count: usize,
    body: &[u8],
    tag: &str,
) -> (Vec<Duration>, usize, Vec<String>) {
    let mut times = Vec::with_capacity(count);
    let mut errors = Vec::new();
    let mut acked = 0;
    let result = (|| -> std::io::Result<()> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        expect(&mut reader, 220, "greeting")?;
        stream.write_all(b"EHLO client.bench.test\r\n")?;
        expect(&mut reader, 250, "EHLO")?;
        let envelope = format!("MAIL FROM:<{SENDER}>\r\nRCPT TO:<{INTAKE}>\r\nDATA\r\n");
        let mut message = Vec::with_capacity(body.len() + 512);
        for i in 0..count {
            message.clear();
            let _ = write!(
                message,
                "From: Bidder {thread} <{SENDER}>\r\nTo: <{INTAKE}>\r\nSubject: Lot {i}\r\n\
                 Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\
                 Message-ID: <{tag}-{thread}-{i}@client.bench.test>\r\n\r\n"
            );
            message.extend_from_slice(body);
            message.extend_from_slice(b".\r\n");
            let start = Instant::now();
            stream.write_all(envelope.as_bytes())?;
            expect(&mut reader, 250, "MAIL")?;
            expect(&mut reader, 250, "RCPT")?;
            expect(&mut reader, 354, "DATA")?;
            stream.write_all(&message)?;
            expect(&mut reader, 250, "end of data")?;
            times.push(start.elapsed());
            acked += 1;
        }
        stream.write_all(b"QUIT\r\n")?;
        let _ = read_reply(&mut reader);
        Ok(())
    })();
    if let Err(e) = result {
        errors.push(format!("session {thread}: {e}"));
    }
    (times, acked, errors)
}

/// Reads one (possibly multi-line) reply: its code and last line.
fn read_reply(reader: &mut impl BufRead) -> std::io::Result<(u16, String)> {
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let bytes = line.as_bytes();
        if bytes.len() < 4 || bytes[3] != b'-' {
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            return Ok((code, line.trim_end().to_string()));
        }
    }
}

fn expect(reader: &mut impl BufRead, code: u16, what: &str) -> std::io::Result<()> {
    let (got, text) = read_reply(reader)?;
    if got == code {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "{what}: expected {code}, got {text:?}"
        )))
    }
}

/// Opens `count` sessions and leaves them idle after EHLO.
fn idle_sessions(port: u16, count: usize) -> (Vec<TcpStream>, String) {
    let mut open = Vec::with_capacity(count);
    let mut error = String::new();
    for i in 0..count {
        let session = (|| -> std::io::Result<TcpStream> {
            let stream = TcpStream::connect(("127.0.0.1", port))?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut reader = BufReader::new(&stream);
            expect(&mut reader, 220, "greeting")?;
            (&stream).write_all(format!("EHLO idle{i}.bench.test\r\n").as_bytes())?;
            expect(&mut reader, 250, "EHLO")?;
            Ok(stream)
        })();
        match session {
            Ok(s) => open.push(s),
            Err(e) => {
                error = format!("session {i}: {e}");
                break;
            }
        }
    }
    (open, error)
}
