//! Helpers shared by the integration tests: fresh stores on every backend,
//! an intake over them, and a small builder for test mail.
//!
//! Every [`TestEnv`] owns its own temporary folder and, on PostgreSQL, its
//! own database (created from `PARLEY_TEST_POSTGRES_URL`, dropped with the
//! env), so tests run in parallel without seeing each other's data.

// Each test crate uses a different part of this module.
#![allow(dead_code)]

/// Runs `chapter` on a fresh store of every backend and says which ran
/// (test crates that use it declare `#[macro_use] mod common;`).
#[allow(unused_macros)]
macro_rules! on_every_backend {
    ($chapter:ident) => {{
        let mut ran = Vec::new();
        for backend in backends() {
            println!("== {} on {}", stringify!($chapter), backend.name());
            let env = TestEnv::new(&backend, |_| {}).await;
            $chapter(&env).await;
            ran.push(backend.name());
        }
        println!("{} ran on: {}", stringify!($chapter), ran.join(", "));
    }};
}

pub mod browser;
pub mod cli;
pub mod fixtures;
pub mod http;
pub mod receiver;
pub mod served;
pub mod sink;
pub mod smtp;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parley::config::Config;
use parley::intake::{Envelope, Intake, Outcome, Plan};
use parley::store::{Participant, Source, Store, Ticket, TicketFilter};
use parley::token::Signer;
use sqlx::Connection;

/// The HMAC key of every test config (inline, so `Signer::new` matches).
pub const SECRET: &str = "integration-test-secret-0123456789";
pub const REPLY_DOMAIN: &str = "reply.shop.example";
/// Queue `desk`: intake and staff address.
pub const DESK: &str = "desk@shop.example";
pub const AGENT: &str = "agent@shop.example";
/// Queue `books`: intake and staff address.
pub const BOOKS: &str = "books@shop.example";
pub const CLERK: &str = "clerk@shop.example";
/// Clients and strangers.
pub const MARIA: &str = "maria@buyer.example";
pub const BOB: &str = "bob@buyer.example";
pub const MALLORY: &str = "mallory@evil.example";
/// An address no queue serves.
pub const NOBODY: &str = "someone@elsewhere.example";

/// The variable naming a PostgreSQL server the tests may create databases on.
pub const POSTGRES_ENV: &str = "PARLEY_TEST_POSTGRES_URL";
/// The explicit opt-out: `1` runs the store tests on SQLite alone.
/// `scripts/test` never sets it.
pub const SQLITE_ONLY_ENV: &str = "PARLEY_TEST_SQLITE_ONLY";

/// Whether this run opted out of PostgreSQL ([`SQLITE_ONLY_ENV`] is `1`).
pub fn sqlite_only() -> bool {
    std::env::var(SQLITE_ONLY_ENV).is_ok_and(|v| v.trim() == "1")
}

/// A value unique in this test run (and across concurrent runs).
pub fn unique() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}_{n}_{nanos}", std::process::id())
}

/// The `[store]`-less rest of the test configuration: reply domain and two
/// queues. The CLI tests write it too.
pub fn queues_toml() -> String {
    format!(
        r#"[mail]
reply_domain = "{REPLY_DOMAIN}"

[[queues]]
name = "desk"
display_name = "Shop desk"
intake = ["{DESK}"]
staff = ["{AGENT}"]

[[queues]]
name = "books"
intake = ["{BOOKS}"]
staff = ["{CLERK}"]
"#
    )
}

/// A store backend the tests can run on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    /// The admin URL from [`POSTGRES_ENV`].
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// SQLite and the PostgreSQL of [`POSTGRES_ENV`]. Without that variable
/// the test fails (a store test that passed on SQLite alone would hide a
/// PostgreSQL bug), unless the run opted out with [`SQLITE_ONLY_ENV`].
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if sqlite_only() {
        println!("{SQLITE_ONLY_ENV}=1: PostgreSQL left out on purpose");
        return all;
    }
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.trim().is_empty() => all.push(Backend::Postgres(url.trim().to_string())),
        _ => panic!(
            "{POSTGRES_ENV} is not set: the store tests run on SQLite and PostgreSQL. \
             Run scripts/test (it uses the PostgreSQL on 127.0.0.1:5432 or starts a \
             throwaway one), or set {POSTGRES_ENV}=postgres://USER@HOST:PORT/DB (a server \
             the tests may create databases on), or {SQLITE_ONLY_ENV}=1 to leave \
             PostgreSQL out on purpose"
        ),
    }
    all
}

