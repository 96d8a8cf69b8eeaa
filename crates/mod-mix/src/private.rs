//! XEP-0404 §7 private messages: a participant writes to another through the channel, at the
//! other's encoded JID (`<id>#<channel>@<service>`, with a resource the channel shows to
//! reach one of its clients), and the channel passes the message on from the writer's
//! encoded JID: neither learns the other's real JID. The channel keeps no copy (§7); a
//! channel whose configuration turns them off refuses them.

use crate::service::Mix;
use rhein_module::{Ctx, Outbox};
use rhein_proto::{BareJid, Element, Jid, StanzaError, xml};

impl Mix {
    pub(crate) async fn private_message(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &Jid,
        to: &Jid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        let from = from.try_as_full().map_err(|_| StanzaError::bad_request().with_text("send from a client"))?;
        if el.attr("type") == Some("groupchat") {
            return Err(StanzaError::bad_request().with_text("a private message is not groupchat"));
        }
        let node = to.node().map(|n| n.as_str()).unwrap_or_default();
        let Some((id, channel)) = node.split_once('#') else {
            return Err(StanzaError::item_not_found().with_text("not a participant's address"));
        };
        let channel = BareJid::new(&format!("{channel}@{}", to.domain())).map_err(|_| StanzaError::jid_malformed())?;
        let channel = self.existing(ctx, &channel).await?;
        let c = channel.lock().await;
        if !c.config.private_messages {
            return Err(StanzaError::not_allowed().with_text("private messages are off in this channel"));
        }
        let sender = from.to_bare();
        let sender_id =
            c.participant_id(&sender).ok_or_else(|| StanzaError::forbidden().with_text("join the channel first"))?;
        let recipient =
            c.participants.get(id).ok_or_else(|| StanzaError::item_not_found().with_text("no such participant"))?;
        // One client, if the resource is one the channel shows for it; else the account.
        let shown = |jid: &rhein_proto::FullJid, resource: &str| {
            jid.to_bare() == recipient.jid && c.presences.get(jid).is_some_and(|p| p.shown_resource == resource)
        };
        let target = match to.resource() {
            Some(resource) => c.presences.keys().find(|jid| shown(jid, resource.as_str())).map(|jid| jid.to_string()),
            None => None,
        };
        let target = target.unwrap_or_else(|| recipient.jid.to_string());
        let reply_to = match c.presences.get(from) {
            Some(p) => c.proxy_full(sender_id, &p.shown_resource),
            None => c.proxy_jid(sender_id),
        };
        let mut relayed = el.clone();
        xml::set_attr(&mut relayed, "from", reply_to);
        xml::set_attr(&mut relayed, "to", target);
        out.push(relayed);
        Ok(())
    }
}
