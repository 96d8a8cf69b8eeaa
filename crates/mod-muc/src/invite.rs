//! Mediated invitations and declines (XEP-0045 §7.8.2), and voice requests (§7.13).

use crate::room::{Affiliation, Role, Room};
use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_proto::form::{field, form, submitted};
use rhein_proto::{Element, FullJid, Jid, StanzaError, ns, xml};

const REQUEST: &str = "http://jabber.org/protocol/muc#request";

/// What a non-groupchat message to a room is about.
pub(crate) enum Special<'a> {
    Invite(&'a Element),
    Decline(&'a Element),
    VoiceRequest(&'a Element),
}

pub(crate) fn special(el: &Element) -> Option<Special<'_>> {
    if let Some(x) = el.get_child("x", ns::MUC_USER) {
        if let Some(invite) = x.get_child("invite", ns::MUC_USER) {
            return Some(Special::Invite(invite));
        }
        if let Some(decline) = x.get_child("decline", ns::MUC_USER) {
            return Some(Special::Decline(decline));
        }
    }
    let form = el.get_child("x", ns::DATA)?;
    submitted(form)
        .any(|(var, v)| var == "FORM_TYPE" && v.iter().any(|t| t == REQUEST))
        .then_some(Special::VoiceRequest(form))
}

fn reason_of(el: &Element) -> Option<String> {
    el.get_child("reason", ns::MUC_USER).map(Element::text)
}

impl Muc {
    pub(crate) async fn special(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        from: &FullJid,
        what: Special<'_>,
    ) -> Result<(), StanzaError> {
        match what {
            Special::Invite(invite) => self.invite(ctx, out, room, from, invite).await,
            Special::Decline(decline) => self.decline(out, room, from, decline),
            Special::VoiceRequest(form) => self.voice(ctx, out, room, from, form).await,
        }
    }

    /// The room invites someone on an occupant's behalf; in a members-only room the invitee
    /// becomes a member (if the inviter may invite there at all).
    async fn invite(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        from: &FullJid,
        invite: &Element,
    ) -> Result<(), StanzaError> {
        let inviter =
            room.by_session(from).ok_or_else(|| StanzaError::not_acceptable().with_text("join the room first"))?;
        let to = invite.attr("to").ok_or_else(|| StanzaError::bad_request().with_text("invite whom?"))?;
        let to = Jid::new(to).map_err(|_| StanzaError::jid_malformed())?;
        let inviter_affiliation = room.affiliation(&inviter.bare);
        if room.config.members_only {
            let may = inviter_affiliation >= Affiliation::Admin
                || (room.config.allow_invites && inviter.role >= Role::Participant);
            if !may {
                return Err(StanzaError::forbidden().with_text("only admins invite to this members-only room"));
            }
            let invitee = to.to_bare();
            if room.affiliation(&invitee) < Affiliation::Member {
                room.affiliations.insert(invitee, Affiliation::Member);
                if room.config.persistent {
                    self.save(ctx, room).await?;
                }
            }
        }
        let mut notice = xml::with_attr(Element::bare("invite", ns::MUC_USER), "from", from.to_bare().as_str());
        if let Some(reason) = reason_of(invite) {
            notice.append_child(xml::text_el("reason", ns::MUC_USER, reason));
        }
        let mut x = Element::bare("x", ns::MUC_USER);
        x.append_child(notice);
        if !room.config.password.is_empty() {
            x.append_child(xml::text_el("password", ns::MUC_USER, room.config.password.clone()));
        }
        let mut m = room.message_to(to.as_str(), x);
        m.append_child(xml::text_el("body", ns::CLIENT, format!("{} invites you to {}", from.to_bare(), room.jid)));
        out.push(m);
        Ok(())
    }

    /// An invitee declines: the inviter is told.
    fn decline(&self, out: &mut Outbox, room: &Room, from: &FullJid, decline: &Element) -> Result<(), StanzaError> {
        let to = decline.attr("to").and_then(|t| Jid::new(t).ok()).ok_or_else(StanzaError::bad_request)?;
        let mut notice = xml::with_attr(Element::bare("decline", ns::MUC_USER), "from", from.to_bare().as_str());
        if let Some(reason) = reason_of(decline) {
            notice.append_child(xml::text_el("reason", ns::MUC_USER, reason));
        }
        let mut x = Element::bare("x", ns::MUC_USER);
        x.append_child(notice);
        out.push(room.message_to(to.as_str(), x));
        Ok(())
    }

    /// A visitor asks for voice (the form goes to every moderator), or a moderator answers
    /// one (muc#request_allow).
    async fn voice(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        from: &FullJid,
        form_el: &Element,
    ) -> Result<(), StanzaError> {
        let sender = room
            .by_session(from)
            .cloned()
            .ok_or_else(|| StanzaError::not_acceptable().with_text("join the room first"))?;
        let value = |name: &str| submitted(form_el).find(|(v, _)| *v == name).and_then(|(_, v)| v.into_iter().next());
        if sender.role == Role::Moderator {
            let (Some(nick), Some(allow)) = (value("muc#roomnick"), value("muc#request_allow")) else {
                return Err(StanzaError::bad_request().with_text("an approval names muc#roomnick"));
            };
            if matches!(allow.as_str(), "1" | "true") {
                let mut item = xml::with_attr(Element::bare("item", ns::MUC_ADMIN), "nick", nick);
                xml::set_attr(&mut item, "role", "participant");
                let mut q = Element::bare("query", ns::MUC_ADMIN);
                q.append_child(item);
                self.admin_set(ctx, out, room, from, &q).await?;
            }
            return Ok(());
        }
        if sender.role != Role::Visitor {
            return Ok(());
        }
        let mut request = form("form", REQUEST);
        request.append_child(field("muc#role", "list-single", &["participant"]));
        request.append_child(field("muc#jid", "jid-single", &[from.to_bare().as_str()]));
        request.append_child(field("muc#roomnick", "text-single", &[&sender.nick]));
        request.append_child(field("muc#request_allow", "boolean", &["0"]));
        for moderator in room.occupants.iter().filter(|o| o.role == Role::Moderator) {
            for (session, _) in &moderator.sessions {
                out.push(room.message_to(session.as_str(), request.clone()));
            }
        }
        Ok(())
    }
}