/// The admin URL of the PostgreSQL of [`POSTGRES_ENV`], for tests that
/// only make sense there (several instances on one store); `None` only
/// when the run left PostgreSQL out on purpose ([`backends`] fails
/// otherwise).
pub fn postgres_admin() -> Option<String> {
    backends().into_iter().find_map(|b| match b {
        Backend::Postgres(admin) => Some(admin),
        Backend::Sqlite => None,
    })
}

/// A throwaway PostgreSQL database, dropped (`WITH (FORCE)`) with the guard.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin_url: &str) -> PgDatabase {
        let name = format!("parley_t_{}", unique());
        let mut admin = sqlx::PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{POSTGRES_ENV}={admin_url}: cannot connect: {e} (start that server, \
                     point {POSTGRES_ENV} at one that answers, or set {SQLITE_ONLY_ENV}=1 \
                     to leave PostgreSQL out on purpose)"
                )
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        let _ = admin.close().await;
        PgDatabase {
            url: with_database(admin_url, &name),
            admin_url: admin_url.to_string(),
            name,
        }
    }
}

impl Drop for PgDatabase {
    /// Drops the database from a thread with its own runtime, so that it
    /// works inside and outside of the test's runtime, and on panics.
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
pub fn with_database(url: &str, name: &str) -> String {
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

/// A fresh store on one backend with an intake over it.
pub struct TestEnv {
    pub backend: &'static str,
    pub config: Config,
    pub intake: Arc<Intake>,
    /// Holds the config file (and, on SQLite, the database).
    pub dir: tempfile::TempDir,
    // Dropped last: the database goes after every connection to it.
    _pg: Option<PgDatabase>,
}

impl TestEnv {
    /// A fresh store with the test config, changed by `tweak` before the
    /// store and the intake are built from it.
    pub async fn new(backend: &Backend, tweak: impl FnOnce(&mut Config)) -> TestEnv {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(admin) => Some(PgDatabase::create(admin).await),
        };
        let url = match &pg {
            Some(db) => db.url.clone(),
            None => format!("sqlite://{}/parley.db", dir.path().display()),
        };
        let path = dir.path().join("parley.toml");
        let text = format!(
            "[store]\nurl = \"{url}\"\nacquire_timeout_secs = 5\n\n\
             [token]\nsecret = \"{SECRET}\"\n\n{}",
            queues_toml()
        );
        std::fs::write(&path, text).expect("config written");
        let mut config = Config::load(Some(&path)).expect("test config loads");
        // PARLEY__* variables of the caller's shell must not redirect tests.
        config.store.url = url;
        config.token.secret = SECRET.into();
        config.mail.reply_domain = REPLY_DOMAIN.into();
        tweak(&mut config);
        config.validate().expect("tweaked test config is valid");
        let store = parley::store::open(&config.store)
            .await
            .unwrap_or_else(|e| panic!("{}: open: {e}", backend.name()));
        for queue in &config.queues {
            store.sync_queue(queue).await.expect("queue synced");
        }
        let secret = config.load_secret().expect("secret");
        let intake = Arc::new(Intake::new(&config, &secret, Arc::from(store)));
        TestEnv {
            backend: backend.name(),
            config,
            intake,
            dir,
            _pg: pg,
        }
    }

    pub fn store(&self) -> &dyn Store {
        self.intake.store()
    }

    /// A signer with the test key (what the intake verifies with).
    pub fn signer(&self) -> Signer {
        Signer::new(SECRET.as_bytes())
    }

    /// The reply address of `address` on `ticket`.
    pub async fn reply_address(&self, ticket: i64, address: &str) -> String {
        let who = self.participant(ticket, address).await;
        self.intake.minter().reply_address(ticket, who.id).1
    }

    pub async fn participant(&self, ticket: i64, address: &str) -> Participant {
        self.store()
            .participant_by_address(ticket, address)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{address} is no participant of #{ticket}"))
    }

    pub async fn ticket(&self, number: i64) -> Ticket {
        self.store()
            .ticket(number)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("ticket #{number} exists"))
    }

    pub async fn status(&self, number: i64) -> parley::tickets::Status {
        self.ticket(number).await.status
    }

