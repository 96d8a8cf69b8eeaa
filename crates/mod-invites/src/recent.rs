//! What the module remembers for a while about streams and addresses (the token a stream
//! presented, when an address last registered), bounded in time and in size: a peer that
//! opens streams without end cannot make it grow.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct Recent<K, V> {
    entries: Mutex<HashMap<K, (Instant, V)>>,
    keep: Duration,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Recent<K, V> {
    pub(crate) fn new(keep: Duration, capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), keep, capacity }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value kept for `key`, unless it is older than the time values are kept.
    pub(crate) fn get(&self, key: &K) -> Option<V> {
        let entries = self.lock();
        entries.get(key).filter(|(at, _)| at.elapsed() < self.keep).map(|(_, v)| v.clone())
    }

    /// Keeps `value` for `key` from now; when full, forgets what expired, then the oldest.
    pub(crate) fn put(&self, key: K, value: V) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.keep);
            if entries.len() >= self.capacity
                && let Some(oldest) = entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// Counts one more event for `key` in the current period (which starts with the first
    /// one); how many there were in it, this one included.
    pub(crate) fn count(&self, key: K) -> u32
    where
        V: From<u32> + Into<u32> + Copy,
    {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.keep);
        }
        let entry = entries.entry(key).or_insert((Instant::now(), V::from(0)));
        if entry.0.elapsed() >= self.keep {
            *entry = (Instant::now(), V::from(0));
        }
        let n: u32 = entry.1.into() + 1;
        entry.1 = V::from(n);
        n
    }

    pub(crate) fn forget(&self, key: &K) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_expire_and_the_oldest_makes_room() {
        let recent = Recent::new(Duration::from_secs(60), 2);
        recent.put(1, "a");
        recent.put(2, "b");
        recent.put(3, "c");
        assert_eq!((recent.get(&1), recent.get(&2), recent.get(&3)), (None, Some("b"), Some("c")));
        let gone = Recent::new(Duration::ZERO, 2);
        gone.put(1, "a");
        assert_eq!(gone.get(&1), None);
        recent.forget(&2);
        assert_eq!(recent.get(&2), None);
        let attempts: Recent<u8, u32> = Recent::new(Duration::from_secs(60), 2);
        assert_eq!((attempts.count(1), attempts.count(1), attempts.count(2)), (1, 2, 1));
    }
}
