//! MIX presence (XEP-0403): participants' clients share their presence with the channel
//! (their server sends it, the channel being in their roster), and the channel passes it on
//! to presence-node subscribers from the client's encoded JID, `<id>#<channel>/<resource>`.

use crate::channel::{Channel, ClientPresence};
use crate::service::Mix;
use rhein_module::{Ctx, Outbox};
use rhein_proto::mix::{PresenceSender, nodes};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};

impl Mix {
    pub(crate) async fn presence(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &Jid,
        jid: &BareJid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        let available = match el.attr("type") {
            None => true,
            Some("unavailable") => false,
            // Subscription handshakes and probes: the roster entry is the subscription.
            Some(_) => return Ok(()),
        };
        let Ok(client) = from.clone().try_into_full() else {
            return Err(StanzaError::bad_request().with_text("presence comes from a client's full JID"));
        };
        let channel = self.existing(ctx, jid).await?;
        let mut c = channel.lock().await;
        let Some(id) = c.participant_id(&client.to_bare()).map(str::to_owned) else {
            return Err(StanzaError::forbidden().with_text("only participants share presence here"));
        };
        if !available {
            if let Some(gone) = c.presences.remove(&client) {
                distribute(out, &c, &id, &client, &gone, true);
            }
            return Ok(());
        }
        let shown_resource = match c.presences.get(&client) {
            Some(known) => known.shown_resource.clone(),
            None if !c.jid_public(&client.to_bare()) => xml::random_id()[..8].to_owned(),
            None => client.resource().to_string(),
        };
        let entry = ClientPresence { presence: el.clone(), shown_resource };
        distribute(out, &c, &id, &client, &entry, false);
        let arriving = c.presences.insert(client.clone(), entry).is_none();
        // A client coming online learns who else is here, if its user follows presence.
        let who = client.to_bare();
        if arriving && c.subscribers(nodes::PRESENCE).any(|s| *s == who) {
            for p in all_for(&c, &who) {
                out.push(xml::with_attr(p, "to", client.as_str()));
            }
        }
        Ok(())
    }
}

/// One client's presence as `viewer` gets it.
pub(crate) fn view(
    c: &Channel,
    id: &str,
    client: &FullJid,
    entry: &ClientPresence,
    viewer: &BareJid,
    unavailable: bool,
) -> Element {
    let member = &c.participants[id];
    let mut p = Element::bare("presence", ns::CLIENT);
    xml::set_attr(&mut p, "from", c.proxy_full(id, &entry.shown_resource));
    xml::set_attr(&mut p, "to", viewer.as_str());
    xml::set_attr(&mut p, "id", xml::random_id());
    if unavailable {
        xml::set_attr(&mut p, "type", "unavailable");
    }
    let jid = c.shows_jid_of(&client.to_bare(), viewer).then(|| client.to_string());
    p.append_child(PresenceSender { jid, nick: member.nick.clone() }.into());
    if !unavailable {
        let theirs = entry
            .presence
            .children()
            .filter(|ch| !(ch.name() == "mix" && [ns::MIX_CORE, ns::MIX_PRESENCE].contains(&ch.ns().as_str())));
        for child in theirs {
            p.append_child(child.clone());
        }
    }
    p
}

/// Sends a client's presence (or its going away) to the presence node's subscribers.
pub(crate) fn distribute(
    out: &mut Outbox,
    c: &Channel,
    id: &str,
    client: &FullJid,
    entry: &ClientPresence,
    unavailable: bool,
) {
    for viewer in c.subscribers(nodes::PRESENCE) {
        out.push(view(c, id, client, entry, viewer, unavailable));
    }
}

/// The current presence of every client as `viewer` sees it (addressed to its bare JID).
fn all_for(c: &Channel, viewer: &BareJid) -> Vec<Element> {
    let known =
        c.presences.iter().filter_map(|(client, entry)| Some((c.participant_id(&client.to_bare())?, client, entry)));
    known.map(|(id, client, entry)| view(c, id, client, entry, viewer, false)).collect()
}

/// The current presence of every client, for a user who just subscribed to it.
pub(crate) fn send_all_to(out: &mut Outbox, c: &Channel, viewer: &BareJid) {
    for p in all_for(c, viewer) {
        out.push(p);
    }
}
