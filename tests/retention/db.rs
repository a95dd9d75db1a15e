//! Plain SQL on a test store, on either backend: to age rows (a test
//! cannot wait days) and to read every column of every table.

// Each test crate that includes it uses a part of it.
#![allow(dead_code)]

use sqlx::Row;

pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Db {
    pub async fn open(url: &str) -> Db {
        if url.starts_with("sqlite:") {
            Db::Sqlite(sqlx::SqlitePool::connect(url).await.expect("sqlite"))
        } else {
            Db::Postgres(sqlx::PgPool::connect(url).await.expect("postgres"))
        }
    }

    /// Runs one statement without binds.
    pub async fn exec(&self, sql: &str) {
        match self {
            Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
            Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// The first column of the first row, an integer.
    pub async fn int(&self, sql: &str) -> i64 {
        match self {
            Db::Sqlite(p) => sqlx::query(sql)
                .fetch_one(p)
                .await
                .map(|r| r.get::<i64, _>(0)),
            Db::Postgres(p) => sqlx::query(sql)
                .fetch_one(p)
                .await
                .map(|r| r.get::<i64, _>(0)),
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// Every column of every table of the store, as (table, column,
    /// a SQL expression of its value as text): text, JSON and blobs alike
    /// (a blob's bytes read as text), so that a new table or column is
    /// scanned without changing the test.
    pub async fn columns(&self) -> Vec<(String, String, String)> {
        let mut all = Vec::new();
        match self {
            Db::Sqlite(p) => {
                let tables: Vec<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
                )
                .fetch_all(p)
                .await
                .unwrap();
                for table in tables {
                    let sql = format!("SELECT name FROM pragma_table_info('{table}')");
                    let columns: Vec<String> = sqlx::query_scalar(&sql).fetch_all(p).await.unwrap();
                    for column in columns {
                        let value = format!("CAST(\"{column}\" AS TEXT)");
                        all.push((table.clone(), column, value));
                    }
                }
            }
            Db::Postgres(p) => {
                let rows = sqlx::query(
                    "SELECT table_name::text, column_name::text, data_type::text \
                     FROM information_schema.columns c \
                     JOIN information_schema.tables t USING (table_schema, table_name) \
                     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                     ORDER BY 1, 2",
                )
                .fetch_all(p)
                .await
                .unwrap();
                for row in rows {
                    let (table, column, kind): (String, String, String) =
                        (row.get(0), row.get(1), row.get(2));
                    let value = match kind.as_str() {
                        "bytea" => format!("encode(\"{column}\", 'escape')"),
                        _ => format!("CAST(\"{column}\" AS TEXT)"),
                    };
                    all.push((table, column, value));
                }
            }
        }
        all
    }

    /// The (table, column) pairs holding `needle` anywhere in a value,
    /// case ignored, with how many rows.
    pub async fn naming(&self, needle: &str) -> Vec<(String, String, i64)> {
        let needle = needle.to_lowercase().replace('\'', "''");
        let mut found = Vec::new();
        let columns = self.columns().await;
        assert!(columns.len() > 50, "every table's columns: {columns:?}");
        for (table, column, value) in columns {
            let sql = format!(
                "SELECT count(*) FROM \"{table}\" WHERE strpos(lower({value}), '{needle}') > 0"
            );
            let sql = match self {
                Db::Sqlite(_) => sql.replace("strpos(", "instr("),
                Db::Postgres(_) => sql,
            };
            let n = self.int(&sql).await;
            if n > 0 {
                found.push((table, column, n));
            }
        }
        found
    }
}
