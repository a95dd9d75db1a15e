//! Tickets: migrations and queues, tickets with their messages and
//! notifications, duplicates, status, listing, attachments, the pool and
//! assignment (`TicketStore`).

use parley::config::QueueConfig;
use parley::store::{
    Approval, Assign, Assignment, Moderate, Moderation, NewAttachment, Ruling, StoreError,
    TicketFilter,
};
use serde_json::json;

use super::*;

#[tokio::test]
async fn migrations_and_queues() {
    on_every_backend!(migrations_and_queues_story);
}

async fn migrations_and_queues_story(env: &TestEnv) {
    let store = env.store();
    store.migrate().await.expect("second migrate");
    store.migrate().await.expect("third migrate");
    // Opening again (as every CLI command does) migrates again, harmlessly.
    let again = parley::store::open(&env.config.store)
        .await
        .expect("reopen");
    assert!(again.queue("desk").await.unwrap().is_some());

    let created = store
        .sync_queue(&QueueConfig {
            name: "auctions".into(),
            display_name: String::new(),
            intake: vec!["Bids@Auction.Example".into(), "lots@auction.example".into()],
            staff: vec!["b@auction.example".into(), "a@auction.example".into()],
            ..QueueConfig::default()
        })
        .await
        .unwrap();
    assert_eq!(created.display_name, "auctions", "defaults to the name");
    assert_eq!(
        created.intake,
        ["bids@auction.example", "lots@auction.example"]
    );
    assert_eq!(created.staff, ["a@auction.example", "b@auction.example"]);

    let updated = store
        .sync_queue(&QueueConfig {
            name: "auctions".into(),
            display_name: "Auction house".into(),
            intake: vec!["lots@auction.example".into()],
            staff: vec!["c@auction.example".into()],
            ..QueueConfig::default()
        })
        .await
        .unwrap();
    assert_eq!(updated.id, created.id, "same queue, updated in place");
    assert_eq!(updated.display_name, "Auction house");
    assert_eq!(updated.intake, ["lots@auction.example"]);
    assert_eq!(updated.staff, ["c@auction.example"]);

    let by_intake = |a: &'static str| async move { store.queue_by_intake(a).await.unwrap() };
    assert!(by_intake("bids@auction.example").await.is_none(), "removed");
    assert_eq!(
        by_intake("lots@auction.example").await.unwrap().name,
        "auctions"
    );
    assert_eq!(by_intake(DESK).await.unwrap().name, "desk");
    assert_eq!(by_intake(BOOKS).await.unwrap().name, "books");
    assert!(
        by_intake(AGENT).await.is_none(),
        "a staff address opens nothing"
    );
    assert!(by_intake(NOBODY).await.is_none());
    assert!(store.queue("nope").await.unwrap().is_none());
}

#[tokio::test]
async fn tickets_messages_and_notifications() {
    on_every_backend!(tickets_story);
}

