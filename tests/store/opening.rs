//! Who a post reaches besides the message itself (`TicketStore::post`): a
//! new ticket assigned at its opening (the auction's manager) tells its
//! assignee alone, audited and announced as `ticket.assigned`; a staff
//! address joining an existing ticket with its message becomes one
//! participant, however many messages it writes.

use parley::store::{EventKind, NEW_MESSAGE};

use super::*;

const MANAGER: &str = "manager@shop.example";
const NEWCOMER: &str = "newcomer@shop.example";

#[tokio::test]
async fn assigned_at_opening_and_joining_with_a_message() {
    on_every_backend!(opening_story);
}

async fn opening_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let mut first = opening(desk, MARIA, "o1");
    if let Target::New(ticket) = &mut first.target {
        ticket.participants.push(person(MANAGER, Role::Seller));
        ticket.assignee = Some(MANAGER.into());
    }
    let (ticket, _, new, notifications) = stored(post(store, minter, &first).await);
    assert!(new);
    assert_eq!(
        store
            .ticket(ticket)
            .await
            .unwrap()
            .unwrap()
            .assignee
            .as_deref(),
        Some(MANAGER)
    );
    // The manager alone is told, not the other seller.
    let rows = store.notifications(ticket).await.unwrap();
    let told: Vec<&str> = rows
        .iter()
        .filter(|n| n.kind == NEW_MESSAGE)
        .map(|n| n.recipient.as_str())
        .collect();
    assert_eq!(told, [MANAGER]);
    assert_eq!(notifications.len(), 1);
    let history = store.audit(ticket).await.unwrap();
    let assigned = history
        .iter()
        .find(|a| a.action == "ticket.assigned")
        .expect("audited");
    assert_eq!(assigned.detail["from"], serde_json::Value::Null);
    assert_eq!(assigned.detail["to"], MANAGER);
    let events = store.events_after(0, 100).await.unwrap();
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e.ticket == ticket)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            EventKind::TicketCreated.as_str(),
            EventKind::TicketAssigned.as_str(),
            EventKind::MessageCreated.as_str()
        ]
    );

    // A staff address joins with its message: a `staff` participant, the
    // message's author; its second message finds it there.
    let joining = |key: &str| {
        let mut post = answer(ticket, 0, None, key);
        post.target = Target::Existing {
            ticket,
            author: None,
            status: None,
            join: Some(NewParticipant {
                address: NEWCOMER.into(),
                display_name: None,
                user_id: Some("u-7".into()),
                role: Role::Staff,
            }),
        };
        post
    };
    let before = store.participants(ticket).await.unwrap().len();
    let (_, m1, ..) = stored(post(store, minter, &joining("o2")).await);
    let (_, m2, ..) = stored(post(store, minter, &joining("o3")).await);
    let people = store.participants(ticket).await.unwrap();
    assert_eq!(people.len(), before + 1, "joined once");
    let newcomer = people.iter().find(|p| p.address == NEWCOMER).unwrap();
    assert_eq!(newcomer.role, Role::Staff);
    assert_eq!(newcomer.user_id.as_deref(), Some("u-7"));
    for id in [m1, m2] {
        let message = store.message(id).await.unwrap().unwrap();
        assert_eq!(message.author, Some(newcomer.id));
    }
}
