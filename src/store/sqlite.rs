//! SQLite: the embedded default. One file, WAL, every commit flushed.

use std::str::FromStr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Sqlite};

use super::StoreError;
use super::sql::{Backend, SqlStore};
use crate::config::StoreConfig;

mod checkpoint;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

impl Backend for Sqlite {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const MULTI_STATEMENT: bool = true;
    const DML_IN_WITH: bool = false;
    const CONTIGUOUS_IDS: bool = true;
    const SKIP_LOCKED: &'static str = "";
    const FOR_UPDATE: &'static str = "";
    /// None needed: one writer at a time (BEGIN IMMEDIATE, across
    /// processes too) commits event ids in the order it draws them.
    const EVENT_ORDER_LOCK: &'static str = "";
    const SEARCH_ID: &'static str = "rowid";
    const SEARCH_DOC: (&'static str, &'static str) = ("", "");
    const SEARCH_AND: &'static str = " AND ";
    const SEARCH_OR: &'static str = " OR ";
    const SEARCH_WORDS_KEPT: bool = true;
    const BYTES_AS_TEXT: (&'static str, &'static str) = ("CAST(", " AS TEXT)");

    fn search_words(table: &str) -> String {
        format!(
            "SELECT group_concat(id || ' ' || words, char(10)) AS words FROM search_words \
             WHERE tbl = '{table}' AND id IN "
        )
    }

    fn json_rows(columns: &str) -> String {
        format!("SELECT json_group_array(json_array({columns})) AS rows FROM ")
    }

    fn search_match(table: &str) -> (String, &'static str) {
        (
            format!("SELECT rowid AS id FROM {table} WHERE {table} MATCH "),
            "",
        )
    }

    fn search_upsert(_table: &str) -> String {
        String::new()
    }

    fn search_term(word: &str, prefix: bool) -> Option<String> {
        let safe = !word.is_empty() && word.chars().all(char::is_alphanumeric);
        safe.then(|| format!("\"{word}\"{}", if prefix { "*" } else { "" }))
    }

    /// The writer holds the write lock (BEGIN IMMEDIATE), so every id after
    /// the largest in use is free: one row, the first of them (the bound
    /// count only keeps the shape of the query). AUTOINCREMENT's high-water
    /// mark counts too, so a deleted ticket's number is never reused.
    fn next_ids_sql(name: &str, table: &str, column: &str) -> (String, String) {
        (
            format!("SELECT '{name}' AS k, 0 * CAST("),
            format!(
                " AS INTEGER) + 1 + MAX((SELECT COALESCE(MAX({column}), 0) FROM {table}), \
                 COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0)) AS id"
            ),
        )
    }

    /// sqlx's migrator locks nothing on SQLite: two processes starting on
    /// one store would both read a migration as pending and both apply it
    /// ("duplicate column name"). So the write lock is taken first and
    /// held until every migration is committed (each runs in a savepoint
    /// of this transaction); the next process waits for it (up to
    /// `store.acquire_timeout_secs`, SQLite's busy timeout) and then finds
    /// them applied.
    fn migrate(pool: &Pool<Sqlite>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut tx = pool.begin_with(Self::BEGIN_WRITE).await?;
            // `run_direct`: `run(&mut *tx)` is the same call, which
            // rustc cannot prove `Send` for in a boxed future.
            MIGRATOR.run_direct(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn fetch_many<'c, 'a: 'c>(
        conn: &'c mut Self::Connection,
        query: &'c mut sqlx::QueryBuilder<'a, Self>,
    ) -> super::sql::ResultStream<'c, Self> {
        sqlx::Executor::fetch_many(conn, query.build())
    }
}

/// Opens (creating when missing, with its folder) the database file.
pub async fn connect(config: &StoreConfig) -> Result<SqlStore<Sqlite>, StoreError> {
    let options = options(config)?.create_if_missing(true);
    let path = options.get_filename();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Unavailable(sqlx::Error::Io(e)))?;
    }
    pools(config, options).await
}

