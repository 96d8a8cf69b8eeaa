//! Each admin-socket request carried out by the service that owns it: accounts, sessions,
//! announcements and the message of the day by the admin module's [`AdminService`] (the one
//! its XEP-0133 commands call), rooms by the MUC module, links by federation.

use super::protocol::{Link, Outcome, Reply, Request, Room, Session, Status};
use rhein_mod_admin::{AdminError, AdminService};
use rhein_mod_muc::MucAdministration;
use rhein_module::{Ctx, RouterApi};
use rhein_proto::{BareJid, Jid};
use rhein_router::Router;
use std::sync::Arc;
use std::time::Instant;

/// What the operations reach.
pub(crate) struct Operations {
    pub router: Router,
    pub db: rhein_storage::Db,
    pub s2s: Option<rhein_s2s::S2s>,
    pub connections: rhein_stream::Connections,
    pub started: Instant,
    pub reloader: std::sync::Arc<crate::reload::Reloader>,
}

/// A refusal's one line.
type Refusal = String;

impl Operations {
    pub(crate) async fn run(&self, request: Request) -> Reply {
        match self.outcome(request).await {
            Ok(result) => Reply::Ok { result },
            Err(reason) => Reply::Refused { reason },
        }
    }

    async fn outcome(&self, request: Request) -> Result<Outcome, Refusal> {
        match request {
            Request::Status => Ok(Outcome::Status(self.status().await)),
            Request::Sessions { user } => {
                let admin = self.admin()?;
                let sessions = match user {
                    Some(user) => {
                        let (ctx, account) = self.account(&admin, &user)?;
                        admin.sessions(&ctx, Some(&account))
                    }
                    None => self.hosts().iter().flat_map(|ctx| admin.sessions(ctx, None)).collect(),
                };
                let sessions = sessions
                    .into_iter()
                    .map(|s| Session {
                        jid: s.jid.to_string(),
                        available: s.available,
                        priority: s.priority,
                        detached: s.detached,
                        inactive: s.inactive,
                    })
                    .collect();
                Ok(Outcome::Sessions { sessions })
            }
            Request::Kick { jid, reason } => {
                let admin = self.admin()?;
                let jid = match jid.contains('@') {
                    true => Jid::new(&jid).map_err(|_| format!("{jid:?} is not a JID"))?,
                    false => self.account(&admin, &jid)?.1.into(),
                };
                let ctx = self.host_ctx(jid.domain().as_str())?;
                let ended = admin.end_sessions(&ctx, &jid, reason.as_deref()).map_err(refusal)?;
                match ended {
                    0 => Err(format!("{jid} has no session")),
                    n => Ok(done(format!("{n} session(s) of {jid} ended"))),
                }
            }
            Request::Disable { user } => self.set_disabled(&user, true).await,
            Request::DeleteUser { user } => {
                let admin = self.admin()?;
                let (ctx, account) = self.account(&admin, &user)?;
                admin.delete_users(&ctx, std::slice::from_ref(&account)).await.map_err(refusal)?;
                Ok(done(format!("deleted {account}")))
            }
            Request::Enable { user } => self.set_disabled(&user, false).await,
            Request::Rooms { host } => {
                let muc = self.muc()?;
                let mut rooms = Vec::new();
                for ctx in self.chosen_hosts(host.as_deref())? {
                    rooms.extend(muc.rooms(&ctx).await.map_err(|e| e.to_string())?.into_iter().map(|r| Room {
                        jid: r.jid.to_string(),
                        name: r.name,
                        public: r.public,
                        persistent: r.persistent,
                        occupants: r.occupants,
                    }));
                }
                Ok(Outcome::Rooms { rooms })
            }
            Request::DestroyRoom { room, reason } => {
                let muc = self.muc()?;
                let room = BareJid::new(&room).map_err(|_| format!("{room:?} is not a room's JID"))?;
                let ctx = self
                    .hosts()
                    .into_iter()
                    .find(|ctx| muc.domain(ctx) == room.domain().as_str())
                    .ok_or_else(|| format!("{} is not a room service of this server", room.domain()))?;
                muc.destroy(&ctx, &room, reason).await.map_err(|e| e.to_string())?;
                Ok(done(format!("{room} destroyed")))
            }
            Request::Announce { text, host } => {
                let admin = self.admin()?;
                let mut sent = 0;
                for ctx in self.chosen_hosts(host.as_deref())? {
                    sent += admin.announce(&ctx, None, &text).map_err(refusal)?;
                }
                Ok(done(format!("announced to {sent} session(s)")))
            }
            Request::MotdSet { text, host } => {
                let admin = self.admin()?;
                for ctx in self.chosen_hosts(host.as_deref())? {
                    admin.set_motd(&ctx, Some(text.clone())).await.map_err(refusal)?;
                }
                Ok(done("message of the day set".into()))
            }
            Request::MotdClear { host } => {
                let admin = self.admin()?;
                for ctx in self.chosen_hosts(host.as_deref())? {
                    admin.set_motd(&ctx, None).await.map_err(refusal)?;
                }
                Ok(done("message of the day cleared".into()))
            }
            Request::S2s { close } => {
                let s2s = self.s2s.as_ref().ok_or("federation is off (no s2s listener)")?;
                let closed = close.map(|domain| s2s.close(&domain));
                let links = s2s
                    .links()
                    .into_iter()
                    .map(|l| Link { local: l.local, remote: l.remote, inbound: l.inbound })
                    .collect();
                Ok(Outcome::Links { links, closed })
            }
            Request::Reload => {
                let reloader = self.reloader.clone();
                let report = tokio::task::spawn_blocking(move || reloader.reload()).await.map_err(|e| e.to_string())?;
                match report.config_refused {
                    Some(_) => Err(report.to_string()),
                    None => Ok(done(report.to_string())),
                }
            }
        }
    }

