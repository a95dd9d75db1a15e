//! The read side of conversations over HTTP, through the router on every
//! backend: the list (who sees what, filters, keyset paging), one
//! conversation as each role sees it, read markers and unread counts
//! (mail that arrived counts, the author's own never, a held message not
//! for the other side; the horizon only moves forward). `http_inbox/serve.rs`
//! runs the same over real sockets against `parley serve`.

#[macro_use]
mod common;
#[path = "http_inbox/serve.rs"]
mod serve;

use common::http::{Answer, Call, MODERATOR, PLATFORM, door_on, user_token};
use common::*;
use parley::intake::Outcome;
use serde_json::{Value, json};

/// A phone number (a `redact` rule) and a payment instruction (a `hold`
/// rule): the built-in policy holds it.
const HELD_TEXT: &str = "Call me on 0151 2345 6789, I pay by Venmo.";
/// A phone number alone: shown, masked.
const PHONE_TEXT: &str = "Call me on 0151 2345 6789 please.";
const PHONE: &str = "0151 2345 6789";

/// Runs `story` against a fresh door on every backend.
macro_rules! story {
    ($name:ident) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn on_every_backend() {
                for backend in backends() {
                    println!("== {} on {}", stringify!($name), backend.name());
                    let (router, env) = door_on(&backend, |_| {}).await;
                    super::$name(&router, &env).await;
                }
            }
        }
    };
}

story!(the_list_by_recency_filtered_and_paged);
story!(unread_counts_mail_not_ones_own_nor_held);
story!(read_moves_the_horizon_forward_only);
story!(show_as_each_role_sees_it);
story!(a_closing_stays_in_the_text_and_is_its_signature);

fn ok(answer: Answer) -> Value {
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

async fn get(router: &axum::Router, path: &str, credential: &str) -> Value {
    ok(Call::get(path).bearer(credential).send(router).await)
}

fn numbers(list: &Value) -> Vec<i64> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_i64().unwrap())
        .collect()
}

/// A mail from `from` answering `ticket` by their reply address; its id.
async fn mail(env: &TestEnv, ticket: i64, from: &str, text: &str) -> i64 {
    let to = env.reply_address(ticket, from).await;
    let mail = Mail::new(from, &to, "Re: Lot 12").body(text);
    match env.deliver(&mail, &[&to]).await {
        Outcome::Stored { message, .. } => message,
        other => panic!("{}: expected the mail stored, got {other:?}", env.backend),
    }
}

