//! The automatic answers to clients (`ack`, `after_hours`) and forwarding
//! (`transcript`): the outbox rows intake and `Store::forward` write, on
//! every backend, with time under the test's control.

#[macro_use]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use common::*;
use parley::config::{Config, HoursConfig};
use parley::intake::replies::Clock;
use parley::intake::{Decision, Intake, Outcome};
use parley::store::{Forward, Forwarding, Moderation, Notification, Posted, StoreError};
use parley::tickets::{Role, Status};
use serde_json::json;

/// A time the test sets and the intake reads.
#[derive(Clone)]
struct TestClock(Arc<AtomicI64>);

impl TestClock {
    fn at(text: &str) -> TestClock {
        let clock = TestClock(Arc::new(AtomicI64::new(0)));
        clock.set(text);
        clock
    }

    fn set(&self, text: &str) {
        let t: jiff::Timestamp = text.parse().expect("an RFC 3339 time");
        self.0.store(t.as_millisecond(), Ordering::SeqCst);
    }

    fn ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    fn clock(&self) -> Clock {
        let now = self.0.clone();
        Clock::from_fn(move || {
            jiff::Timestamp::from_millisecond(now.load(Ordering::SeqCst)).expect("in range")
        })
    }
}

/// An intake over `env`'s store with the desk changed by `desk` and time
/// read from `clock`.
fn intake_with(env: &TestEnv, clock: &TestClock, desk: impl FnOnce(&mut Config)) -> Intake {
    let mut config = env.config.clone();
    desk(&mut config);
    config.validate().expect("the changed config is valid");
    Intake::new(&config, SECRET.as_bytes(), env.intake.shared_store()).with_clock(clock.clock())
}

/// The desk works Monday to Friday, 09:00 to 17:00 UTC (the defaults).
fn office_hours(config: &mut Config) {
    config.queues[0].hours = Some(HoursConfig::default());
}

async fn deliver(intake: &Intake, mail: &Mail) -> (i64, i64) {
    match intake.deliver(mail.bytes(), &envelope(&[])).await {
        Ok(Outcome::Stored {
            ticket, message, ..
        }) => (ticket, message),
        other => panic!("expected the message stored, got {other:?}"),
    }
}

async fn rows(env: &TestEnv, ticket: i64, kind: &str) -> Vec<Notification> {
    let all = env.store().notifications(ticket).await.unwrap();
    all.into_iter().filter(|n| n.kind == kind).collect()
}

/// 2026-11-21 is a Saturday.
async fn after_hours(env: &TestEnv) {
    let clock = TestClock::at("2026-11-21T10:00:00Z");
    let intake = intake_with(env, &clock, office_hours);

    // Saturday: the client who opens a ticket is told, once.
    let (ticket, first) = deliver(&intake, &Mail::new(MARIA, DESK, "Lot 12")).await;
    let maria = env.participant(ticket, MARIA).await;
    let replies = rows(env, ticket, "after_hours").await;
    assert_eq!(replies.len(), 1, "{}: {replies:?}", env.backend);
    let reply = &replies[0];
    assert_eq!(reply.recipient, MARIA);
    assert_eq!(reply.participant, maria.id);
    assert_eq!(reply.message, Some(first));
    assert_eq!(reply.created_at, clock.ms(), "stamped by intake's clock");
    assert_eq!(reply.state, "pending");
    assert!(reply.message_id.starts_with(&reply.token));
    // The seller side is notified as always; no acknowledgement (no greeting).
    assert_eq!(rows(env, ticket, "new_message").await.len(), 1);
    assert!(rows(env, ticket, "ack").await.is_empty());

    // Again within the window: no second reply.
    let to_ticket = env.reply_address(ticket, MARIA).await;
    clock.set("2026-11-21T20:00:00Z");
    deliver(&intake, &Mail::new(MARIA, &to_ticket, "Re: Lot 12")).await;
    assert_eq!(rows(env, ticket, "after_hours").await.len(), 1);

    // Her mailbox's auto-reply, past the window and still outside hours:
    // stored, never answered.
    clock.set("2026-11-22T12:00:00Z");
    let away =
        Mail::new(MARIA, &to_ticket, "Out of office").header("Auto-Submitted", "auto-replied");
    deliver(&intake, &away).await;
    assert_eq!(rows(env, ticket, "after_hours").await.len(), 1);

    // Monday 10:00, open: no reply.
    clock.set("2026-11-23T10:00:00Z");
    deliver(&intake, &Mail::new(MARIA, &to_ticket, "Re: Lot 12")).await;
    assert_eq!(rows(env, ticket, "after_hours").await.len(), 1);

    // Monday 18:00, closed, more than a day after the first reply: another.
    clock.set("2026-11-23T18:00:00Z");
    let (_, late) = deliver(&intake, &Mail::new(MARIA, &to_ticket, "Re: Lot 12")).await;
    let replies = rows(env, ticket, "after_hours").await;
    assert_eq!(replies.len(), 2, "{}: {replies:?}", env.backend);
    assert_eq!(replies[1].message, Some(late));
    assert_eq!(replies[1].created_at, clock.ms());
    assert_ne!(replies[0].message_id, replies[1].message_id);

    // The seller side writing at night is not answered.
    let agent_address = env.reply_address(ticket, AGENT).await;
    clock.set("2026-11-25T22:00:00Z");
    deliver(&intake, &Mail::new(AGENT, &agent_address, "Re: Lot 12")).await;
    assert_eq!(rows(env, ticket, "after_hours").await.len(), 2);
}

