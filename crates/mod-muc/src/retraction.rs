//! Retraction in rooms: an occupant withdraws their own message (XEP-0424), a moderator
//! anyone's (XEP-0425 0.3, `urn:xmpp:message-moderate:1`, the version Converse.js speaks).
//! The room's archive keeps a tombstone in the message's place, so neither MAM nor the
//! history newcomers get (which skips tombstones and retractions) gives out what it said.

use crate::room::{Occupant, Role, Room};
use crate::service::{Muc, Outbox};
use rhein_module::{Ctx, storage_failure, tombstone};
use rhein_proto::parsers::occupant_id::OccupantId;
use rhein_proto::retract::{Moderate, Moderated, Retract, Retracted};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, sid, time, xml};
use rhein_storage::{ArchiveRow, now_ms};

/// Whether a group message is a retraction: a newcomer, who never got the message it
/// names, gets neither.
pub(crate) fn is_retraction(message: &Element) -> bool {
    message.get_child("retract", ns::MESSAGE_RETRACT).is_some()
}

impl Muc {
    /// An occupant's `<retract/>` in a group message (XEP-0424): the message it names
    /// becomes a tombstone if `author` sent it; a message of someone else's is `forbidden`.
    /// The retraction is then relayed like any group message, so one naming a message the
    /// archive does not hold (logging was off) still reaches those who saw it.
    pub(crate) async fn retract_own(
        &self,
        ctx: &Ctx,
        room: &Room,
        author: &BareJid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        let Some(child) = el.get_child("retract", ns::MESSAGE_RETRACT) else { return Ok(()) };
        let retract = rhein_module::payload::<Retract>(child.clone())?;
        if retract.moderated.is_some() {
            return Err(StanzaError::forbidden().with_text("only the room announces a moderation"));
        }
        let owner = room.jid.as_str();
        // The room's stanza id, as the XEP asks; else the client's own id for the message
        // (what Converse.js sends), among the author's messages.
        let found = match tombstone::by_stanza_id(ctx, owner, &retract.id).await? {
            Some(a) if a.row.with_jid != author.as_str() => {
                return Err(StanzaError::forbidden().with_text("only its author or a moderator may retract a message"));
            }
            Some(a) => Some(a),
            None => tombstone::by_message_id(ctx, owner, author.as_str(), &retract.id, |_| true).await?,
        };
        let Some(archived) = found.filter(|a| !a.is_tombstone()) else { return Ok(()) };
        let marker = Retracted {
            id: el.attr("id").map(str::to_owned),
            stamp: Some(time::datetime(now_ms())),
            ..Retracted::default()
        };
        tombstone::replace(ctx, owner, &archived, marker.into()).await
    }

    /// A moderator's `<moderate/>` (XEP-0425 §3): the message with the room's stanza id
    /// becomes a tombstone naming the moderator and the reason, and every occupant is told.
    pub(crate) async fn moderate(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &Room,
        from: &FullJid,
        request: Moderate,
    ) -> Result<(), StanzaError> {
        let moderator = room.by_session(from).filter(|o| o.role == Role::Moderator).ok_or_else(|| {
            StanzaError::forbidden().with_text("only moderators may retract other occupants' messages")
        })?;
        let owner = room.jid.as_str();
        let archived = tombstone::by_stanza_id(ctx, owner, &request.id).await?;
        let archived = archived.ok_or_else(|| StanzaError::item_not_found().with_text("no such message"))?;
        if archived.is_tombstone() {
            return Ok(());
        }
        let notice_id = xml::random_id();
        let moderated = moderated_by(room, moderator);
        let marker = Retracted {
            id: Some(notice_id.clone()),
            by: moderated.by.clone(),
            stamp: Some(time::datetime(now_ms())),
            moderated: Some(moderated.clone()),
            reason: request.reason.clone(),
        };
        tombstone::replace(ctx, owner, &archived, marker.into()).await?;
        let retract = Retract { id: request.id, moderated: Some(moderated), reason: request.reason };
        let mut notice = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "groupchat");
        xml::set_attr(&mut notice, "from", owner);
        xml::set_attr(&mut notice, "id", notice_id);
        notice.append_child(retract.into());
        // Archived too, so clients catching up learn of it (XEP-0424 §7).
        if room.config.logging {
            let id = xml::random_id();
            let row = ArchiveRow {
                stanza_id: id.clone(),
                with_jid: owner.to_owned(),
                ts: now_ms(),
                stanza: xml::to_string(&notice),
            };
            ctx.db.archive().append(owner, &row).await.map_err(storage_failure)?;
            notice.append_child(sid::stanza_id(&id, owner));
        }
        crate::occupants::to_all(out, room, notice);
        Ok(())
    }
}

/// `<moderated/>` naming `moderator` by room JID and occupant id (XEP-0421), which every
/// occupant may see.
fn moderated_by(room: &Room, moderator: &Occupant) -> Moderated {
    Moderated {
        by: Jid::new(&format!("{}/{}", room.jid, moderator.nick)).ok(),
        occupant_id: Some(OccupantId { id: room.occupant_id(&moderator.bare) }),
    }
}
