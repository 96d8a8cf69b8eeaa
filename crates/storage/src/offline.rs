//! XEP-0160 offline message storage.

use crate::cache::{Waiting, Written};
use crate::db::{BeginWrite, on_pool};
use crate::{Db, StorageError};

/// Repository of messages waiting for an account to come online (`db.offline()`).
pub struct Offline<'a> {
    pub(crate) db: &'a Db,
}

/// A stored message: when it arrived and the serialised stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflineMessage {
    pub stamp: i64,
    pub stanza: String,
}

impl Offline<'_> {
    /// Stores a message; `false` when the owner already has `limit` messages waiting.
    pub async fn push(&self, owner: &str, stamp: i64, stanza: &str, limit: i64) -> Result<bool, StorageError> {
        let write = async {
            Ok(on_pool!(write: self.db, |p| {
                let mut tx = p.begin_write().await?;
                let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM offline_message WHERE owner = $1")
                    .bind(owner)
                    .fetch_one(&mut *tx)
                    .await?;
                if count >= limit {
                    false
                } else {
                    sqlx::query("INSERT INTO offline_message (owner, stamp, stanza) VALUES ($1, $2, $3)")
                        .bind(owner)
                        .bind(stamp)
                        .bind(stanza)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    true
                }
            }))
        };
        self.db.cache.writing(owner, Written::Offline, write).await
    }

    /// The waiting messages in arrival order, without removing them.
    pub async fn list(&self, owner: &str) -> Result<Vec<(i64, OfflineMessage)>, StorageError> {
        const SQL: &str = "SELECT id, stamp, stanza FROM offline_message WHERE owner = $1 ORDER BY id";
        let read = async { Ok(on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_all(p).await)?) };
        let rows: Vec<(i64, i64, String)> = self.db.cache.waiting(Waiting::Offline, owner, read).await?;
        Ok(rows.into_iter().map(|(id, stamp, stanza)| (id, OfflineMessage { stamp, stanza })).collect())
    }

    /// Removes and returns the waiting messages, in arrival order. Whoever takes a message
    /// takes it alone: of two deliveries racing for the same account, each gets a message
    /// once at most.
    pub async fn take(&self, owner: &str) -> Result<Vec<OfflineMessage>, StorageError> {
        const SQL: &str = "DELETE FROM offline_message WHERE owner = $1 RETURNING id, stamp, stanza";
        let read = async { Ok(on_pool!(write: self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_all(p).await)?) };
        let mut rows: Vec<(i64, i64, String)> = self.db.cache.waiting(Waiting::Offline, owner, read).await?;
        rows.sort_unstable_by_key(|(id, _, _)| *id);
        Ok(rows.into_iter().map(|(_, stamp, stanza)| OfflineMessage { stamp, stanza }).collect())
    }

    /// Removes one message.
    pub async fn remove(&self, owner: &str, id: i64) -> Result<(), StorageError> {
        const SQL: &str = "DELETE FROM offline_message WHERE owner = $1 AND id = $2";
        on_pool!(write: self.db, |p| sqlx::query(SQL).bind(owner).bind(id).execute(p).await.map(|_| ()))?;
        Ok(())
    }

    pub async fn count(&self, owner: &str) -> Result<i64, StorageError> {
        const SQL: &str = "SELECT COUNT(*) FROM offline_message WHERE owner = $1";
        let (n,): (i64,) = on_pool!(self.db, |p| sqlx::query_as(SQL).bind(owner).fetch_one(p).await)?;
        Ok(n)
    }
}
