//! Indexing the rows stored before the search index existed, once, after
//! the migration that made it (`0013_search.sql` leaves
//! `search_backfill.done` at 0; on SQLite `0017_search_words.sql` empties
//! the index and asks again, to keep the rows' words beside it): the
//! words are made in Rust
//! ([`crate::search`]), which a migration cannot call.

use crate::store::sql::sql_impl;

use super::{Docs, visible};
use crate::store::StoreError;
use crate::store::sql::{MESSAGE_COLUMNS, get, message_of};

/// Rows read and indexed at a time.
const PAGE: i64 = 5_000;

sql_impl! {
    impl SqlStore {
        /// Indexes every ticket, participant and message when the index was
        /// just made: one write transaction, which claims the work first (of
        /// several processes starting at once, one does it, the others find
        /// it done). Nothing when it was done.
        pub(in crate::store) async fn backfill_search(&self) -> Result<(), StoreError> {
            // A read first: every start of every command passes here, and
            // the write lock is taken only when there is work.
            let done: i64 = get(
                &sqlx::query("SELECT MIN(done) AS done FROM search_backfill")
                    .fetch_one(&self.read)
                    .await?,
                "done",
            )?;
            if done != 0 {
                return Ok(());
            }
            let mut tx = self.write.begin_with(DB::BEGIN_WRITE).await?;
            let claimed =
                sqlx::query("UPDATE search_backfill SET done = 1 WHERE done = 0 RETURNING done")
                    .fetch_optional(&mut *tx)
                    .await?;
            if claimed.is_none() {
                return Ok(());
            }
            let mut after = 0;
            loop {
                let rows = sqlx::query(
                    "SELECT number, subject, item_title, auction_title FROM tickets \
                     WHERE number > $1 ORDER BY number LIMIT $2",
                )
                .bind(after)
                .bind(PAGE)
                .fetch_all(&mut *tx)
                .await?;
                let Some(last) = rows.last() else { break };
                after = get(last, "number")?;
                let mut docs = Docs::default();
                for row in &rows {
                    let item: Option<String> = get(row, "item_title")?;
                    let auction: Option<String> = get(row, "auction_title")?;
                    docs.ticket(
                        get(row, "number")?,
                        &get::<String, _>(row, "subject")?,
                        [item.as_deref(), auction.as_deref()],
                    );
                }
                Self::index(&mut tx, &docs).await?;
            }
            let mut after = 0;
            loop {
                let rows = sqlx::query(
                    "SELECT id, ticket, address, display_name FROM participants \
                     WHERE id > $1 ORDER BY id LIMIT $2",
                )
                .bind(after)
                .bind(PAGE)
                .fetch_all(&mut *tx)
                .await?;
                let Some(last) = rows.last() else { break };
                after = get(last, "id")?;
                let mut docs = Docs::default();
                for row in &rows {
                    let name: Option<String> = get(row, "display_name")?;
                    docs.person(
                        get(row, "ticket")?,
                        name.as_deref(),
                        &get::<String, _>(row, "address")?,
                    );
                }
                Self::index(&mut tx, &docs).await?;
            }
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages WHERE id > $1 ORDER BY id LIMIT $2"
            );
            let mut after = 0;
            loop {
                let rows = sqlx::query(&sql)
                    .bind(after)
                    .bind(PAGE)
                    .fetch_all(&mut *tx)
                    .await?;
                let Some(last) = rows.last() else { break };
                after = get(last, "id")?;
                let mut docs = Docs::default();
                for row in &rows {
                    let message = message_of(row)?;
                    docs.message(
                        message.ticket,
                        message.author,
                        &message.reply_text,
                        visible(&message),
                    );
                }
                Self::index(&mut tx, &docs).await?;
            }
            tx.commit().await?;
            Ok(())
        }
    }
}
