//! `parley serve` sending notifications to a real SMTP peer: Postfix's
//! `smtp-sink` on a free loopback port, dumping each mail it takes into a
//! folder (`-d`), or refusing recipients for good (`-f RCPT`), or not
//! running at all (the relay is down). Every process a test starts is
//! killed by its PID when the test ends, also when it panics.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mail_parser::{HeaderValue, MessageParser};
use serde_json::Value;

use super::common::cli::Cli;
use super::common::sink::{Process, sink};
use super::common::{AGENT, DESK, MARIA, REPLY_DOMAIN, unique};

/// The longest any wait here lasts.
const WAIT: Duration = Duration::from_secs(30);

/// What [`check_notification`] found, for further checks.
#[derive(Debug)]
pub struct Checked {
    pub reply_to: String,
    pub subject: String,
    pub body: String,
    pub in_reply_to: String,
    pub to: String,
}

/// Parses a notification and checks the headers every one must carry.
pub fn check_notification(bytes: &[u8], message_id: &str, token: &str, ticket: i64) -> Checked {
    let text = String::from_utf8_lossy(bytes);
    let mail = MessageParser::default()
        .parse(bytes)
        .unwrap_or_else(|| panic!("a mail:\n{text}"));
    let header = |name: &str| {
        mail.header_raw(name)
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .trim()
            .to_string()
    };
    let first = |a: Option<&mail_parser::Address>| {
        a.and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_else(|| panic!("an address:\n{text}"))
            .to_string()
    };
    assert_eq!(mail.message_id(), Some(message_id), "{text}");
    let reply_to = first(mail.reply_to());
    assert_eq!(reply_to, format!("reply+{token}@{REPLY_DOMAIN}"), "{text}");
    assert_eq!(header("Auto-Submitted"), "auto-generated");
    assert_eq!(header("X-Auto-Response-Suppress"), "All");
    assert_eq!(header("X-Parley-Loop"), REPLY_DOMAIN);
    let subject = mail.subject().unwrap_or_default().to_string();
    assert!(subject.starts_with(&format!("[#{ticket}] ")), "{subject}");
    let body = mail.body_text(0).unwrap_or_default().replace("\r\n", "\n");
    assert!(body.contains("reply above this line"), "{body}");
    let in_reply_to = match mail.in_reply_to() {
        HeaderValue::Text(id) => id.to_string(),
        HeaderValue::TextList(ids) => ids.last().map(|id| id.to_string()).unwrap_or_default(),
        _ => String::new(),
    };
    Checked {
        reply_to,
        subject,
        body,
        in_reply_to,
        to: first(mail.to()),
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("a bound address").port()
}

/// Polls `f` every 50 ms until it gives a value, at most [`WAIT`].
pub fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The mails dumped into `dir`, oldest first: (envelope sender, bytes of
/// the whole dump, smtp-sink's records included).
fn dumps(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        // A dump is complete once the message's end is written.
        .filter(|b| !b.is_empty() && b.ends_with(b"\n"))
        .map(|bytes| {
            let text = String::from_utf8_lossy(&bytes);
            let sender = text
                .lines()
                .find_map(|l| l.strip_prefix("X-Mail-Args: "))
                .and_then(|l| l.split_once('<'))
                .and_then(|(_, l)| l.split('>').next())
                .unwrap_or_default()
                .to_string();
            (sender, bytes)
        })
        .collect()
}

/// A site: a config with an SMTP listener, the relay on `relay_port` and
/// short retry intervals; `parley serve` on it.
pub struct Site {
    pub cli: Cli,
    relay_port: u16,
    /// Where `parley serve` listens for SMTP.
    pub smtp_port: u16,
    dumps: PathBuf,
}

impl Site {
    pub fn new() -> Site {
        Site::throttled(0)
    }

    /// A site whose per-ticket throttle is `ticket_secs` (0: off, as for
    /// [`Site::new`], so that quick answers are not held back).
    pub fn throttled(ticket_secs: u64) -> Site {
        let relay_port = free_port();
        let smtp_port = free_port();
        let extra = format!(
            "[smtp]\nlisten = [\"127.0.0.1:{}\"]\nhostname = \"mx.test\"\n\n\
             [http]\nlisten = [\"127.0.0.1:0\"]\n\n\
             [relay]\nhost = \"127.0.0.1\"\nport = {relay_port}\ntimeout_secs = 5\n\n\
             [outbox]\nlease_secs = 60\npoll_interval_ms = 100\n\
             first_retry_secs = 1\nmax_retry_secs = 1\n\n\
             [notify]\nthrottle_ticket_secs = {ticket_secs}\n",
            smtp_port
        );
        let cli = Cli::with(&extra);
        let dumps = cli.dir.path().join("sink");
        Site {
            cli,
            relay_port,
            smtp_port,
            dumps,
        }
    }

    pub fn serve(&self) -> Process {
        let log = std::fs::File::create(self.cli.dir.path().join("serve.log")).expect("log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_parley"));
        command
            .arg("--config")
            .arg(&self.cli.config)
            .arg("serve")
            .current_dir(self.cli.dir.path())
            .env_remove("PARLEY_CONFIG")
            .env("PARLEY_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let process = Process(command.spawn().expect("parley serve starts"));
        wait_for(|| {
            std::fs::read_to_string(self.cli.dir.path().join("serve.log"))
                .ok()
                .filter(|l| l.contains("parley serve started"))
        })
        .unwrap_or_else(|| panic!("parley serve does not start:\n{}", self.log()));
        process
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.cli.dir.path().join("serve.log")).unwrap_or_default()
    }

    pub fn sink(&self, args: &[&str]) -> Process {
        sink(self.relay_port, &self.dumps, args)
    }

    /// `parley ingest` of a mail from `from` to `to`; its Message-ID.
    pub fn ingest(&self, from: &str, to: &str, subject: &str, body: &str) -> String {
        let id = format!("{}@test.example", unique());
        let mail = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
             Date: Sat, 21 Nov 2026 09:15:00 +0100\r\n\r\n{body}\r\n"
        );
        self.cli
            .expect(0, &["ingest", "--recipient", to], mail.as_bytes());
        id
    }

    pub fn outbox(&self) -> Vec<Value> {
        match self.cli.json(&["outbox", "list", "--json"]) {
            Value::Array(rows) => rows,
            other => panic!("outbox list --json: {other}"),
        }
    }

    /// Waits until `outbox list` satisfies `ok`; the rows.
    pub fn wait_outbox(&self, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        wait_for(|| Some(self.outbox()).filter(|rows| ok(rows))).unwrap_or_else(|| {
            panic!(
                "outbox: {what}: {:#?}\nserve log:\n{}",
                self.outbox(),
                self.log()
            )
        })
    }

    /// Waits until `n` notifications are sent and at the sink, checks the
    /// `n`th as [`check_notification`] checks every one; the rows, that
    /// check and the mail.
    pub fn sent(&self, n: usize, what: &str) -> (Vec<Value>, Checked, Vec<u8>) {
        let rows = self.wait_outbox(what, |r| r.len() == n && all_in(r, "sent"));
        let row = &rows[n - 1];
        let bytes = self.wait_dumps(n).swap_remove(n - 1).1;
        let checked = check_notification(
            &bytes,
            text(&row["message_id"]),
            text(&row["token"]),
            row["ticket"].as_i64().expect("a ticket"),
        );
        (rows, checked, bytes)
    }

    pub fn wait_dumps(&self, n: usize) -> Vec<(String, Vec<u8>)> {
        wait_for(|| Some(dumps(&self.dumps)).filter(|d| d.len() >= n)).unwrap_or_else(|| {
            panic!(
                "{n} mails at the sink, got {}\nserve log:\n{}",
                dumps(&self.dumps).len(),
                self.log()
            )
        })
    }
}

