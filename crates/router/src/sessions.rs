//! The session table: bare JID to bound resources, each with its outbound channel.

use rhein_module::{Interests, ResourceInfo};
use rhein_proto::{BareJid, Broadcast, Element, FullJid, Jid, StreamErrorCondition};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::{Notify, mpsc};

/// What the router asks a session to do.
#[derive(Debug)]
pub enum Outbound {
    /// Boxed: a channel allocates its slots in blocks up front, and every session has one.
    Stanza(Box<Element>),
    /// A copy of a stanza written once for many sessions; this one's `to` is the session's JID.
    Shared(Arc<Broadcast>),
    /// Close the stream with this error (e.g. `conflict` when another session takes the
    /// resource); boxed, as it is rare and the text would widen every slot.
    Close(Box<Closing>),
}

/// Why the router ends a session: the stream error, and words for the user.
#[derive(Debug)]
pub struct Closing {
    pub condition: StreamErrorCondition,
    pub text: Option<String>,
}

impl Outbound {
    pub fn close(condition: StreamErrorCondition, text: Option<&str>) -> Self {
        Outbound::Close(Box::new(Closing { condition, text: text.map(str::to_owned) }))
    }
}

/// The router's end of a session.
#[derive(Clone)]
pub struct SessionHandle {
    pub id: u64,
    tx: mpsc::Sender<Outbound>,
    /// Fired when the session cannot keep up (its queue is full): it must close itself.
    overflow: Arc<Notify>,
}

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

impl SessionHandle {
    /// A handle plus the receiving ends the session task listens on.
    pub fn new(queue: usize) -> (Self, mpsc::Receiver<Outbound>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let overflow = Arc::new(Notify::new());
        let id = NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed);
        (Self { id, tx, overflow: overflow.clone() }, rx, overflow)
    }

    /// Stanzas queued for the session and not yet taken by it.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Queues without waiting: a full queue is a slow consumer, which is told to go rather
    /// than allowed to block the router.
    pub fn push(&self, out: Outbound) -> bool {
        self.offer(out).is_ok()
    }

    /// As `push`, giving back what was not queued.
    pub(crate) fn offer(&self, out: Outbound) -> Result<(), Outbound> {
        match self.tx.try_send(out) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(out)) => {
                self.overflow.notify_one();
                Err(out)
            }
            Err(mpsc::error::TrySendError::Closed(out)) => Err(out),
        }
    }
}

/// Why binding failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// The account has as many sessions as it may (`resource-constraint`).
    TooManySessions,
}

pub(crate) struct Resource {
    pub(crate) jid: FullJid,
    pub(crate) priority: i8,
    pub(crate) presence: Option<Element>,
    pub(crate) interests: Interests,
    pub(crate) detached: bool,
    pub(crate) inactive: bool,
    pub(crate) handle: SessionHandle,
}

impl Resource {
    pub(crate) fn name(&self) -> &str {
        self.jid.resource().as_str()
    }
}

#[derive(Default)]
pub(crate) struct Table {
    map: RwLock<HashMap<BareJid, Vec<Resource>>>,
}

impl Table {
    // A poisoned lock means a panic elsewhere while holding it; the table itself is still
    // consistent (every mutation is a single push/remove), so keep serving.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, HashMap<BareJid, Vec<Resource>>> {
        self.map.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write(&self) -> RwLockWriteGuard<'_, HashMap<BareJid, Vec<Resource>>> {
        self.map.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn bind(&self, jid: FullJid, handle: SessionHandle, max: usize) -> Result<(), BindError> {
        let mut map = self.write();
        let list = map.entry(jid.to_bare()).or_default();
        let resource = jid.resource().as_str();
        if let Some(pos) = list.iter().position(|r| r.name() == resource) {
            let old = list.remove(pos);
            old.handle.push(Outbound::close(StreamErrorCondition::Conflict, None));
        } else if list.len() >= max {
            return Err(BindError::TooManySessions);
        }
        list.push(Resource {
            jid,
            priority: 0,
            presence: None,
            interests: Interests::default(),
            detached: false,
            inactive: false,
            handle,
        });
        Ok(())
    }

    /// Removes the resource if it still belongs to `session_id`; returns its last presence
    /// (`Some(None)` if it never sent one), or `None` if it was not there.
    pub(crate) fn unbind(&self, jid: &FullJid, session_id: u64) -> Option<Option<Element>> {
        let mut map = self.write();
        let bare = jid.to_bare();
        let list = map.get_mut(&bare)?;
        let pos = list.iter().position(|r| r.name() == jid.resource().as_str() && r.handle.id == session_id)?;
        let r = list.remove(pos);
        if list.is_empty() {
            map.remove(&bare);
        }
        Some(r.presence)
    }

    pub(crate) fn resources(&self, bare: &BareJid) -> Vec<ResourceInfo> {
        let map = self.read();
        map.get(bare)
            .into_iter()
            .flatten()
            .map(|r| ResourceInfo {
                jid: r.jid.clone(),
                priority: r.priority,
                presence: r.presence.clone(),
                interests: r.interests,
                detached: r.detached,
                inactive: r.inactive,
            })
            .collect()
    }

