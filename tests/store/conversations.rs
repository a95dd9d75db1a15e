//! The conversation list, unread counts and read markers
//! (`ConversationStore`, `ReadStore`): who sees which conversation in the
//! list, the newest message they may see, their unread count — checked
//! against the rule itself (`access::counts_as_unread` over the messages)
//! for every person — the horizon that only moves forward with its
//! `read.marked` event, the filters and keyset paging.

use parley::access::{self, TicketFacts, Viewer};
use parley::store::{Audience, ConversationFilter, Direction, StoreError};

use super::*;

#[tokio::test]
async fn lists_and_unread_counts() {
    on_every_backend!(conversations_story);
}

/// A message on `ticket` by participant `author`, arrived by mail.
fn mail_from(ticket: i64, author: i64, key: &str) -> Post {
    let mut post = answer(ticket, author, None, key);
    post.direction = Direction::Inbound;
    post.reply_text = format!("mail {key}");
    post
}

fn filter(limit: i64) -> ConversationFilter {
    ConversationFilter {
        archived: Some(false),
        limit,
        ..ConversationFilter::default()
    }
}

/// `address`'s unread count on `ticket` by the rule of `crate::access`.
async fn by_the_rule(store: &dyn Store, ticket: i64, address: &str) -> i64 {
    let t = store.ticket(ticket).await.unwrap().unwrap();
    let people = store.participants(ticket).await.unwrap();
    let staff = store.queue(&t.queue).await.unwrap().unwrap().staff;
    let facts = TicketFacts {
        ticket: &t,
        participants: &people,
        queue_staff: &staff,
    };
    let Some(access) = access::access(Viewer::Person { address }, facts) else {
        return 0;
    };
    let horizon = store.horizon(ticket, address).await.unwrap().unwrap_or(0);
    let messages = store.messages(ticket).await.unwrap();
    messages
        .iter()
        .filter(|m| m.id > horizon && access::counts_as_unread(access, m))
        .count() as i64
}

async fn numbers(store: &dyn Store, viewer: Viewer<'_>, filter: &ConversationFilter) -> Vec<i64> {
    let rows = store.conversations(viewer, filter).await.unwrap();
    rows.iter().map(|r| r.ticket.number).collect()
}

