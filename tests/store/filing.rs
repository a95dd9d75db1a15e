//! Filing a ticket (`FilingStore`): soft delete and restore, archive and
//! unarchive, each with its audit entry and nothing when it was filed so
//! already; and the one rule relating status and archive, applied where a
//! status moves (a status change, a message in a batch).

use parley::store::{File, Filed, Filing, StoreError};
use serde_json::json;

use super::*;

#[tokio::test]
async fn filing_and_closing() {
    on_every_backend!(filing_story);
}

async fn filing_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let (ticket, ..) = stored(post(store, minter, &opening(desk, MARIA, "f1")).await);
    let file = |filing: Filing| File {
        ticket,
        filing,
        actor: "agent@shop.example".into(),
    };
    let entries = |audit: &[parley::store::AuditEntry]| -> Vec<(String, String)> {
        audit
            .iter()
            .map(|a| (a.action.clone(), a.actor.clone()))
            .collect()
    };
    let before = store.ticket(ticket).await.unwrap().unwrap();

    // Each filing once: changed and audited; twice: unchanged, nothing written.
    for (filing, archived, deleted) in [
        (Filing::Archive, true, false),
        (Filing::Unarchive, false, false),
        (Filing::Delete, false, true),
        (Filing::Restore, false, false),
    ] {
        assert_eq!(
            store.file(&file(filing)).await.unwrap(),
            Filed::Changed,
            "{filing:?}"
        );
        let t = store.ticket(ticket).await.unwrap().unwrap();
        assert_eq!((t.archived, t.deleted), (archived, deleted), "{filing:?}");
        assert_eq!(t.status, before.status, "{filing:?}: the status stays");
        assert_eq!(t.updated_at, before.updated_at, "{filing:?}: not activity");
        let audit = store.audit(ticket).await.unwrap();
        let last = audit.last().unwrap();
        assert_eq!(
            (last.action.as_str(), &last.detail),
            (filing.action(), &json!({})),
            "{filing:?}"
        );
        // Its event in the log, in the same transaction.
        let newest = store.newest_event().await.unwrap();
        let event = store.events_after(newest - 1, 1).await.unwrap().remove(0);
        assert_eq!(
            (event.kind.as_str(), event.ticket, event.actor.as_str()),
            (filing.event().as_str(), ticket, "agent@shop.example"),
            "{filing:?}"
        );
        assert_eq!(store.file(&file(filing)).await.unwrap(), Filed::Unchanged);
        assert_eq!(store.audit(ticket).await.unwrap().len(), audit.len());
        assert_eq!(
            store.newest_event().await.unwrap(),
            newest,
            "{filing:?}: no event twice"
        );
    }
    assert_eq!(
        entries(&store.audit(ticket).await.unwrap())[1..],
        [
            ("ticket.archived".into(), "agent@shop.example".into()),
            ("ticket.unarchived".into(), "agent@shop.example".into()),
            ("ticket.deleted".into(), "agent@shop.example".into()),
            ("ticket.restored".into(), "agent@shop.example".into()),
        ]
    );

    // A deleted ticket is not filed in the archive: restore it first.
    store.file(&file(Filing::Delete)).await.unwrap();
    for filing in [Filing::Archive, Filing::Unarchive] {
        let e = store.file(&file(filing)).await.unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{filing:?}: {e}");
    }
    assert!(
        store.pool(None).await.unwrap().is_empty(),
        "out of the pool"
    );
    store.file(&file(Filing::Restore)).await.unwrap();
    let missing = File {
        ticket: ticket + 100,
        ..file(Filing::Delete)
    };
    assert!(matches!(
        store.file(&missing).await.unwrap_err(),
        StoreError::NotFound(_)
    ));

    // Closing archives; resolving leaves it; alive again, unarchived.
    store.set_status(ticket, Status::Closed, "t").await.unwrap();
    assert!(store.ticket(ticket).await.unwrap().unwrap().archived);
    store
        .set_status(ticket, Status::Resolved, "t")
        .await
        .unwrap();
    assert!(
        store.ticket(ticket).await.unwrap().unwrap().archived,
        "resolving leaves it"
    );
    store.set_status(ticket, Status::Closed, "t").await.unwrap();
    let agent = store
        .participant_by_address(ticket, AGENT)
        .await
        .unwrap()
        .unwrap()
        .id;
    // A closing remark keeps it closed and archived …
    let remark = answer(ticket, agent, None, "f2");
    stored(post(store, minter, &remark).await);
    assert!(store.ticket(ticket).await.unwrap().unwrap().archived);
    // … a message that reopens it (a batch of posts) takes it out.
    let reopen = answer(ticket, agent, Some(Status::AwaitingClient), "f3");
    stored(post(store, minter, &reopen).await);
    let t = store.ticket(ticket).await.unwrap().unwrap();
    assert_eq!((t.status, t.archived), (Status::AwaitingClient, false));
    // Archived by hand, a status change to where it is changes nothing.
    store.file(&file(Filing::Archive)).await.unwrap();
    store
        .set_status(ticket, Status::AwaitingClient, "t")
        .await
        .unwrap();
    assert!(store.ticket(ticket).await.unwrap().unwrap().archived);
}