    /// Whether the account has a bound resource (no copies made: asked for every delivery).
    pub(crate) fn has_resources(&self, bare: &BareJid) -> bool {
        self.read().get(bare).is_some_and(|l| !l.is_empty())
    }

    /// The available resources of `bare` (without copying their presence, as `resources` does).
    pub(crate) fn available(&self, bare: &BareJid) -> Vec<FullJid> {
        self.read().get(bare).into_iter().flatten().filter(|r| r.presence.is_some()).map(|r| r.jid.clone()).collect()
    }

    /// Available resources with non-negative priority; unless `all`, only those of the
    /// highest priority (RFC 6121 §8.5.2.1.1).
    pub(crate) fn message_targets(&self, bare: &BareJid, all: bool) -> Vec<FullJid> {
        let map = self.read();
        let eligible = map.get(bare).into_iter().flatten().filter(|r| r.presence.is_some() && r.priority >= 0);
        let top = eligible.clone().map(|r| r.priority).max().unwrap_or(0);
        eligible.filter(|r| all || r.priority == top).map(|r| r.jid.clone()).collect()
    }

    pub(crate) fn with_resource<T>(&self, jid: &FullJid, f: impl FnOnce(&mut Resource) -> T) -> Option<T> {
        let mut map = self.write();
        let r = map.get_mut(&jid.to_bare())?.iter_mut().find(|r| r.name() == jid.resource().as_str())?;
        Some(f(r))
    }

    pub(crate) fn send_to(&self, jid: &FullJid, el: Element) -> bool {
        self.try_send_to(jid, el).is_ok()
    }

    /// Queues `el` for the session bound to `jid`, or gives it back (no such session, or its
    /// queue is full), so that the caller can deliver it elsewhere without having copied it.
    pub(crate) fn try_send_to(&self, jid: &FullJid, el: Element) -> Result<(), Element> {
        let map = self.read();
        let Some(r) = bound(&map, jid) else { return Err(el) };
        r.handle.offer(Outbound::Stanza(Box::new(el))).map_err(|out| match out {
            Outbound::Stanza(el) => *el,
            _ => unreachable!("a stanza was offered"),
        })
    }

    /// Queues a copy of `stanza` for the session bound to `jid`; `false` if there is none or
    /// its queue is full.
    pub(crate) fn send_shared(&self, jid: &FullJid, stanza: &Arc<Broadcast>) -> bool {
        bound(&self.read(), jid).is_some_and(|r| r.handle.push(Outbound::Shared(stanza.clone())))
    }

    pub(crate) fn count(&self) -> usize {
        self.read().values().map(Vec::len).sum()
    }

    /// Stanzas waiting in the sessions' queues: in all, and in the fullest one.
    pub(crate) fn queued(&self) -> (usize, usize) {
        let depths = self.read().values().flatten().map(|r| r.handle.queued()).collect::<Vec<_>>();
        (depths.iter().sum(), depths.iter().copied().max().unwrap_or(0))
    }

    /// Closes the session `jid` names, or every session of an account for a bare JID, with
    /// `condition` and `text`; they unbind as they end. How many were told to.
    pub(crate) fn close(&self, jid: &Jid, condition: StreamErrorCondition, text: Option<&str>) -> usize {
        let map = self.read();
        let sessions = map.get(&jid.to_bare()).into_iter().flatten();
        let mut closed = 0;
        for r in sessions.filter(|r| jid.resource().is_none_or(|res| r.name() == res.as_str())) {
            r.handle.push(Outbound::close(condition, text));
            closed += 1;
        }
        closed
    }

    /// Closes every session bound on `host` with `condition`; how many were told to.
    pub(crate) fn close_host(&self, host: &str, condition: StreamErrorCondition) -> usize {
        let map = self.read();
        let mut closed = 0;
        for r in map.iter().filter(|(bare, _)| bare.domain().as_str() == host).flat_map(|(_, rs)| rs) {
            r.handle.push(Outbound::close(condition, None));
            closed += 1;
        }
        closed
    }

    /// The full JIDs of every session bound on `host`, by account.
    pub(crate) fn bound_on(&self, host: &str) -> Vec<FullJid> {
        let map = self.read();
        let mut jids: Vec<FullJid> = map
            .iter()
            .filter(|(bare, _)| bare.domain().as_str() == host)
            .flat_map(|(_, rs)| rs.iter().map(|r| r.jid.clone()))
            .collect();
        jids.sort();
        jids
    }

    pub(crate) fn close_all(&self) {
        for r in self.read().values().flatten() {
            r.handle.push(Outbound::close(StreamErrorCondition::SystemShutdown, None));
        }
    }
}

/// The resource bound to `jid`, if any.
fn bound<'a>(map: &'a HashMap<BareJid, Vec<Resource>>, jid: &FullJid) -> Option<&'a Resource> {
    map.get(&jid.to_bare())?.iter().find(|r| r.name() == jid.resource().as_str())
}
