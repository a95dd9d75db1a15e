//! bench/api: what the conversation endpoints cost under load.
//!
//! `cargo bench --bench api` fills a SQLite store with 100,000 tickets and
//! 1,000,000 messages (bench/fill.rs; the filled file is kept under
//! `$CARGO_TARGET_DIR/bench-api/` and reused while its size matches),
//! starts `parley serve` on it (HTTP only, no rate limit), and runs wrk
//! (Debian's `wrk`) with 200 connections over 2 threads for 15 s per run:
//!
//! - `/healthz`: the trivial endpoint, this server's ceiling in this run;
//! - the conversation list with unread counts, as a client (a few
//!   conversations each) and as the seller side of a queue (thousands);
//! - one conversation shown, as its client;
//! - search, as the seller side of a queue;
//! - the console's dashboard (`/console/tickets`) as the desk's staff,
//!   with a session cookie (target: p99 < 100 ms).
//!
//! Each line rotates through a list of paths (other users, other tickets,
//! other words) so that no answer is served from one hot row. Figures:
//! requests/s and the latency p50/p99 wrk reports; the target is p99 < 50 ms
//! for list, show and search. Every answer must be 2xx: a line with any
//! other answer fails the run.
//!
//! Each line runs twice: saturated (every connection sends its next
//! request as soon as it has its answer: the server's throughput, and a
//! latency that is mostly queueing) and paced (200 clients that each wait
//! a think time, 250 ms on average, between an answer and their next
//! request, as people in a browser do: the latency a user sees). The
//! target applies to the paced run.
//!
//! `PARLEY_BENCH_TICKETS`, `PARLEY_BENCH_MESSAGES`, `PARLEY_BENCH_SECONDS`,
//! `PARLEY_BENCH_CONNECTIONS` and `PARLEY_BENCH_THINK_MS` change the sizes;
//! `PARLEY_BENCH_LINES=seller,search` runs only the lines whose name holds
//! one of the words. Under `cargo test` (no
//! `--bench`) a smoke pass runs every line on 300 tickets for 1 s with 8
//! connections, and fails on any non-2xx answer.

#[path = "fill.rs"]
#[allow(dead_code)]
mod fill;
#[path = "proc.rs"]
#[allow(dead_code)] // its CPU readers and the descriptor limit serve other benches
mod proc;

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use parley::config::KeyHash;

