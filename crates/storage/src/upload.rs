//! XEP-0363 upload slots: who asked for which file of which size, and whether it arrived.

use crate::db::on_pool;
use crate::{Db, StorageError};

/// A slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRow {
    pub id: String,
    pub owner: String,
    pub filename: String,
    pub size: i64,
    pub content_type: String,
    pub created_at: i64,
    pub stored: bool,
}

/// Repository of upload slots (`db.uploads()`).
pub struct Uploads<'a> {
    pub(crate) db: &'a Db,
}

type Row = (String, String, String, i64, String, i64, i64);

impl Uploads<'_> {
    pub async fn create(&self, slot: &SlotRow) -> Result<(), StorageError> {
        const SQL: &str = "INSERT INTO upload_slot (id, owner, filename, size, content_type, created_at, stored) \
            VALUES ($1, $2, $3, $4, $5, $6, 0)";
        on_pool!(write: self.db, |p| sqlx::query(SQL)
            .bind(&slot.id)
            .bind(&slot.owner)
            .bind(&slot.filename)
            .bind(slot.size)
            .bind(&slot.content_type)
            .bind(slot.created_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<SlotRow>, StorageError> {
        const SQL: &str =
            "SELECT id, owner, filename, size, content_type, created_at, stored FROM upload_slot WHERE id = $1";
        let row: Option<Row> = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(id).fetch_optional(p).await)?;
        Ok(row.map(|(id, owner, filename, size, content_type, created_at, stored)| SlotRow {
            id,
            owner,
            filename,
            size,
            content_type,
            created_at,
            stored: stored != 0,
        }))
    }

    /// Marks a slot filled; `false` if it was already (one PUT per slot).
    pub async fn mark_stored(&self, id: &str) -> Result<bool, StorageError> {
        const SQL: &str = "UPDATE upload_slot SET stored = 1 WHERE id = $1 AND stored = 0";
        let n = on_pool!(write: self.db, |p| sqlx::query(SQL).bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }

    /// Bytes an account holds or has reserved in slots created since `since`.
    pub async fn used(&self, owner: &str, since: i64) -> Result<i64, StorageError> {
        // SUM of a BIGINT is NUMERIC in PostgreSQL: cast back.
        const SQL: &str =
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM upload_slot WHERE owner = $1 AND created_at >= $2";
        let (n,): (i64,) = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).bind(since).fetch_one(p).await)?;
        Ok(n)
    }

    /// Removes slots created before `before`; returns their ids (their files go too).
    pub async fn expire(&self, before: i64) -> Result<Vec<String>, StorageError> {
        const SELECT: &str = "SELECT id FROM upload_slot WHERE created_at < $1";
        let ids: Vec<(String,)> = on_pool!(self.db, |p| sqlx::query_as(SELECT).bind(before).fetch_all(p).await)?;
        const DELETE: &str = "DELETE FROM upload_slot WHERE created_at < $1";
        on_pool!(write: self.db, |p| sqlx::query(DELETE).bind(before).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }
}
