//! What a module keeps in memory per account (preferences, lists, counters): bounded, and
//! dropped when the account is removed. Made with [`crate::Registry::account_cache`] (or
//! made earlier and handed to [`crate::Registry::forgets`]), which is what ties it to account
//! removal: no module listens for removals to clean its caches by hand.

use rhein_proto::BareJid;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// Per-account values, at most `capacity` of them.
pub struct AccountCache<V> {
    map: Mutex<HashMap<BareJid, V>>,
    capacity: usize,
}

/// Something that keeps data per account.
pub(crate) trait ForgetsAccounts: Send + Sync {
    fn forget(&self, account: &BareJid);
}

impl<V: Send> ForgetsAccounts for AccountCache<V> {
    fn forget(&self, account: &BareJid) {
        self.remove(account);
    }
}

impl<V> AccountCache<V> {
    /// An empty cache; register it with [`crate::Registry::forgets`].
    pub fn new(capacity: usize) -> Self {
        Self { map: Mutex::default(), capacity: capacity.max(1) }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<BareJid, V>> {
        // Every critical section is one map operation: a poisoned map is still consistent.
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `value` for `account`.
    pub fn insert(&self, account: BareJid, value: V) {
        let mut map = self.map();
        self.make_room(&mut map, &account);
        map.insert(account, value);
    }

    /// Changes `account`'s value in place, starting from `V::default()`; returns what `f` does.
    pub fn update<R>(&self, account: &BareJid, f: impl FnOnce(&mut V) -> R) -> R
    where
        V: Default,
    {
        let mut map = self.map();
        self.make_room(&mut map, account);
        f(map.entry(account.clone()).or_default())
    }

    /// Before `account` is added to a full cache, lets go of some other account's value (any:
    /// what is kept can always be read again).
    fn make_room(&self, map: &mut HashMap<BareJid, V>, account: &BareJid) {
        if map.len() >= self.capacity && !map.contains_key(account) {
            let evicted = map.keys().next().cloned();
            if let Some(evicted) = evicted {
                map.remove(&evicted);
            }
        }
    }

    pub fn remove(&self, account: &BareJid) -> Option<V> {
        self.map().remove(account)
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.map().is_empty()
    }
}

impl<V: Clone> AccountCache<V> {
    pub fn get(&self, account: &BareJid) -> Option<V> {
        self.map().get(account).cloned()
    }
}

impl<V> AccountCache<V> {
    /// What `f` makes of `account`'s value, without a copy (for checks on every stanza).
    pub fn read<R>(&self, account: &BareJid, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.map().get(account).map(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    #[test]
    fn it_never_holds_more_than_its_capacity() {
        let cache = AccountCache::new(3);
        for i in 0..10 {
            cache.insert(jid(&format!("u{i}@x")), i);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&jid("u9@x")), Some(9), "the newest is kept");
        for i in 10..20 {
            cache.update(&jid(&format!("u{i}@x")), |n: &mut i32| *n += i);
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.get(&jid("u19@x")), Some(19));
    }

    #[test]
    fn replacing_a_value_evicts_nothing() {
        let cache = AccountCache::new(2);
        cache.insert(jid("a@x"), 1);
        cache.insert(jid("b@x"), 2);
        cache.insert(jid("a@x"), 3);
        cache.update(&jid("b@x"), |n| *n += 1);
        assert_eq!((cache.get(&jid("a@x")), cache.get(&jid("b@x"))), (Some(3), Some(3)));
    }

    #[test]
    fn a_forgotten_account_is_gone() {
        let cache = AccountCache::new(8);
        cache.insert(jid("a@x"), "kept");
        cache.insert(jid("b@x"), "kept");
        ForgetsAccounts::forget(&cache, &jid("a@x"));
        assert_eq!((cache.get(&jid("a@x")), cache.get(&jid("b@x"))), (None, Some("kept")));
    }
}
