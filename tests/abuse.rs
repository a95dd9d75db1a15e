//! Abuse from outside against a real `parley serve` (issue 18): slow
//! clients holding sessions open up to the connection limit, 10,000
//! RCPT attempts in one session, MIME nested 1,000 deep, header lines of
//! megabytes, and header injection through display names and subjects
//! into the notifications parley writes. Each is refused or neutralised,
//! the server keeps serving, and its memory stays bounded (its resident
//! set read from /proc before and after).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::served::{Served, free_port};
use common::smtp::Smtp;
use common::*;

/// The server's resident memory, in kB (Linux /proc).
fn rss_kb(served: &Served) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", served.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// The server still takes a message.
fn still_serves(port: u16) {
    let mut smtp = Smtp::connect(port).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.example", 250).unwrap();
    smtp.expect("MAIL FROM:<buyer@example.net>", 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    smtp.send(
        format!(
            "From: buyer@example.net\r\nTo: {DESK}\r\nSubject: still here {}\r\n\r\nHello\r\n.\r\n",
            unique()
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(smtp.reply().unwrap().code, 250);
}

#[test]
fn slow_clients_get_at_most_the_connection_limit_and_then_time_out() {
    let port = free_port();
    let _served = Served::start(
        &format!(
            "listen = [\"127.0.0.1:{port}\"]\nmax_connections = 20\nmax_connections_per_ip = 20\n\
             command_timeout_secs = 2"
        ),
        "listen = []",
    );
    // Twenty clients read the greeting and then say nothing (slowloris).
    let mut slow: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut greeting = [0u8; 512];
            let n = s.read(&mut greeting).unwrap();
            assert!(greeting[..n].starts_with(b"220"), "{:?}", &greeting[..n]);
            s
        })
        .collect();
    // The 21st is turned away at once.
    let mut extra = Smtp::connect(port).unwrap();
    let refused = extra.reply().unwrap();
    assert_eq!(refused.code, 421, "{refused:?}");
    // The silent ones are ended after the command timeout (2 s)…
    let started = Instant::now();
    for s in &mut slow {
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        let text = String::from_utf8_lossy(&rest);
        assert!(text.starts_with("421"), "{text}");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    // …and their places are free again.
    still_serves(port);
}

#[test]
fn ten_thousand_rcpt_attempts_end_the_session_and_memory_stays_bounded() {
    let port = free_port();
    let served = Served::start(&format!("listen = [\"127.0.0.1:{port}\"]"), "listen = []");
    still_serves(port);
    let before = rss_kb(&served);
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut greeting = [0u8; 512];
    let _ = stream.read(&mut greeting).unwrap();
    // Pipelined: EHLO, MAIL, then 10,000 RCPT of addresses nobody has.
    let mut commands = String::from("EHLO client.example\r\nMAIL FROM:<spam@example.net>\r\n");
    for n in 0..10_000 {
        commands.push_str(&format!("RCPT TO:<user{n}@{REPLY_DOMAIN}>\r\n"));
    }
    // The server may close the connection before it has read it all.
    let _ = stream.write_all(commands.as_bytes());
    let mut answers = Vec::new();
    let _ = stream.read_to_end(&mut answers);
    let answers = String::from_utf8_lossy(&answers);
    let refused = answers.lines().filter(|l| l.starts_with("550")).count();
    // Refused recipients count as errors: the session ends after
    // max_bad_commands (20), far short of 10,000 answers.
    assert!((1..=20).contains(&refused), "{refused} refusals");
    assert!(
        answers.lines().last().is_some_and(|l| l.starts_with("421")),
        "{answers}"
    );
    // Known recipients past max_recipients (100): 452 each, nothing kept.
    let mut smtp = Smtp::connect(port).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.example", 250).unwrap();
    smtp.expect("MAIL FROM:<buyer@example.net>", 250).unwrap();
    let mut batch = String::new();
    for _ in 0..10_000 {
        batch.push_str(&format!("RCPT TO:<{DESK}>\r\n"));
    }
    smtp.send(batch.as_bytes()).unwrap();
    let mut codes = std::collections::BTreeMap::new();
    for _ in 0..10_000 {
        *codes.entry(smtp.reply().unwrap().code).or_insert(0) += 1;
    }
    // The same recipient again is the same recipient: taken, not stored
    // 10,000 times.
    assert_eq!(codes.get(&250), Some(&10_000), "{codes:?}");
    smtp.expect("RSET", 250).unwrap();
    let after = rss_kb(&served);
    assert!(
        after < before + 32 * 1024,
        "resident memory grew from {before} kB to {after} kB"
    );
    still_serves(port);
}

#[test]
fn deep_mime_and_megabyte_header_lines_are_taken_or_refused_without_harm() {
    let port = free_port();
    let served = Served::start(&format!("listen = [\"127.0.0.1:{port}\"]"), "listen = []");
    still_serves(port);
    let before = rss_kb(&served);

    // MIME nested 1,000 deep.
    let mut body = String::new();
    for depth in 0..1000 {
        body.push_str(&format!(
            "--b{depth}\r\nContent-Type: multipart/mixed; boundary=\"b{}\"\r\n\r\n",
            depth + 1
        ));
    }
    body.push_str("--b1000\r\nContent-Type: text/plain\r\n\r\nDeep inside.\r\n--b1000--\r\n");
    for depth in (0..1000).rev() {
        body.push_str(&format!("--b{depth}--\r\n"));
    }
    let deep = format!(
        "From: deep@example.net\r\nTo: {DESK}\r\nSubject: deep\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n{body}"
    );
    // A header line of 2 MB.
    let huge = format!(
        "From: huge@example.net\r\nTo: {DESK}\r\nSubject: huge\r\nX-Long: {}\r\n\r\nHello\r\n",
        "a".repeat(2 * 1024 * 1024)
    );
    for (name, message) in [("deep", deep), ("huge", huge)] {
        let mut smtp = Smtp::connect(port).unwrap();
        assert_eq!(smtp.reply().unwrap().code, 220);
        smtp.expect("EHLO client.example", 250).unwrap();
        smtp.expect("MAIL FROM:<x@example.net>", 250).unwrap();
        smtp.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
        smtp.expect("DATA", 354).unwrap();
        let started = Instant::now();
        smtp.send(message.as_bytes()).unwrap();
        smtp.send(b".\r\n").unwrap();
        let answer = smtp.reply().unwrap();
        // Stored (its text as far as it could be read), kept in
        // quarantine, or refused: an answer, quickly.
        assert!(
            matches!(answer.code, 250 | 550..=554),
            "{name}: {answer:?}\n{}",
            served.log()
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name}: {:?}",
            started.elapsed()
        );
    }
    let after = rss_kb(&served);
    assert!(
        after < before + 64 * 1024,
        "resident memory grew from {before} kB to {after} kB"
    );
    still_serves(port);
}

/// RFC 2047 `B` encoding of `text` (what a hostile client sends to smuggle
/// line breaks through a header).
fn encoded(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("=?utf-8?b?{out}?=")
}

#[test]
fn header_injection_through_names_and_subjects_does_not_reach_notifications() {
    let port = free_port();
    let served = Served::start_with(
        &format!("listen = [\"127.0.0.1:{port}\"]"),
        "listen = []",
        "[outbox]\nenabled = true\n",
    );
    let name = encoded("Eve\r\nBcc: victim1@evil.example\r\nX-Injected: yes");
    let subject = encoded("Lamp\r\nBcc: victim2@evil.example\r\n\r\nfake body");
    let mut smtp = Smtp::connect(port).unwrap();
    assert_eq!(smtp.reply().unwrap().code, 220);
    smtp.expect("EHLO client.example", 250).unwrap();
    smtp.expect("MAIL FROM:<eve@example.net>", 250).unwrap();
    smtp.expect(&format!("RCPT TO:<{DESK}>"), 250).unwrap();
    smtp.expect("DATA", 354).unwrap();
    smtp.send(
        format!(
            "From: {name} <eve@example.net>\r\nTo: {DESK}\r\nSubject: {subject}\r\n\
             Message-ID: <inject@example.net>\r\n\r\nIs the lamp still there?\r\n.\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(smtp.reply().unwrap().code, 250);

    // The staff's notification, in the local Maildir.
    let dir = served.dir.path().join("data/maildir/new");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|entries| {
            entries
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .find(|m| m.contains(AGENT))
        });
        if let Some(mail) = found {
            break mail;
        }
        assert!(
            Instant::now() < deadline,
            "no notification\n{}",
            served.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // A Maildir file may end its lines with LF alone.
    let mail = mail.replace("\r\n", "\n");
    let head = mail.split("\n\n").next().unwrap();
    assert!(head.contains("\nSubject: "), "{head}");
    for line in head.split('\n') {
        let field = line.split(':').next().unwrap_or("").to_ascii_lowercase();
        assert!(
            !matches!(field.as_str(), "bcc" | "x-injected"),
            "an injected header field: {line}\n{head}"
        );
        // Every line is a field or the continuation of one.
        assert!(
            line.starts_with([' ', '\t']) || line.contains(':'),
            "not a header line: {line:?}\n{head}"
        );
    }
    assert!(!head.contains('\r'), "a bare CR in the head: {head:?}");
    // One recipient field, the staff's: nobody was added.
    let recipients: Vec<&str> = head
        .split('\n')
        .filter(|l| {
            let field = l.split(':').next().unwrap_or("").to_ascii_lowercase();
            matches!(field.as_str(), "to" | "cc" | "bcc")
        })
        .collect();
    assert_eq!(recipients, [format!("To: <{AGENT}>")], "{head}");
    // The injected text is inside the quoted display name and the
    // subject, on their own lines; the addresses in them are masked as
    // contact details are anywhere else.
    assert!(
        head.lines()
            .any(|l| l.starts_with("From: \"") && l.contains("Bcc")),
        "{head}"
    );
    assert!(!head.contains("victim"), "{head}");
}
