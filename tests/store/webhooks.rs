//! Webhooks (`WebhookStore`): a cursor per webhook into the event log,
//! deliveries queued in the transaction that moves it (only the kinds
//! asked for, only what the marketplace may see), claimed under a lease,
//! recorded, retried, given up; a new webhook starts at the end of the
//! log; two queuers never queue an event twice.

use parley::store::{DeliveryState, PolicyRecord, StoreError, WebhookDelivery, WebhookSummary};
use parley::webhooks::payload;

use super::*;

const KINDS: [&str; 3] = ["message.created", "ticket.status", "message.moderated"];

#[tokio::test]
async fn webhook_deliveries() {
    on_every_backend!(webhooks_story);
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

async fn deliveries(store: &dyn Store, webhook: &str) -> Vec<WebhookDelivery> {
    store
        .webhook_deliveries(Some(webhook), None, 100)
        .await
        .unwrap()
}

async fn summary(store: &dyn Store, webhook: &str) -> WebhookSummary {
    let all = store.webhook_summaries().await.unwrap();
    all.into_iter()
        .find(|s| s.webhook == webhook)
        .unwrap_or_else(|| panic!("no summary of {webhook}"))
}

async fn webhooks_story(env: &TestEnv) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    let now = parley::store::now_ms();
    assert_eq!(store.start_webhook("shop", now).await.unwrap(), 0);

    // A ticket opens: ticket.created (not asked for) and message.created.
    let (ticket, first, _, _) = stored(post(store, minter, &opening(desk, MARIA, "w1")).await);
    let queued = store
        .queue_webhook("shop", &KINDS, &payload, now, 100)
        .await
        .unwrap();
    assert_eq!((queued.read, queued.queued), (2, 1), "{}", env.backend);
    let rows = deliveries(store, "shop").await;
    assert_eq!(rows.len(), 1);
    let created = &rows[0];
    assert_eq!(created.kind, "message.created");
    assert_eq!(created.state, DeliveryState::Pending);
    assert_eq!(created.attempts, 0);
    let body: serde_json::Value = serde_json::from_str(&created.payload).unwrap();
    assert_eq!(body["id"], created.event);
    assert_eq!(body["kind"], "message.created");
    assert_eq!(body["ticket"], ticket);
    assert_eq!(body["message"], first);
    assert_eq!(body["actor"], MARIA, "the marketplace sees the actor");
    let newest = store.newest_event().await.unwrap();
    assert_eq!(summary(store, "shop").await.cursor, Some(newest));
    // Caught up: nothing read, nothing queued twice.
    let again = store
        .queue_webhook("shop", &KINDS, &payload, now, 100)
        .await
        .unwrap();
    assert_eq!((again.read, again.queued), (0, 0));

    // A webhook met now starts at the end of the log: no history.
    assert_eq!(store.start_webhook("late", now).await.unwrap(), newest);
    assert_eq!(
        store.start_webhook("late", now).await.unwrap(),
        newest,
        "started once"
    );
    // Queuing an unknown webhook starts it too, queuing nothing.
    let fresh = store
        .queue_webhook("fresh", &KINDS, &payload, now, 100)
        .await
        .unwrap();
    assert_eq!(fresh.queued, 0);
    assert_eq!(summary(store, "fresh").await.cursor, Some(newest));

    // A held message's events are not the marketplace's to see; a status
    // change is.
    stored(post(store, minter, &held(opening(desk, BOB, "w2"))).await);
    store
        .set_status(ticket, Status::Resolved, "cli")
        .await
        .unwrap();
    for hook in ["shop", "late"] {
        let queued = store
            .queue_webhook(hook, &KINDS, &payload, now, 100)
            .await
            .unwrap();
        assert_eq!((queued.read, queued.queued), (3, 1), "{hook}");
        let rows = deliveries(store, hook).await;
        assert_eq!(rows.last().unwrap().kind, "ticket.status", "{hook}");
    }
    // Pages: a limit reads that many, the cursor moves past them alone.
    stored(post(store, minter, &opening(desk, MARIA, "w3")).await);
    let page = store
        .queue_webhook("late", &KINDS, &payload, now, 1)
        .await
        .unwrap();
    assert_eq!((page.read, page.queued), (1, 0), "ticket.created first");
    let page = store
        .queue_webhook("late", &KINDS, &payload, now, 1)
        .await
        .unwrap();
    assert_eq!((page.read, page.queued), (1, 1));
    store
        .queue_webhook("shop", &KINDS, &payload, now, 100)
        .await
        .unwrap();

    claims_and_records(env, now).await;
    two_queuers_queue_once(env, now).await;
}

