//! Held messages through the command line, end to end: `ingest` holds
//! them, `moderation list/show` shows them, `approve` (plain or redacted)
//! and `reject` decide, and every step is in the audit log.

mod common;

use common::cli::Cli;
use common::*;
use serde_json::Value;

/// A policy file: the built-in rules with `pineapple` an abuse phrase
/// (held) and contact details held rather than redacted.
fn strict_policy(cli: &Cli) -> String {
    let text = parley::intake::policy::rules::DEFAULT_RULES
        .replace("phrases = []", "phrases = [\"pineapple\"]")
        .replace("contact = \"redact\"", "contact = \"hold\"");
    let path = cli.dir.path().join("policy.toml");
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn strict() -> Cli {
    let cli = Cli::new();
    let policy = strict_policy(&cli);
    let text = std::fs::read_to_string(&cli.config).unwrap();
    let text = text.replacen(
        "[token]",
        &format!("[intake]\npolicy_file = \"{policy}\"\n\n[token]"),
        1,
    );
    std::fs::write(&cli.config, text).unwrap();
    cli
}

fn notifications(cli: &Cli, ticket: i64) -> Vec<Value> {
    let shown = cli.json(&["tickets", "show", &ticket.to_string(), "--json"]);
    shown["notifications"].as_array().unwrap().clone()
}

fn audit_actions(cli: &Cli, id: i64) -> Vec<String> {
    let shown = cli.json(&["moderation", "show", &id.to_string(), "--json"]);
    shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            format!(
                "{} by {}",
                a["action"].as_str().unwrap(),
                a["actor"].as_str().unwrap()
            )
        })
        .collect()
}

/// Ticket 1 from Maria; returns the seller's reply address.
fn opened(cli: &Cli) -> String {
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    let rows = notifications(cli, 1);
    assert_eq!(rows.len(), 1, "{rows:?}");
    format!(
        "reply+{}@{REPLY_DOMAIN}",
        rows[0]["token"].as_str().unwrap()
    )
}

