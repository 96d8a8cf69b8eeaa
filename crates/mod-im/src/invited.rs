//! Contacts made by invitation: an account registered through an invite and its inviter
//! become mutual contacts at once (XEP-0401 §3.7), and a subscription request carrying a
//! valid XEP-0379 token of the user it asks is approved at once and answered with a request
//! the other way.

use crate::roster::{self, RosterLimit};
use crate::{internal, presence, subscription};
use rhein_module::{Ctx, Event};
use rhein_proto::register::Preauth;
use rhein_proto::{BareJid, Element, StanzaError, ns};
use rhein_storage::{Invite, InviteKind, Subscription};

/// `Event::Invited` with an inviter: both rosters get the other, subscribed both ways, and the
/// inviter's clients are told (roster push). The newcomer has no session yet; its first
/// presence and probe exchange presence as for any contact.
pub(crate) async fn handle_event(ctx: Ctx, event: Event, limit: RosterLimit) {
    let Event::Invited { account, inviter: Some(inviter), groups, .. } = event else { return };
    for (owner, contact, groups) in [(&account, &inviter, groups), (&inviter, &account, Vec::new())] {
        if let Err(e) = befriend(&ctx, owner, contact, groups, limit).await {
            tracing::warn!(%owner, %contact, error = %e, "could not add the invited contact");
        }
    }
}

async fn befriend(
    ctx: &Ctx,
    owner: &BareJid,
    contact: &BareJid,
    groups: Vec<String>,
    limit: RosterLimit,
) -> Result<(), StanzaError> {
    let _roster = roster::lock(owner).await;
    let mut row = roster::item_or_new(ctx, owner, contact, limit).await?;
    row.subscription = Subscription::Both;
    row.ask = false;
    row.approved = false;
    for group in groups {
        if !row.groups.contains(&group) {
            row.groups.push(group);
        }
    }
    roster::save(ctx, owner, &row).await
}

/// The XEP-0379 token in a subscription request, if there is one.
pub(crate) fn token(el: &Element) -> Option<String> {
    el.get_child("preauth", ns::PARS).cloned().and_then(|p| Preauth::try_from(p).ok()).map(|p| p.token)
}

/// Uses `token` for a request from `contact` to `owner`, if it is one of `owner`'s invites
/// that makes contacts; whether it was.
pub(crate) async fn redeem(ctx: &Ctx, owner: &BareJid, contact: &BareJid, token: &str) -> Result<bool, StanzaError> {
    let owns = |invite: &Invite| {
        invite.creator.as_deref() == Some(owner.as_str())
            && match invite.kind {
                InviteKind::Contact | InviteKind::User => true,
                InviteKind::Account => invite.subscribe,
                InviteKind::Room => false,
            }
    };
    match ctx.db.invites().take(token, owns).await.map_err(internal)? {
        Ok(_) => {
            tracing::info!(%owner, %contact, "subscription pre-authenticated by an invite");
            Ok(true)
        }
        Err(refused) => {
            tracing::debug!(%owner, %contact, %refused, "a subscription token was not accepted");
            Ok(false)
        }
    }
}

/// After a pre-authenticated request was approved: `owner` asks for `contact`'s presence in
/// turn, which makes the subscription mutual once the contact's client approves it (a
/// client that sent the token expects it).
pub(crate) async fn ask_back(ctx: &Ctx, owner: &BareJid, contact: &BareJid, limit: RosterLimit) {
    let asked = {
        let _roster = roster::lock(owner).await;
        match roster::item_or_new(ctx, owner, contact, limit).await {
            Ok(mut row) if !row.subscription.to() && !row.ask => {
                row.ask = true;
                roster::save(ctx, owner, &row).await.is_ok()
            }
            _ => false,
        }
    };
    if asked {
        subscription::send(ctx, owner, contact, "subscribe").await;
    }
    presence::send_current(ctx, owner, contact).await;
}