/// Opens the database file when it holds parley's schema;
/// [`StoreError::Missing`], naming the file, when it does not exist (it is
/// not created) or holds no schema.
pub async fn connect_existing(config: &StoreConfig) -> Result<SqlStore<Sqlite>, StoreError> {
    let options = options(config)?;
    let missing = || StoreError::Missing(crate::config::absolute(options.get_filename()));
    if !options.get_filename().is_file() {
        return Err(missing());
    }
    let store = pools(config, options.clone()).await?;
    // `tickets`: the table every version of the schema has.
    let present: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'tickets')",
    )
    .fetch_one(&store.read)
    .await?;
    if !present {
        return Err(missing());
    }
    Ok(store)
}

/// The connection options of `config.url`: WAL, every commit flushed.
pub(super) fn options(config: &StoreConfig) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(&config.url)
        .map_err(StoreError::Failed)?
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: a commit is on disk before it returns; "250" means stored.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        // Reads straight from the mapped file instead of a read(2) and a
        // copy into each connection's own page cache: the readers touch
        // different tickets each request (bench/api: a seller's list 30%
        // cheaper). Address space, not memory; the OS keeps the pages.
        .pragma("mmap_size", MMAP_SIZE.to_string())
        // The WAL is checkpointed beside the commits (checkpoint.rs); a
        // commit checkpoints only past this many pages.
        .pragma("wal_autocheckpoint", checkpoint::BACKSTOP_PAGES.to_string())
        .busy_timeout(Duration::from_secs(config.acquire_timeout_secs)))
}

/// Opens a pool with `connect`, again while its first connection finds
/// the file locked, until `deadline`. Each connection switches the file to
/// WAL, and on a new file that switch answers "database is locked" at once
/// when another process writes to it at that instant: SQLite calls no
/// busy handler there (CI saw it with eight `parley migrate` started
/// together on a fresh store; eight processes of Python's sqlite3 doing the
/// same on 300 fresh files: one start in 200).
async fn first_connection<F>(
    deadline: tokio::time::Instant,
    connect: impl Fn() -> F,
) -> Result<Pool<Sqlite>, StoreError>
where
    F: std::future::Future<Output = Result<Pool<Sqlite>, sqlx::Error>>,
{
    loop {
        match connect().await {
            Err(e) if is_busy(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(BUSY_RETRY).await;
            }
            result => return Ok(result?),
        }
    }
}

/// How long [`first_connection`] waits before it tries again.
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// Whether `e` is SQLite's SQLITE_BUSY (any extended form of it).
fn is_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(e) = e else {
        return false;
    };
    e.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == SQLITE_BUSY)
}

/// SQLite's primary result code for a locked database file.
const SQLITE_BUSY: i32 = 5;

/// The most of the database file each connection maps (1 GiB).
const MMAP_SIZE: u64 = 1 << 30;

/// The writer (one connection) and the readers.
async fn pools(
    config: &StoreConfig,
    options: SqliteConnectOptions,
) -> Result<SqlStore<Sqlite>, StoreError> {
    let timeout = Duration::from_secs(config.acquire_timeout_secs);
    // No ping before handing out a pooled connection (sqlx's default): a
    // connection to a local file cannot have gone away, and each ping is
    // one more hand-off to the connection's thread and back, per query
    // (bench/outbox: the outbox worker makes five or six queries a
    // notification). sqlx still pings on release, which catches a
    // connection left mid-statement.
    let deadline = tokio::time::Instant::now() + timeout;
    let write = first_connection(deadline, || {
        SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .test_before_acquire(false)
            .connect_with(options.clone())
    })
    .await?;
    let read = first_connection(deadline, || {
        SqlitePoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(timeout)
            .test_before_acquire(false)
            .connect_with(options.clone())
    })
    .await?;
    let events = super::events::EventSignal::default();
    checkpoint::spawn(read.clone(), events.subscribe());
    Ok(SqlStore {
        read,
        write,
        intake_queues: Default::default(),
        events,
        words: super::search::WordCache::new(config.search_cache_mb),
        holds: Default::default(),
    })
}