    async fn set_disabled(&self, user: &str, disabled: bool) -> Result<Outcome, Refusal> {
        let admin = self.admin()?;
        let (ctx, account) = self.account(&admin, user)?;
        admin.set_disabled(&ctx, std::slice::from_ref(&account), disabled).await.map_err(refusal)?;
        Ok(done(format!("{account} {}", if disabled { "disabled" } else { "enabled" })))
    }

    async fn status(&self) -> Status {
        let hosts = self.router.hosts();
        let mut accounts: Vec<BareJid> =
            hosts.iter().flat_map(|h| self.router.sessions_on(h)).map(|jid| jid.to_bare()).collect();
        accounts.dedup();
        let sessions: Vec<_> = accounts.iter().flat_map(|a| self.router.resources(a)).collect();
        let links = self.s2s.as_ref().map(|s| s.links()).unwrap_or_default();
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_secs: self.started.elapsed().as_secs(),
            client_sessions: sessions.len(),
            detached_sessions: sessions.iter().filter(|r| r.detached).count(),
            hosts,
            connections: self.connections.total(),
            components: self.router.connected_components(),
            s2s_outbound: links.iter().filter(|l| !l.inbound).count(),
            s2s_inbound: links.iter().filter(|l| l.inbound).count(),
            memory_bytes: resident_memory(),
            storage_backend: self.db.backend().into(),
            storage_bytes: self.db.size().await.ok(),
        }
    }

    fn admin(&self) -> Result<Arc<AdminService>, Refusal> {
        self.router.provided().ok_or_else(|| "the admin module is not enabled".into())
    }

    fn muc(&self) -> Result<Arc<MucAdministration>, Refusal> {
        self.router.provided().ok_or_else(|| "the muc module is not enabled".into())
    }

    fn hosts(&self) -> Vec<Ctx> {
        self.router.hosts().iter().map(|h| self.router.ctx(h)).collect()
    }

    fn host_ctx(&self, host: &str) -> Result<Ctx, Refusal> {
        let host = host.to_ascii_lowercase();
        match self.router.is_host(&host) {
            true => Ok(self.router.ctx(&host)),
            false => Err(format!("{host} is not a host of this server")),
        }
    }

    /// One host if named, else all of them.
    fn chosen_hosts(&self, host: Option<&str>) -> Result<Vec<Ctx>, Refusal> {
        match host {
            Some(host) => Ok(vec![self.host_ctx(host)?]),
            None => Ok(self.hosts()),
        }
    }

    /// An account named by bare JID, or by username on the first host.
    fn account(&self, admin: &AdminService, user: &str) -> Result<(Ctx, BareJid), Refusal> {
        let ctx = match user.split_once('@') {
            Some((_, domain)) => self.host_ctx(domain)?,
            None => self.hosts().into_iter().next().ok_or("the server has no host")?,
        };
        let account = admin.account(&ctx, user).map_err(refusal)?;
        Ok((ctx, account))
    }
}

fn done(message: String) -> Outcome {
    Outcome::Done { message }
}

fn refusal(e: AdminError) -> Refusal {
    e.to_string()
}

/// The process's resident set size, from /proc (Linux); `None` elsewhere.
fn resident_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
