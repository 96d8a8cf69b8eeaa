//! What every login reads and hardly anything writes, kept in memory: each account's
//! credentials and roster (items and version), and which accounts have no offline messages
//! and no subscription requests waiting. A login otherwise made seven round trips to the
//! database for them.
//!
//! Every write of this process goes through `Cache::writing`, which drops what is known before
//! and after it: a read fills the cache only if no write began or ended since the read
//! started, and what was filled while a write was under way is dropped when it ends. Of these
//! tables only `account` is also written by another process (the command line); `epoch`
//! notices that and drops every credential.

use crate::{RosterRow, StorageError};
use rhein_sasl::Credentials;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// Roster items kept at most, over all accounts (some 150 bytes each).
const MAX_ROSTER_ITEMS: usize = 200_000;
/// Accounts remembered as having nothing waiting, per kind.
const MAX_EMPTY: usize = 100_000;
/// Accounts whose credentials are kept (some 300 bytes each).
const MAX_CREDENTIALS: usize = 50_000;

/// A roster as stored: its items by contact, and its version.
#[derive(Debug, Clone)]
pub(crate) struct CachedRoster {
    pub items: BTreeMap<String, RosterRow>,
    pub version: i64,
}

/// The one item a roster write changes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RosterChange<'a> {
    Upsert(&'a RosterRow),
    Remove(&'a str),
}

impl CachedRoster {
    fn apply(&mut self, change: RosterChange<'_>, version: i64) {
        match change {
            RosterChange::Upsert(row) => self.items.insert(row.contact.clone(), row.clone()),
            RosterChange::Remove(contact) => self.items.remove(contact),
        };
        self.version = version;
    }
}

#[derive(Debug, Default)]
pub(crate) struct Cache {
    /// Bumped by every write: a read fills the cache only if it is unchanged.
    writes: AtomicU64,
    /// Rosters read from the database in full: what keeping them saves (a roster write
    /// must not cost one).
    pub(crate) roster_loads: AtomicU64,
    /// By bare JID: an account's credentials, or `None` for a name read to have no account,
    /// so that a login for such a name is answered as fast as for an account (how long SASL
    /// takes must not tell which accounts exist). One map for both: nobody without an
    /// account's name can evict the one kind and not the other.
    credentials: Mutex<HashMap<String, Option<Credentials>>>,
    rosters: Mutex<Rosters>,
    /// Accounts known to have nothing waiting, per kind (see `Waiting`).
    nothing_waiting: [Mutex<HashSet<String>>; 3],
}

/// Rosters by owner, dropped oldest first beyond `MAX_ROSTER_ITEMS`.
#[derive(Debug, Default)]
struct Rosters {
    by_owner: HashMap<String, Arc<CachedRoster>>,
    order: VecDeque<String>,
    items: usize,
    /// Owners whose roster is being written (see `Cache::writing_roster`).
    writing: HashMap<String, RosterWrites>,
}

/// The writes under way on one roster, and the roster as it was kept before the first began:
/// `None` if it was not kept, or once something else changed it meanwhile.
#[derive(Debug)]
struct RosterWrites {
    under_way: usize,
    before: Option<Arc<CachedRoster>>,
}

impl Rosters {
    fn take(&mut self, owner: &str) -> Option<Arc<CachedRoster>> {
        let roster = self.by_owner.remove(owner)?;
        self.items -= roster.items.len();
        Some(roster)
    }

    /// Keeps `owner`'s roster, dropping the oldest others to stay within `MAX_ROSTER_ITEMS`.
    fn keep(&mut self, owner: &str, roster: Arc<CachedRoster>) {
        if roster.items.len() > MAX_ROSTER_ITEMS {
            return;
        }
        self.take(owner);
        while self.items + roster.items.len() > MAX_ROSTER_ITEMS {
            let Some(oldest) = self.order.pop_front() else { break };
            self.take(&oldest);
        }
        self.items += roster.items.len();
        self.by_owner.insert(owner.to_owned(), roster);
        self.order.push_back(owner.to_owned());
        self.compact_order();
    }

    /// Refilling an owner again and again leaves its older places in `order` behind: keep
    /// only the latest place of each cached owner once they pile up.
    fn compact_order(&mut self) {
        if self.order.len() <= 2 * self.by_owner.len() + 64 {
            return;
        }
        let mut seen = HashSet::new();
        let latest: Vec<String> =
            self.order.drain(..).rev().filter(|o| self.by_owner.contains_key(o) && seen.insert(o.clone())).collect();
        self.order = latest.into_iter().rev().collect();
    }
}

/// What can wait for an account to come online.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Waiting {
    Offline = 0,
    Requests = 1,
    /// XEP-0357 registrations (read for every message to an account nobody looks at).
    PushRegistrations = 2,
}