/// Messages committed in one transaction (the group commit of `parley
/// serve` uses `post_many`) see each other's replies: a burst at night is
/// answered once.
async fn after_hours_in_one_batch(env: &TestEnv) {
    let clock = TestClock::at("2026-11-20T12:00:00Z");
    let intake = intake_with(env, &clock, office_hours);
    let (ticket, _) = deliver(&intake, &Mail::new(BOB, DESK, "Lot 7")).await;
    assert!(
        rows(env, ticket, "after_hours").await.is_empty(),
        "open at noon"
    );
    clock.set("2026-11-20T23:00:00Z");
    let to_ticket = env.reply_address(ticket, BOB).await;
    let mut posts = Vec::new();
    for i in 0..3 {
        let mail = Mail::new(BOB, &to_ticket, &format!("Re: Lot 7 ({i})"));
        let plan = intake.plan(&mail.bytes(), &envelope(&[])).await.unwrap();
        let Decision::Post(post) = plan.decision else {
            panic!("{}: expected a post, got {:?}", env.backend, plan.decision);
        };
        assert!(
            post.replies.after_hours.is_some(),
            "each asks for the reply"
        );
        posts.push(*post);
    }
    let posted = env
        .store()
        .post_many(&posts, intake.minter())
        .await
        .unwrap();
    assert_eq!(posted.len(), 3);
    let replies = rows(env, ticket, "after_hours").await;
    assert_eq!(replies.len(), 1, "{}: {replies:?}", env.backend);
    let first = match &posted[0] {
        Posted::Stored { message, .. } => *message,
        other => panic!("{other:?}"),
    };
    assert_eq!(replies[0].message, Some(first));
}

#[tokio::test]
async fn after_hours_replies_on_every_backend() {
    on_every_backend!(after_hours);
    on_every_backend!(after_hours_in_one_batch);
}

