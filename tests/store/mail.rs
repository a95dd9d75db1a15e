//! Raw mail, quarantine and bounces (`MailStore`).

use super::*;

#[tokio::test]
async fn quarantine() {
    on_every_backend!(quarantine_story);
}

/// Quarantine keeps the raw bytes with the reason, once per content.
async fn quarantine_story(env: &TestEnv) {
    let store = env.store();
    assert!(store.quarantined().await.unwrap().is_empty());
    let raws = store.raw_count().await.unwrap();
    let id = store
        .quarantine(&raw("\u{0}garbage"), "unparseable", "no header")
        .await
        .unwrap();
    let held = store.quarantined().await.unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].id, held[0].reason.as_str()), (id, "unparseable"));
    assert_eq!(held[0].detail, "no header");
    assert_eq!(store.raw_count().await.unwrap(), raws + 1, "kept raw");
    // The same bytes quarantined again keep their one entry.
    let again = store
        .quarantine(&raw("\u{0}garbage"), "unparseable", "no header")
        .await
        .unwrap();
    assert_eq!(again, id);
    assert_eq!(store.quarantined().await.unwrap().len(), 1);
}

#[tokio::test]
async fn bounces() {
    on_every_backend!(bounces_story);
}

/// A bounce of the notification to the seller side marks that address
/// failing, fails the notification and is kept in quarantine; a bounce
/// matching no notification is not recorded.
async fn bounces_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let (ticket, _, _, notified) = stored(post(store, minter, &opening(desk, MARIA, "k1")).await);
    let notification = notified[0];
    assert_eq!(
        store
            .record_bounce(999_999, &raw("stray bounce"), "550")
            .await
            .unwrap(),
        None
    );
    let quarantined = store.quarantined().await.unwrap().len();
    let bounced = store
        .record_bounce(notification, &raw("a DSN"), "550 5.1.1 no such user")
        .await
        .unwrap()
        .expect("matched");
    assert_eq!((bounced.ticket, bounced.address.as_str()), (ticket, AGENT));
    let agent = env.participant(ticket, AGENT).await;
    assert_eq!(agent.id, bounced.participant);
    assert!(agent.failing_since.is_some());
    assert!(env.participant(ticket, MARIA).await.failing_since.is_none());
    let n = store.notifications(ticket).await.unwrap();
    let n = n.iter().find(|n| n.id == notification).unwrap();
    assert_eq!(n.state, "failed");
    let held = store.quarantined().await.unwrap();
    assert_eq!(held.len(), quarantined + 1);
    assert_eq!(held.last().unwrap().reason, "bounce");
    let history = store.audit(ticket).await.unwrap();
    assert_eq!(history.last().unwrap().action, "address.bounced");
}

#[tokio::test]
async fn lookups() {
    on_every_backend!(lookups_story);
}

/// What intake asks before it writes: is this mail on the ticket already,
/// which ticket did this origin open, which ticket do these Message-IDs
/// name (ours, or a participant's own inbound mail).
async fn lookups_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let (ticket, ..) = stored(post(store, minter, &opening(desk, MARIA, "k1")).await);
    assert!(store.has_message(ticket, "k1").await.unwrap());
    assert!(!store.has_message(ticket, "k2").await.unwrap());
    assert_eq!(
        store.ticket_by_origin(desk, "k1").await.unwrap(),
        Some(ticket)
    );
    assert_eq!(store.ticket_by_origin(desk, "k2").await.unwrap(), None);

    // The opening's own Message-ID, looked up by its sender only.
    let theirs = vec![
        "nobody@else.example".to_string(),
        "k1@buyer.example".to_string(),
    ];
    assert_eq!(
        store.tickets_by_inbound_id(&theirs, MARIA).await.unwrap(),
        [("k1@buyer.example".to_string(), ticket)]
    );
    assert!(
        store
            .tickets_by_inbound_id(&theirs, NOBODY)
            .await
            .unwrap()
            .is_empty(),
        "a stranger's guess finds nothing"
    );

    // A Message-ID parley issued with a notification names its ticket.
    let issued = store.notifications(ticket).await.unwrap()[0]
        .message_id
        .clone();
    let references = vec!["unknown@else.example".to_string(), issued];
    assert_eq!(
        store.ticket_by_issued_id(&references).await.unwrap(),
        Some(ticket)
    );
    assert_eq!(
        store.ticket_by_issued_id(&references[..1]).await.unwrap(),
        None
    );
}
