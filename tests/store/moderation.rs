//! Held messages and the moderators' decisions (`ModerationStore`).

use parley::store::{Approval, Moderate, Moderation, Ruling, StoreError, TicketFilter};
use serde_json::json;

use super::*;

#[tokio::test]
async fn held_messages_and_moderation() {
    on_every_backend!(moderation_story);
}

async fn moderation_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    // A ticket opened by a held message: stored with its verdict, nobody
    // notified, one message.held audit entry.
    let mut held = opening(desk, MARIA, "m1");
    held.notify = false;
    held.policy = PolicyRecord {
        action: "hold".into(),
        hits: json!([{ "rule": "venmo", "category": "payment", "field": "reply_text",
                       "start": 6, "end": 11, "text": "venmo", "action": "hold" }])
        .to_string(),
        redacted_text: Some("hello [payment removed]".into()),
        masked_text: None,
        held: true,
    };
    let (ticket, message, _, notifications) = stored(post(store, minter, &held).await);
    assert!(notifications.is_empty());
    // A ticket opened by a held message is nobody's work yet.
    assert!(store.pool(None).await.unwrap().is_empty());
    let open = store.tickets(&TicketFilter::default()).await.unwrap();
    assert!(open.is_empty(), "{}: {open:?}", env.backend);
    let all = TicketFilter {
        include_held: true,
        ..TicketFilter::default()
    };
    assert_eq!(store.tickets(&all).await.unwrap().len(), 1);
    let waiting = store.held().await.unwrap();
    assert_eq!(waiting.len(), 1);
    let m = &waiting[0];
    assert_eq!((m.id, m.moderation), (message, Moderation::Held));
    assert_eq!(m.policy_action, "hold");
    assert_eq!(m.redacted_text.as_deref(), Some("hello [payment removed]"));
    let hits: serde_json::Value = serde_json::from_str(&m.policy_hits).unwrap();
    assert_eq!(hits[0]["rule"], "venmo");
    let actions: Vec<String> = store
        .audit(ticket)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(actions, ["ticket.created", "message.held"]);

    // Approved redacted: the seller side is notified, the status moves.
    let approve = Moderate {
        message,
        ruling: Ruling::Approve {
            shows: Approval::Redacted,
        },
        actor: "mod-ana".into(),
        status: Some(Status::AwaitingSeller),
    };
    let queued = store.moderate(&approve, minter).await.unwrap();
    assert_eq!(queued.len(), 1);
    let rows = store.notifications(ticket).await.unwrap();
    assert_eq!(
        (rows[0].recipient.as_str(), rows[0].kind.as_str()),
        (AGENT, "new_message")
    );
    assert_eq!(env.ticket(ticket).await.status, Status::AwaitingSeller);
    assert!(store.held().await.unwrap().is_empty());
    let m = store.message(message).await.unwrap().unwrap();
    assert_eq!(m.moderation, Moderation::ApprovedRedacted);
    assert_eq!(store.pool(None).await.unwrap().len(), 1, "approved: work");
    // A second decision is a conflict, and changes nothing.
    let again = store.moderate(&approve, minter).await.unwrap_err();
    assert!(matches!(again, StoreError::Conflict(_)), "{again:?}");
    assert_eq!(store.notifications(ticket).await.unwrap().len(), 1);

    // Rejected: only the author gets a notice; the status is the one
    // decided (closed: the ticket was never anyone's work).
    let mut rude = opening(desk, MARIA, "m2");
    rude.notify = false;
    rude.policy = PolicyRecord {
        action: "hold".into(),
        held: true,
        ..PolicyRecord::default()
    };
    let (ticket, message, _, _) = stored(post(store, minter, &rude).await);
    let reject = Moderate {
        message,
        ruling: Ruling::Reject {
            reason: "insults".into(),
            no_notice: None,
        },
        actor: "mod-ana".into(),
        status: Some(Status::Closed),
    };
    store.moderate(&reject, minter).await.unwrap();
    let rows = store.notifications(ticket).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].recipient.as_str(), rows[0].kind.as_str()),
        (MARIA, "moderation_rejected")
    );
    assert_eq!(env.ticket(ticket).await.status, Status::Closed);
    let audit = store.audit(ticket).await.unwrap();
    let decided = &audit[audit.len() - 2];
    assert_eq!(
        (decided.action.as_str(), decided.actor.as_str()),
        ("moderation.rejected", "mod-ana")
    );
    assert_eq!(decided.detail["reason"], "insults");
    assert_eq!(decided.detail["notice"], true);
    assert_eq!(audit.last().unwrap().action, "status.changed");
    assert_eq!(store.moderated().await.unwrap().len(), 2);

    // Rejected without a notice (spam): nothing queued, the entry says why.
    let mut spam = opening(desk, MALLORY, "m3");
    spam.notify = false;
    spam.policy = PolicyRecord {
        action: "hold".into(),
        held: true,
        ..PolicyRecord::default()
    };
    let (spam_ticket, spam_message, _, _) = stored(post(store, minter, &spam).await);
    let silent = Moderate {
        message: spam_message,
        ruling: Ruling::Reject {
            reason: "spam".into(),
            no_notice: Some("spam_model"),
        },
        actor: "mod-ana".into(),
        status: None,
    };
    assert!(store.moderate(&silent, minter).await.unwrap().is_empty());
    assert!(store.notifications(spam_ticket).await.unwrap().is_empty());
    let last = store.audit(spam_ticket).await.unwrap().pop().unwrap();
    assert_eq!(
        (&last.detail["notice"], &last.detail["no_notice"]),
        (&json!(false), &json!("spam_model"))
    );
    let missing = Moderate {
        message: 9999,
        ..reject
    };
    assert!(matches!(
        store.moderate(&missing, minter).await,
        Err(StoreError::NotFound(_))
    ));
}
