//! `parley serve` as systemd and a monitoring system see it: the sd_notify
//! messages on a `NOTIFY_SOCKET` the test listens on (READY, STATUS,
//! WATCHDOG, STOPPING), `/readyz`, and `/metrics` read by the Prometheus
//! project's own Python parser (Debian's python3-prometheus-client, which
//! scripts/test installs) after known traffic.

mod common;
#[path = "imap/dovecot.rs"]
mod dovecot;

use std::collections::BTreeMap;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::*;

/// Listens where `parley serve` is told to notify.
struct NotifySocket {
    _dir: tempfile::TempDir,
    socket: UnixDatagram,
    path: String,
    /// Every datagram received so far, in order.
    seen: Vec<String>,
}

impl NotifySocket {
    fn bind() -> NotifySocket {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        NotifySocket {
            _dir: dir,
            socket,
            path: path.to_string_lossy().into_owned(),
            seen: Vec::new(),
        }
    }

    /// Reads datagrams until one holds the line `line`, or `within` passes.
    fn wait_for(&mut self, line: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(text.clone());
                if text.lines().any(|l| l == line) {
                    return Some(text);
                }
            }
        }
        None
    }

    /// How many datagrams holding `line` arrive within `within`.
    fn count(&mut self, line: &str, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        let mut n = 0;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            if self.wait_for(line, left).is_some() {
                n += 1;
            }
        }
        n
    }
}

#[test]
fn serve_notifies_ready_feeds_the_watchdog_and_says_it_stops() {
    let mut notify = NotifySocket::bind();
    let smtp_port = free_port();
    let smtp = format!("listen = [\"127.0.0.1:{smtp_port}\"]");
    let mut served = Served::with_env(
        &Backend::Sqlite,
        &smtp,
        "listen = [\"127.0.0.1:{http}\"]",
        "",
        // systemd's WatchdogSec=0.6s: a ping every 200 ms.
        &[
            ("NOTIFY_SOCKET", notify.path.as_str()),
            ("WATCHDOG_USEC", "600000"),
        ],
    );
    let ready = notify
        .wait_for("READY=1", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no READY=1 in {:?}\n{}", notify.seen, served.log()));
    assert!(
        ready.contains(&format!("STATUS=serving: SMTP 127.0.0.1:{smtp_port}")),
        "{ready}"
    );
    // Before READY, a status said what it was doing.
    assert!(
        notify.seen[0].contains("STATUS=opening the store"),
        "{:?}",
        notify.seen
    );
    // Listeners are bound by the time systemd hears READY.
    let mut session = Smtp::connect(smtp_port).expect("SMTP answers once READY=1 is sent");
    assert_eq!(session.reply().unwrap().code, 220);
    drop(session);
    let pings = notify.count("WATCHDOG=1", Duration::from_millis(1500));
    assert!(
        (4..=12).contains(&pings),
        "{pings} watchdog pings in 1.5 s at a 200 ms period"
    );

    let ready = served.call("GET", "/readyz", &[], b"");
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );
    assert_eq!(ready.json()["started"], true);
    assert_eq!(ready.json()["store"], "ok");
    assert_eq!(ready.json()["outbox"], "off");

    served.sigterm();
    assert!(
        notify
            .wait_for("STOPPING=1", Duration::from_secs(10))
            .is_some(),
        "no STOPPING=1 in {:?}",
        notify.seen
    );
    let status = served.wait_exit(Duration::from_secs(30)).expect("exits");
    assert!(status.success(), "{status}\n{}", served.log());
}

