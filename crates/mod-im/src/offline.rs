//! XEP-0160: messages for an account with no available resource are stored, then delivered
//! on its next initial presence with an XEP-0203 delay stamp.

use crate::internal;
use rhein_module::{Ctx, Flow, Stanza};
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns, time, xml};
use rhein_storage::now_ms;

/// Whether a message is worth keeping: not marked `no-store`, and carrying more than a chat
/// state (XEP-0334, XEP-0085).
fn worth_storing(el: &Element) -> bool {
    if el.get_child("no-store", ns::HINTS).is_some() {
        return false;
    }
    if el.get_child("store", ns::HINTS).is_some() {
        return true;
    }
    el.children().any(|c| c.ns() != ns::CHAT_STATES && c.ns() != ns::HINTS)
}

/// `Undeliverable` stage: store chat and normal messages; a full store falls through, and
/// the router then bounces the message with `service-unavailable`.
pub(crate) async fn handle_store_offline(ctx: Ctx, stanza: Stanza, limit: i64) -> Result<Flow, StanzaError> {
    if !worth_storing(&stanza.el) {
        return Ok(Flow::Handled);
    }
    let owner = stanza.to.to_bare();
    let stored =
        ctx.db.offline().push(owner.as_str(), now_ms(), &xml::to_string(&stanza.el), limit).await.map_err(internal)?;
    if !stored {
        return Ok(Flow::Continue(stanza));
    }
    // The account may have come online while the message was being stored, after its
    // initial presence took what was waiting: hand it over now.
    if let Some(to) = ctx.router.message_targets(&owner, "chat").first() {
        deliver_stored(&ctx, to).await?;
    }
    Ok(Flow::Handled)
}

/// Sends stored messages to a resource that just became available. What cannot be handed
/// over (the session went away meanwhile) is stored again for the next one.
pub(crate) async fn deliver_stored(ctx: &Ctx, to: &FullJid) -> Result<(), StanzaError> {
    let owner: BareJid = to.to_bare();
    let mut stored = ctx.db.offline().take(owner.as_str()).await.map_err(internal)?.into_iter();
    for msg in stored.by_ref() {
        let Ok(mut el) = msg.stanza.parse::<Element>() else { continue };
        let mut delay = xml::with_attr(Element::bare("delay", ns::DELAY), "from", ctx.host.as_ref());
        xml::set_attr(&mut delay, "stamp", time::datetime(msg.stamp));
        el.append_child(delay);
        if !ctx.router.send_to(to, el) {
            for msg in std::iter::once(msg).chain(stored) {
                ctx.db.offline().push(owner.as_str(), msg.stamp, &msg.stanza, i64::MAX).await.map_err(internal)?;
            }
            return Ok(());
        }
    }
    Ok(())
}
