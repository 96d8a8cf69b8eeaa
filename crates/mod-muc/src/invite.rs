//! Mediated invitations and declines (XEP-0045 §7.8.2), and voice requests (§7.13).

use crate::room::{Affiliation, Role, Room};
use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_proto::form::{field, form};
use rhein_proto::muc::{self, AdminItem, AdminQuery};
use rhein_proto::parsers::data_forms::DataForm;
use rhein_proto::parsers::muc::user::{Decline, Invite, MucUser};
use rhein_proto::{Element, FullJid, StanzaError, ns, xml};

const REQUEST: &str = "http://jabber.org/protocol/muc#request";

/// What a non-groupchat message to a room is about. Invitations and declines are read when
/// handled, so that one that does not parse is refused, not taken for a plain message.
pub(crate) enum Special<'a> {
    Invite(&'a Element),
    Decline(&'a Element),
    VoiceRequest(DataForm),
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
    let form = DataForm::try_from(el.get_child("x", ns::DATA)?.clone()).ok()?;
    (form.form_type() == Some(REQUEST)).then_some(Special::VoiceRequest(form))
}

/// The first value of a form's field.
fn value(form: &DataForm, var: &str) -> Option<String> {
    form.fields.iter().find(|f| f.var.as_deref() == Some(var)).and_then(|f| f.values.first().cloned())
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
            Special::VoiceRequest(submitted) => self.voice(ctx, out, room, from, submitted).await,
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
        let invite = rhein_module::payload::<Invite>(invite.clone())?;
        let to = invite.to.ok_or_else(|| StanzaError::bad_request().with_text("invite whom?"))?;
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
        let notice = Invite { from: Some(from.to_bare().into()), to: None, reason: invite.reason };
        let mut x = Element::from(MucUser { invite: Some(notice), ..MucUser::default() });
        // xmpp-parsers' MucUser has no password (§7.8.2), so it is added as an element.
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
        let decline = rhein_module::payload::<Decline>(decline.clone())?;
        let to = decline.to.ok_or_else(|| StanzaError::bad_request().with_text("decline to whom?"))?;
        let notice = Decline { from: Some(from.to_bare().into()), to: None, reason: decline.reason };
        out.push(room.message_to(to.as_str(), MucUser { decline: Some(notice), ..MucUser::default() }.into()));
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
        submitted: DataForm,
    ) -> Result<(), StanzaError> {
        let sender = room
            .by_session(from)
            .cloned()
            .ok_or_else(|| StanzaError::not_acceptable().with_text("join the room first"))?;
        if sender.role == Role::Moderator {
            let (Some(nick), Some(allow)) = (value(&submitted, "muc#roomnick"), value(&submitted, "muc#request_allow"))
            else {
                return Err(StanzaError::bad_request().with_text("an approval names muc#roomnick"));
            };
            if matches!(allow.as_str(), "1" | "true") {
                let voice = AdminItem { nick: Some(nick), role: Some(muc::Role::Participant), ..AdminItem::default() };
                self.admin_set(ctx, out, room, from, AdminQuery { items: vec![voice] }).await?;
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
