//! XEP-0283 (0.2) §2.4, server-side processing of a moved notification: a subscription
//! request from a contact's new account that names the old one is checked against the old
//! account's published statement; if it holds, the roster entry moves to the new JID without
//! bothering the user, and the old subscription is revoked. Anything unverifiable is an
//! ordinary subscription request.

use crate::roster::{self, RosterLimit};
use crate::subscription;
use crate::{internal, presence};
use rhein_module::{Ctx, Flow, Stanza};
use rhein_proto::moved::Moved;
use rhein_proto::parsers::stanza_error::{DefinedCondition, StanzaError as StanzaErrorElement};
use rhein_proto::pubsub;
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
    let claim = stanza.el.get_child("moved", ns::MOVED).and_then(|m| Moved::try_from(m.clone()).ok());
    let Some(old) = claim.and_then(|m| m.old_jid) else { return Ok(Flow::Continue(stanza)) };
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
    let current = pubsub::Item { id: Some("current".into()), payloads: Vec::new() };
    let items = pubsub::Items { node: Some(ns::MOVED.into()), max_items: None, items: vec![current] };
    let request = pubsub::Request { items: Some(items), ..Default::default() };
    let mut iq = xml::with_attr(Element::bare("iq", ns::CLIENT), "type", "get");
    xml::set_attr(&mut iq, "from", asker.as_str());
    xml::set_attr(&mut iq, "to", old.as_str());
    iq.append_child(request.into());
    let Some(answer) = ctx.router.send_iq(iq, VERIFY_TIMEOUT).await else { return false };
    let named = match answer.attr("type") {
        Some("result") => moved_to(&answer),
        Some("error") => gone_to(&answer),
        _ => None,
    };
    named.is_some_and(|n| n == *new)
}

/// The `<new-jid/>` of the statement in a result.
fn moved_to(answer: &Element) -> Option<BareJid> {
    let result = pubsub::Request::try_from(answer.get_child("pubsub", ns::PUBSUB)?.clone()).ok()?;
    let item = result.items?.items.into_iter().next()?;
    let statement = item.payloads.into_iter().find(|p| p.is("moved", ns::MOVED))?;
    Moved::try_from(statement).ok()?.new_jid
}

/// The address of a `<gone/>` error (RFC 6120 §8.3.3.5), an `xmpp:` URI.
fn gone_to(answer: &Element) -> Option<BareJid> {
    let error = StanzaErrorElement::try_from(answer.get_child("error", ns::CLIENT)?.clone()).ok()?;
    let DefinedCondition::Gone { new_address: Some(uri) } = error.defined_condition else { return None };
    BareJid::new(uri.trim().strip_prefix("xmpp:")?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn the_new_address_comes_from_the_statement_or_a_gone_error() {
        let result = el("<iq xmlns='jabber:client' type='result' id='1'>\
            <pubsub xmlns='http://jabber.org/protocol/pubsub'><items node='urn:xmpp:moved:1'><item id='current'>\
            <moved xmlns='urn:xmpp:moved:1'><new-jid>new@b.example</new-jid></moved></item></items></pubsub></iq>");
        assert_eq!(moved_to(&result).unwrap().as_str(), "new@b.example");
        let gone = el("<iq xmlns='jabber:client' type='error' id='1'><error type='cancel'>\
            <gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>xmpp:new@b.example</gone></error></iq>");
        assert_eq!(gone_to(&gone).unwrap().as_str(), "new@b.example");
        // Gone without an address, or somewhere that is no account, names nobody.
        let nowhere = el("<iq xmlns='jabber:client' type='error' id='1'><error type='cancel'>\
            <gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
        assert_eq!(gone_to(&nowhere), None);
        let web = el("<iq xmlns='jabber:client' type='error' id='1'><error type='cancel'>\
            <gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>https://b.example/</gone></error></iq>");
        assert_eq!(gone_to(&web), None);
    }
}
