//! The outbox: the store's side of the worker on every backend (claim under
//! a lease, record, retry), the composed notification (headers that thread
//! the answer back and keep loops away), and `parley serve` delivering to a
//! real SMTP peer, Postfix's `smtp-sink` (in `outbox/wire.rs`), answered as
//! Gmail and Outlook answer (in `outbox/clients.rs`).

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
use parley::store::{OutboxRow, OutboxState, Store, StoreError, now_ms};

const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;

async fn row(store: &dyn Store, id: i64) -> OutboxRow {
    store
        .outbox(None, 1000)
        .await
        .expect("outbox rows")
        .into_iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("outbox row {id}"))
}

fn ids(rows: &[OutboxRow]) -> Vec<i64> {
    rows.iter().map(|r| r.id).collect()
}

/// Claim, lease, expiry, sent, deferred (and given up), failed, retry.
async fn lifecycle(env: &TestEnv) {
    let store = env.store();
    for subject in ["Lamp", "Chair", "Table"] {
        env.open_ticket(MARIA, subject).await;
    }
    let pending = store.outbox(Some(OutboxState::Pending), 100).await.unwrap();
    assert_eq!(
        pending.len(),
        3,
        "one notice to the desk's staff per ticket"
    );
    let [a, b, c] = [pending[0].id, pending[1].id, pending[2].id];
    let now = now_ms();

    // A claim takes the oldest; a lease keeps other claims off.
    assert_eq!(
        ids(&store.claim_outbox(now, now + MINUTE, 1).await.unwrap()),
        [a]
    );
    assert_eq!(
        ids(&store.claim_outbox(now, now + MINUTE, 10).await.unwrap()),
        [b, c]
    );
    assert!(
        store
            .claim_outbox(now, now + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // An expired lease (the worker died) is claimed again: never lost.
    let later = now + MINUTE;
    assert_eq!(
        ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [a, b, c]
    );

    // Released (a stopping worker): claimable at once, not yet tried.
    store.release_outbox(c).await.unwrap();
    assert_eq!(
        ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [c]
    );
    assert_eq!(row(store, c).await.attempts, 0);

    // Sent: recorded once, never claimed again.
    assert!(store.outbox_sent(a, "250 2.0.0 Ok", later).await.unwrap());
    assert!(!store.outbox_sent(a, "250 again", later).await.unwrap());
    let sent = row(store, a).await;
    assert_eq!(sent.state, OutboxState::Sent);
    assert_eq!(sent.sent_at, Some(later));
    assert_eq!(sent.last_reply.as_deref(), Some("250 2.0.0 Ok"));
    assert_eq!(sent.attempts, 1, "sent at the first try: one try");

    // Deferred: not due before next_attempt_at, due after it.
    let due = later + 10_000;
    let state = store.outbox_deferred(b, "421 busy", due, 0).await.unwrap();
    assert_eq!(state, Some(OutboxState::Pending));
    let deferred = row(store, b).await;
    assert_eq!((deferred.attempts, deferred.next_attempt_at), (1, due));
    assert_eq!(deferred.last_reply.as_deref(), Some("421 busy"));
    assert!(
        store
            .claim_outbox(due - 1, due + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store.claim_outbox(due, due + MINUTE, 10).await.unwrap()),
        [b]
    );
    // Older than the maximum age: given up.
    let state = store
        .outbox_deferred(b, "421 still busy", due, i64::MAX)
        .await
        .unwrap();
    assert_eq!(state, Some(OutboxState::Failed));
    assert_eq!(row(store, b).await.attempts, 2);

    // Permanent: failed with the reply, not claimed again.
    assert!(
        store
            .outbox_failed(c, "550 5.1.1 no such user")
            .await
            .unwrap()
    );
    let failed = row(store, c).await;
    assert_eq!(failed.state, OutboxState::Failed);
    assert_eq!(failed.last_reply.as_deref(), Some("550 5.1.1 no such user"));
    assert_eq!(failed.attempts, 1, "refused at the first try: one try");
    let far = later + 1000 * MINUTE;
    assert!(
        store
            .claim_outbox(far, far + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let listed = store.outbox(Some(OutboxState::Failed), 100).await.unwrap();
    assert_eq!(ids(&listed), [b, c]);

    // Retry: a failed row is pending and due again; others are refused.
    store.retry_outbox(c, far).await.unwrap();
    assert_eq!(
        ids(&store.claim_outbox(far, far + MINUTE, 10).await.unwrap()),
        [c]
    );
    assert!(matches!(
        store.retry_outbox(c, far).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.retry_outbox(a, far).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.retry_outbox(999_999, far).await,
        Err(StoreError::NotFound(_))
    ));
}

#[tokio::test]
async fn outbox_lifecycle_on_every_backend() {
    on_every_backend!(lifecycle);
}

/// A batch's sent rows recorded together: each with its own reply, in
/// order; a row no longer pending (failed meanwhile) left as it was and
/// not named; nothing for nothing.
async fn sent_many(env: &TestEnv) {
    let store = env.store();
    for subject in ["Lamp", "Chair", "Table"] {
        env.open_ticket(MARIA, subject).await;
    }
    let now = now_ms();
    let claimed = ids(&store.claim_outbox(now, now + MINUTE, 10).await.unwrap());
    let [a, b, c] = claimed[..] else {
        panic!("three rows claimed: {claimed:?}")
    };
    assert!(store.outbox_failed(b, "550 bounced").await.unwrap());
    assert!(store.outbox_sent_many(&[], now).await.unwrap().is_empty());

    let later = now + 1000;
    let sent = [
        (a, "250 2.0.0 Ok: queued as A".to_string()),
        (b, "250 2.0.0 Ok: queued as B".to_string()),
        (c, "250 2.0.0 Ok: queued as C".to_string()),
    ];
    assert_eq!(store.outbox_sent_many(&sent, later).await.unwrap(), [a, c]);
    for (id, queued) in [(a, "A"), (c, "C")] {
        let r = row(store, id).await;
        assert_eq!(r.state, OutboxState::Sent);
        assert_eq!(r.sent_at, Some(later));
        assert_eq!(r.attempts, 1, "sent at the first try: one try");
        let reply = format!("250 2.0.0 Ok: queued as {queued}");
        assert_eq!(r.last_reply.as_deref(), Some(reply.as_str()));
    }
    let failed = row(store, b).await;
    assert_eq!(failed.state, OutboxState::Failed);
    assert_eq!(failed.last_reply.as_deref(), Some("550 bounced"));
    // Recorded once: a second record of the same rows names none, and
    // nothing is claimable any more.
    assert!(
        store
            .outbox_sent_many(&sent, later)
            .await
            .unwrap()
            .is_empty()
    );
    let far = later + 1000 * MINUTE;
    assert!(
        store
            .claim_outbox(far, far + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn outbox_sent_many_on_every_backend() {
    on_every_backend!(sent_many);
}

/// The throttles' side of the store: what was sent lately, holding a row
/// back, coalescing rows into a carrier that settles them, retry.
async fn throttles(env: &TestEnv) {
    let store = env.store();
    let ticket = env.open_ticket(MARIA, "Lamp").await;
    let maria = env.reply_address(ticket, MARIA).await;
    for body in ["Still there?", "Hello?"] {
        let mail = Mail::new(MARIA, &maria, "Re: Lamp").body(body);
        assert!(matches!(
            env.deliver(&mail, &[&maria]).await,
            Outcome::Stored { .. }
        ));
    }
    let rows = store.outbox(None, 100).await.unwrap();
    assert_eq!(rows.len(), 3, "three notices to the agent");
    let [a, b, c] = [rows[0].id, rows[1].id, rows[2].id];
    let agent = rows[0].participant;
    let now = now_ms();
    assert_eq!(store.outbox_last_sent(ticket, agent).await.unwrap(), None);

    assert_eq!(
        ids(&store.claim_outbox(now, now + MINUTE, 1).await.unwrap()),
        [a]
    );
    assert!(store.outbox_sent(a, "250 ok", now).await.unwrap());
    assert_eq!(
        store.outbox_last_sent(ticket, agent).await.unwrap(),
        Some(now)
    );
    assert_eq!(
        store.outbox_sent_since(AGENT, now - MINUTE).await.unwrap(),
        (1, Some(now))
    );
    assert_eq!(store.outbox_sent_since(AGENT, now).await.unwrap().0, 0);
    assert_eq!(store.outbox_sent_since(MARIA, 0).await.unwrap(), (0, None));

    // b rides with c; c waits a minute: nothing is due now.
    store.outbox_coalesce(&[b], c).await.unwrap();
    assert_eq!(ids(&store.outbox_coalesced(c).await.unwrap()), [b]);
    store.outbox_postpone(c, now + MINUTE).await.unwrap();
    assert!(
        store
            .claim_outbox(now, now + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + MINUTE;
    assert_eq!(
        ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [c],
        "the carrier alone"
    );
    assert_eq!(
        row(store, c).await.attempts,
        0,
        "a postponement is no attempt"
    );

    // The carrier fails: so does what it carried; a retry brings both back.
    assert!(store.outbox_failed(c, "550 5.1.1 gone").await.unwrap());
    assert_eq!(store.outbox_settle_coalesced(c).await.unwrap(), 1);
    let carried = row(store, b).await;
    assert_eq!(carried.state, OutboxState::Failed);
    assert_eq!(carried.last_reply.as_deref(), Some("550 5.1.1 gone"));
    store.retry_outbox(c, later).await.unwrap();
    assert_eq!(row(store, b).await.state, OutboxState::Pending);
    assert_eq!(
        ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [c]
    );
    assert!(store.outbox_sent(c, "250 queued", later).await.unwrap());
    assert_eq!(store.outbox_settle_coalesced(c).await.unwrap(), 1);
    let carried = row(store, b).await;
    assert_eq!(carried.state, OutboxState::Sent);
    assert_eq!(carried.sent_at, Some(later));
    assert_eq!(carried.coalesced_into, Some(c));
    // Refused once, sent at the second try: so were the rows it carried.
    assert_eq!((row(store, c).await.attempts, carried.attempts), (2, 2));
    assert_eq!(store.outbox_settle_coalesced(c).await.unwrap(), 0);
    // One mail for b and c: two in all.
    assert_eq!(
        store.outbox_sent_since(AGENT, 0).await.unwrap(),
        (2, Some(now))
    );
}

#[tokio::test]
async fn throttles_on_every_backend() {
    on_every_backend!(throttles);
}

/// The sifting of a claimed batch: same ticket → one carrier; the ticket
/// window and the hourly cap postpone, nothing is dropped.
async fn sifting(env: &TestEnv) {
    let store = env.store();
    let lamp = env.open_ticket(MARIA, "Lamp").await;
    let maria = env.reply_address(lamp, MARIA).await;
    let again = Mail::new(MARIA, &maria, "Re: Lamp").body("Hello?");
    env.deliver(&again, &[&maria]).await;
    env.open_ticket(BOB, "Chair").await;
    let now = now_ms();
    let claimed = store.claim_outbox(now, now + MINUTE, 10).await.unwrap();
    let [lamp1, lamp2, chair] = [claimed[0].id, claimed[1].id, claimed[2].id];
    let hourly = Throttle {
        ticket_ms: 0,
        recipient_per_hour: 1,
    };
    let send = hourly.sift(store, claimed, now).await.unwrap();
    assert_eq!(
        ids(&send),
        [lamp2],
        "lamp1 rides with lamp2; the chair waits"
    );
    assert_eq!(row(store, lamp1).await.coalesced_into, Some(lamp2));
    // The first of the hour goes now, so the chair's waits an hour.
    assert_eq!(row(store, chair).await.next_attempt_at, now + HOUR);
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
    assert_eq!(ids(&claimed), [chair]);
    assert_eq!(
        ids(&hourly.sift(store, claimed, now + HOUR).await.unwrap()),
        [chair]
    );
    assert!(
        store
            .outbox_sent(chair, "250 ok", now + HOUR)
            .await
            .unwrap()
    );
    // A new message on the lamp within the ticket window waits for it.
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
    assert_eq!(row(store, lamp3).await.next_attempt_at, now + MINUTE);
    let claimed = store
        .claim_outbox(now + MINUTE, now + 2 * MINUTE, 10)
        .await
        .unwrap();
    assert_eq!(
        ids(&windowed.sift(store, claimed, now + MINUTE).await.unwrap()),
        [lamp3]
    );
}

#[tokio::test]
async fn sifting_on_every_backend() {
    on_every_backend!(sifting);
}

/// References name the recipient's own mail and the IDs issued to the
/// recipient, written no later than the row: nothing of the other side's.
async fn thread_ids(env: &TestEnv) {
    let store = env.store();
    let first = Mail::new(MARIA, DESK, "Lamp");
    let Outcome::Stored { ticket, .. } = env.deliver(&first, &[]).await else {
        panic!("a new ticket")
    };
    let to_agent = store.outbox(None, 100).await.unwrap().remove(0);
    // Nothing is the agent's yet: Maria's Message-ID names her mail host.
    assert!(store.thread_ids(&to_agent, 10).await.unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    let agent_reply = env.reply_address(ticket, AGENT).await;
    let answer = Mail::new(AGENT, &agent_reply, "Re: Lamp").body("Yes.");
    env.deliver(&answer, &[&agent_reply]).await;
    let to_maria = store.outbox(None, 100).await.unwrap().remove(1);
    assert_eq!(
        to_maria.participant,
        env.participant(ticket, MARIA).await.id
    );
    // Maria's view names her own mail, never the agent's Message-ID nor
    // the ID issued to the agent (it carries the agent's token).
    let got = store.thread_ids(&to_maria, 10).await.unwrap();
    assert_eq!(got, [first.message_id().to_string()]);
    // Written later, the agent's answer is not named by the earlier row.
    assert!(store.thread_ids(&to_agent, 10).await.unwrap().is_empty());
}

/// A batch's reads, four queries for all its rows, give what the reads
/// row by row give: tickets, participants, messages, References.
async fn batch_reads(env: &TestEnv) {
    let store = env.store();
    let lamp = env.open_ticket(MARIA, "Lamp").await;
    env.open_ticket(BOB, "Chair").await;
    // A conversation on the lamp: the agent answers, Maria writes twice.
    let agent_reply = env.reply_address(lamp, AGENT).await;
    let answer = Mail::new(AGENT, &agent_reply, "Re: Lamp").body("Yes.");
    env.deliver(&answer, &[&agent_reply]).await;
    let maria = env.reply_address(lamp, MARIA).await;
    for body in ["Great.", "When?"] {
        let mail = Mail::new(MARIA, &maria, "Re: Lamp").body(body);
        env.deliver(&mail, &[&maria]).await;
    }
    let rows = store.outbox(None, 100).await.unwrap();
    assert_eq!(rows.len(), 5, "{rows:#?}");
    // Every candidate fits the limit (rows written in one transaction share
    // a time, and the order of equals may differ between the two).
    {
        let limit = 10;
        let reads = store.batch_reads(&rows, limit).await.unwrap();
        for row in &rows {
            let mut want = store.thread_ids(row, limit).await.unwrap();
            let mut got = reads.thread_ids[&row.id].clone();
            assert!(got.len() < 10, "{got:?}");
            want.sort();
            got.sort();
            assert_eq!(got, want, "row {}", row.id);
            let ticket = store.ticket(row.ticket).await.unwrap().unwrap();
            let read = &reads.tickets[&row.ticket];
            assert_eq!(
                (read.number, &read.subject, &read.queue, read.status),
                (ticket.number, &ticket.subject, &ticket.queue, ticket.status)
            );
            let people = store.participants(row.ticket).await.unwrap();
            let read: Vec<_> = reads.participants[&row.ticket]
                .iter()
                .map(|p| (p.id, &p.address, p.role))
                .collect();
            let want: Vec<_> = people.iter().map(|p| (p.id, &p.address, p.role)).collect();
            assert_eq!(read, want);
            let id = row.message.expect("a message");
            let m = store.message(id).await.unwrap().unwrap();
            assert_eq!(reads.messages[&id].reply_text, m.reply_text);
        }
        // The later rows on the lamp name the recipient's earlier mail.
        let named = rows
            .iter()
            .filter(|r| !reads.thread_ids[&r.id].is_empty())
            .count();
        assert!(named >= 3, "{:#?}", reads.thread_ids);
    }
    assert!(store.batch_reads(&[], 10).await.unwrap().tickets.is_empty());
}

#[tokio::test]
async fn batch_reads_on_every_backend() {
    on_every_backend!(batch_reads);
}

#[tokio::test]
async fn thread_ids_on_every_backend() {
    on_every_backend!(thread_ids);
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