const PARLEY: &str = env!("CARGO_BIN_EXE_parley");
const SECRET: &str = "bench-secret-0123456789-abcdef";
const PLATFORM_KEY: &str = "pk_bench_platform_0123456789abcdef";
/// The console's dashboard page: under 100 ms on the server.
const CONSOLE_P99_MS: f64 = 100.0;
/// The target for list, show and search.
const TARGET_P99_MS: f64 = 50.0;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let env = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|n| n.replace('_', "").parse().ok())
            .unwrap_or(default)
    };
    let tickets = env("PARLEY_BENCH_TICKETS", if full { 100_000 } else { 300 });
    let messages = env("PARLEY_BENCH_MESSAGES", tickets * 10);
    let seconds = env("PARLEY_BENCH_SECONDS", if full { 15 } else { 1 });
    let connections = env("PARLEY_BENCH_CONNECTIONS", if full { 200 } else { 8 });
    let think = env("PARLEY_BENCH_THINK_MS", if full { 250 } else { 20 });
    println!(
        "bench/api ({}): {}; {} cores, {}",
        if full { "full run" } else { "smoke pass" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        proc::cpu_model(),
    );
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("bench/api needs wrk (Debian package `wrk`; scripts/test installs it)");
        std::process::exit(1);
    }
    // The full run keeps its filled store for the next run (filling
    // 1,000,000 messages takes minutes); the smoke pass fills a fresh one.
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = if full {
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("target"))
            .join("bench-api")
    } else {
        scratch.path().to_path_buf()
    };
    std::fs::create_dir_all(&dir).expect("bench dir");
    // Absolute: `parley serve` runs in its own folder, where a relative
    // path would be a new, empty store (a run once measured that).
    let dir = std::path::absolute(&dir).expect("the bench dir's path");
    let db = dir.join(format!("store-{tickets}-{messages}.db"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    if !db.exists() {
        // Filled under another name and renamed once complete, so that an
        // interrupted fill is never taken for a full store.
        let partial = dir.join("filling.db");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
        }
        let url = format!("sqlite://{}", partial.display());
        runtime.block_on(fill::fill(&url, tickets, messages));
        runtime.block_on(checkpoint(&url));
        std::fs::rename(&partial, &db).expect("keep the filled store");
    }
    let url = format!("sqlite://{}", db.display());
    let sample = runtime.block_on(Sample::read(&url));
    println!(
        "store: {} tickets, {} messages, {:.0} MB, ready in {:.1} s ({})",
        sample.tickets,
        sample.messages,
        std::fs::metadata(&db).map_or(0.0, |m| m.len() as f64 / 1e6),
        started.elapsed().as_secs_f64(),
        db.display()
    );

    let parley = Parley::start(&db);
    // The server reads the filled store: a conversation is there.
    let newest = parley.http_call(
        &format!(
            "GET /api/v1/conversations?limit=1 HTTP/1.1\r\nAuthorization: Bearer {PLATFORM_KEY}\r\n"
        ),
        "",
    );
    assert!(
        newest.starts_with("HTTP/1.1 200") && newest.contains("\"number\":"),
        "parley serve does not see the filled store: {}",
        newest.lines().next().unwrap_or("")
    );
    // PARLEY_BENCH_LINES: only the lines whose name holds one of these
    // comma-separated words (all when unset).
    let only = std::env::var("PARLEY_BENCH_LINES").unwrap_or_default();
    // The console's dashboard as the desk's staff: a session cookie of
    // its own (an account made on the store, kept with it).
    let cookie = parley.console_cookie();
    let lines: Vec<_> = lines(&sample)
        .into_iter()
        .filter(|(name, _, _)| only.is_empty() || only.split(',').any(|w| name.contains(w.trim())))
        .collect();
    let mut failures = Vec::new();
    println!();
    println!(
        "{connections} connections, {seconds} s a run; saturated: each connection sends its \
         next request at once; paced: after a think time of {think} ms on average"
    );
    println!(
        "{:<26} {:>9} {:>8} {:>8}   {:>9} {:>8} {:>8}",
        "line", "sat req/s", "p50 ms", "p99 ms", "paced r/s", "p50 ms", "p99 ms"
    );
    for (name, paths, target) in &lines {
        let mut runs = Vec::new();
        for pace in [0, think] {
            let session = match name.starts_with("console") {
                true => Some(cookie.as_str()),
                false => None,
            };
            match wrk(
                parley.http,
                paths,
                session,
                connections,
                seconds,
                pace,
                &dir,
            ) {
                Ok(run) => {
                    if run.non_2xx > 0 {
                        failures.push(format!(
                            "{name} (think {pace} ms): {} answers were not 2xx",
                            run.non_2xx
                        ));
                    }
                    runs.push(run);
                }
                Err(e) => failures.push(format!("{name}: {e}")),
            }
        }
        if let [saturated, paced] = &runs[..] {
            println!(
                "{:<26} {:>9.0} {:>8.2} {:>8.2}   {:>9.0} {:>8.2} {:>8.2}",
                name,
                saturated.rps,
                saturated.p50_ms,
                saturated.p99_ms,
                paced.rps,
                paced.p50_ms,
                paced.p99_ms
            );
            if full && *target && paced.p99_ms >= TARGET_P99_MS && !name.starts_with("console") {
                println!(
                    "    paced p99 over the target: {:.1} ms ≥ {TARGET_P99_MS} ms",
                    paced.p99_ms
                );
            }
        }
        // The console's page: how long the server takes to render it, one
        // request at a time (issue 15's target: under 100 ms).
        if name.starts_with("console") {
            match wrk(parley.http, paths, Some(&cookie), 1, seconds, 0, &dir) {
                Ok(alone) => {
                    println!(
                        "    one request at a time: {:.0} pages/s, p50 {:.2} ms, p99 {:.2} ms",
                        alone.rps, alone.p50_ms, alone.p99_ms
                    );
                    if full && alone.p99_ms >= CONSOLE_P99_MS {
                        println!("    over the target: p99 ≥ {CONSOLE_P99_MS} ms");
                    }
                }
                Err(e) => failures.push(format!("{name} (one at a time): {e}")),
            }
        }
    }
    // SQLite's mapped file counts in the RSS (the store's pages the readers
    // touched, shared with the page cache): the private memory is what
    // parley itself holds.
    let pid = parley.child.id().to_string();
    if let (Some(peak), Some(anon)) = (
        proc::status_mb(&pid, "VmHWM"),
        proc::status_mb(&pid, "RssAnon"),
    ) {
        println!(
            "parley peak RSS: {peak:.0} MB (mapped store pages included); private now: {anon:.0} MB"
        );
    }
    if !failures.is_empty() {
        println!();
        for f in &failures {
            println!("FAIL: {f}");
        }
        println!("{}", parley.log_tail());
        // exit() runs no destructor: stop parley serve first.
        drop(parley);
        std::process::exit(1);
    }
}

