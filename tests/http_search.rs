//! `GET /api/v1/search` on every backend:
//!
//! - through the router: each scope finds what it may see (a moderator the
//!   masked phone number and the held message; the marketplace and the
//!   other party neither; the author both of their own), a stranger finds
//!   nothing, hostile queries are text, and the 400s (no q, blank q, an
//!   over-long q, a bad limit) and 403 (a user token naming `as=`);
//! - the conversation list's `q=`: the same search narrows the list, in
//!   the same scopes;
//! - against `parley serve`: the same search over a real socket, and
//!   `parley tickets search` (the moderator's view) finding the same.

mod common;

use common::http::{Call, MODERATOR, PLATFORM, door_on, user_token};
use common::served::Served;
use common::*;
use parley::intake::Outcome;
use serde_json::Value;

/// A phone number (a `redact` rule) in Maria's first mail.
const PHONE_TEXT: &str = "Is the oak sideboard still there? Call me on 0151 2345 6789.";
/// A payment instruction (a `hold` rule): Bob's second mail is held.
const HELD_TEXT: &str = "Fine, I pay by Venmo then.";

/// `/api/v1/search?q=…` with the query percent-encoded.
fn search_path(q: &str, extra: &str) -> String {
    let mut path = String::from("/api/v1/search?q=");
    for b in q.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                path.push(b as char)
            }
            b => path.push_str(&format!("%{b:02X}")),
        }
    }
    path + extra
}

/// The numbers of the hits in a 200 answer.
fn numbers(body: &Value) -> Vec<i64> {
    body["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {body}"))
        .iter()
        .map(|h| h["number"].as_i64().unwrap())
        .collect()
}

/// Maria's ticket (the oak sideboard, with the masked phone number) and
/// Bob's (a lamp, with his held message); Bob's held message id.
async fn corpus(env: &TestEnv) -> (i64, i64) {
    let oak = match env
        .deliver(
            &Mail::new(MARIA, DESK, "Oak sideboard").body(PHONE_TEXT),
            &[DESK],
        )
        .await
    {
        Outcome::Stored { ticket, .. } => ticket,
        other => panic!("expected the mail stored, got {other:?}"),
    };
    let lamp = match env
        .deliver(
            &Mail::new(BOB, DESK, "Brass lamp").body("Does the lamp work?"),
            &[DESK],
        )
        .await
    {
        Outcome::Stored { ticket, .. } => ticket,
        other => panic!("expected the mail stored, got {other:?}"),
    };
    let to = env.reply_address(lamp, BOB).await;
    match env
        .deliver(
            &Mail::new(BOB, &to, "Re: Brass lamp").body(HELD_TEXT),
            &[&to],
        )
        .await
    {
        Outcome::Stored { .. } => {}
        other => panic!("expected the mail stored (held), got {other:?}"),
    }
    (oak, lamp)
}

