//! The IMAP poller's cursors (`CursorStore`).

use super::*;

#[tokio::test]
async fn imap_cursors() {
    on_every_backend!(imap_cursors_story);
}

/// The poller's cursor: absent at first, forward only under one
/// UIDVALIDITY, replaced by a new one, one per mailbox.
async fn imap_cursors_story(env: &TestEnv) {
    use parley::store::ImapCursor;
    let store = env.store();
    let inbox = "seller@127.0.0.1:143/INBOX";
    let archive = "seller@127.0.0.1:143/Archive";
    let at = |uidvalidity, last_uid| ImapCursor {
        uidvalidity,
        last_uid,
    };
    assert_eq!(store.imap_cursor(inbox).await.unwrap(), None);
    store.set_imap_cursor(inbox, at(7, 5)).await.unwrap();
    assert_eq!(store.imap_cursor(inbox).await.unwrap(), Some(at(7, 5)));
    // A late writer with an older UID does not move it back.
    store.set_imap_cursor(inbox, at(7, 3)).await.unwrap();
    assert_eq!(store.imap_cursor(inbox).await.unwrap(), Some(at(7, 5)));
    store
        .set_imap_cursor(inbox, at(7, 4_000_000_000))
        .await
        .unwrap();
    assert_eq!(
        store.imap_cursor(inbox).await.unwrap(),
        Some(at(7, 4_000_000_000)),
        "UIDs are 32-bit unsigned: they fit"
    );
    // A new UIDVALIDITY starts over, even at a lower UID.
    store.set_imap_cursor(inbox, at(8, 1)).await.unwrap();
    assert_eq!(store.imap_cursor(inbox).await.unwrap(), Some(at(8, 1)));
    // Mailboxes are independent.
    assert_eq!(store.imap_cursor(archive).await.unwrap(), None);
    store.set_imap_cursor(archive, at(1, 2)).await.unwrap();
    assert_eq!(store.imap_cursor(inbox).await.unwrap(), Some(at(8, 1)));
}
