//! Each endpoint through the router (`oneshot`), on every backend: what it
//! changes, the audit entry it writes in the same transaction, and its
//! refusals.

use common::http::{MODERATOR, PLATFORM, door_on, user_token};
use parley::tickets::Status;

use super::*;

/// Runs `story` against a fresh door on every backend.
macro_rules! story {
    ($name:ident) => {
        #[tokio::test]
        async fn $name() {
            for backend in backends() {
                println!("== {} on {}", stringify!($name), backend.name());
                let (router, env) = door_on(&backend, |_| {}).await;
                super::router::stories::$name(&router, &env).await;
            }
        }
    };
}

story!(status_moves_and_closing_archives);
story!(take_and_assign);
story!(forward_to_a_staff_address);
story!(delete_and_restore);
story!(the_pool_oldest_first_a_page_at_a_time);
story!(the_held_queue_and_a_message_under_review);
story!(approve_and_reject);

pub mod stories {
    use super::*;

    pub async fn status_moves_and_closing_archives(router: &axum::Router, env: &TestEnv) {
        let n = env.open_ticket(MARIA, "Lot 12").await;
        let agent = user_token(router, AGENT).await;
        let maria = user_token(router, MARIA).await;
        let status = |token: &str, to: &str| {
            post(&conversation(n, "status"), Some(json!({ "status": to }))).bearer(token)
        };

        // The seller side closes it: closed and archived, in one entry.
        let acted = ok(status(&agent, "closed").send(router).await);
        assert_eq!(acted["number"], n);
        assert_eq!(acted["status"], "closed");
        assert_eq!(acted["archived"], true, "closing archives");
        assert_eq!(acted["changed"], true);
        assert!(
            acted["updated_at"].as_str().unwrap().ends_with('Z'),
            "{acted}"
        );
        assert_eq!(
            last_entry(env, n).await,
            (
                "status.changed".into(),
                AGENT.into(),
                json!({ "from": "open", "to": "closed" })
            )
        );
        let t = env.ticket(n).await;
        assert!(t.archived && t.status == Status::Closed);

        // A client may not reopen nor resolve a closed one.
        status(&maria, "awaiting_seller")
            .send(router)
            .await
            .problem(403, "forbidden");
        status(&maria, "resolved")
            .send(router)
            .await
            .problem(409, "conflict");

        // Alive again: out of the archive.
        let acted = ok(status(&agent, "awaiting_seller").send(router).await);
        assert_eq!(
            (acted["status"].clone(), acted["archived"].clone()),
            (json!("awaiting_seller"), json!(false))
        );

        // Archive and unarchive by hand leave the status.
        let before = history(env, n).await.len();
        let acted = ok(post(&conversation(n, "archive"), None)
            .bearer(&agent)
            .send(router)
            .await);
        assert_eq!(
            (acted["archived"].clone(), acted["status"].clone()),
            (json!(true), json!("awaiting_seller"))
        );
        assert_eq!(
            last_entry(env, n).await,
            ("ticket.archived".into(), AGENT.into(), json!({}))
        );
        // Again: nothing changes, nothing is written.
        let again = ok(post(&conversation(n, "archive"), None)
            .bearer(&agent)
            .send(router)
            .await);
        assert_eq!(again["changed"], false);
        assert_eq!(history(env, n).await.len(), before + 1);
        let acted = ok(post(&conversation(n, "unarchive"), None)
            .bearer(&agent)
            .send(router)
            .await);
        assert_eq!(acted["archived"], false);
        assert_eq!(last_entry(env, n).await.0, "ticket.unarchived");

        // The client marks it resolved: theirs to say.
        let acted = ok(status(&maria, "resolved").send(router).await);
        assert_eq!(acted["status"], "resolved");
        assert_eq!(last_entry(env, n).await.1, MARIA);
        // A status that is none is the body's fault.
        status(&agent, "pending")
            .send(router)
            .await
            .problem(422, "invalid");
    }

