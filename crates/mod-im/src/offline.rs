//! XEP-0160: messages for an account with no available resource are stored, then delivered
//! on its next initial presence with an XEP-0203 delay stamp.

use crate::internal;
use rhein_module::{Ctx, Flow};
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns, time, xml};
use rhein_storage::now_ms;

const HINTS: &str = "urn:xmpp:hints";
const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";

/// Whether a message is worth keeping: not marked `no-store`, and carrying more than a chat
/// state (XEP-0334, XEP-0085).
fn worth_storing(el: &Element) -> bool {
    if el.get_child("no-store", HINTS).is_some() {
        return false;
    }
    if el.get_child("store", HINTS).is_some() {
        return true;
    }
    el.children().any(|c| c.ns() != CHAT_STATES && c.ns() != HINTS)
}

/// `Undeliverable` stage: store chat and normal messages; a full store falls through, and
/// the router then bounces the message with `service-unavailable`.
pub(crate) async fn handle_store_offline(ctx: Ctx, el: Element, limit: i64) -> Result<Flow, StanzaError> {
    if !worth_storing(&el) {
        return Ok(Flow::Handled);
    }
    let Some(owner) = el.attr("to").and_then(|t| rhein_proto::Jid::new(t).ok()).map(|j| j.to_bare()) else {
        return Ok(Flow::Handled);
    };
    let stored =
        ctx.db.offline().push(owner.as_str(), now_ms(), &xml::to_string(&el), limit).await.map_err(internal)?;
    Ok(if stored { Flow::Handled } else { Flow::Continue(el) })
}

/// Sends stored messages to a resource that just became available, then forgets them.
pub(crate) async fn deliver_stored(ctx: &Ctx, to: &FullJid) -> Result<(), StanzaError> {
    let owner: BareJid = to.to_bare();
    let stored = ctx.db.offline().list(owner.as_str()).await.map_err(internal)?;
    let Some((last_id, _)) = stored.last() else { return Ok(()) };
    let last_id = *last_id;
    for (_, msg) in stored {
        let Ok(mut el) = msg.stanza.parse::<Element>() else { continue };
        let mut delay = xml::with_attr(Element::bare("delay", ns::DELAY), "from", ctx.host.as_ref());
        xml::set_attr(&mut delay, "stamp", time::datetime(msg.stamp));
        el.append_child(delay);
        if !ctx.router.send_to(to, el) {
            // The session went away mid-delivery: keep everything for the next one.
            return Ok(());
        }
    }
    ctx.db.offline().remove_through(owner.as_str(), last_id).await.map_err(internal)
}