pub fn all_in(rows: &[Value], state: &str) -> bool {
    !rows.is_empty() && rows.iter().all(|r| r["state"] == state)
}

pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

#[test]
fn serve_delivers_a_notification_that_threads_back() {
    let site = Site::new();
    let _sink = site.sink(&[]);
    let _serve = site.serve();
    let first = site.ingest(MARIA, DESK, "Oak lamp", "Is the lamp still for sale?");

    let rows = site.wait_outbox("the notice is sent", |r| all_in(r, "sent"));
    let row = &rows[0];
    assert_eq!(text(&row["recipient"]), AGENT);
    assert!(text(&row["last_reply"]).starts_with("250"), "{row}");
    // The try that succeeded counts: one, in JSON and in text.
    assert_eq!(row["attempts"], 1, "{row}");
    let listed = site.cli.expect(0, &["outbox", "list"], b"");
    assert!(
        listed.contains(" sent ") && listed.contains(" 1 try "),
        "{listed}"
    );
    let dumped = site.wait_dumps(1);
    let (sender, bytes) = &dumped[0];
    assert!(
        sender.starts_with("bounce+") && sender.ends_with(&format!("@{REPLY_DOMAIN}")),
        "the VERP sender: {sender}"
    );
    let ticket = row["ticket"].as_i64().expect("a ticket number");
    let seen = check_notification(bytes, text(&row["message_id"]), text(&row["token"]), ticket);
    assert_eq!(seen.to, AGENT);
    // The first mail to the agent starts a thread: Maria's Message-ID
    // names her mail host and is not the agent's to see.
    assert_eq!(seen.in_reply_to, "");
    assert!(
        !String::from_utf8_lossy(bytes).contains(&first),
        "{first} named"
    );
    assert!(
        seen.body.contains("Is the lamp still for sale?"),
        "{}",
        seen.body
    );

    // The agent replies to the Reply-To address: the answer lands in the
    // ticket and Maria is notified, threaded under her own mail.
    let answer = site.ingest(
        AGENT,
        &seen.reply_to,
        &format!("Re: {}", seen.subject),
        &format!("Yes, it is.\n\n{}", seen.body),
    );
    let rows = site.wait_outbox("both notices are sent", |r| {
        r.len() == 2 && all_in(r, "sent")
    });
    assert_eq!(
        rows[1]["ticket"], rows[0]["ticket"],
        "the reply threads back"
    );
    let dumped = site.wait_dumps(2);
    let seen = check_notification(
        &dumped[1].1,
        text(&rows[1]["message_id"]),
        text(&rows[1]["token"]),
        ticket,
    );
    assert_eq!(seen.to, MARIA);
    assert_eq!(seen.in_reply_to, first, "under her own mail");
    assert!(
        !String::from_utf8_lossy(&dumped[1].1).contains(&answer),
        "the agent's {answer} named"
    );
    assert!(seen.body.contains("Yes, it is."), "{}", seen.body);
}