    pub async fn take_and_assign(router: &axum::Router, env: &TestEnv) {
        let n = env.open_ticket(MARIA, "Lot 12").await;
        let agent = user_token(router, AGENT).await;
        let take = |token: &str| post(&conversation(n, "take"), None).bearer(token);

        let acted = ok(take(&agent).send(router).await);
        assert_eq!(
            (acted["assignee"].clone(), acted["changed"].clone()),
            (json!(AGENT), json!(true))
        );
        assert_eq!(
            last_entry(env, n).await,
            (
                "ticket.assigned".into(),
                AGENT.into(),
                json!({ "from": null, "to": AGENT })
            )
        );
        // Taking it again changes nothing.
        assert_eq!(ok(take(&agent).send(router).await)["changed"], false);

        // A keys' caller has no person to take it: assign instead.
        take(MODERATOR.2)
            .send(router)
            .await
            .problem(403, "forbidden");
        take(PLATFORM.2)
            .send(router)
            .await
            .problem(403, "forbidden");

        // The boss joins by a forward; taking what the agent has: 409.
        ok(
            post(&conversation(n, "forward"), Some(json!({ "to": BOSS })))
                .bearer(&agent)
                .send(router)
                .await,
        );
        let boss = user_token(router, BOSS).await;
        let taken = take(&boss).send(router).await.problem(409, "conflict");
        assert_eq!(taken["assignee"], AGENT, "{taken}");

        // The marketplace assigns it, whoever had it.
        let assign = |to: &str| {
            post(&conversation(n, "assign"), Some(json!({ "to": to }))).bearer(PLATFORM.2)
        };
        let acted = ok(assign("Boss@HQ.example").send(router).await);
        assert_eq!(acted["assignee"], BOSS);
        assert_eq!(
            last_entry(env, n).await,
            (
                "ticket.assigned".into(),
                "key:shop".into(),
                json!({ "from": AGENT, "to": BOSS })
            )
        );
        // Not on the seller side (another queue's staff), not an address.
        let refused = assign(CLERK).send(router).await.problem(422, "invalid");
        assert!(
            refused["detail"].as_str().unwrap().contains("seller-side"),
            "{refused}"
        );
        assign("not an address")
            .send(router)
            .await
            .problem(422, "invalid");
        assign(MARIA).send(router).await.problem(422, "invalid");
        assert_eq!(env.ticket(n).await.assignee.as_deref(), Some(BOSS));
    }

    pub async fn forward_to_a_staff_address(router: &axum::Router, env: &TestEnv) {
        let n = env.open_ticket(MARIA, "Lot 12").await;
        let forward =
            |body: Value| post(&conversation(n, "forward"), Some(body)).bearer(MODERATOR.2);
        let acted = ok(
            forward(json!({ "to": BOSS, "note": "  Shipping to Norway?  " }))
                .send(router)
                .await,
        );
        let sent = &acted["forwarded"];
        assert_eq!(sent["to"], BOSS);
        assert_eq!(sent["note"], "Shipping to Norway?");
        assert_eq!(sent["joined"], true);
        assert_eq!(
            (acted["status"].clone(), acted["assignee"].clone()),
            (json!("open"), Value::Null),
            "they stay"
        );
        assert_eq!(
            last_entry(env, n).await,
            (
                "ticket.forwarded".into(),
                "key:mods".into(),
                json!({ "to": BOSS, "note": "Shipping to Norway?" })
            )
        );
        let rows = env.store().notifications(n).await.unwrap();
        let row = rows
            .iter()
            .find(|r| Some(r.id) == sent["notification"].as_i64())
            .expect("the row");
        assert_eq!(
            (row.kind.as_str(), row.recipient.as_str()),
            ("transcript", BOSS)
        );
        assert_eq!(env.role(n, BOSS).await, "staff");

        // The client, parley's own addresses, a long note: refused, nothing written.
        let before = history(env, n).await.len();
        let reply = env.reply_address(n, MARIA).await;
        for body in [
            json!({ "to": MARIA }),
            json!({ "to": DESK }),
            json!({ "to": reply }),
            json!({ "to": "nobody" }),
            json!({ "to": BOSS, "note": "x".repeat(4001) }),
        ] {
            forward(body.clone())
                .send(router)
                .await
                .problem(422, "invalid");
        }
        forward(json!({ "to": BOSS, "cc": MARIA }))
            .send(router)
            .await
            .problem(422, "invalid");
        assert_eq!(history(env, n).await.len(), before);
    }