/// The worker's side: lease, record, retry, give up, re-queue.
async fn claims_and_records(env: &TestEnv, now: i64) {
    let store = env.store();
    let rows = deliveries(store, "shop").await;
    assert_eq!(rows.len(), 3, "{}", env.backend);
    let lease = now + 60_000;
    let claimed = store
        .claim_webhook_deliveries("shop", now, lease, 2)
        .await
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        [rows[0].id, rows[1].id],
        "in event order"
    );
    let third = store
        .claim_webhook_deliveries("shop", now, lease, 10)
        .await
        .unwrap();
    assert_eq!(third.len(), 1, "leased ones are not claimed again");
    assert!(
        store
            .claim_webhook_deliveries("shop", now, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A worker that stops releases what it did not try.
    store.release_webhook_delivery(third[0].id).await.unwrap();
    let third = store
        .claim_webhook_deliveries("shop", now, lease, 10)
        .await
        .unwrap();
    assert_eq!(third.len(), 1);
    // A lease that ran out (the worker died): claimed again.
    let again = store
        .claim_webhook_deliveries("shop", lease, lease + 60_000, 10)
        .await
        .unwrap();
    assert_eq!(again.len(), 3, "at least once, never zero times");

    let (a, b, c) = (rows[0].id, rows[1].id, rows[2].id);
    assert!(store.webhook_delivered(a, now + 5).await.unwrap());
    assert!(!store.webhook_delivered(a, now + 6).await.unwrap(), "once");
    // A failed try: tried again later; not claimed before.
    let state = store
        .webhook_deferred(b, "HTTP 500 Internal Server Error", now + 7, now + 1_000, 0)
        .await
        .unwrap();
    assert_eq!(state, Some(DeliveryState::Pending));
    assert!(
        store
            .claim_webhook_deliveries("shop", now + 999, lease * 2, 10)
            .await
            .unwrap()
            .iter()
            .all(|d| d.id != b)
    );
    let due = store
        .claim_webhook_deliveries("shop", now + 1_000, now + 2_000, 10)
        .await
        .unwrap();
    assert!(due.iter().any(|d| d.id == b && d.attempts == 1));
    // Too old: given up.
    let state = store
        .webhook_deferred(b, "connection refused", now + 8, now + 9_000, now + 1)
        .await
        .unwrap();
    assert_eq!(state, Some(DeliveryState::Failed));
    assert_eq!(
        store
            .webhook_deferred(b, "late", now + 9, now + 9_000, 0)
            .await
            .unwrap(),
        None,
        "recorded only while pending"
    );
    // 410 Gone: failed at once.
    assert!(
        store
            .webhook_failed(c, "HTTP 410 Gone", now + 10)
            .await
            .unwrap()
    );

    let s = summary(store, "shop").await;
    assert_eq!((s.pending, s.delivered, s.failed), (0, 1, 2));
    assert_eq!(s.last_error.as_deref(), Some("HTTP 410 Gone"));
    assert_eq!(s.last_error_ms, Some(now + 10));
    let rows = deliveries(store, "shop").await;
    assert_eq!(rows[0].delivered_ms, Some(now + 5));
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(rows[1].last_error.as_deref(), Some("connection refused"));
    assert_eq!(rows[1].attempts, 2);
    let failed = store
        .webhook_deliveries(None, Some(DeliveryState::Failed), 100)
        .await
        .unwrap();
    assert_eq!(failed.len(), 2);

    // Re-queued by hand: one, then every failed one of a webhook.
    store.retry_webhook_delivery(b, now + 11).await.unwrap();
    assert!(matches!(
        store.retry_webhook_delivery(a, now).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.retry_webhook_delivery(99_999, now).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        store
            .retry_failed_webhook_deliveries(Some("late"), now)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .retry_failed_webhook_deliveries(Some("shop"), now + 12)
            .await
            .unwrap(),
        1
    );
    let s = summary(store, "shop").await;
    assert_eq!((s.pending, s.delivered, s.failed), (2, 1, 0));
    let due = store
        .claim_webhook_deliveries("shop", now + 12, now + 20_000, 10)
        .await
        .unwrap();
    assert_eq!(due.iter().map(|d| d.id).collect::<Vec<_>>(), [b, c]);
}

/// Two instances queuing the same webhook at once (PostgreSQL runs them
/// concurrently; SQLite's writer one after the other): every event once.
async fn two_queuers_queue_once(env: &TestEnv, now: i64) {
    let (store, minter) = (env.store(), env.intake.minter());
    let desk = desk_id(store).await;
    store.start_webhook("twin", now).await.unwrap();
    for i in 0..20 {
        stored(post(store, minter, &opening(desk, MARIA, &format!("t{i}"))).await);
    }
    let queue = || store.queue_webhook("twin", &KINDS, &payload, now, 7);
    for _ in 0..10 {
        let (a, b) = tokio::join!(queue(), queue());
        a.unwrap();
        b.unwrap();
    }
    let rows = deliveries(store, "twin").await;
    let mut events: Vec<i64> = rows.iter().map(|d| d.event).collect();
    events.dedup();
    assert_eq!(events.len(), 20, "{}: {rows:?}", env.backend);
    assert_eq!(rows.len(), 20);
}
