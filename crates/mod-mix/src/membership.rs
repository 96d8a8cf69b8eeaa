//! Joining and leaving, nicks, and node subscriptions (XEP-0369 §7.1). Participants are
//! users (bare JIDs): a join comes from the user's server (XEP-0405) or from a client.

use crate::channel::{Channel, Member};
use crate::service::{Mix, Request};
use crate::{notify, presence, store};
use rhein_module::{Ctx, Outbox};
use rhein_proto::mix::{Join, Leave, SetNick, Subscribe, Unsubscribe, UpdateSubscription, UserPreference, nodes};
use rhein_proto::{BareJid, Element, StanzaError, xml};

/// Nodes a join without `<subscribe/>` gets.
const DEFAULT_NODES: &[&str] = &[nodes::MESSAGES, nodes::PARTICIPANTS, nodes::INFO, nodes::PRESENCE];

/// A nick as the channel keeps it, or why not.
pub(crate) fn clean_nick(nick: &str) -> Result<String, StanzaError> {
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
        let request = rhein_module::payload::<Join>(req.payload.clone())?;
        let who = &req.who;
        if c.is_banned(who) {
            return Err(StanzaError::forbidden().with_text("you are banned from this channel"));
        }
        if !c.may_join(who) {
            // An invitation lets the invitee in, and onto the allowed list (XEP-0407 §5).
            match &request.invitation {
                Some(inv) if crate::misc::invitation_valid(c, inv, who) => {
                    store::list_entry(ctx, c, nodes::ALLOWED, who.as_str(), true).await?;
                    c.allowed.get_or_insert_default().insert(who.to_string());
                }
                Some(_) => return Err(StanzaError::forbidden().with_text("that invitation is not valid (any more)")),
                None => return Err(StanzaError::forbidden().with_text("you are not allowed in")),
            }
        }
        // XEP-0404 §5: the preferences it joins with, which the channel's mode must suit.
        let current = c.preferences.get(who).cloned().unwrap_or_default();
        let preferences = match &request.preferences {
            Some(form) => current.with(form)?,
            None => current,
        };
        if !preferences.accepts(c.config.jid_visibility) {
            return Err(StanzaError::not_allowed().with_text("your JID Visibility preference rules this channel out"));
        }
        let existing = c.participant_id(who).map(str::to_owned);
        // A nick registered with the service is the user's everywhere (XEP-0407 §3).
        let registered = self.registered_nick(ctx, who).await?;
        let nick = match (registered, request.nick.as_deref().map(clean_nick).transpose()?) {
            (Some(registered), _) => Some(registered),
            (None, Some(nick)) => Some(nick),
            (None, None) => existing.as_ref().and_then(|id| c.participants[id].nick.clone()),
        };
        if nick.is_none() && c.config.mandatory_nicks {
            return Err(StanzaError::not_acceptable().with_text("this channel needs a nick: send <nick/> with <join/>"));
        }
        if let Some(n) = &nick {
            self.check_nick_free(ctx, c, n, who).await?;
        }
        let id = existing.clone().unwrap_or_else(|| xml::random_id()[..12].to_owned());
        let member = Member { jid: who.clone(), nick: nick.clone() };
        let changed = existing.is_none() || c.participants.get(&id).map(|m| &m.nick) != Some(&nick);
        store::put_participant(ctx, c, &id, &member).await?;
        c.participants.insert(id.clone(), member);
        if request.preferences.is_some() {
            crate::preferences::save(ctx, c, who, &preferences).await?;
            c.preferences.insert(who.clone(), preferences.clone());
        }
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
            invitation: None,
            preferences: Some(preferences.to_form()),
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

    /// XEP-0404 §5: the template of the preferences (get), or a participant's new ones (set),
    /// answered with all of its preferences. One the channel's mode cannot suit is refused.
    pub(crate) async fn user_preference(
        &self,
        ctx: &Ctx,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        if !req.set {
            return Ok(Some(UserPreference { form: Some(crate::preferences::template()) }.into()));
        }
        if c.participant_id(&req.who).is_none() {
            return Err(StanzaError::forbidden().with_text("join the channel first"));
        }
        let request = rhein_module::payload::<UserPreference>(req.payload.clone())?;
        let current = c.preferences.get(&req.who).cloned().unwrap_or_default();
        let preferences = match &request.form {
            Some(form) => current.with(form)?,
            None => current,
        };
        if !preferences.accepts(c.config.jid_visibility) {
            return Err(
                StanzaError::not_allowed().with_text("this channel's JID visibility does not suit that preference")
            );
        }
        crate::preferences::save(ctx, c, &req.who, &preferences).await?;
        c.preferences.insert(req.who.clone(), preferences.clone());
        Ok(Some(UserPreference { form: Some(preferences.to_form()) }.into()))
    }

    /// The channel's JID visibility changed: participants whose preference rules it out
    /// leave it (XEP-0404 §5), as if they had left themselves.
    pub(crate) async fn drop_unsuited(&self, ctx: &Ctx, out: &mut Outbox, c: &mut Channel) -> Result<(), StanzaError> {
        let mode = c.config.jid_visibility;
        let unsuited: Vec<String> = c
            .participants
            .iter()
            .filter(|(_, m)| c.preferences.get(&m.jid).is_some_and(|p| !p.accepts(mode)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in unsuited {
            if let Some(member) = c.participants.get(&id) {
                notify::removed(out, c, &member.jid, &id);
            }
            self.drop_participant(ctx, out, c, &id, true).await?;
        }
        Ok(())
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
        let request = rhein_module::payload::<SetNick>(req.payload.clone())?;
        if c.participant_id(&req.who).is_none() {
            return Err(StanzaError::forbidden().with_text("join the channel first"));
        }
        let nick = match self.registered_nick(ctx, &req.who).await? {
            // The registered nick is the user's; the channel answers with it (§7.1.4).
            Some(registered) => registered,
            None => clean_nick(&request.nick)?,
        };
        self.check_nick_free(ctx, c, &nick, &req.who).await?;
        self.rename(ctx, out, c, &req.who, &nick).await?;
        Ok(Some(SetNick { nick }.into()))
    }

    /// `conflict` when another participant uses `nick` or another user registered it.
    async fn check_nick_free(&self, ctx: &Ctx, c: &Channel, nick: &str, who: &BareJid) -> Result<(), StanzaError> {
        if c.nick_taken(nick, who) || self.nick_reserved(ctx, nick, who).await? {
            return Err(StanzaError::conflict().with_text("that nick is taken"));
        }
        Ok(())
    }

    /// Gives participant `who` a new nick and tells the participants node's subscribers.
    pub(crate) async fn rename(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &mut Channel,
        who: &BareJid,
        nick: &str,
    ) -> Result<(), StanzaError> {
        let Some(id) = c.participant_id(who).map(str::to_owned) else { return Ok(()) };
        if c.participants[&id].nick.as_deref() == Some(nick) {
            return Ok(());
        }
        let member = Member { jid: who.clone(), nick: Some(nick.to_owned()) };
        store::put_participant(ctx, c, &id, &member).await?;
        c.participants.insert(id.clone(), member);
        notify::participant_changed(out, c, &id);
        Ok(())
    }

    pub(crate) async fn update_subscription(
        &self,
        ctx: &Ctx,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        let request = rhein_module::payload::<UpdateSubscription>(req.payload.clone())?;
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
