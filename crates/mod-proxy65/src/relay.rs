//! Transfers: the connections waiting by hash (the target's first, the requester's second),
//! and the relay between them once activated, paced to its account's rate and ended when
//! idle.

use rhein_proto::BareJid;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One side of a transfer: its place taken while the client is told it has it, then its
/// connection (with its address's slot).
enum Side {
    Reserved,
    /// The slot is held for as long as the connection waits.
    Connected {
        stream: TcpStream,
        _slot: Slot,
    },
}

impl Side {
    fn connected(&self) -> bool {
        matches!(self, Side::Connected { .. })
    }
}

/// The two sides of one transfer, as they arrive: the target's first, the requester's second.
struct Waiting {
    target: Side,
    requester: Option<Side>,
    since: Instant,
}

/// Connections from each address that negotiate or wait for activation: an address gets a
/// few, so that one host cannot take every place before activation.
#[derive(Default)]
pub(crate) struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// One connection's place among its address's; given back when dropped.
pub(crate) struct Slot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl PerAddress {
    /// A place for a connection from `ip`, if it has fewer than `max`.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut table = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = table.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot { table: self.clone(), ip })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut table = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = table.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                table.remove(&self.ip);
            }
        }
    }
}

/// Why a connection or an activation was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Both sides of this hash are connected already.
    Taken,
    /// Too many connections wait for activation.
    Full,
    /// No connection with this hash (a wrong hash, or the wrong requester).
    Unknown,
    /// Only the target connected so far.
    OneSided,
    /// The requester's account has as many transfers as it may, or the proxy has.
    TooMany,
}

/// Connections waiting for activation, and transfers under way per account.
pub(crate) struct Transfers {
    waiting: Mutex<HashMap<String, Waiting>>,
    active: Mutex<HashMap<BareJid, Account>>,
    max_waiting: usize,
    max_per_account: usize,
    /// Transfers under way at most, all accounts together.
    max_active: usize,
}

/// An account's transfers: how many, and the pace they share.
struct Account {
    transfers: usize,
    pace: Arc<Pace>,
}

impl Transfers {
    pub(crate) fn new(max_waiting: usize, max_per_account: usize, max_active: usize) -> Self {
        Self { waiting: Mutex::default(), active: Mutex::default(), max_waiting, max_per_account, max_active }
    }

