//! The store's side of the outbox worker (`OutboxStore`): claim under a
//! lease, expiry, sent, deferred and given up, failed, release, retry; a
//! batch's sent rows recorded together; the throttles' reads and writes;
//! which Message-IDs References may name; a batch's reads.

use parley::intake::Outcome;
use parley::store::{OutboxState, StoreError, now_ms};

use super::*;

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
        outbox_ids(&store.claim_outbox(now, now + MINUTE, 1).await.unwrap()),
        [a]
    );
    assert_eq!(
        outbox_ids(&store.claim_outbox(now, now + MINUTE, 10).await.unwrap()),
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
        outbox_ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [a, b, c]
    );

    // Released (a stopping worker): claimable at once, not yet tried.
    store.release_outbox(c).await.unwrap();
    assert_eq!(
        outbox_ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [c]
    );
    assert_eq!(outbox_row(store, c).await.attempts, 0);

    // Sent: recorded once, never claimed again.
    assert!(store.outbox_sent(a, "250 2.0.0 Ok", later).await.unwrap());
    assert!(!store.outbox_sent(a, "250 again", later).await.unwrap());
    let sent = outbox_row(store, a).await;
    assert_eq!(sent.state, OutboxState::Sent);
    assert_eq!(sent.sent_at, Some(later));
    assert_eq!(sent.last_reply.as_deref(), Some("250 2.0.0 Ok"));
    assert_eq!(sent.attempts, 1, "sent at the first try: one try");

    // Deferred: not due before next_attempt_at, due after it.
    let due = later + 10_000;
    let state = store.outbox_deferred(b, "421 busy", due, 0).await.unwrap();
    assert_eq!(state, Some(OutboxState::Pending));
    let deferred = outbox_row(store, b).await;
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
        outbox_ids(&store.claim_outbox(due, due + MINUTE, 10).await.unwrap()),
        [b]
    );
    // Older than the maximum age: given up.
    let state = store
        .outbox_deferred(b, "421 still busy", due, i64::MAX)
        .await
        .unwrap();
    assert_eq!(state, Some(OutboxState::Failed));
    assert_eq!(outbox_row(store, b).await.attempts, 2);

    // Permanent: failed with the reply, not claimed again.
    assert!(
        store
            .outbox_failed(c, "550 5.1.1 no such user")
            .await
            .unwrap()
    );
    let failed = outbox_row(store, c).await;
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
    assert_eq!(outbox_ids(&listed), [b, c]);

    // Retry: a failed row is pending and due again; others are refused.
    store.retry_outbox(c, far).await.unwrap();
    assert_eq!(
        outbox_ids(&store.claim_outbox(far, far + MINUTE, 10).await.unwrap()),
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
    let claimed = outbox_ids(&store.claim_outbox(now, now + MINUTE, 10).await.unwrap());
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
        let r = outbox_row(store, id).await;
        assert_eq!(r.state, OutboxState::Sent);
        assert_eq!(r.sent_at, Some(later));
        assert_eq!(r.attempts, 1, "sent at the first try: one try");
        let reply = format!("250 2.0.0 Ok: queued as {queued}");
        assert_eq!(r.last_reply.as_deref(), Some(reply.as_str()));
    }
    let failed = outbox_row(store, b).await;
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
        outbox_ids(&store.claim_outbox(now, now + MINUTE, 1).await.unwrap()),
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
    assert_eq!(outbox_ids(&store.outbox_coalesced(c).await.unwrap()), [b]);
    store.outbox_postpone(&[c], now + MINUTE).await.unwrap();
    assert!(
        store
            .claim_outbox(now, now + MINUTE, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let later = now + MINUTE;
    assert_eq!(
        outbox_ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [c],
        "the carrier alone"
    );
    assert_eq!(
        outbox_row(store, c).await.attempts,
        0,
        "a postponement is no attempt"
    );

    // The carrier fails: so does what it carried; a retry brings both back.
    assert!(store.outbox_failed(c, "550 5.1.1 gone").await.unwrap());
    assert_eq!(store.outbox_settle_coalesced(c).await.unwrap(), 1);
    let carried = outbox_row(store, b).await;
    assert_eq!(carried.state, OutboxState::Failed);
    assert_eq!(carried.last_reply.as_deref(), Some("550 5.1.1 gone"));
    store.retry_outbox(c, later).await.unwrap();
    assert_eq!(outbox_row(store, b).await.state, OutboxState::Pending);
    assert_eq!(
        outbox_ids(&store.claim_outbox(later, later + MINUTE, 10).await.unwrap()),
        [c]
    );
    assert!(store.outbox_sent(c, "250 queued", later).await.unwrap());
    assert_eq!(store.outbox_settle_coalesced(c).await.unwrap(), 1);
    let carried = outbox_row(store, b).await;
    assert_eq!(carried.state, OutboxState::Sent);
    assert_eq!(carried.sent_at, Some(later));
    assert_eq!(carried.coalesced_into, Some(c));
    // Refused once, sent at the second try: so were the rows it carried.
    assert_eq!(
        (outbox_row(store, c).await.attempts, carried.attempts),
        (2, 2)
    );
    assert_eq!(store.outbox_settle_coalesced(c).await.unwrap(), 0);
    // One mail for b and c: two in all.
    assert_eq!(
        store.outbox_sent_since(AGENT, 0).await.unwrap(),
        (2, Some(now))
    );
}

/// 3,000 pending notifications on a ticket of `env`, statistics never
/// gathered (a new table, or a backlog behind a dead relay); their ids.
async fn pending_backlog(env: &TestEnv, db: &mut sqlx::PgConnection) -> Vec<i64> {
    let ticket = env.open_ticket(MARIA, "Lamp").await;
    let agent = env.participant(ticket, AGENT).await.id;
    sqlx::query_scalar(
        "INSERT INTO outbox (ticket, participant, recipient, token, message_id, kind, created_at) \
         SELECT $1, $2, $3, 'token', 'backlog-' || i, 'new_message', 0 \
         FROM generate_series(1, 3000) i RETURNING id",
    )
    .bind(ticket)
    .bind(agent)
    .bind(AGENT)
    .fetch_all(db)
    .await
    .expect("a backlog")
}

/// Coalescing rows finds them by id and by carrier, never by state (as
/// `… AND state = 'pending'`, PostgreSQL without statistics read every
/// pending row by the state index for each row coalesced: the backlog
/// the throttle coalesces in); and it takes what the rows carried along.
#[tokio::test]
async fn coalescing_reads_the_rows_by_id() {
    use sqlx::Connection;
    let Some((env, mut db)) = postgres_env().await else {
        return;
    };
    let store = env.store();
    let ids = pending_backlog(&env, &mut db).await;
    // Row 200 carried row 201 already; 202 was sent and stays as it is.
    for (set, id) in [
        (format!("coalesced_into = {}", ids[200]), ids[201]),
        ("state = 'sent'".to_string(), ids[202]),
    ] {
        sqlx::query(&format!("UPDATE outbox SET {set} WHERE id = $1"))
            .bind(id)
            .execute(&mut db)
            .await
            .expect("the rows as they were");
    }
    let before = index_reads(&mut db, "outbox").await;
    store
        .outbox_coalesce(&ids[200..203], ids[300])
        .await
        .unwrap();
    let read = index_reads_since(&mut db, "outbox", &before).await;
    let by_state = reads_of_others(&read, &["outbox_pkey", "outbox_coalesced"]);
    assert!(by_state == 0, "coalescing 3 rows read {read:?}");
    let carried: Vec<i64> = store
        .outbox_coalesced(ids[300])
        .await
        .unwrap()
        .iter()
        .map(|row| row.id)
        .collect();
    assert_eq!(carried, ids[200..202]);
    assert!(store.outbox_coalesced(ids[200]).await.unwrap().is_empty());
    let _ = db.close().await;
}

/// Postponing rows finds them by their ids, whatever the planner believes
/// of the pending ones. As `state = 'pending' AND id IN (…)`, PostgreSQL,
/// its statistics not gathered yet, read every pending row by the state
/// index and filtered the ids (8 ms for 32 rows among 6,000, growing with
/// a backlog). Counted by the indexes' `idx_tup_read`.
#[tokio::test]
async fn postponing_reads_the_rows_by_id() {
    use sqlx::Connection;
    let Some((env, mut db)) = postgres_env().await else {
        return;
    };
    let store = env.store();
    let ids = pending_backlog(&env, &mut db).await;
    let held = &ids[100..108];
    let before = index_reads(&mut db, "outbox").await;
    let until = now_ms() + HOUR;
    store.outbox_postpone(held, until).await.unwrap();
    let read = index_reads_since(&mut db, "outbox", &before).await;
    let by_state = reads_of_others(&read, &["outbox_pkey"]);
    assert!(
        read["outbox_pkey"] <= 8 && by_state == 0,
        "postponing 8 rows read {read:?}"
    );
    for &id in held {
        assert_eq!(outbox_row(store, id).await.next_attempt_at, until);
    }
    assert_eq!(outbox_row(store, ids[99]).await.next_attempt_at, 0);
    let _ = db.close().await;
}

#[tokio::test]
async fn throttles_on_every_backend() {
    on_every_backend!(throttles);
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
