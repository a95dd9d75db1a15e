//! What the other party may see, end to end through the `parley` binary on
//! every backend: a moderator's approval keeps the policy's redactions
//! (unless `--as-written`), the subject is masked like the text, and an
//! executable attachment is a policy hit that holds the message. The
//! notifications are checked as the outbox worker composes them.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::cli::Cli;
use common::*;
use parley::config::Config;
use parley::outbox::compose::Composer;
use parley::outbox::throttle::Throttle;
use parley::outbox::worker::{self, Worker};
use serde_json::Value;

const PHONE: &str = "0151 2345 6789";

/// A CLI on `backend` with its store migrated.
fn migrated(backend: &Backend) -> Cli {
    let cli = Cli::on(backend);
    cli.expect(0, &["migrate"], b"");
    cli
}

/// A ticket's notification rows.
fn notifications(cli: &Cli, ticket: i64) -> Vec<Value> {
    let shown = cli.json(&["tickets", "show", &ticket.to_string(), "--json"]);
    shown["notifications"].as_array().unwrap().clone()
}

/// The newest held message's id.
fn last_held(cli: &Cli) -> i64 {
    let held = cli.json(&["moderation", "list", "--json"]);
    let held = held.as_array().unwrap();
    held.last().expect("a held message")["id"].as_i64().unwrap()
}

/// The audit detail of the moderator's decision on message `id`.
fn decision(cli: &Cli, id: i64) -> Value {
    let shown = cli.json(&["moderation", "show", &id.to_string(), "--json"]);
    let audit = shown["audit"].as_array().unwrap();
    let entry = audit
        .iter()
        .find(|a| a["action"].as_str().unwrap().starts_with("moderation."))
        .expect("a decision");
    entry["detail"].clone()
}

/// A notification as the outbox worker of `parley serve` composes it, read
/// back: (Subject header, text part).
fn composed(cli: &Cli, row: i64) -> (String, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bytes = runtime.block_on(async {
        let config = Config::load(Some(&cli.config)).expect("the test config loads");
        let store: Arc<dyn parley::store::Store> = Arc::from(
            parley::store::open(&config.store)
                .await
                .expect("the store opens"),
        );
        let secret = config.load_secret().expect("the key");
        let worker = Worker {
            store: store.clone(),
            composer: Composer::new(&config, &secret).expect("a composer"),
            // Composing only: the relay is never used.
            relay: worker::relay(&config).expect("a relay"),
            send_timeout: Duration::from_secs(1),
            config: config.outbox.clone(),
            throttle: Throttle::off(),
        };
        let rows = store.outbox(None, 1000).await.unwrap();
        let row = rows.iter().find(|r| r.id == row).expect("the outbox row");
        worker.compose_alone(row).await.expect("composed").bytes
    });
    let mail = mail_parser::MessageParser::default()
        .parse(&bytes)
        .expect("the notification parses");
    (
        mail.subject().unwrap_or_default().to_string(),
        mail.body_text(0).unwrap_or_default().into_owned(),
    )
}

/// The new-message notification of message `id`, to the agent.
fn notice_of(cli: &Cli, ticket: i64, id: i64) -> i64 {
    let rows = notifications(cli, ticket);
    let row = rows
        .iter()
        .find(|r| r["message"] == id && r["kind"] == "new_message")
        .unwrap_or_else(|| panic!("no notification of message {id}: {rows:?}"));
    assert_eq!(row["recipient"], AGENT);
    row["id"].as_i64().unwrap()
}

