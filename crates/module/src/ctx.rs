//! What a handler gets to work with.

use crate::registry::BoxFuture;
use rhein_proto::{BareJid, Element, FullJid, Jid};
use rhein_storage::Db;
use std::sync::Arc;
use std::time::Instant;

/// A bound resource as the router sees it.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub jid: FullJid,
    pub priority: i8,
    /// The last available presence broadcast by this resource; `None` until initial presence.
    pub presence: Option<Element>,
    /// What the resource asked to be kept informed of.
    pub interests: Interests,
    /// The connection is gone and the session waits for resumption (XEP-0198): stanzas are
    /// queued for it, but nobody is looking at them.
    pub detached: bool,
    /// The client said it is inactive (XEP-0352): connected, but nobody is looking.
    pub inactive: bool,
}

impl ResourceInfo {
    pub fn is_available(&self) -> bool {
        self.presence.is_some()
    }

    pub fn wants(&self, interest: Interest) -> bool {
        self.interests.contains(interest)
    }
}

/// Something a session opts into during its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interest {
    /// Fetched the roster: gets roster pushes (RFC 6121 §2.1.6).
    Roster,
    /// Fetched the blocklist: gets block and unblock pushes (XEP-0191).
    Blocklist,
    /// Enabled message carbons (XEP-0280).
    Carbons,
    /// Asked for MIX channels to be marked in its roster (XEP-0405 §5.9).
    MixAnnotations,
}

/// A small set of [`Interest`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interests(u8);

impl Interests {
    fn bit(i: Interest) -> u8 {
        1 << (i as u8)
    }
    pub fn contains(self, i: Interest) -> bool {
        self.0 & Self::bit(i) != 0
    }
    pub fn set(&mut self, i: Interest, on: bool) {
        if on {
            self.0 |= Self::bit(i);
        } else {
            self.0 &= !Self::bit(i);
        }
    }
}

/// The router as modules see it.
pub trait RouterApi: Send + Sync + 'static {
    /// Routes a stanza towards its `to`, as the server would route any inbound stanza
    /// (recipient-side stages and delivery rules apply; sender-side stages do not).
    fn route(&self, stanza: Element) -> BoxFuture<'_, ()>;
    /// Routes a copy of a stanza to each of `to`, as `route` would each one, but writes it
    /// once for every local session it reaches unchanged (no recipient-side stage wants it).
    fn fan_out(&self, stanza: Element, to: Vec<Jid>) -> BoxFuture<'_, ()>;
    /// Hands a stanza straight to one session; `false` if it is gone.
    fn send_to(&self, jid: &FullJid, stanza: Element) -> bool;
    /// The bound resources of an account.
    fn resources(&self, bare: &BareJid) -> Vec<ResourceInfo>;
    /// Records a resource's broadcast presence (`None`: it became unavailable).
    fn set_presence(&self, jid: &FullJid, presence: Option<Element>, priority: i8);
    /// Turns an interest of a resource on or off.
    fn set_interest(&self, jid: &FullJid, interest: Interest, on: bool);
    /// The resources a message of type `mtype` to `bare` is delivered to (RFC 6121 §8.5.2).
    fn message_targets(&self, bare: &BareJid, mtype: &str) -> Vec<FullJid>;
    /// Whether a domain is one of ours (account host or service).
    fn is_local_host(&self, domain: &str) -> bool;
    /// Service domains below a host (components, later MUC and MIX), for the host's disco#items.
    fn services(&self, host: &str) -> Vec<String>;
    /// Sends an IQ get or set from the server and waits for the answer (result or error), at
    /// most `timeout`; `None` on timeout. The IQ's `id` is chosen here.
    fn send_iq(&self, iq: Element, timeout: std::time::Duration) -> BoxFuture<'_, Option<Element>>;
    /// Runs every module's handler of `event` for `host`, in turn; done when they all are.
    fn emit(&self, host: &str, event: crate::Event) -> BoxFuture<'_, ()>;
    /// Every session bound on `host` (its full JID), sorted.
    fn sessions_on(&self, host: &str) -> Vec<FullJid>;
    /// Ends the session of a full JID, or every session of a bare JID's account, with a
    /// `policy-violation` stream error and `reason` as its text; how many there were.
    fn end_sessions(&self, jid: &Jid, reason: Option<&str>) -> usize;
}

/// Facts about the running server.
#[derive(Debug)]
pub struct ServerInfo {
    pub name: &'static str,
    pub version: &'static str,
    pub started: Instant,
    /// Where uploaded files (XEP-0363) are kept.
    pub upload_dir: std::path::PathBuf,
    /// The HTTPS origin web clients reach this server at (`https://example.org:5281`), known
    /// once the listeners are bound; `None` without an https listener.
    pub web_origin: std::sync::OnceLock<String>,
    /// Administrators named by the configuration (bare JIDs, lowercase); invites can make
    /// more. A reload replaces them.
    pub admins: std::sync::RwLock<Vec<String>>,
    /// The server serves a webchat at `/webchat/` of its web origin.
    pub webchat: bool,
}

impl ServerInfo {
    /// Whether the configuration names `who` (a bare JID) an administrator.
    pub fn configured_admin(&self, who: &str) -> bool {
        self.admins.read().unwrap_or_else(|p| p.into_inner()).iter().any(|a| a == who)
    }

    /// The address of the server's own webchat, if it serves one (and has an https origin).
    pub fn webchat_url(&self) -> Option<String> {
        self.webchat.then(|| self.web_origin.get().map(|origin| format!("{origin}/webchat/"))).flatten()
    }
}

/// Handed to every handler: the host it serves, storage, the router and server facts.
#[derive(Clone)]
pub struct Ctx {
    pub host: Arc<str>,
    pub db: Db,
    pub router: Arc<dyn RouterApi>,
    pub server: Arc<ServerInfo>,
    pub disco: Arc<crate::Disco>,
    /// What each online client can do, as far as it is known.
    pub caps: Arc<crate::caps::Capabilities>,
}

impl Ctx {
    /// Whether `who` administers this host: named in the configuration, or made an
    /// administrator by an invite. A storage failure answers no.
    pub async fn is_admin(&self, who: &BareJid) -> bool {
        if who.domain().as_str() != &*self.host {
            return false;
        }
        if self.server.configured_admin(who.as_str()) {
            return true;
        }
        let Some(user) = who.node() else { return false };
        self.db.accounts().is_admin(&self.host, user.as_str()).await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "storage failure");
            false
        })
    }
}
