//! SQLite: the embedded default. One file, WAL, every commit flushed.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Sqlite;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreError;
use super::sql::{Backend, SqlStore};
use crate::config::StoreConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Backend for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }
}

/// Opens (creating when missing, with its folder) the database file.
pub async fn connect(config: &StoreConfig) -> Result<SqlStore<Sqlite>, StoreError> {
    let timeout = Duration::from_secs(config.acquire_timeout_secs);
    let options = SqliteConnectOptions::from_str(&config.url)
        .map_err(StoreError::Failed)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before it returns; "250" means stored.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(timeout);
    let path = options.get_filename();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    }
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(timeout)
        .connect_with(options.clone())
        .await?;
    let read = SqlitePoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await?;
    Ok(SqlStore { read, write })
}
