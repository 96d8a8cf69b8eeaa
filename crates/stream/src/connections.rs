//! Admission of connections: how many are open per address and in all. Every transport takes
//! a [`Slot`] before it costs anything (TCP listeners on accept, WebSocket on upgrade, BOSH on
//! session creation), so one address, or everyone together, stays within the configured caps.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// A pool of connection slots; clones share it.
#[derive(Clone)]
pub struct Connections {
    inner: Arc<Inner>,
}

struct Inner {
    open: Mutex<Open>,
}

/// The counts and the caps, under one lock: a reload may change the caps.
#[derive(Default)]
struct Open {
    by_address: HashMap<IpAddr, usize>,
    total: usize,
    max_per_address: usize,
    max_total: usize,
    /// Addresses the per-address cap does not apply to (trusted reverse proxies, which carry
    /// many clients' connections).
    uncapped: HashSet<IpAddr>,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("too many connections from this address")]
    Address,
    #[error("the server is at its connection limit")]
    Full,
}

/// Held for the life of a connection; gives its slot back on drop.
#[must_use = "the slot is given back when dropped"]
pub struct Slot {
    ip: IpAddr,
    inner: Arc<Inner>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.inner.lock();
        open.total -= 1;
        if let Some(n) = open.by_address.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_address.remove(&self.ip);
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Connections {
    pub fn new(max_per_address: usize, max_total: usize) -> Self {
        let open = Open { max_per_address, max_total, ..Open::default() };
        Self { inner: Arc::new(Inner { open: Mutex::new(open) }) }
    }

    /// New caps for connections from now on; those open stay.
    pub fn set_caps(&self, max_per_address: usize, max_total: usize) {
        let mut open = self.inner.lock();
        (open.max_per_address, open.max_total) = (max_per_address, max_total);
    }

    /// Addresses exempt from the per-address cap from now on (the total still applies).
    pub fn set_uncapped(&self, addresses: impl IntoIterator<Item = IpAddr>) {
        self.inner.lock().uncapped = addresses.into_iter().collect();
    }

    /// A slot for one more connection from `ip`, unless that would pass a cap.
    pub fn acquire(&self, ip: IpAddr) -> Result<Slot, Refused> {
        let mut open = self.inner.lock();
        if open.total >= open.max_total {
            return Err(Refused::Full);
        }
        let max_per_address = if open.uncapped.contains(&ip) { usize::MAX } else { open.max_per_address };
        let n = open.by_address.entry(ip).or_insert(0);
        if *n >= max_per_address {
            return Err(Refused::Address);
        }
        *n += 1;
        open.total += 1;
        Ok(Slot { ip, inner: self.inner.clone() })
    }

    /// Connections open now.
    pub fn total(&self) -> usize {
        self.inner.lock().total
    }

    /// Waits until every connection has ended, at most `limit`.
    pub async fn drain(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.total() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_address_and_in_all_and_slots_come_back() {
        let pool = Connections::new(2, 3);
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let a1 = pool.acquire(a).unwrap();
        let _a2 = pool.acquire(a).unwrap();
        assert_eq!(pool.acquire(a).err(), Some(Refused::Address));
        let _b1 = pool.acquire(b).unwrap();
        assert_eq!(pool.acquire(b).err(), Some(Refused::Full));
        drop(a1);
        assert_eq!(pool.total(), 2);
        let _b2 = pool.acquire(b).expect("a freed slot is usable by another address");
        assert_eq!(pool.acquire(a).err(), Some(Refused::Full));
    }
}
