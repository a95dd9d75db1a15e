//! Text typed in parley (`tickets create`, `tickets reply`; the HTTP API
//! calls the same `Intake::write`) goes through the content policy as mail
//! does, on every backend: contact details masked for the other side, a
//! payment instruction held for a moderator with nobody notified, a
//! rejected category refused with nothing stored, a masked subject.

mod common;

use common::cli::Cli;
use common::*;
use serde_json::Value;

const PHONE: &str = "0151 2345 6789";

fn migrated(backend: &Backend, rules: impl Fn(&str) -> String) -> Cli {
    let cli = Cli::on(backend);
    cli.policy(&rules(parley::intake::policy::rules::DEFAULT_RULES));
    cli.expect(0, &["migrate"], b"");
    cli
}

fn shown(cli: &Cli, ticket: i64) -> Value {
    cli.json(&["tickets", "show", &ticket.to_string(), "--json"])
}

/// The text part of notification `row` as the worker composes it.
fn notification_text(cli: &Cli, row: i64) -> String {
    cli.expect(0, &["outbox", "show", &row.to_string()], b"")
}

fn rows(ticket: &Value) -> Vec<i64> {
    ticket["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn text_written_on_the_command_line_meets_the_policy() {
    for backend in backends() {
        let cli = migrated(&backend, |rules| rules.to_string());
        // The seller side opens a ticket with a phone number in the
        // subject and the text: both masked for the client.
        let body = cli.body_file(&format!("Hello Maria, call me on {PHONE} about the lot."));
        let out = cli.expect(
            0,
            &[
                "tickets",
                "create",
                "--queue",
                "desk",
                "--client",
                "maria@buyer.example",
                "--subject",
                &format!("Lot 7, ring {PHONE}"),
                "--body-file",
                &body,
            ],
            b"",
        );
        assert!(out.contains("ticket #1 opened"), "{backend:?}: {out}");
        let ticket = shown(&cli, 1);
        let subject = ticket["ticket"]["subject"].as_str().unwrap();
        assert!(!subject.contains(PHONE), "{backend:?}: subject {subject}");
        let message = &ticket["messages"][0];
        assert_eq!(message["policy_action"], "redact", "{backend:?}");
        assert_eq!(message["matched_by"], "cli", "{backend:?}");
        let sent = rows(&ticket);
        assert_eq!(
            sent.len(),
            1,
            "{backend:?}: one notification, to the client"
        );
        let mail = notification_text(&cli, sent[0]);
        assert!(
            !mail.contains(PHONE),
            "{backend:?}: the number reached the client:\n{mail}"
        );
        assert!(mail.contains("call me on"), "{backend:?}:\n{mail}");

        // The client's answer with a payment instruction is held: no
        // status change, nobody notified, waiting in the moderation queue.
        let body = cli.body_file("Fine, I pay by Venmo then, skip the fees.");
        let out = cli.expect(
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
        assert!(out.contains("held for a moderator"), "{backend:?}: {out}");
        let ticket = shown(&cli, 1);
        assert_eq!(ticket["ticket"]["status"], "awaiting_client", "{backend:?}");
        assert_eq!(
            rows(&ticket).len(),
            1,
            "{backend:?}: nobody notified of a held message"
        );
        let held = cli.json(&["moderation", "list", "--json"]);
        assert_eq!(held.as_array().unwrap().len(), 1, "{backend:?}: {held}");

        // A plain answer moves the status and notifies the seller side.
        let body = cli.body_file("Is it still available?");
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
        let ticket = shown(&cli, 1);
        assert_eq!(ticket["ticket"]["status"], "awaiting_seller", "{backend:?}");
        assert_eq!(rows(&ticket).len(), 2, "{backend:?}");
    }
}

#[test]
fn a_refused_category_stores_nothing() {
    for backend in backends() {
        let cli = migrated(&backend, |rules| {
            rules.replace("payment = \"hold\"", "payment = \"reject\"")
        });
        let body = cli.body_file("Hello, how are you?");
        cli.expect(
            0,
            &[
                "tickets",
                "create",
                "--queue",
                "desk",
                "--client",
                "maria@buyer.example",
                "--subject",
                "Lot 7",
                "--body-file",
                &body,
            ],
            b"",
        );
        let body = cli.body_file("Pay me by Western Union and we are done.");
        let out = cli.run(
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
        assert_eq!(out.status.code(), Some(77), "{backend:?}: {out:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refused by the content policy: payment"),
            "{backend:?}: {err}"
        );
        let ticket = shown(&cli, 1);
        assert_eq!(
            ticket["messages"].as_array().unwrap().len(),
            1,
            "{backend:?}: nothing stored"
        );
        assert_eq!(ticket["ticket"]["status"], "awaiting_client", "{backend:?}");
    }
}
