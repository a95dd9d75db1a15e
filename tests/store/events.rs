//! The event log (`EventStore`): what every visible change appends, in
//! its own transaction, and that ids become visible in id order even with
//! concurrent writers.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parley::store::{Approval, Assign, Audience, Event, Forward, Moderate, Ruling, StoreError};
use serde_json::json;

use super::*;

#[tokio::test]
async fn every_visible_change_appends_its_event() {
    on_every_backend!(events_story);
}

/// The events after `after`, all of them.
async fn events_since(store: &dyn Store, after: i64) -> Vec<Event> {
    store.events_after(after, 1000).await.expect("events")
}

/// (kind, ticket, message) of each event.
fn kinds(events: &[Event]) -> Vec<(&str, i64, Option<i64>)> {
    events
        .iter()
        .map(|e| (e.kind.as_str(), e.ticket, e.message))
        .collect()
}

fn held(mut post: Post) -> Post {
    post.notify = false;
    post.policy = PolicyRecord {
        action: "hold".into(),
        hits: "[]".into(),
        redacted_text: None,
        masked_text: None,
        held: true,
    };
    post
}

async fn events_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    assert_eq!(store.newest_event().await.unwrap(), 0);
    assert!(events_since(store, 0).await.is_empty());
    let mut signal = store.event_signal();
    let desk = desk_id(store).await;

    // A new ticket: ticket.created, then its first message; the author's
    // address is the message's actor.
    let (ticket, first, _, _) = stored(post(store, minter, &opening(desk, MARIA, "e1")).await);
    assert!(signal.has_changed().unwrap(), "{}: no wake-up", env.backend);
    signal.mark_unchanged();
    let events = events_since(store, 0).await;
    assert_eq!(
        kinds(&events),
        [
            ("ticket.created", ticket, None),
            ("message.created", ticket, Some(first))
        ],
        "{}",
        env.backend
    );
    assert_eq!(events[0].data, json!({ "status": "open" }));
    assert_eq!(events[0].actor, "intake");
    assert_eq!(events[0].audience, Audience::Ticket);
    assert_eq!(
        events[1].data,
        json!({ "author_side": "client", "direction": "inbound", "held": false, "new_ticket": true })
    );
    assert_eq!(events[1].actor, MARIA);
    assert!(events[0].id < events[1].id);
    assert!(events[1].at > 0);
    assert_eq!(store.newest_event().await.unwrap(), events[1].id);
    let mut last = events[1].id;

    // A duplicate writes nothing.
    assert!(matches!(
        post(store, minter, &opening(desk, MARIA, "e1")).await,
        Posted::Duplicate { .. }
    ));
    assert!(events_since(store, last).await.is_empty());

    // The seller side answers: the message, then the status it moved.
    let agent = env.participant(ticket, AGENT).await.id;
    let reply = answer(ticket, agent, Some(Status::AwaitingClient), "e2");
    let (_, second, _, _) = stored(post(store, minter, &reply).await);
    let events = events_since(store, last).await;
    assert_eq!(
        kinds(&events),
        [
            ("message.created", ticket, Some(second)),
            ("ticket.status", ticket, Some(second))
        ]
    );
    assert_eq!(events[0].data["author_side"], "seller");
    assert_eq!(events[0].data["direction"], "outbound");
    assert_eq!(events[0].actor, AGENT);
    assert_eq!(
        events[1].data,
        json!({ "from": "open", "to": "awaiting_client" })
    );
    last = events[1].id;

    // A status set by hand, an assignment, a forward (seller side only).
    store
        .set_status(ticket, Status::Resolved, "cli")
        .await
        .unwrap();
    let assign = Assign {
        ticket,
        address: AGENT.into(),
        actor: "cli".into(),
        replace: false,
    };
    store.assign(&assign).await.unwrap();
    let forward = Forward {
        ticket,
        to: "expert@shop.example".into(),
        note: Some("a private note".into()),
        actor: AGENT.into(),
    };
    store.forward(&forward, minter).await.unwrap();
    let events = events_since(store, last).await;
    assert_eq!(
        kinds(&events),
        [
            ("ticket.status", ticket, None),
            ("ticket.assigned", ticket, None),
            ("ticket.forwarded", ticket, Some(second))
        ]
    );
    assert_eq!(
        events[0].data,
        json!({ "from": "awaiting_client", "to": "resolved" })
    );
    assert_eq!(events[0].actor, "cli");
    assert_eq!(events[1].data, json!({ "from": null, "to": AGENT }));
    assert_eq!(events[2].data, json!({ "to": "expert@shop.example" }));
    assert_eq!(events[2].audience, Audience::SellerSide);
    last = events[2].id;

    // Nothing is appended by a write that fails or changes nothing.
    store
        .set_status(ticket, Status::Resolved, "cli")
        .await
        .unwrap();
    assert!(store.set_status(999, Status::Closed, "cli").await.is_err());
    assert!(events_since(store, last).await.is_empty());

    // A ticket opened by a held message: both events for its author and
    // moderators only.
    let (other, opener, _, _) = stored(post(store, minter, &held(opening(desk, BOB, "e3"))).await);
    let events = events_since(store, last).await;
    assert_eq!(
        kinds(&events),
        [
            ("ticket.created", other, None),
            ("message.created", other, Some(opener))
        ]
    );
    let only_bob = Audience::Held {
        author: Some(BOB.into()),
    };
    assert_eq!(events[0].audience, only_bob);
    assert_eq!(events[1].audience, only_bob);
    assert_eq!(events[1].data["held"], true);
    last = events[1].id;

    // Approved: everyone on the ticket learns of it, and of the status.
    let approve = Moderate {
        message: opener,
        ruling: Ruling::Approve {
            shows: Approval::Redacted,
        },
        actor: "mod-ana".into(),
        status: Some(Status::AwaitingSeller),
    };
    store.moderate(&approve, minter).await.unwrap();
    let events = events_since(store, last).await;
    assert_eq!(
        kinds(&events),
        [
            ("message.moderated", other, Some(opener)),
            ("ticket.status", other, Some(opener))
        ]
    );
    assert_eq!(
        events[0].data,
        json!({ "decision": "approved", "shows": "redacted" })
    );
    assert_eq!(events[0].audience, Audience::Ticket);
    assert_eq!(events[0].actor, "mod-ana");
    last = events[1].id;

    // A second decision is refused and appends nothing; a rejection of
    // another held message is for its author and moderators.
    let again = store.moderate(&approve, minter).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    let bob = env.participant(other, BOB).await.id;
    let mut late = answer(other, bob, None, "e4");
    late.direction = Direction::Inbound;
    let (_, late_id, _, _) = stored(post(store, minter, &held(late)).await);
    let reject = Moderate {
        message: late_id,
        ruling: Ruling::Reject {
            reason: "no payment details".into(),
            no_notice: None,
        },
        actor: "mod-ana".into(),
        status: None,
    };
    store.moderate(&reject, minter).await.unwrap();
    let events = events_since(store, last).await;
    assert_eq!(
        kinds(&events),
        [
            ("message.created", other, Some(late_id)),
            ("message.moderated", other, Some(late_id))
        ]
    );
    assert_eq!(events[0].audience, only_bob);
    assert_eq!(events[1].audience, only_bob);
    assert_eq!(
        events[1].data,
        json!({ "decision": "rejected", "shows": null })
    );

    // Paging: after an id, at most `limit`, in id order.
    let all = events_since(store, 0).await;
    let page = store.events_after(all[2].id, 3).await.unwrap();
    assert_eq!(page, all[3..6].to_vec());
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(
        store.newest_event().await.unwrap(),
        *ids.last().unwrap(),
        "{}",
        env.backend
    );
}

