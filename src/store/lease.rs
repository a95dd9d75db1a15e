//! Leases: work that one instance of `parley serve` does at a time when
//! several run on one store (docs/scaling.md). A lease is taken (or
//! renewed) by one statement that succeeds only when nobody else holds it
//! unexpired, so two instances can never both believe they hold it; a
//! holder that dies stops renewing and loses it at expiry.

use async_trait::async_trait;

use super::StoreError;
use crate::store::sql::sql_impl;

#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `until` (Unix
    /// ms): true when `holder` now holds it (it was free, expired at
    /// `now`, or already `holder`'s), false when another holds it.
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: i64,
        until: i64,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up, if `holder` holds it (a clean stop: another
    /// instance need not wait for the expiry).
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

sql_impl! {
    #[async_trait]
    impl LeaseStore for SqlStore {
        async fn take_lease(
            &self,
            name: &str,
            holder: &str,
            now: i64,
            until: i64,
        ) -> Result<bool, StoreError> {
            // One statement, so the check and the write cannot be split by
            // another instance's: the update applies only to a lease that is
            // ours or has run out; otherwise no row comes back.
            let row = sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4 \
                 RETURNING holder",
            )
            .bind(name)
            .bind(holder)
            .bind(until)
            .bind(now)
            .fetch_optional(&self.write)
            .await?;
            Ok(row.is_some())
        }

        async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
            sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(&self.write)
                .await?;
            Ok(())
        }
    }
}
