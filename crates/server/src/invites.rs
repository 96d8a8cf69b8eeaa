//! Invites made by the operator (the command line, the first-admin link at start, an
//! ephemeral server's `--invite`), and what they are handed out as.

use crate::{Config, ListenerKind};
use rhein_mod_invites::{InvitesConfig, links};
use rhein_storage::{Db, FIRST_ADMIN, Invite, InviteKind, NewInvite, Refused, StorageError};

/// An invite just made: stored, with its token shown this once as links.
#[derive(Debug, Clone)]
pub struct Handout {
    pub invite: Invite,
    /// The `xmpp:` URI for apps.
    pub uri: String,
    /// The landing page, when there is an https listener to serve it.
    pub landing: Option<String>,
}

/// Stores `new` and returns its links; `https_port` is where the server's https listener is
/// (bound, or as configured), for the landing page.
pub async fn create(
    db: &Db,
    config: &Config,
    new: &NewInvite,
    https_port: Option<u16>,
) -> Result<Handout, StorageError> {
    let (invite, token) = db.invites().create(new).await?;
    let uri = links::uri(&invite, &token);
    let landing = landing_origin(config, &invite.host, https_port).map(|origin| links::landing(&origin, &token));
    Ok(Handout { invite, uri, landing })
}

/// Where landing pages are: `[modules.invites] landing_origin`, else the https listener on
/// the host's name.
pub fn landing_origin(config: &Config, host: &str, https_port: Option<u16>) -> Option<String> {
    let configured = config
        .modules
        .settings
        .get("invites")
        .and_then(|t| t.clone().try_into::<InvitesConfig>().ok())
        .and_then(|c| c.landing_origin);
    let port = https_port.or_else(|| {
        config.listeners.iter().find(|l| l.kind == ListenerKind::Https).map(|l| l.address.port()).filter(|p| *p != 0)
    });
    configured.or_else(|| port.map(|port| format!("https://{host}:{port}")))
}

/// The invite that makes the first administrator of `host`, replacing any such invite not
/// used yet: printed at start while the server has no account.
pub async fn first_admin(
    db: &Db,
    config: &Config,
    host: &str,
    https_port: Option<u16>,
) -> Result<Handout, StorageError> {
    db.invites().revoke_first_admin(host).await?;
    let new = NewInvite { admin: true, note: Some(FIRST_ADMIN.into()), ..NewInvite::new(host, InviteKind::Account) };
    create(db, config, &new, https_port).await
}

/// Whether an invite can be used now, in a word or two.
pub fn state(invite: &Invite) -> &'static str {
    match invite.refusal(rhein_storage::now_ms()) {
        None => "usable",
        Some(Refused::Expired) => "expired",
        Some(Refused::UsedUp) => "used up",
        Some(Refused::Revoked) => "revoked",
        Some(Refused::Unknown | Refused::WrongKind) => "unusable",
    }
}
