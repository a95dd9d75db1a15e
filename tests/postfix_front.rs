//! A real MTA in front of parley (docs/postfix.md): Debian's Postfix,
//! started by each test on free loopback ports with its own config, queue
//! and log, delivers to the real `parley` binary
//!
//! - by LMTP to `parley serve`: accepted mail is stored and `status=sent`,
//!   an unknown local part is refused at RCPT and Postfix bounces it, a
//!   reply to the notification's reply address threads into the ticket;
//! - by LMTP while parley is down: Postfix defers, and delivers once
//!   `parley serve` runs, the message stored once;
//! - by a `pipe(8)` to `parley ingest` as `nobody`: exit 0 is `sent`, 67
//!   (no recipient served) and 77 (too large) `bounced`, 75 (no store yet)
//!   `deferred` until `parley migrate` has run, then stored once.
//!
//! The tests fail, never skip, where Postfix is not installed (scripts/test
//! installs it).

#[path = "postfix_front/parley.rs"]
mod parley;
#[path = "postfix_front/postfix.rs"]
mod postfix;

use parley::{AGENT, As, DESK, INTAKE_DOMAIN, Parley, REPLY_DOMAIN};
use postfix::Postfix;

const MARIA: &str = "maria@buyer.example";
const BOB: &str = "bob@buyer.example";

