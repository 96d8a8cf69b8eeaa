//! XEP-0283 (0.2) §2.4, server-side processing of a moved notification: a subscription
//! request from a contact's new account that names the old one is checked against the old
//! account's published statement; if it holds, the roster entry moves to the new JID without
//! bothering the user, and the old subscription is revoked. Anything unverifiable is an
//! ordinary subscription request.

use crate::roster::{self, RosterLimit};
use crate::subscription;
use crate::{internal, presence};
use rhein_module::{Ctx, Flow, Stanza};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::{RosterRow, Subscription};
use std::time::Duration;

/// How long the old account's server gets to produce the statement.
const VERIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// `presence/bare` before the subscription state machine.
/// A subscription request announcing a move (the handler checks the claim).
pub(crate) fn announced(el: &Element) -> bool {
    el.attr("type") == Some("subscribe") && el.get_child("moved", ns::MOVED).is_some()
}

pub(crate) async fn handle_inbound(ctx: Ctx, stanza: Stanza, limit: RosterLimit) -> Result<Flow, StanzaError> {
    let claim = stanza.el.get_child("moved", ns::MOVED).and_then(|m| m.get_child("old-jid", ns::MOVED));
    let Some(Ok(old)) = claim.map(|old| BareJid::new(old.text().trim())) else { return Ok(Flow::Continue(stanza)) };
    let (owner, new) = (stanza.to.to_bare(), stanza.from.to_bare());
    if carry_over(&ctx, &owner, &old, &new, limit).await? { Ok(Flow::Handled) } else { Ok(Flow::Continue(stanza)) }
}

/// Whether the entry moved; not when the move is unverified, or the roster is full (the new
/// JID is then an ordinary request, which a full roster refuses).
async fn carry_over(
    ctx: &Ctx,
    owner: &BareJid,
    old: &BareJid,
    new: &BareJid,
    limit: RosterLimit,
) -> Result<bool, StanzaError> {
    if old == new {
        return Ok(false);
    }
    let has_old = |row: &Option<RosterRow>| row.as_ref().is_some_and(|r| r.subscription.from());
    if !has_old(&ctx.db.roster().item(owner.as_str(), old.as_str()).await.map_err(internal)?)
        || !statement_names(ctx, owner, old, new).await
    {
        return Ok(false);
    }
    let mutual = {
        // The roster is read again under its lock: it may have changed while the statement
        // was fetched.
        let _roster = roster::lock(owner).await;
        let roster = ctx.db.roster();
        let old_row = roster.item(owner.as_str(), old.as_str()).await.map_err(internal)?;
        let Some(mut old_row) = old_row.filter(|r| r.subscription.from()) else { return Ok(false) };
        let mutual = old_row.subscription == Subscription::Both;
        let mut new_row = match roster.item(owner.as_str(), new.as_str()).await.map_err(internal)? {
            Some(row) => row,
            None if !limit.has_room(ctx, owner).await? => return Ok(false),
            None => {
                RosterRow { name: old_row.name.clone(), groups: old_row.groups.clone(), ..RosterRow::new(new.as_str()) }
            }
        };
        new_row.subscription = new_row.subscription.with_from();
        new_row.approved = false;
        roster::save(ctx, owner, &new_row).await?;
        ctx.db.subscription_requests().remove(owner.as_str(), new.as_str()).await.map_err(internal)?;
        old_row.subscription = old_row.subscription.without_from();
        roster::save(ctx, owner, &old_row).await?;
        mutual
    };
    subscription::send(ctx, owner, new, "subscribed").await;
    presence::send_current(ctx, owner, new).await;
    subscription::send(ctx, owner, old, "unsubscribed").await;
    if mutual {
        let request = xml::with_attr(Element::bare("presence", ns::CLIENT), "type", "subscribe");
        subscription::outbound(ctx, owner, new, "subscribe", request, limit).await?;
    }
    tracing::info!(%owner, %old, %new, "contact moved");
    Ok(true)
}

/// Whether the old account's `urn:xmpp:moved:1` statement names `new` (or its server
/// answers `<gone/>` with that address).
async fn statement_names(ctx: &Ctx, asker: &BareJid, old: &BareJid, new: &BareJid) -> bool {
    let mut items = xml::with_attr(Element::bare("items", ns::PUBSUB), "node", ns::MOVED);
    items.append_child(xml::with_attr(Element::bare("item", ns::PUBSUB), "id", "current"));
    let mut pubsub = Element::bare("pubsub", ns::PUBSUB);
    pubsub.append_child(items);
    let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "get");
    xml::set_attr(&mut iq, "from", asker.as_str());
    xml::set_attr(&mut iq, "to", old.as_str());
    iq.append_child(pubsub);
    let Some(answer) = ctx.router.send_iq(iq, VERIFY_TIMEOUT).await else { return false };
    let named = match answer.attr("type") {
        Some("result") => answer
            .get_child("pubsub", ns::PUBSUB)
            .and_then(|p| p.get_child("items", ns::PUBSUB))
            .and_then(|i| i.get_child("item", ns::PUBSUB))
            .and_then(|i| i.get_child("moved", ns::MOVED))
            .and_then(|m| m.get_child("new-jid", ns::MOVED))
            .map(Element::text),
        Some("error") => answer
            .get_child("error", ns::CLIENT)
            .and_then(|e| e.get_child("gone", ns::STANZAS))
            .and_then(|g| g.text().trim().strip_prefix("xmpp:").map(str::to_owned)),
        _ => None,
    };
    named.and_then(|n| BareJid::new(n.trim()).ok()).is_some_and(|n| n == *new)
}
