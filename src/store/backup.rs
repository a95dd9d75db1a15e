//! A consistent copy of a SQLite store, taken while `parley serve` runs
//! and writes: `VACUUM INTO` reads the database in one read transaction
//! (WAL lets the writer go on meanwhile) and writes every page of that
//! snapshot into a new file, compacted. What was committed before the
//! copy began is in it; nothing half-written is. PostgreSQL stores are
//! copied with `pg_dump` instead (README, "Operations").

use std::path::Path;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnection;

use super::StoreError;
use crate::config::StoreConfig;

/// Copies the SQLite store of `config` into the new file `to`; its size in
/// bytes. The file must not exist (SQLite refuses to write into one, and
/// so do we, before starting). The caller checks that the store is SQLite.
pub async fn backup(config: &StoreConfig, to: &Path) -> Result<u64, StoreError> {
    let options = super::sqlite::options(config)?;
    let mut conn = SqliteConnection::connect_with(&options).await?;
    let target = to.to_string_lossy().into_owned();
    let copied = sqlx::query("VACUUM INTO $1")
        .bind(target.as_str())
        .execute(&mut conn)
        .await;
    let _ = conn.close().await;
    copied?;
    let size = std::fs::metadata(to)
        .map_err(|e| StoreError::Failed(sqlx::Error::Io(e)))?
        .len();
    Ok(size)
}
