//! What callers do to a conversation over HTTP besides writing in it —
//! status, take, assign, forward, delete and restore, archive and
//! unarchive — the pool, and the moderators' endpoints, on every backend:
//!
//! - `router`: each endpoint through the router (`oneshot`): what it
//!   changes, its audit entry, its refusals (403, 404, 409, 422);
//! - `matrix`: who may call what, as a table (platform, platform acting
//!   for the client or the seller, moderator, admin, the client's and a
//!   stranger's user tokens × every endpoint, starting a conversation and
//!   posting a message included);
//! - `serve`: `parley serve` over real sockets, each action and
//!   moderation endpoint beside its command-line twin, whose history
//!   entries must be the same.

#[macro_use]
mod common;
#[path = "http_actions/matrix.rs"]
mod matrix;
#[path = "http_actions/router.rs"]
mod router;
#[path = "http_actions/serve.rs"]
mod serve;

use axum::http::Method;
use common::http::{Answer, Call};
use common::*;
use parley::intake::Outcome;
use serde_json::{Value, json};

/// A phone number (a `redact` rule) and a payment instruction (a `hold`
/// rule): the text the built-in policy holds, masking the number.
const HELD_TEXT: &str = "Call me on 0151 2345 6789, I pay by Venmo.";
const PHONE: &str = "0151 2345 6789";
/// A staff address outside every queue, to forward to.
const BOSS: &str = "boss@hq.example";

/// `/api/v1/conversations/{n}/{what}` (`what` empty: the conversation).
fn conversation(n: i64, what: &str) -> String {
    match what {
        "" => format!("/api/v1/conversations/{n}"),
        what => format!("/api/v1/conversations/{n}/{what}"),
    }
}

/// A POST with a JSON body, or none.
fn post(path: &str, body: Option<Value>) -> Call {
    match body {
        Some(body) => Call::post(path).json(&body),
        None => Call::post(path),
    }
}

fn delete(path: &str) -> Call {
    Call::new(Method::DELETE, path)
}

/// Asserts a 200 and returns its JSON.
fn ok(answer: Answer) -> Value {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// A message from Maria on `ticket` by her reply address: `text` above a
/// quote of the seller's earlier mail. Returns its id.
async fn from_maria(env: &TestEnv, ticket: i64, text: &str) -> i64 {
    let to = env.reply_address(ticket, MARIA).await;
    let body = format!(
        "{text}\n\nOn Sat, 21 Nov 2026 at 09:00, Shop desk <{DESK}> wrote:\n> Yes, it is still available.\n"
    );
    let mail = Mail::new(MARIA, &to, "Re: Lot 12").body(&body);
    match env.deliver(&mail, &[&to]).await {
        Outcome::Stored { message, .. } => message,
        other => panic!("{}: expected the mail stored, got {other:?}", env.backend),
    }
}

/// The history of `ticket` as (action, actor, detail).
async fn history(env: &TestEnv, ticket: i64) -> Vec<(String, String, Value)> {
    env.store()
        .audit(ticket)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.action, a.actor, a.detail))
        .collect()
}

/// The last history entry of `ticket`.
async fn last_entry(env: &TestEnv, ticket: i64) -> (String, String, Value) {
    history(env, ticket).await.pop().expect("a history entry")
}
