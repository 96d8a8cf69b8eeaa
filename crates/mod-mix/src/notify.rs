//! Pubsub notifications from a channel to the subscribers of its nodes, and the views of
//! participants that depend on who looks (XEP-0404: JIDs only for those who may see them).

use crate::channel::Channel;
use rhein_module::Outbox;
use rhein_proto::mix::{Participant, nodes};
use rhein_proto::{BareJid, Element, ns, xml};

/// A participants node item as `viewer` may see it.
pub(crate) fn participant_item(c: &Channel, id: &str, viewer: &BareJid) -> Option<Element> {
    let m = c.participants.get(id)?;
    let jid = c.shows_jid_of(&m.jid, viewer).then(|| m.jid.to_string());
    let mut item = xml::with_attr(Element::bare("item", ns::PUBSUB), "id", id);
    item.append_child(Element::from(Participant { nick: m.nick.clone(), jid }));
    Some(item)
}

/// `<message type='headline'><event><items node>…</items></event></message>` for one
/// subscriber. Headline: a notification is not worth storing offline.
fn event(c: &Channel, to: &BareJid, node: &str, content: Element) -> Element {
    let mut items = xml::with_attr(Element::bare("items", ns::PUBSUB_EVENT), "node", node);
    items.append_child(xml::renamespace(content, ns::PUBSUB, ns::PUBSUB_EVENT));
    let mut event = Element::bare("event", ns::PUBSUB_EVENT);
    event.append_child(items);
    let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "from", c.jid.as_str());
    xml::set_attr(&mut msg, "to", to.as_str());
    xml::set_attr(&mut msg, "type", "headline");
    xml::set_attr(&mut msg, "id", xml::random_id());
    msg.append_child(event);
    msg
}

/// Tells participants-node subscribers that a participant joined or changed its nick.
pub(crate) fn participant_changed(out: &mut Outbox, c: &Channel, id: &str) {
    for sub in c.subscribers(nodes::PARTICIPANTS) {
        if let Some(item) = participant_item(c, id, sub) {
            out.push(event(c, sub, nodes::PARTICIPANTS, item));
        }
    }
}

/// Sends `item` (the same for everyone) to the subscribers of `node`.
pub(crate) fn published(out: &mut Outbox, c: &Channel, node: &str, item: &Element) {
    for sub in c.subscribers(node) {
        out.push(event(c, sub, node, item.clone()));
    }
}

/// Tells one participant that its item of the participants node is gone: it is no longer
/// in the channel (its server drops the channel from the roster, XEP-0405).
pub(crate) fn removed(out: &mut Outbox, c: &Channel, participant: &BareJid, id: &str) {
    let retract = xml::with_attr(Element::bare("retract", ns::PUBSUB), "id", id);
    out.push(event(c, participant, nodes::PARTICIPANTS, retract));
}

/// Tells the subscribers of `node` that an item is gone.
pub(crate) fn retracted(out: &mut Outbox, c: &Channel, node: &str, id: &str) {
    let retract = xml::with_attr(Element::bare("retract", ns::PUBSUB), "id", id);
    published(out, c, node, &retract);
}
