//! XEP-0012 last activity, written behind. Every logout of an account's last resource
//! records its time and nobody waits for that write, so instead of a round trip to the
//! database per logout a task writes whatever accumulated every `FLUSH_EVERY`, in one
//! transaction. Reads see what is still pending; closing the database writes it first. A
//! crash loses at most the logout times of that last interval (nothing was acknowledged for
//! them to anyone).

use crate::StorageError;
use crate::db::{BeginWrite, Pool, on_pool};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

const FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Rows per INSERT: 3 parameters each, within both backends' limits.
const ROWS_PER_INSERT: usize = 1000;

/// `owner → (stamp, status)` not written yet.
#[derive(Debug, Default)]
pub(crate) struct LastSeen {
    pending: Mutex<HashMap<String, (i64, String)>>,
    /// Set once `Db::close` wrote what was pending: later times have nowhere to go (sessions
    /// the shutdown closes end after storage), and the task stops.
    closed: AtomicBool,
}

impl LastSeen {
    fn pending(&self) -> MutexGuard<'_, HashMap<String, (i64, String)>> {
        // Single map operations only: a poisoned map is still consistent.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts the task that writes pending times; it ends with the last `Db` handle.
    pub(crate) fn spawn(pool: Pool) -> Arc<Self> {
        let this = Arc::new(Self::default());
        let weak: Weak<Self> = Arc::downgrade(&this);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(FLUSH_EVERY).await;
                let Some(this) = weak.upgrade() else { return };
                if this.closed.load(Ordering::Acquire) {
                    return;
                }
                if let Err(e) = this.flush(&pool).await {
                    tracing::error!(error = %e, "writing last activity failed");
                }
            }
        });
        this
    }

    pub(crate) fn set(&self, owner: &str, stamp: i64, status: &str) {
        if self.closed.load(Ordering::Acquire) {
            tracing::debug!(owner, "storage closed: last activity not recorded");
            return;
        }
        self.pending().insert(owner.to_owned(), (stamp, status.to_owned()));
    }

    /// Writes what is pending, for the last time.
    pub(crate) async fn close(&self, pool: &Pool) -> Result<(), StorageError> {
        self.closed.store(true, Ordering::Release);
        self.flush(pool).await
    }

    pub(crate) fn get(&self, owner: &str) -> Option<(i64, String)> {
        self.pending().get(owner).cloned()
    }

    /// Drops what is pending for a deleted account.
    pub(crate) fn forget(&self, owner: &str) {
        self.pending().remove(owner);
    }

    /// Writes what is pending. What fails to be written is kept for the next try, unless a
    /// newer time came meanwhile.
    pub(crate) async fn flush(&self, pool: &Pool) -> Result<(), StorageError> {
        let batch: Vec<(String, (i64, String))> = self.pending().drain().collect();
        if batch.is_empty() {
            return Ok(());
        }
        let written = write(pool, &batch).await;
        if written.is_err() {
            let mut pending = self.pending();
            for (owner, seen) in batch {
                pending.entry(owner).or_insert(seen);
            }
        }
        written
    }
}

async fn write(pool: &Pool, batch: &[(String, (i64, String))]) -> Result<(), StorageError> {
    on_pool!(write_pool pool, |p| {
        let mut tx = p.begin_write().await?;
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO last_activity (owner, stamp, status) VALUES {} \
                 ON CONFLICT (owner) DO UPDATE SET stamp = excluded.stamp, status = excluded.status",
                crate::db::values(chunk.len(), 3, crate::db::Placeholders::of(pool))
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (owner, (stamp, status)) in chunk {
                q = q.bind(owner).bind(*stamp).bind(status);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Db;

    #[tokio::test]
    async fn last_activity_is_read_back_at_once_and_on_disk_after_close() {
        let dir = std::env::temp_dir().join(format!("rhein-last-seen-{}", std::process::id()));
        let url = format!("sqlite://{}/a.db", dir.display());
        let db = Db::connect(&url).await.unwrap();
        db.last_activity().set("a@x", 5, "gone").await.unwrap();
        assert_eq!(db.last_activity().get("a@x").await.unwrap(), Some((5, "gone".into())), "pending");
        tokio::time::sleep(super::FLUSH_EVERY * 3).await;
        assert!(db.last_seen.get("a@x").is_none(), "written by the task");
        assert_eq!(db.last_activity().get("a@x").await.unwrap(), Some((5, "gone".into())));
        db.last_activity().set("b@x", 7, "").await.unwrap();
        db.close().await;
        db.last_activity().set("c@x", 9, "").await.unwrap();
        assert!(db.last_seen.get("c@x").is_none(), "nothing recorded after close");
        let again = Db::connect(&url).await.unwrap();
        assert_eq!(again.last_activity().get("b@x").await.unwrap(), Some((7, String::new())), "written on close");
        again.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
