//! Throttling of failed logins per address and per account: after too many failures in a
//! window, further attempts get `temporary-auth-failure` until the window passes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottleLimits {
    pub per_address: u32,
    pub per_account: u32,
    pub window: Duration,
}

impl Default for ThrottleLimits {
    fn default() -> Self {
        Self { per_address: 20, per_account: 5, window: Duration::from_secs(60) }
    }
}

#[derive(Default)]
struct Counters {
    by_address: HashMap<IpAddr, (u32, Instant)>,
    by_account: HashMap<String, (u32, Instant)>,
}

/// Failure counters, shared by all connections.
pub struct AuthThrottle {
    limits: ThrottleLimits,
    counters: Mutex<Counters>,
}

impl AuthThrottle {
    pub fn new(limits: ThrottleLimits) -> Self {
        Self { limits, counters: Mutex::default() }
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether an attempt from `addr` for `account` may proceed.
    pub fn allowed(&self, addr: IpAddr, account: &str) -> bool {
        let now = Instant::now();
        let w = self.limits.window;
        let c = self.counters();
        let under = |entry: Option<&(u32, Instant)>, max: u32| match entry {
            Some((n, since)) if now.duration_since(*since) < w => *n < max,
            _ => true,
        };
        under(c.by_address.get(&addr), self.limits.per_address)
            && under(c.by_account.get(account), self.limits.per_account)
    }

    pub fn failed(&self, addr: IpAddr, account: &str) {
        let now = Instant::now();
        let w = self.limits.window;
        let mut c = self.counters();
        let bump = |e: &mut (u32, Instant)| {
            if now.duration_since(e.1) >= w {
                *e = (0, now);
            }
            e.0 += 1;
        };
        bump(c.by_address.entry(addr).or_insert((0, now)));
        bump(c.by_account.entry(account.to_owned()).or_insert((0, now)));
        // Keep the maps bounded under a spray of names or addresses.
        if c.by_account.len() > 100_000 || c.by_address.len() > 100_000 {
            c.by_account.retain(|_, e| now.duration_since(e.1) < w);
            c.by_address.retain(|_, e| now.duration_since(e.1) < w);
        }
    }

    pub fn succeeded(&self, account: &str) {
        self.counters().by_account.remove(account);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_account_after_limit() {
        let t = AuthThrottle::new(ThrottleLimits { per_address: 100, per_account: 2, window: Duration::from_secs(60) });
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(t.allowed(ip, "a@x"));
        t.failed(ip, "a@x");
        t.failed(ip, "a@x");
        assert!(!t.allowed(ip, "a@x"));
        assert!(t.allowed(ip, "b@x"));
        t.succeeded("a@x");
        assert!(t.allowed(ip, "a@x"));
    }
}