async fn acknowledgements(env: &TestEnv) {
    let clock = TestClock::at("2026-11-20T12:00:00Z");
    let greet = |config: &mut Config| {
        config.queues[0].greeting = "Thank you for writing to the desk.".into();
        office_hours(config);
    };
    let intake = intake_with(env, &clock, greet);

    // A new ticket in working hours: acknowledged, to the client alone.
    let (ticket, first) = deliver(&intake, &Mail::new(MARIA, DESK, "Lot 12")).await;
    let acks = rows(env, ticket, "ack").await;
    assert_eq!(acks.len(), 1, "{}: {acks:?}", env.backend);
    assert_eq!(acks[0].recipient, MARIA);
    assert_eq!(acks[0].message, Some(first));
    assert_eq!(acks[0].participant, env.participant(ticket, MARIA).await.id);
    assert!(rows(env, ticket, "after_hours").await.is_empty());

    // Her next message on it: no acknowledgement.
    let to_ticket = env.reply_address(ticket, MARIA).await;
    deliver(&intake, &Mail::new(MARIA, &to_ticket, "Re: Lot 12")).await;
    assert_eq!(rows(env, ticket, "ack").await.len(), 1);

    // The books queue has no greeting.
    let (books, _) = deliver(&intake, &Mail::new(MARIA, BOOKS, "A book")).await;
    assert!(rows(env, books, "ack").await.is_empty());

    // A held message opens its ticket unanswered: no mail to a sender the
    // policy stopped.
    let held = Mail::new(BOB, DESK, "Payment").body("Can I pay with Zelle instead?\n");
    let (ticket, message) = deliver(&intake, &held).await;
    let stored = env.store().message(message).await.unwrap().unwrap();
    assert_eq!(stored.moderation, Moderation::Held, "{}", env.backend);
    assert!(env.store().notifications(ticket).await.unwrap().is_empty());

    // Outside hours the after-hours reply stands for the acknowledgement.
    clock.set("2026-11-20T20:00:00Z");
    let (ticket, _) = deliver(&intake, &Mail::new(BOB, DESK, "Lot 13")).await;
    assert!(rows(env, ticket, "ack").await.is_empty());
    assert_eq!(rows(env, ticket, "after_hours").await.len(), 1);
}

#[tokio::test]
async fn acknowledgements_on_every_backend() {
    on_every_backend!(acknowledgements);
}

const BOSS: &str = "boss@hq.example";

async fn forwarding(env: &TestEnv) {
    let store = env.store();
    let ticket = env.open_ticket(MARIA, "Lot 12").await;
    let first = store.messages(ticket).await.unwrap()[0].id;
    let forward = |to: &str, note: Option<&str>| Forward {
        ticket,
        to: to.into(),
        note: note.map(String::from),
        actor: "ops".into(),
    };
    let minter = env.intake.minter();

    let done = store
        .forward(&forward(BOSS, Some("Please answer her.")), minter)
        .await
        .unwrap();
    let Forwarding::Forwarded {
        participant,
        added: true,
        notification,
        message: Some(covered),
    } = done
    else {
        panic!("{}: expected a new participant, got {done:?}", env.backend);
    };
    assert_eq!(covered, first);
    let boss = env.participant(ticket, BOSS).await;
    assert_eq!((boss.id, boss.role), (participant, Role::Staff));
    let sent = rows(env, ticket, "transcript").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].id, notification);
    assert_eq!(sent[0].recipient, BOSS);
    assert_eq!(sent[0].participant, participant);
    assert_eq!(sent[0].message, Some(first));
    let audit = store.audit(ticket).await.unwrap();
    let entry = audit
        .iter()
        .find(|a| a.action == "ticket.forwarded")
        .unwrap();
    assert_eq!(entry.actor, "ops");
    assert_eq!(
        entry.detail,
        json!({ "to": BOSS, "note": "Please answer her." })
    );
    // The status and assignee stay.
    assert_eq!(env.status(ticket).await, Status::Open);

    // Again: the participant is reused, a fresh transcript row is written.
    let again = store.forward(&forward(BOSS, None), minter).await.unwrap();
    assert!(
        matches!(again, Forwarding::Forwarded { participant: p, added: false, .. } if p == participant),
        "{again:?}"
    );
    let sent = rows(env, ticket, "transcript").await;
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0].message_id, sent[1].message_id);

    // The client is refused, and nothing is written.
    let before = env.counts().await;
    let refused = store.forward(&forward(MARIA, None), minter).await.unwrap();
    assert_eq!(refused, Forwarding::IsClient);
    assert_eq!(env.counts().await, before);
    let missing = Forward {
        ticket: 999,
        ..forward(BOSS, None)
    };
    assert!(matches!(
        store.forward(&missing, minter).await,
        Err(StoreError::NotFound(_))
    ));

    // The boss answers the transcript by mail: the seller side speaks.
    let to = format!("reply+{}@{REPLY_DOMAIN}", sent[0].token);
    let answer = Mail::new(BOSS, &to, "Re: Lot 12")
        .header("In-Reply-To", &format!("<{}>", sent[0].message_id))
        .body("We ship on Monday.\n");
    let Outcome::Stored {
        ticket: landed,
        message,
        new_ticket: false,
    } = env.deliver(&answer, &[]).await
    else {
        panic!("{}: the answer was not stored", env.backend);
    };
    assert_eq!(landed, ticket);
    assert_eq!(env.status(ticket).await, Status::AwaitingClient);
    let told: Vec<_> = rows(env, ticket, "new_message")
        .await
        .into_iter()
        .filter(|n| n.message == Some(message))
        .map(|n| n.recipient)
        .collect();
    assert_eq!(told, [MARIA]);
}

