//! Writing in conversations over HTTP, through the router on every
//! backend: starting one from a listing (`POST /api/v1/conversations`:
//! posted 201, held 202, refused 422 with the hits), routing it to the
//! auction's manager (given in the call or mapped in the queue's config:
//! assigned, and the only one notified), posting on one as the client,
//! the seller side and forwarded staff (`POST …/messages`: a stranger
//! 404, a key that names nobody 403, a closed one as `on_closed_reply`
//! says), and `Idempotency-Key` (replayed, refused with another body).
//! Posting is in `http_conversations/posting.rs`, the key in
//! `http_conversations/idempotency.rs`. The same over real sockets, with
//! mail both ways: http_compose_serve.rs.

#[macro_use]
mod common;
#[path = "http_conversations/idempotency.rs"]
mod idempotency;
#[path = "http_conversations/posting.rs"]
mod posting;

use common::http::{MODERATOR, PLATFORM, door_on, user_token};
use common::*;
use parley::config::Config;
use parley::store::NEW_MESSAGE;
use parley::tickets::OnClosedReply;
use serde_json::{Value, json};

/// A second staff address of the desk: the manager of auction A-7 and
/// listing L-3 in its config.
const MANAGER: &str = "manager@shop.example";
const BOSS: &str = "boss@hq.example";
/// Held by the built-in policy (a payment off the platform).
const HELD_TEXT: &str = "Can I pay by Venmo instead?";
/// Refused by the policy of these tests (`western_union = "reject"`).
const REFUSED_TEXT: &str = "Pay me by Western Union and we are done.";
const START: &str = "/api/v1/conversations";

/// The desk with two staff and its managers; Western Union refused.
fn tweak(env_dir: &std::path::Path) -> impl FnOnce(&mut Config) {
    let rules = env_dir.join("policy.toml");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.toml"))
            .unwrap();
    let text = shipped.replacen("\n[rules]\n", "\n[rules]\nwestern_union = \"reject\"\n", 1);
    assert_ne!(text, shipped, "config/policy.toml has a [rules] table");
    std::fs::write(&rules, text).unwrap();
    move |c: &mut Config| {
        c.queues[0].staff.push(MANAGER.into());
        c.queues[0].managers.insert("A-7".into(), MANAGER.into());
        c.queues[0].managers.insert("L-3".into(), MANAGER.into());
        c.policy = std::sync::Arc::new(parley::intake::policy::Policy::load(&rules).unwrap());
    }
}

async fn door(backend: &Backend) -> (axum::Router, TestEnv, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (router, env) = door_on(backend, tweak(dir.path())).await;
    (router, env, dir)
}

/// A start from listing L-1 of auction A-1 by Maria (a platform key).
fn start_body(text: &str) -> Value {
    json!({
        "queue": "desk",
        "client": { "address": MARIA, "name": "Maria", "user_id": "u-1042" },
        "listing": { "ref": "L-1", "title": "Oak sideboard", "url": "https://shop.example/l/1" },
        "auction": { "ref": "A-1", "title": "Spring sale" },
        "subject": "Is it still available?",
        "text": text,
    })
}

async fn send(
    router: &axum::Router,
    credential: &str,
    path: &str,
    body: &Value,
) -> common::http::Answer {
    common::http::Call::post(path)
        .bearer(credential)
        .json(body)
        .send(router)
        .await
}