/// The lines of the run: a name, the paths it rotates through, and
/// whether the p99 target applies.
fn lines(sample: &Sample) -> Vec<(String, Vec<String>, bool)> {
    let enc = |s: &str| s.replace('@', "%40").replace(' ', "%20");
    let as_each = |path: &str, people: &[String]| -> Vec<String> {
        people
            .iter()
            .map(|p| {
                format!(
                    "{path}{}as={}",
                    if path.contains('?') { "&" } else { "?" },
                    enc(p)
                )
            })
            .collect()
    };
    let words = [
        "sideboard",
        "walnut",
        "koln",
        "muller",
        "shipping",
        "dimensions",
        "chandelier",
        "estate",
        "zoe",
        "original key",
        "victorian oak",
        "porto",
    ];
    let searches: Vec<String> = sample
        .sellers
        .iter()
        .zip(words.iter().cycle())
        .map(|(seller, w)| format!("/api/v1/search?q={}&as={}&limit=20", enc(w), enc(seller)))
        .collect();
    vec![
        ("healthz".into(), vec!["/healthz".to_string()], false),
        (
            "list as a client".into(),
            as_each("/api/v1/conversations?limit=50", &sample.clients),
            true,
        ),
        (
            "list as a seller".into(),
            as_each("/api/v1/conversations?limit=50", &sample.sellers),
            true,
        ),
        (
            "list as the desk's staff".into(),
            as_each("/api/v1/conversations?limit=50", &[STAFF.to_string()]),
            true,
        ),
        (
            "show as its client".into(),
            sample
                .tickets_of_clients
                .iter()
                .map(|(n, client)| format!("/api/v1/conversations/{n}?as={}", enc(client)))
                .collect(),
            true,
        ),
        ("search as a seller".into(), searches, true),
        (
            // The console's dashboard (issue 15: under 100 ms a page).
            "console dashboard (desk)".into(),
            vec!["/console/tickets".to_string()],
            true,
        ),
        (
            "unread as a client".into(),
            as_each("/api/v1/unread", &sample.clients),
            false,
        ),
    ]
}

/// The desk's staff address in parley's default configuration: the seller
/// side of every filled ticket.
const STAFF: &str = "agent@localhost";

/// Who and what the lines ask for, read from the filled store.
struct Sample {
    tickets: i64,
    messages: i64,
    /// Up to 1,000 clients.
    clients: Vec<String>,
    /// Up to 500 sellers.
    sellers: Vec<String>,
    /// Up to 1,000 tickets with their client.
    tickets_of_clients: Vec<(i64, String)>,
}