    pub async fn delete_and_restore(router: &axum::Router, env: &TestEnv) {
        let n = env.open_ticket(MARIA, "Lot 12").await;
        let agent = user_token(router, AGENT).await;
        let maria = user_token(router, MARIA).await;

        let acted = ok(delete(&conversation(n, ""))
            .bearer(&agent)
            .send(router)
            .await);
        assert_eq!(
            (acted["deleted"].clone(), acted["changed"].clone()),
            (json!(true), json!(true))
        );
        assert_eq!(
            last_entry(env, n).await,
            ("ticket.deleted".into(), AGENT.into(), json!({}))
        );
        assert!(env.ticket(n).await.deleted);
        assert_eq!(
            ok(delete(&conversation(n, ""))
                .bearer(&agent)
                .send(router)
                .await)["changed"],
            false
        );

        // The client no longer sees it: not found, like one that never was.
        let gone = post(
            &conversation(n, "status"),
            Some(json!({ "status": "resolved" })),
        )
        .bearer(&maria)
        .send(router)
        .await
        .problem(404, "not-found");
        let never = post(
            &conversation(n + 1000, "status"),
            Some(json!({ "status": "resolved" })),
        )
        .bearer(&maria)
        .send(router)
        .await
        .problem(404, "not-found");
        assert_eq!(
            gone["detail"]
                .as_str()
                .unwrap()
                .replace(&n.to_string(), "N"),
            never["detail"]
                .as_str()
                .unwrap()
                .replace(&(n + 1000).to_string(), "N")
        );
        // The seller side sees it in the trash: everything but a restore waits.
        for (what, body) in [
            ("status", Some(json!({ "status": "closed" }))),
            ("take", None),
            ("archive", None),
            ("forward", Some(json!({ "to": BOSS }))),
            ("assign", Some(json!({ "to": AGENT }))),
        ] {
            let p = post(&conversation(n, what), body)
                .bearer(&agent)
                .send(router)
                .await;
            let p = p.problem(409, "conflict");
            assert!(
                p["detail"].as_str().unwrap().contains("restore"),
                "{what}: {p}"
            );
        }
        // Out of the pool.
        let pool = ok(Call::get("/api/v1/pool")
            .bearer(MODERATOR.2)
            .send(router)
            .await);
        assert!(
            pool["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["number"] != n),
            "{pool}"
        );

        let acted = ok(post(&conversation(n, "restore"), None)
            .bearer(&agent)
            .send(router)
            .await);
        assert_eq!(acted["deleted"], false);
        assert_eq!(
            last_entry(env, n).await,
            ("ticket.restored".into(), AGENT.into(), json!({}))
        );
        // Seen by its client again.
        ok(post(
            &conversation(n, "status"),
            Some(json!({ "status": "resolved" })),
        )
        .bearer(&maria)
        .send(router)
        .await);
    }

    pub async fn the_pool_oldest_first_a_page_at_a_time(router: &axum::Router, env: &TestEnv) {
        let first = env.open_ticket(MARIA, "Lot 12").await;
        let taken = env.open_ticket(BOB, "Lot 13").await;
        let books = match env.deliver(&Mail::new(BOB, BOOKS, "A book"), &[]).await {
            Outcome::Stored { ticket, .. } => ticket,
            other => panic!("{other:?}"),
        };
        let last = env.open_ticket(MALLORY, "Lot 14").await;
        let agent = user_token(router, AGENT).await;
        ok(post(&conversation(taken, "take"), None)
            .bearer(&agent)
            .send(router)
            .await);

        let numbers = |page: &Value| -> Vec<i64> {
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["number"].as_i64().unwrap())
                .collect()
        };
        let pool = |query: &str, credential: &str| {
            Call::get(&format!("/api/v1/pool{query}")).bearer(credential)
        };
        let all = ok(pool("", MODERATOR.2).send(router).await);
        assert_eq!(
            numbers(&all),
            [first, books, last],
            "oldest first, the taken one out"
        );
        assert_eq!(all["next_cursor"], Value::Null);
        let entry = &all["items"][0];
        assert_eq!(
            (
                entry["queue"].clone(),
                entry["subject"].clone(),
                entry["status"].clone()
            ),
            (json!("desk"), json!("Lot 12"), json!("open"))
        );
        assert_eq!(
            numbers(&ok(pool("?queue=desk", PLATFORM.2).send(router).await)),
            [first, last]
        );
        pool("?queue=nope", PLATFORM.2)
            .send(router)
            .await
            .problem(404, "not-found");

        // A person: the queues they are staff of; a client has none.
        let as_agent = format!("?as={AGENT}");
        assert_eq!(
            numbers(&ok(pool(&as_agent, PLATFORM.2).send(router).await)),
            [first, last]
        );
        let clerk = user_token(router, CLERK).await;
        assert_eq!(numbers(&ok(pool("", &clerk).send(router).await)), [books]);
        let maria = user_token(router, MARIA).await;
        assert_eq!(
            numbers(&ok(pool("", &maria).send(router).await)),
            Vec::<i64>::new()
        );

        // A page at a time.
        let mut seen = Vec::new();
        let mut query = "?limit=1".to_string();
        loop {
            let page = ok(pool(&query, MODERATOR.2).send(router).await);
            seen.extend(numbers(&page));
            match page["next_cursor"].as_str() {
                Some(cursor) => query = format!("?limit=1&cursor={cursor}"),
                None => break,
            }
        }
        assert_eq!(seen, [first, books, last]);
        for bad in ["?limit=0", "?limit=201", "?cursor=nonsense", "?limit=x"] {
            pool(bad, MODERATOR.2)
                .send(router)
                .await
                .problem(400, "bad-request");
        }
    }

