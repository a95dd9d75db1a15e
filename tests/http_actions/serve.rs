//! `parley serve` over real sockets on every backend: each action and
//! moderation endpoint on one conversation, and its command-line twin on
//! another, opened alike. Both doors share one rule book, so the two
//! histories must come out the same (action, actor, detail), as must the
//! moderators' decisions.

use common::http::{ADMIN, MODERATOR, PLATFORM};
use common::served::Served;

use super::*;

/// A ticket's history from `tickets show --json`: (action, actor, detail).
fn shown_history(served: &Served, n: i64) -> Vec<(String, String, Value)> {
    let shown = served.json(&["tickets", "show", &n.to_string(), "--json"]);
    shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["action"].as_str().unwrap().to_string(),
                h["actor"].as_str().unwrap().to_string(),
                h["detail"].clone(),
            )
        })
        .collect()
}

/// A decided message's audit from `moderation show --json`: (action,
/// actor, detail).
fn decision(served: &Served, id: i64) -> Vec<(String, String, Value)> {
    let shown = served.json(&["moderation", "show", &id.to_string(), "--json"]);
    shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["action"].as_str().unwrap().to_string(),
                a["actor"].as_str().unwrap().to_string(),
                a["detail"].clone(),
            )
        })
        .collect()
}

