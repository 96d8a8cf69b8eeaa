//! XEP-0077 In-Band Registration of accounts on the host: before authentication, the fields
//! and the registration itself (with the XEP-0445 token the stream presented, or open, or
//! not at all, as configured); after it, what is registered, password change and removal.

use crate::{Invites, Registration};
use rhein_module::{Ctx, Event, Iq, IqResult, PreAuth};
use rhein_proto::register::{Preauth, Query};
use rhein_proto::{BareJid, StanzaError};
use rhein_storage::{Invite, NotRegistered};
use std::net::IpAddr;
use std::sync::Arc;

/// XEP-0445 §4: a token presented before registering. It is checked now (and its expiry
/// only now) but used only by the registration that follows on this stream.
pub(crate) async fn preauth(m: Arc<Invites>, ctx: Ctx, request: PreAuth<Preauth>) -> IqResult {
    match ctx
        .db
        .invites()
        .check_registration(&ctx.host, &request.payload.token)
        .await
        .map_err(rhein_module::storage_failure)?
    {
        Ok(_) => {
            m.tokens.put(request.stream.stream, request.payload.token);
            Ok(None)
        }
        Err(refused) => Err(StanzaError::item_not_found().with_text(refused.to_string())),
    }
}

/// §3.1: the fields to fill in. Asked before a token was presented, the instructions say that
/// one is needed (clients ask for the fields first, whatever they do next).
pub(crate) async fn fields(m: Arc<Invites>, _ctx: Ctx, request: PreAuth<Query>) -> IqResult {
    let invited = m.tokens.get(&request.stream.stream).is_some();
    let instructions = match (invited, m.config.get().registration) {
        (false, Registration::Invite) => "Registration needs an invitation: present its token (XEP-0445) first.",
        _ => "Choose a username and a password.",
    };
    let query = Query {
        instructions: Some(instructions.into()),
        username: Some(String::new()),
        password: Some(String::new()),
        ..Query::default()
    };
    Ok(Some(query.into()))
}

pub(crate) fn needs_invite() -> StanzaError {
    StanzaError::not_allowed().with_text("registration needs an invitation (a XEP-0445 token)")
}

/// §3.1: creates the account, with the stream's token or as open registration allows.
pub(crate) async fn register(m: Arc<Invites>, ctx: Ctx, request: PreAuth<Query>) -> IqResult {
    let query = &request.payload;
    if query.remove {
        return Err(StanzaError::not_authorized().with_text("log in to remove your account"));
    }
    let (Some(username), Some(password)) = query.credentials() else {
        return Err(StanzaError::not_acceptable().with_text("a username and a password are required"));
    };
    let token = m.tokens.get(&request.stream.stream);
    let created = m.create_account(&ctx, &ctx.host, username, password, token.as_deref(), request.stream.peer).await;
    // Done with, or no longer of use (XEP-0445 §4 lets the client try without it then).
    if created.is_ok() || created.as_ref().is_err_and(|e| e.condition == "not-authorized") {
        m.tokens.forget(&request.stream.stream);
    }
    created.map(|_| None)
}

impl Invites {
    /// Creates `username` on `host` with `password`, with an invite's token or as open
    /// registration allows: the one path of in-band registration and of the landing page's
    /// form. The account and what its invite gives it; a refusal says why.
    pub(crate) async fn create_account(
        &self,
        ctx: &Ctx,
        host: &str,
        username: &str,
        password: &str,
        token: Option<&str>,
        peer: IpAddr,
    ) -> Result<(BareJid, Option<Invite>), StanzaError> {
        match (self.config.get().registration, token) {
            (Registration::Closed, _) => {
                return Err(StanzaError::not_allowed().with_text("this server does not create accounts here"));
            }
            (Registration::Invite, None) => return Err(needs_invite()),
            _ => {}
        }
        let username = localpart(host, username)?;
        self.check_password(password)?;
        // Cheap refusals before the costly derivation.
        let taken = ctx.db.accounts().exists(host, &username).await.map_err(rhein_module::storage_failure)?;
        if taken {
            return Err(refusal(NotRegistered::Taken));
        }
        // Open registration: the address's turn is taken before anything slow happens, so
        // that streams in parallel cannot all pass the check.
        let address = crate::recent::address_key(peer);
        if token.is_none() && !self.registered_from.claim(address) {
            let wait = self.config.get().open_registration_interval_secs.div_ceil(60);
            return Err(StanzaError::resource_constraint()
                .with_text(format!("one new account per address every {wait} minutes: try again later")));
        }
        let credentials = {
            // Each derivation costs tens of MiB and a core for a while: a few at a time.
            let _permit = self.derivations.acquire().await.map_err(|_| StanzaError::internal_server_error())?;
            rhein_module::derive_credentials(password).await
        };
        let outcome = ctx.db.invites().register(host, &username, &credentials, token).await;
        let invite = outcome.map_err(rhein_module::storage_failure)?.map_err(refusal)?;
        let account = BareJid::new(&format!("{username}@{host}")).map_err(|_| StanzaError::jid_malformed())?;
        tracing::info!(%account, invited = invite.is_some(), "account registered");
        if let Some(invite) = &invite {
            welcome(ctx, host, account.clone(), invite.clone()).await;
        }
        Ok((account, invite))
    }

