//! Messages (XEP-0369 §7.1.6): a participant's groupchat message is archived under the
//! channel's JID — its archive id becomes the message id everyone sees — and reflected to
//! each subscriber of the messages node from `<channel>/<participant id>`. The channel's
//! archive is its history, queried with MAM (§7.2).

use crate::channel::Channel;
use crate::service::{Mix, Request};
use rhein_module::archive::{self, PageLimits};
use rhein_module::{Ctx, Outbox, storage_failure};
use rhein_proto::mix::{MessageSender, Retract, nodes};
use rhein_proto::parsers::mam::Query;
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, sid, xml};
use rhein_storage::{ArchiveRow, now_ms};

impl Mix {
    pub(crate) async fn message(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &Jid,
        jid: &BareJid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        let retract = el.get_child("retract", ns::MIX_MISC).and_then(|r| Retract::try_from(r.clone()).ok());
        if retract.is_none() && el.attr("type") != Some("groupchat") {
            return Err(StanzaError::bad_request().with_text("messages to a channel are of type groupchat"));
        }
        let channel = self.existing(ctx, jid).await?;
        let c = channel.lock().await;
        let who = from.to_bare();
        if let Some(retract) = retract {
            return self.retract_message(ctx, out, &c, &who, retract).await;
        }
        let id = c.participant_id(&who).map(str::to_owned).ok_or_else(|| {
            StanzaError::forbidden().with_text("only participants send to this channel; join it first")
        })?;
        let stanza_id = xml::random_id();
        let with_jid = reflection(&c, &id, &stanza_id, el, true);
        let without_jid = reflection(&c, &id, &stanza_id, el, false);
        // A sender whose JID is hidden is archived without it (XEP-0404 §4.2), and only the
        // participant id names it in the archive's `with`.
        let (with, archived) = match c.jid_public(&who) {
            true => (who.to_string(), &with_jid),
            false => (c.proxy_jid(&id), &without_jid),
        };
        let row =
            ArchiveRow { stanza_id: stanza_id.clone(), with_jid: with, ts: now_ms(), stanza: xml::to_string(archived) };
        ctx.db.archive().append(c.jid.as_str(), &row).await.map_err(storage_failure)?;
        // Two copies in all, each fanned out to those who see it: the router delivers to
        // every participant at once.
        let (see_jid, do_not): (Vec<&BareJid>, Vec<&BareJid>) =
            c.subscribers(nodes::MESSAGES).partition(|subscriber| c.shows_jid_of(&who, subscriber));
        let jids = |list: Vec<&BareJid>| list.into_iter().map(|b| Jid::from(b.clone())).collect();
        out.fan_out(with_jid, jids(see_jid));
        out.fan_out(without_jid, jids(do_not));
        Ok(())
    }

    /// `<query xmlns='urn:xmpp:mam:2'/>` to a channel: its history, for those who may
    /// subscribe to its messages.
    pub(crate) async fn archive_query(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        if !req.set {
            return Ok(Some(archive::search_form()));
        }
        if !c.may(&req.who, c.config.messages_subscription) {
            return Err(StanzaError::forbidden().with_text("the history is for participants"));
        }
        let query = rhein_module::payload::<Query>(req.payload.clone())?;
        let (results, fin) =
            archive::query(ctx, c.jid.as_str(), &req.from.to_string(), &query, PageLimits::default()).await?;
        for r in results {
            out.push(r);
        }
        Ok(Some(fin))
    }
}

/// The message the channel sends for `el` (without `to`): from the sender's participant
/// address, with the archive id as id and stanza id, and `<mix/>` naming the sender.
fn reflection(c: &Channel, id: &str, stanza_id: &str, el: &Element, with_jid: bool) -> Element {
    let member = &c.participants[id];
    let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "groupchat");
    xml::set_attr(&mut msg, "from", format!("{}/{id}", c.jid));
    xml::set_attr(&mut msg, "id", stanza_id);
    for child in el.children().filter(|child| !child.is("mix", ns::MIX_CORE)) {
        msg.append_child(child.clone());
    }
    sid::drop_claims(&mut msg, c.jid.as_str());
    let jid = with_jid.then(|| member.jid.to_string());
    msg.append_child(MessageSender { nick: member.nick.clone(), jid }.into());
    msg.append_child(sid::stanza_id(stanza_id, c.jid.as_str()));
    msg
}