fn expect(answer: &common::http::Answer, status: u16) -> Value {
    assert_eq!(
        answer.status.as_u16(),
        status,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// Who is notified of `ticket`'s messages (new_message rows).
async fn notified(env: &TestEnv, ticket: i64) -> Vec<String> {
    let mut to: Vec<String> = env
        .store()
        .notifications(ticket)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == NEW_MESSAGE)
        .map(|n| n.recipient)
        .collect();
    to.sort();
    to
}

fn messages_of(n: i64) -> String {
    format!("/api/v1/conversations/{n}/messages")
}

#[tokio::test]
async fn starting_from_a_listing() {
    for backend in backends() {
        println!("== starting_from_a_listing on {}", backend.name());
        let (router, env, _dir) = door(&backend).await;
        let body = expect(
            &send(&router, PLATFORM.2, START, &start_body("Hello!")).await,
            201,
        );
        let n = body["conversation"].as_i64().unwrap();
        assert_eq!(body["new"], true);
        assert_eq!(body["status"], "open");
        assert_eq!(body["assignee"], Value::Null);
        assert_eq!(body["notifications"], 2, "{body}");
        assert!(body.get("moderation").is_none());
        let ticket = env.ticket(n).await;
        assert_eq!(ticket.item_ref.as_deref(), Some("L-1"));
        assert_eq!(ticket.item_url.as_deref(), Some("https://shop.example/l/1"));
        assert_eq!(ticket.auction_title.as_deref(), Some("Spring sale"));
        let maria = env.participant(n, MARIA).await;
        assert_eq!(maria.user_id.as_deref(), Some("u-1042"));
        assert_eq!(maria.display_name.as_deref(), Some("Maria"));
        // The read side shows what was given: the listing's page, the
        // marketplace's own user id.
        let shown = expect(
            &common::http::Call::get(&format!("/api/v1/conversations/{n}"))
                .bearer(PLATFORM.2)
                .send(&router)
                .await,
            200,
        );
        assert_eq!(
            shown["listing"]["url"], "https://shop.example/l/1",
            "{shown}"
        );
        assert_eq!(shown["client"]["user_id"], "u-1042", "{shown}");
        let maria_item = shown["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["address"] == MARIA)
            .unwrap();
        assert_eq!(maria_item["user_id"], "u-1042");
        let listed = expect(
            &common::http::Call::get("/api/v1/conversations")
                .bearer(PLATFORM.2)
                .send(&router)
                .await,
            200,
        );
        assert_eq!(
            listed["items"][0]["listing"]["url"],
            "https://shop.example/l/1"
        );
        assert_eq!(listed["items"][0]["client"]["user_id"], "u-1042");
        // Nobody manages it: the desk's staff are all told.
        assert_eq!(notified(&env, n).await, [AGENT, MANAGER]);

        // A user token writes as its user; the seller named by an address.
        let token = user_token(&router, BOB).await;
        let mine = json!({ "seller": CLERK, "subject": "Lot 9", "text": "Is it signed?" });
        let body = expect(&send(&router, &token, START, &mine).await, 201);
        let n = body["conversation"].as_i64().unwrap();
        assert_eq!(env.ticket(n).await.queue, "books");
        assert_eq!(env.role(n, BOB).await, "client");
        assert_eq!(notified(&env, n).await, [CLERK]);

        // Refusals: another client in a user token's call, a moderator,
        // a platform key without a client, neither queue nor seller, an
        // unknown queue, a listing URL that is not one, an empty text, the
        // queue's own staff as its client.
        let other =
            json!({ "queue": "desk", "client": { "address": MARIA }, "subject": "x", "text": "y" });
        send(&router, &token, START, &other)
            .await
            .problem(403, "forbidden");
        send(&router, MODERATOR.2, START, &start_body("Hi"))
            .await
            .problem(403, "forbidden");
        let cases = [
            json!({ "queue": "desk", "subject": "x", "text": "y" }),
            json!({ "client": { "address": MARIA }, "subject": "x", "text": "y" }),
            json!({ "queue": "nope", "client": { "address": MARIA }, "subject": "x", "text": "y" }),
            json!({ "queue": "desk", "client": { "address": MARIA }, "subject": "x", "text": "y",
                    "listing": { "url": "javascript:alert(1)" } }),
            json!({ "queue": "desk", "client": { "address": MARIA }, "subject": "x", "text": "y",
                    "listing": { "url": "https://shop.example/l/1\nBcc: x" } }),
            json!({ "queue": "desk", "client": { "address": MARIA }, "subject": "x", "text": "  " }),
            json!({ "queue": "desk", "client": { "address": AGENT }, "subject": "x", "text": "y" }),
        ];
        for case in cases {
            send(&router, PLATFORM.2, START, &case)
                .await
                .problem(422, "invalid");
        }
    }
}

#[tokio::test]
async fn held_and_refused() {
    for backend in backends() {
        println!("== held_and_refused on {}", backend.name());
        let (router, env, _dir) = door(&backend).await;
        let body = expect(
            &send(&router, PLATFORM.2, START, &start_body(HELD_TEXT)).await,
            202,
        );
        assert_eq!(body["moderation"]["state"], "held", "{body}");
        assert_eq!(body["moderation"]["rules"], json!(["venmo"]), "{body}");
        assert_eq!(body["notifications"], 0);
        let n = body["conversation"].as_i64().unwrap();
        assert!(
            notified(&env, n).await.is_empty(),
            "nobody hears of a held message"
        );

        let before = env.ticket_count().await;
        let problem = send(&router, PLATFORM.2, START, &start_body(REFUSED_TEXT))
            .await
            .problem(422, "invalid");
        let hits = problem["hits"].as_array().expect("hits");
        assert!(
            hits.iter().any(|h| h["rule"] == "western_union"),
            "{problem}"
        );
        assert_eq!(env.ticket_count().await, before, "nothing stored");
    }
}

#[tokio::test]
async fn routing_to_the_manager() {
    for backend in backends() {
        println!("== routing_to_the_manager on {}", backend.name());
        let (router, env, _dir) = door(&backend).await;
        let start = |auction: Value, listing: Value| {
            let mut body = start_body("Hello!");
            body["auction"] = auction;
            body["listing"] = listing;
            body
        };
        // Mapped in the config: by the auction, else by the listing.
        for body in [
            start(json!({ "ref": "A-7" }), json!({ "ref": "L-1" })),
            start(json!({ "ref": "A-1" }), json!({ "ref": "L-3" })),
        ] {
            let answer = expect(&send(&router, PLATFORM.2, START, &body).await, 201);
            let n = answer["conversation"].as_i64().unwrap();
            assert_eq!(answer["assignee"], MANAGER, "{answer}");
            assert_eq!(env.ticket(n).await.assignee.as_deref(), Some(MANAGER));
            assert_eq!(notified(&env, n).await, [MANAGER], "the manager alone");
            let history = env.store().audit(n).await.unwrap();
            assert!(
                history
                    .iter()
                    .any(|a| a.action == "ticket.assigned" && a.detail["to"] == MANAGER),
                "{history:?}"
            );
        }
        // Given in the call: over the config's.
        let body = start(json!({ "ref": "A-7", "manager": AGENT }), json!(null));
        let answer = expect(&send(&router, PLATFORM.2, START, &body).await, 201);
        let n = answer["conversation"].as_i64().unwrap();
        assert_eq!(answer["assignee"], AGENT);
        assert_eq!(notified(&env, n).await, [AGENT]);
        // Maria's answer later goes to the manager alone too.
        let token = user_token(&router, MARIA).await;
        let more = json!({ "text": "And the legs?" });
        expect(&send(&router, &token, &messages_of(n), &more).await, 201);
        assert_eq!(notified(&env, n).await, [AGENT, AGENT]);
        // Not staff of the queue: refused, nothing stored.
        let before = env.ticket_count().await;
        let body = start(json!({ "ref": "A-1", "manager": BOSS }), json!(null));
        send(&router, PLATFORM.2, START, &body)
            .await
            .problem(422, "invalid");
        assert_eq!(env.ticket_count().await, before);
    }
}
