//! Webhooks against `parley serve` on every backend, with a real receiver
//! (`common/receiver.rs`, an HTTP server on 127.0.0.1): a message that
//! arrives by SMTP is POSTed to it, signed (the signature verifies with
//! the webhook's secret, not with another), only the kinds each webhook
//! asked for (a status changed by the CLI too); a 500 and a receiver
//! that is down are retried until the event is delivered, each event
//! answered 2xx once; 410 Gone fails at once and `webhooks retry ID`
//! sends it again; a server restarted
//! resumes where its cursor stood (what arrived meanwhile is sent, nothing
//! twice); `parley webhooks status` and `retry`; HTTPS with a private
//! CA (`tls_ca_file`), and a certificate the system does not trust refused.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::receiver::{Received, Receiver, pki};
use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::{Backend, DESK, MARIA, Mail, backends};
use serde_json::Value;

const SECRET: &str = "whsec-test-0123456789";
/// How long a test waits for a request that must come.
const WAIT: Duration = Duration::from_secs(20);

/// `parley serve` on `backend` with SMTP on a free port, the retry
/// schedule shortened (1 s, then 2 s) and `webhooks` (TOML) configured;
/// the SMTP port.
fn serve(backend: &Backend, webhooks: &str) -> (Served, u16) {
    let smtp = free_port();
    let extra = format!(
        "[outbox]\nenabled = false\nfirst_retry_secs = 1\nmax_retry_secs = 2\n\n{webhooks}"
    );
    let served = Served::on(
        backend,
        &format!("listen = [\"127.0.0.1:{smtp}\"]"),
        "listen = [\"127.0.0.1:{http}\"]",
        &extra,
    );
    (served, smtp)
}

fn webhook(name: &str, url: &str, more: &str) -> String {
    format!("[[webhooks]]\nname = \"{name}\"\nurl = \"{url}\"\n{more}\n\n")
}

/// Delivers `mail` from Maria to the desk by SMTP ("250": committed).
fn deliver(port: u16, mail: &Mail) {
    let mut smtp = Smtp::connect(port).expect("connects");
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.test", 250).unwrap();
    smtp.expect(&format!("MAIL FROM:<{MARIA}>"), 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    let mut data = mail.bytes();
    data.extend_from_slice(b".\r\n");
    smtp.send(&data).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 250);
}

/// The requests answered 2xx, by event id: how many times each.
fn delivered(received: &[Received]) -> BTreeMap<i64, usize> {
    let mut by_id = BTreeMap::new();
    for r in received.iter().filter(|r| (200..300).contains(&r.status)) {
        *by_id.entry(r.json()["id"].as_i64().unwrap()).or_default() += 1;
    }
    by_id
}

fn status(served: &Served) -> Vec<Value> {
    let json = served.json(&["webhooks", "status", "--json"]);
    json.as_array().unwrap().clone()
}

/// Checks the request's signature as a receiver does: `t=UNIX,v1=HEX`,
/// HEX the HMAC-SHA256 of "UNIX.BODY" under `secret`, t recent.
fn verifies(r: &Received, secret: &str) -> bool {
    let header = r.header("parley-signature");
    let Some((t, v1)) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let t: i64 = t.parse().unwrap();
    let now = parley::store::now_ms() / 1000;
    assert!((now - t).abs() < 300, "an old t: {t}, now {now}");
    let expected = parley::webhooks::signature(secret.as_bytes(), t, &r.body);
    expected.ends_with(&format!(",v1={v1}"))
}

#[test]
fn a_message_by_smtp_reaches_the_receiver_signed() {
    for backend in backends() {
        println!("== on {}", backend.name());
        signed_and_sifted(&backend);
    }
}

