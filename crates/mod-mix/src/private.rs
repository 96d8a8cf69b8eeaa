//! XEP-0404 §7 private messages, and IQs likewise: a participant writes to another through
//! the channel, at the other's encoded JID (`<id>#<channel>@<service>`, with a resource the
//! channel shows to reach one of its clients), and the channel passes the stanza on from the
//! writer's encoded JID: neither learns the other's real JID. The channel keeps no copy of a
//! message (§7); a channel whose configuration turns private messages off refuses both. An
//! IQ's answer finds its way back by the id the channel gave the relayed request.

use crate::service::Mix;
use rhein_module::{Ctx, Outbox};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, xml};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a relayed IQ waits for its answer.
const IQ_TIMEOUT: Duration = Duration::from_secs(60);
/// Relayed IQs waiting at most, all channels together, and of one requester.
const MAX_PENDING: usize = 10_000;
const MAX_PENDING_EACH: usize = 100;

/// Where a relayed stanza goes, and the encoded JID it comes from.
struct Route {
    to: String,
    from: String,
    /// `to` is one of the participant's clients (a full JID), not its account.
    to_client: bool,
}

/// A relayed IQ waiting for its answer, by the id the channel gave it.
struct Pending {
    requester: FullJid,
    id: String,
    /// The encoded JID the requester wrote to (the answer comes from it).
    asked: String,
    /// The real account that must answer.
    answerer: BareJid,
    since: Instant,
}

/// Relayed IQs waiting for their answers.
#[derive(Default)]
pub(crate) struct PendingIqs(Mutex<HashMap<String, Pending>>);

impl PendingIqs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn insert(&self, relayed_id: String, pending: Pending) -> Result<(), StanzaError> {
        let mut table = self.lock();
        table.retain(|_, p| p.since.elapsed() < IQ_TIMEOUT);
        let mine = table.values().filter(|p| p.requester == pending.requester).count();
        if table.len() >= MAX_PENDING || mine >= MAX_PENDING_EACH {
            return Err(StanzaError::resource_constraint().with_text("too many relayed requests waiting"));
        }
        table.insert(relayed_id, pending);
        Ok(())
    }
}

impl Mix {
    pub(crate) async fn private_message(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &Jid,
        to: &Jid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        if el.attr("type") == Some("groupchat") {
            return Err(StanzaError::bad_request().with_text("a private message is not groupchat"));
        }
        let route = self.route(ctx, from, to).await?;
        let mut relayed = el.clone();
        xml::set_attr(&mut relayed, "from", route.from);
        xml::set_attr(&mut relayed, "to", route.to);
        out.push(relayed);
        Ok(())
    }

    /// A request to a participant goes on under an id of the channel's; an answer to one goes
    /// back to the requester under the request's own id.
    pub(crate) async fn relayed_iq(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &Jid,
        to: &Jid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        let id = el.attr("id").unwrap_or_default();
        if matches!(el.attr("type"), Some("result" | "error")) {
            let pending = self.pending_iqs.lock().remove(id);
            // An answer nobody waits for, or from someone else, is dropped.
            let Some(p) = pending.filter(|p| p.answerer == from.to_bare() && p.since.elapsed() < IQ_TIMEOUT) else {
                return Ok(());
            };
            let mut answer = el.clone();
            // An error's `by` would name the real answerer.
            for error in answer.children_mut().filter(|c| c.name() == "error") {
                xml::remove_attr(error, "by");
            }
            xml::set_attr(&mut answer, "id", p.id);
            xml::set_attr(&mut answer, "from", p.asked);
            xml::set_attr(&mut answer, "to", p.requester.as_str());
            out.push(answer);
            return Ok(());
        }
        let requester = from.try_as_full().map_err(|_| StanzaError::bad_request().with_text("send from a client"))?;
        let route = self.route(ctx, from, to).await?;
        // A request for the account would be answered by its server, with what the account
        // publishes (its real JID among it): only a client of the participant is asked.
        if !route.to_client {
            return Err(StanzaError::service_unavailable().with_text("address one of the participant's clients"));
        }
        let relayed_id = xml::random_id();
        let answerer = Jid::new(&route.to).map_err(|_| StanzaError::internal_server_error())?.to_bare();
        let pending = Pending {
            requester: requester.clone(),
            id: id.to_owned(),
            asked: to.to_string(),
            answerer,
            since: Instant::now(),
        };
        self.pending_iqs.insert(relayed_id.clone(), pending)?;
        let mut relayed = el.clone();
        xml::set_attr(&mut relayed, "id", relayed_id);
        xml::set_attr(&mut relayed, "from", route.from);
        xml::set_attr(&mut relayed, "to", route.to);
        out.push(relayed);
        Ok(())
    }

    /// Where a stanza from a participant to another's encoded JID goes: the other's client
    /// the resource names (or its account), from the writer's encoded JID, with the resource
    /// its presence shows when it shares presence, so that answers reach the same client.
    async fn route(&self, ctx: &Ctx, from: &Jid, to: &Jid) -> Result<Route, StanzaError> {
        let from = from.try_as_full().map_err(|_| StanzaError::bad_request().with_text("send from a client"))?;
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
        if c.preferences.get(&recipient.jid).is_some_and(|p| p.blocks_private_messages()) {
            return Err(StanzaError::not_allowed().with_text("this participant takes no private messages"));
        }
        let shown = |jid: &FullJid, resource: &str| {
            jid.to_bare() == recipient.jid && c.presences.get(jid).is_some_and(|p| p.shown_resource == resource)
        };
        let client = to.resource().and_then(|r| c.presences.keys().find(|jid| shown(jid, r.as_str())));
        let to_client = client.is_some();
        let to = client.map(|jid| jid.to_string()).unwrap_or_else(|| recipient.jid.to_string());
        let from = match c.presences.get(from) {
            Some(p) => c.proxy_full(sender_id, &p.shown_resource),
            None => c.proxy_jid(sender_id),
        };
        Ok(Route { to, from, to_client })
    }
}