/// On PostgreSQL a store that stops answering stops the watchdog (systemd
/// then restarts parley) and turns `/readyz` to 503; both come back with
/// the store.
#[test]
fn the_watchdog_is_fed_only_while_the_store_answers() {
    let Some(admin) = postgres_admin() else {
        return;
    };
    let mut notify = NotifySocket::bind();
    let served = Served::with_env(
        &Backend::Postgres(admin.clone()),
        "listen = []",
        "listen = [\"127.0.0.1:{http}\"]",
        "",
        &[
            ("NOTIFY_SOCKET", notify.path.as_str()),
            ("WATCHDOG_USEC", "600000"),
        ],
    );
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(10))
            .is_some()
    );
    assert!(notify.count("WATCHDOG=1", Duration::from_millis(800)) >= 2);

    // The store goes away: its database refuses connections and the ones
    // open are ended.
    let database = database_of(&served);
    psql(
        &admin,
        &format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS false"),
    );
    psql(
        &admin,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
        ),
    );
    // Pings already on their way may land; then none for a second.
    let _ = notify.count("WATCHDOG=1", Duration::from_millis(600));
    let silent = notify.count("WATCHDOG=1", Duration::from_millis(1200));
    assert_eq!(silent, 0, "the watchdog was fed without a store");
    assert!(
        notify
            .seen
            .iter()
            .any(|m| m.contains("STATUS=the store does not answer")),
        "{:?}",
        notify.seen
    );
    let ready = served.call("GET", "/readyz", &[], b"");
    assert_eq!(ready.status, 503);
    assert_eq!(
        ready.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(ready.json()["store"], "unavailable");

    psql(
        &admin,
        &format!("ALTER DATABASE \"{database}\" ALLOW_CONNECTIONS true"),
    );
    assert!(
        notify
            .wait_for("WATCHDOG=1", Duration::from_secs(15))
            .is_some(),
        "the watchdog is not fed again once the store answers\n{}",
        served.log()
    );
    let ready = served.call("GET", "/readyz", &[], b"");
    assert_eq!(
        ready.status,
        200,
        "{}",
        String::from_utf8_lossy(&ready.body)
    );
}

