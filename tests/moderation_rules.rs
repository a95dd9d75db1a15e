//! The moderation queue's promises through the `parley` binary on every
//! backend: no notice to the (usually forged) sender of spam or of a
//! message from outside the conversation, `--silent` for the rest; a new
//! ticket whose first message is held stays out of the pool and the lists
//! until a moderator approves it, and is closed when it is rejected; and
//! `tickets show` and `moderation show` say what is held, redacted or
//! rejected, when, and with which spam probability.

mod common;

use common::cli::Cli;
use common::*;
use serde_json::{Value, json};

/// A CLI on `backend` with its store migrated and the built-in rules
/// changed by `rules`.
fn migrated(backend: &Backend, rules: impl Fn(&str) -> String) -> Cli {
    let cli = Cli::on(backend);
    cli.policy(&rules(parley::intake::policy::rules::DEFAULT_RULES));
    cli.expect(0, &["migrate"], b"");
    cli
}

/// Every stranger's mail is held as spam.
fn everything_is_spam(rules: &str) -> String {
    rules.replace("hold_at = 0.8", "hold_at = 0.01")
}

/// Nothing is spam; `pineapple` is an abuse phrase (held).
fn pineapple_is_abuse(rules: &str) -> String {
    rules
        .replace("hold_at = 0.8", "hold_at = 1.0")
        .replace("phrases = []", "phrases = [\"pineapple\"]")
}

fn notifications(cli: &Cli, ticket: i64) -> Vec<Value> {
    let shown = cli.json(&["tickets", "show", &ticket.to_string(), "--json"]);
    shown["notifications"].as_array().unwrap().clone()
}

fn last_held(cli: &Cli) -> i64 {
    let held = cli.json(&["moderation", "list", "--json"]);
    held.as_array().unwrap().last().expect("a held message")["id"]
        .as_i64()
        .unwrap()
}

/// The audit detail of the `moderation.rejected` entry of message `id`.
fn rejection(cli: &Cli, id: i64) -> Value {
    let shown = cli.json(&["moderation", "show", &id.to_string(), "--json"]);
    let audit = shown["audit"].as_array().unwrap();
    audit
        .iter()
        .find(|a| a["action"] == "moderation.rejected")
        .expect("a rejection")["detail"]
        .clone()
}

fn reject(cli: &Cli, id: i64, extra: &[&str]) -> String {
    let id = id.to_string();
    let mut args = vec!["moderation", "reject", &id, "--reason", "Not allowed here"];
    args.extend_from_slice(extra);
    cli.expect(0, &args, b"")
}

/// The ticket numbers of a `tickets` listing (`list` or `pool`).
fn numbers(cli: &Cli, args: &[&str]) -> Vec<i64> {
    let mut all = vec!["tickets"];
    all.extend_from_slice(args);
    all.push("--json");
    let list = cli.json(&all);
    let list = list.as_array().expect("a JSON array");
    list.iter().map(|t| t["number"].as_i64().unwrap()).collect()
}

/// Spam: held new tickets are nobody's work; rejected, no notice goes to
/// the forged sender and the ticket is closed; approved, the ticket is new
/// work as if it had just arrived.
fn spam_held_and_rejected(backend: &Backend) {
    let cli = migrated(backend, everything_is_spam);
    cli.expect(
        0,
        &["ingest"],
        &Mail::new(MALLORY, DESK, "Cheap pills").bytes(),
    );
    let spam = last_held(&cli);
    for view in [
        &["pool"][..],
        &["list"],
        &["list", "--status", "open"],
        &["pool", "--queue", "desk"],
    ] {
        assert_eq!(
            numbers(&cli, view),
            [0i64; 0],
            "{view:?} on {}",
            backend.name()
        );
    }
    assert_eq!(numbers(&cli, &["list", "--include-held"]), [1]);
    let shown = cli.json(&["moderation", "show", &spam.to_string(), "--json"]);
    let p = shown["spam"].as_f64().expect("the spam probability");
    assert!((0.01..=1.0).contains(&p), "{p}");
    let text = cli.expect(0, &["moderation", "show", &spam.to_string()], b"");
    assert!(text.contains(&format!("spam:        {p:.3}")), "{text}");

    let out = reject(&cli, spam, &[]);
    assert!(out.contains("no notice"), "{out}");
    assert!(notifications(&cli, 1).is_empty(), "no backscatter");
    let detail = rejection(&cli, spam);
    assert_eq!(detail["notice"], false);
    assert_eq!(detail["no_notice"], "spam_model");
    let ticket = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(ticket["ticket"]["status"], "closed");
    let history: Vec<&str> = ticket["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        [
            "ticket.created",
            "message.held",
            "moderation.rejected",
            "status.changed"
        ]
    );
    assert_eq!(numbers(&cli, &["list"]), [0i64; 0]);

    // Approved: the pool and the lists have it, open, the desk is told.
    cli.expect(0, &["ingest"], &Mail::new(BOB, DESK, "Lot 7").bytes());
    let honest = last_held(&cli);
    cli.expect(0, &["moderation", "approve", &honest.to_string()], b"");
    assert_eq!(numbers(&cli, &["pool"]), [2]);
    assert_eq!(numbers(&cli, &["list", "--status", "open"]), [2]);
    let rows = notifications(&cli, 2);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["recipient"], AGENT);
}