#[test]
fn relay_down_then_up_loses_nothing() {
    let site = Site::new();
    let _serve = site.serve();
    for n in 0..3 {
        site.ingest(MARIA, DESK, &format!("Item {n}"), "Still there?");
    }
    site.wait_outbox("every notice tried and deferred", |rows| {
        rows.len() == 3
            && rows
                .iter()
                .all(|r| r["state"] == "pending" && r["attempts"].as_i64() >= Some(1))
    });
    let _sink = site.sink(&[]);
    let rows = site.wait_outbox("every notice sent", |r| r.len() == 3 && all_in(r, "sent"));
    let dumped = site.wait_dumps(3);
    assert_eq!(dumped.len(), 3, "each sent once");
    for row in &rows {
        let id = format!("Message-ID: <{}>", text(&row["message_id"]));
        assert!(
            dumped
                .iter()
                .any(|(_, b)| String::from_utf8_lossy(b).contains(&id)),
            "{id} at the sink"
        );
    }
}

/// The relay restarted between two notifications: the pooled connection
/// it closed is noticed before use (it sat idle), so the second goes out
/// on a new one at its first try, not deferred.
#[test]
fn a_connection_the_relay_closed_is_not_used() {
    let site = Site::new();
    let first = site.sink(&[]);
    let _serve = site.serve();
    site.ingest(MARIA, DESK, "Oak lamp", "Hello");
    site.wait_outbox("the first notice is sent", |r| all_in(r, "sent"));
    assert_eq!(site.wait_dumps(1).len(), 1);

    drop(first);
    let _sink = site.sink(&[]);
    // Longer than the pool's idle check (1 s).
    std::thread::sleep(Duration::from_millis(1500));
    site.ingest(MARIA, DESK, "Oak chair", "Hello again");
    let rows = site.wait_outbox("both notices are sent", |r| {
        r.len() == 2 && all_in(r, "sent")
    });
    assert_eq!(rows[1]["attempts"], 1, "sent at the first try: {}", rows[1]);
    assert_eq!(site.wait_dumps(2).len(), 2);
}