async fn the_list_by_recency_filtered_and_paged(router: &axum::Router, env: &TestEnv) {
    let first = env.open_ticket(MARIA, "Lot 12").await;
    let second = env.open_ticket(BOB, "Lot 13").await;
    let third = env.open_ticket(MARIA, "Lot 14").await;
    let agent = user_token(router, AGENT).await;
    let maria = user_token(router, MARIA).await;
    let stranger = user_token(router, MALLORY).await;

    // Everyone: moderators and the marketplace; a person: their own.
    let all = get(router, "/api/v1/conversations", MODERATOR.2).await;
    assert_eq!(numbers(&all), [third, second, first]);
    assert_eq!(all["next_cursor"], Value::Null);
    let row = &all["items"][0];
    assert_eq!(row["subject"], "Lot 14");
    assert_eq!(row["status"], "open");
    assert_eq!(row["queue"], "desk");
    assert_eq!(row["client"]["address"], MARIA);
    assert_eq!(row["unread"], 0, "a moderator has no horizon");
    assert_eq!(row["archived"], false);
    assert!(row["last_activity"].as_str().unwrap().ends_with('Z'));
    assert!(
        row["last_message"]["text"]
            .as_str()
            .unwrap()
            .contains("Lot 14"),
        "{row}"
    );
    let platform = get(router, "/api/v1/conversations", PLATFORM.2).await;
    assert_eq!(numbers(&platform), [third, second, first]);
    let mine = get(router, "/api/v1/conversations", &maria).await;
    assert_eq!(numbers(&mine), [third, first]);
    assert_eq!(mine["items"][0]["unread"], 0, "her own message");
    let as_maria = format!("/api/v1/conversations?as={MARIA}");
    assert_eq!(
        numbers(&get(router, &as_maria, PLATFORM.2).await),
        [third, first]
    );
    let served = get(router, "/api/v1/conversations", &agent).await;
    assert_eq!(numbers(&served), [third, second, first]);
    assert_eq!(served["items"][0]["unread"], 1);
    let nothing = get(router, "/api/v1/conversations", &stranger).await;
    assert_eq!(numbers(&nothing), Vec::<i64>::new());

    // Keyset paging: every conversation once, in order.
    let mut seen = Vec::new();
    let mut path = "/api/v1/conversations?limit=2".to_string();
    loop {
        let page = get(router, &path, &agent).await;
        seen.extend(numbers(&page));
        match page["next_cursor"].as_str() {
            Some(next) => path = format!("/api/v1/conversations?limit=2&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, [third, second, first]);

    // Filters.
    let filtered = |query: &str| format!("/api/v1/conversations?{query}");
    let who = filtered(&format!("participant={BOB}"));
    assert_eq!(numbers(&get(router, &who, MODERATOR.2).await), [second]);
    Call::get(&who)
        .bearer(&agent)
        .send(router)
        .await
        .problem(403, "forbidden");
    let closed = filtered("status=closed");
    assert!(numbers(&get(router, &closed, MODERATOR.2).await).is_empty());
    let open = filtered("status=open&queue=desk");
    assert_eq!(numbers(&get(router, &open, MODERATOR.2).await).len(), 3);
    let books = filtered("queue=books");
    assert!(numbers(&get(router, &books, MODERATOR.2).await).is_empty());
    let now = jiff::Timestamp::now().strftime("%Y-%m").to_string();
    let this_month = filtered(&format!("month={now}"));
    assert_eq!(numbers(&get(router, &this_month, &agent).await).len(), 3);
    let long_ago = filtered("month=2001-01");
    assert!(numbers(&get(router, &long_ago, &agent).await).is_empty());
    let listing = filtered("listing=lot-99");
    assert!(numbers(&get(router, &listing, &agent).await).is_empty());
    for bad in [
        "limit=0",
        "limit=201",
        "cursor=zz",
        "month=2026-13",
        "status=lost",
    ] {
        Call::get(&filtered(bad))
            .bearer(&agent)
            .send(router)
            .await
            .problem(400, "bad-request");
    }

    // Archived and deleted: out of the default list, each its own view.
    let archive = Call::post(&format!("/api/v1/conversations/{first}/archive"));
    ok(archive.bearer(&agent).send(router).await);
    let delete = Call::new(
        axum::http::Method::DELETE,
        &format!("/api/v1/conversations/{second}"),
    );
    ok(delete.bearer(&agent).send(router).await);
    assert_eq!(
        numbers(&get(router, "/api/v1/conversations", &agent).await),
        [third]
    );
    let archived = filtered("archived=true");
    assert_eq!(numbers(&get(router, &archived, &agent).await), [first]);
    let trash = filtered("deleted=true");
    assert_eq!(numbers(&get(router, &trash, &agent).await), [second]);
    assert_eq!(numbers(&get(router, &trash, MODERATOR.2).await), [second]);
    let bobs = user_token(router, BOB).await;
    assert!(
        numbers(&get(router, &trash, &bobs).await).is_empty(),
        "not the client's"
    );
}

async fn unread_counts_mail_not_ones_own_nor_held(router: &axum::Router, env: &TestEnv) {
    let n = env.open_ticket(MARIA, "Lot 12").await;
    let agent = user_token(router, AGENT).await;
    let maria = user_token(router, MARIA).await;
    let unread = |token: &str| {
        let token = token.to_string();
        async move { get(router, "/api/v1/unread", &token).await }
    };

    // Her mail counts for the seller side; never for her.
    assert_eq!(
        unread(&agent).await,
        json!({ "total": 1, "conversations": [{ "conversation": n, "unread": 1 }] })
    );
    assert_eq!(
        unread(&maria).await,
        json!({ "total": 0, "conversations": [] })
    );

    // The seller answers by mail: unread for her, not for him.
    mail(env, n, AGENT, "Yes, it is still available.").await;
    assert_eq!(unread(&maria).await["total"], 1);
    assert_eq!(unread(&agent).await["total"], 1);

    // Her held message: not for the other side, not for her.
    mail(env, n, MARIA, HELD_TEXT).await;
    assert_eq!(unread(&agent).await["total"], 1);
    assert_eq!(unread(&maria).await["total"], 1);
    // Her masked one counts for him.
    mail(env, n, MARIA, PHONE_TEXT).await;
    assert_eq!(unread(&agent).await["total"], 2);
    let path = format!("/api/v1/unread?as={AGENT}");
    assert_eq!(get(router, &path, PLATFORM.2).await["total"], 2);

    // Only a person has unread counts.
    for key in [MODERATOR.2, PLATFORM.2] {
        Call::get("/api/v1/unread")
            .bearer(key)
            .send(router)
            .await
            .problem(403, "forbidden");
    }
    Call::get("/api/v1/unread")
        .send(router)
        .await
        .problem(401, "unauthorized");
}

async fn read_moves_the_horizon_forward_only(router: &axum::Router, env: &TestEnv) {
    let n = env.open_ticket(MARIA, "Lot 12").await;
    let other = env.open_ticket(BOB, "Lot 13").await;
    let agent = user_token(router, AGENT).await;
    let stranger = user_token(router, MALLORY).await;
    let first = ok(Call::get(&format!("/api/v1/conversations/{n}"))
        .bearer(&agent)
        .send(router)
        .await)["messages"][0]["id"]
        .as_i64()
        .unwrap();
    let second = mail(env, n, MARIA, "And does it fit through a door?").await;
    let held = mail(env, n, MARIA, HELD_TEXT).await;
    let read = format!("/api/v1/conversations/{n}/read");
    let mark = |body: Option<Value>, credential: &str| {
        let call = Call::post(&read).bearer(credential);
        match body {
            Some(body) => call.json(&body),
            None => call,
        }
    };

    let marked = ok(mark(Some(json!({ "message": first })), &agent)
        .send(router)
        .await);
    assert_eq!(
        marked,
        json!({ "conversation": n, "horizon": first, "unread": 1 })
    );
    // Up to the newest he sees (not her held one).
    let marked = ok(mark(None, &agent).send(router).await);
    assert_eq!(
        marked,
        json!({ "conversation": n, "horizon": second, "unread": 0 })
    );
    // Never back.
    let marked = ok(mark(Some(json!({ "message": first })), &agent)
        .send(router)
        .await);
    assert_eq!(marked["horizon"], second);
    let shown = ok(Call::get(&format!("/api/v1/conversations/{n}"))
        .bearer(&agent)
        .send(router)
        .await);
    assert_eq!(
        (shown["horizon"].as_i64(), shown["unread"].as_i64()),
        (Some(second), Some(0))
    );

    // A message he does not see, or of another conversation: 422.
    for id in [held, first + 1_000_000] {
        mark(Some(json!({ "message": id })), &agent)
            .send(router)
            .await
            .problem(422, "invalid");
    }
    let theirs = ok(Call::get(&format!("/api/v1/conversations/{other}"))
        .bearer(MODERATOR.2)
        .send(router)
        .await)["messages"][0]["id"]
        .as_i64()
        .unwrap();
    mark(Some(json!({ "message": theirs })), &agent)
        .send(router)
        .await
        .problem(422, "invalid");
    // Only a person marks; a stranger learns nothing.
    mark(None, MODERATOR.2)
        .send(router)
        .await
        .problem(403, "forbidden");
    mark(None, PLATFORM.2)
        .send(router)
        .await
        .problem(403, "forbidden");
    mark(None, &stranger)
        .send(router)
        .await
        .problem(404, "not-found");
    let as_maria = Call::post(&format!("{read}?as={MARIA}")).bearer(PLATFORM.2);
    let marked = ok(as_maria.send(router).await);
    assert_eq!(marked["horizon"], held, "her own held message, she sees");
}

async fn show_as_each_role_sees_it(router: &axum::Router, env: &TestEnv) {
    let n = env.open_ticket(MARIA, "Lot 12").await;
    let masked = mail(env, n, MARIA, PHONE_TEXT).await;
    let held = mail(env, n, MARIA, HELD_TEXT).await;
    let agent = user_token(router, AGENT).await;
    let maria = user_token(router, MARIA).await;
    let stranger = user_token(router, MALLORY).await;
    let path = format!("/api/v1/conversations/{n}");
    let message = |shown: &Value, id: i64| -> Option<Value> {
        shown["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
    };

    // The seller side: the masked text, not her held message, the history.
    let seller = get(router, &path, &agent).await;
    assert_eq!(seller["number"], n);
    assert_eq!(seller["messages"].as_array().unwrap().len(), 2);
    let m = message(&seller, masked).unwrap();
    assert!(!m["text"].as_str().unwrap().contains(PHONE), "{m}");
    assert_eq!(
        (m["own"].clone(), m["standing"].clone()),
        (json!(false), json!("shown"))
    );
    assert_eq!(m["author"], MARIA);
    assert_eq!(m["direction"], "inbound");
    assert!(m.get("original").is_none(), "no original for the parties");
    assert_eq!(message(&seller, held), None);
    assert!(seller["history"].as_array().is_some_and(|h| !h.is_empty()));
    assert_eq!(seller["unread"], 2);
    assert_eq!(seller["last_message"]["id"], masked);
    let people: Vec<&str> = seller["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["address"].as_str().unwrap())
        .collect();
    assert!(
        people.contains(&MARIA) && people.contains(&AGENT),
        "{people:?}"
    );

    // The client: her own words, the held one marked; no history.
    let client = get(router, &path, &maria).await;
    let own = message(&client, held).unwrap();
    assert_eq!(
        (own["own"].clone(), own["standing"].clone()),
        (json!(true), json!("held"))
    );
    assert_eq!(own["text"], HELD_TEXT);
    assert_eq!(message(&client, masked).unwrap()["text"], PHONE_TEXT);
    assert_eq!(client["history"], Value::Null);
    assert_eq!(client["unread"], 0);
    assert_eq!(client["last_message"]["id"], held);

    // A moderator: everything, with the original, the hits, the quotes.
    let moderator = get(router, &path, MODERATOR.2).await;
    let m = message(&moderator, held).unwrap();
    assert_eq!(m["original"], HELD_TEXT);
    assert!(m["hits"].as_array().is_some_and(|h| !h.is_empty()), "{m}");
    assert!(m["elided"].is_string());
    assert_eq!(moderator["horizon"], Value::Null);

    // The marketplace: shown ones, masked.
    let platform = get(router, &path, PLATFORM.2).await;
    assert_eq!(message(&platform, held), None);
    assert!(
        !message(&platform, masked).unwrap()["text"]
            .as_str()
            .unwrap()
            .contains(PHONE)
    );

    // A stranger, or nothing there: 404 alike.
    Call::get(&path)
        .bearer(&stranger)
        .send(router)
        .await
        .problem(404, "not-found");
    Call::get("/api/v1/conversations/999999")
        .bearer(MODERATOR.2)
        .send(router)
        .await
        .problem(404, "not-found");
}

/// A reply's closing stays in its text and is named as its `signature`
/// (as shown: masked for the other side); the client's "Sent from" goes.
async fn a_closing_stays_in_the_text_and_is_its_signature(router: &axum::Router, env: &TestEnv) {
    let n = env.open_ticket(MARIA, "Lot 12").await;
    let id = mail(
        env,
        n,
        MARIA,
        &format!("Still interested.\n\nThanks,\nMaria\n{PHONE}\n\nSent from my iPhone\n"),
    )
    .await;
    let path = format!("/api/v1/conversations/{n}");
    let shown = |answer: Value| -> Value {
        answer["messages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == id)
            .cloned()
            .expect("the message is shown")
    };
    let agent = user_token(router, AGENT).await;
    let seller = shown(get(router, &path, &agent).await);
    let text = seller["text"].as_str().unwrap();
    let signature = seller["signature"].as_str().unwrap();
    assert!(
        text.starts_with("Still interested.\n\nThanks,\nMaria\n"),
        "{seller}"
    );
    assert!(
        !text.contains(PHONE) && !text.contains("iPhone"),
        "{seller}"
    );
    assert!(signature.starts_with("Thanks,\nMaria\n"), "{seller}");
    assert!(
        text.ends_with(signature) && !signature.contains(PHONE),
        "{seller}"
    );
    let maria = user_token(router, MARIA).await;
    let own = shown(get(router, &path, &maria).await);
    assert_eq!(
        own["signature"],
        format!("Thanks,\nMaria\n{PHONE}"),
        "{own}"
    );
    assert_eq!(
        own["text"],
        format!("Still interested.\n\nThanks,\nMaria\n{PHONE}"),
        "{own}"
    );
    let stored = env.store().messages(n).await.unwrap();
    let stored = stored.iter().find(|m| m.id == id).unwrap();
    assert_eq!(
        stored.signature,
        format!("Thanks,\nMaria\n{PHONE}\n\nSent from my iPhone")
    );
    assert_eq!(stored.elided, "Sent from my iPhone");
}
