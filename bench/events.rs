//! bench/events: what idle live event streams cost `parley serve`.
//!
//! `cargo bench --bench events` opens 10,000 `GET /api/v1/events` streams
//! (one user token per subscriber, each a person of its own, plus 100
//! moderator streams that see everything) on one `parley serve` over
//! SQLite, leaves them idle, and reads parley's resident memory (VmRSS)
//! before and after: the target is under 200 MB with all open. Then the
//! CPU parley spends over 20 idle seconds (one round of keep-alive
//! comments to every stream), and one message delivered by SMTP: how long
//! until every moderator stream has its `message.created` (the fan-out
//! to all 10,000 streams, most of which do not see it, on the way).
//!
//! `PARLEY_BENCH_STREAMS` sets the count. Under `cargo test` (no
//! `--bench`) a smoke pass opens 60 streams and fails unless every
//! moderator stream gets the event.

#[path = "proc.rs"]
mod proc;

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parley::config::KeyHash;
use parley::http::token::{Claims, UserTokens};
use proc::{cpu_model, cpu_seconds, raise_nofile, status_field, status_mb};

const PARLEY: &str = env!("CARGO_BIN_EXE_parley");
const SECRET: &str = "bench-secret-0123456789-abcdef";
const MODERATOR_KEY: &str = "pk_bench_moderator_0123456789abcdef";
const DESK: &str = "desk@shop.example";
/// The target for 10,000 idle streams.
const TARGET_MB: f64 = 200.0;
/// Streams that see every event (moderators); the rest are persons.
const WATCHERS: usize = 100;
/// How long the streams idle while parley's CPU is counted: more than one
/// keep-alive round (15 s).
const IDLE: Duration = Duration::from_secs(20);

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let streams: usize = std::env::var("PARLEY_BENCH_STREAMS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if full { 10_000 } else { 60 });
    let watchers = WATCHERS.min(streams / 2).max(1);
    println!(
        "bench/events ({}): {}; {} cores, {}",
        if full { "full run" } else { "smoke pass" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cpu_model(),
    );
    println!("parley: {PARLEY}");
    // This process holds every client socket.
    raise_nofile(streams + 200);
    let failures = run(full, streams, watchers);
    if !failures.is_empty() {
        println!();
        for f in &failures {
            println!("FAIL: {f}");
        }
        std::process::exit(1);
    }
}

fn run(full: bool, streams: usize, watchers: usize) -> Vec<String> {
    let mut failures = Vec::new();
    let parley = Parley::start(streams);
    let pid = parley.pid().to_string();
    std::thread::sleep(Duration::from_millis(500));
    let base = status_mb(&pid, "VmRSS").unwrap_or(f64::NAN);

    let tokens = UserTokens::new(SECRET.as_bytes());
    let now = parley::store::now_ms();
    let opening = Instant::now();
    let mut open = Vec::with_capacity(streams);
    for i in 0..streams {
        let credential = if i < watchers {
            MODERATOR_KEY.to_string()
        } else {
            let address = format!("u{i}@buyer.example");
            let claims =
                Claims::new(&address, None, None, now, Some(86_400), 86_400).expect("valid claims");
            tokens.mint(&claims)
        };
        match subscribe(parley.http, &credential) {
            Ok(stream) => open.push(stream),
            Err(e) => {
                failures.push(format!("stream {i} of {streams} did not open: {e}"));
                break;
            }
        }
    }
    let opened_in = opening.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let rss = status_mb(&pid, "VmRSS").unwrap_or(f64::NAN);
    let hwm = status_mb(&pid, "VmHWM").unwrap_or(f64::NAN);
    let threads = status_field(&pid, "Threads").unwrap_or_default();
    let per_stream_kb = (rss - base) * 1024.0 / open.len().max(1) as f64;
    println!(
        "\n{} idle streams ({} moderators, {} persons) opened in {:.1} s",
        open.len(),
        watchers.min(open.len()),
        open.len().saturating_sub(watchers),
        opened_in.as_secs_f64()
    );
    println!(
        "parley VmRSS {rss:.1} MB (before the streams: {base:.1} MB; +{per_stream_kb:.1} KB per \
         stream), VmHWM {hwm:.1} MB, {threads} threads"
    );
    if full && (rss.is_nan() || rss >= TARGET_MB) {
        failures.push(format!(
            "{rss:.1} MB resident with {} streams (target < {TARGET_MB} MB)",
            open.len()
        ));
    }

    if full {
        let cpu_before = cpu_seconds(&pid, false);
        std::thread::sleep(IDLE);
        let cpu = cpu_seconds(&pid, false) - cpu_before;
        println!(
            "idle for {} s: parley used {cpu:.2} CPU s ({:.2}% of one core; keep-alives included)",
            IDLE.as_secs(),
            cpu / IDLE.as_secs_f64() * 100.0
        );
    }

    // One message; every moderator stream must get it.
    let sent = Instant::now();
    if let Err(e) = deliver(parley.smtp) {
        failures.push(format!("SMTP delivery: {e}"));
        return failures;
    }
    let acked = sent.elapsed();
    let mut slowest = Duration::ZERO;
    let mut missing = 0;
    for stream in open.iter_mut().take(watchers) {
        match wait_for(stream, "event: message.created", Duration::from_secs(30)) {
            Ok(()) => slowest = slowest.max(sent.elapsed()),
            Err(_) => missing += 1,
        }
    }
    println!(
        "one message by SMTP (250 after {:.1} ms): in all {} moderator streams after {:.1} ms \
         (the hub's fan-out to {} streams on the way)",
        acked.as_secs_f64() * 1000.0,
        watchers - missing,
        slowest.as_secs_f64() * 1000.0,
        open.len()
    );
    if missing > 0 {
        failures.push(format!(
            "{missing} of {watchers} moderator streams missed the event"
        ));
    }
    let rss_after = status_mb(&pid, "VmRSS").unwrap_or(f64::NAN);
    println!("parley VmRSS after the event: {rss_after:.1} MB");
    let log = parley.log_tail();
    if !log.is_empty() {
        println!("parley's log:\n{log}");
    }
    drop(open);
    failures
}

/// Opens one stream and reads its answer's head: 200 and
/// `text/event-stream`, or an error.
fn subscribe(port: u16, credential: &str) -> std::io::Result<BufReader<TcpStream>> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        &stream,
        "GET /api/v1/events HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {credential}\r\n\r\n"
    )?;
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other(format!("closed after {head:?}")));
        }
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    if !head.starts_with("HTTP/1.1 200") || !head.contains("text/event-stream") {
        return Err(std::io::Error::other(head));
    }
    Ok(reader)
}