#[test]
fn permanent_failure_is_kept_until_retried() {
    let site = Site::new();
    let refusing = site.sink(&["-f", "RCPT", "-B", "550 5.1.1 No such user"]);
    let _serve = site.serve();
    site.ingest(MARIA, DESK, "Oak lamp", "Hello");
    let rows = site.wait_outbox("the notice failed", |r| all_in(r, "failed"));
    assert!(text(&rows[0]["last_reply"]).contains("550"), "{}", rows[0]);
    let listed = site
        .cli
        .expect(0, &["outbox", "list", "--state", "failed"], b"");
    assert!(
        listed.contains("failed") && listed.contains("550"),
        "{listed}"
    );
    let pending = site
        .cli
        .expect(0, &["outbox", "list", "--state", "pending"], b"");
    assert_eq!(pending.trim(), "no notifications");
    // Not retried: a moment later it is as it was.
    std::thread::sleep(Duration::from_millis(1500));
    let again = site.outbox();
    assert_eq!(again[0]["state"], "failed");
    assert_eq!(again[0]["attempts"], 1, "refused at the one try it had");
    assert!(dumps(&site.dumps).is_empty());

    drop(refusing);
    let _sink = site.sink(&[]);
    let id = rows[0]["id"].as_i64().expect("an id").to_string();
    let out = site.cli.expect(0, &["outbox", "retry", &id], b"");
    assert!(out.contains("pending again"), "{out}");
    site.wait_outbox("the retried notice is sent", |r| all_in(r, "sent"));
    assert_eq!(site.wait_dumps(1).len(), 1);
}

#[test]
fn a_burst_within_the_ticket_window_arrives_as_one_mail() {
    let site = Site::throttled(3);
    let _sink = site.sink(&[]);
    let _serve = site.serve();
    site.ingest(MARIA, DESK, "Oak lamp", "Hi");
    let (rows, to_agent, _) = site.sent(1, "the agent is told");
    let ticket = rows[0]["ticket"].as_i64().expect("a ticket");
    site.ingest(AGENT, &to_agent.reply_to, "Re: Oak lamp", "Hello Maria!");
    let (_, to_maria, _) = site.sent(2, "Maria is told");
    // Two quick follow-ups while the agent's window is still open.
    site.ingest(
        MARIA,
        &to_maria.reply_to,
        "Re: Oak lamp",
        "Is it still there?",
    );
    site.ingest(
        MARIA,
        &to_maria.reply_to,
        "Re: Oak lamp",
        "I can pay today.",
    );
    let rows = site.wait_outbox("both follow-ups settled", |r| {
        r.len() == 4 && all_in(r, "sent")
    });
    let carrier = rows[3]["id"].as_i64().expect("an id");
    assert_eq!(
        rows[2]["coalesced_into"].as_i64(),
        Some(carrier),
        "{rows:#?}"
    );
    assert!(rows[3]["coalesced_into"].is_null(), "{rows:#?}");
    let sent = |r: &Value| r["sent_at"].as_i64().expect("sent_at");
    assert!(
        sent(&rows[3]) >= sent(&rows[0]) + 3000,
        "held back for the window: {rows:#?}"
    );
    // One mail for the two, announcing both; nothing else arrives.
    std::thread::sleep(Duration::from_millis(500));
    let dumped = dumps(&site.dumps);
    assert_eq!(dumped.len(), 3, "three mails in all");
    let both = check_notification(
        &dumped[2].1,
        text(&rows[3]["message_id"]),
        text(&rows[3]["token"]),
        ticket,
    );
    assert_eq!(both.to, AGENT);
    assert!(
        both.body.contains("2 new messages")
            && both.body.contains("Is it still there?")
            && both.body.contains("I can pay today."),
        "{}",
        both.body
    );
}

#[test]
fn a_template_that_does_not_render_stops_serve_with_exit_2() {
    let site = Site::new();
    let dir = site.cli.dir.path().join("templates");
    std::fs::create_dir_all(dir.join("desk")).expect("template folder");
    std::fs::write(dir.join("desk/ack.txt"), "{{ marker }}\n{{ greting }}\n").expect("written");
    let mut child = Command::new(env!("CARGO_BIN_EXE_parley"))
        .arg("--config")
        .arg(&site.cli.config)
        .arg("serve")
        .current_dir(site.cli.dir.path())
        .env_remove("PARLEY_CONFIG")
        .env("PARLEY__NOTIFY__TEMPLATE_DIR", &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("parley serve starts");
    let status = wait_for(|| child.try_wait().expect("a status")).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("parley serve kept running with a broken template")
    });
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err)
        .expect("stderr read");
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(
        err.contains("notify.template_dir") && err.contains("desk/ack.txt"),
        "{err}"
    );
}