    fn waiting(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<BareJid, Account>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a connection that completed SOCKS5 (the first of its hash is the target's, the
    /// second the requester's). Its place is reserved before `confirm` tells the client so,
    /// so that racing connections for one hash cannot both be told they have it; a connection
    /// the table cannot take is handed back with the reason, for the client to be told that.
    pub(crate) async fn arrive(
        &self,
        hash: &str,
        mut stream: TcpStream,
        slot: Slot,
        confirm: impl AsyncFnOnce(&mut TcpStream) -> std::io::Result<()>,
    ) -> Result<(), (TcpStream, Refusal)> {
        let is_target = {
            let mut waiting = self.waiting();
            let full = waiting.len() >= self.max_waiting;
            match waiting.get_mut(hash) {
                Some(w) if w.requester.is_some() => return Err((stream, Refusal::Taken)),
                Some(w) => {
                    w.requester = Some(Side::Reserved);
                    false
                }
                None if full => return Err((stream, Refusal::Full)),
                None => {
                    let w = Waiting { target: Side::Reserved, requester: None, since: Instant::now() };
                    waiting.insert(hash.to_owned(), w);
                    true
                }
            }
        };
        let told = confirm(&mut stream).await.is_ok();
        let mut waiting = self.waiting();
        let Some(w) = waiting.get_mut(hash) else { return Ok(()) };
        match (told, is_target) {
            (true, true) => w.target = Side::Connected { stream, _slot: slot },
            (true, false) => w.requester = Some(Side::Connected { stream, _slot: slot }),
            (false, true) => drop(waiting.remove(hash)),
            (false, false) => w.requester = None,
        }
        Ok(())
    }

    /// Drops the connections that waited longer than `limit`.
    pub(crate) fn expire(&self, limit: Duration) {
        self.waiting().retain(|_, w| w.since.elapsed() < limit);
    }

    /// Starts the transfer of `hash` for `account` (the requester's), relaying until both
    /// sides are done or it idles for `idle`.
    pub(crate) fn activate(
        self: &Arc<Self>,
        hash: &str,
        account: &BareJid,
        bytes_per_second: u64,
        idle: Duration,
    ) -> Result<(), Refusal> {
        let (target, requester, pace) = {
            let mut waiting = self.waiting();
            let w = waiting.get(hash).ok_or(Refusal::Unknown)?;
            if !(w.target.connected() && w.requester.as_ref().is_some_and(Side::connected)) {
                return Err(Refusal::OneSided);
            }
            let pace = self.start(account, bytes_per_second)?;
            // Both sides are connected (checked just above, under the same lock).
            let Some(Waiting {
                target: Side::Connected { stream: target, .. },
                requester: Some(Side::Connected { stream: requester, .. }),
                ..
            }) = waiting.remove(hash)
            else {
                self.finished(account);
                return Err(Refusal::OneSided);
            };
            (target, requester, pace)
        };
        let transfers = self.clone();
        let account = account.clone();
        tokio::spawn(async move {
            let moved = relay(requester, target, &pace, idle).await;
            tracing::debug!(%account, moved, "bytestream ended");
            transfers.finished(&account);
        });
        Ok(())
    }

    /// Counts a transfer of `account`, if it may have one more; the pace its transfers share.
    fn start(&self, account: &BareJid, bytes_per_second: u64) -> Result<Arc<Pace>, Refusal> {
        let mut active = self.active();
        let total: usize = active.values().map(|a| a.transfers).sum();
        let entry = active
            .entry(account.clone())
            .or_insert_with(|| Account { transfers: 0, pace: Arc::new(Pace::new(bytes_per_second)) });
        if entry.transfers >= self.max_per_account || total >= self.max_active {
            return Err(Refusal::TooMany);
        }
        entry.transfers += 1;
        Ok(entry.pace.clone())
    }

    fn finished(&self, account: &BareJid) {
        let mut active = self.active();
        if let Some(entry) = active.get_mut(account) {
            entry.transfers -= 1;
            if entry.transfers == 0 {
                active.remove(account);
            }
        }
    }
}

/// Copies both ways until both sides have finished (each half-close passed on), or nothing
/// moved for `idle`. The bytes moved.
async fn relay(a: TcpStream, b: TcpStream, pace: &Pace, idle: Duration) -> u64 {
    let (mut a_read, mut a_write) = a.into_split();
    let (mut b_read, mut b_write) = b.into_split();
    let (mut a_buf, mut b_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut a_open, mut b_open) = (true, true);
    let mut moved = 0u64;
    while a_open || b_open {
        let (n, from_a) = tokio::select! {
            n = a_read.read(&mut a_buf), if a_open => (n, true),
            n = b_read.read(&mut b_buf), if b_open => (n, false),
            () = tokio::time::sleep(idle) => break,
        };
        let (buf, to) = if from_a { (&a_buf, &mut b_write) } else { (&b_buf, &mut a_write) };
        match n {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                if from_a { a_open = false } else { b_open = false }
            }
            Ok(n) => {
                // A side that stops reading is idle too: the write may wait as long.
                let written = tokio::time::timeout(idle, async {
                    pace.take(n).await;
                    to.write_all(&buf[..n]).await
                });
                if !matches!(written.await, Ok(Ok(()))) {
                    break;
                }
                moved += n as u64;
            }
        }
    }
    moved
}

/// A rate shared by an account's transfers: each write waits until the bytes before it
/// would have taken their time at `bytes_per_second` (0: no limit), allowing a second's
/// worth of burst.
pub(crate) struct Pace {
    bytes_per_second: u64,
    /// When the bytes granted so far are paid for.
    paid_until: Mutex<Instant>,
}

impl Pace {
    pub(crate) fn new(bytes_per_second: u64) -> Self {
        Self { bytes_per_second, paid_until: Mutex::new(Instant::now()) }
    }

    pub(crate) async fn take(&self, bytes: usize) {
        if self.bytes_per_second == 0 {
            return;
        }
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        let now = Instant::now();
        let wake = {
            let mut paid = self.paid_until.lock().unwrap_or_else(|e| e.into_inner());
            // Unused time earns at most a second of credit.
            let credit_floor = now.checked_sub(Duration::from_secs(1)).unwrap_or(now);
            *paid = (*paid).max(credit_floor) + cost;
            *paid
        };
        if wake > now {
            tokio::time::sleep_until(wake.into()).await;
        }
    }
}
