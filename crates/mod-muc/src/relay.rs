//! IQs between occupants (XEP-0045 §7.2? "IQ requests to occupants"): relayed with the
//! sender's room JID, so nicknames hide real JIDs; answers go back the same way. A client
//! pinging its own occupant JID learns whether it is still joined (XEP-0410).

use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};

impl Muc {
    pub(crate) async fn occupant_iq(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        nick: &str,
        el: Element,
    ) -> Result<(), StanzaError> {
        let room_ref = self.room(ctx, room_jid).await?.ok_or_else(StanzaError::item_not_found)?;
        let room = room_ref.lock().await;
        let Some(sender) = room.by_session(from) else {
            return Err(StanzaError::not_acceptable().with_text("you are not in this room"));
        };
        let is_answer = matches!(el.attr("type"), Some("result") | Some("error"));
        let payload_ns = el.children().next().map(|p| p.ns());
        if !is_answer && sender.nick == nick && payload_ns.as_deref() == Some(ns::PING) {
            // XEP-0410: yes, still joined.
            out.push(xml::iq_result(&el, None));
            return Ok(());
        }
        let target = room.occupant(nick).ok_or_else(|| StanzaError::item_not_found().with_text("no such occupant"))?;
        let Some((session, _)) = target.sessions.last() else { return Err(StanzaError::item_not_found()) };
        let mut relayed = el.clone();
        xml::set_attr(&mut relayed, "from", format!("{}/{}", room.jid, sender.nick));
        // vCards are the account's, so they are asked of the bare JID (as clients expect of
        // avatars in rooms); anything else goes to the client that joined last.
        let to = match (is_answer, payload_ns.as_deref()) {
            (false, Some(ns::VCARD)) => target.bare.to_string(),
            _ => session.to_string(),
        };
        xml::set_attr(&mut relayed, "to", to);
        out.push(relayed);
        Ok(())
    }
}

impl Muc {
    /// The answer of an occupant's account (not a client) to a relayed request, e.g. a vCard.
    pub(crate) async fn account_answer(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        account: &BareJid,
        to: &Jid,
        mut el: Element,
    ) -> Result<(), StanzaError> {
        if !matches!(el.attr("type"), Some("result") | Some("error")) {
            return Ok(());
        }
        let (Some(nick), room_jid) = (to.resource(), to.to_bare()) else { return Ok(()) };
        let Some(room_ref) = self.room(ctx, &room_jid).await? else { return Ok(()) };
        let room = room_ref.lock().await;
        let (Some(answering), Some(asker)) =
            (room.occupants.iter().find(|o| o.bare == *account), room.occupant(nick.as_str()))
        else {
            return Ok(());
        };
        let Some((session, _)) = asker.sessions.last() else { return Ok(()) };
        xml::set_attr(&mut el, "from", format!("{}/{}", room.jid, answering.nick));
        xml::set_attr(&mut el, "to", session.as_str());
        out.push(el);
        Ok(())
    }
}