fn signed_and_sifted(backend: &Backend) {
    let shop = Receiver::start(&[]);
    let audit = Receiver::start(&[]);
    let secrets = tempfile::tempdir().unwrap();
    let secret_file = secrets.path().join("audit.secret");
    std::fs::write(&secret_file, "audit-secret-xyz\n").unwrap();
    let hooks = webhook("shop", &shop.url(), &format!("secret = \"{SECRET}\""))
        + &webhook(
            "audit",
            &audit.url(),
            &format!(
                "secret_file = \"{}\"\nevents = [\"ticket.created\"]\ntimeout_ms = 3000",
                secret_file.display()
            ),
        );
    let (served, port) = serve(backend, &hooks);
    deliver(
        port,
        &Mail::new(MARIA, DESK, "Is the oak sideboard still there?"),
    );

    let got = shop.wait_for(WAIT, |r| !r.is_empty());
    let audited = audit.wait_for(WAIT, |r| !r.is_empty());
    // Whatever else would come has come by now.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(shop.received().len(), 1, "{:#?}", shop.received());
    assert_eq!(audit.received().len(), 1, "{:#?}", audit.received());
    let r = &got[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/hooks/parley")
    );
    assert_eq!(r.header("content-type"), "application/json");
    let body = r.json();
    assert_eq!(body["kind"], "message.created", "only the kinds asked for");
    assert_eq!(r.header("parley-event"), "message.created");
    assert_eq!(r.header("parley-event-id"), body["id"].to_string());
    assert_eq!(body["actor"], MARIA);
    assert!(body["ticket"].as_i64().is_some() && body["message"].as_i64().is_some());
    assert_eq!(body["data"]["direction"], "inbound");
    assert!(verifies(r, SECRET), "{r:#?}");
    assert!(!verifies(r, "another secret"), "a wrong secret verifies");
    let mut tampered = r.clone();
    tampered.body = tampered.body.replace("inbound", "outbound");
    assert!(!verifies(&tampered, SECRET), "a changed body verifies");

    let a = &audited[0];
    assert_eq!(a.json()["kind"], "ticket.created");
    assert_eq!(a.header("parley-event"), "ticket.created");
    assert!(verifies(a, "audit-secret-xyz"), "secret_file: {a:#?}");
    assert!(a.json()["id"].as_i64() < body["id"].as_i64());

    // A status change by the CLI (another process): ticket.status.
    let ticket = body["ticket"].to_string();
    served.cli(0, &["tickets", "status", &ticket, "resolved"], b"");
    let got = shop.wait_for(WAIT, |r| r.len() == 2);
    let change = got[1].json();
    assert_eq!(change["kind"], "ticket.status");
    assert_eq!(change["data"]["to"], "resolved");
    assert_eq!(change["actor"], "cli");
    assert!(verifies(&got[1], SECRET));
    assert_eq!(audit.received().len(), 1, "not one of its kinds");

    let status = status(&served);
    let shop_status = status.iter().find(|s| s["name"] == "shop").unwrap();
    assert_eq!(shop_status["delivered"], 2, "{status:#?}");
    assert_eq!(shop_status["pending"], 0);
    assert_eq!(shop_status["url"], shop.url());
    assert!(shop_status["cursor"].as_i64().unwrap() >= body["id"].as_i64().unwrap());
}

#[test]
fn failed_tries_are_retried_until_delivered_once() {
    for backend in backends() {
        println!("== on {}", backend.name());
        retried(&backend);
    }
}

