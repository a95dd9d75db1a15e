//! A conversation started over HTTP and answered by mail, against `parley
//! serve` over real sockets on every backend: the marketplace starts it
//! from a listing (`POST /api/v1/conversations`, with an
//! `Idempotency-Key`, retried), the outbox worker writes the seller's
//! notification (into the local Maildir: no relay), the seller answers it
//! by SMTP to the reply address it carries, and the answer is on the
//! conversation: the client's event stream gets its `message.created`
//! and her unread count is 1.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::http::{EventStream, PLATFORM};
use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::{AGENT, Backend, MARIA, REPLY_DOMAIN, backends};
use parley::store::Store;
use serde_json::json;

/// How long a test waits for what must come.
const WAIT: Duration = Duration::from_secs(20);

#[test]
fn a_conversation_started_over_http_is_answered_by_mail() {
    for backend in backends() {
        println!("== on {}", backend.name());
        started_and_answered(&backend);
    }
}

fn started_and_answered(backend: &Backend) {
    let smtp_port = free_port();
    let served = Served::on(
        backend,
        &format!("listen = [\"127.0.0.1:{smtp_port}\"]"),
        "listen = [\"127.0.0.1:{http}\"]",
        "[outbox]\nenabled = true\npoll_interval_ms = 100\n",
    );
    let auth = format!("Authorization: Bearer {}", PLATFORM.2);
    let start = json!({
        "queue": "desk",
        "client": { "address": MARIA, "name": "Maria", "user_id": "u-1042" },
        "listing": { "ref": "L-1", "title": "Oak sideboard", "url": "https://shop.example/l/1" },
        "auction": { "ref": "A-1", "title": "Spring sale" },
        "subject": "Is the sideboard still available?",
        "text": "Hello, can it be shipped to Oslo?",
    });
    let body = serde_json::to_vec(&start).unwrap();
    let headers = [
        auth.as_str(),
        "Content-Type: application/json",
        "Idempotency-Key: start-1",
    ];
    let first = served.call("POST", "/api/v1/conversations", &headers, &body);
    assert_eq!(first.status, 201, "{}", served.log());
    let n = first.json()["conversation"].as_i64().unwrap();
    // A retry (the marketplace did not hear the answer): the same answer.
    let again = served.call("POST", "/api/v1/conversations", &headers, &body);
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // Both answers name the conversation they made.
    let location = format!("/api/v1/conversations/{n}");
    assert_eq!(first.header("location"), Some(location.as_str()));
    assert_eq!(again.header("location"), Some(location.as_str()));
    assert_eq!(again.json(), first.json());

    // Maria follows her conversation live.
    let token = {
        let body = serde_json::to_vec(&json!({ "address": MARIA })).unwrap();
        let answer = served.call(
            "POST",
            "/api/v1/tokens",
            &[&auth, "Content-Type: application/json"],
            &body,
        );
        assert_eq!(answer.status, 201);
        answer.json()["token"].as_str().unwrap().to_string()
    };
    let mut stream = EventStream::open(
        served.http,
        "/api/v1/events",
        &[&format!("Authorization: Bearer {token}")],
    )
    .unwrap_or_else(|a| panic!("{a:?}"));

    // The seller's notification arrives, once (the retry posted nothing).
    let maildir = served.dir.path().join("data/maildir/new");
    let mails = wait_for_mails(&maildir, 1, &served);
    assert_eq!(mails.len(), 1, "one notification: {mails:#?}");
    let mail = &mails[0];
    assert!(
        mail.contains(&format!("To: {AGENT}")) || mail.contains(&format!("<{AGENT}>")),
        "{mail}"
    );
    assert!(
        mail.contains("Oak sideboard"),
        "the listing is named:\n{mail}"
    );
    assert!(
        mail.contains("(https://shop.example/l/1)"),
        "with its page:\n{mail}"
    );
    let reply_to = reply_address(mail).unwrap_or_else(|| panic!("no reply address:\n{mail}"));
    let message_id = header(mail, "Message-ID").expect("a Message-ID");

    // The agent answers by mail.
    let mut smtp = Smtp::connect(smtp_port).expect("connects");
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO seller.test", 250).unwrap();
    smtp.expect(&format!("MAIL FROM:<{AGENT}>"), 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{reply_to}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    let answer = format!(
        "From: Agent <{AGENT}>\r\nTo: <{reply_to}>\r\nSubject: Re: Is the sideboard still available?\r\n\
         Message-ID: <answer-1@shop.example>\r\nIn-Reply-To: {message_id}\r\n\
         Date: Sat, 21 Nov 2026 09:00:00 +0000\r\n\r\nYes, shipping to Oslo is 40 EUR.\r\n.\r\n"
    );
    smtp.send(answer.as_bytes()).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 250);
    let _ = smtp.command("QUIT");

    // On the conversation, and on Maria's stream.
    let deadline = Instant::now() + WAIT;
    let event = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = stream
            .next(left)
            .unwrap_or_else(|| panic!("no message.created\n{}", served.log()));
        if event.event == "message.created" && event.data["ticket"] == n {
            break event;
        }
    };
    assert_eq!(event.data["data"]["author_side"], "seller", "{event:?}");
    let messages = messages(&served, n);
    assert_eq!(messages.len(), 2, "{messages:#?}");
    assert_eq!(messages[1].1, "Yes, shipping to Oslo is 40 EUR.");
    // Maria's unread count is that answer, over the API.
    let unread = served.api(
        "GET",
        &format!("/api/v1/unread?as={MARIA}"),
        PLATFORM.2,
        None,
    );
    assert_eq!(
        unread.status,
        200,
        "{}",
        String::from_utf8_lossy(&unread.body)
    );
    assert_eq!(
        unread.json(),
        json!({ "total": 1, "conversations": [{ "conversation": n, "unread": 1 }] })
    );
}

/// The mails in `dir`, once there are at least `count`.
fn wait_for_mails(dir: &Path, count: usize, served: &Served) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mails: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if mails.len() >= count {
            // A moment more: a second one would be a notification too many.
            std::thread::sleep(Duration::from_millis(500));
            return std::fs::read_dir(dir)
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .collect();
        }
        assert!(
            Instant::now() < deadline,
            "no notification in {}\n{}",
            dir.display(),
            served.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A header's value (the first line of it).
fn header(mail: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    mail.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
}

/// The reply address in the notification's `Reply-To` (or `From`).
fn reply_address(mail: &str) -> Option<String> {
    let domain = format!("@{REPLY_DOMAIN}");
    ["Reply-To", "From"].iter().find_map(|name| {
        let value = header(mail, name)?;
        let end = value.find(&domain)? + domain.len();
        let start = value[..end]
            .rfind(|c: char| c == '<' || c.is_whitespace())
            .map_or(0, |i| i + 1);
        Some(value[start..end].to_string())
    })
}

/// Ticket `n`'s messages as (author's address, text), read from the store.
fn messages(served: &Served, n: i64) -> Vec<(Option<i64>, String)> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = parley::config::Config::load(Some(&served.config)).unwrap();
        let store: Box<dyn Store> = parley::store::open_existing(&config.store).await.unwrap();
        store
            .messages(n)
            .await
            .unwrap()
            .into_iter()
            .map(|m| (m.author, m.reply_text))
            .collect()
    })
}
