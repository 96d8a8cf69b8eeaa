//! XEP-0484 FAST tokens.

use crate::db::on_pool;
use crate::{Db, StorageError};

/// Repository of FAST tokens (`db.fast_tokens()`).
pub struct FastTokens<'a> {
    pub(crate) db: &'a Db,
}

impl FastTokens<'_> {
    pub async fn issue(
        &self,
        owner: &str,
        client: &str,
        mechanism: &str,
        token: &str,
        expiry: i64,
    ) -> Result<(), StorageError> {
        const SQL: &str =
            "INSERT INTO fast_token (owner, client_id, mechanism, token, expiry) VALUES ($1, $2, $3, $4, $5)";
        on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(owner)
            .bind(client)
            .bind(mechanism)
            .bind(token)
            .bind(expiry)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Unexpired tokens of a client for a mechanism, newest first: `(token, expiry)`.
    pub async fn valid(
        &self,
        owner: &str,
        client: &str,
        mechanism: &str,
        now: i64,
    ) -> Result<Vec<(String, i64)>, StorageError> {
        const SQL: &str = "SELECT token, expiry FROM fast_token WHERE owner = $1 AND client_id = $2 AND mechanism = $3 \
            AND expiry > $4 ORDER BY expiry DESC";
        Ok(on_pool!(self.db, |p| sqlx::query_as(SQL)
            .bind(owner)
            .bind(client)
            .bind(mechanism)
            .bind(now)
            .fetch_all(p)
            .await)?)
    }

    /// Records `count` as processed for `token` if it is above every count processed
    /// before; `false` for a replay (XEP-0484 §3.3).
    pub async fn advance_count(
        &self,
        owner: &str,
        client: &str,
        token: &str,
        count: i64,
    ) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE fast_token SET last_count = $4 \
            WHERE owner = $1 AND client_id = $2 AND token = $3 AND last_count < $4";
        let n = on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(owner)
            .bind(client)
            .bind(token)
            .bind(count)
            .execute(p)
            .await?
            .rows_affected());
        Ok(n == 1)
    }

    /// After `token` was used: drops it (`invalidate`) or the client's older tokens.
    pub async fn used(
        &self,
        owner: &str,
        client: &str,
        token: &str,
        expiry: i64,
        invalidate: bool,
    ) -> Result<(), StorageError> {
        if invalidate {
            const SQL: &str = "DELETE FROM fast_token WHERE owner = $1 AND client_id = $2 AND token = $3";
            on_pool!(write: self.db, |p| sqlx::query(SQL).bind(owner).bind(client).bind(token).execute(p).await.map(|_| ()))?;
        } else {
            const SQL: &str = "DELETE FROM fast_token WHERE owner = $1 AND client_id = $2 AND expiry < $3";
            on_pool!(write: self.db, |p| sqlx::query(SQL).bind(owner).bind(client).bind(expiry).execute(p).await.map(|_| ()))?;
        }
        Ok(())
    }
}
