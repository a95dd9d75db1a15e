//! The servers bench/smtp measures: Postfix's `smtp-sink`, and `parley
//! serve` on a fresh store, SQLite or a fresh PostgreSQL database served by
//! one or more instances (issue 18), each instance with an SMTP listener
//! of its own. Included by bench/smtp.rs with `#[path]`.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use tokio::runtime::Runtime;

use super::client::read_reply;
use super::postfix::{Guard, sink_user};
use super::{INTAKE, PARLEY};

/// The server PostgreSQL databases are created on (and dropped from): the
/// tests' variable, as it names a server where that is allowed.
pub const POSTGRES_ENV: &str = "PARLEY_TEST_POSTGRES_URL";

/// What a row was measured against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Sink,
    Sqlite,
    /// `parley serve` instances on one PostgreSQL database.
    Postgres(usize),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Sink => f.pad("sink"),
            Target::Sqlite => f.pad("sqlite"),
            Target::Postgres(n) => f.pad(&format!("pg×{n}")),
        }
    }
}

pub struct Sink {
    child: Guard,
    pub port: u16,
}

impl Sink {
    pub fn start(path: &Path) -> Sink {
        let port = free_port();
        let user = sink_user();
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

    pub fn pid(&self) -> u32 {
        self.child.0.id()
    }
}

/// `parley serve` on a fresh store: one process on SQLite, or `n` on one
/// new PostgreSQL database (same config and directory, a listener each).
pub struct Parley {
    // Dropped in this order: the processes, the bench's own connection,
    // the directory, and last the database.
    children: Vec<Guard>,
    counter: Counter,
    dir: tempfile::TempDir,
    _db: Option<PgDatabase>,
    /// The SMTP port of each instance.
    pub ports: Vec<u16>,
}

impl Parley {
    /// `target` is [`Target::Sqlite`] or [`Target::Postgres`] (then `admin`
    /// names the server the database is created on).
    pub fn start(target: Target, admin: Option<&str>, runtime: &Runtime) -> Result<Parley, String> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (instances, db) = match (target, admin) {
            (Target::Sqlite, _) => (1, None),
            (Target::Postgres(n), Some(admin)) => {
                (n, Some(runtime.block_on(PgDatabase::create(admin))?))
            }
            _ => return Err(format!("no store for {target}")),
        };
        let url = match &db {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}/parley.db", dir.path().display()),
        };
        let ports: Vec<u16> = (0..instances).map(|_| free_port()).collect();
        let config = dir.path().join("parley.toml");
        std::fs::write(
            &config,
            format!(
                "[store]\nurl = \"{url}\"\n\
                 [token]\nsecret = \"bench-secret-0123456789\"\n\
                 [mail]\nreply_domain = \"reply.bench.test\"\n\
                 [smtp]\nlisten = [\"127.0.0.1:{}\"]\nhostname = \"bench.test\"\n\
                 max_connections = 2000\nmax_connections_per_ip = 1000\n\
                 [http]\nlisten = []\n\
                 [[queues]]\nname = \"desk\"\nintake = [\"{INTAKE}\"]\nstaff = [\"seller@shop.example\"]\n",
                ports[0]
            ),
        )
        .expect("config");
        // The first instance alone (it applies the migrations), then the
        // others, each on its own listener.
        let mut children = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            let log_path = dir.path().join(format!("parley-{i}.log"));
            let log = File::create(&log_path).expect("log");
            // Through sh so that the descriptor limit can be raised for the
            // child alone; exec keeps the pid parley's.
            let child = Command::new("sh")
                .arg("-c")
                .arg("ulimit -n 4096 2>/dev/null; exec \"$0\" serve --config \"$1\"")
                .arg(PARLEY)
                .arg(&config)
                .current_dir(dir.path())
                .env("PARLEY_LOG", "warn")
                .env("PARLEY__SMTP__LISTEN", format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("start parley serve");
            let mut child = Guard(child);
            wait_ready(port, &mut child.0, "parley serve", Some(&log_path));
            children.push(child);
        }
        let counter = runtime
            .block_on(Counter::open(&url))
            .map_err(|e| format!("open {url} to count: {e}"))?;
        Ok(Parley {
            children,
            counter,
            dir,
            _db: db,
            ports,
        })
    }

    pub fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|c| c.0.id()).collect()
    }

    /// What the store holds now, read beside parley (WAL on SQLite:
    /// readers do not block the writer).
    pub fn counts(&mut self, runtime: &Runtime) -> Counts {
        runtime
            .block_on(self.counter.counts())
            .expect("count the store")
    }

    /// The last lines of each instance's log (warnings and worse).
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for i in 0..self.children.len() {
            let log = std::fs::read_to_string(self.dir.path().join(format!("parley-{i}.log")))
                .unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            if !lines.is_empty() {
                out.push_str(&format!("instance {i}:\n"));
                out.push_str(&lines[lines.len().saturating_sub(20)..].join("\n"));
                out.push('\n');
            }
        }
        out
    }
}

