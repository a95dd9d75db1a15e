//! PostgreSQL: for deployments that already run one, or need several
//! parley processes on one store.

use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Pool, Postgres};

use super::StoreError;
use super::sql::{Backend, SqlStore};
use crate::config::StoreConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const MULTI_STATEMENT: bool = false;
    const DML_IN_WITH: bool = true;
    const CONTIGUOUS_IDS: bool = false;
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    /// Writers run concurrently here: without the lock a transaction could
    /// draw event id 11, another id 12 and commit first, and a reader that
    /// saw 12 would never look at 11. With it, ids are drawn and committed
    /// one transaction at a time (the key spells "parlevnt"; the lock goes
    /// with the transaction). Group commit keeps it to one wait per batch.
    const EVENT_ORDER_LOCK: &'static str = "SELECT pg_advisory_xact_lock(8097879414873157236)";
    const SEARCH_ID: &'static str = "id";
    const SEARCH_DOC: (&'static str, &'static str) = (
        "array_to_tsvector(string_to_array(CAST(",
        " AS TEXT), ' '))",
    );
    const SEARCH_AND: &'static str = " & ";
    const SEARCH_OR: &'static str = " | ";
    const SEARCH_WORDS_KEPT: bool = false;
    const BYTES_AS_TEXT: (&'static str, &'static str) = ("encode(", ", 'escape')");

    fn search_words(table: &str) -> String {
        format!(
            "SELECT string_agg(id || ' ' || array_to_string(tsvector_to_array(doc), ' '), E'\\n') \
             AS words FROM {table} WHERE id IN "
        )
    }

    fn json_rows(columns: &str) -> String {
        format!(
            "SELECT CAST(COALESCE(json_agg(json_build_array({columns})), '[]') AS TEXT) AS rows FROM "
        )
    }

    fn search_match(table: &str) -> (String, &'static str) {
        (
            format!("SELECT id FROM {table} WHERE doc @@ CAST("),
            " AS tsquery)",
        )
    }

    fn search_upsert(table: &str) -> String {
        format!(" ON CONFLICT (id) DO UPDATE SET doc = {table}.doc || excluded.doc")
    }

    fn search_term(word: &str, prefix: bool) -> Option<String> {
        let safe = !word.is_empty() && word.chars().all(char::is_alphanumeric);
        safe.then(|| format!("'{word}'{}", if prefix { ":*" } else { "" }))
    }

    /// Identity sequences hand out ids safely to concurrent writers.
    fn next_ids_sql(name: &str, table: &str, column: &str) -> (String, String) {
        (
            format!(
                "SELECT '{name}' AS k, nextval(pg_get_serial_sequence('{table}', '{column}')) AS id \
                 FROM generate_series(1, CAST("
            ),
            " AS BIGINT))".into(),
        )
    }

    /// sqlx's migrator takes an advisory lock on the database before it
    /// reads what is applied, and releases it once every migration is
    /// committed: the next process waits for it, then finds them applied.
    /// (Not inside a transaction of ours: the lock would go before that
    /// transaction's commit, and the next process would apply them again.)
    fn migrate(pool: &Pool<Postgres>) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            MIGRATOR.run(pool).await?;
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

pub async fn connect(config: &StoreConfig) -> Result<SqlStore<Postgres>, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(config.max_connections)
        .acquire_timeout(Duration::from_secs(config.acquire_timeout_secs))
        .connect(&config.url)
        .await?;
    Ok(SqlStore {
        read: pool.clone(),
        write: pool,
        intake_queues: Default::default(),
        events: Default::default(),
        words: super::search::WordCache::new(config.search_cache_mb),
        holds: Default::default(),
    })
}

/// Opens the database when it holds parley's schema;
/// [`StoreError::Missing`], naming the database, when it holds none.
pub async fn connect_existing(config: &StoreConfig) -> Result<SqlStore<Postgres>, StoreError> {
    let store = connect(config).await?;
    // `tickets`: the table every version of the schema has.
    let present: bool = sqlx::query_scalar("SELECT to_regclass('tickets') IS NOT NULL")
        .fetch_one(&store.read)
        .await?;
    if !present {
        return Err(StoreError::Missing(format!(
            "{} (the database has no parley schema)",
            crate::config::redact_url_password(&config.url)
        )));
    }
    Ok(store)
}
