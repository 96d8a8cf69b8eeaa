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

    /// Keeps `value` for `key` from now.
    pub(crate) fn put(&self, key: K, value: V) {
        let mut entries = self.lock();
        self.make_room(&mut entries, &key);
        entries.insert(key, (Instant::now(), value));
    }

    /// When full, forgets what expired, then the oldest, for `key` to come in.
    fn make_room(&self, entries: &mut HashMap<K, (Instant, V)>, key: &K) {
        if entries.len() < self.capacity || entries.contains_key(key) {
            return;
        }
        entries.retain(|_, (at, _)| at.elapsed() < self.keep);
        if entries.len() >= self.capacity
            && let Some(oldest) = entries.iter().min_by_key(|(_, (at, _))| *at).map(|(k, _)| k.clone())
        {
            entries.remove(&oldest);
        }
    }

    /// Counts one more event for `key` in the current period (which starts with the first
    /// one); how many there were in it, this one included.
    pub(crate) fn count(&self, key: K) -> u32
    where
        V: From<u32> + Into<u32> + Copy,
    {
        let mut entries = self.lock();
        self.make_room(&mut entries, &key);
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

impl<K: Hash + Eq + Clone> Recent<K, ()> {
    /// Takes `key`'s turn: `true` (and kept from now) if it had none in the period, `false`
    /// if it had. One check-and-set, so parallel callers cannot all pass.
    pub(crate) fn claim(&self, key: K) -> bool {
        let mut entries = self.lock();
        if entries.get(&key).is_some_and(|(at, _)| at.elapsed() < self.keep) {
            return false;
        }
        self.make_room(&mut entries, &key);
        entries.insert(key, (Instant::now(), ()));
        true
    }
}

/// What counts as one address for limits: an IPv4 address, or the /64 an IPv6 address is in
/// (one host is given a whole /64).
pub(crate) fn address_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            std::net::IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
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
        assert_eq!(attempts.count(3), 1);
        assert_eq!(attempts.lock().len(), 2, "counting stays within its bound");
        let turns: Recent<u8, ()> = Recent::new(Duration::from_secs(60), 2);
        assert!(turns.claim(1) && !turns.claim(1) && turns.claim(2));
    }

    #[test]
    fn an_ipv6_host_is_its_64() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        let v4: std::net::IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(address_key(v4), v4);
    }
}
