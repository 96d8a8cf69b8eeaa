//! Accounts change in another process too: `rhein user passwd` and `rhein user del` write the
//! database a running server reads, while the server keeps credentials in memory (`cache`).
//! Every account write bumps `account_epoch` in its own transaction; a task reads the epoch
//! every `POLL_EVERY` and, when a process other than this one moved it, drops every kept
//! credential, and reads which accounts were deleted (`account_removed`): those are dropped
//! from every cache and announced ([`Db::removed_accounts`]) so that their sessions end. The
//! command line waits [`ACCOUNT_CHANGES_SETTLE`] after such a write, so that when it returns,
//! a running server no longer accepts the old password nor serves the deleted account.

use crate::cache::{Cache, Written};
use crate::db::{Pool, on_pool};
use crate::{Db, StorageError};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;

const POLL_EVERY: Duration = Duration::from_millis(200);

/// How long a running server may still use credentials another process changed.
pub const ACCOUNT_CHANGES_SETTLE: Duration = Duration::from_millis(3 * POLL_EVERY.as_millis() as u64);

/// Run inside an account write's transaction; returns the new epoch.
pub(crate) const BUMP: &str = "UPDATE account_epoch SET n = n + 1 WHERE id = 1 RETURNING n";

/// Accounts announced as removed that a listener may lag behind by before it misses some.
const REMOVALS_QUEUED: usize = 1024;

#[derive(Debug)]
pub(crate) struct Epoch {
    /// The epoch the kept credentials agree with; -1 before it was first read.
    seen: AtomicI64,
    /// Bare JIDs of deleted accounts, by this process or another.
    removed: broadcast::Sender<String>,
}

impl Default for Epoch {
    fn default() -> Self {
        Self { seen: AtomicI64::new(-1), removed: broadcast::channel(REMOVALS_QUEUED).0 }
    }
}

impl Epoch {
    /// Reads the epoch now, so that every change from here on is seen, then polls; the task
    /// ends with the last `Db` handle or when the pool closes.
    pub(crate) async fn watch(db: &Db) -> Result<(), StorageError> {
        db.epoch.seen.store(read(&db.pool).await?, Ordering::Release);
        let (pool, epoch, cache) = (db.pool.clone(), Arc::downgrade(&db.epoch), Arc::downgrade(&db.cache));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(POLL_EVERY).await;
                let (Some(epoch), Some(cache)) = (epoch.upgrade(), cache.upgrade()) else { return };
                if on_pool!(pool & pool, |p| p.is_closed()) {
                    return;
                }
                let before = epoch.seen.load(Ordering::Acquire);
                match read(&pool).await {
                    Ok(n) if epoch.saw(n, &cache) && before >= 0 => match removed_since(&pool, before, n).await {
                        Ok(jids) => jids.into_iter().for_each(|jid| epoch.removed(&jid, &cache)),
                        Err(e) => tracing::warn!(error = %e, "reading removed accounts failed"),
                    },
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the account epoch failed"),
                }
            }
        });
        Ok(())
    }

    /// Whether the epoch moved since last seen (and kept credentials were dropped).
    fn saw(&self, n: i64, cache: &Cache) -> bool {
        let moved = self.seen.swap(n, Ordering::AcqRel) != n;
        if moved {
            cache.forget_credentials();
        }
        moved
    }

    /// `jid`'s account is gone: nothing kept of it stays, and listeners learn of it.
    pub(crate) fn removed(&self, jid: &str, cache: &Cache) {
        cache.written(jid, Written::All);
        // Nobody listening (a command-line process) is fine.
        let _ = self.removed.send(jid.to_owned());
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<String> {
        self.removed.subscribe()
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

/// Accounts deleted while the epoch moved from `after` to `upto`.
async fn removed_since(pool: &Pool, after: i64, upto: i64) -> Result<Vec<String>, StorageError> {
    const SQL: &str = "SELECT jid FROM account_removed WHERE epoch > $1 AND epoch <= $2 ORDER BY epoch";
    Ok(on_pool!(pool pool, |p| sqlx::query_scalar(SQL).bind(after).bind(upto).fetch_all(p).await)?)
}

/// Run inside an account deletion's transaction, with the epoch it moved to: records the
/// removal for other processes ($1 epoch, $2 jid, $3 now) ...
pub(crate) const RECORD_REMOVAL: &str = "INSERT INTO account_removed (epoch, jid, at_ms) VALUES ($1, $2, $3)";
/// ... and prunes records no poller can still need ($1 now).
pub(crate) const PRUNE_REMOVALS: &str = "DELETE FROM account_removed WHERE at_ms < $1 - 86400000";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_another_process_moving_the_epoch_drops_credentials() {
        let (epoch, cache) = (Epoch::default(), Cache::default());
        let creds = rhein_sasl::Credentials::derive_scram("pw", vec![1; 16], 1, String::new());
        assert!(epoch.saw(7, &cache));
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