/// Which of an account's data a write changed (rosters: see `Cache::writing_roster`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Written {
    Credentials,
    Offline,
    Requests,
    PushRegistrations,
    All,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single map operation: a poisoned map is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Cache {
    /// Taken before reading the database, handed back to `fill_*`.
    pub(crate) fn ticket(&self) -> u64 {
        self.writes.load(Ordering::Acquire)
    }

    /// Runs a write of `owner`'s data of that kind (with the database's result), dropping
    /// what is known of it before and after, whether the write succeeded or not.
    pub(crate) async fn writing<T>(
        &self,
        owner: &str,
        what: Written,
        write: impl Future<Output = Result<T, StorageError>>,
    ) -> Result<T, StorageError> {
        self.written(owner, what);
        let result = write.await;
        self.written(owner, what);
        result
    }

    /// Drops what is known about `owner`'s data of that kind (`writing` calls it before and
    /// after each write).
    pub(crate) fn written(&self, owner: &str, what: Written) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        if matches!(what, Written::Credentials | Written::All) {
            lock(&self.credentials).remove(owner);
        }
        if matches!(what, Written::All) {
            let mut r = lock(&self.rosters);
            r.take(owner);
            if let Some(w) = r.writing.get_mut(owner) {
                w.before = None;
            }
        }
        if matches!(what, Written::Offline | Written::All) {
            lock(self.nothing(Waiting::Offline)).remove(owner);
        }
        if matches!(what, Written::Requests | Written::All) {
            lock(self.nothing(Waiting::Requests)).remove(owner);
        }
        if matches!(what, Written::PushRegistrations | Written::All) {
            lock(self.nothing(Waiting::PushRegistrations)).remove(owner);
        }
    }

    /// What is known of the name's credentials: `Some(None)` if it has no account.
    pub(crate) fn credentials(&self, account: &str) -> Option<Option<Credentials>> {
        lock(&self.credentials).get(account).cloned()
    }

    /// Whether the account's credentials are kept (so it exists).
    pub(crate) fn knows_account(&self, account: &str) -> bool {
        lock(&self.credentials).get(account).is_some_and(Option::is_some)
    }

    /// Keeps what was read for a name: its credentials, or `None` if it has no account.
    pub(crate) fn fill_credentials(&self, ticket: u64, account: &str, credentials: Option<&Credentials>) {
        let mut kept = lock(&self.credentials);
        if self.writes.load(Ordering::Acquire) != ticket {
            return;
        }
        if kept.len() >= MAX_CREDENTIALS {
            kept.clear();
        }
        kept.insert(account.to_owned(), credentials.cloned());
    }

    /// Another process changed accounts: every credential is dropped, and reads under way
    /// do not fill.
    pub(crate) fn forget_credentials(&self) {
        self.writes.fetch_add(1, Ordering::AcqRel);
        lock(&self.credentials).clear();
    }

    pub(crate) fn roster(&self, owner: &str) -> Option<Arc<CachedRoster>> {
        lock(&self.rosters).by_owner.get(owner).cloned()
    }

    pub(crate) fn fill_roster(&self, ticket: u64, owner: &str, roster: Arc<CachedRoster>) {
        let mut r = lock(&self.rosters);
        if self.writes.load(Ordering::Acquire) == ticket {
            r.keep(owner, roster);
        }
    }

    /// Runs a write of one item of `owner`'s roster (with the database's result: the new
    /// version, if anything changed). Like `writing`, the kept roster is out of the cache
    /// while the write is under way; but once the write is committed it is put back with
    /// the change applied, so a write costs the same at any roster size instead of a reload
    /// of the whole roster by the next read. Unless another write of the same roster, or an
    /// account deletion, overlapped it: then the roster stays out until read again.
    pub(crate) async fn writing_roster<V: Copy + Into<Option<i64>>>(
        &self,
        owner: &str,
        change: RosterChange<'_>,
        write: impl Future<Output = Result<V, StorageError>>,
    ) -> Result<V, StorageError> {
        self.writes.fetch_add(1, Ordering::AcqRel);
        {
            let mut r = lock(&self.rosters);
            let before = r.take(owner);
            r.writing
                .entry(owner.to_owned())
                .and_modify(|w| {
                    w.under_way += 1;
                    w.before = None;
                })
                .or_insert(RosterWrites { under_way: 1, before });
        }
        let result = write.await;
        self.writes.fetch_add(1, Ordering::AcqRel);
        let mut r = lock(&self.rosters);
        // What a read filled while the write was under way may predate it.
        r.take(owner);
        let Some(w) = r.writing.get_mut(owner) else { return result };
        w.under_way -= 1;
        if w.under_way > 0 {
            return result;
        }
        let before = r.writing.remove(owner).and_then(|w| w.before);
        if let (Some(mut roster), Ok(version)) = (before, &result) {
            if let Some(version) = (*version).into() {
                Arc::make_mut(&mut roster).apply(change, version);
            }
            r.keep(owner, roster);
        }
        result
    }

    /// What `owner` has waiting of a kind, as `read` finds it, unless the account is known
    /// to have nothing waiting; a read that finds nothing is remembered.
    pub(crate) async fn waiting<T>(
        &self,
        kind: Waiting,
        owner: &str,
        read: impl Future<Output = Result<Vec<T>, StorageError>>,
    ) -> Result<Vec<T>, StorageError> {
        if self.nothing_waiting(kind, owner) {
            return Ok(Vec::new());
        }
        let ticket = self.ticket();
        let found = read.await?;
        if found.is_empty() {
            self.fill_nothing_waiting(kind, ticket, owner);
        }
        Ok(found)
    }

    fn nothing(&self, kind: Waiting) -> &Mutex<HashSet<String>> {
        &self.nothing_waiting[kind as usize]
    }

    fn nothing_waiting(&self, kind: Waiting, owner: &str) -> bool {
        lock(self.nothing(kind)).contains(owner)
    }

    fn fill_nothing_waiting(&self, kind: Waiting, ticket: u64, owner: &str) {
        let mut set = lock(self.nothing(kind));
        if self.writes.load(Ordering::Acquire) != ticket {
            return;
        }
        if set.len() >= MAX_EMPTY {
            set.clear();
        }
        set.insert(owner.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roster(n: usize) -> Arc<CachedRoster> {
        let items = (0..n).map(|i| (format!("c{i}@x"), RosterRow::new(format!("c{i}@x")))).collect();
        Arc::new(CachedRoster { items, version: 1 })
    }

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = Cache::default();
        let ticket = cache.ticket();
        cache.written("a@x", Written::All);
        cache.fill_roster(ticket, "a@x", roster(2));
        assert!(cache.roster("a@x").is_none());
        cache.fill_roster(cache.ticket(), "a@x", roster(2));
        assert_eq!(cache.roster("a@x").unwrap().items.len(), 2);
        cache.written("a@x", Written::All);
        assert!(cache.roster("a@x").is_none());

        let ticket = cache.ticket();
        cache.written("b@x", Written::Offline);
        cache.fill_nothing_waiting(Waiting::Offline, ticket, "a@x");
        assert!(!cache.nothing_waiting(Waiting::Offline, "a@x"));
        cache.fill_nothing_waiting(Waiting::Offline, cache.ticket(), "a@x");
        assert!(cache.nothing_waiting(Waiting::Offline, "a@x"));
        cache.written("a@x", Written::Offline);
        assert!(!cache.nothing_waiting(Waiting::Offline, "a@x"));
    }

    #[test]
    fn rosters_are_bounded_by_items() {
        let cache = Cache::default();
        let per = MAX_ROSTER_ITEMS / 4;
        for i in 0..6 {
            cache.fill_roster(cache.ticket(), &format!("u{i}@x"), roster(per));
        }
        let r = lock(&cache.rosters);
        assert!(r.items <= MAX_ROSTER_ITEMS);
        assert_eq!(r.items, r.by_owner.values().map(|c| c.items.len()).sum::<usize>());
        assert!(r.by_owner.contains_key("u5@x") && !r.by_owner.contains_key("u0@x"));
    }

    #[tokio::test]
    async fn a_roster_write_updates_the_kept_roster_unless_another_overlaps() {
        let cache = Cache::default();
        let row = RosterRow::new("new@x");
        cache.fill_roster(cache.ticket(), "a@x", roster(2));
        cache.writing_roster("a@x", RosterChange::Upsert(&row), async { Ok(5) }).await.unwrap();
        let kept = cache.roster("a@x").unwrap();
        assert_eq!((kept.items.len(), kept.version), (3, 5));
        assert_eq!(lock(&cache.rosters).items, 3);
        cache.writing_roster("a@x", RosterChange::Remove("c0@x"), async { Ok(Some(6)) }).await.unwrap();
        let kept = cache.roster("a@x").unwrap();
        assert_eq!((kept.items.len(), kept.version, kept.items.contains_key("c0@x")), (2, 6, false));
        cache.writing_roster("a@x", RosterChange::Remove("c0@x"), async { Ok(None) }).await.unwrap();
        assert_eq!(cache.roster("a@x").unwrap().version, 6, "nothing removed, nothing changed");

        // A failed write leaves the roster to be read again.
        let failed = cache.writing_roster("a@x", RosterChange::Upsert(&row), async {
            Err::<i64, _>(StorageError::Corrupt("test".into()))
        });
        assert!(failed.await.is_err());
        assert!(cache.roster("a@x").is_none());

        // So do two writes under way at once, and a write overlapping an account deletion.
        cache.fill_roster(cache.ticket(), "a@x", roster(2));
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let first = cache.writing_roster("a@x", RosterChange::Upsert(&row), async {
            wait.await.ok();
            Ok(7)
        });
        let second = async {
            let written = cache.writing_roster("a@x", RosterChange::Remove("c1@x"), async { Ok(Some(8)) }).await;
            go.send(()).ok();
            written
        };
        let (first, second) = tokio::join!(first, second);
        assert!(first.is_ok() && second.is_ok());
        assert!(cache.roster("a@x").is_none());
        assert!(lock(&cache.rosters).writing.is_empty());

        cache.fill_roster(cache.ticket(), "a@x", roster(2));
        let write = cache.writing_roster("a@x", RosterChange::Upsert(&row), async {
            cache.written("a@x", Written::All);
            Ok(9)
        });
        write.await.unwrap();
        assert!(cache.roster("a@x").is_none());
        assert_eq!(lock(&cache.rosters).items, 0);
    }

    #[test]
    fn refilling_one_roster_keeps_the_order_small() {
        let cache = Cache::default();
        for _ in 0..1000 {
            cache.written("a@x", Written::All);
            cache.fill_roster(cache.ticket(), "a@x", roster(1));
        }
        assert!(lock(&cache.rosters).order.len() <= 66);
    }
}
