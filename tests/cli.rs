//! The `parley` binary as an operator and an MTA run it: exit codes,
//! `check`, `tickets …`, and `inspect --json` on every fixture mail.

mod common;

use std::path::Path;
use std::process::Output;

use common::cli::Cli;
use common::*;
use serde_json::Value;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn ingest_exit_codes() {
    let cli = Cli::new();
    let mail = Mail::new(MARIA, DESK, "Lot 12").bytes();
    cli.expect(0, &["ingest"], &mail);
    assert_eq!(cli.ticket_numbers(&[]), [1]);
    // The same message again: accepted (exit 0), stored once.
    let out = cli.run(&["ingest", "--sender", MARIA], &mail);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("duplicate"), "{}", stderr(&out));
    assert_eq!(cli.ticket_numbers(&[]), [1]);
    assert_eq!(
        cli.json(&["tickets", "show", "1", "--json"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // No recipient of ours: 67, whether from the headers or the envelope.
    cli.expect(67, &["ingest"], &Mail::new(BOB, NOBODY, "Hi").bytes());
    let to_desk = Mail::new(BOB, DESK, "Hi").bytes();
    cli.expect(67, &["ingest", "--recipient", NOBODY], &to_desk);
    // Usage errors: 64.
    cli.expect(64, &["ingest", "--recipient", "notanaddress"], &to_desk);
    cli.expect(64, &["ingest", "--no-such-flag"], &to_desk);
    assert_eq!(cli.ticket_numbers(&[]), [1], "nothing stored by refusals");
    // The envelope recipient wins over the header.
    cli.expect(0, &["ingest", "--recipient", BOOKS], &to_desk);
    assert_eq!(
        cli.json(&["tickets", "show", "2", "--json"])["ticket"]["queue"],
        "books"
    );
}

/// A panic in `ingest` is a bug of ours, never the message's fault: the
/// MTA must retry (75), not bounce (Rust's own 101 is a permanent failure
/// to Postfix's pipe). Made to happen for real: stderr a pipe nobody
/// reads, so the line that explains a refusal cannot be written and
/// `eprintln!` panics.
#[test]
fn ingest_that_panics_asks_the_mta_to_retry() {
    let cli = Cli::new();
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let mut child = cli
        .command(&["ingest"])
        .stderr(writer)
        .spawn()
        .expect("parley runs");
    let mut input = child.stdin.take().unwrap();
    let _ = std::io::Write::write_all(&mut input, &Mail::new(BOB, NOBODY, "Hi").bytes());
    drop(input);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(75), "{status}");
    // The same refusal with stderr read: a plain 67, as before.
    cli.expect(67, &["ingest"], &Mail::new(BOB, NOBODY, "Hi").bytes());
}

#[test]
fn ingest_too_large_is_refused() {
    let cli = Cli::with("[intake]\nmax_message_bytes = 1024\n");
    let small = Mail::new(MARIA, DESK, "Small");
    cli.expect(0, &["ingest"], &small.bytes());
    let big = Mail::new(MARIA, DESK, "Big").body(&"All work and no play.\n".repeat(100));
    assert!(big.bytes().len() > 1024);
    let out = cli.run(&["ingest"], &big.bytes());
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    assert!(stderr(&out).contains("too large"), "{}", stderr(&out));
    assert_eq!(cli.ticket_numbers(&[]), [1]);
}

#[test]
fn ingest_store_unavailable_is_temporary() {
    let mail = Mail::new(MARIA, DESK, "Lot 12").bytes();
    let cli = Cli::new();
    let key = cli.dir.path().join("token.key");
    // Nothing listens on port 1.
    let url = "postgres://postgres@127.0.0.1:1/none";
    Cli::write(&cli.config, url, &key, "");
    let out = cli.run(&["ingest"], &mail);
    assert_eq!(out.status.code(), Some(75), "{url}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("unavailable"),
        "{url}: {}",
        stderr(&out)
    );
    // Classified as temporary, not only mapped so for the pipe.
    let out = cli.run(&["tickets", "list"], b"");
    assert_eq!(out.status.code(), Some(75), "{url}: {}", stderr(&out));
    // A "folder" that is a file: `migrate` cannot create the store there
    // (temporary: an I/O error); `ingest` finds no store, and the MTA
    // keeps the message all the same (tests/startup.rs).
    let blocker = cli.dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let url = format!("sqlite://{}/parley.db", blocker.display());
    Cli::write(&cli.config, &url, &key, "");
    let out = cli.run(&["migrate"], b"");
    assert_eq!(out.status.code(), Some(75), "{url}: {}", stderr(&out));
    assert!(stderr(&out).contains("unavailable"), "{}", stderr(&out));
    cli.expect(75, &["ingest"], &mail);
    // A broken config is not the message's fault either: the MTA retries.
    std::fs::write(&cli.config, "[store]\nbogus = 1\n").unwrap();
    cli.expect(75, &["ingest"], &mail);
    cli.expect(2, &["tickets", "list"], b"");
}

#[test]
fn check_validates_and_redacts() {
    let secret = "the-inline-secret-must-stay-hidden";
    let cli = Cli::with("");
    let text = std::fs::read_to_string(&cli.config).unwrap();
    let inline = text.replace("[token]\n", &format!("[token]\nsecret = \"{secret}\"\n"));
    std::fs::write(&cli.config, inline).unwrap();
    let out = cli.expect(0, &["check"], b"");
    assert!(!out.contains(secret), "{out}");
    assert!(out.contains("<redacted>"), "{out}");
    assert!(out.contains(DESK) && out.contains(REPLY_DOMAIN), "{out}");

    let bad = [
        ("[store]\nbogus = 1\n", "bogus"),
        (
            "[[queues]]\nname = \"x\"\nintake = [\"not an address\"]\n",
            "queues[0].intake[0]",
        ),
        (
            "[token]\nsecret = \"\"\nsecret_file = \"\"\n",
            "token.secret",
        ),
        (
            "[mail]\nreply_domain = \"not a domain\"\n",
            "mail.reply_domain",
        ),
    ];
    for (toml, key) in bad {
        std::fs::write(&cli.config, toml).unwrap();
        let out = cli.run(&["check"], b"");
        assert_eq!(out.status.code(), Some(2), "{toml}: {}", stderr(&out));
        assert!(stderr(&out).contains(key), "{toml}: {}", stderr(&out));
    }
}

#[test]
fn tickets_commands() {
    let cli = Cli::new();
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    let list = cli.json(&["tickets", "list", "--json"]);
    assert_eq!(list[0]["number"], 1);
    assert_eq!(
        (&list[0]["status"], &list[0]["queue"]),
        (&"open".into(), &"desk".into())
    );
    assert_eq!(list[0]["subject"], "Lot 12");

    // A seller writes to a new client.
    let body = cli.body_file("Your lot has shipped.\n");
    let args = [
        "tickets",
        "create",
        "--queue",
        "books",
        "--client",
        BOB,
        "--subject",
        "Shipped",
    ];
    cli.expect(0, &[&args[..], &["--body-file", &body]].concat(), b"");
    let shown = cli.json(&["tickets", "show", "2", "--json"]);
    assert_eq!(shown["ticket"]["status"], "awaiting_client");
    assert_eq!(shown["messages"][0]["reply_text"], "Your lot has shipped.");
    assert_eq!(recipients(&shown), [BOB]);
    assert_eq!(cli.ticket_numbers(&["--queue", "books"]), [2]);
    assert_eq!(cli.ticket_numbers(&["--status", "open"]), [1]);

    // The seller answers ticket 1; the client is notified.
    let body = cli.body_file("Yes, still available.");
    cli.expect(
        0,
        &[
            "tickets",
            "reply",
            "1",
            "--as",
            "seller",
            "--body-file",
            &body,
        ],
        b"",
    );
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(shown["ticket"]["status"], "awaiting_client");
    assert_eq!(recipients(&shown), [AGENT, MARIA]);
    cli.expect(
        64,
        &[
            "tickets",
            "reply",
            "1",
            "--as",
            "nobody",
            "--body-file",
            &body,
        ],
        b"",
    );

    // The client answers by mail to the address the CLI prints.
    let address = cli.expect(0, &["tickets", "reply-address", "1", MARIA], b"");
    let address = address.trim();
    assert!(
        address.starts_with("reply+") && address.ends_with(REPLY_DOMAIN),
        "{address}"
    );
    cli.expect(1, &["tickets", "reply-address", "1", MALLORY], b"");
    let answer = Mail::new(MARIA, address, "Re: Lot 12").body("Great, I'll take it.\n");
    cli.expect(0, &["ingest", "--recipient", address], &answer.bytes());
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[2]["matched_by"], "token");
    assert_eq!(messages[2]["reply_text"], "Great, I'll take it.");
    assert_eq!(shown["ticket"]["status"], "awaiting_seller");
    assert_eq!(cli.ticket_numbers(&[]), [2, 1], "threaded, no new ticket");

    // Status by hand, then the client reopens it.
    let out = cli.expect(0, &["tickets", "status", "1", "resolved"], b"");
    assert!(out.contains("awaiting_seller -> resolved"), "{out}");
    assert_eq!(cli.ticket_numbers(&["--status", "resolved"]), [1]);
    cli.expect(64, &["tickets", "status", "1", "pending"], b"");
    let body = cli.body_file("One more question.");
    cli.expect(
        0,
        &[
            "tickets",
            "reply",
            "1",
            "--as",
            "client",
            "--body-file",
            &body,
        ],
        b"",
    );
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(shown["ticket"]["status"], "awaiting_seller");
    let actions: Vec<_> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions.first(), Some(&"ticket.created"));
    assert_eq!(
        actions.iter().filter(|a| **a == "status.changed").count(),
        4,
        "{actions:?}"
    );

    // Months: the month a ticket was created in lists it; January 2000 none.
    for number in [1, 2] {
        let shown = cli.json(&["tickets", "show", &number.to_string(), "--json"]);
        let month = month_of(shown["ticket"]["created_at"].as_i64().unwrap());
        assert!(cli.ticket_numbers(&["--month", &month]).contains(&number));
    }
    assert!(cli.ticket_numbers(&["--month", "2000-01"]).is_empty());
    cli.expect(64, &["tickets", "list", "--month", "May"], b"");
    cli.expect(1, &["tickets", "show", "99"], b"");
}

