//! PostgreSQL: for deployments that already run one, or need several
//! parley processes on one store.

use std::time::Duration;

use sqlx::Postgres;
use sqlx::postgres::PgPoolOptions;

use super::StoreError;
use super::sql::{Backend, SqlStore};
use crate::config::StoreConfig;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Backend for Postgres {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const MULTI_STATEMENT: bool = false;
    const CONTIGUOUS_IDS: bool = false;
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";

    /// Identity sequences hand out ids safely to concurrent writers.
    fn next_ids_sql(table: &str, column: &str) -> (String, String) {
        (
            format!(
                "SELECT nextval(pg_get_serial_sequence('{table}', '{column}')) AS id FROM generate_series(1, CAST("
            ),
            " AS BIGINT)) ORDER BY 1".into(),
        )
    }

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
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
    })
}