    pub async fn the_held_queue_and_a_message_under_review(router: &axum::Router, env: &TestEnv) {
        let n = env.open_ticket(MARIA, "Lot 12").await;
        let id = from_maria(env, n, HELD_TEXT).await;
        let queue = ok(Call::get("/api/v1/moderation")
            .bearer(MODERATOR.2)
            .send(router)
            .await);
        let items = queue["items"].as_array().unwrap();
        assert_eq!(items.len(), 1, "{queue}");
        let held = &items[0];
        assert_eq!(
            (held["id"].as_i64(), held["conversation"].as_i64()),
            (Some(id), Some(n))
        );
        assert_eq!(
            held["author"],
            json!({ "address": MARIA, "role": "client" })
        );
        assert_eq!(
            (held["moderation"].clone(), held["action"].clone()),
            (json!("held"), json!("hold"))
        );
        assert_eq!(held["held_for"], json!(["venmo"]));
        assert_eq!(held["text"], HELD_TEXT, "as written");
        assert_eq!(
            held["masked_text"],
            "Call me on [contact removed], I pay by Venmo."
        );
        assert_eq!(
            held["redacted_text"],
            "Call me on [contact removed], I pay by [payment removed]."
        );
        assert_eq!(held["spam"], Value::Null);
        // The hits with their spans in the text as written.
        let phone = held["hits"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["rule"] == "phone")
            .expect("the phone hit");
        let (start, end) = (
            phone["start"].as_u64().unwrap() as usize,
            phone["end"].as_u64().unwrap() as usize,
        );
        let span: String = HELD_TEXT.chars().skip(start).take(end - start).collect();
        assert_eq!(
            (span.as_str(), phone["text"].as_str()),
            (PHONE, Some(PHONE))
        );
        assert_eq!(
            (
                phone["category"].clone(),
                phone["action"].clone(),
                phone["field"].clone()
            ),
            (json!("contact"), json!("redact"), json!("reply_text"))
        );

        let review = ok(Call::get(&format!("/api/v1/moderation/{id}"))
            .bearer(MODERATOR.2)
            .send(router)
            .await);
        assert_eq!(review["id"], id);
        assert_eq!(review["subject"], "Lot 12");
        assert_eq!(review["text"], HELD_TEXT);
        assert!(
            review["elided"]
                .as_str()
                .unwrap()
                .contains("Yes, it is still available."),
            "{review}"
        );
        assert_eq!(review["shown_text"], Value::Null, "nobody is shown it");
        let audit = review["audit"].as_array().unwrap();
        assert_eq!(audit.len(), 1, "{review}");
        assert_eq!(
            (audit[0]["action"].clone(), audit[0]["actor"].clone()),
            (json!("message.held"), json!("intake"))
        );
        assert!(audit[0]["at"].as_str().unwrap().ends_with('Z'));

        Call::get("/api/v1/moderation/999999")
            .bearer(MODERATOR.2)
            .send(router)
            .await
            .problem(404, "not-found");
    }