/// Recipients of a shown ticket's notifications, in order.
fn recipients(shown: &Value) -> Vec<String> {
    let rows = shown["notifications"].as_array().unwrap();
    rows.iter()
        .map(|n| n["recipient"].as_str().unwrap().to_string())
        .collect()
}

/// The month (UTC, YYYY-MM) of a time in Unix milliseconds.
fn month_of(ms: i64) -> String {
    let at = jiff::Timestamp::from_millisecond(ms).unwrap();
    at.strftime("%Y-%m").to_string()
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<_> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn is_string_or_null(value: &Value) -> bool {
    value.is_string() || value.is_null()
}

/// The `inspect --json` contract (issue 2), plus `decision`.
fn assert_report_shape(report: &Value, file: &Path) {
    let at = file.display();
    let top = [
        "attachments",
        "auto",
        "decision",
        "from",
        "message_id",
        "policy",
        "recipients",
        "redacted_text",
        "reply_text",
        "signature",
        "subject",
        "thread",
    ];
    assert_eq!(keys(report), top, "{at}");
    assert!(report["signature"].is_string(), "{at}: signature");
    for key in ["message_id", "from", "subject"] {
        assert!(is_string_or_null(&report[key]), "{at}: {key}");
    }
    let recipients = report["recipients"].as_array().expect("recipients");
    assert!(recipients.iter().all(Value::is_string), "{at}");
    let auto = report["auto"].as_str().unwrap_or_default();
    assert!(
        ["none", "auto_reply", "bounce", "list", "loop"].contains(&auto),
        "{at}"
    );
    let thread = &report["thread"];
    let thread_keys = [
        "flags",
        "matched_by",
        "queue",
        "sender_is_participant",
        "ticket",
    ];
    assert_eq!(keys(thread), thread_keys, "{at}");
    let matched = thread["matched_by"].as_str().unwrap_or_default();
    assert!(
        ["token", "references", "subject", "new", "none"].contains(&matched),
        "{at}"
    );
    assert!(
        thread["ticket"].is_null() || thread["ticket"].is_i64(),
        "{at}"
    );
    assert!(is_string_or_null(&thread["queue"]), "{at}");
    assert!(thread["sender_is_participant"].is_boolean(), "{at}");
    assert!(
        thread["flags"]
            .as_array()
            .expect("flags")
            .iter()
            .all(Value::is_string),
        "{at}"
    );
    assert!(
        report["reply_text"].is_string() && report["redacted_text"].is_string(),
        "{at}"
    );
    let policy = &report["policy"];
    assert_eq!(keys(policy), ["action", "hits", "spam"], "{at}");
    let action = policy["action"].as_str().unwrap_or_default();
    let actions = ["allow", "redact", "hold", "reject"];
    assert!(actions.contains(&action), "{at}");
    let spam = policy["spam"].as_f64().expect("spam is a number");
    assert!((0.0..=1.0).contains(&spam), "{at}");
    for hit in policy["hits"].as_array().expect("hits") {
        let fields = [
            "action", "category", "end", "field", "rule", "score", "start", "text",
        ];
        assert_eq!(keys(hit), fields, "{at}");
        // Only the spam model's hit has a score.
        let scored = hit["rule"] == "spam_model";
        assert_eq!(hit["score"].is_f64(), scored, "{at}");
        assert!(scored || hit["score"].is_null(), "{at}");
        assert!(actions.contains(&hit["action"].as_str().unwrap_or_default()));
        let field = hit["field"].as_str().unwrap_or_default();
        let (start, end) = (hit["start"].as_u64().unwrap(), hit["end"].as_u64().unwrap());
        assert!(start <= end, "{at}");
        if field == "reply_text" {
            // The span is the text it names, counted in characters.
            let chars: Vec<char> = report["reply_text"].as_str().unwrap().chars().collect();
            let span: String = chars[start as usize..end as usize].iter().collect();
            assert_eq!(span, hit["text"].as_str().unwrap(), "{at}");
        }
    }
    for a in report["attachments"].as_array().expect("attachments") {
        let fields = ["content_type", "filename", "flags", "size"];
        assert_eq!(keys(a), fields, "{at}");
        assert!(!a["filename"].as_str().unwrap().is_empty(), "{at}");
        assert!(a["size"].is_u64(), "{at}");
        assert!(a["flags"].as_array().unwrap().iter().all(Value::is_string));
    }
    let decision = report["decision"].as_str().unwrap_or_default();
    let decisions = ["post", "duplicate", "quarantine", "no_match", "reject"];
    assert!(decisions.contains(&decision), "{at}: {decision}");
}

#[test]
fn inspect_json_on_every_fixture() {
    let files = fixtures::files(&fixtures::folder("mail"));
    assert!(
        files.len() >= 100,
        "expected the ~108 fixture files, found {}",
        files.len()
    );

    let cli = Cli::new();
    for file in &files {
        let out = cli.run(&["inspect", "--json", &file.display().to_string()], b"");
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            file.display(),
            stderr(&out)
        );
        let report: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", file.display()));
        assert_report_shape(&report, file);
    }

    // A mail to the desk, from stdin: a new ticket would be opened, but
    // inspect writes nothing.
    let mail = Mail::new(MARIA, DESK, "Lot 12");
    let report: Value =
        serde_json::from_str(&cli.expect(0, &["inspect", "--json", "-"], &mail.bytes())).unwrap();
    assert_report_shape(&report, Path::new("-"));
    assert_eq!(report["message_id"], mail.message_id());
    assert_eq!(
        (&report["from"], &report["subject"]),
        (&MARIA.into(), &"Lot 12".into())
    );
    assert_eq!(report["recipients"], serde_json::json!([DESK]));
    assert_eq!(report["thread"]["matched_by"], "new");
    assert_eq!(report["thread"]["queue"], "desk");
    assert_eq!(report["decision"], "post");
    assert!(
        cli.ticket_numbers(&[]).is_empty(),
        "inspect stored a ticket"
    );
}

#[test]
fn tickets_show_lists_each_attachment_once() {
    let cli = Cli::new();
    let mail = format!(
        "From: {MARIA}\r\nTo: {DESK}\r\nSubject: Invoice\r\nMessage-ID: <inv-1@buyer.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nline one\r\nline two\r\nline three\r\n\
         --b\r\nContent-Type: application/pdf; name=invoice.pdf\r\n\
         Content-Disposition: attachment; filename=invoice.pdf\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n"
    );
    cli.expect(0, &["ingest"], mail.as_bytes());
    let shown = cli.expect(0, &["tickets", "show", "1"], b"");
    assert!(shown.contains("line three"), "{shown}");
    assert_eq!(
        shown.matches("[attachment] invoice.pdf").count(),
        1,
        "{shown}"
    );
}