/// A port that was free a moment ago.
fn free_port() -> u16 {
    let listener =
        std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// A Message-ID no other test run uses (without angle brackets).
fn message_id(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{name}.{}.{nanos}@buyer.example", std::process::id())
}

fn mail(from: &str, to: &str, subject: &str, id: &str, text: &str) -> String {
    format!(
        "From: {from}\nTo: {to}\nSubject: {subject}\nMessage-ID: <{id}>\n\
         Date: Mon, 7 Dec 2026 04:00:00 +0000\n\n{text}\n"
    )
}

/// The domains parley serves, routed to `transport`.
fn routes(transport: &str) -> Vec<(&'static str, String)> {
    vec![
        (INTAKE_DOMAIN, transport.to_string()),
        (REPLY_DOMAIN, transport.to_string()),
    ]
}

fn lmtp(parley: &Parley) -> String {
    format!("lmtp:inet:127.0.0.1:{}", parley.lmtp_port)
}

/// The reply address in a notification's `Reply-To:` (folded or not).
fn reply_address(notification: &str) -> String {
    let mut lines = notification.lines();
    let mut header = lines
        .find(|l| l.to_ascii_lowercase().starts_with("reply-to:"))
        .unwrap_or_else(|| panic!("no Reply-To:\n{notification}"))
        .to_string();
    for more in lines.take_while(|l| l.starts_with([' ', '\t'])) {
        header.push_str(more);
    }
    let start = header.find("reply+").expect("a reply+TOKEN address");
    let address: String = header[start..]
        .chars()
        .take_while(|c| !matches!(c, '>' | ' ' | '\t'))
        .collect();
    assert!(address.ends_with(&format!("@{REPLY_DOMAIN}")), "{header}");
    address
}

/// The attempts of message `qid` that said `status=sent`.
fn sent(postfix: &Postfix, qid: &str) -> usize {
    let attempts = postfix.attempts(qid);
    attempts
        .iter()
        .filter(|l| l.contains(" status=sent "))
        .count()
}

#[test]
fn lmtp_delivers_refuses_and_threads() {
    let mut parley = Parley::new(As::Root, "");
    parley.serve();
    let postfix = Postfix::start(&routes(&lmtp(&parley)), "");

    let first = message_id("first");
    let qid = postfix.send(
        MARIA,
        DESK,
        &mail(
            MARIA,
            DESK,
            "Is the lamp still available?",
            &first,
            "Hello!",
        ),
    );
    let line = postfix.wait_status(&qid, "sent");
    assert!(
        line.contains(&format!("relay=127.0.0.1[127.0.0.1]:{}", parley.lmtp_port))
            && line.contains("dsn=2.0.0"),
        "{line}"
    );
    assert_eq!(parley.stored(&first), vec![1], "{}", parley.log());

    // An unknown local part: 550 at RCPT, and Postfix bounces it.
    let stranger = format!("nosuch@{INTAKE_DOMAIN}");
    let lost = message_id("lost");
    let qid = postfix.send(
        MARIA,
        &stranger,
        &mail(MARIA, &stranger, "Anyone there?", &lost, "Hello?"),
    );
    let line = postfix.wait_status(&qid, "bounced");
    assert!(
        line.contains("dsn=5.1.1") && line.contains(" 550 ") && line.contains("RCPT TO"),
        "{line}"
    );
    assert!(parley.stored(&lost).is_empty());

    // The desk answers the notification by its reply address: same ticket.
    let notifications = parley.wait_notifications(1);
    let reply_to = reply_address(&notifications[0]);
    let answer_id = message_id("answer");
    let qid = postfix.send(
        AGENT,
        &reply_to,
        &mail(
            AGENT,
            &reply_to,
            "Re: Is the lamp still available?",
            &answer_id,
            "Yes, it is.",
        ),
    );
    postfix.wait_status(&qid, "sent");
    let messages = parley.messages();
    assert_eq!(messages.len(), 2, "{messages:?}");
    let (ticket, answer) = &messages[1];
    assert_eq!(*ticket, 1);
    assert_eq!(answer["message_id"], answer_id.as_str(), "{answer}");
    assert_eq!(answer["matched_by"], "token", "{answer}");
    assert_eq!(answer["moderation"], "none", "{answer}");
    postfix.wait_queue_empty();
    parley.stop();
}

#[test]
fn lmtp_defers_while_parley_is_down() {
    let mut parley = Parley::new(As::Root, "");
    let postfix = Postfix::start(&routes(&lmtp(&parley)), "");

    let id = message_id("early");
    let qid = postfix.send(MARIA, DESK, &mail(MARIA, DESK, "Early bird", &id, "Hello!"));
    let line = postfix.wait_status(&qid, "deferred");
    assert!(
        line.contains("dsn=4.") && line.contains("Connection refused"),
        "{line}"
    );
    assert!(
        postfix.queue().contains(&qid),
        "the message waits in the queue"
    );

    parley.serve();
    postfix.flush();
    postfix.wait_status(&qid, "sent");
    postfix.wait_queue_empty();
    assert_eq!(sent(&postfix, &qid), 1, "{:?}", postfix.attempts(&qid));
    assert_eq!(parley.stored(&id), vec![1], "{}", parley.log());
    parley.stop();
}

/// The pipe service of docs/postfix.md, as `nobody`, in parley's folder.
fn pipe_service(parley: &Parley) -> String {
    format!(
        "parley    unix  -       n       n       -       -       pipe\n  \
         flags=Rq user=nobody null_sender= directory={dir}\n  \
         argv={bin} --config {config} ingest --sender ${{sender}} --recipient ${{recipient}}\n",
        dir = parley.path("").display(),
        bin = parley.binary.display(),
        config = parley.config.display(),
    )
}

/// The pipe's `intake.max_message_bytes`: the smallest parley takes.
const PIPE_LIMIT: usize = 1024;

#[test]
fn pipe_delivers_bounces_and_defers() {
    let limit = format!("[intake]\nmax_message_bytes = {PIPE_LIMIT}\n");
    let parley = Parley::new(parley::nobody(), &limit);
    let postfix = Postfix::start(&routes("parley:"), &pipe_service(&parley));

    // No store yet: `parley ingest` exits 75 and Postfix keeps the message.
    let early = message_id("early");
    let early_qid = postfix.send(
        MARIA,
        DESK,
        &mail(MARIA, DESK, "Early bird", &early, "Hello!"),
    );
    let line = postfix.wait_status(&early_qid, "deferred");
    assert!(
        line.contains("dsn=4.3.0") && line.contains("temporary failure"),
        "exit 75 expected: {line}"
    );
    assert!(
        !parley.path("data/parley.db").exists(),
        "ingest made a store"
    );

    // Set up as the pipe's user; the retry delivers it.
    parley.cli(&["migrate"]);
    postfix.flush();
    let line = postfix.wait_status(&early_qid, "sent");
    assert!(
        line.contains("relay=parley") && line.contains("dsn=2.0.0"),
        "{line}"
    );
    assert_eq!(parley.stored(&early), vec![1]);

    // A recipient parley does not serve: exit 67, bounced.
    let stranger = format!("nosuch@{INTAKE_DOMAIN}");
    let lost = message_id("lost");
    let qid = postfix.send(
        BOB,
        &stranger,
        &mail(BOB, &stranger, "Anyone there?", &lost, "Hello?"),
    );
    let line = postfix.wait_status(&qid, "bounced");
    assert!(
        line.contains("dsn=5.1.1") && line.contains("user unknown"),
        "exit 67 expected: {line}"
    );

    // Larger than intake.max_message_bytes: exit 77, bounced (parley
    // stops reading at the limit; the rest of the message is not its).
    let large = message_id("large");
    let text = "A long letter. ".repeat(PIPE_LIMIT * 64 / 15);
    let qid = postfix.send(BOB, DESK, &mail(BOB, DESK, "At length", &large, &text));
    let line = postfix.wait_status(&qid, "bounced");
    assert!(
        line.contains("dsn=5.7.0") && line.contains("permission denied"),
        "exit 77 expected: {line}"
    );

    // With the store in place, straight through.
    let second = message_id("second");
    let qid = postfix.send(
        BOB,
        DESK,
        &mail(BOB, DESK, "A chair", &second, "Is it oak?"),
    );
    postfix.wait_status(&qid, "sent");
    postfix.wait_queue_empty();
    assert_eq!(
        sent(&postfix, &early_qid),
        1,
        "{:?}",
        postfix.attempts(&early_qid)
    );
    assert_eq!(parley.stored(&early), vec![1]);
    assert_eq!(parley.stored(&second), vec![2]);
    assert!(parley.stored(&lost).is_empty());
    assert!(parley.stored(&large).is_empty());
    assert_eq!(parley.messages().len(), 2);
}