impl Sample {
    async fn read(url: &str) -> Sample {
        use sqlx::Connection;
        let mut db = sqlx::SqliteConnection::connect(url)
            .await
            .expect("open the store");
        let count = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
        let tickets = count("SELECT COUNT(*) FROM tickets")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let messages = count("SELECT COUNT(*) FROM messages")
            .fetch_one(&mut db)
            .await
            .unwrap();
        let step = (tickets / 1000).max(1);
        let tickets_of_clients: Vec<(i64, String)> = sqlx::query_as(
            "SELECT ticket, address FROM participants \
             WHERE role = 'client' AND ticket % ? = 0 ORDER BY ticket LIMIT 1000",
        )
        .bind(step)
        .fetch_all(&mut db)
        .await
        .unwrap();
        let mut clients: Vec<String> = tickets_of_clients.iter().map(|(_, c)| c.clone()).collect();
        clients.sort();
        clients.dedup();
        let sellers: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT address FROM participants WHERE role = 'seller' \
             ORDER BY address LIMIT 500",
        )
        .fetch_all(&mut db)
        .await
        .unwrap();
        assert!(!clients.is_empty() && !sellers.is_empty(), "an empty store");
        Sample {
            tickets,
            messages,
            clients,
            sellers,
            tickets_of_clients,
        }
    }
}

/// Folds the WAL into the file, so that the store is one file to keep.
async fn checkpoint(url: &str) {
    use sqlx::Connection;
    let mut db = sqlx::SqliteConnection::connect(url)
        .await
        .expect("open the store");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut db)
        .await
        .expect("checkpoint");
}

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// Runs wrk against `paths` (rotated, one per request) and reads its
/// report.
fn wrk(
    port: u16,
    paths: &[String],
    cookie: Option<&str>,
    connections: usize,
    seconds: usize,
    think_ms: usize,
    dir: &Path,
) -> Result<Run, String> {
    let list = dir.join("paths.txt");
    std::fs::write(&list, paths.join("\n") + "\n").map_err(|e| e.to_string())?;
    let script = dir.join("rotate.lua");
    std::fs::write(
        &script,
        format!(
            "local paths = {{}}\n\
             for line in io.lines(\"{list}\") do paths[#paths + 1] = line end\n\
             {credential}\n\
             local i = math.random(#paths)\n\
             request = function()\n  i = i % #paths + 1\n  return wrk.format(\"GET\", paths[i])\nend\n\
             {pace}",
            list = list.display(),
            credential = match cookie {
                Some(cookie) => format!("wrk.headers[\"Cookie\"] = \"{cookie}\""),
                None => format!("wrk.headers[\"Authorization\"] = \"Bearer {PLATFORM_KEY}\""),
            },
            // A think time between a connection's answer and its next
            // request, uniform in [t/2, 3t/2] (wrk's `delay`).
            pace = match think_ms {
                0 => String::new(),
                t => format!(
                    "delay = function()\n  return math.random({}, {})\nend\n",
                    t / 2,
                    t * 3 / 2
                ),
            },
        ),
    )
    .map_err(|e| e.to_string())?;
    let out = Command::new("wrk")
        .args([
            &format!("-t{}", connections.clamp(1, 2)),
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .map_err(|e| format!("wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's report:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<Run> {
    let mut p50 = None;
    let mut p99 = None;
    let mut rps = None;
    let mut non_2xx = 0;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("50%"), Some(v)) => p50 = duration_ms(v),
            (Some("99%"), Some(v)) => p99 = duration_ms(v),
            (Some("Requests/sec:"), Some(v)) => rps = v.parse().ok(),
            _ => {}
        }
        if let Some(n) = line.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx = n.trim().parse().unwrap_or(u64::MAX);
        }
        if line.starts_with("Socket errors:") {
            non_2xx = non_2xx.max(1);
        }
    }
    Some(Run {
        rps: rps?,
        p50_ms: p50?,
        p99_ms: p99?,
        non_2xx,
    })
}