#[tokio::test]
async fn forwarding_on_every_backend() {
    on_every_backend!(forwarding);
}

/// `parley tickets forward` as an operator runs it, and the answer of the
/// address it was forwarded to, by mail through `parley ingest`.
#[test]
fn forward_through_the_cli() {
    let cli = common::cli::Cli::new();
    cli.expect(0, &["ingest"], &Mail::new(MARIA, DESK, "Lot 12").bytes());

    // Refusals: a bad address (64), no such ticket (1), the client (77).
    fn forward(to: &str) -> Vec<&str> {
        vec!["tickets", "forward", "1", "--to", to]
    }
    cli.expect(64, &forward("not an address"), b"");
    // parley's own addresses would loop: an intake address, a reply address.
    cli.expect(64, &forward(BOOKS), b"");
    cli.expect(64, &forward(&format!("reply+abc@{REPLY_DOMAIN}")), b"");
    cli.expect(1, &["tickets", "forward", "9", "--to", BOSS], b"");
    cli.expect(77, &forward(MARIA), b"");
    let long = "x".repeat(4001);
    cli.expect(64, &[&forward(BOSS)[..], &["--note", &long]].concat(), b"");
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(shown["participants"].as_array().unwrap().len(), 2);

    let done = cli.json(
        &[
            &forward("Boss@HQ.example")[..],
            &[
                "--note",
                "She asks about shipping.",
                "--as",
                "ops",
                "--json",
            ],
        ]
        .concat(),
    );
    assert_eq!(done["ticket"], 1);
    assert_eq!(done["to"], BOSS);
    assert_eq!(done["note"], "She asks about shipping.");
    assert_eq!(done["added"], true);
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    let first = shown["messages"][0]["id"].clone();
    assert_eq!(done["message"], first);
    let boss = shown["participants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["address"] == BOSS)
        .expect("the boss joined the ticket");
    assert_eq!(boss["role"], "staff");
    assert_eq!(done["participant"], boss["id"]);
    let transcript = shown["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "transcript")
        .expect("a transcript row")
        .clone();
    assert_eq!(transcript["id"], done["notification"]);
    assert_eq!(transcript["recipient"], BOSS);
    assert_eq!(transcript["message"], first);
    let entry = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["action"] == "ticket.forwarded")
        .expect("the forward is in the history")
        .clone();
    assert_eq!(entry["actor"], "ops");
    assert_eq!(
        entry["detail"],
        json!({ "to": BOSS, "note": "She asks about shipping." })
    );

    // Printed for people, too; forwarding again reuses the participant.
    let text = cli.expect(0, &forward(BOSS), b"");
    assert!(text.contains(&format!("forwarded to {BOSS}")), "{text}");
    assert!(!text.contains("joins"), "{text}");

    // The boss answers the transcript: on the ticket, for the seller side.
    let token = transcript["token"].as_str().unwrap();
    let address = cli.expect(0, &["tickets", "reply-address", "1", BOSS], b"");
    assert_eq!(address.trim(), format!("reply+{token}@{REPLY_DOMAIN}"));
    let answer = Mail::new(BOSS, address.trim(), "Re: [#1] Lot 12").body("We ship on Monday.\n");
    cli.expect(0, &["ingest"], &answer.bytes());
    let shown = cli.json(&["tickets", "show", "1", "--json"]);
    assert_eq!(shown["ticket"]["status"], "awaiting_client");
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[1]["author"], boss["id"]);
    let told: Vec<&str> = shown["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["kind"] == "new_message" && n["message"] == messages[1]["id"])
        .map(|n| n["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(told, [MARIA]);
}
