//! Checkpoints beside the commits, not inside them.
//!
//! In WAL mode a commit appends its pages to the WAL file; a checkpoint
//! copies them into the database file and flushes it. SQLite's automatic
//! checkpoint runs inside the commit that takes the WAL past
//! `wal_autocheckpoint` pages, on that commit's connection: the one
//! writer. The group committer, which is the intake's single line, then
//! waited for it about every eight batches, several milliseconds each (a
//! tenth of its time at full load: docs/scaling.md, "Checkpoints beside
//! the commits").
//!
//! Here a task checkpoints instead, on a reader connection, a moment
//! after commits: `PASSIVE`, which neither waits for the writer nor holds
//! it up (the writer appends to the WAL meanwhile). The writer's own
//! checkpoint stays, at a larger WAL ([`BACKSTOP_PAGES`]), for commits this
//! task does not hear of (another process on the file, the outbox's
//! writes alone) or should it fall behind.

use std::time::Duration;

use sqlx::{Pool, Sqlite};
use tokio::sync::watch;

/// The writer's own checkpoint, as a backstop: WAL pages (40 MB of 4 KB
/// pages; SQLite's default is 1,000).
pub(super) const BACKSTOP_PAGES: u32 = 10_000;

/// How long after a commit the task checkpoints: the commits of that
/// moment go together (at 2,000 messages a second, about 3,300 pages).
const PACE: Duration = Duration::from_millis(100);

/// Checkpoints on a connection of `read` after each change of `committed`
/// (a commit of this process), at most one per [`PACE`]. Ends when
/// `committed`'s sender is dropped (the store is) or `read` is closed.
pub(super) fn spawn(read: Pool<Sqlite>, mut committed: watch::Receiver<u64>) {
    tokio::spawn(async move {
        while committed.changed().await.is_ok() {
            tokio::time::sleep(PACE).await;
            // What is committed from here on wakes the next round.
            committed.borrow_and_update();
            if read.is_closed() {
                break;
            }
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                .fetch_one(&read)
                .await
            {
                Ok((_, wal, copied)) => {
                    tracing::trace!(wal, copied, "checkpoint");
                }
                // A busy file or a closing pool: the next commit tries again,
                // and the writer's own checkpoint is there meanwhile.
                Err(e) => tracing::debug!(error = %e, "checkpoint not done"),
            }
        }
    });
}