    pub async fn approve_and_reject(router: &axum::Router, env: &TestEnv) {
        let n = env.open_ticket(MARIA, "Lot 12").await;
        let first = from_maria(env, n, HELD_TEXT).await;
        let approve = |id: i64, body: Option<Value>| {
            post(&format!("/api/v1/moderation/{id}/approve"), body).bearer(MODERATOR.2)
        };
        let reject = |id: i64, body: Value| {
            post(&format!("/api/v1/moderation/{id}/reject"), Some(body))
                .bearer(common::http::ADMIN.2)
        };
        approve(first, Some(json!({ "show": "everything" })))
            .send(router)
            .await
            .problem(422, "invalid");
        approve(first, Some(json!({ "shown": "masked" })))
            .send(router)
            .await
            .problem(422, "invalid");

        let decided = ok(approve(first, Some(json!({ "show": "redacted" })))
            .send(router)
            .await);
        assert_eq!(decided["moderation"], "approved_redacted");
        assert_eq!(decided["conversation"], n);
        assert_eq!(
            (decided["status"].clone(), decided["status_changed"].clone()),
            (json!("awaiting_seller"), json!(true))
        );
        assert_eq!(decided["notifications"], 1, "the seller is told");
        let entries = history(env, n).await;
        let decision = entries
            .iter()
            .find(|e| e.0 == "moderation.approved")
            .expect("audited");
        assert_eq!(
            (decision.1.as_str(), &decision.2),
            ("key:mods", &json!({ "text": "redacted" }))
        );
        let review = ok(Call::get(&format!("/api/v1/moderation/{first}"))
            .bearer(MODERATOR.2)
            .send(router)
            .await);
        assert_eq!(
            review["shown_text"],
            "Call me on [contact removed], I pay by [payment removed]."
        );
        // Decided already.
        let again = approve(first, None)
            .send(router)
            .await
            .problem(409, "conflict");
        assert_eq!(again["moderation"], "approved_redacted", "{again}");
        reject(first, json!({ "reason": "late" }))
            .send(router)
            .await
            .problem(409, "conflict");

        // No body (or `null`): the default, masked.
        let second = from_maria(env, n, HELD_TEXT).await;
        let decided = ok(approve(second, None).send(router).await);
        assert_eq!(decided["moderation"], "approved");
        let third = from_maria(env, n, HELD_TEXT).await;
        let decided = ok(approve(third, Some(Value::Null)).send(router).await);
        assert_eq!(decided["moderation"], "approved");

        // Rejected: its author gets the notice, unless silent.
        let third = from_maria(env, n, HELD_TEXT).await;
        reject(third, json!({ "reason": "  " }))
            .send(router)
            .await
            .problem(422, "invalid");
        reject(third, json!({}))
            .send(router)
            .await
            .problem(422, "invalid");
        let decided = ok(
            reject(third, json!({ "reason": "No payment off the platform." }))
                .send(router)
                .await,
        );
        assert_eq!(
            (
                decided["moderation"].clone(),
                decided["notifications"].clone()
            ),
            (json!("rejected"), json!(1))
        );
        assert_eq!(decided.get("no_notice"), None);
        let (action, actor, detail) = history(env, n)
            .await
            .into_iter()
            .find(|e| e.0 == "moderation.rejected")
            .unwrap();
        assert_eq!(
            (action.as_str(), actor.as_str()),
            ("moderation.rejected", "key:ops")
        );
        assert_eq!(detail["reason"], "No payment off the platform.");
        let fourth = from_maria(env, n, HELD_TEXT).await;
        let decided = ok(reject(fourth, json!({ "reason": "No.", "silent": true }))
            .send(router)
            .await);
        assert_eq!(
            (
                decided["notifications"].clone(),
                decided["no_notice"].clone()
            ),
            (json!(0), json!("silent"))
        );
        approve(fourth, None)
            .send(router)
            .await
            .problem(409, "conflict");

        // Nothing to redact: a stranger's plain text on Maria's address.
        let to = env.reply_address(n, MARIA).await;
        let Outcome::Stored { message: stray, .. } = env
            .deliver(
                &Mail::new(MALLORY, &to, "Re: Lot 12").body("Is it genuine?\n"),
                &[&to],
            )
            .await
        else {
            panic!("stored")
        };
        let p = approve(stray, Some(json!({ "show": "redacted" })))
            .send(router)
            .await
            .problem(422, "invalid");
        assert!(
            p["detail"].as_str().unwrap().contains("nothing to redact"),
            "{p}"
        );
        approve(999_999, None)
            .send(router)
            .await
            .problem(404, "not-found");
    }
}