/// Maria opens a ticket at the desk by mail (`parley ingest`); its number.
fn opened(served: &Served) -> i64 {
    let out = served.cli(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    let list = served.json(&["tickets", "list", "--json"]);
    let newest = list.as_array().unwrap().first().expect("a ticket")["number"].as_i64();
    newest.unwrap_or_else(|| panic!("no ticket: {out}"))
}

/// Maria writes `HELD_TEXT` on `n` by her reply address; the held
/// message's id.
fn held(served: &Served, n: i64) -> i64 {
    let n = n.to_string();
    let to = served.cli(0, &["tickets", "reply-address", &n, MARIA], b"");
    let to = to.trim();
    let mail = Mail::new(MARIA, to, "Re: Lot 12").body(HELD_TEXT);
    served.cli(0, &["ingest", "--recipient", to], &mail.bytes());
    let list = served.json(&["moderation", "list", "--json"]);
    list.as_array().unwrap().last().expect("held")["id"]
        .as_i64()
        .unwrap()
}

#[test]
fn every_action_over_http_and_its_command_line_twin() {
    for backend in backends() {
        println!("== on {}", backend.name());
        let served = Served::on(
            &backend,
            "listen = []",
            "listen = [\"127.0.0.1:{http}\"]",
            "",
        );
        let over_http = opened(&served);
        let by_cli = opened(&served);
        assert_ne!(over_http, by_cli);
        let minted = served.api(
            "POST",
            "/api/v1/tokens",
            PLATFORM.2,
            Some(&json!({ "address": AGENT })),
        );
        assert_eq!(minted.status, 201, "{}", served.log());
        let agent = minted.json()["token"].as_str().unwrap().to_string();

        // Over HTTP, by the seller's token, the platform acting for the
        // seller, a moderator's key and the platform's own.
        let n = over_http;
        let as_agent = format!("?as={AGENT}");
        let steps: Vec<(&str, String, &str, Option<Value>, Value)> = vec![
            (
                "POST",
                conversation(n, "take"),
                &agent,
                None,
                json!({ "assignee": AGENT }),
            ),
            (
                "POST",
                format!("{}{as_agent}", conversation(n, "status")),
                PLATFORM.2,
                Some(json!({ "status": "closed" })),
                json!({ "status": "closed", "archived": true }),
            ),
            (
                "POST",
                conversation(n, "status"),
                &agent,
                Some(json!({ "status": "awaiting_seller" })),
                json!({ "status": "awaiting_seller", "archived": false }),
            ),
            (
                "POST",
                conversation(n, "archive"),
                &agent,
                None,
                json!({ "archived": true }),
            ),
            (
                "POST",
                conversation(n, "unarchive"),
                &agent,
                None,
                json!({ "archived": false }),
            ),
            (
                "POST",
                conversation(n, "forward"),
                MODERATOR.2,
                Some(json!({ "to": BOSS, "note": "Shipping?" })),
                json!({ "assignee": AGENT }),
            ),
            (
                "POST",
                conversation(n, "assign"),
                PLATFORM.2,
                Some(json!({ "to": BOSS })),
                json!({ "assignee": BOSS }),
            ),
            (
                "DELETE",
                conversation(n, ""),
                &agent,
                None,
                json!({ "deleted": true }),
            ),
            (
                "POST",
                conversation(n, "restore"),
                &agent,
                None,
                json!({ "deleted": false }),
            ),
        ];
        for (method, path, credential, body, want) in &steps {
            let answer = served.api(method, path, credential, body.as_ref());
            assert_eq!(
                answer.status,
                200,
                "{method} {path}: {}\n{}",
                String::from_utf8_lossy(&answer.body),
                served.log()
            );
            let got = answer.json();
            for (key, value) in want.as_object().unwrap() {
                assert_eq!(&got[key], value, "{method} {path}: {got}");
            }
            assert_eq!(got["changed"], true, "{method} {path}: {got}");
        }

        // The same by the command line, acting as the same people.
        let m = by_cli.to_string();
        let twins: [&[&str]; 9] = [
            &["tickets", "take", &m, "--as", AGENT],
            &["tickets", "status", &m, "closed", "--as", AGENT],
            &["tickets", "status", &m, "awaiting_seller", "--as", AGENT],
            &["tickets", "archive", &m, "--as", AGENT],
            &["tickets", "unarchive", &m, "--as", AGENT],
            &[
                "tickets",
                "forward",
                &m,
                "--to",
                BOSS,
                "--note",
                "Shipping?",
                "--as",
                "key:mods",
            ],
            &["tickets", "assign", &m, BOSS, "--as", "key:shop"],
            &["tickets", "delete", &m, "--as", AGENT],
            &["tickets", "restore", &m, "--as", AGENT],
        ];
        for args in twins {
            served.cli(0, args, b"");
        }
        let http_history = shown_history(&served, over_http);
        assert_eq!(
            http_history,
            shown_history(&served, by_cli),
            "one rule book"
        );
        let actions: Vec<&str> = http_history.iter().map(|h| h.0.as_str()).collect();
        assert_eq!(
            actions,
            [
                "ticket.created",
                "ticket.assigned",
                "status.changed",
                "status.changed",
                "ticket.archived",
                "ticket.unarchived",
                "ticket.forwarded",
                "ticket.assigned",
                "ticket.deleted",
                "ticket.restored",
            ]
        );
        let cli_ticket = served.json(&["tickets", "show", &m, "--json"]);
        assert_eq!(cli_ticket["ticket"]["assignee"], BOSS);
        assert_eq!(cli_ticket["ticket"]["archived"], false);

        // Refusals the doors share: the CLI exits 77, HTTP answers 409.
        served.cli(0, &["tickets", "delete", &m], b"");
        served.cli(77, &["tickets", "archive", &m], b"");
        served.cli(77, &["tickets", "status", &m, "closed"], b"");
        let p = served.api("POST", &conversation(by_cli, "archive"), &agent, None);
        assert_eq!(p.json()["status"], 409, "{:?}", p.json());
        served.cli(0, &["tickets", "restore", &m], b"");

        // The pool: neither is in it (both assigned); a third is.
        let waiting = opened(&served);
        let pool = served.api("GET", "/api/v1/pool?queue=desk", MODERATOR.2, None);
        assert_eq!(pool.status, 200);
        let numbers: Vec<i64> = pool.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_i64().unwrap())
            .collect();
        let listed = served.json(&["tickets", "pool", "--queue", "desk", "--json"]);
        let listed: Vec<i64> = listed
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["number"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, [waiting]);
        assert_eq!(numbers, listed, "the pool is the same through both doors");

        // Moderation: over HTTP on one message, by the CLI on its twin.
        let (a, b) = (held(&served, over_http), held(&served, by_cli));
        let (c, d) = (held(&served, over_http), held(&served, by_cli));
        let queue = served.api("GET", "/api/v1/moderation", MODERATOR.2, None);
        assert_eq!(queue.status, 200);
        let ids: Vec<i64> = queue.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [a, b, c, d], "oldest first");
        let review = served.api("GET", &format!("/api/v1/moderation/{a}"), ADMIN.2, None);
        assert_eq!(review.json()["text"], HELD_TEXT);

        let approved = served.api(
            "POST",
            &format!("/api/v1/moderation/{a}/approve"),
            ADMIN.2,
            Some(&json!({ "show": "redacted" })),
        );
        assert_eq!(approved.status, 200, "{:?}", approved.json());
        assert_eq!(approved.json()["moderation"], "approved_redacted");
        served.cli(
            0,
            &[
                "moderation",
                "approve",
                &b.to_string(),
                "--redact",
                "--as",
                "key:ops",
            ],
            b"",
        );
        assert_eq!(decision(&served, a), decision(&served, b));

        let rejected = served.api(
            "POST",
            &format!("/api/v1/moderation/{c}/reject"),
            MODERATOR.2,
            Some(&json!({ "reason": "No payment off the platform.", "silent": true })),
        );
        assert_eq!(rejected.status, 200, "{:?}", rejected.json());
        served.cli(
            0,
            &[
                "moderation",
                "reject",
                &d.to_string(),
                "--reason",
                "No payment off the platform.",
                "--silent",
                "--as",
                "key:mods",
            ],
            b"",
        );
        assert_eq!(decision(&served, c), decision(&served, d));
        let actions: Vec<String> = decision(&served, c).into_iter().map(|e| e.0).collect();
        assert_eq!(actions, ["message.held", "moderation.rejected"]);

        // Decided: 409 over HTTP, 77 on the command line.
        let again = served.api(
            "POST",
            &format!("/api/v1/moderation/{b}/approve"),
            MODERATOR.2,
            None,
        );
        assert_eq!(again.status, 409);
        assert_eq!(
            again.header("content-type"),
            Some("application/problem+json")
        );
        served.cli(
            77,
            &["moderation", "reject", &a.to_string(), "--reason", "late"],
            b"",
        );
    }
}