async fn conversations_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let books = store.queue("books").await.unwrap().unwrap().id;
    let people = [MARIA, AGENT, BOB, CLERK, MALLORY];

    // A: Maria at the desk. Her first mail, the agent's answer, a held
    // message of hers, another mail of hers.
    let (a, first, ..) = stored(post(store, minter, &opening(desk, MARIA, "c1")).await);
    let maria = env.participant(a, MARIA).await.id;
    let agent = env.participant(a, AGENT).await.id;
    let (_, reply, ..) = stored(post(store, minter, &answer(a, agent, None, "c2")).await);
    let mut held = mail_from(a, maria, "c3");
    held.notify = false;
    held.policy = PolicyRecord {
        action: "hold".into(),
        held: true,
        ..PolicyRecord::default()
    };
    let (_, held_id, ..) = stored(post(store, minter, &held).await);
    let (_, again, ..) = stored(post(store, minter, &mail_from(a, maria, "c4")).await);
    // B: Bob at books (the clerk serves it without sitting in it).
    let (b, ..) = stored(post(store, minter, &opening(books, BOB, "c5")).await);

    // Unread, by the store and by the rule, for everyone.
    for ticket in [a, b] {
        for who in people {
            assert_eq!(
                store.unread(ticket, who).await.unwrap(),
                by_the_rule(store, ticket, who).await,
                "#{ticket} for {who}"
            );
        }
    }
    // Mail that arrived counts; her own never; her held message not for
    // the agent.
    assert_eq!(store.unread(a, AGENT).await.unwrap(), 2);
    assert_eq!(store.unread(a, MARIA).await.unwrap(), 1);
    assert_eq!(store.unread(b, CLERK).await.unwrap(), 1);

    // Who sees what in the list, newest activity first.
    let all = filter(50);
    assert_eq!(numbers(store, Viewer::Moderator, &all).await, [b, a]);
    assert_eq!(numbers(store, Viewer::Marketplace, &all).await, [b, a]);
    let person = |address| Viewer::Person { address };
    assert_eq!(numbers(store, person(MARIA), &all).await, [a]);
    assert_eq!(numbers(store, person(AGENT), &all).await, [b, a]);
    assert_eq!(numbers(store, person(CLERK), &all).await, [b]);
    assert!(numbers(store, person(MALLORY), &all).await.is_empty());

    // Each row: the newest message the viewer may see, their unread count.
    let rows = store.conversations(person(AGENT), &all).await.unwrap();
    let row_a = &rows[1];
    assert_eq!(row_a.last.as_ref().map(|m| m.id), Some(again));
    assert_eq!(row_a.unread, 2);
    assert_eq!(row_a.viewer_row.map(|(id, _)| id), Some(agent));
    assert_eq!(
        row_a.client.as_ref().map(|(a, _, _)| a.as_str()),
        Some(MARIA)
    );
    let rows = store.conversations(Viewer::Moderator, &all).await.unwrap();
    assert_eq!(rows[1].unread, 0, "a moderator has no horizon");
    assert_eq!(rows[1].last.as_ref().map(|m| m.id), Some(again));

    // Read markers: forward only, each move one event for the reader.
    let marked = store.mark_read(a, AGENT, first).await.unwrap();
    assert_eq!((marked.horizon, marked.moved), (first, true));
    let newest = store.newest_event().await.unwrap();
    let event = store.events_after(newest - 1, 1).await.unwrap().remove(0);
    assert_eq!(
        (event.kind.as_str(), event.ticket, event.message),
        ("read.marked", a, Some(first))
    );
    assert_eq!(
        event.audience,
        Audience::Reader {
            address: AGENT.into()
        }
    );
    assert_eq!(store.unread(a, AGENT).await.unwrap(), 1);
    let back = store.mark_read(a, AGENT, first).await.unwrap();
    assert_eq!((back.horizon, back.moved), (first, false));
    assert_eq!(store.newest_event().await.unwrap(), newest, "no event");
    store.mark_read(a, AGENT, held_id).await.unwrap();
    let back = store.mark_read(a, AGENT, reply).await.unwrap();
    assert_eq!((back.horizon, back.moved), (held_id, false), "never back");
    assert_eq!(store.horizon(a, AGENT).await.unwrap(), Some(held_id));
    assert_eq!(store.unread(a, AGENT).await.unwrap(), 1);
    assert!(matches!(
        store.mark_read(b, AGENT, first).await,
        Err(StoreError::NotFound(_))
    ));
    for who in people {
        assert_eq!(
            store.unread(a, who).await.unwrap(),
            by_the_rule(store, a, who).await,
            "{who} after marking"
        );
    }
    assert_eq!(store.unread_all(AGENT).await.unwrap(), [(b, 1), (a, 1)]);
    assert_eq!(store.unread_all(MARIA).await.unwrap(), [(a, 1)]);
    assert!(store.unread_all(MALLORY).await.unwrap().is_empty());

    // Keyset paging: one at a time, every row once.
    let mut seen = Vec::new();
    let mut page = filter(1);
    loop {
        let rows = store.conversations(Viewer::Moderator, &page).await.unwrap();
        let Some(row) = rows.first() else { break };
        seen.push(row.ticket.number);
        page.after = Some((row.ticket.updated_at, row.ticket.number));
    }
    assert_eq!(seen, [b, a]);

    // Filters.
    let by = |f: ConversationFilter| f;
    let queue = by(ConversationFilter {
        queue: Some("books".into()),
        ..filter(50)
    });
    assert_eq!(numbers(store, Viewer::Moderator, &queue).await, [b]);
    let who = by(ConversationFilter {
        participant: Some(MARIA.into()),
        ..filter(50)
    });
    assert_eq!(numbers(store, Viewer::Moderator, &who).await, [a]);
    let listing = by(ConversationFilter {
        listing: Some("item-7".into()),
        ..filter(50)
    });
    assert_eq!(numbers(store, Viewer::Moderator, &listing).await, [b, a]);
    let other = by(ConversationFilter {
        listing: Some("item-8".into()),
        ..filter(50)
    });
    assert!(numbers(store, Viewer::Moderator, &other).await.is_empty());
    let t = store.ticket(a).await.unwrap().unwrap();
    let month = by(ConversationFilter {
        created: Some((t.created_at, t.created_at + 1)),
        ..filter(50)
    });
    assert!(numbers(store, Viewer::Moderator, &month).await.contains(&a));

    // Deleted: out of the list; the seller side's trash, not the client's.
    store
        .file(&parley::store::File {
            ticket: a,
            filing: parley::store::Filing::Delete,
            actor: AGENT.into(),
        })
        .await
        .unwrap();
    assert_eq!(numbers(store, person(AGENT), &all).await, [b]);
    let trash = by(ConversationFilter {
        deleted: true,
        archived: None,
        ..filter(50)
    });
    assert_eq!(numbers(store, person(AGENT), &trash).await, [a]);
    assert!(numbers(store, person(MARIA), &trash).await.is_empty());
    assert!(numbers(store, person(MARIA), &all).await.is_empty());
    assert_eq!(numbers(store, Viewer::Moderator, &trash).await, [a]);
    assert_eq!(store.unread_all(AGENT).await.unwrap(), [(b, 1)]);
}
