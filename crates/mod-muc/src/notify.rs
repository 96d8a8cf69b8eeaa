//! Telling people who are not in the room about its messages:
//! - push registrations by opaque token (a Rhein extension of XEP-0357 for rooms, described in
//!   the README): every message goes to the registrant's push service while it is away,
//!   marked when it mentions them; the room knows the registrant only by occupant id;
//! - XEP-0452 mention notifications to registered users who are away, when the room forwards
//!   mentions.

use crate::room::Room;
use crate::service::{Muc, Outbox};
use rhein_module::{Ctx, storage_failure};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};
use rhein_storage::{Marks, RoomPushRow};
use std::collections::HashSet;

/// Registrations one user may hold in one room.
const MAX_PER_OCCUPANT: usize = 5;

/// What in a group message can mention someone, read once for everyone it may mention.
pub(crate) struct Mentioning {
    /// Whom its XEP-0372 `mention` references name.
    jids: Vec<Jid>,
    /// Its body in lower case, and the body's words: a one-word nickname is looked up
    /// rather than searched for, which matters in a room of thousands.
    body: String,
    words: HashSet<String>,
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

impl Mentioning {
    pub(crate) fn of(msg: &Element) -> Self {
        let jids = rhein_proto::reference::mentioned(msg);
        let body = msg.get_child("body", ns::CLIENT).map(Element::text).unwrap_or_default().to_lowercase();
        let words = body.split(|c: char| !is_word(c)).filter(|w| !w.is_empty()).map(str::to_owned).collect();
        Self { jids: jids.collect(), body, words }
    }

    /// Whether it can mention anyone at all.
    fn is_empty(&self) -> bool {
        self.jids.is_empty() && self.words.is_empty()
    }

    /// The user known as `nick` in `room`: a mention of its room JID, or else its nickname as
    /// a word of the body.
    fn names_nick(&self, room: &Room, nick: &str) -> bool {
        let by_jid = |j: &Jid| j.resource().is_some_and(|r| r.as_str() == nick) && j.to_bare() == room.jid;
        if self.jids.iter().any(by_jid) {
            return true;
        }
        let nick = nick.to_lowercase();
        match nick.chars().all(is_word) {
            true => self.words.contains(&nick),
            false => contains_word(&self.body, &nick),
        }
    }

    /// A mention of an account (by its bare JID) that `is` accepts.
    fn names_account(&self, is: impl Fn(&BareJid) -> bool) -> bool {
        self.jids.iter().any(|j| j.node().is_some() && j.resource().is_none() && is(&j.to_bare()))
    }

