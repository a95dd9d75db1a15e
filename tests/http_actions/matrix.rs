//! Who may call what, as a table: every caller × every endpoint of the
//! actions, the pool, moderation, the read side (list, show, read,
//! unread) and writing (start, message), each cell on a fresh conversation
//! (opened by Maria at the desk, the agent its seller) with a fresh held
//! message, on every backend. 403: the caller may not; 404: the caller
//! may not see the conversation (never 403 for that: nobody learns it
//! exists).

use common::http::{ADMIN, MODERATOR, PLATFORM, door_on, user_token};

use super::*;

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Platform,
    /// The platform key with `?as=` the client.
    AsClient,
    /// The platform key with `?as=` the seller.
    AsSeller,
    Moderator,
    Admin,
    /// The client's own user token.
    ClientToken,
    /// A user token of someone outside the conversation.
    StrangerToken,
}

const WHO: [Who; 7] = [
    Who::Platform,
    Who::AsClient,
    Who::AsSeller,
    Who::Moderator,
    Who::Admin,
    Who::ClientToken,
    Who::StrangerToken,
];

/// The expected status of every endpoint for each caller, in the order of
/// [`WHO`].
#[rustfmt::skip]
const TABLE: &[(&str, [u16; 7])] = &[
    //                   platform  as client  as seller  moderator  admin  client token  stranger token
    ("status closed",    [200,     403,       200,       200,       200,   403,          404]),
    ("status resolved",  [200,     200,       200,       200,       200,   200,          404]),
    ("take",             [403,     403,       200,       403,       403,   403,          404]),
    ("assign",           [200,     403,       200,       200,       200,   403,          404]),
    ("forward",          [200,     403,       200,       200,       200,   403,          404]),
    ("delete",           [200,     403,       200,       200,       200,   403,          404]),
    ("restore",          [200,     403,       200,       200,       200,   403,          404]),
    ("archive",          [200,     403,       200,       200,       200,   403,          404]),
    ("unarchive",        [200,     403,       200,       200,       200,   403,          404]),
    ("pool",             [200,     200,       200,       200,       200,   200,          200]),
    ("list",             [200,     200,       200,       200,       200,   200,          200]),
    ("show",             [200,     200,       200,       200,       200,   200,          404]),
    ("read",             [403,     200,       200,       403,       403,   200,          404]),
    ("unread",           [403,     200,       200,       403,       403,   200,          200]),
    ("start",            [201,     201,       403,       403,       403,   201,          403]),
    ("message",          [403,     201,       201,       403,       403,   201,          404]),
    ("moderation queue", [403,     403,       403,       200,       200,   403,          403]),
    ("moderation show",  [403,     403,       403,       200,       200,   403,          403]),
    ("approve",          [403,     403,       403,       200,       200,   403,          403]),
    ("reject",           [403,     403,       403,       200,       200,   403,          403]),
];

#[tokio::test]
async fn who_may_call_what() {
    for backend in backends() {
        println!("== who_may_call_what on {}", backend.name());
        let (router, env) = door_on(&backend, |_| {}).await;
        let client = user_token(&router, MARIA).await;
        let stranger = user_token(&router, MALLORY).await;
        let mut wrong = Vec::new();
        let mut table = String::new();
        for (endpoint, want) in TABLE {
            table.push_str(&format!("{endpoint:<18}"));
            for (who, want) in WHO.iter().zip(want) {
                let n = env.open_ticket(MARIA, "Lot 12").await;
                let held = from_maria(&env, n, HELD_TEXT).await;
                let (credential, query) = match who {
                    Who::Platform => (PLATFORM.2, String::new()),
                    Who::AsClient => (PLATFORM.2, format!("?as={MARIA}")),
                    Who::AsSeller => (PLATFORM.2, format!("?as={AGENT}")),
                    Who::Moderator => (MODERATOR.2, String::new()),
                    Who::Admin => (ADMIN.2, String::new()),
                    Who::ClientToken => (client.as_str(), String::new()),
                    Who::StrangerToken => (stranger.as_str(), String::new()),
                };
                let call = request(endpoint, n, held, &query).bearer(credential);
                let answer = call.send(&router).await;
                let got = answer.status.as_u16();
                table.push_str(&format!(" {got}"));
                if got != *want {
                    wrong.push(format!(
                        "{endpoint} as {who:?}: {got}, want {want}: {}",
                        String::from_utf8_lossy(&answer.body)
                    ));
                    continue;
                }
                match got {
                    403 => drop(answer.problem(403, "forbidden")),
                    404 => drop(answer.problem(404, "not-found")),
                    _ => {}
                }
                // A client and a stranger have no pool.
                if *endpoint == "pool"
                    && matches!(who, Who::AsClient | Who::ClientToken | Who::StrangerToken)
                {
                    assert_eq!(answer.json()["items"], json!([]), "{who:?}");
                }
                // A stranger lists nothing and has nothing unread.
                if *who == Who::StrangerToken && *endpoint == "list" {
                    assert_eq!(answer.json()["items"], json!([]));
                }
                if *who == Who::StrangerToken && *endpoint == "unread" {
                    assert_eq!(answer.json()["total"], 0);
                }
            }
            table.push('\n');
        }
        println!("{table}");
        assert!(
            wrong.is_empty(),
            "{}:\n{}",
            backend.name(),
            wrong.join("\n")
        );
    }
}

/// The request `endpoint` names, on conversation `n` and held message
/// `held`, with `query` (`?as=…` or empty).
fn request(endpoint: &str, n: i64, held: i64, query: &str) -> Call {
    let on = |what: &str| format!("{}{query}", conversation(n, what));
    let moderation = |what: &str| format!("/api/v1/moderation/{held}{what}{query}");
    match endpoint {
        "status closed" => post(&on("status"), Some(json!({ "status": "closed" }))),
        "status resolved" => post(&on("status"), Some(json!({ "status": "resolved" }))),
        "take" => post(&on("take"), None),
        "assign" => post(&on("assign"), Some(json!({ "to": AGENT }))),
        "forward" => post(&on("forward"), Some(json!({ "to": BOSS }))),
        "delete" => delete(&on("")),
        "restore" => post(&on("restore"), None),
        "archive" => post(&on("archive"), None),
        "unarchive" => post(&on("unarchive"), None),
        "pool" => Call::get(&format!("/api/v1/pool{query}")),
        "list" => Call::get(&format!("/api/v1/conversations{query}")),
        "show" => Call::get(&on("")),
        "read" => post(&on("read"), None),
        "unread" => Call::get(&format!("/api/v1/unread{query}")),
        // Maria starts one (the client named in the body); writes on this one.
        "start" => post(
            &format!("/api/v1/conversations{query}"),
            Some(json!({ "queue": "desk", "client": { "address": MARIA },
                         "subject": "Lot 14", "text": "Is it still there?" })),
        ),
        "message" => post(&on("messages"), Some(json!({ "text": "Any news?" }))),
        "moderation queue" => Call::get(&format!("/api/v1/moderation{query}")),
        "moderation show" => Call::get(&moderation("")),
        "approve" => post(&moderation("/approve"), None),
        "reject" => post(&moderation("/reject"), Some(json!({ "reason": "No." }))),
        other => panic!("no endpoint {other:?}"),
    }
}