/// Writers commit events concurrently while a reader polls `id > last`
/// as a live stream does: the reader must see every event, none skipped.
/// On PostgreSQL this holds only because each transaction takes the
/// event-order lock before its INSERT (without it, an id drawn earlier
/// commits after a later one the reader has already passed).
#[tokio::test]
async fn a_reader_polling_after_the_last_id_never_skips_an_event() {
    on_every_backend!(ordering_story);
}

const WRITERS: usize = 8;
const CHANGES: usize = 60;

async fn ordering_story(env: &TestEnv) {
    let store = env.intake.shared_store();
    let desk = desk_id(&*store).await;
    let minter = env.intake.minter();
    let mut tickets = Vec::new();
    for w in 0..WRITERS {
        let key = format!("order{w}");
        let (ticket, ..) = stored(post(&*store, minter, &opening(desk, MARIA, &key)).await);
        tickets.push(ticket);
    }
    let start = store.newest_event().await.unwrap();

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, done) = (store.clone(), done.clone());
        tokio::spawn(async move {
            let (mut last, mut seen) = (start, Vec::new());
            loop {
                let finished = done.load(Ordering::SeqCst);
                let page = store.events_after(last, 1000).await.expect("read");
                for event in &page {
                    seen.push(event.id);
                    last = event.id;
                }
                if finished && page.is_empty() {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut writers = Vec::new();
    for ticket in tickets {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..CHANGES {
                let status = if i % 2 == 0 {
                    Status::AwaitingClient
                } else {
                    Status::AwaitingSeller
                };
                store
                    .set_status(ticket, status, "cli")
                    .await
                    .expect("write");
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let written: BTreeSet<i64> = store
        .events_after(start, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(written.len(), WRITERS * CHANGES, "{}", env.backend);
    let read: BTreeSet<i64> = seen.iter().copied().collect();
    let skipped: Vec<&i64> = written.difference(&read).collect();
    assert!(
        skipped.is_empty(),
        "{}: the reader skipped {} of {} events: {skipped:?}",
        env.backend,
        skipped.len(),
        written.len()
    );
    assert_eq!(seen.len(), read.len(), "an event read twice");
}