    /// Whether it mentions the user known as `nick` (with occupant id `occupant_id`) in
    /// `room`: an XEP-0372 mention of its room JID or of its account, or else its nickname as
    /// a word.
    pub(crate) fn names(&self, room: &Room, nick: &str, occupant_id: &str) -> bool {
        self.names_nick(room, nick) || self.names_account(|account| room.occupant_id(account) == occupant_id)
    }
}

/// What a group message does to the unread counters of local accounts: its author has read
/// the room up to it; occupants and registered users it mentions (as [`Mentioning`] reads it)
/// count a mention.
pub(crate) fn unread_marks(ctx: &Ctx, room: &Room, author: &BareJid, msg: &Element) -> Option<Marks> {
    let local = |user: &BareJid| ctx.router.is_local_host(user.domain().as_str());
    let mentioning = Mentioning::of(msg);
    let mut mentioned: Vec<String> = Vec::new();
    if !mentioning.is_empty() {
        let present = room.occupants.iter().map(|o| (&o.bare, o.nick.as_str()));
        let registered = room.reserved.iter().map(|(user, nick)| (user, nick.as_str()));
        for (user, nick) in present.chain(registered) {
            if user != author
                && local(user)
                && !mentioned.iter().any(|m| m == user.as_str())
                && (mentioning.names_nick(room, nick) || mentioning.names_account(|a| a == user))
            {
                mentioned.push(user.to_string());
            }
        }
    }
    let author = local(author).then(|| author.to_string());
    Some(Marks { author, mentioned }).filter(|m| !m.is_empty())
}

/// `needle` in `haystack`, case-insensitively, not inside a longer word.
fn contains_word(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let (hay, needle) = (haystack.to_lowercase(), needle.to_lowercase());
    hay.match_indices(&needle).any(|(i, _)| {
        let before = hay[..i].chars().next_back();
        let after = hay[i + needle.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

fn forwarded(msg: &Element) -> Element {
    let mut f = Element::bare("forwarded", ns::FORWARD);
    f.append_child(msg.clone());
    f
}

impl Muc {
    async fn load_pushes(&self, ctx: &Ctx, room: &mut Room) -> Result<(), StanzaError> {
        if room.pushes.is_none() {
            room.pushes = Some(ctx.db.muc().pushes(room.jid.as_str()).await.map_err(storage_failure)?);
        }
        Ok(())
    }

    /// `<enable service token/>` from an occupant: stored under its occupant id.
    pub(crate) async fn push_enable(
        &self,
        ctx: &Ctx,
        room: &mut Room,
        from: &FullJid,
        enable: &Element,
    ) -> Result<(), StanzaError> {
        let occupant = room
            .by_session(from)
            .cloned()
            .ok_or_else(|| StanzaError::not_acceptable().with_text("join the room first"))?;
        let service = enable
            .attr("service")
            .and_then(|s| Jid::new(s).ok())
            .ok_or_else(|| StanzaError::bad_request().with_text("a push service JID is needed"))?;
        let token = enable
            .attr("token")
            .filter(|t| !t.is_empty() && t.len() <= 1024)
            .ok_or_else(|| StanzaError::bad_request().with_text("a token is needed"))?;
        self.load_pushes(ctx, room).await?;
        let pushes = room.pushes.get_or_insert_with(Vec::new);
        let own = pushes.iter().filter(|p| p.occupant_id == occupant.id && p.token != token).count();
        if own >= MAX_PER_OCCUPANT {
            return Err(StanzaError::resource_constraint().with_text("too many push registrations"));
        }
        let row = RoomPushRow {
            token: token.to_owned(),
            service: service.to_string(),
            occupant_id: occupant.id.clone(),
            nick: occupant.nick.clone(),
        };
        ctx.db.muc().add_push(room.jid.as_str(), &row).await.map_err(storage_failure)?;
        pushes.retain(|p| p.token != token);
        pushes.push(row);
        Ok(())
    }

    /// `<disable token/>`: the token is the secret that identifies the registration.
    pub(crate) async fn push_disable(&self, ctx: &Ctx, room: &mut Room, disable: &Element) -> Result<(), StanzaError> {
        let token = disable.attr("token").ok_or_else(|| StanzaError::bad_request().with_text("which token?"))?;
        self.load_pushes(ctx, room).await?;
        if !ctx.db.muc().remove_push(room.jid.as_str(), token).await.map_err(storage_failure)? {
            return Err(StanzaError::item_not_found().with_text("no registration with that token"));
        }
        if let Some(pushes) = &mut room.pushes {
            pushes.retain(|p| p.token != token);
        }
        Ok(())
    }

    /// A registrant's nickname changed (or it joined under another): mentions follow it.
    pub(crate) async fn push_rename(
        &self,
        ctx: &Ctx,
        room: &mut Room,
        occupant_id: &str,
        nick: &str,
    ) -> Result<(), StanzaError> {
        self.load_pushes(ctx, room).await?;
        let Some(pushes) = &mut room.pushes else { return Ok(()) };
        if pushes.iter().any(|p| p.occupant_id == occupant_id && p.nick != nick) {
            ctx.db.muc().rename_push(room.jid.as_str(), occupant_id, nick).await.map_err(storage_failure)?;
            for p in pushes.iter_mut().filter(|p| p.occupant_id == occupant_id) {
                p.nick = nick.to_owned();
            }
        }
        Ok(())
    }

    /// A group message was sent: push services of absent registrants, and registered users
    /// it mentions, hear of it.
    pub(crate) async fn notify_absent(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        msg: &Element,
    ) -> Result<(), StanzaError> {
        self.load_pushes(ctx, room).await?;
        let mentioning = Mentioning::of(msg);
        let present: Vec<&str> = room.occupants.iter().map(|o| o.id.as_str()).collect();
        for push in room.pushes.iter().flatten().filter(|p| !present.contains(&p.occupant_id.as_str())) {
            let mut note = xml::with_attr(Element::bare("notification", ns::MUC_PUSH), "token", push.token.as_str());
            let mentioned = mentioning.names(room, &push.nick, &push.occupant_id);
            xml::set_attr(&mut note, "mentioned", if mentioned { "true" } else { "false" });
            note.append_child(forwarded(msg));
            out.push(room.message_to(&push.service, note));
        }
        if room.config.forward_mentions {
            let present: Vec<&BareJid> = room.occupants.iter().map(|o| &o.bare).collect();
            for (user, nick) in room.reserved.iter().filter(|(u, _)| !present.contains(u)) {
                if mentioning.names(room, nick, &room.occupant_id(user)) {
                    let mut mentions_el = Element::bare("mentions", ns::MUC_MENTIONS);
                    mentions_el.append_child(forwarded(msg));
                    out.push(room.message_to(user.as_str(), mentions_el));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Mentioning, contains_word};
    use rhein_proto::Element;

    #[test]
    fn nicknames_are_found_as_words_only() {
        assert!(contains_word("bob: ping", "bob"));
        assert!(contains_word("hey @Bob!", "bob"));
        assert!(contains_word("ask Mr Smith", "mr smith"));
        assert!(!contains_word("bobby is here", "bob"));
        assert!(!contains_word("kebob", "bob"));
        assert!(!contains_word("anything", ""));
    }

    #[test]
    fn a_body_is_split_into_the_words_nicknames_are_looked_up_in() {
        let msg: Element =
            "<message xmlns='jabber:client'><body>Hey @Bob, ask Mr Smith; kebob_2!</body></message>".parse().unwrap();
        let m = Mentioning::of(&msg);
        for word in ["hey", "bob", "ask", "mr", "smith", "kebob_2"] {
            assert!(m.words.contains(word), "{word}");
        }
        assert_eq!(m.words.len(), 6);
        assert!(contains_word(&m.body, "mr smith"));
    }
}