async fn tickets_story(env: &TestEnv) {
    let (store, minter, signer) = (env.store(), env.intake.minter(), env.signer());
    let desk = desk_id(store).await;

    // New tickets are numbered from a sequence.
    let (number, message, new, notifications) =
        stored(post(store, minter, &opening(desk, MARIA, "k1")).await);
    assert_eq!((number, new), (1, true));
    let (number, _, new, _) = stored(post(store, minter, &opening(desk, BOB, "k2")).await);
    assert_eq!((number, new), (2, true));

    let ticket = env.ticket(1).await;
    assert_eq!(
        (
            ticket.queue.as_str(),
            ticket.subject.as_str(),
            ticket.status
        ),
        ("desk", "About k1", Status::Open)
    );
    assert_eq!(ticket.item_ref.as_deref(), Some("item-7"));
    assert_eq!(ticket.item_title.as_deref(), Some("Oak sideboard"));
    assert!(!ticket.deleted && !ticket.archived);

    let people = store.participants(1).await.unwrap();
    let roles: Vec<_> = people
        .iter()
        .map(|p| (p.address.as_str(), p.role))
        .collect();
    assert_eq!(roles, [(MARIA, Role::Client), (AGENT, Role::Seller)]);
    let (client, seller) = (people[0].id, people[1].id);

    let messages = store.messages(1).await.unwrap();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(
        (m.id, m.author, m.direction),
        (message, Some(client), Direction::Inbound)
    );
    assert_eq!(m.message_id.as_deref(), Some("k1@buyer.example"));
    assert_eq!(
        (m.reply_text.as_str(), m.matched_by.as_str()),
        ("hello k1", "new")
    );
    assert!(m.raw_id.is_some(), "the raw message is linked");

    let audit = store.audit(1).await.unwrap();
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("ticket.created", "intake")
    );
    assert_eq!(audit[0].detail, json!({ "status": "open" }));

    // The client wrote: the seller side is notified, with a token for the
    // seller and a Message-ID that threads back to the ticket.
    let rows = store.notifications(1).await.unwrap();
    assert_eq!(rows.iter().map(|n| n.id).collect::<Vec<_>>(), notifications);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n = &rows[0];
    assert_eq!((n.recipient.as_str(), n.participant), (AGENT, seller));
    assert_eq!((n.ticket, n.message), (1, Some(message)));
    assert_eq!(
        (n.kind.as_str(), n.state.as_str()),
        ("new_message", "pending")
    );
    assert_eq!(signer.verify_reply(&n.token), names(1, seller));
    assert!(
        n.message_id.ends_with(&format!("@{REPLY_DOMAIN}")),
        "{}",
        n.message_id
    );
    let ids = ["unknown@x".to_string(), n.message_id.clone()];
    assert_eq!(store.ticket_by_issued_id(&ids).await.unwrap(), Some(1));
    assert_eq!(store.ticket_by_issued_id(&ids[..1]).await.unwrap(), None);
    assert_eq!(store.ticket_by_origin(desk, "k1").await.unwrap(), Some(1));
    assert_eq!(store.ticket_by_origin(desk, "k3").await.unwrap(), None);
    assert!(store.has_message(1, "k1").await.unwrap());
    assert!(!store.has_message(2, "k1").await.unwrap());

    // The seller answers: status changes, audited; the client is notified;
    // the outbound Message-ID is issued too.
    let to_client = answer(1, seller, Some(Status::AwaitingClient), "a1");
    let (_, _, new, notifications) = stored(post(store, minter, &to_client).await);
    assert!(!new);
    assert_eq!(env.status(1).await, Status::AwaitingClient);
    let audit = store.audit(1).await.unwrap();
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[1].action, "status.changed");
    assert_eq!(
        audit[1].detail,
        json!({ "from": "open", "to": "awaiting_client" })
    );
    let rows = store.notifications(1).await.unwrap();
    let to_client: Vec<_> = rows
        .iter()
        .filter(|n| notifications.contains(&n.id))
        .collect();
    assert_eq!(to_client.len(), 1);
    assert_eq!(
        (to_client[0].recipient.as_str(), to_client[0].participant),
        (MARIA, client)
    );
    assert_eq!(signer.verify_reply(&to_client[0].token), names(1, client));
    let outbound = [format!("a1@{REPLY_DOMAIN}")];
    assert_eq!(store.ticket_by_issued_id(&outbound).await.unwrap(), Some(1));

    // No status given: the status stays and nothing is audited.
    post(store, minter, &answer(1, seller, None, "a2")).await;
    assert_eq!(env.status(1).await, Status::AwaitingClient);
    assert_eq!(store.audit(1).await.unwrap().len(), 2);

    // A post to a ticket that does not exist fails and leaves nothing.
    let before = env.counts().await;
    let mut orphan = answer(999, seller, None, "a3");
    orphan.raw = Some(raw("orphan"));
    let err = store.post(&orphan, minter).await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(env.counts().await, before);
}

#[tokio::test]
async fn duplicates_are_stored_once() {
    on_every_backend!(duplicates_story);
}

