//! The administration of a host, written once for its two front ends: the XEP-0133 commands
//! an administrator runs from a client, and the server's admin socket (`rhein ctl`). Each
//! operation takes the host's context and answers in types; the front ends only read their
//! input and show the answer.

use crate::motd::Motd;
use rhein_module::Ctx;
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};
use rhein_storage::StorageError;

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("storage failure: {0}")]
    Storage(#[from] StorageError),
}

impl From<AdminError> for StanzaError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::NotFound(text) => StanzaError::item_not_found().with_text(text),
            AdminError::BadRequest(text) => StanzaError::bad_request().with_text(text),
            AdminError::Conflict(text) => StanzaError::conflict().with_text(text),
            AdminError::Storage(e) => rhein_module::storage_failure(e),
        }
    }
}

/// A bound session as an administrator sees it.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub jid: FullJid,
    /// It sent available presence.
    pub available: bool,
    pub priority: i8,
    /// Its connection is gone; it waits for resumption (XEP-0198).
    pub detached: bool,
    /// The client said nobody looks at it (XEP-0352).
    pub inactive: bool,
}

/// What XEP-0133 §4.11 "Get User Statistics" reports of an account.
#[derive(Debug, Clone)]
pub struct UserStats {
    pub account: BareJid,
    pub roster_size: usize,
    pub sessions: Vec<SessionInfo>,
    pub disabled: bool,
    pub admin: bool,
}

/// The host administration service; the admin module provides it to the server.
#[derive(Default)]
pub struct AdminService {
    motd: Motd,
}

impl AdminService {
    /// An account of the host named by a bare JID, or by its username alone.
    pub fn account(&self, ctx: &Ctx, name: &str) -> Result<BareJid, AdminError> {
        let name = name.trim();
        let jid = match name.contains('@') {
            true => BareJid::new(name).map_err(|_| AdminError::BadRequest(format!("{name:?} is not a JID")))?,
            false => {
                let user = rhein_proto::prepare_localpart(name, &ctx.host)
                    .ok_or_else(|| AdminError::BadRequest(format!("{name:?} is not a valid username")))?;
                BareJid::new(&format!("{user}@{}", ctx.host)).map_err(|_| AdminError::BadRequest(name.into()))?
            }
        };
        if jid.node().is_none() || jid.domain().as_str() != &*ctx.host {
            return Err(AdminError::BadRequest(format!("{jid} is no account of {}", ctx.host)));
        }
        Ok(jid)
    }

    /// `Ok` if every account exists; `NotFound` names the first that does not.
    pub async fn require_existing(&self, ctx: &Ctx, accounts: &[BareJid]) -> Result<(), AdminError> {
        for account in accounts {
            let (host, user) = parts(account);
            if !ctx.db.accounts().exists(host, user).await? {
                return Err(AdminError::NotFound(format!("there is no account {account}")));
            }
        }
        Ok(())
    }

    pub async fn add_user(&self, ctx: &Ctx, account: &BareJid, password: &str) -> Result<(), AdminError> {
        let credentials = credentials(password).await?;
        let (host, user) = parts(account);
        if !ctx.db.accounts().create(host, user, &credentials).await? {
            return Err(AdminError::Conflict(format!("{account} exists already")));
        }
        tracing::info!(%account, "account added by an administrator");
        Ok(())
    }

    /// Deletes accounts and everything stored for them (the router tells their contacts and
    /// modules as storage reports the removal); none unless all exist.
    pub async fn delete_users(&self, ctx: &Ctx, accounts: &[BareJid]) -> Result<(), AdminError> {
        self.require_existing(ctx, accounts).await?;
        for account in accounts {
            rhein_module::roster::delete_account(ctx, account).await?;
            tracing::info!(%account, "account deleted by an administrator");
        }
        Ok(())
    }