#[tokio::test]
async fn search_scopes_and_refusals() {
    for backend in backends() {
        println!("== search over the router on {}", backend.name());
        let (router, env) = door_on(&backend, |_| {}).await;
        let (oak, lamp) = corpus(&env).await;
        let get = |path: String, credential: String| {
            let router = router.clone();
            async move { Call::get(&path).bearer(&credential).send(&router).await }
        };
        let ok = |answer: common::http::Answer| {
            assert_eq!(
                answer.status,
                200,
                "{}",
                String::from_utf8_lossy(&answer.body)
            );
            answer.json()
        };
        let moderator = MODERATOR.2.to_string();
        let platform = PLATFORM.2.to_string();
        let maria = user_token(&router, MARIA).await;
        let bob = user_token(&router, BOB).await;
        let stranger = user_token(&router, MALLORY).await;

        // The moderator: everything, the phone number as written.
        let body = ok(get(search_path("0151", ""), moderator.clone()).await);
        assert_eq!(numbers(&body), [oak]);
        let hit = &body["hits"][0];
        assert_eq!(hit["subject"], "Oak sideboard");
        assert_eq!(hit["matched"], "message");
        assert!(
            hit["snippet"].as_str().unwrap().contains("0151 2345 6789"),
            "{hit}"
        );
        assert!(
            hit["last_activity"].as_str().unwrap().ends_with('Z'),
            "{hit}"
        );
        assert_eq!(
            numbers(&ok(get(search_path("venmo", ""), moderator.clone()).await)),
            [lamp]
        );
        // Titles before people before text; newest first within.
        let body = ok(get(search_path("buyer.example", ""), moderator.clone()).await);
        assert_eq!(numbers(&body), [lamp, oak]);
        assert_eq!(body["hits"][0]["matched"], "person");

        // The marketplace: what the parties are shown.
        assert_eq!(
            numbers(&ok(get(search_path("0151", ""), platform.clone()).await)),
            Vec::<i64>::new()
        );
        assert_eq!(
            numbers(&ok(get(search_path("venmo", ""), platform.clone()).await)),
            Vec::<i64>::new()
        );
        let body = ok(get(search_path("call", ""), platform.clone()).await);
        assert_eq!(numbers(&body), [oak]);
        let snippet = body["hits"][0]["snippet"].as_str().unwrap();
        assert!(!snippet.contains("0151"), "{snippet}");

        // Acting for the seller side (as=): the same; for Maria: her own
        // words as written.
        let agent = format!("&as={AGENT}");
        assert_eq!(
            numbers(&ok(get(search_path("0151", &agent), platform.clone()).await)),
            Vec::<i64>::new()
        );
        assert_eq!(
            numbers(&ok(
                get(search_path("sideboard", &agent), platform.clone()).await
            )),
            [oak]
        );
        let as_maria = format!("&as={MARIA}");
        assert_eq!(
            numbers(&ok(
                get(search_path("0151", &as_maria), platform.clone()).await
            )),
            [oak]
        );

        // User tokens: each their own conversations.
        assert_eq!(
            numbers(&ok(get(search_path("oak sideb", ""), maria.clone()).await)),
            [oak]
        );
        assert_eq!(
            numbers(&ok(get(search_path("lamp", ""), maria.clone()).await)),
            Vec::<i64>::new()
        );
        assert_eq!(
            numbers(&ok(get(search_path("venmo", ""), bob.clone()).await)),
            [lamp]
        );
        assert_eq!(
            numbers(&ok(get(search_path("Venmo", ""), maria.clone()).await)),
            Vec::<i64>::new()
        );
        // A stranger finds nothing of others.
        for q in [
            "oak",
            "sideboard",
            "maria",
            "bob",
            "buyer",
            "0151",
            "venmo",
            "lamp",
            "desk",
        ] {
            let body = ok(get(search_path(q, ""), stranger.clone()).await);
            assert_eq!(numbers(&body), Vec::<i64>::new(), "{q}");
        }

        // Hostile syntax is text.
        for q in [
            "\"",
            "oak\"*",
            "*",
            ":",
            "oak:*",
            "a & b | !c",
            "(oak",
            "NEAR(oak",
            "'",
            "\\",
            "%",
        ] {
            ok(get(search_path(q, ""), moderator.clone()).await);
        }
        let body = ok(get(search_path("\"oak:*", ""), maria.clone()).await);
        assert_eq!(numbers(&body), [oak]);
        let body = ok(get(search_path("oak", "&limit=1"), moderator.clone()).await);
        assert_eq!(numbers(&body).len(), 1);

        // Refusals.
        for path in [
            "/api/v1/search".to_string(),
            "/api/v1/search?q=".to_string(),
            search_path("   ", ""),
            search_path(&"a".repeat(201), ""),
            search_path("a b c d e f g h i", ""),
            search_path("oak", "&limit=0"),
            search_path("oak", "&limit=101"),
            search_path("oak", "&limit=many"),
            search_path("oak", "&as=not-an-address"),
        ] {
            let answer = get(path.clone(), platform.clone()).await;
            assert_eq!(
                answer.status,
                400,
                "{path}: {}",
                String::from_utf8_lossy(&answer.body)
            );
            answer.problem(400, "bad-request");
        }
        let answer = get(search_path("oak", &as_maria), maria.clone()).await;
        assert_eq!(answer.status, 403);
        let answer = Call::get(&search_path("oak", "")).send(&router).await;
        assert_eq!(answer.status, 401);
    }
}