/// Messages in the store: what "stored exactly once" is checked on.
#[derive(Clone, Copy, Default)]
pub struct Counts {
    /// Raw messages as received (unique by their bytes' sha256).
    pub raw: i64,
    /// Messages threaded into tickets from outside.
    pub inbound: i64,
    /// Distinct raw messages behind those: fewer than `inbound` means a
    /// message received once was stored twice. (No client here retries,
    /// and raw messages are unique by their bytes.)
    pub distinct_raw: i64,
}

const COUNTS: &str = "SELECT (SELECT count(*) FROM raw_messages), \
    (SELECT count(*) FROM messages WHERE direction = 'inbound'), \
    (SELECT count(DISTINCT raw_id) FROM messages WHERE direction = 'inbound')";

/// A connection of the bench's own to parley's store.
enum Counter {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Counter {
    async fn open(url: &str) -> Result<Counter, sqlx::Error> {
        Ok(if url.starts_with("sqlite:") {
            Counter::Sqlite(sqlx::SqliteConnection::connect(url).await?)
        } else {
            Counter::Postgres(sqlx::PgConnection::connect(url).await?)
        })
    }

    async fn counts(&mut self) -> Result<Counts, sqlx::Error> {
        let (raw, inbound, distinct_raw): (i64, i64, i64) = match self {
            Counter::Sqlite(c) => sqlx::query_as(COUNTS).fetch_one(c).await?,
            Counter::Postgres(c) => sqlx::query_as(COUNTS).fetch_one(c).await?,
        };
        Ok(Counts {
            raw,
            inbound,
            distinct_raw,
        })
    }
}

/// The PostgreSQL server of [`POSTGRES_ENV`]: `Ok(None)` when the variable
/// is not set, `Err` when set but no server answers there.
pub fn postgres_admin(runtime: &Runtime) -> Result<Option<String>, String> {
    let url = match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.trim().is_empty() => url.trim().to_string(),
        _ => return Ok(None),
    };
    runtime.block_on(async {
        let admin = sqlx::PgConnection::connect(&url)
            .await
            .map_err(|e| format!("{POSTGRES_ENV}={url}: cannot connect: {e}"))?;
        let _ = admin.close().await;
        Ok(Some(url))
    })
}

/// A database of its own on the server of [`POSTGRES_ENV`], dropped
/// (`WITH (FORCE)`) with the guard. (The tests' `PgDatabase` in
/// tests/common, which a bench cannot include.)
struct PgDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(admin_url: &str) -> Result<PgDatabase, String> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "parley_bench_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .map_err(|e| format!("{POSTGRES_ENV}: cannot connect: {e}"))?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .map_err(|e| format!("CREATE DATABASE {name}: {e}"))?;
        let _ = admin.close().await;
        Ok(PgDatabase {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_string(),
            name,
        })
    }
}

impl Drop for PgDatabase {
    /// From a thread with a runtime of its own, so that it works wherever
    /// the guard goes, on panics too.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: DROP DATABASE {}: {e}", self.name),
            Err(_) => eprintln!("warning: DROP DATABASE {}: the thread panicked", self.name),
        }
    }
}

/// `url` with its database replaced by `name` (user, host, port and query
/// parameters kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (scheme, rest) = base.split_once("://").expect("a postgres:// URL");
    let authority = rest.split('/').next().unwrap_or(rest);
    let mut out = format!("{scheme}://{authority}/{name}");
    if !query.is_empty() {
        out.push('?');
        out.push_str(query);
    }
    out
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