    /// Disables accounts (their sessions end; logins get `account-disabled`) or enables them
    /// again; none unless all exist.
    pub async fn set_disabled(&self, ctx: &Ctx, accounts: &[BareJid], disabled: bool) -> Result<(), AdminError> {
        self.require_existing(ctx, accounts).await?;
        for account in accounts {
            let (host, user) = parts(account);
            ctx.db.accounts().set_disabled(host, user, disabled).await?;
            if disabled {
                ctx.router.end_sessions(&account.clone().into(), Some("the account was disabled"));
            }
            tracing::info!(%account, disabled, "account disabled or enabled by an administrator");
        }
        Ok(())
    }

    /// Sets a new password; the account's sessions end, as they logged in with the old one.
    pub async fn change_password(&self, ctx: &Ctx, account: &BareJid, password: &str) -> Result<(), AdminError> {
        let credentials = credentials(password).await?;
        let (host, user) = parts(account);
        if !ctx.db.accounts().set_credentials(host, user, &credentials).await? {
            return Err(AdminError::NotFound(format!("there is no account {account}")));
        }
        ctx.router.end_sessions(&account.clone().into(), Some("the password was changed"));
        tracing::info!(%account, "password changed by an administrator");
        Ok(())
    }

    /// Ends one session (a full JID) or all of an account's; how many there were.
    pub fn end_sessions(&self, ctx: &Ctx, jid: &Jid, reason: Option<&str>) -> Result<usize, AdminError> {
        if jid.node().is_none() || jid.domain().as_str() != &*ctx.host {
            return Err(AdminError::BadRequest(format!("{jid} is no account of {}", ctx.host)));
        }
        let ended = ctx.router.end_sessions(jid, reason);
        tracing::info!(%jid, ended, "sessions ended by an administrator");
        Ok(ended)
    }

    /// The host's sessions, or one account's, sorted by JID.
    pub fn sessions(&self, ctx: &Ctx, of: Option<&BareJid>) -> Vec<SessionInfo> {
        let accounts: Vec<BareJid> = match of {
            Some(account) => vec![account.clone()],
            None => self.online_accounts(ctx),
        };
        let mut sessions: Vec<SessionInfo> = accounts
            .iter()
            .flat_map(|a| ctx.router.resources(a))
            .map(|r| SessionInfo {
                available: r.is_available(),
                priority: r.priority,
                detached: r.detached,
                inactive: r.inactive,
                jid: r.jid,
            })
            .collect();
        sessions.sort_by(|a, b| a.jid.cmp(&b.jid));
        sessions
    }

    /// The accounts with a session on the host.
    pub fn online_accounts(&self, ctx: &Ctx) -> Vec<BareJid> {
        let mut accounts: Vec<BareJid> = ctx.router.sessions_on(&ctx.host).iter().map(|j| j.to_bare()).collect();
        accounts.dedup();
        accounts
    }

    /// The online accounts split by whether someone uses them: active with a session that is
    /// available, attached and not inactive (XEP-0352), else idle.
    pub fn active_and_idle(&self, ctx: &Ctx) -> (Vec<BareJid>, Vec<BareJid>) {
        let mut active: Vec<BareJid> = self
            .sessions(ctx, None)
            .into_iter()
            .filter(|s| s.available && !s.detached && !s.inactive)
            .map(|s| s.jid.to_bare())
            .collect();
        active.dedup();
        let idle = self.online_accounts(ctx).into_iter().filter(|a| !active.contains(a)).collect();
        (active, idle)
    }

    pub async fn registered(&self, ctx: &Ctx) -> Result<Vec<BareJid>, AdminError> {
        Ok(self.jids(ctx, ctx.db.accounts().list(&ctx.host).await?))
    }

    pub async fn disabled(&self, ctx: &Ctx) -> Result<Vec<BareJid>, AdminError> {
        Ok(self.jids(ctx, ctx.db.accounts().disabled(&ctx.host).await?))
    }

