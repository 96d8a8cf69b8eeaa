//! XEP-0407 where it applies: nicks registered with the service (kept for their owner in
//! every channel), invitations that let someone in who the allowed list would keep out, and
//! retraction of messages (a tombstone stays in the channel's archive).

use crate::channel::Channel;
use crate::service::{Mix, Request};
use crate::store;
use hmac::{Hmac, KeyInit, Mac};
use rhein_module::{Ctx, Outbox, storage_failure, tombstone};
use rhein_proto::mix::{Invitation, Invite, MessageSender, Register, Retract, Retracted, nodes};
use rhein_proto::{BareJid, Element, Jid, StanzaError, ns, time, xml};
use rhein_storage::{ItemPage, ItemRow, now_ms};
use sha2::Sha256;

/// The node, on the service's own pubsub owner, that holds registered nicks by bare JID.
const NICKS: &str = "urn:xmpp:mix:misc:0#nicks";
/// How long an invitation can be used.
const INVITATION_DAYS: i64 = 7;

impl Mix {
    /// Nicks registered with this host's service, as (owner, nick).
    async fn registered_nicks(&self, ctx: &Ctx) -> Result<Vec<(String, String)>, StanzaError> {
        let domain = self.domain(ctx);
        let page = ctx.db.pubsub().items(&domain, NICKS, &ItemPage::First(i64::MAX)).await.map_err(storage_failure)?;
        let rows = page.map(|(rows, _)| rows).unwrap_or_default();
        Ok(rows.into_iter().map(|r| (r.id, r.payload)).collect())
    }

    /// The nick `who` registered, if any.
    pub(crate) async fn registered_nick(&self, ctx: &Ctx, who: &BareJid) -> Result<Option<String>, StanzaError> {
        Ok(self.registered_nicks(ctx).await?.into_iter().find(|(owner, _)| owner == who.as_str()).map(|(_, n)| n))
    }

    /// Whether someone other than `who` registered `nick` (channels must not give it away).
    pub(crate) async fn nick_reserved(&self, ctx: &Ctx, nick: &str, who: &BareJid) -> Result<bool, StanzaError> {
        Ok(self.registered_nicks(ctx).await?.iter().any(|(owner, n)| n == nick && owner != who.as_str()))
    }

    /// `<register/>` to the service (XEP-0407 §3): the nick becomes the user's in every
    /// channel it is in, and no one else's.
    pub(crate) async fn register(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        who: &BareJid,
        payload: &Element,
    ) -> Result<Element, StanzaError> {
        let request = rhein_module::payload::<Register>(payload.clone())?;
        let nick = match request.nick {
            Some(n) => crate::membership::clean_nick(&n)?,
            None => format!("user-{}", &xml::random_id()[..12]),
        };
        if self.nick_reserved(ctx, &nick, who).await? {
            return Err(StanzaError::conflict().with_text("that nick is registered to someone else"));
        }
        let domain = self.domain(ctx);
        for jid in store::channels(ctx, &domain).await? {
            let Some(channel) = self.channel(ctx, &jid).await? else { continue };
            let c = channel.lock().await;
            if c.nick_taken(&nick, who) {
                return Err(StanzaError::conflict().with_text(format!("that nick is in use in {jid}")));
            }
        }
        let item = ItemRow { id: who.to_string(), publisher: who.to_string(), payload: nick.clone() };
        ctx.db.pubsub().publish(&domain, NICKS, "{}", &item, None).await.map_err(storage_failure)?;
        for jid in store::channels(ctx, &domain).await? {
            let Some(channel) = self.channel(ctx, &jid).await? else { continue };
            let mut c = channel.lock().await;
            if c.participant_id(who).is_some() {
                self.rename(ctx, out, &mut c, who, &nick).await?;
            }
        }
        Ok(Register { nick: Some(nick) }.into())
    }

