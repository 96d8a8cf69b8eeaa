//! Group messages, the subject, private messages between occupants, and the history a
//! newcomer gets (XEP-0045 §7.2.15, §7.4, §7.5, §8.1). Group messages are archived under the
//! room's JID, and the archive id is their XEP-0359 stanza id.

use crate::room::{Role, Room};
use crate::service::{Muc, Outbox};
use rhein_module::{Ctx, storage_failure, tombstone};
use rhein_proto::muc::HistoryLimits;
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns, sid, time, xml};
use rhein_storage::{ArchiveQuery, ArchiveRow, Page, now_ms};

/// `<history/>` limits a client asked for when joining.
#[derive(Debug, Clone, Default)]
pub(crate) struct HistoryRequest {
    pub max_stanzas: Option<usize>,
    pub max_chars: Option<usize>,
    pub since_ms: Option<i64>,
}

impl From<HistoryLimits> for HistoryRequest {
    /// A limit that does not read asks for nothing in particular: the join still succeeds.
    fn from(h: HistoryLimits) -> Self {
        let num = |v: Option<String>| v.and_then(|v| v.trim().parse::<usize>().ok());
        let seconds = num(h.seconds).map(|s| now_ms() - (s as i64) * 1000);
        let since = h.since.and_then(|s| time::parse_datetime(&s).ok());
        Self { max_stanzas: num(h.maxstanzas), max_chars: num(h.maxchars), since_ms: seconds.max(since) }
    }
}

/// Whether a group message is more than a chat state or a chat marker (XEP-0313 §5.1.1:
/// those are not kept): it would otherwise count as an unread message too.
fn worth_archiving(msg: &Element) -> bool {
    const SIGNALS: &[&str] = &[ns::CHATSTATES, ns::CHAT_MARKERS, ns::HINTS, ns::STANZA_ID, ns::OCCUPANT_ID];
    msg.get_child("body", ns::CLIENT).is_some() || msg.children().any(|c| SIGNALS.iter().all(|s| c.ns() != *s))
}