    /// Refuses a password shorter than configured.
    fn check_password(&self, password: &str) -> Result<(), StanzaError> {
        let min = self.config.get().min_password_length.max(1);
        if password.chars().count() < min {
            return Err(
                StanzaError::not_acceptable().with_text(format!("the password needs at least {min} characters"))
            );
        }
        Ok(())
    }
}

/// What a new account gets from its invite, told to the modules that give it.
async fn welcome(ctx: &Ctx, host: &str, account: BareJid, invite: Invite) {
    let inviter = invite.creator.filter(|_| invite.subscribe).and_then(|c| BareJid::new(&c).ok());
    let rooms = invite.rooms.iter().filter_map(|r| BareJid::new(r).ok()).collect();
    let event = Event::Invited { account, inviter, groups: invite.groups, rooms };
    ctx.router.emit(host, event).await;
}

/// How a registration storage refused is answered (XEP-0077 §3.1, XEP-0445 §4).
fn refusal(refused: NotRegistered) -> StanzaError {
    let text = refused.to_string();
    match refused {
        NotRegistered::Invite(_) => StanzaError::not_authorized(),
        NotRegistered::Taken | NotRegistered::Reserved => StanzaError::conflict(),
        NotRegistered::OtherName(_) => StanzaError::not_acceptable(),
    }
    .with_text(text)
}

/// `username` prepared as a local part of `host` (RFC 7622), or `not-acceptable`.
pub(crate) fn localpart(host: &str, username: &str) -> Result<String, StanzaError> {
    rhein_proto::prepare_localpart(username, host)
        .ok_or_else(|| StanzaError::not_acceptable().with_text(format!("{username:?} is not a valid username")))
}

/// The account a logged-in client's request is about: its own, whether the request went to
/// the account or to the host (clients send XEP-0077 requests to their domain).
fn requester(ctx: &Ctx, iq: &Iq<Query>) -> Result<BareJid, StanzaError> {
    let from = iq.from.to_bare();
    let about_self = iq.to.to_bare() == from || (iq.to.node().is_none() && iq.to.domain().as_str() == &*ctx.host);
    match from.node() {
        Some(_) if about_self && from.domain().as_str() == &*ctx.host => Ok(from),
        _ => Err(StanzaError::forbidden()),
    }
}

/// §3.1 for a logged-in account: registered, under this username.
pub(crate) async fn registered(ctx: Ctx, iq: Iq<Query>) -> IqResult {
    let me = requester(&ctx, &iq)?;
    let username = me.node().map(|n| n.as_str().to_owned());
    Ok(Some(Query { registered: true, username, password: Some(String::new()), ..Query::default() }.into()))
}

/// §3.2 and §3.3 for a logged-in account: removal (its sessions end with `not-authorized`),
/// or a new password for its own username.
pub(crate) async fn change(m: Arc<Invites>, ctx: Ctx, iq: Iq<Query>) -> IqResult {
    let me = requester(&ctx, &iq)?;
    let Some(user) = me.node().map(|n| n.as_str().to_owned()) else { return Err(StanzaError::bad_request()) };
    if iq.payload.remove {
        rhein_module::roster::delete_account(&ctx, &me).await.map_err(rhein_module::storage_failure)?;
        tracing::info!(account = %me, "account removed in-band");
        return Ok(None);
    }
    let (Some(username), Some(password)) = iq.payload.credentials() else {
        return Err(StanzaError::bad_request().with_text("a username and a new password are required"));
    };
    if localpart(&ctx.host, username)? != user {
        return Err(StanzaError::not_authorized().with_text("you can change only your own password"));
    }
    m.check_password(password)?;
    let credentials = {
        let _permit = m.derivations.acquire().await.map_err(|_| StanzaError::internal_server_error())?;
        rhein_module::derive_credentials(password).await
    };
    ctx.db.accounts().set_credentials(&ctx.host, &user, &credentials).await.map_err(rhein_module::storage_failure)?;
    tracing::info!(account = %me, "password changed in-band");
    Ok(None)
}
