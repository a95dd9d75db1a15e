//! The outbox: the throttles' sifting of a claimed batch, the composed
//! notification (headers that thread the answer back and keep loops away),
//! and `parley serve` delivering to a real SMTP peer, Postfix's `smtp-sink`
//! (in `outbox/wire.rs`), answered as Gmail and Outlook answer (in
//! `outbox/clients.rs`). The store's side of the worker (claim under a
//! lease, record, retry, the throttles' reads) is in tests/store/outbox.rs.

#[macro_use]
mod common;
#[path = "outbox/clients.rs"]
mod clients;
#[path = "outbox/wire.rs"]
mod wire;

use common::*;
use parley::intake::Outcome;
use parley::outbox::compose::{Composer, Context};
use parley::outbox::throttle::Throttle;
use parley::outbox::worker::Worker;
use parley::store::now_ms;

/// The sifting of a claimed batch: same ticket → one carrier; the ticket
/// window and the hourly cap postpone, nothing is dropped.
async fn sifting(env: &TestEnv) {
    let store = env.store();
    let lamp = env.open_ticket(MARIA, "Lamp").await;
    let maria = env.reply_address(lamp, MARIA).await;
    let again = Mail::new(MARIA, &maria, "Re: Lamp").body("Hello?");
    env.deliver(&again, &[&maria]).await;
    env.open_ticket(BOB, "Chair").await;
    env.open_ticket("carol@buyer.example", "Table").await;
    let now = now_ms();
    let claimed = store.claim_outbox(now, now + MINUTE, 10).await.unwrap();
    let [lamp1, lamp2, chair, table] = [0, 1, 2, 3].map(|i| claimed[i].id);
    let hourly = Throttle {
        ticket_ms: 0,
        recipient_per_hour: 1,
    };
    let send = hourly.sift(store, claimed, now).await.unwrap();
    assert_eq!(
        outbox_ids(&send),
        [lamp2],
        "lamp1 rides with lamp2; the chair and the table wait"
    );
    assert_eq!(outbox_row(store, lamp1).await.coalesced_into, Some(lamp2));
    // The first of the hour goes now, so the chair's and the table's wait
    // an hour.
    assert_eq!(outbox_row(store, chair).await.next_attempt_at, now + HOUR);
    assert_eq!(outbox_row(store, table).await.next_attempt_at, now + HOUR);
    assert!(store.outbox_sent(lamp2, "250 ok", now).await.unwrap());
    assert!(
        store
            .claim_outbox(now + 2000, now + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store
        .claim_outbox(now + HOUR, now + HOUR + MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(outbox_ids(&claimed), [chair, table]);
    // The hour since lamp2 is over: the chair goes, and counts, so the
    // table waits another hour.
    assert_eq!(
        outbox_ids(&hourly.sift(store, claimed, now + HOUR).await.unwrap()),
        [chair]
    );
    assert_eq!(
        outbox_row(store, table).await.next_attempt_at,
        now + 2 * HOUR
    );
    assert!(
        store
            .outbox_sent(chair, "250 ok", now + HOUR)
            .await
            .unwrap()
    );
    // A new message on the lamp within the ticket window waits for it.
    // (The cap is off from here on, as after a reload: the worker built
    // from the new configuration forgets who was held at the old cap.)
    store.outbox_forget_holds();
    let third = Mail::new(MARIA, &maria, "Re: Lamp").body("Still for sale?");
    env.deliver(&third, &[&maria]).await;
    let windowed = Throttle {
        ticket_ms: MINUTE,
        recipient_per_hour: 0,
    };
    let claimed = store
        .claim_outbox(now + 3000, now + MINUTE, 10)
        .await
        .unwrap();
    let lamp3 = claimed[0].id;
    assert!(
        windowed
            .sift(store, claimed, now + 3000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(outbox_row(store, lamp3).await.next_attempt_at, now + MINUTE);
    let claimed = store
        .claim_outbox(now + MINUTE, now + 2 * MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(
        outbox_ids(&windowed.sift(store, claimed, now + MINUTE).await.unwrap()),
        [lamp3]
    );
}

#[tokio::test]
async fn sifting_on_every_backend() {
    on_every_backend!(sifting);
}

/// Both throttles on one recipient: a row past the hourly cap waits for
/// the cap's hour, not for its ticket's shorter window first (it could
/// not go then either); a row the ticket's window holds back does not
/// count against the cap, so another ticket's row still goes.
async fn sifting_by_both(env: &TestEnv) {
    let store = env.store();
    let lamp = env.open_ticket(MARIA, "Lamp").await;
    let maria = env.reply_address(lamp, MARIA).await;
    let now = now_ms();
    let claimed = store.claim_outbox(now, now + MINUTE, 10).await.unwrap();
    let [lamp1] = outbox_ids(&claimed)[..] else {
        panic!("one row: {claimed:?}")
    };
    let both = |per_hour| Throttle {
        ticket_ms: MINUTE,
        recipient_per_hour: per_hour,
    };
    assert_eq!(
        outbox_ids(&both(1).sift(store, claimed, now).await.unwrap()),
        [lamp1]
    );
    assert!(store.outbox_sent(lamp1, "250 ok", now).await.unwrap());

    let again = Mail::new(MARIA, &maria, "Re: Lamp").body("Hello?");
    env.deliver(&again, &[&maria]).await;
    let chair_ticket = env.open_ticket(BOB, "Chair").await;
    let at = now + 1000;
    let claimed = store.claim_outbox(at, at + MINUTE, 10).await.unwrap();
    let [lamp2, chair] = outbox_ids(&claimed)[..] else {
        panic!("two rows: {claimed:?}")
    };
    // Two an hour: the lamp's window holds lamp2 back a minute, and the
    // chair's row takes the hour's second mail.
    assert_eq!(
        outbox_ids(&both(2).sift(store, claimed, at).await.unwrap()),
        [chair]
    );
    assert_eq!(outbox_row(store, lamp2).await.next_attempt_at, now + MINUTE);
    assert!(store.outbox_sent(chair, "250 ok", at).await.unwrap());
    // Bob again on the chair, within its window and past the cap: his
    // row waits for the hour since lamp1, in one step (by the chair's
    // window first, it would be claimed again in a minute only to wait
    // again).
    let bob = env.reply_address(chair_ticket, BOB).await;
    let more = Mail::new(BOB, &bob, "Re: Chair").body("And the price?");
    env.deliver(&more, &[&bob]).await;
    let at = now + 2000;
    let claimed = store.claim_outbox(at, at + MINUTE, 10).await.unwrap();
    let [chair2] = outbox_ids(&claimed)[..] else {
        panic!("one row: {claimed:?}")
    };
    assert!(both(2).sift(store, claimed, at).await.unwrap().is_empty());
    assert_eq!(outbox_row(store, chair2).await.next_attempt_at, now + HOUR);
}

#[tokio::test]
async fn sifting_by_both_on_every_backend() {
    on_every_backend!(sifting_by_both);
}

/// A recipient found at its hourly cap is held: the notifications to it
/// written meanwhile are due when the cap's hour ends, so no claim takes
/// them before (each claim and postponement of such a row was a commit on
/// the one writer, batch after batch). Another recipient's are due at
/// once, and a worker built from a new configuration forgets the hold.
async fn a_recipient_at_its_cap_is_written_due_later(env: &TestEnv) {
    let store = env.store();
    let lamp_ticket = env.open_ticket(MARIA, "Lamp").await;
    env.open_ticket(BOB, "Chair").await;
    let now = now_ms();
    let claimed = store.claim_outbox(now, now + MINUTE, 10).await.unwrap();
    let [lamp, chair] = outbox_ids(&claimed)[..] else {
        panic!("two rows: {claimed:?}")
    };
    let hourly = Throttle {
        ticket_ms: 0,
        recipient_per_hour: 1,
    };
    assert_eq!(
        outbox_ids(&hourly.sift(store, claimed, now).await.unwrap()),
        [lamp]
    );
    assert!(store.outbox_sent(lamp, "250 ok", now).await.unwrap());
    assert_eq!(outbox_row(store, chair).await.next_attempt_at, now + HOUR);

    // The agent is at the cap until now + HOUR: a new ticket's row to the
    // agent is written due then, and a claim before takes nothing.
    let table_ticket = env.open_ticket("carol@buyer.example", "Table").await;
    let row_of = |ticket: i64, to: &'static str| async move {
        let rows = store.outbox(None, 100).await.unwrap();
        rows.into_iter()
            .rfind(|r| r.ticket == ticket && r.recipient == to)
            .unwrap_or_else(|| panic!("a row to {to} on {ticket}"))
    };
    let table = row_of(table_ticket, AGENT).await;
    assert_eq!(table.next_attempt_at, now + HOUR, "{table:?}");
    assert!(
        store
            .claim_outbox(now + 2000, now + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Maria is not held: the agent's answer reaches her at once.
    let to_agent = env.reply_address(lamp_ticket, AGENT).await;
    let answer = Mail::new(AGENT, &to_agent, "Re: Lamp").body("Yes.\n");
    env.deliver(&answer, &[&to_agent]).await;
    let to_maria = row_of(lamp_ticket, MARIA).await;
    assert_eq!(to_maria.next_attempt_at, 0);
    let claimed = store
        .claim_outbox(now + 3000, now + MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(outbox_ids(&claimed), [to_maria.id]);
    assert!(
        store
            .outbox_sent(to_maria.id, "250 ok", now + 3000)
            .await
            .unwrap()
    );
    // When the hour is over, the held rows come due together.
    let claimed = store
        .claim_outbox(now + HOUR, now + HOUR + MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(outbox_ids(&claimed), [chair, table.id]);

    // A worker built from a (new) configuration forgets the hold.
    worker(env);
    let desk_ticket = env.open_ticket("dave@buyer.example", "Desk").await;
    assert_eq!(row_of(desk_ticket, AGENT).await.next_attempt_at, 0);
}

#[tokio::test]
async fn a_recipient_at_its_cap_is_written_due_later_on_every_backend() {
    on_every_backend!(a_recipient_at_its_cap_is_written_due_later);
}

/// The worker of `parley serve` over `env`'s store (composing only:
/// nothing is sent).
fn worker(env: &TestEnv) -> Worker {
    Worker::new(&env.config, SECRET.as_bytes(), env.intake.shared_store()).expect("a worker")
}

/// The Message-IDs a mail names in In-Reply-To and References, and the
/// one In-Reply-To names.
fn named_ids(bytes: &[u8]) -> (Vec<String>, Option<String>) {
    let mail = mail_parser::MessageParser::default()
        .parse(bytes)
        .expect("a mail");
    let ids = |v: &mail_parser::HeaderValue| match v {
        mail_parser::HeaderValue::Text(id) => vec![id.to_string()],
        mail_parser::HeaderValue::TextList(ids) => ids.iter().map(|i| i.to_string()).collect(),
        _ => Vec::new(),
    };
    let parent = ids(mail.in_reply_to()).pop();
    let mut all = ids(mail.references());
    all.extend(parent.clone().filter(|p| !all.contains(p)));
    (all, parent)
}

/// A notification names only Message-IDs parley issued to its recipient
/// and those of mail its recipient wrote: the other side's own Message-IDs
/// name the other side's mail host, a contact detail. Threading in the
/// recipient's client holds: each notification after the first answers
/// the recipient's own newest mail (or the last one issued to them).
async fn references_name_only_the_recipients_mail(env: &TestEnv) {
    let store = env.store();
    let first = Mail::new(MARIA, DESK, "Lamp").body("Is it for sale?\n");
    let Outcome::Stored { ticket, .. } = env.deliver(&first, &[]).await else {
        panic!("a new ticket")
    };
    let to_agent = env.reply_address(ticket, AGENT).await;
    let answer = Mail::new(AGENT, &to_agent, "Re: Lamp").body("Yes.\n");
    // Apart in time, so that "written no later than the row" is clear.
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    env.deliver(&answer, &[&to_agent]).await;
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let to_maria = env.reply_address(ticket, MARIA).await;
    let again = Mail::new(MARIA, &to_maria, "Re: Lamp").body("When?\n");
    env.deliver(&again, &[&to_maria]).await;

    let agent = env.participant(ticket, AGENT).await.id;
    let maria = env.participant(ticket, MARIA).await.id;
    let rows = store.outbox(None, 100).await.unwrap();
    let kinds: Vec<_> = rows
        .iter()
        .map(|r| (r.participant, r.kind.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [
            (agent, "new_message"),
            (maria, "new_message"),
            (agent, "new_message")
        ],
        "{rows:#?}"
    );
    let issued = |who: i64| -> Vec<String> {
        rows.iter()
            .filter(|r| r.participant == who)
            .map(|r| r.message_id.clone())
            .collect()
    };
    let worker = worker(env);
    let mut composed = Vec::new();
    for row in &rows {
        let mail = worker.compose_alone(row).await.expect("composed");
        composed.push((
            named_ids(&mail.bytes),
            String::from_utf8_lossy(&mail.bytes).into_owned(),
        ));
    }
    let maria_wrote = [first.message_id(), again.message_id()];
    let agent_wrote = [answer.message_id()];

    // To the agent about Maria's first mail: nothing of Maria's.
    let ((ids, parent), raw) = &composed[0];
    assert!(ids.is_empty() && parent.is_none(), "{ids:?}\n{raw}");
    // To Maria about the agent's answer: her own first mail, which her
    // client has in its sent folder; never the agent's Message-ID.
    let ((ids, parent), raw) = &composed[1];
    assert_eq!(ids, &[first.message_id()], "{raw}");
    assert_eq!(parent.as_deref(), Some(first.message_id()), "{raw}");
    assert!(!raw.contains(answer.message_id()), "{raw}");
    // To the agent about Maria's follow-up: what was issued to the agent
    // and the agent's own answer, never one of Maria's Message-IDs.
    let ((ids, parent), raw) = &composed[2];
    let mut want = vec![rows[0].message_id.clone(), answer.message_id().to_string()];
    want.sort();
    let mut got = ids.clone();
    got.sort();
    assert_eq!(got, want, "{raw}");
    assert_eq!(parent.as_deref(), Some(answer.message_id()), "{raw}");
    for id in maria_wrote {
        assert!(
            !composed[0].1.contains(id) && !raw.contains(id),
            "{id} named:\n{raw}"
        );
    }
    // Every ID named is the recipient's: issued to them or written by them.
    for (row, ((ids, _), raw)) in rows.iter().zip(&composed) {
        let (own, wrote): (Vec<String>, &[&str]) = if row.participant == agent {
            (issued(agent), &agent_wrote)
        } else {
            (issued(maria), &maria_wrote)
        };
        for id in ids {
            assert!(
                own.contains(id) || wrote.contains(&id.as_str()),
                "{id} is not the recipient's:\n{raw}"
            );
        }
    }
}

#[tokio::test]
async fn references_name_only_the_recipients_mail_on_every_backend() {
    on_every_backend!(references_name_only_the_recipients_mail);
}

/// The composed mail: headers, envelope, body; and a reply to its
/// Reply-To address threads back into the ticket.
#[tokio::test]
async fn composed_notification_threads_back() {
    let env = TestEnv::new(&Backend::Sqlite, |_| {}).await;
    let store = env.store();
    let first = Mail::new(MARIA, DESK, "Oak lamp").body("Is the lamp still for sale?\n");
    let Outcome::Stored {
        ticket, message, ..
    } = env.deliver(&first, &[]).await
    else {
        panic!("a new ticket")
    };
    let row = store.outbox(None, 10).await.unwrap().remove(0);
    assert_eq!(row.recipient, AGENT);
    let composer = Composer::new(&env.config, SECRET.as_bytes()).expect("composer");
    let cx = Context {
        ticket: env.ticket(ticket).await,
        queue_name: "Shop desk".into(),
        message: store.message(message).await.unwrap(),
        thread_ids: store.thread_ids(&row, 10).await.unwrap(),
        reason: None,
        participants: store.participants(ticket).await.unwrap(),
        transcript: Vec::new(),
        note: None,
        earlier: Vec::new(),
        custom: None,
    };
    let mail = composer.compose(&row, &cx).expect("composed");
    let envelope = &mail.envelope;
    let sender = envelope.from().expect("a VERP sender").to_string();
    let bounce = sender
        .strip_prefix("bounce+")
        .and_then(|s| s.strip_suffix(&format!("@{REPLY_DOMAIN}")))
        .expect("bounce+TOKEN@reply domain");
    assert_eq!(env.signer().verify_bounce(bounce).ok(), Some(row.id));
    assert_eq!(envelope.to().len(), 1);
    let bytes = mail.bytes.clone();
    let checked = wire::check_notification(&bytes, &row.message_id, &row.token, ticket);
    assert!(
        checked.body.contains("Is the lamp still for sale?"),
        "{}",
        checked.body
    );
    // The first mail to the agent starts the thread: nothing earlier is
    // the agent's, and Maria's Message-ID names her mail host.
    assert_eq!(checked.in_reply_to, "");
    assert!(!String::from_utf8_lossy(&bytes).contains(first.message_id()));

    // The agent answers: the reply lands in the ticket by its token.
    let reply = Mail::new(
        AGENT,
        &checked.reply_to,
        &format!("Re: {}", checked.subject),
    )
    .header("In-Reply-To", &format!("<{}>", row.message_id))
    .body(&format!("Yes, it is.\n\n{}", checked.body));
    match env.deliver(&reply, &[&checked.reply_to]).await {
        Outcome::Stored {
            ticket: t,
            new_ticket: false,
            ..
        } => assert_eq!(t, ticket),
        other => panic!("the reply threads back, got {other:?}"),
    }
    let messages = store.messages(ticket).await.unwrap();
    assert_eq!(messages.last().unwrap().reply_text.trim(), "Yes, it is.");
}