/// The database name in `[store] url` of the server's config.
fn database_of(served: &Served) -> String {
    let config = std::fs::read_to_string(&served.config).unwrap();
    let url = config
        .lines()
        .find_map(|l| l.strip_prefix("url = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a store url");
    url.rsplit('/')
        .next()
        .and_then(|tail| tail.split('?').next())
        .unwrap()
        .to_string()
}

fn psql(admin: &str, sql: &str) {
    let out = Command::new("psql")
        .args([admin, "-v", "ON_ERROR_STOP=1", "-qAtc", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One message over SMTP: the reply to RCPT, and to the data when RCPT
/// was taken.
fn send(port: u16, to: &str, subject: &str) -> (u16, Option<u16>) {
    let mut smtp = Smtp::connect(port).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.example", 250).unwrap();
    smtp.expect("MAIL FROM:<buyer@example.net>", 250).unwrap();
    let rcpt = smtp.command(&format!("RCPT TO:<{to}>")).unwrap().code;
    if rcpt != 250 {
        smtp.command("QUIT").unwrap();
        return (rcpt, None);
    }
    smtp.expect("DATA", 354).unwrap();
    let body = format!(
        "From: Buyer <buyer@example.net>\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{}@example.net>\r\n\r\nIs the lamp still available?\r\n.\r\n",
        subject.replace(' ', "-")
    );
    smtp.send(body.as_bytes()).unwrap();
    let data = smtp.reply().unwrap().code;
    smtp.command("QUIT").unwrap();
    (rcpt, Some(data))
}

/// `/metrics` through `prometheus_client.parser`: every sample as
/// `name{label="value",…}` (labels sorted) → value. Fails when the
/// parser refuses the text.
fn parsed(text: &str) -> BTreeMap<String, f64> {
    const SCRIPT: &str = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
        print(f"{family.type}\t{s.name}{{{labels}}}\t{s.value!r}")
"#;
    // Debian's python3 (the package's modules are not on another
    // python3 that may come first in PATH).
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 runs (python3-prometheus-client: scripts/test installs it)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut parts = l.split('\t');
            let _kind = parts.next().unwrap();
            let sample = parts.next().unwrap().to_string();
            let value: f64 = parts.next().unwrap().parse().unwrap();
            (sample, value)
        })
        .collect()
}

fn metrics(served: &Served) -> BTreeMap<String, f64> {
    let answer = served.call("GET", "/metrics", &[], b"");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parsed(&String::from_utf8(answer.body.clone()).unwrap())
}

fn sample(metrics: &BTreeMap<String, f64>, key: &str) -> f64 {
    *metrics
        .get(key)
        .unwrap_or_else(|| panic!("no {key} in {metrics:#?}"))
}

#[test]
fn metrics_count_known_traffic_and_parse_as_prometheus_text() {
    let smtp_port = free_port();
    let served = Served::start(
        &format!("listen = [\"127.0.0.1:{smtp_port}\"]"),
        "listen = [\"127.0.0.1:{http}\"]",
    );
    let before = metrics(&served);
    assert_eq!(sample(&before, "parley_store_up{}"), 1.0);
    assert_eq!(
        sample(
            &before,
            r#"parley_messages_total{outcome="stored",source="smtp"}"#
        ),
        0.0
    );

    for n in 1..=3 {
        assert_eq!(
            send(smtp_port, DESK, &format!("lamp {n}")),
            (250, Some(250))
        );
    }
    // A reply address nobody issued: refused at RCPT.
    assert_eq!(
        send(smtp_port, &format!("nobody@{REPLY_DOMAIN}"), "stray").0,
        550
    );
    // The same message again: a duplicate, acknowledged and not stored.
    assert_eq!(send(smtp_port, DESK, "lamp 1"), (250, Some(250)));
    let m = metrics(&served);
    assert_eq!(
        sample(
            &m,
            r#"parley_messages_total{outcome="stored",source="smtp"}"#
        ),
        3.0
    );
    assert_eq!(
        sample(
            &m,
            r#"parley_messages_total{outcome="duplicate",source="smtp"}"#
        ),
        1.0
    );
    assert_eq!(sample(&m, r#"parley_threading_total{rule="new"}"#), 3.0);
    assert_eq!(
        sample(&m, r#"parley_policy_actions_total{action="allow"}"#),
        3.0
    );
    assert_eq!(
        sample(&m, r#"parley_smtp_sessions_total{protocol="smtp"}"#),
        5.0
    );
    assert_eq!(sample(&m, r#"parley_smtp_replies_total{code="550"}"#), 1.0);
    assert_eq!(sample(&m, r#"parley_smtp_replies_total{code="354"}"#), 4.0);
    assert_eq!(sample(&m, "parley_smtp_sessions_open{}"), 0.0);
    // Three messages committed, each counted in the histogram.
    assert_eq!(sample(&m, "parley_store_commit_seconds_count{}"), 4.0);
    assert_eq!(
        sample(&m, r#"parley_store_commit_seconds_bucket{le="+Inf"}"#),
        4.0
    );
    assert!(sample(&m, "parley_store_commit_seconds_sum{}") > 0.0);
    // The queue's acknowledgements wait in the outbox (its worker is off
    // in these tests).
    assert!(sample(&m, "parley_outbox_pending{}") >= 3.0, "{m:#?}");
    assert!(sample(&m, "parley_outbox_oldest_pending_seconds{}") >= 0.0);
    assert_eq!(sample(&m, "parley_held_messages{}"), 0.0);
}

/// Waits until the server's log holds `text` `count` times.
fn wait_log(served: &Served, text: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while served.log().matches(text).count() < count {
        assert!(
            Instant::now() < deadline,
            "no {text:?} (x{count}) in the log:\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `parley serve` on SQLite with SMTP and HTTP, telling a socket of the
/// test; returned once it said READY=1.
fn notified_server() -> (NotifySocket, Served, u16) {
    let notify = NotifySocket::bind();
    let smtp_port = free_port();
    let served = Served::with_env(
        &Backend::Sqlite,
        &format!("listen = [\"127.0.0.1:{smtp_port}\"]"),
        "listen = [\"127.0.0.1:{http}\"]",
        "",
        &[("NOTIFY_SOCKET", notify.path.as_str())],
    );
    let mut notify = notify;
    assert!(
        notify
            .wait_for("READY=1", Duration::from_secs(10))
            .is_some(),
        "{}",
        served.log()
    );
    (notify, served, smtp_port)
}

#[test]
fn a_reload_adds_a_queue_taken_at_rcpt_by_a_session_open_all_along() {
    let (mut notify, served, smtp_port) = notified_server();
    let fresh = "garden@shop.example";
    let mut session = Smtp::connect(smtp_port).unwrap();
    assert_eq!(session.reply().unwrap().code, 220);
    session.expect("EHLO client.example", 250).unwrap();
    session
        .expect("MAIL FROM:<buyer@example.net>", 250)
        .unwrap();
    let before = session.command(&format!("RCPT TO:<{fresh}>")).unwrap();
    assert_eq!(before.code, 550, "{before:?}");
    session.expect("RSET", 250).unwrap();

    // The file gains a queue; `parley reload` validates it and signals.
    let mut text = std::fs::read_to_string(&served.config).unwrap();
    text.push_str(&format!(
        "\n[[queues]]\nname = \"garden\"\nintake = [\"{fresh}\"]\nstaff = [\"gardener@shop.example\"]\n"
    ));
    std::fs::write(&served.config, text).unwrap();
    let pid = served.pid().to_string();
    let said = served.cli(0, &["reload", "--pid", &pid], b"");
    assert!(said.contains("told to reload"), "{said}");
    wait_log(&served, "configuration reloaded", 1);
    assert!(
        notify
            .wait_for("RELOADING=1", Duration::from_secs(5))
            .is_some(),
        "{:?}",
        notify.seen
    );
    assert!(notify.wait_for("READY=1", Duration::from_secs(5)).is_some());

    // The same session, never closed: the new address is taken now.
    session
        .expect("MAIL FROM:<buyer@example.net>", 250)
        .unwrap();
    session.expect(&format!("RCPT TO:<{fresh}>"), 250).unwrap();
    session.expect("DATA", 354).unwrap();
    session
        .send(
            format!(
                "From: buyer@example.net\r\nTo: {fresh}\r\nSubject: Roses\r\n\
                 Message-ID: <roses@example.net>\r\n\r\nDo you ship roses?\r\n.\r\n"
            )
            .as_bytes(),
        )
        .unwrap();
    assert_eq!(session.reply().unwrap().code, 250);
    session.expect("QUIT", 221).unwrap();
    let tickets = served.json(&["tickets", "list", "--queue", "garden", "--json"]);
    assert_eq!(
        tickets.as_array().map(Vec::len),
        Some(1),
        "{tickets}\n{}",
        served.log()
    );
    let m = metrics(&served);
    assert_eq!(sample(&m, r#"parley_reloads_total{result="ok"}"#), 1.0);
}

#[test]
fn a_bad_file_on_reload_changes_nothing() {
    let (mut notify, served, smtp_port) = notified_server();
    let good = std::fs::read_to_string(&served.config).unwrap();
    // A queue added, and an invalid value beside it: neither may apply.
    let bad = format!(
        "{good}\n[[queues]]\nname = \"garden\"\nintake = [\"garden@shop.example\"]\n\n\
         [intake]\nmax_message_bytes = -5\n"
    );
    std::fs::write(&served.config, &bad).unwrap();
    let pid = served.pid().to_string();
    // `parley reload` refuses it (exit 2) and does not signal.
    let out = served.run(&["reload", "--pid", &pid], b"");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!served.log().contains("SIGHUP"), "{}", served.log());

    // A SIGHUP anyway (as `kill -HUP` would): refused, the old one kept.
    let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
    assert!(status.success());
    wait_log(&served, "reload refused", 1);
    assert!(
        notify.wait_for("READY=1", Duration::from_secs(5)).is_some(),
        "READY=1 again after a refused reload: {:?}",
        notify.seen
    );
    assert_eq!(send(smtp_port, "garden@shop.example", "roses").0, 550);
    assert_eq!(send(smtp_port, DESK, "lamp"), (250, Some(250)));
    let m = metrics(&served);
    assert_eq!(sample(&m, r#"parley_reloads_total{result="refused"}"#), 1.0);
    assert_eq!(sample(&m, r#"parley_reloads_total{result="ok"}"#), 0.0);
}

/// RFC 5321 §4.5.1: `postmaster@` every domain parley serves is taken, in
/// any case; kept in quarantine by default, a ticket in the queue
/// `mail.postmaster` names when set. Other local parts stay refused.
#[test]
fn postmaster_of_served_domains_is_taken_and_routed() {
    let smtp_port = free_port();
    let served = Served::start(
        &format!("listen = [\"127.0.0.1:{smtp_port}\"]"),
        "listen = []",
    );
    let domain = DESK.rsplit_once('@').unwrap().1;
    for to in [
        format!("postmaster@{domain}"),
        format!("PostMaster@{REPLY_DOMAIN}"),
    ] {
        assert_eq!(
            send(smtp_port, &to, &format!("abuse report {to}")),
            (250, Some(250))
        );
    }
    assert_eq!(
        send(smtp_port, "postmaster@elsewhere.example", "relay?").0,
        550
    );
    assert_eq!(send(smtp_port, &format!("hostmaster@{domain}"), "x").0, 550);
    let kept = served.json(&["quarantine", "list", "--json"]);
    let reasons: Vec<&str> = kept
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|q| q["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["postmaster", "postmaster"], "{kept}");

    // Routed to the desk by a reload.
    let mut text = std::fs::read_to_string(&served.config).unwrap();
    text = text.replace(
        "[mail]\n",
        &format!("[mail]\npostmaster = \"{}\"\n", DESK.to_uppercase()),
    );
    std::fs::write(&served.config, text).unwrap();
    let pid = served.pid().to_string();
    served.cli(0, &["reload", "--pid", &pid], b"");
    wait_log(&served, "configuration reloaded", 1);
    assert_eq!(
        send(
            smtp_port,
            &format!("postmaster@{REPLY_DOMAIN}"),
            "dmarc report"
        ),
        (250, Some(250))
    );
    let tickets = served.json(&["tickets", "list", "--queue", "desk", "--json"]);
    assert_eq!(tickets.as_array().map(Vec::len), Some(1), "{tickets}");
    assert_eq!(tickets[0]["subject"], "dmarc report", "{tickets}");

    // A postmaster address that names no queue is refused at start.
    let out = served.run(&["check"], b"");
    assert_eq!(out.status.code(), Some(0));
    let bad = std::fs::read_to_string(&served.config)
        .unwrap()
        .replace(&DESK.to_uppercase(), "ops@shop.example");
    std::fs::write(&served.config, bad).unwrap();
    let out = served.run(&["check"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mail.postmaster"),
        "{out:?}"
    );
}

/// `PARLEY_LOG_FORMAT=json`: every line of the log is one JSON object
/// with the level, the target and the message's fields at the top level.
#[test]
fn json_logs_are_one_object_a_line() {
    let smtp_port = free_port();
    let served = Served::with_env(
        &Backend::Sqlite,
        &format!("listen = [\"127.0.0.1:{smtp_port}\"]"),
        "listen = []",
        "",
        &[("PARLEY_LOG_FORMAT", "json")],
    );
    assert_eq!(send(smtp_port, DESK, "lamp"), (250, Some(250)));
    let log = served.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let started = lines
        .iter()
        .find(|l| l["message"] == "parley serve started")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["target"], "parley::serve");
    assert!(started["timestamp"].is_string());
    let listening = lines
        .iter()
        .find(|l| l["message"] == "listening")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(listening["addr"], format!("127.0.0.1:{smtp_port}"));
}

/// A self-signed certificate for `cn`, written over `dir`'s cert.pem and
/// key.pem by `openssl` (scripts/test installs it).
fn certificate(dir: &std::path::Path, cn: &str) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={cn}"), "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "{out:?}");
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// The subject of the certificate a new SMTP session shows after STARTTLS.
fn presented_subject(port: u16) -> String {
    let mut client = Command::new("openssl")
        .args(["s_client", "-starttls", "smtp", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl runs");
    use std::io::Write;
    let _ = client.stdin.take().unwrap().write_all(b"QUIT\r\n");
    let out = client.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .unwrap_or_else(|| panic!("no certificate in:\n{text}"))
        .replace(' ', "")
}

#[test]
fn a_reload_swaps_the_tls_certificate_for_new_sessions() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(certs.path(), "one.test");
    let smtp_port = free_port();
    let served = Served::start(
        &format!(
            "listen = [\"127.0.0.1:{smtp_port}\"]\ntls_cert = \"{cert}\"\ntls_key = \"{key}\""
        ),
        "listen = []",
    );
    assert_eq!(presented_subject(smtp_port), "CN=one.test");
    // A session open across the reload.
    let mut open = Smtp::connect(smtp_port).unwrap();
    assert_eq!(open.reply().unwrap().code, 220);
    open.expect("EHLO client.example", 250).unwrap();

    certificate(certs.path(), "two.test");
    let pid = served.pid().to_string();
    served.cli(0, &["reload", "--pid", &pid], b"");
    wait_log(&served, "configuration reloaded", 1);
    assert_eq!(presented_subject(smtp_port), "CN=two.test");
    // The open session was not dropped: it still takes a message.
    open.expect("MAIL FROM:<buyer@example.net>", 250).unwrap();
    open.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
    open.expect("QUIT", 221).unwrap();
}

/// A reload starts polling a mailbox added to the file and logs out of
/// one taken out of it.
#[test]
fn a_reload_adds_and_removes_imap_mailboxes() {
    const USER: &str = "desk";
    const PASSWORD: &str = "secret-1";
    let d = dovecot::Dovecot::start(&[(USER, PASSWORD)]);
    let served = Served::start("listen = []", "listen = [\"127.0.0.1:{http}\"]");
    let mail = |n: u32| {
        format!(
            "From: buyer{n}@example.net\r\nTo: {DESK}\r\nSubject: Lot {n}\r\n\
             Message-ID: <imap-reload-{n}@example.net>\r\n\r\nStill there?\r\n"
        )
        .into_bytes()
    };
    d.append(USER, PASSWORD, "INBOX", &mail(1));
    let original = std::fs::read_to_string(&served.config).unwrap();
    let with_mailbox = format!(
        "{original}\n[[imap]]\nhost = \"127.0.0.1\"\ntls = \"none\"\nport = {}\n\
         username = \"{USER}\"\npassword = \"{PASSWORD}\"\npoll_interval_secs = 1\n",
        d.port()
    );
    std::fs::write(&served.config, with_mailbox).unwrap();
    let pid = served.pid().to_string();
    served.cli(0, &["reload", "--pid", &pid], b"");
    wait_log(&served, "configuration reloaded", 1);
    let tickets = |served: &Served| {
        served
            .json(&["tickets", "list", "--json"])
            .as_array()
            .map_or(0, Vec::len)
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while tickets(&served) < 1 {
        assert!(Instant::now() < deadline, "{}", served.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    let key = format!("{USER}@127.0.0.1:{}/INBOX", d.port());
    assert_eq!(
        sample(
            &metrics(&served),
            &format!("parley_imap_fetched_total{{mailbox=\"{key}\"}}")
        ),
        1.0
    );

    // Taken out again: the poller logs out, new mail stays in the box.
    std::fs::write(&served.config, &original).unwrap();
    served.cli(0, &["reload", "--pid", &pid], b"");
    wait_log(&served, "configuration reloaded", 2);
    wait_log(&served, "imap: stopping", 1);
    std::thread::sleep(Duration::from_millis(500));
    d.append(USER, PASSWORD, "INBOX", &mail(2));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tickets(&served), 1, "{}", served.log());
    let m = metrics(&served);
    assert!(
        !m.keys().any(|k| k.contains(&key)),
        "a removed mailbox is still in /metrics: {m:#?}"
    );
}
