//! XEP-0490 §3.5 server assist: a client that marks a chat displayed tells its other devices
//! in the same message that tells the contact, with `<displayed xmlns='urn:xmpp:mds:displayed:0'>`
//! beside the chat marker. The server takes that element out of the message and publishes it
//! to the account's displayed node, the chat's bare JID as the item id, one round trip saved.
//! Every displayed state published, by the assist or by a client, also moves the account's
//! read position in that conversation (the unread overview, in mod-mam).

use crate::service::Pep;
use rhein_module::{Ctx, Flow, Stanza};
use rhein_proto::parsers::message_displayed::Displayed;
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};
use rhein_storage::ItemRow;
use std::sync::Arc;

/// Whether a message carries a displayed state for the sender's devices.
pub(crate) fn carries_displayed(_: &Ctx, stanza: &Stanza) -> bool {
    stanza.el.has_child("displayed", ns::MDS_DISPLAYED)
}

/// Publishes the displayed state and sends the message on without it. The item id is the
/// message's `to` as written (§5.1: clients address the bare JID of a chat, the room's for a
/// group chat). A message with nothing else in it is refused rather than dropped unseen.
pub(crate) async fn assist(pep: Arc<Pep>, ctx: Ctx, mut stanza: Stanza) -> Result<Flow, StanzaError> {
    let Some(element) = stanza.el.remove_child("displayed", ns::MDS_DISPLAYED) else {
        return Ok(Flow::Continue(stanza));
    };
    let displayed = Displayed::try_from(element)
        .map_err(|e| StanzaError::bad_request().with_text(format!("the displayed state does not read: {e}")))?;
    if stanza.el.children().next().is_none() {
        return Err(StanzaError::bad_request().with_text("nothing but the displayed state: publish it to the node"));
    }
    let owner = stanza.from.to_bare();
    let item =
        ItemRow { id: stanza.to.to_string(), publisher: owner.to_string(), payload: xml::to_string(&displayed.into()) };
    pep.publish(&ctx, &owner, ns::MDS_DISPLAYED, item, None).await?;
    Ok(Flow::Continue(stanza))
}

/// An item was published to the displayed node or the bookmarks: the read position follows
/// a displayed state (its id the conversation, its payload the stanza id of the newest
/// message displayed; `rhein_module::unread` finds it), and a new bookmark's room starts
/// counting. A state that does not read, or names a message not archived here, moves nothing.
pub(crate) async fn move_read_position(ctx: &Ctx, owner: &BareJid, node: &str, item: &ItemRow) {
    if node == ns::BOOKMARKS {
        if let Err(e) = ctx.db.unread().start_room(owner.as_str(), &item.id).await {
            tracing::warn!(error = %e, "starting a room's unread count failed");
        }
        return;
    }
    let Ok(conversation) = BareJid::new(&item.id) else { return };
    let Ok(Ok(Displayed { stanza_id })) = item.payload.parse::<Element>().map(Displayed::try_from) else { return };
    // A failure is logged where it happened.
    let _ = rhein_module::unread::displayed(ctx, owner, &conversation, &stanza_id.by.to_bare(), &stanza_id.id).await;
}
