//! Accounts change in another process too: `rhein user passwd` and `rhein user del` write the
//! database a running server reads, while the server keeps credentials in memory (`cache`).
//! Every account write bumps `account_epoch` in its own transaction; a task reads the epoch
//! every `POLL_EVERY` and, when a process other than this one moved it, drops every kept
//! credential. The command line waits [`ACCOUNT_CHANGES_SETTLE`] after such a write, so that
//! when it returns, a running server no longer accepts the old password.

use crate::cache::Cache;
use crate::db::{Pool, on_pool};
use crate::{Db, StorageError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const POLL_EVERY: Duration = Duration::from_millis(200);

/// How long a running server may still use credentials another process changed.
pub const ACCOUNT_CHANGES_SETTLE: Duration = Duration::from_millis(3 * POLL_EVERY.as_millis() as u64);

/// Run inside an account write's transaction; returns the new epoch.
pub(crate) const BUMP: &str = "UPDATE account_epoch SET n = n + 1 WHERE id = 1 RETURNING n";

#[derive(Debug)]
pub(crate) struct Epoch {
    /// The epoch the kept credentials agree with; -1 before the first poll.
    seen: AtomicI64,
}

impl Default for Epoch {
    fn default() -> Self {
        Self { seen: AtomicI64::new(-1) }
    }
}

impl Epoch {
    /// Starts polling; the task ends with the last `Db` handle or when the pool closes.
    pub(crate) fn watch(db: &Db) {
        let (pool, epoch, cache) = (db.pool.clone(), Arc::downgrade(&db.epoch), Arc::downgrade(&db.cache));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL_EVERY).await;
                let (Some(epoch), Some(cache)) = (epoch.upgrade(), cache.upgrade()) else { return };
                if on_pool!(pool & pool, |p| p.is_closed()) {
                    return;
                }
                match read(&pool).await {
                    Ok(n) => epoch.saw(n, &cache),
                    Err(e) => tracing::warn!(error = %e, "reading the account epoch failed"),
                }
            }
        });
    }

    fn saw(&self, n: i64, cache: &Cache) {
        if self.seen.swap(n, Ordering::AcqRel) != n {
            cache.forget_credentials();
        }
    }

    /// This process bumped the epoch to `n` and dropped what its write changed: nothing
    /// else need go, unless another process moved the epoch as well.
    pub(crate) fn bumped_here(&self, n: i64) {
        let _ = self.seen.compare_exchange(n - 1, n, Ordering::AcqRel, Ordering::Acquire);
    }
}

async fn read(pool: &Pool) -> Result<i64, StorageError> {
    const SQL: &str = "SELECT n FROM account_epoch WHERE id = 1";
    Ok(on_pool!(pool pool, |p| sqlx::query_scalar(SQL).fetch_one(p).await)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_process_moving_the_epoch_drops_credentials() {
        let (epoch, cache) = (Epoch::default(), Cache::default());
        let creds = rhein_sasl::Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        epoch.saw(7, &cache);
        cache.fill_credentials(cache.ticket(), "a@x", Some(&creds));
        epoch.bumped_here(8);
        epoch.saw(8, &cache);
        assert!(cache.credentials("a@x").is_some(), "our own write");
        epoch.saw(9, &cache);
        assert!(cache.credentials("a@x").is_none(), "someone else's");
        cache.fill_credentials(cache.ticket(), "a@x", Some(&creds));
        epoch.bumped_here(11);
        epoch.saw(11, &cache);
        assert!(cache.credentials("a@x").is_none(), "ours and someone else's");
    }
}