/// Point 1: a held message with a phone number (a `redact` rule) and a
/// payment instruction (a `hold` rule). Approved plainly, the number stays
/// masked and the payment words, which the moderator judged, show;
/// `--redact` masks both; only `--as-written` lets the number through.
/// The audit entry says which it was.
fn approval_keeps_redactions(backend: &Backend) {
    let cli = migrated(backend);
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    let maria = cli.expect(0, &["tickets", "reply-address", "1", MARIA], b"");
    let hold = |text: &str| {
        let reply = Mail::new(MARIA, maria.trim(), "Re: Lot 12").body(text);
        cli.expect(0, &["ingest"], &reply.bytes());
        last_held(&cli)
    };
    let text = format!("Call me on {PHONE}, I pay by Venmo.\n");

    let plain = hold(&text);
    let before = notifications(&cli, 1).len();
    cli.expect(0, &["moderation", "approve", &plain.to_string()], b"");
    assert_eq!(
        notifications(&cli, 1).len(),
        before + 1,
        "the agent is told"
    );
    let (_, body) = composed(&cli, notice_of(&cli, 1, plain));
    assert!(body.contains("Call me on [contact removed]"), "{body}");
    assert!(!body.contains(PHONE), "{}: {body}", backend.name());
    assert!(body.contains("Venmo"), "the judged span shows: {body}");
    assert_eq!(decision(&cli, plain)["text"], "masked");
    // What `tickets show` prints is what the other party sees.
    let shown = cli.expect(0, &["tickets", "show", "1"], b"");
    assert!(shown.contains("Call me on [contact removed]"), "{shown}");
    assert!(!shown.contains(PHONE), "{shown}");
    let json = cli.json(&["tickets", "show", "1", "--json"]);
    let message = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == plain)
        .unwrap();
    assert_eq!(message["moderation"], "approved");
    assert_eq!(
        message["shown_text"],
        "Call me on [contact removed], I pay by Venmo."
    );
    assert!(message["reply_text"].as_str().unwrap().contains(PHONE));

    let redacted = hold(&text);
    cli.expect(
        0,
        &["moderation", "approve", &redacted.to_string(), "--redact"],
        b"",
    );
    let (_, body) = composed(&cli, notice_of(&cli, 1, redacted));
    assert!(
        body.contains("Call me on [contact removed], I pay by [payment removed]."),
        "{body}"
    );
    assert_eq!(decision(&cli, redacted)["text"], "redacted");

    let written = hold(&text);
    // One or the other (a usage error, exit 64).
    cli.expect(
        64,
        &[
            "moderation",
            "approve",
            &written.to_string(),
            "--redact",
            "--as-written",
        ],
        b"",
    );
    cli.expect(
        0,
        &[
            "moderation",
            "approve",
            &written.to_string(),
            "--as-written",
        ],
        b"",
    );
    let (_, body) = composed(&cli, notice_of(&cli, 1, written));
    assert!(body.contains(&format!("Call me on {PHONE}")), "{body}");
    assert_eq!(decision(&cli, written)["text"], "as_written");
    let json = cli.json(&["moderation", "show", &written.to_string(), "--json"]);
    assert_eq!(json["moderation"], "approved_as_written");
}

#[test]
fn approval_keeps_redactions_on_every_backend() {
    for backend in backends() {
        approval_keeps_redactions(&backend);
    }
}

/// Point 5: a `redact` hit in the subject of a new ticket is masked in the
/// stored subject and so in every notification's Subject.
fn subject_is_masked(backend: &Backend) {
    let cli = migrated(backend);
    let mail =
        Mail::new(MARIA, DESK, &format!("Call me on {PHONE}")).body("Is lot 12 still available?\n");
    cli.expect(0, &["ingest"], &mail.bytes());
    let json = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(json["ticket"]["subject"], "Call me on [contact removed]");
    let listed = cli.expect(0, &["tickets", "list"], b"");
    assert!(!listed.contains(PHONE), "{listed}");
    let (subject, body) = composed(&cli, notice_of(&cli, 1, 1));
    assert_eq!(
        subject,
        "[#1] Call me on [contact removed]",
        "{}",
        backend.name()
    );
    assert!(!body.contains(PHONE), "{body}");
}

#[test]
fn subject_is_masked_on_every_backend() {
    for backend in backends() {
        subject_is_masked(&backend);
    }
}

/// A mail from a stranger to the desk with `setup.exe` attached.
fn with_program() -> Vec<u8> {
    // A DOS stub's magic, then filler: 300 bytes of 7-bit text.
    let program = format!("MZ{}", "A".repeat(298));
    format!(
        "From: {MALLORY}\r\nTo: {DESK}\r\nSubject: Invoice for lot 12\r\n\
         Message-ID: <program-{}@evil.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Please open the attached invoice.\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=\"setup.exe\"\r\n\
         Content-Disposition: attachment; filename=\"setup.exe\"\r\n\
         \r\n{program}\r\n--b1--\r\n",
        unique()
    )
    .into_bytes()
}