/// wrk's durations: `812.00us`, `1.23ms`, `2.01s`, `1.5m`.
fn duration_ms(v: &str) -> Option<f64> {
    let (number, factor) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60_000.0)
    } else {
        return None;
    };
    number.parse::<f64>().ok().map(|n| n * factor)
}

/// `name=value` of the `Set-Cookie` for `name` in an answer.
fn set_cookie(answer: &str, name: &str) -> String {
    answer
        .lines()
        .filter_map(|l| {
            l.strip_prefix("set-cookie: ")
                .or_else(|| l.strip_prefix("Set-Cookie: "))
        })
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie in:\n{answer}"))
        .to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `parley serve` on the filled store: HTTP only, no rate limit.
struct Parley {
    child: Child,
    dir: tempfile::TempDir,
    http: u16,
}

impl Parley {
    fn start(db: &Path) -> Parley {
        let dir = tempfile::tempdir().expect("tempdir");
        let http = free_port();
        let config = format!(
            "[store]\nurl = \"sqlite://{db}\"\n\
             [token]\nsecret = \"{SECRET}\"\n\
             [mail]\nreply_domain = \"reply.bench.test\"\n\
             [outbox]\nenabled = false\n\
             [smtp]\nlisten = []\n\
             [http]\nlisten = [\"127.0.0.1:{http}\"]\nrate_limit_per_minute = 0\n\
             [[http.keys]]\nname = \"shop\"\nrole = \"platform\"\nhash = \"{hash}\"\n",
            db = db.display(),
            hash = KeyHash::of(PLATFORM_KEY),
        );
        std::fs::write(dir.path().join("parley.toml"), config).expect("config");
        let log = File::create(dir.path().join("parley.log")).expect("log");
        let child = Command::new(PARLEY)
            .arg("serve")
            .arg("--config")
            .arg(dir.path().join("parley.toml"))
            .current_dir(dir.path())
            .env("PARLEY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start parley serve");
        let parley = Parley { child, dir, http };
        parley.wait_ready();
        parley
    }

    /// A console session of the desk's staff: the account is added on the
    /// store (kept with it: "exists" is fine), then logged in through the
    /// login form; the `parley_session=…` cookie.
    fn console_cookie(&self) -> String {
        const PASSWORD: &str = "bench console password";
        let mut add = Command::new(PARLEY)
            .args(["users", "add", STAFF, "--role", "seller", "--config"])
            .arg(self.dir.path().join("parley.toml"))
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("parley users add");
        let _ = writeln!(add.stdin.take().expect("stdin"), "{PASSWORD}");
        let status = add.wait().expect("parley users add");
        assert!(
            matches!(status.code(), Some(0 | 77)),
            "parley users add: {status}"
        );
        let form = self.http_call("GET /console/login HTTP/1.1\r\n", "");
        let login_cookie = set_cookie(&form, "parley_login");
        let at = form.find("name=\"csrf\" value=\"").expect("a form token") + 19;
        let token = &form[at..at + form[at..].find('"').expect("a token")];
        let body = format!(
            "login={}&password={}&csrf={token}",
            STAFF.replace('@', "%40"),
            PASSWORD.replace(' ', "+")
        );
        let head = format!(
            "POST /console/login HTTP/1.1\r\nCookie: {login_cookie}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
            body.len()
        );
        let answer = self.http_call(&head, &body);
        set_cookie(&answer, "parley_session")
    }

    /// One request (`head`: the request line and headers) and its answer.
    fn http_call(&self, head: &str, body: &str) -> String {
        let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, self.http)).expect("connect");
        let request = format!("{head}Host: b\r\nConnection: close\r\n\r\n{body}");
        s.write_all(request.as_bytes()).expect("send");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("answer");
        answer
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect((Ipv4Addr::LOCALHOST, self.http)) {
                let _ =
                    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n");
                let mut answer = String::new();
                if s.read_to_string(&mut answer).is_ok() && answer.starts_with("HTTP/1.1 200") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
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
