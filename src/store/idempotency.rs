//! `Idempotency-Key` of the API's POSTs: the answer a request got, kept
//! for its caller and key, so that a retried request is answered again
//! instead of run twice.
//!
//! Reserve, then complete: [`IdempotencyStore::reserve`] inserts the row
//! (owner, key, the request's hash) as *in flight* before the request
//! runs; only the caller whose INSERT made the row runs it, everyone else
//! reads the row (a finished answer to replay, or "still in flight").
//! [`IdempotencyStore::complete`] stores the answer; a request that ended
//! without an answer worth keeping (the store was unavailable: nothing
//! was written) [`IdempotencyStore::release`]s the key for a retry.
//!
//! Why not in the post's own transaction: the post is written by the
//! batch writer (`tickets/batch.rs`), whose transaction is a script of
//! planned rows shared with mail; the reservation needs no part of it.
//! It cannot post twice: the row exists before anything is posted and
//! only its reserver posts. If the process dies between the post and
//! the completion, the key stays in flight (409) until it expires, which
//! errs on the side of never posting twice.

use crate::store::sql::sql_impl;
use async_trait::async_trait;

use super::StoreError;
use super::sql::get;

/// How long a key is remembered: after a day it may be used afresh.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What [`IdempotencyStore::reserve`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// The key is the caller's now: run the request, then complete it.
    Fresh,
    /// The same key with another request (a different hash).
    Mismatch,
    /// The same request is running (or died running) under this key.
    InFlight,
    /// The same request was answered: replay this.
    Done { status: u16, body: String },
}

#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Reserves `key` of `owner` for the request hashed `request_sha256`
    /// at `now` (Unix ms), or says what holds it. Entries older than
    /// [`IDEMPOTENCY_TTL_MS`] are pruned first and never found.
    async fn reserve(
        &self,
        owner: &str,
        key: &str,
        request_sha256: &str,
        now: i64,
    ) -> Result<Reserved, StoreError>;

    /// Stores the answer of a reserved request (`status` > 0).
    async fn complete(
        &self,
        owner: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError>;

    /// Drops an in-flight reservation (the request ended with nothing to
    /// replay); a finished one stays.
    async fn release(&self, owner: &str, key: &str) -> Result<(), StoreError>;
}

sql_impl! {
    #[async_trait]
    impl IdempotencyStore for SqlStore {
        async fn reserve(
            &self,
            owner: &str,
            key: &str,
            request_sha256: &str,
            now: i64,
        ) -> Result<Reserved, StoreError> {
            let cutoff = now - IDEMPOTENCY_TTL_MS;
            sqlx::query("DELETE FROM api_idempotency WHERE created_ms < $1")
                .bind(cutoff)
                .execute(&self.write)
                .await?;
            // The primary key decides who reserves: of two concurrent INSERTs
            // one makes the row, the other does nothing (PostgreSQL makes it
            // wait for the first one's commit; SQLite has one writer).
            let inserted = sqlx::query(
                "INSERT INTO api_idempotency (owner, key, request_sha256, status, body, created_ms) \
                 VALUES ($1, $2, $3, 0, '', $4) ON CONFLICT (owner, key) DO NOTHING RETURNING owner",
            )
            .bind(owner)
            .bind(key)
            .bind(request_sha256)
            .bind(now)
            .fetch_optional(&self.write)
            .await?;
            if inserted.is_some() {
                return Ok(Reserved::Fresh);
            }
            let row = sqlx::query(
                "SELECT request_sha256, status, body FROM api_idempotency \
                 WHERE owner = $1 AND key = $2 AND created_ms >= $3",
            )
            .bind(owner)
            .bind(key)
            .bind(cutoff)
            .fetch_optional(&self.write)
            .await?;
            // Gone meanwhile (released, or pruned by another request): the
            // holder is done with it; the caller retries as for in flight.
            let Some(row) = row else {
                return Ok(Reserved::InFlight);
            };
            let hash: String = get(&row, "request_sha256")?;
            let status: i64 = get(&row, "status")?;
            Ok(if hash != request_sha256 {
                Reserved::Mismatch
            } else if status == 0 {
                Reserved::InFlight
            } else {
                Reserved::Done {
                    status: u16::try_from(status)
                        .map_err(|_| StoreError::Corrupt(format!("idempotent status {status}")))?,
                    body: get(&row, "body")?,
                }
            })
        }

        async fn complete(
            &self,
            owner: &str,
            key: &str,
            status: u16,
            body: &str,
        ) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE api_idempotency SET status = $1, body = $2 WHERE owner = $3 AND key = $4",
            )
            .bind(i64::from(status))
            .bind(body)
            .bind(owner)
            .bind(key)
            .execute(&self.write)
            .await?;
            Ok(())
        }

        async fn release(&self, owner: &str, key: &str) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM api_idempotency WHERE owner = $1 AND key = $2 AND status = 0")
                .bind(owner)
                .bind(key)
                .execute(&self.write)
                .await?;
            Ok(())
        }
    }
}
