//! Joining and leaving, nicks, and node subscriptions (XEP-0369 §7.1). Participants are
//! users (bare JIDs): a join comes from the user's server (XEP-0405) or from a client.

use crate::channel::{Channel, Member};
use crate::service::{Mix, Request};
use crate::{notify, presence, store};
use rhein_module::{Ctx, Outbox};
use rhein_proto::mix::{Join, Leave, SetNick, Subscribe, Unsubscribe, UpdateSubscription, nodes};
use rhein_proto::{Element, StanzaError, xml};

/// Nodes a join without `<subscribe/>` gets.
const DEFAULT_NODES: &[&str] = &[nodes::MESSAGES, nodes::PARTICIPANTS, nodes::INFO, nodes::PRESENCE];

/// A nick as the channel keeps it, or why not.
fn clean_nick(nick: &str) -> Result<String, StanzaError> {
    let nick = nick.trim();
    if nick.is_empty() || nick.len() > 1023 || nick.chars().any(char::is_control) {
        return Err(StanzaError::not_acceptable().with_text("a nick is 1 to 1023 bytes of printable text"));
    }
    Ok(nick.to_owned())
}

impl Mix {
    pub(crate) async fn join(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        let request = Join::try_from(req.payload.clone()).map_err(|_| StanzaError::bad_request())?;
        let who = &req.who;
        if !c.may_join(who) {
            let why = if c.is_banned(who) { "you are banned from this channel" } else { "you are not allowed in" };
            return Err(StanzaError::forbidden().with_text(why));
        }
        let existing = c.participant_id(who).map(str::to_owned);
        let nick = match request.nick.as_deref().map(clean_nick).transpose()? {
            Some(nick) => Some(nick),
            None => existing.as_ref().and_then(|id| c.participants[id].nick.clone()),
        };
        if nick.is_none() && c.config.mandatory_nicks {
            return Err(StanzaError::not_acceptable().with_text("this channel needs a nick: send <nick/> with <join/>"));
        }
        if nick.as_deref().is_some_and(|n| c.nick_taken(n, who)) {
            return Err(StanzaError::conflict().with_text("that nick is taken"));
        }
        let id = existing.clone().unwrap_or_else(|| xml::random_id()[..12].to_owned());
        let member = Member { jid: who.clone(), nick: nick.clone() };
        let changed = existing.is_none() || c.participants.get(&id).map(|m| &m.nick) != Some(&nick);
        store::put_participant(ctx, c, &id, &member).await?;
        c.participants.insert(id.clone(), member);
        let wanted: Vec<String> = if request.subscribe.is_empty() {
            DEFAULT_NODES.iter().map(|n| n.to_string()).collect()
        } else {
            request.subscribe.into_iter().map(|s| s.node).collect()
        };
        let mut subscribed = Vec::new();
        for node in wanted {
            if c.subscribable(&node, who) && !subscribed.contains(&node) {
                store::set_subscription(ctx, c, &node, who, true).await?;
                c.subscriptions.entry(node.clone()).or_default().insert(who.clone());
                subscribed.push(node);
            }
        }
        if changed {
            notify::participant_changed(out, c, &id);
            tracing::debug!(channel = %c.jid, participant = %id, "joined");
        }
        if subscribed.iter().any(|n| n == nodes::PRESENCE) {
            presence::send_all_to(out, c, who);
        }
        let answer = Join {
            id: Some(id.clone()),
            jid: Some(c.proxy_jid(&id)),
            subscribe: subscribed.into_iter().map(|node| Subscribe { node }).collect(),
            nick,
        };
        Ok(Some(answer.into()))
    }

    pub(crate) async fn leave(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        // Leaving twice is not an error: the user's server may be cleaning up.
        if let Some(id) = c.participant_id(&req.who).map(str::to_owned) {
            self.drop_participant(ctx, out, c, &id, true).await?;
        }
        Ok(Some(Leave.into()))
    }

    /// Removes a participant (leaving, banned, or the channel going away): its clients'
    /// presence, its subscriptions and its item, telling the others.
    pub(crate) async fn drop_participant(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        id: &str,
        tell_others: bool,
    ) -> Result<(), StanzaError> {
        let Some(member) = c.participants.get(id).cloned() else { return Ok(()) };
        let clients: Vec<_> = c.presences.keys().filter(|j| j.to_bare() == member.jid).cloned().collect();
        for client in clients {
            if let Some(gone) = c.presences.remove(&client) {
                presence::distribute(out, c, id, &client, &gone, true);
            }
        }
        store::remove_participant(ctx, c, id, &member.jid).await?;
        for subscribers in c.subscriptions.values_mut() {
            subscribers.remove(&member.jid);
        }
        c.participants.remove(id);
        if tell_others {
            notify::retracted(out, c, nodes::PARTICIPANTS, id);
        }
        tracing::debug!(channel = %c.jid, participant = %id, "left");
        Ok(())
    }

    pub(crate) async fn set_nick(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        let request = SetNick::try_from(req.payload.clone()).map_err(|_| StanzaError::bad_request())?;
        let id = c
            .participant_id(&req.who)
            .map(str::to_owned)
            .ok_or_else(|| StanzaError::forbidden().with_text("join the channel first"))?;
        let nick = clean_nick(&request.nick)?;
        if c.nick_taken(&nick, &req.who) {
            return Err(StanzaError::conflict().with_text("that nick is taken"));
        }
        let member = Member { jid: req.who.clone(), nick: Some(nick.clone()) };
        store::put_participant(ctx, c, &id, &member).await?;
        c.participants.insert(id.clone(), member);
        notify::participant_changed(out, c, &id);
        Ok(Some(SetNick { nick }.into()))
    }

    pub(crate) async fn update_subscription(
        &self,
        ctx: &Ctx,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        let request = UpdateSubscription::try_from(req.payload.clone()).map_err(|_| StanzaError::bad_request())?;
        let who = &req.who;
        if c.participant_id(who).is_none() {
            return Err(StanzaError::forbidden().with_text("join the channel first"));
        }
        let mut answer = UpdateSubscription { jid: Some(who.to_string()), ..UpdateSubscription::default() };
        for Subscribe { node } in request.subscribe {
            if c.subscribable(&node, who) {
                store::set_subscription(ctx, c, &node, who, true).await?;
                c.subscriptions.entry(node.clone()).or_default().insert(who.clone());
                answer.subscribe.push(Subscribe { node });
            }
        }
        for Unsubscribe { node } in request.unsubscribe {
            if c.subscriptions.get_mut(&node).is_some_and(|s| s.remove(who)) {
                store::set_subscription(ctx, c, &node, who, false).await?;
                answer.unsubscribe.push(Unsubscribe { node });
            }
        }
        Ok(Some(answer.into()))
    }
}