impl Muc {
    /// A message to the room itself: a group message, or a subject change.
    pub(crate) async fn room_message(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        el: Element,
    ) -> Result<(), StanzaError> {
        let room_ref = self.room(ctx, room_jid).await?.ok_or_else(StanzaError::item_not_found)?;
        let mut room = room_ref.lock().await;
        if el.attr("type") == Some("error") {
            return Ok(());
        }
        if let Some(what) = crate::invite::special(&el) {
            return self.special(ctx, out, &mut room, from, what).await;
        }
        if el.attr("type") != Some("groupchat") {
            return Err(StanzaError::bad_request().with_text("messages to a room are of type groupchat"));
        }
        let sender = room.by_session(from).cloned().ok_or_else(|| {
            StanzaError::not_acceptable().with_text("only occupants may send to the room; join it first")
        })?;
        let is_subject = el.get_child("subject", ns::CLIENT).is_some() && el.get_child("body", ns::CLIENT).is_none();
        if is_subject {
            let may =
                sender.role == Role::Moderator || (room.config.change_subject && sender.role >= Role::Participant);
            if !may {
                return Err(StanzaError::forbidden().with_text("you may not change the subject"));
            }
            room.subject = el.get_child("subject", ns::CLIENT).map(Element::text).unwrap_or_default();
            room.subject_by = sender.nick.clone();
            if room.config.persistent {
                ctx.db
                    .muc()
                    .set_subject(room.jid.as_str(), &room.subject, &room.subject_by)
                    .await
                    .map_err(storage_failure)?;
            }
        } else if sender.role < Role::Participant {
            return Err(StanzaError::forbidden().with_text("visitors need voice to speak in this room"));
        }
        self.retract_own(ctx, &room, &sender.bare, &el).await?;
        let mut msg = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "groupchat");
        xml::set_attr(&mut msg, "from", format!("{}/{}", room.jid, sender.nick));
        if let Some(id) = el.attr("id") {
            xml::set_attr(&mut msg, "id", id);
        }
        // Whatever the client sent, except ids claiming to be the room's.
        for child in el.children().filter(|child| child.ns() != ns::OCCUPANT_ID) {
            msg.append_child(child.clone());
        }
        sid::drop_claims(&mut msg, room.jid.as_str());
        msg.append_child(crate::occupant_id(&room, &sender.bare));
        if room.config.logging && !is_subject && worth_archiving(&msg) {
            let id = xml::random_id();
            let row = ArchiveRow {
                stanza_id: id.clone(),
                with_jid: sender.bare.to_string(),
                ts: now_ms(),
                stanza: xml::to_string(&msg),
            };
            let marks = crate::notify::unread_marks(ctx, &room, &sender.bare, &msg);
            ctx.db.archive().append_marked(room.jid.as_str(), &row, marks).await.map_err(storage_failure)?;
            msg.append_child(sid::stanza_id(&id, room.jid.as_str()));
        }
        crate::occupants::to_all(out, &room, msg.clone());
        if !is_subject {
            self.notify_absent(ctx, out, &mut room, &msg).await?;
        }
        Ok(())
    }

    /// A private message from one occupant to another, by nickname.
    pub(crate) async fn private_message(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        nick: &str,
        el: Element,
    ) -> Result<(), StanzaError> {
        if matches!(el.attr("type"), Some("error")) {
            return Ok(());
        }
        if el.attr("type") == Some("groupchat") {
            return Err(StanzaError::bad_request().with_text("private messages are not groupchat"));
        }
        let room_ref = self.room(ctx, room_jid).await?.ok_or_else(StanzaError::item_not_found)?;
        let room = room_ref.lock().await;
        let sender =
            room.by_session(from).ok_or_else(|| StanzaError::not_acceptable().with_text("join the room first"))?;
        if !room.config.allow_pm && sender.role != Role::Moderator {
            return Err(StanzaError::forbidden().with_text("private messages are off in this room"));
        }
        let target = room.occupant(nick).ok_or_else(|| StanzaError::item_not_found().with_text("no such occupant"))?;
        let mut msg = el.clone();
        xml::set_attr(&mut msg, "from", format!("{}/{}", room.jid, sender.nick));
        while msg.remove_child("occupant-id", ns::OCCUPANT_ID).is_some() {}
        if msg.get_child("x", ns::MUC_USER).is_none() {
            msg.append_child(Element::bare("x", ns::MUC_USER));
        }
        msg.append_child(crate::occupant_id(&room, &sender.bare));
        for (session, _) in &target.sessions {
            out.push(xml::with_attr(msg.clone(), "to", session.as_str()));
        }
        Ok(())
    }

    /// Recent group messages for a newcomer, oldest first, each with its delay; retracted
    /// ones and the retractions are left out (XEP-0424 §7), so fewer may come than asked.
    pub(crate) async fn send_history(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &Room,
        to: &FullJid,
        request: &HistoryRequest,
    ) -> Result<(), StanzaError> {
        let history = self.config.get().history;
        let mut max = request.max_stanzas.unwrap_or(history).min(history);
        if room.config.max_history_fetch > 0 {
            max = max.min(room.config.max_history_fetch);
        }
        if max == 0 || request.max_chars == Some(0) || !room.config.logging {
            return Ok(());
        }
        let query =
            ArchiveQuery { start: request.since_ms, page: Page::Last, max: max as i64, ..ArchiveQuery::default() };
        let Some(page) = ctx.db.archive().query(room.jid.as_str(), &query).await.map_err(storage_failure)? else {
            return Ok(());
        };
        let mut messages: Vec<Element> = Vec::new();
        let mut chars = 0;
        for row in page.rows.iter().rev() {
            let Ok(mut m) = row.stanza.parse::<Element>() else { continue };
            if tombstone::is_tombstone(&m) || crate::retraction::is_retraction(&m) {
                continue;
            }
            chars += row.stanza.len();
            if request.max_chars.is_some_and(|limit| chars > limit) {
                break;
            }
            let mut delay = xml::with_attr(Element::bare("delay", ns::DELAY), "from", room.jid.as_str());
            xml::set_attr(&mut delay, "stamp", time::datetime(row.ts));
            m.append_child(delay);
            m.append_child(sid::stanza_id(&row.stanza_id, room.jid.as_str()));
            messages.push(xml::with_attr(m, "to", to.as_str()));
        }
        for m in messages.into_iter().rev() {
            out.push(m);
        }
        Ok(())
    }

    /// The subject, last thing a newcomer gets (empty when none is set, §7.2.15).
    pub(crate) fn send_subject(&self, out: &mut Outbox, room: &Room, to: &FullJid) {
        let from = match room.subject_by.is_empty() {
            true => room.jid.to_string(),
            false => format!("{}/{}", room.jid, room.subject_by),
        };
        let mut m = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "groupchat");
        xml::set_attr(&mut m, "from", from);
        xml::set_attr(&mut m, "to", to.as_str());
        xml::set_attr(&mut m, "id", xml::random_id());
        m.append_child(xml::text_el("subject", ns::CLIENT, room.subject.clone()));
        out.push(m);
    }
}