/// Point 3: `executable_attachment` is a policy rule (default `hold`):
/// the mail is held, nobody is notified, and `inspect` shows the hit and
/// the attachment.
fn executable_is_held(backend: &Backend) {
    let cli = migrated(backend);
    let raw = with_program();
    let report: Value = {
        let text = cli.expect(0, &["inspect", "--json"], &raw);
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(report["policy"]["action"], "hold", "{report:#}");
    let hit = report["policy"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["rule"] == "executable_attachment")
        .unwrap_or_else(|| panic!("no hit: {report:#}"))
        .clone();
    assert_eq!(hit["category"], "attachment");
    assert_eq!(hit["field"], "attachment");
    assert_eq!(hit["text"], "setup.exe");
    let attachment = &report["attachments"][0];
    assert_eq!(attachment["filename"], "setup.exe");
    assert_eq!(attachment["content_type"], "application/octet-stream");
    assert_eq!(attachment["size"], 300);
    assert_eq!(attachment["flags"], serde_json::json!(["executable"]));
    let text = cli.expect(0, &["inspect"], &raw);
    assert!(
        text.contains("attachment:  setup.exe (application/octet-stream, 300 bytes) [executable]"),
        "{text}"
    );
    assert!(text.contains("policy:      hold"), "{text}");
    assert!(text.contains("executable_attachment"), "{text}");

    cli.expect(0, &["ingest"], &raw);
    let held = cli.json(&["moderation", "list", "--json"]);
    assert_eq!(held.as_array().unwrap().len(), 1, "{held:#}");
    assert_eq!(held[0]["action"], "hold");
    assert!(notifications(&cli, 1).is_empty(), "{}", backend.name());
    assert!(cli.json(&["tickets", "pool", "--json"]) == serde_json::json!([]));
}

#[test]
fn executable_attachment_is_held_on_every_backend() {
    for backend in backends() {
        executable_is_held(&backend);
    }
}

/// The rule's action is configurable like the others: by its category
/// (`[actions] attachment`) or by its id (`[rules]`).
#[test]
fn executable_attachment_action_is_configurable() {
    let rules = parley::intake::policy::rules::DEFAULT_RULES;
    // The spam model stays out of it.
    let rules = rules.replace("hold_at = 0.8", "hold_at = 1.0");
    for text in [
        rules.replace("attachment = \"hold\"", "attachment = \"allow\""),
        rules.replace("[rules]\n", "[rules]\nexecutable_attachment = \"allow\"\n"),
    ] {
        let cli = Cli::new();
        cli.policy(&text);
        cli.expect(0, &["migrate"], b"");
        cli.expect(0, &["ingest"], &with_program());
        assert!(
            cli.json(&["moderation", "list", "--json"]) == serde_json::json!([]),
            "allowed"
        );
        assert_eq!(notifications(&cli, 1).len(), 1, "the desk is told");
    }
}

/// A display name is no way around the policy: a phone number or an
/// address in it is masked before it is kept (and shown as "… via Shop
/// desk" in the other side's notifications); an ordinary name is kept.
#[tokio::test]
async fn contact_details_in_a_display_name_are_masked() {
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        for (from, address, kept) in [
            (
                format!("\"Anna {PHONE}\" <anna@buyer.example>"),
                "anna@buyer.example",
                false,
            ),
            (
                "\"Bob bob.k@gmail.com\" <bob@buyer.example>".to_string(),
                "bob@buyer.example",
                false,
            ),
            (
                "\"Maria Lopez\" <maria@buyer.example>".to_string(),
                "maria@buyer.example",
                true,
            ),
        ] {
            let mail = Mail::new(&from, DESK, &format!("Lamp for {address}"));
            let parley::intake::Outcome::Stored { ticket, .. } = env.deliver(&mail, &[DESK]).await
            else {
                panic!("{from}: not stored");
            };
            let name = env
                .participant(ticket, address)
                .await
                .display_name
                .unwrap_or_default();
            if kept {
                assert_eq!(name, "Maria Lopez");
            } else {
                assert!(!name.contains(PHONE) && !name.contains('@'), "{name}");
                assert!(name.contains("[contact removed]"), "{name}");
            }
        }
    }
}