    /// `<invite/>` to a channel (XEP-0407 §5): an invitation for the invitee, from an
    /// administrator, or from a participant where the configuration allows it.
    pub(crate) async fn invite(
        &self,
        ctx: &Ctx,
        c: &mut Channel,
        req: &Request<'_>,
    ) -> Result<Option<Element>, StanzaError> {
        let request = rhein_module::payload::<Invite>(req.payload.clone())?;
        let invitee = request.invitee.ok_or_else(|| StanzaError::bad_request().with_text("name the <invitee/>"))?;
        let invitee = Jid::new(&invitee).map_err(|_| StanzaError::jid_malformed())?.to_bare();
        let participant_may = c.config.invitations && c.participant_id(&req.who).is_some();
        if !participant_may && !c.may(&req.who, crate::channel::Level::Admins) {
            return Err(StanzaError::forbidden().with_text("you may not invite to this channel"));
        }
        if c.config.invite_secret.is_empty() {
            c.config.invite_secret = xml::random_id();
            store::save_config(ctx, c).await?;
        }
        let expiry = now_ms() / 1000 + INVITATION_DAYS * 86_400;
        let invitation = Invitation {
            inviter: req.who.to_string(),
            invitee: invitee.to_string(),
            channel: c.jid.to_string(),
            token: format!("{expiry}-{}", token_mac(c, &req.who.to_string(), invitee.as_str(), expiry)),
        };
        Ok(Some(Invite { invitee: None, invitation: Some(invitation) }.into()))
    }

    /// A message with `<retract/>` (XEP-0407 §4): its sender (where the channel allows it) or
    /// those with retraction rights withdraw a message; the archive keeps a tombstone and
    /// every messages-node subscriber is told.
    pub(crate) async fn retract_message(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        c: &Channel,
        who: &BareJid,
        retract: Retract,
    ) -> Result<(), StanzaError> {
        let owner = c.jid.as_str();
        let archived = tombstone::by_stanza_id(ctx, owner, &retract.id).await?;
        let archived = archived.ok_or_else(|| StanzaError::item_not_found().with_text("no such message"))?;
        let sender_id = archived.message.attr("from").and_then(|f| f.split_once('/')).map(|(_, id)| id.to_owned());
        let own = sender_id.is_some() && sender_id.as_deref() == c.participant_id(who);
        let may = (own && c.config.user_retraction) || c.may(who, c.config.admin_retraction);
        if !may {
            return Err(StanzaError::forbidden().with_text("you may not retract this message"));
        }
        let marker = Retracted { by: who.to_string(), time: time::datetime(now_ms()) };
        tombstone::replace(ctx, owner, &archived, marker.into()).await?;
        let by = c.participant_id(who).map(str::to_owned);
        for subscriber in c.subscribers(nodes::MESSAGES) {
            let mut note = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "groupchat");
            let from = by.as_ref().map_or_else(|| c.jid.to_string(), |id| format!("{}/{id}", c.jid));
            xml::set_attr(&mut note, "from", from);
            xml::set_attr(&mut note, "to", subscriber.as_str());
            xml::set_attr(&mut note, "id", xml::random_id());
            note.append_child(Retract { id: retract.id.clone() }.into());
            let nick = by.as_ref().and_then(|id| c.participants[id].nick.clone());
            let jid = c.shows_jid_of(who, subscriber).then(|| who.to_string());
            note.append_child(MessageSender { nick, jid }.into());
            out.push(note);
        }
        Ok(())
    }
}

/// The MAC part of an invitation token.
fn token_mac(c: &Channel, inviter: &str, invitee: &str, expiry: i64) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(c.config.invite_secret.as_bytes()) else { return String::new() };
    mac.update(format!("{}\n{inviter}\n{invitee}\n{expiry}", c.jid).as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `invitation` is one this channel issued to `who`, unexpired.
pub(crate) fn invitation_valid(c: &Channel, invitation: &Invitation, who: &BareJid) -> bool {
    let Some((expiry, mac)) = invitation.token.split_once('-') else { return false };
    let Ok(expiry) = expiry.parse::<i64>() else { return false };
    !c.config.invite_secret.is_empty()
        && invitation.invitee == who.as_str()
        && invitation.channel == c.jid.as_str()
        && expiry >= now_ms() / 1000
        && token_mac(c, &invitation.inviter, &invitation.invitee, expiry) == mac
}

/// The namespace clients look for to know nicks can be registered.
pub(crate) const NICK_REGISTER: &str = "urn:xmpp:mix:misc:0#nick-register";
