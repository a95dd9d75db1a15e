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

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
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
    })
}