/// Reads `stream` until a line starts with `what`.
fn wait_for(
    stream: &mut BufReader<TcpStream>,
    what: &str,
    timeout: Duration,
) -> std::io::Result<()> {
    stream.get_ref().set_read_timeout(Some(timeout))?;
    let mut line = String::new();
    loop {
        line.clear();
        if stream.read_line(&mut line)? == 0 {
            return Err(std::io::Error::other("the stream ended"));
        }
        if line.starts_with(what) {
            return Ok(());
        }
    }
}

/// One message to the desk by SMTP, answered 250.
fn deliver(port: u16) -> std::io::Result<()> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let expect = |reader: &mut BufReader<TcpStream>, code: &str| -> std::io::Result<()> {
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if !line.starts_with(code) {
                return Err(std::io::Error::other(format!("expected {code}: {line:?}")));
            }
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(());
            }
        }
    };
    expect(&mut reader, "220")?;
    for (line, code) in [
        ("EHLO bench.test", "250"),
        ("MAIL FROM:<u7@buyer.example>", "250"),
        (&format!("RCPT TO:<{DESK}>") as &str, "250"),
        ("DATA", "354"),
    ] {
        writer.write_all(format!("{line}\r\n").as_bytes())?;
        expect(&mut reader, code)?;
    }
    writer.write_all(
        format!(
            "From: u7@buyer.example\r\nTo: {DESK}\r\nSubject: Is lot 12 still there?\r\n\
             Message-ID: <bench-events@buyer.example>\r\n\r\nHello.\r\n.\r\n"
        )
        .as_bytes(),
    )?;
    expect(&mut reader, "250")?;
    writer.write_all(b"QUIT\r\n")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `parley serve` on a fresh SQLite store in a temporary folder: HTTP
/// with room for `streams`, SMTP, no outbox.
struct Parley {
    // Dropped first: the process goes before its folder.
    child: Child,
    dir: tempfile::TempDir,
    http: u16,
    smtp: u16,
}

impl Parley {
    fn start(streams: usize) -> Parley {
        let dir = tempfile::tempdir().expect("tempdir");
        let (http, smtp) = (free_port(), free_port());
        std::fs::write(
            dir.path().join("parley.toml"),
            format!(
                "[store]\nurl = \"sqlite://{dir}/parley.db\"\n\
                 [token]\nsecret = \"{SECRET}\"\n\
                 [mail]\nreply_domain = \"reply.bench.test\"\n\
                 [outbox]\nenabled = false\n\
                 [smtp]\nlisten = [\"127.0.0.1:{smtp}\"]\nhostname = \"bench.test\"\n\
                 [http]\nlisten = [\"127.0.0.1:{http}\"]\nmax_event_streams = {max}\n\
                 rate_limit_per_minute = 0\n\
                 [[http.keys]]\nname = \"mods\"\nrole = \"moderator\"\nhash = \"{hash}\"\n\
                 [[queues]]\nname = \"desk\"\nintake = [\"{DESK}\"]\nstaff = [\"seller@shop.example\"]\n",
                dir = dir.path().display(),
                max = streams + 100,
                hash = KeyHash::of(MODERATOR_KEY),
            ),
        )
        .expect("config");
        let log = File::create(dir.path().join("parley.log")).expect("log");
        // Through sh so that the descriptor limit is raised for the child
        // alone (as high as the hard limit allows); exec keeps the pid.
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "ulimit -n {want} 2>/dev/null || ulimit -n \"$(ulimit -Hn)\"; \
                 exec \"$0\" serve --config \"$1\"",
                want = streams + 500
            ))
            .arg(PARLEY)
            .arg(dir.path().join("parley.toml"))
            .current_dir(dir.path())
            .env("PARLEY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start parley serve");
        let parley = Parley {
            child,
            dir,
            http,
            smtp,
        };
        parley.wait_ready();
        parley
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/healthz` answers.
    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.http)) {
                let _ =
                    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                if s.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("parley serve did not start:\n{}", self.log_tail());
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("parley.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Parley {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
