//! The IMAP poller's cursors: where it stands in each mailbox, so that a
//! restart fetches from the first message not yet committed.

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::sql::get;
use super::{StoreError, now_ms};

/// The IMAP poller's place in one mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImapCursor {
    pub uidvalidity: i64,
    /// The highest UID whose message is committed.
    pub last_uid: i64,
}

#[async_trait]
pub trait CursorStore: Send + Sync {
    /// Where the poller stands in `mailbox`, if it has been there.
    async fn imap_cursor(&self, mailbox: &str) -> Result<Option<ImapCursor>, StoreError>;

    /// Records that every message up to `cursor.last_uid` under
    /// `cursor.uidvalidity` is committed. Under the same UIDVALIDITY the
    /// cursor only moves forward (a lower UID is ignored); a different
    /// UIDVALIDITY replaces it.
    async fn set_imap_cursor(&self, mailbox: &str, cursor: ImapCursor) -> Result<(), StoreError>;
}

sql_impl! {
    #[async_trait]
    impl CursorStore for SqlStore {
        async fn imap_cursor(&self, mailbox: &str) -> Result<Option<ImapCursor>, StoreError> {
            let row =
                sqlx::query("SELECT uidvalidity, last_uid FROM imap_cursors WHERE mailbox = $1")
                    .bind(mailbox)
                    .fetch_optional(&self.read)
                    .await?;
            row.map(|row| {
                Ok(ImapCursor {
                    uidvalidity: get(&row, "uidvalidity")?,
                    last_uid: get(&row, "last_uid")?,
                })
            })
            .transpose()
        }

        async fn set_imap_cursor(
            &self,
            mailbox: &str,
            cursor: ImapCursor,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "INSERT INTO imap_cursors (mailbox, uidvalidity, last_uid, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (mailbox) DO UPDATE SET \
                 last_uid = CASE WHEN imap_cursors.uidvalidity = excluded.uidvalidity \
                     AND imap_cursors.last_uid > excluded.last_uid \
                     THEN imap_cursors.last_uid ELSE excluded.last_uid END, \
                 uidvalidity = excluded.uidvalidity, updated_at = excluded.updated_at",
            )
            .bind(mailbox)
            .bind(cursor.uidvalidity)
            .bind(cursor.last_uid)
            .bind(now_ms())
            .execute(&self.write)
            .await?;
            Ok(())
        }
    }
}