    /// The role of `address` on `ticket`, as stored.
    pub async fn role(&self, ticket: i64, address: &str) -> &'static str {
        self.participant(ticket, address).await.role.as_str()
    }

    /// Delivers `mail` to `recipients` (none: the header recipients).
    pub async fn deliver(&self, mail: &Mail, recipients: &[&str]) -> Outcome {
        self.deliver_raw(mail.bytes(), recipients).await
    }

    pub async fn deliver_raw(&self, raw: Vec<u8>, recipients: &[&str]) -> Outcome {
        self.intake
            .deliver(raw, &envelope(recipients))
            .await
            .unwrap_or_else(|e| panic!("{}: deliver: {e}", self.backend))
    }

    pub async fn plan(&self, mail: &Mail, recipients: &[&str]) -> Plan {
        self.intake
            .plan(&mail.bytes(), &envelope(recipients))
            .await
            .unwrap_or_else(|e| panic!("{}: plan: {e}", self.backend))
    }

    /// Opens a ticket as `from` writing to the desk; returns its number.
    pub async fn open_ticket(&self, from: &str, subject: &str) -> i64 {
        match self.deliver(&Mail::new(from, DESK, subject), &[]).await {
            Outcome::Stored {
                ticket,
                new_ticket: true,
                ..
            } => ticket,
            other => panic!("{}: expected a new ticket, got {other:?}", self.backend),
        }
    }

    /// How many tickets the store holds (held ones too).
    pub async fn ticket_count(&self) -> usize {
        let all = self.store().tickets(&EVERY_TICKET).await;
        all.unwrap_or_else(|e| panic!("{}: tickets: {e}", self.backend))
            .len()
    }

    /// What is in the store, counted through the public API.
    pub async fn counts(&self) -> Counts {
        let store = self.store();
        let tickets = store.tickets(&EVERY_TICKET).await.unwrap();
        let mut counts = Counts {
            raws: store.raw_count().await.unwrap(),
            tickets: tickets.len(),
            ..Counts::default()
        };
        for t in &tickets {
            counts.messages += store.messages(t.number).await.unwrap().len();
            counts.notifications += store.notifications(t.number).await.unwrap().len();
            counts.audit += store.audit(t.number).await.unwrap().len();
        }
        counts
    }
}

/// Every ticket, also those opened by a message that waits for a
/// moderator (which `TicketFilter::default()` leaves out).
pub const EVERY_TICKET: TicketFilter = TicketFilter {
    status: None,
    queue: None,
    created: None,
    limit: 0,
    include_held: true,
};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub raws: i64,
    pub tickets: usize,
    pub messages: usize,
    pub notifications: usize,
    pub audit: usize,
}

pub fn envelope(recipients: &[&str]) -> Envelope {
    Envelope {
        sender: None,
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
        source: Source::Pipe,
    }
}

/// A plain-text test mail with a unique Message-ID.
#[derive(Debug, Clone)]
pub struct Mail {
    headers: Vec<(String, String)>,
    body: String,
    message_id: String,
}

impl Mail {
    pub fn new(from: &str, to: &str, subject: &str) -> Mail {
        let message_id = format!("t{}@test.example", unique());
        Mail {
            headers: vec![
                ("From".into(), from.into()),
                ("To".into(), to.into()),
                ("Subject".into(), subject.into()),
                ("Date".into(), "Sat, 21 Nov 2026 09:15:00 +0100".into()),
                ("Message-ID".into(), format!("<{message_id}>")),
            ],
            body: format!("Hello, this is about: {subject}\n"),
            message_id,
        }
    }

    /// Adds a header (after the others).
    pub fn header(mut self, name: &str, value: &str) -> Mail {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: &str) -> Mail {
        self.body = body.into();
        self
    }

    pub fn message_id(&self) -> &str {
        &self.message_id
    }

    /// The message with CRLF line ends.
    pub fn bytes(&self) -> Vec<u8> {
        let mut text = String::new();
        for (name, value) in &self.headers {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
        text.push_str(&self.body.replace('\n', "\r\n"));
        text.into_bytes()
    }

    /// The same message as relayed once more: a `Received:` header on top.
    pub fn relayed(&self) -> Vec<u8> {
        let mut raw = b"Received: from mx2.example by mx.shop.example; \
Sat, 21 Nov 2026 09:16:00 +0100\r\n"
            .to_vec();
        raw.extend_from_slice(&self.bytes());
        raw
    }
}

pub const MINUTE: i64 = 60_000;
pub const HOUR: i64 = 60 * MINUTE;

/// Outbox row `id`, as `outbox list` shows it.
pub async fn outbox_row(store: &dyn Store, id: i64) -> parley::store::OutboxRow {
    store
        .outbox(None, 1000)
        .await
        .expect("outbox rows")
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("outbox row {id}"))
}

/// The ids of outbox rows, in order.
pub fn outbox_ids(rows: &[parley::store::OutboxRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}