#[test]
fn spam_held_and_rejected_on_every_backend() {
    for backend in backends() {
        spam_held_and_rejected(&backend);
    }
}

/// A message from outside the conversation is not answered either; a
/// participant's is, unless `--silent`. Each audit entry says which.
fn notices_only_to_participants(backend: &Backend) {
    let cli = migrated(backend, pineapple_is_abuse);
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    let maria = cli.expect(0, &["tickets", "reply-address", "1", MARIA], b"");
    let maria = maria.trim();
    let notices = |cli: &Cli| {
        notifications(cli, 1)
            .into_iter()
            .filter(|n| n["kind"] == "moderation_rejected")
            .collect::<Vec<_>>()
    };

    let forged = Mail::new(MALLORY, maria, "Re: Lot 12").body("Is it genuine?\n");
    cli.expect(0, &["ingest"], &forged.bytes());
    let id = last_held(&cli);
    reject(&cli, id, &[]);
    assert!(notices(&cli).is_empty(), "{}", backend.name());
    assert_eq!(rejection(&cli, id)["no_notice"], "sender_mismatch");

    let rude = Mail::new(MARIA, maria, "Re: Lot 12").body("You pineapple!\n");
    cli.expect(0, &["ingest"], &rude.bytes());
    let id = last_held(&cli);
    reject(&cli, id, &["--silent"]);
    assert!(notices(&cli).is_empty());
    let detail = rejection(&cli, id);
    assert_eq!(
        (&detail["notice"], &detail["no_notice"]),
        (&json!(false), &json!("silent"))
    );

    let rude = Mail::new(MARIA, maria, "Re: Lot 12").body("You pineapple, again!\n");
    cli.expect(0, &["ingest"], &rude.bytes());
    let id = last_held(&cli);
    reject(&cli, id, &[]);
    let sent = notices(&cli);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["recipient"], MARIA);
    let detail = rejection(&cli, id);
    assert_eq!(
        (&detail["notice"], &detail["no_notice"]),
        (&json!(true), &Value::Null)
    );
    // A ticket with a message shown stays as it is.
    let ticket = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(ticket["ticket"]["status"], "open");
}

#[test]
fn notices_only_to_participants_on_every_backend() {
    for backend in backends() {
        notices_only_to_participants(&backend);
    }
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    text.len() == 23
        && text.ends_with(" UTC")
        && b.iter().enumerate().take(19).all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// A run of 13 digits: a Unix time in milliseconds.
fn has_epoch_ms(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        run = if c.is_ascii_digit() { run + 1 } else { 0 };
        if run >= 13 {
            return true;
        }
    }
    false
}

/// `tickets show` marks held, redacted and rejected messages and prints
/// dates, never Unix milliseconds; `moderation show` too.
fn show_marks_and_dates(backend: &Backend) {
    let cli = migrated(backend, pineapple_is_abuse);
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    let maria = cli.expect(0, &["tickets", "reply-address", "1", MARIA], b"");
    let maria = maria.trim();
    let send = |text: &str| {
        let mail = Mail::new(MARIA, maria, "Re: Lot 12").body(text);
        cli.expect(0, &["ingest"], &mail.bytes());
    };
    send("Write to maria.lopez@gmail.com\n");
    send("You pineapple!\n");
    send("You pineapple, again!\n");
    reject(&cli, last_held(&cli), &[]);

    let text = cli.expect(0, &["tickets", "show", "1"], b"");
    let headers: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("--- "))
        .collect();
    assert_eq!(headers.len(), 4, "{text}");
    assert!(!headers[0].contains('['), "{}", headers[0]);
    assert!(headers[1].ends_with("[redacted]"), "{}", headers[1]);
    assert!(headers[2].ends_with("[held: abuse]"), "{}", headers[2]);
    assert!(headers[3].ends_with("[rejected]"), "{}", headers[3]);
    assert!(text.contains("Write to [contact removed]"), "{text}");
    assert!(!text.contains("maria.lopez@gmail.com"), "{text}");
    assert!(!has_epoch_ms(&text), "{}: {text}", backend.name());
    // Every section dates its lines.
    for section in ["messages:", "history:", "notifications:"] {
        let body = text.split(section).nth(1).expect(section);
        let first = body.lines().find(|l| !l.trim().is_empty()).unwrap();
        let first = first.trim_start().trim_start_matches("--- ");
        let at = first
            .split_whitespace()
            .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
            .take(3)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(is_date(&at), "{section} {first:?}");
    }
    let held = cli.json(&["moderation", "list", "--json"]);
    let id = held[0]["id"].as_i64().unwrap().to_string();
    let text = cli.expect(0, &["moderation", "show", &id], b"");
    assert!(!has_epoch_ms(&text), "{text}");
    assert!(text.contains(" UTC"), "{text}");
}

#[test]
fn show_marks_and_dates_on_every_backend() {
    for backend in backends() {
        show_marks_and_dates(&backend);
    }
}