async fn duplicates_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let (ticket, ..) = stored(post(store, minter, &opening(desk, MARIA, "k1")).await);
    let seller = env.participant(ticket, AGENT).await.id;
    let before = env.counts().await;

    // Same ticket and dedupe key: nothing is written, not even the status
    // change or the (different) raw bytes that came with it.
    let mut again = answer(ticket, seller, Some(Status::Closed), "k1");
    again.raw = Some(raw("the same mail, relayed once more"));
    assert_eq!(
        post(store, minter, &again).await,
        Posted::Duplicate {
            ticket: Some(ticket)
        }
    );
    assert_eq!(env.counts().await, before);
    assert_eq!(env.status(ticket).await, Status::Open);

    // A new ticket from the same message in the same queue: a duplicate,
    // naming the ticket the first delivery opened.
    let mut reopened = opening(desk, MARIA, "k1");
    reopened.raw = Some(raw("other bytes, same origin"));
    assert_eq!(
        post(store, minter, &reopened).await,
        Posted::Duplicate {
            ticket: Some(ticket)
        }
    );
    assert_eq!(env.counts().await, before);
    // ...but the same origin in another queue is another ticket.
    let books = store.queue("books").await.unwrap().unwrap().id;
    let (_, _, new, _) = stored(post(store, minter, &opening(books, MARIA, "k1")).await);
    assert!(new);

    // The same raw bytes are stored once, whatever refers to them.
    let raws = store.raw_count().await.unwrap();
    let mut a = answer(ticket, seller, None, "r1");
    a.raw = Some(raw("identical bytes"));
    let mut b = answer(ticket, seller, None, "r2");
    b.raw = Some(raw("identical bytes"));
    post(store, minter, &a).await;
    post(store, minter, &b).await;
    assert_eq!(store.raw_count().await.unwrap(), raws + 1);
    let messages = store.messages(ticket).await.unwrap();
    let linked: Vec<_> = messages.iter().rev().take(2).map(|m| m.raw_id).collect();
    assert!(linked[0].is_some() && linked[0] == linked[1], "{linked:?}");
    // In one batch too, and with bytes stored before: each message links
    // the one copy (on PostgreSQL the batch is one statement, whose
    // messages find the raw rows through the raw INSERT's RETURNING).
    let mut c = answer(ticket, seller, None, "r3");
    c.raw = Some(raw("bytes of one batch"));
    let mut d = answer(ticket, seller, None, "r4");
    d.raw = Some(raw("bytes of one batch"));
    let mut e = answer(ticket, seller, None, "r5");
    e.raw = Some(raw("identical bytes"));
    let posted = store.post_many(&[c, d, e], minter).await.unwrap();
    assert!(
        posted.iter().all(|p| matches!(p, Posted::Stored { .. })),
        "{posted:?}"
    );
    assert_eq!(store.raw_count().await.unwrap(), raws + 2);
    let messages = store.messages(ticket).await.unwrap();
    let linked: Vec<_> = messages.iter().rev().take(3).map(|m| m.raw_id).collect();
    assert!(linked[1].is_some() && linked[1] == linked[2], "{linked:?}");
    assert_eq!(linked[0], messages[messages.len() - 4].raw_id, "{linked:?}");
}

/// A new ticket is written once: its `shown` flag is set in its INSERT
/// when its first message is shown, so the trigger that keeps the flag
/// (migration 0015) changes nothing. Raised by the trigger, each fresh row
/// was rewritten, mostly with a new entry in each of the table's indexes.
#[tokio::test]
async fn a_new_ticket_is_written_once() {
    use sqlx::Connection;
    let Some((env, mut db)) = postgres_env().await else {
        return;
    };
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let before = table_stats(&mut db, ROW_WRITES, "tickets").await;
    let mut posts: Vec<Post> = (0..6)
        .map(|i| opening(desk, MARIA, &format!("once-{i}")))
        .collect();
    posts[5].policy.held = true;
    let posted = store.post_many(&posts, minter).await.expect("post_many");
    assert!(posted.iter().all(|p| matches!(
        p,
        Posted::Stored {
            new_ticket: true,
            ..
        }
    )));
    let written = table_stats_since(&mut db, ROW_WRITES, "tickets", &before).await;
    assert_eq!(written["inserted"], 6, "{written:?}");
    assert_eq!(written["updated"], 0, "{written:?}");
    // Shown or not as before: the held one is nobody's work yet.
    let shown: Vec<i64> = sqlx::query_scalar(
        "SELECT shown FROM tickets WHERE origin_key LIKE 'once-%' ORDER BY number",
    )
    .fetch_all(&mut db)
    .await
    .expect("shown");
    assert_eq!(shown, [1, 1, 1, 1, 1, 0]);
    let _ = db.close().await;
}

