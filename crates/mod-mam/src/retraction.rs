//! XEP-0424 in account archives: a chat retraction from the author of the message it names
//! replaces that message with a tombstone, in the sender's archive as it leaves and in the
//! recipient's as it arrives (each server for its own accounts, so a retraction from another
//! server is applied the same way). The retraction itself is archived and delivered like any
//! chat: the other side and the sender's other clients (carbons) learn of it, and clients
//! catching up with the archive find it.

use rhein_module::tombstone;
use rhein_proto::retract::{Retract, Retracted};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, time};
use rhein_storage::now_ms;

/// Whether `el` asks to retract a message.
pub(crate) fn is_retraction(el: &Element) -> bool {
    el.get_child("retract", ns::MESSAGE_RETRACT).is_some()
}

/// The retraction `el` asks for, if it reads; a `<moderated/>` is a room's to announce and
/// has no place in a chat.
fn retraction(el: &Element) -> Option<Retract> {
    let retract = Retract::try_from(el.get_child("retract", ns::MESSAGE_RETRACT)?.clone()).ok()?;
    retract.moderated.is_none().then_some(retract)
}

/// Applies the retraction `el`, sent by `author`, to `owner`'s conversation with `with`: the
/// message it names becomes a tombstone if `author` sent it (XEP-0424 §7: the original and
/// the retraction come from the same bare JID; for a MUC private message, where the bare JID
/// is the room's, from the same occupant JID). Anything else leaves the archive as it is;
/// the retraction is still delivered, and receiving clients make the same check.
pub(crate) async fn apply(
    ctx: &rhein_module::Ctx,
    owner: &BareJid,
    with: &BareJid,
    author: &Jid,
    el: &Element,
) -> Result<(), StanzaError> {
    let Some(retract) = retraction(el) else { return Ok(()) };
    let through_room = el.get_child("x", ns::MUC_USER).is_some() && author.resource().is_some();
    let authored = |a: &tombstone::Archived| match through_room {
        true => a.message.attr("from") == Some(author.as_str()),
        false => a.sender().as_ref() == Some(&author.to_bare()),
    };
    let found = tombstone::by_message_id(ctx, owner.as_str(), with.as_str(), &retract.id, authored).await?;
    let Some(archived) = found.filter(|a| !a.is_tombstone()) else { return Ok(()) };
    let marker = Retracted {
        id: el.attr("id").map(str::to_owned),
        stamp: Some(time::datetime(now_ms())),
        ..Retracted::default()
    };
    tombstone::replace(ctx, owner.as_str(), &archived, marker.into()).await
}
