//! Posting on a conversation (`POST …/messages`): as the client, the
//! seller side and forwarded staff; held; who may not (404, 403); a closed
//! conversation as `on_closed_reply` says.

use super::*;

/// A staff address the desk gets after the conversation opened.
const NEWCOMER: &str = "newcomer@shop.example";

#[tokio::test]
async fn posting_as_each_side() {
    for backend in backends() {
        println!("== posting_as_each_side on {}", backend.name());
        let (router, env, _dir) = door(&backend).await;
        let body = expect(
            &send(&router, PLATFORM.2, START, &start_body("Hello!")).await,
            201,
        );
        let n = body["conversation"].as_i64().unwrap();
        let path = messages_of(n);
        let text = |t: &str| json!({ "text": t });

        // The seller side, by the platform acting for the agent.
        let as_agent = format!("{path}?as={AGENT}");
        let body = expect(
            &send(&router, PLATFORM.2, &as_agent, &text("Yes, it is.")).await,
            201,
        );
        assert_eq!(body["status"], "awaiting_client");
        assert_eq!(body["new"], false);
        assert_eq!(body["notifications"], 1, "Maria is told");
        // The client, by her token.
        let maria = user_token(&router, MARIA).await;
        let body = expect(
            &send(&router, &maria, &path, &text("Great, shipping?")).await,
            201,
        );
        assert_eq!(body["status"], "awaiting_seller");
        // Staff it was forwarded to.
        let forward = json!({ "to": BOSS });
        let forwarded = send(
            &router,
            PLATFORM.2,
            &format!("/api/v1/conversations/{n}/forward"),
            &forward,
        )
        .await;
        expect(&forwarded, 200);
        let as_boss = format!("{path}?as={BOSS}");
        let body = expect(
            &send(&router, PLATFORM.2, &as_boss, &text("40 EUR to Oslo.")).await,
            201,
        );
        assert_eq!(body["status"], "awaiting_client");
        let authors: Vec<Option<i64>> = env
            .store()
            .messages(n)
            .await
            .unwrap()
            .iter()
            .map(|m| m.author)
            .collect();
        let boss = env.participant(n, BOSS).await;
        assert_eq!(authors.last(), Some(&Some(boss.id)));

        // A staff address the desk got after the conversation opened: it
        // sees it, and joins it as staff with its first message (once).
        let mut desk = env.config.queues[0].clone();
        desk.staff.push(NEWCOMER.into());
        env.store().sync_queue(&desk).await.unwrap();
        let as_newcomer = format!("{path}?as={NEWCOMER}");
        for words in ["I can help too.", "Any questions?"] {
            let answer = send(&router, PLATFORM.2, &as_newcomer, &text(words)).await;
            expect(&answer, 201);
        }
        let newcomer = env.participant(n, NEWCOMER).await;
        assert_eq!(env.role(n, NEWCOMER).await, "staff");
        let messages = env.store().messages(n).await.unwrap();
        let theirs = messages.iter().filter(|m| m.author == Some(newcomer.id));
        assert_eq!(theirs.count(), 2, "one participant, both messages");
        let maria_told = notified(&env, n).await;
        assert_eq!(
            maria_told.iter().filter(|to| *to == MARIA).count(),
            4,
            "{maria_told:?}"
        );

        // A held message: 202, the other side not told.
        let body = expect(&send(&router, &maria, &path, &text(HELD_TEXT)).await, 202);
        assert_eq!(body["moderation"]["state"], "held");

        // Who may not: a stranger does not see it (404), nor does an
        // unknown conversation; the keys that name nobody see it but do
        // not write (403).
        let mallory = user_token(&router, MALLORY).await;
        send(&router, &mallory, &path, &text("Hi"))
            .await
            .problem(404, "not-found");
        send(&router, &maria, &messages_of(n + 100), &text("Hi"))
            .await
            .problem(404, "not-found");
        send(&router, PLATFORM.2, &path, &text("Hi"))
            .await
            .problem(403, "forbidden");
        send(&router, MODERATOR.2, &path, &text("Hi"))
            .await
            .problem(403, "forbidden");
        send(&router, &maria, &path, &json!({ "text": "" }))
            .await
            .problem(422, "invalid");
        send(&router, &maria, &path, &text(REFUSED_TEXT))
            .await
            .problem(422, "invalid");

        // Closed: the default on_closed_reply reopens it.
        let closed = json!({ "status": "closed" });
        let status = send(
            &router,
            PLATFORM.2,
            &format!("/api/v1/conversations/{n}/status"),
            &closed,
        )
        .await;
        expect(&status, 200);
        let body = expect(
            &send(&router, &maria, &path, &text("One more thing")).await,
            201,
        );
        assert_eq!(body["conversation"], n);
        assert_eq!(body["status"], "awaiting_seller");
    }
}

#[tokio::test]
async fn a_closed_conversation_as_mail_would() {
    for backend in backends() {
        println!(
            "== a_closed_conversation_as_mail_would on {}",
            backend.name()
        );
        for (rule, status) in [
            (OnClosedReply::Reject, 409),
            (OnClosedReply::NewTicket, 201),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let base = tweak(dir.path());
            let (router, env) = door_on(&backend, |c| {
                base(c);
                c.tickets.on_closed_reply = rule;
            })
            .await;
            let body = expect(
                &send(&router, PLATFORM.2, START, &start_body("Hello!")).await,
                201,
            );
            let n = body["conversation"].as_i64().unwrap();
            let closed = json!({ "status": "closed" });
            let path = format!("/api/v1/conversations/{n}/status");
            expect(&send(&router, PLATFORM.2, &path, &closed).await, 200);
            let maria = user_token(&router, MARIA).await;
            let answer = send(
                &router,
                &maria,
                &messages_of(n),
                &json!({ "text": "Again" }),
            )
            .await;
            if status == 409 {
                answer.problem(409, "conflict");
                continue;
            }
            let body = expect(&answer, 201);
            let new = body["conversation"].as_i64().unwrap();
            assert_ne!(new, n, "{rule:?}: a new conversation");
            assert_eq!(body["new"], true);
            let ticket = env.ticket(new).await;
            assert_eq!(ticket.item_ref.as_deref(), Some("L-1"), "its listing kept");
            assert_eq!(ticket.subject, "Is it still available?");
        }
    }
}