/// The lookup of tickets a batch's new messages may have opened already
/// (their origin keys) probes the index on (queue_id, origin_key) once
/// per key, however many tickets the queue holds and whatever the planner
/// believes. As `queue_id IN (…) AND origin_key IN (…)`, PostgreSQL, its
/// statistics not gathered yet (a new or fast-growing table), read every
/// ticket of the queue from the index and filtered the keys on the heap:
/// a quarter of a batch's time at 3,000 tickets, growing with the queue.
/// Counted by the index's `idx_tup_read`: that way it read 3,000 entries.
#[tokio::test]
async fn the_origin_lookup_reads_one_index_entry_a_key() {
    use sqlx::Connection;
    let Some((env, mut db)) = postgres_env().await else {
        return;
    };
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    // 3,000 tickets of the desk, statistics never gathered.
    sqlx::query(
        "INSERT INTO tickets (number, queue_id, subject, status, origin_key, created_at, updated_at) \
         SELECT i, $1, 'older', 'open', md5(i::text), 0, 0 FROM generate_series(1000000, 1002999) i",
    )
    .bind(desk)
    .execute(&mut db)
    .await
    .expect("older tickets");
    let before = index_reads(&mut db, "tickets").await;
    let posts: Vec<Post> = (0..8)
        .map(|i| opening(desk, MARIA, &format!("origin-{i}")))
        .collect();
    // The first batch has its eight keys in no ticket; the second, the
    // same eight, finds them all (duplicates).
    for expect_new in [true, false] {
        let posted = store.post_many(&posts, minter).await.expect("post_many");
        let new = posted
            .iter()
            .filter(|p| {
                matches!(
                    p,
                    Posted::Stored {
                        new_ticket: true,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(new, if expect_new { 8 } else { 0 }, "{posted:?}");
    }
    let read = index_reads_since(&mut db, "tickets", &before).await;
    assert!(
        read["tickets_origin"] <= 16,
        "two lookups of 8 keys read {} entries of tickets_origin ({read:?})",
        read["tickets_origin"]
    );
    let _ = db.close().await;
}

#[tokio::test]
async fn status() {
    on_every_backend!(status_story);
}

/// A status change returns the old status and is audited once.
async fn status_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let (ticket, ..) = stored(post(store, minter, &opening(desk, MARIA, "k1")).await);
    let audits = store.audit(ticket).await.unwrap().len();
    assert_eq!(
        store
            .set_status(ticket, Status::Resolved, "cli")
            .await
            .unwrap(),
        Status::Open
    );
    assert_eq!(env.status(ticket).await, Status::Resolved);
    let audit = store.audit(ticket).await.unwrap();
    assert_eq!(audit.len(), audits + 1);
    let last = audit.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("status.changed", "cli")
    );
    assert_eq!(last.detail, json!({ "from": "open", "to": "resolved" }));
    // Setting the same status again returns it and records nothing.
    let again = store
        .set_status(ticket, Status::Resolved, "cli")
        .await
        .unwrap();
    assert_eq!(again, Status::Resolved);
    assert_eq!(store.audit(ticket).await.unwrap().len(), audits + 1);
    let missing = store.set_status(999, Status::Closed, "cli").await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

#[tokio::test]
async fn ticket_listing_filters() {
    on_every_backend!(listing_story);
}

async fn listing_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let books = store.queue("books").await.unwrap().unwrap().id;
    for (queue, key) in [(desk, "d1"), (books, "b1"), (desk, "d2"), (books, "b2")] {
        post(store, minter, &opening(queue, MARIA, key)).await;
    }
    store.set_status(3, Status::Closed, "cli").await.unwrap();
    let list = |filter: TicketFilter| async move {
        let found = store.tickets(&filter).await.unwrap();
        found.iter().map(|t| t.number).collect::<Vec<_>>()
    };
    assert_eq!(
        list(TicketFilter::default()).await,
        [4, 3, 2, 1],
        "newest first"
    );
    let status = |s| TicketFilter {
        status: Some(s),
        ..TicketFilter::default()
    };
    assert_eq!(list(status(Status::Open)).await, [4, 2, 1]);
    assert_eq!(list(status(Status::Closed)).await, [3]);
    assert!(list(status(Status::Resolved)).await.is_empty());
    let queue = |q: &str| TicketFilter {
        queue: Some(q.into()),
        ..TicketFilter::default()
    };
    assert_eq!(list(queue("desk")).await, [3, 1]);
    assert_eq!(list(queue("books")).await, [4, 2]);
    assert!(list(queue("nope")).await.is_empty());
    let both = TicketFilter {
        status: Some(Status::Open),
        queue: Some("desk".into()),
        ..Default::default()
    };
    assert_eq!(list(both).await, [1]);
    let limited = TicketFilter {
        limit: 2,
        ..TicketFilter::default()
    };
    assert_eq!(list(limited).await, [4, 3]);

    // Created range [from, to): exactly the tickets created in it.
    let all = store.tickets(&TicketFilter::default()).await.unwrap();
    let first = all.iter().find(|t| t.number == 1).unwrap().created_at;
    let last = all.iter().map(|t| t.created_at).max().unwrap();
    let created = |from, to| TicketFilter {
        created: Some((from, to)),
        ..TicketFilter::default()
    };
    assert_eq!(list(created(first, last + 1)).await, [4, 3, 2, 1]);
    assert!(list(created(last + 1, i64::MAX)).await.is_empty());
    assert!(list(created(0, first)).await.is_empty());
    let at_first = list(created(first, first + 1)).await;
    assert!(at_first.contains(&1), "{at_first:?}");
    for t in all.iter().filter(|t| at_first.contains(&t.number)) {
        assert_eq!(t.created_at, first);
    }
}

/// The trait promises that a synced queue's addresses "become exactly the
/// configured ones". Move the desk's intake address to a new queue listed
/// first in the config (queues sync in config order, as at start-up): the
/// address must end up with the new queue, not with nobody.
#[tokio::test]
async fn sync_queue_moves_an_intake_address() {
    let mut wrong = Vec::new();
    for backend in backends() {
        let env = TestEnv::new(&backend, |_| {}).await;
        let store = env.store();
        let queue = |name: &str, intake: &[&str]| QueueConfig {
            name: name.into(),
            display_name: String::new(),
            intake: intake.iter().map(|a| a.to_string()).collect(),
            staff: vec![AGENT.into()],
            ..QueueConfig::default()
        };
        // Looked up once before the move (a server caches what it found):
        // the move must still show.
        let before = store.queue_by_intake(DESK).await.unwrap().map(|q| q.name);
        assert_eq!(before.as_deref(), Some("desk"), "{}", env.backend);
        let moved = store.sync_queue(&queue("desk-2", &[DESK])).await.unwrap();
        store.sync_queue(&queue("desk", &[])).await.unwrap();
        let owner = store.queue_by_intake(DESK).await.unwrap().map(|q| q.name);
        let got = (moved.intake, owner);
        if got != (vec![DESK.to_string()], Some("desk-2".to_string())) {
            wrong.push(format!(
                "{}: (desk-2 intake, owner of {DESK}) = {got:?}",
                env.backend
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "the intake address did not move: {wrong:#?}"
    );
}

#[tokio::test]
async fn attachments() {
    on_every_backend!(attachments_story);
}

fn attachment(name: &str, content: Option<&[u8]>, flags: &[&str]) -> NewAttachment {
    NewAttachment {
        filename: name.into(),
        content_type: "application/pdf".into(),
        size: content.map_or(99_999_999, |c| c.len() as i64),
        content: content.map(|c| {
            let sha = parley::intake::parse::hex(&parley::intake::parse::sha256(c));
            (sha, c.to_vec())
        }),
        content_id: None,
        inline: false,
        flags: flags.iter().map(|f| f.to_string()).collect(),
    }
}

async fn attachments_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let mut first = opening(desk, MARIA, "with-files");
    first.elided = "> the quoted history".into();
    first.signature = "Thanks,\nMaria\n--\nLopez Antiques".into();
    first.auto = "auto_reply".into();
    first.attachments = vec![
        attachment("offer.pdf", Some(b"%PDF same bytes"), &[]),
        attachment("huge.iso", None, &["too_large"]),
    ];
    let (ticket, message, ..) = stored(post(store, minter, &first).await);
    let mut second = opening(desk, "other@buyer.example", "same-file");
    second.attachments = vec![attachment(
        "copy.pdf",
        Some(b"%PDF same bytes"),
        &["executable"],
    )];
    let (other, ..) = stored(post(store, minter, &second).await);

    let files = store.attachments(ticket).await.unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(
        (files[0].message, files[0].filename.as_str()),
        (message, "offer.pdf")
    );
    let sha = files[0].sha256.clone().expect("kept");
    assert_eq!(
        store.attachment_bytes(&sha).await.unwrap().as_deref(),
        Some(&b"%PDF same bytes"[..])
    );
    assert_eq!(
        (files[1].sha256.as_deref(), files[1].size),
        (None, 99_999_999)
    );
    assert_eq!(files[1].flags, ["too_large"]);
    let copy = store.attachments(other).await.unwrap();
    assert_eq!(
        copy[0].sha256.as_deref(),
        Some(sha.as_str()),
        "one content, two messages"
    );
    assert_eq!(copy[0].flags, ["executable"]);
    let m = store.messages(ticket).await.unwrap().remove(0);
    assert_eq!(
        (m.auto.as_str(), m.elided.as_str(), m.signature.as_str()),
        (
            "auto_reply",
            "> the quoted history",
            "Thanks,\nMaria\n--\nLopez Antiques"
        )
    );
}

#[tokio::test]
async fn pool_and_assignment() {
    on_every_backend!(assignment_story);
}

fn assign(ticket: i64, address: &str, actor: &str, replace: bool) -> Assign {
    Assign {
        ticket,
        address: address.into(),
        actor: actor.into(),
        replace,
    }
}

async fn assignment_story(env: &TestEnv) {
    const OPS: &str = "ops@shop.example";
    let (store, minter) = (env.store(), env.intake.minter());
    // The desk gets a second staff address, not yet on any ticket.
    store
        .sync_queue(&QueueConfig {
            name: "desk".into(),
            display_name: "Shop desk".into(),
            intake: vec![DESK.into()],
            staff: vec![AGENT.into(), OPS.into()],
            ..QueueConfig::default()
        })
        .await
        .unwrap();
    let desk = desk_id(store).await;
    let books = store.queue("books").await.unwrap().unwrap().id;
    for (queue, client, key) in [(desk, MARIA, "p1"), (desk, BOB, "p2"), (books, BOB, "p3")] {
        stored(post(store, minter, &opening(queue, client, key)).await);
    }
    let pool = |queue: Option<&'static str>| async move {
        let tickets = store.pool(queue).await.unwrap();
        tickets.iter().map(|t| t.number).collect::<Vec<_>>()
    };
    assert_eq!(pool(None).await, [1, 2, 3], "oldest first");
    assert_eq!(pool(Some("books")).await, [3]);

    // Taken by a seller-side participant: out of the pool, audited.
    let done = store.assign(&assign(1, AGENT, AGENT, false)).await.unwrap();
    assert_eq!(
        done,
        Assignment::Assigned {
            from: None,
            participant: env.participant(1, AGENT).await.id,
            added: false
        }
    );
    assert_eq!(env.ticket(1).await.assignee.as_deref(), Some(AGENT));
    assert_eq!(pool(None).await, [2, 3]);
    let last = store.audit(1).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("ticket.assigned", AGENT)
    );
    assert_eq!(last.detail, json!({ "from": null, "to": AGENT }));

    // Refusals write nothing.
    let before = (env.counts().await, store.audit(1).await.unwrap().len());
    let again = store.assign(&assign(1, AGENT, AGENT, false)).await.unwrap();
    assert_eq!(again, Assignment::Unchanged);
    let taken = store.assign(&assign(1, OPS, OPS, false)).await.unwrap();
    assert_eq!(taken, Assignment::Taken { by: AGENT.into() });
    let client = store.assign(&assign(1, MARIA, "cli", true)).await.unwrap();
    assert_eq!(client, Assignment::NotEligible, "the client side");
    let other_queue = store.assign(&assign(1, CLERK, "cli", true)).await.unwrap();
    assert_eq!(other_queue, Assignment::NotEligible, "books' staff");
    let stranger = store
        .assign(&assign(2, NOBODY, "cli", false))
        .await
        .unwrap();
    assert_eq!(stranger, Assignment::NotEligible);
    assert_eq!(
        (env.counts().await, store.audit(1).await.unwrap().len()),
        before
    );
    assert!(
        store
            .participant_by_address(1, OPS)
            .await
            .unwrap()
            .is_none()
    );
    let missing = store.assign(&assign(99, AGENT, "cli", true)).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );

    // Reassigned to a staff address of the queue: it joins as staff.
    let done = store.assign(&assign(1, OPS, "boss", true)).await.unwrap();
    let ops = env.participant(1, OPS).await;
    assert_eq!(ops.role, Role::Staff);
    assert_eq!(
        done,
        Assignment::Assigned {
            from: Some(AGENT.into()),
            participant: ops.id,
            added: true
        }
    );
    let last = store.audit(1).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("ticket.assigned", "boss")
    );
    assert_eq!(last.detail, json!({ "from": AGENT, "to": OPS }));

    // A client message now notifies the assignee alone.
    let maria = env.participant(1, MARIA).await.id;
    let (.., notifications) = stored(
        post(
            store,
            minter,
            &answer(1, maria, Some(Status::AwaitingSeller), "c1"),
        )
        .await,
    );
    let rows = store.notifications(1).await.unwrap();
    let to: Vec<_> = rows
        .iter()
        .filter(|n| notifications.contains(&n.id))
        .map(|n| (n.recipient.as_str(), n.participant))
        .collect();
    assert_eq!(to, [(OPS, ops.id)]);
    // The assignee answers: the client is notified, as always.
    let (.., notifications) = stored(post(store, minter, &answer(1, ops.id, None, "o1")).await);
    let rows = store.notifications(1).await.unwrap();
    let to: Vec<_> = rows
        .iter()
        .filter(|n| notifications.contains(&n.id))
        .map(|n| n.recipient.as_str())
        .collect();
    assert_eq!(to, [MARIA]);
    // An unassigned ticket still notifies its whole seller side.
    let bob = env.participant(2, BOB).await.id;
    let (.., notifications) = stored(post(store, minter, &answer(2, bob, None, "c2")).await);
    assert_eq!(notifications.len(), 1);

    // An approved held message goes to the assignee alone too.
    let mut held = answer(1, maria, None, "h1");
    held.notify = false;
    held.policy = PolicyRecord {
        action: "hold".into(),
        held: true,
        masked_text: Some("call [contact removed]".into()),
        ..PolicyRecord::default()
    };
    let (_, message, ..) = stored(post(store, minter, &held).await);
    let approve = Moderate {
        message,
        ruling: Ruling::Approve {
            shows: Approval::AsWritten,
        },
        actor: "mod-ana".into(),
        status: None,
    };
    let queued = store.moderate(&approve, minter).await.unwrap();
    let rows = store.notifications(1).await.unwrap();
    let to: Vec<_> = rows
        .iter()
        .filter(|n| queued.contains(&n.id))
        .map(|n| n.recipient.as_str())
        .collect();
    assert_eq!(to, [OPS]);
    let m = store.message(message).await.unwrap().unwrap();
    assert_eq!(m.moderation, Moderation::ApprovedAsWritten);
    assert_eq!(m.masked_text.as_deref(), Some("call [contact removed]"));

    // Finished tickets leave the pool.
    store.set_status(2, Status::Resolved, "cli").await.unwrap();
    assert_eq!(pool(None).await, [3]);
    assert_eq!(pool(Some("desk")).await, Vec::<i64>::new());
}