/// The numbers of a conversation list page.
fn listed(body: &Value) -> Vec<i64> {
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {body}"))
        .iter()
        .map(|c| c["number"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_conversation_list_narrowed_by_q() {
    for backend in backends() {
        println!("== the list's q= on {}", backend.name());
        let (router, env) = door_on(&backend, |_| {}).await;
        let (oak, lamp) = corpus(&env).await;
        let list = |q: &str, credential: &str| {
            let router = router.clone();
            let path = search_path(q, "").replacen("/api/v1/search?", "/api/v1/conversations?", 1);
            let credential = credential.to_string();
            async move { Call::get(&path).bearer(&credential).send(&router).await }
        };
        let moderator = MODERATOR.2;
        let maria = user_token(&router, MARIA).await;

        // Without q both; with q only what the words find, for each scope.
        let all = Call::get("/api/v1/conversations")
            .bearer(moderator)
            .send(&router)
            .await;
        assert_eq!(listed(&all.json()), [lamp, oak]);
        assert_eq!(listed(&list("oak sideb", moderator).await.json()), [oak]);
        assert_eq!(listed(&list("venmo", moderator).await.json()), [lamp]);
        assert_eq!(
            listed(&list("buyer.example", moderator).await.json()),
            [lamp, oak]
        );
        assert_eq!(
            listed(&list("nothing-like-it", moderator).await.json()),
            Vec::<i64>::new()
        );
        // The masked phone number: the moderator finds it, the marketplace
        // does not; Maria (its author) does, and never Bob's lamp.
        assert_eq!(listed(&list("0151", moderator).await.json()), [oak]);
        assert_eq!(
            listed(&list("0151", PLATFORM.2).await.json()),
            Vec::<i64>::new()
        );
        assert_eq!(listed(&list("0151", &maria).await.json()), [oak]);
        assert_eq!(
            listed(&list("lamp", &maria).await.json()),
            Vec::<i64>::new()
        );
        // A blank q is refused as the search refuses it.
        let blank = list("  ", moderator).await;
        assert_eq!(
            blank.status,
            400,
            "{}",
            String::from_utf8_lossy(&blank.body)
        );
    }
}

#[test]
fn search_against_parley_serve() {
    for backend in backends() {
        println!("== search against parley serve on {}", backend.name());
        let served = Served::on(
            &backend,
            "listen = []",
            "listen = [\"127.0.0.1:{http}\"]",
            "",
        );
        served.cli(
            0,
            &["ingest"],
            &Mail::new(MARIA, DESK, "Oak sideboard")
                .body(PHONE_TEXT)
                .bytes(),
        );
        served.cli(
            0,
            &["ingest"],
            &Mail::new(BOB, DESK, "Brass lamp")
                .body("Does the lamp work?")
                .bytes(),
        );
        let answer = served.api("GET", &search_path("0151", ""), MODERATOR.2, None);
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let over_http = answer.json();
        assert_eq!(
            over_http["hits"].as_array().unwrap().len(),
            1,
            "{over_http}"
        );
        let answer = served.api("GET", &search_path("0151", ""), PLATFORM.2, None);
        assert_eq!(numbers(&answer.json()), Vec::<i64>::new());
        let answer = served.api("GET", "/api/v1/search?q=%20", MODERATOR.2, None);
        answer.problem(400, "bad-request");

        // The command line, as a moderator sees: the same hit.
        let by_cli = served.json(&["tickets", "search", "0151", "--json"]);
        assert_eq!(by_cli[0]["number"], over_http["hits"][0]["number"]);
        assert_eq!(by_cli[0]["snippet"], over_http["hits"][0]["snippet"]);
        let text = served.cli(0, &["tickets", "search", "buyer", "--limit", "5"], b"");
        assert!(
            text.contains("Oak sideboard") && text.contains("Brass lamp"),
            "{text}"
        );
        served.cli(64, &["tickets", "search", "  "], b"");
        served.cli(64, &["tickets", "search", "oak", "--limit", "0"], b"");
    }
}
