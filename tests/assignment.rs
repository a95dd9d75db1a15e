//! The pool and assignment through the `parley` binary: `tickets pool`,
//! `take`, `assign`, their refusals and exit codes, and where a client's
//! reply is notified once a ticket has an assignee.

mod common;

use common::cli::Cli;
use common::*;
use serde_json::{Value, json};

/// A staff address the desk gets after its tickets were opened: on none of
/// them until assigned one.
const OPS: &str = "ops@shop.example";

/// Staffs the desk with AGENT and OPS (every command syncs the queues).
fn add_ops(cli: &Cli) {
    let text = std::fs::read_to_string(&cli.config).unwrap();
    let staffed = text.replace(
        &format!("staff = [\"{AGENT}\"]"),
        &format!("staff = [\"{AGENT}\", \"{OPS}\"]"),
    );
    assert_ne!(text, staffed, "the desk's staff line is in the config");
    std::fs::write(&cli.config, staffed).unwrap();
}

fn numbers(list: &Value) -> Vec<i64> {
    let list = list.as_array().expect("a JSON array");
    list.iter().map(|t| t["number"].as_i64().unwrap()).collect()
}

/// `(recipient, message)` of every notification row of ticket `n`.
fn notified(cli: &Cli, n: &str) -> Vec<(String, i64)> {
    let shown = cli.json(&["tickets", "show", n, "--json"]);
    let rows = shown["notifications"].as_array().unwrap();
    rows.iter()
        .map(|r| {
            (
                r["recipient"].as_str().unwrap().to_string(),
                r["message"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn pool_take_assign_and_notifications() {
    let cli = Cli::new();
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());
    cli.expect(0, &["ingest"], &Mail::new(BOB, DESK, "Lot 13").bytes());
    cli.expect(0, &["ingest"], &Mail::new(MARIA, BOOKS, "A book").bytes());
    add_ops(&cli);

    // The pool: everything, oldest first; by queue.
    assert_eq!(
        numbers(&cli.json(&["tickets", "pool", "--json"])),
        [1, 2, 3]
    );
    let books = cli.json(&["tickets", "pool", "--queue", "books", "--json"]);
    assert_eq!(numbers(&books), [3]);
    assert_eq!(books[0]["assignee"], Value::Null);
    let text = cli.expect(0, &["tickets", "pool"], b"");
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.lines().next().unwrap().starts_with("#1 "), "{text}");
    cli.expect(1, &["tickets", "pool", "--queue", "nope"], b"");

    // Taken: out of the pool, shown as the assignee.
    let out = cli.expect(
        0,
        &["tickets", "take", "1", "--as", "Agent@Shop.Example"],
        b"",
    );
    assert!(out.contains(&format!("nobody -> {AGENT}")), "{out}");
    assert_eq!(numbers(&cli.json(&["tickets", "pool", "--json"])), [2, 3]);
    let list = cli.json(&["tickets", "list", "--json"]);
    assert_eq!(list[2]["number"], 1);
    assert_eq!(list[2]["assignee"], AGENT);
    let text = cli.expect(0, &["tickets", "list"], b"");
    assert!(text.contains(&format!("(assignee {AGENT})")), "{text}");
    let text = cli.expect(0, &["tickets", "show", "1"], b"");
    assert!(text.contains(&format!("assignee {AGENT}")), "{text}");
    // Taking it again is harmless.
    cli.expect(0, &["tickets", "take", "1", "--as", AGENT], b"");

    // Refusals: someone else has it (77), not the seller side (77), not
    // an address (64), no such ticket (1).
    cli.expect(77, &["tickets", "take", "1", "--as", OPS], b"");
    cli.expect(77, &["tickets", "take", "2", "--as", BOB], b"");
    cli.expect(77, &["tickets", "assign", "2", CLERK], b"");
    cli.expect(77, &["tickets", "assign", "2", NOBODY], b"");
    cli.expect(64, &["tickets", "assign", "2", "not-an-address"], b"");
    cli.expect(64, &["tickets", "take", "2"], b"");
    cli.expect(1, &["tickets", "take", "99", "--as", AGENT], b"");
    assert_eq!(numbers(&cli.json(&["tickets", "pool", "--json"])), [2, 3]);

    // Assigned to a staff address of the queue: it joins the ticket.
    let out = cli.expect(0, &["tickets", "assign", "1", OPS, "--as", "boss"], b"");
    assert!(out.contains(&format!("{AGENT} -> {OPS}")), "{out}");
    assert!(out.contains("joins the ticket as staff"), "{out}");
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(shown["ticket"]["assignee"], OPS);
    let people: Vec<(&str, &str)> = shown["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["address"].as_str().unwrap(), p["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        people,
        [(MARIA, "client"), (AGENT, "seller"), (OPS, "staff")]
    );

    // Maria replies to her reply address: only the assignee is told.
    let reply_to = cli.expect(0, &["tickets", "reply-address", "1", MARIA], b"");
    let reply = Mail::new(MARIA, reply_to.trim(), "Re: Lot 12").body("Is it still there?");
    cli.expect(0, &["ingest"], &reply.bytes());
    let rows = notified(&cli, "1");
    let last = rows.iter().map(|r| r.1).max().unwrap();
    let to_last: Vec<&str> = rows
        .iter()
        .filter(|r| r.1 == last)
        .map(|r| r.0.as_str())
        .collect();
    assert_eq!(to_last, [OPS]);
    // Bob's reply on his unassigned ticket tells its whole seller side, as
    // before (only AGENT: OPS came after the ticket was opened).
    let reply_to = cli.expect(0, &["tickets", "reply-address", "2", BOB], b"");
    let reply = Mail::new(BOB, reply_to.trim(), "Re: Lot 13").body("Hello?");
    cli.expect(0, &["ingest"], &reply.bytes());
    let rows = notified(&cli, "2");
    let to_bob: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(to_bob, [AGENT, AGENT]);

    // --force takes it back; each change is in the history.
    cli.expect(0, &["tickets", "take", "1", "--as", AGENT, "--force"], b"");
    let history = cli.json(&["tickets", "show", "1", "--json"])["history"].clone();
    let assigned: Vec<(Value, Value)> = history
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["action"] == "ticket.assigned")
        .map(|h| (h["actor"].clone(), h["detail"].clone()))
        .collect();
    assert_eq!(
        assigned,
        [
            (json!(AGENT), json!({ "from": null, "to": AGENT })),
            (json!("boss"), json!({ "from": AGENT, "to": OPS })),
            (json!(AGENT), json!({ "from": OPS, "to": AGENT })),
        ]
    );
}
