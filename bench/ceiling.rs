//! The disk's pace for this stack, the reference of bench/intake and
//! bench/outbox. Included with `#[path]`.

use std::time::Instant;

/// The disk's pace for this stack: one-row transactions through sqlx on a
/// SQLite file with the store's settings (WAL, synchronous=FULL).
pub async fn commit_ceiling(commits: usize) -> f64 {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
    let dir = tempfile::tempdir().expect("tempdir");
    let options = SqliteConnectOptions::new()
        .filename(dir.path().join("ceiling.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = sqlx::SqlitePool::connect_with(options)
        .await
        .expect("sqlite");
    sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB NOT NULL)")
        .execute(&pool)
        .await
        .expect("table");
    let row = vec![7u8; 256];
    let start = Instant::now();
    for _ in 0..commits {
        sqlx::query("INSERT INTO t (v) VALUES ($1)")
            .bind(&row[..])
            .execute(&pool)
            .await
            .expect("insert");
    }
    commits as f64 / start.elapsed().as_secs_f64()
}
