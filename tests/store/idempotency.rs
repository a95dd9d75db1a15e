//! The answers kept for `Idempotency-Key` (`IdempotencyStore`): the first
//! reservation of a key wins, the same request sees it in flight and then
//! its answer, another request under the key is a mismatch, owners do not
//! share keys, a released key is free again, and a day later nothing is
//! remembered.

use parley::store::{IDEMPOTENCY_TTL_MS, Reserved};

use super::*;

#[tokio::test]
async fn idempotency_keys() {
    on_every_backend!(idempotency_story);
}

async fn idempotency_story(env: &TestEnv) {
    let store = env.store();
    let now = 1_800_000_000_000;
    let shop = "key:shop";
    let reserve = |owner: &'static str, key: &'static str, hash: &'static str, at: i64| async move {
        store.reserve(owner, key, hash, at).await.expect("reserve")
    };

    // First come: the key is this request's; the same request meanwhile
    // is in flight, another one under the key a mismatch.
    assert_eq!(reserve(shop, "k1", "h1", now).await, Reserved::Fresh);
    assert_eq!(reserve(shop, "k1", "h1", now + 1).await, Reserved::InFlight);
    assert_eq!(reserve(shop, "k1", "h2", now + 1).await, Reserved::Mismatch);
    // Another owner has keys of its own.
    assert_eq!(
        reserve("user:maria@buyer.example", "k1", "h2", now).await,
        Reserved::Fresh
    );

    // Completed: replayed as it was; still a mismatch for another request.
    store
        .complete(shop, "k1", 201, r#"{"conversation":1}"#)
        .await
        .unwrap();
    assert_eq!(
        reserve(shop, "k1", "h1", now + 2).await,
        Reserved::Done {
            status: 201,
            body: r#"{"conversation":1}"#.into()
        }
    );
    assert_eq!(reserve(shop, "k1", "h2", now + 2).await, Reserved::Mismatch);
    // Releasing a finished key changes nothing.
    store.release(shop, "k1").await.unwrap();
    assert!(matches!(
        reserve(shop, "k1", "h1", now + 3).await,
        Reserved::Done { .. }
    ));

    // Released while in flight: the next request runs.
    assert_eq!(reserve(shop, "k2", "h1", now).await, Reserved::Fresh);
    store.release(shop, "k2").await.unwrap();
    assert_eq!(reserve(shop, "k2", "h9", now + 1).await, Reserved::Fresh);

    // A day on, the key is forgotten (and pruned): a new request under it runs.
    let later = now + IDEMPOTENCY_TTL_MS + 1;
    assert_eq!(reserve(shop, "k1", "h2", later).await, Reserved::Fresh);
}