    fn jids(&self, ctx: &Ctx, users: Vec<String>) -> Vec<BareJid> {
        users.into_iter().filter_map(|u| BareJid::new(&format!("{u}@{}", ctx.host)).ok()).collect()
    }

    /// When the account last logged in (milliseconds since the epoch): now if it is online,
    /// else when it was last seen; `None` if it never was.
    pub async fn last_login(&self, ctx: &Ctx, account: &BareJid) -> Result<Option<i64>, AdminError> {
        self.require_existing(ctx, std::slice::from_ref(account)).await?;
        if !ctx.router.resources(account).is_empty() {
            return Ok(Some(rhein_storage::now_ms()));
        }
        Ok(ctx.db.last_activity().get(account.as_str()).await?.map(|(at, _)| at))
    }

    pub async fn user_stats(&self, ctx: &Ctx, account: &BareJid) -> Result<UserStats, AdminError> {
        self.require_existing(ctx, std::slice::from_ref(account)).await?;
        let (host, user) = parts(account);
        let roster_size = ctx.db.roster().items(account.as_str()).await?.len();
        let disabled = ctx.db.accounts().disabled(host).await?.iter().any(|u| u == user);
        Ok(UserStats {
            account: account.clone(),
            roster_size,
            sessions: self.sessions(ctx, Some(account)),
            disabled,
            admin: ctx.is_admin(account).await,
        })
    }

    /// A headline from the host to every session on it; how many got it.
    pub fn announce(&self, ctx: &Ctx, subject: Option<&str>, body: &str) -> Result<usize, AdminError> {
        if body.trim().is_empty() {
            return Err(AdminError::BadRequest("the announcement is empty".into()));
        }
        let mut message = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "headline");
        xml::set_attr(&mut message, "from", &*ctx.host);
        if let Some(subject) = subject {
            message.append_child(xml::text_el("subject", ns::CLIENT, subject));
        }
        message.append_child(xml::text_el("body", ns::CLIENT, body));
        let sessions = ctx.router.sessions_on(&ctx.host);
        for jid in &sessions {
            let mut copy = message.clone();
            xml::set_attr(&mut copy, "to", jid.as_str());
            ctx.router.send_to(jid, copy);
        }
        tracing::info!(sessions = sessions.len(), "announcement sent by an administrator");
        Ok(sessions.len())
    }

    pub async fn motd(&self, ctx: &Ctx) -> Result<Option<String>, AdminError> {
        self.motd.get(ctx).await
    }

    /// Sets (or, with `None`, deletes) the message of the day sent to each session as it binds.
    pub async fn set_motd(&self, ctx: &Ctx, text: Option<String>) -> Result<(), AdminError> {
        if text.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(AdminError::BadRequest("the message of the day is empty".into()));
        }
        self.motd.set(ctx, text).await
    }

    /// A session bound: it gets the message of the day.
    pub(crate) async fn greet(&self, ctx: &Ctx, jid: &FullJid) {
        if let Ok(Some(text)) = self.motd.get(ctx).await {
            let mut message = xml::with_attr(Element::bare("message", ns::CLIENT), "from", &*ctx.host);
            xml::set_attr(&mut message, "to", jid.as_str());
            xml::set_attr(&mut message, "type", "headline");
            message.append_child(xml::text_el("body", ns::CLIENT, text));
            ctx.router.send_to(jid, message);
        }
    }
}

/// What verifies a new password; none for an empty one.
async fn credentials(password: &str) -> Result<rhein_sasl::Credentials, AdminError> {
    match password.is_empty() {
        true => Err(AdminError::BadRequest("the password must not be empty".into())),
        false => Ok(rhein_module::derive_credentials(password).await),
    }
}

/// An account's domain and username.
pub(crate) fn parts(account: &BareJid) -> (&str, &str) {
    (account.domain().as_str(), account.node().map(|n| n.as_str()).unwrap_or_default())
}