#[test]
fn a_sender_mismatch_is_held_then_approved() {
    let cli = strict();
    let seller_address = opened(&cli);
    // Someone else writes to the seller's reply address.
    let forged = Mail::new(MALLORY, &seller_address, "Re: Lot 12").body("Is it genuine?\n");
    cli.expect(0, &["ingest"], &forged.bytes());
    assert_eq!(notifications(&cli, 1).len(), 1, "held: nobody notified");

    let held = cli.json(&["moderation", "list", "--json"]);
    let held = held.as_array().unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    let id = held[0]["id"].as_i64().unwrap();
    assert_eq!(held[0]["moderation"], "held");
    assert_eq!(held[0]["action"], "hold");
    assert!(
        held[0]["flags"]
            .as_array()
            .unwrap()
            .contains(&"sender_mismatch".into())
    );
    let text = cli.expect(0, &["moderation", "list"], b"");
    assert!(text.contains("sender_mismatch"), "{text}");

    // Nothing to redact in it.
    cli.expect(
        64,
        &["moderation", "approve", &id.to_string(), "--redact"],
        b"",
    );
    let out = cli.expect(
        0,
        &["moderation", "approve", &id.to_string(), "--as", "mod-ana"],
        b"",
    );
    assert!(out.contains("approved"), "{out}");
    assert!(
        cli.json(&["moderation", "list", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Approved: notified as if it had just arrived, status moved.
    let rows = notifications(&cli, 1);
    assert!(rows.len() > 1, "{rows:?}");
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(shown["ticket"]["status"], "awaiting_seller");
    assert_eq!(
        audit_actions(&cli, id),
        [
            "message.held by intake",
            "moderation.approved by mod-ana",
            "status.changed by mod-ana"
        ]
    );
    // A decision is final.
    cli.expect(77, &["moderation", "approve", &id.to_string()], b"");
    cli.expect(
        77,
        &["moderation", "reject", &id.to_string(), "--reason", "x"],
        b"",
    );
    cli.expect(1, &["moderation", "show", "999"], b"");
}

#[test]
fn a_held_message_is_rejected_and_its_author_gets_the_notice() {
    let cli = strict();
    opened(&cli);
    let rude = Mail::new(MARIA, DESK, "Re: Lot 12")
        .header("In-Reply-To", "<nothing@x>")
        .body("You pineapple, answer me!\n");
    // A new message from Maria to the desk: opens ticket 2, held.
    cli.expect(0, &["ingest"], &rude.bytes());
    let held = cli.json(&["moderation", "list", "--json"]);
    let entry = &held.as_array().unwrap()[0];
    let id = entry["id"].as_i64().unwrap();
    let ticket = entry["ticket"].as_i64().unwrap();
    assert_eq!(entry["author"], MARIA);
    let hits = entry["hits"].as_array().unwrap();
    assert_eq!(hits[0]["rule"], "abuse");
    assert_eq!(hits[0]["text"], "pineapple");
    assert_eq!(
        (&hits[0]["start"], &hits[0]["end"]),
        (&4.into(), &13.into())
    );
    assert!(notifications(&cli, ticket).is_empty());

    cli.expect(
        64,
        &["moderation", "reject", &id.to_string(), "--reason", " "],
        b"",
    );
    cli.expect(
        0,
        &[
            "moderation",
            "reject",
            &id.to_string(),
            "--reason",
            "Insults are not allowed",
        ],
        b"",
    );
    let rows = notifications(&cli, ticket);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["recipient"], MARIA);
    assert_eq!(rows[0]["kind"], "moderation_rejected");
    let shown = cli.json(&["moderation", "show", &id.to_string(), "--json"]);
    assert_eq!(shown["moderation"], "rejected");
    let audit = shown["audit"].as_array().unwrap();
    let decided = &audit[audit.len() - 2];
    assert_eq!(decided["action"], "moderation.rejected");
    assert_eq!(decided["detail"]["reason"], "Insults are not allowed");
    // The ticket it opened was never anyone's work: closed.
    assert_eq!(audit.last().unwrap()["action"], "status.changed");
    let ticket = cli.json(&["tickets", "show", &ticket.to_string(), "--json"]);
    assert_eq!(ticket["ticket"]["status"], "closed");
}

#[test]
fn approve_redacted_shows_the_masked_text_and_keeps_the_original() {
    let cli = strict();
    let seller_address = opened(&cli);
    let text = "Très bien — écris-moi à maria.lopez@gmail.com ou au +33 6 12 34 56 78, merci ☺\n";
    let reply = Mail::new(MARIA, &seller_address, "Re: Lot 12").body(text);
    cli.expect(0, &["ingest"], &reply.bytes());
    let held = cli.json(&["moderation", "list", "--json"]);
    let entry = &held.as_array().unwrap()[0];
    let id = entry["id"].as_i64().unwrap();
    assert_eq!(entry["action"], "hold");
    assert_eq!(
        entry["redacted_text"],
        "Très bien — écris-moi à [contact removed] ou au [contact removed], merci ☺"
    );
    // Spans count characters: "Très bien — écris-moi à " is 24 of them.
    let email = entry["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["rule"] == "email")
        .expect("the email is a hit");
    assert_eq!((&email["start"], &email["end"]), (&24.into(), &45.into()));
    assert_eq!(email["text"], "maria.lopez@gmail.com");

    cli.expect(
        0,
        &["moderation", "approve", &id.to_string(), "--redact"],
        b"",
    );
    let shown = cli.json(&["moderation", "show", &id.to_string(), "--json"]);
    assert_eq!(shown["moderation"], "approved_redacted");
    assert!(
        shown["reply_text"]
            .as_str()
            .unwrap()
            .contains("maria.lopez@gmail.com")
    );
    let rows = notifications(&cli, 1);
    assert_eq!(rows.len(), 2, "the seller is told: {rows:?}");
    assert_eq!(rows[1]["recipient"], AGENT);
}

/// Spams of the corpus that the built-in model is sure of, in file order.
fn sure_spams() -> impl Iterator<Item = Vec<u8>> {
    let dir = common::fixtures::folder("spam/spam_2");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("the spam corpus (tests/fixtures/spam)")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let model = parley::intake::policy::spam::Model::default_model();
    files
        .into_iter()
        .map(|f| std::fs::read(f).unwrap())
        .filter(move |raw| {
            parley::intake::parse::parse(raw).is_some_and(|p| model.score(&p).probability >= 0.95)
        })
}

#[test]
fn moderators_decisions_teach_the_spam_model() {
    let cli = Cli::new();
    let model = cli.dir.path().join("learned.txt");
    let out = model.display().to_string();
    let train = ["policy", "train", "--from-moderation", "--out", &out];
    // Nothing decided yet: nothing to learn.
    cli.expect(64, &train, b"");
    // The first that opens a ticket (list mail, say, is quarantined).
    let entry = sure_spams()
        .take(20)
        .find_map(|raw| {
            cli.expect(0, &["ingest", "--recipient", DESK], &raw);
            let held = cli.json(&["moderation", "list", "--json"]);
            held.as_array().unwrap().first().cloned()
        })
        .expect("a spam held");
    let hits = entry["hits"].as_array().unwrap();
    assert!(hits.iter().any(|h| h["rule"] == "spam_model"), "{hits:?}");
    let id = entry["id"].as_i64().unwrap().to_string();
    cli.expect(0, &["moderation", "reject", &id, "--reason", "spam"], b"");
    let text = cli.expect(0, &train, b"");
    assert!(text.contains("learned 0 ham and 1 spam"), "{text}");
    // The model written is one parley loads, with one more spam message.
    let learned = parley::intake::policy::spam::Model::load(&model).unwrap();
    let (_, spam) = learned.messages();
    let (_, before) = parley::intake::policy::spam::Model::default_model().messages();
    assert_eq!(spam, before + 1);
}