fn retried(backend: &Backend) {
    let mut shop = Receiver::start(&[500, 503]);
    let hooks = webhook("shop", &shop.url(), &format!("secret = \"{SECRET}\""));
    let (served, port) = serve(backend, &hooks);

    // 500, 503, then 200: three tries of one event, one delivery.
    deliver(port, &Mail::new(MARIA, DESK, "First question"));
    let got = shop.wait_for(WAIT, |r| r.iter().any(|r| r.status == 200));
    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 503, 200], "{got:#?}");
    let ids: Vec<&str> = got.iter().map(|r| r.header("parley-event-id")).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "one event: {ids:?}");
    assert_eq!(got[0].body, got[2].body, "the same body each try");

    // The receiver is down: the event waits, its error recorded.
    shop.down();
    let went_down = Instant::now();
    deliver(port, &Mail::new(MARIA, DESK, "Second question"));
    let deadline = Instant::now() + WAIT;
    loop {
        let status = status(&served);
        let shop_status = &status[0];
        let error = shop_status["last_error"].as_str().unwrap_or("");
        if shop_status["pending"] == 1 && error.contains("connecting") {
            break;
        }
        assert!(Instant::now() < deadline, "{status:#?}\n{}", served.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(2).saturating_sub(went_down.elapsed()));
    shop.up();
    let got = shop.wait_for(WAIT, |r| delivered(r).len() == 2);
    std::thread::sleep(Duration::from_secs(1));
    let once = delivered(&shop.received());
    assert!(once.values().all(|n| *n == 1), "each event once: {once:?}");
    assert_eq!(once.len(), 2, "{got:#?}");
    let status = status(&served);
    assert_eq!(status[0]["delivered"], 2, "{status:#?}");
    assert_eq!(status[0]["pending"], 0);
    assert_eq!(status[0]["failed"], 0);

    // 410 Gone: failed at once; `webhooks retry ID` sends it again.
    shop.script(&[410]);
    deliver(port, &Mail::new(MARIA, DESK, "Third question"));
    let deadline = Instant::now() + WAIT;
    let failed = loop {
        let rows = served.json(&["webhooks", "list", "--state", "failed", "--json"]);
        if let Some(row) = rows.as_array().unwrap().first() {
            break row.clone();
        }
        assert!(Instant::now() < deadline, "{}", served.log());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(failed["last_error"], "HTTP 410 Gone");
    assert_eq!(failed["attempts"], 1);
    assert_eq!(shop.received().last().unwrap().status, 410);
    let id = failed["id"].as_i64().unwrap().to_string();
    served.cli(0, &["webhooks", "retry", &id], b"");
    let got = shop.wait_for(WAIT, |r| delivered(r).len() == 3);
    assert_eq!(got.iter().filter(|r| r.status == 410).count(), 1);
    let out = served.run(&["webhooks", "retry", &id], b"");
    assert_eq!(out.status.code(), Some(1), "not failed any more");
}

#[test]
fn a_restarted_server_resumes_where_its_cursor_stood() {
    for backend in backends() {
        println!("== on {}", backend.name());
        resumed(&backend);
    }
}

fn resumed(backend: &Backend) {
    let shop = Receiver::start(&[]);
    let hooks = webhook("shop", &shop.url(), &format!("secret = \"{SECRET}\""));
    let (mut served, port) = serve(backend, &hooks);
    deliver(port, &Mail::new(MARIA, DESK, "Before the restart"));
    shop.wait_for(WAIT, |r| delivered(r).len() == 1);

    served.sigterm();
    let exit = served.wait_exit(Duration::from_secs(20));
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", served.log());
    // Stored while no server runs: its events wait in the log.
    let mail = Mail::new(MARIA, DESK, "While it was down");
    served.cli(0, &["ingest"], &mail.bytes());
    served.restart();
    let got = shop.wait_for(WAIT, |r| delivered(r).len() == 2);
    std::thread::sleep(Duration::from_secs(1));
    let once = delivered(&shop.received());
    assert!(once.values().all(|n| *n == 1), "nothing twice: {once:?}");
    assert_eq!(got.len(), 2, "{got:#?}");

    // Failed deliveries are queued again by hand.
    let retried = served.cli(0, &["webhooks", "retry", "--failed"], b"");
    assert!(retried.contains("0 failed"), "{retried}");
    let out = served.run(&["webhooks", "retry", "99999"], b"");
    assert!(!out.status.success());
    let text = served.cli(0, &["webhooks", "status"], b"");
    assert!(text.contains("shop  http://127.0.0.1:"), "{text}");
    assert!(text.contains("2 delivered"), "{text}");
}

#[test]
fn https_with_a_private_ca_and_an_untrusted_certificate() {
    let (_pki, ca, cert, key) = pki();
    let trusted = Receiver::start_tls(&[], &cert, &key);
    let untrusted = Receiver::start_tls(&[], &cert, &key);
    let hooks = webhook(
        "trusted",
        &trusted.url(),
        &format!("secret = \"{SECRET}\"\ntls_ca_file = \"{}\"", ca.display()),
    ) + &webhook(
        "untrusted",
        &untrusted.url(),
        &format!("secret = \"{SECRET}\""),
    );
    assert!(trusted.url().starts_with("https://"));
    let (served, port) = serve(&Backend::Sqlite, &hooks);
    deliver(port, &Mail::new(MARIA, DESK, "Over TLS"));
    let got = trusted.wait_for(WAIT, |r| !r.is_empty());
    assert_eq!(got[0].json()["kind"], "message.created");
    assert!(verifies(&got[0], SECRET));
    // The system's roots do not know the throwaway CA: refused, retried.
    let deadline = Instant::now() + WAIT;
    loop {
        let status = status(&served);
        let s = status.iter().find(|s| s["name"] == "untrusted").unwrap();
        if s["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("TLS with 127.0.0.1"))
        {
            assert_eq!(s["pending"], 1, "{status:#?}");
            break;
        }
        assert!(Instant::now() < deadline, "{status:#?}\n{}", served.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(untrusted.received().is_empty());
}
