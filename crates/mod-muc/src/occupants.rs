//! Entering, changing, leaving (XEP-0045 §7.2–§7.6, §7.14): the presences every occupant
//! sees, with their `muc#user` items and status codes.

use crate::room::{Affiliation, Occupant, Room, Whois};
use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_proto::muc::{DestroyNotice, Join};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};

/// Status codes (XEP-0045 §15.6).
pub(crate) const SELF: &str = "110";
const NON_ANONYMOUS: &str = "100";
const CREATED: &str = "201";
const NICK_CHANGED: &str = "303";

/// A client entering a room under a nickname; `created` if its presence created the room.
struct Arrival<'a> {
    from: &'a FullJid,
    nick: &'a str,
    presence: Element,
    created: bool,
}

/// What a joining client asked for in `<x xmlns='…muc'/>`.
struct JoinRequest {
    password: String,
    history: crate::messages::HistoryRequest,
}

/// The join request, if the presence carries one; one that does not read (two passwords) asks
/// for nothing in particular.
fn join_request(el: &Element) -> Option<JoinRequest> {
    let x = el.get_child("x", ns::MUC)?;
    let join = Join::try_from(x.clone()).unwrap_or_default();
    let history = crate::messages::HistoryRequest::from(join.history.unwrap_or_default());
    Some(JoinRequest { password: join.password.unwrap_or_default(), history })
}

/// The client's presence as others see it: its own children but the join request (and any
/// occupant id it made up).
fn public_children(el: &Element) -> Vec<Element> {
    el.children()
        // The room's own say: its user element, occupant id and hats replace the client's.
        .filter(|c| !c.is("x", ns::MUC) && c.ns() != ns::MUC_USER && c.ns() != ns::OCCUPANT_ID && c.ns() != ns::HATS)
        .cloned()
        .collect()
}

/// The presence of `occ` for `viewer`, with the given status codes (and `item_extra`
/// attributes such as the new nick of a 303).
pub(crate) fn presence_of(
    room: &Room,
    occ: &Occupant,
    viewer: &Occupant,
    unavailable: bool,
    codes: &[&str],
    new_nick: Option<&str>,
) -> Element {
    let mut p = Element::bare("presence", ns::CLIENT);
    xml::set_attr(&mut p, "from", format!("{}/{}", room.jid, occ.nick));
    if unavailable {
        xml::set_attr(&mut p, "type", "unavailable");
    } else if let Some((_, last)) = occ.sessions.last() {
        for child in public_children(last) {
            p.append_child(child);
        }
    }
    let mut x = Element::bare("x", ns::MUC_USER);
    let mut item = Element::bare("item", ns::MUC_USER);
    xml::set_attr(&mut item, "affiliation", room.affiliation(&occ.bare).as_str());
    xml::set_attr(&mut item, "role", if unavailable && new_nick.is_none() { "none" } else { occ.role.as_str() });
    if (room.shows_jids_to(viewer) || viewer.bare == occ.bare)
        && let Some((jid, _)) = occ.sessions.last()
    {
        xml::set_attr(&mut item, "jid", jid.as_str());
    }
    if let Some(nick) = new_nick {
        xml::set_attr(&mut item, "nick", nick);
    }
    x.append_child(item);
    for code in codes {
        x.append_child(xml::with_attr(Element::bare("status", ns::MUC_USER), "code", *code));
    }
    p.append_child(x);
    p.append_child(crate::occupant_id(room, &occ.bare));
    if !unavailable && let Some(hats) = crate::hats::worn(room, &occ.bare) {
        p.append_child(hats);
    }
    p
}

/// Sends `build(viewer)` to every session of every occupant. Occupants who see the same
/// stanza (as most do) share one fan-out, written once for all of them.
pub(crate) fn to_everyone(out: &mut Outbox, room: &Room, build: impl Fn(&Occupant) -> Element) {
    // The few variants a stanza takes (the occupant's own, moderators', everyone else's)
    // are looked for among the latest groups only, so that stanzas differing for every
    // viewer cost no more than one comparison each.
    const VARIANTS: usize = 4;
    let mut groups: Vec<(Element, Vec<Jid>)> = Vec::new();
    for viewer in &room.occupants {
        let el = build(viewer);
        let sessions = viewer.sessions.iter().map(|(session, _)| Jid::from(session.clone()));
        let recent = groups.len().saturating_sub(VARIANTS);
        match groups[recent..].iter_mut().find(|(group, _)| *group == el) {
            Some((_, to)) => to.extend(sessions),
            None => groups.push((el, sessions.collect())),
        }
    }
    for (el, to) in groups {
        out.fan_out(el, to);
    }
}

/// Sends `el` to every session of every occupant.
pub(crate) fn to_all(out: &mut Outbox, room: &Room, el: Element) {
    let to = room.occupants.iter().flat_map(|o| &o.sessions).map(|(session, _)| Jid::from(session.clone()));
    out.fan_out(el, to.collect());
}

/// Sends `build(viewer)` about `occ` to everyone, or only to `occ` itself when its role's
/// presence is not broadcast in this room (`muc#roomconfig_presencebroadcast`).
pub(crate) fn presence_to_room(out: &mut Outbox, room: &Room, occ: &Occupant, build: impl Fn(&Occupant) -> Element) {
    if room.broadcasts(occ) {
        return to_everyone(out, room, build);
    }
    let el = build(occ);
    for (session, _) in &occ.sessions {
        out.push(xml::with_attr(el.clone(), "to", session.as_str()));
    }
}

/// The presence of every other occupant whose presence the room broadcasts, for `viewer`'s
/// client `to` (what a joining client gets before its own presence, §7.2.3).
fn send_occupants(out: &mut Outbox, room: &Room, viewer: &Occupant, to: &FullJid) {
    for occ in room.occupants.iter().filter(|o| o.nick != viewer.nick && room.broadcasts(o)) {
        let p = presence_of(room, occ, viewer, false, &[], None);
        out.push(xml::with_attr(p, "to", to.as_str()));
    }
}

/// Codes an occupant sees on its own presence when it enters, besides 110: 100 when
/// everyone may see real JIDs, 201 when its presence created the room.
fn own_codes(room: &Room, created: bool) -> Vec<&'static str> {
    let mut codes = Vec::new();
    if room.config.whois == Whois::Anyone {
        codes.push(NON_ANONYMOUS);
    }
    if created {
        codes.push(CREATED);
    }
    codes
}

/// Codes `viewer` sees on a presence of `occ`: 110 on its own, the others as given.
fn codes_for<'a>(occ: &Occupant, viewer: &Occupant, shared: &[&'a str]) -> Vec<&'a str> {
    let mut codes = shared.to_vec();
    if occ.nick == viewer.nick {
        codes.insert(0, SELF);
    }
    codes
}

impl Muc {
    pub(crate) async fn presence(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        nick: &str,
        el: Element,
    ) -> Result<(), StanzaError> {
        match el.attr("type") {
            None => self.available(ctx, out, from, room_jid, nick, el).await,
            Some("unavailable") => {
                let exit = public_children(&el);
                self.leave(ctx, out, from, room_jid, &exit).await
            }
            Some("error") => self.leave(ctx, out, from, room_jid, &[]).await,
            _ => Ok(()),
        }
    }

    async fn available(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        nick: &str,
        el: Element,
    ) -> Result<(), StanzaError> {
        if nick.trim().is_empty() {
            return Err(StanzaError::jid_malformed().with_text("a nickname is needed"));
        }
        let (room_ref, created) = match self.room(ctx, room_jid).await? {
            Some(r) => (r, false),
            None if ctx.router.is_local_host(from.domain().as_str()) => self.create(room_jid, &from.to_bare()),
            None => return Err(StanzaError::not_allowed().with_text("rooms are created by this server's users")),
        };
        let mut room = room_ref.lock().await;
        if let Some(current) = room.by_session(from).map(|o| o.nick.clone()) {
            if current == nick && join_request(&el).is_some() {
                return self.resync(ctx, out, &mut room, from, el).await;
            }
            if current == nick {
                return self.update(out, &mut room, from, el);
            }
            self.change_nick(out, &mut room, &current, nick)?;
        } else {
            let arrival = Arrival { from, nick, presence: el, created };
            self.join(ctx, out, &mut room, arrival).await?;
        }
        // Push registrations recognise mentions by the nickname in use.
        let id = room.occupant_id(&from.to_bare());
        self.push_rename(ctx, &mut room, &id, nick).await
    }

    async fn join(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        arrival: Arrival<'_>,
    ) -> Result<(), StanzaError> {
        let Arrival { from, nick, presence: el, created } = arrival;
        let bare = from.to_bare();
        let affiliation = room.affiliation(&bare);
        let request = join_request(&el);
        if room.locked && affiliation != Affiliation::Owner {
            return Err(StanzaError::item_not_found().with_text("the room is being set up"));
        }
        if affiliation == Affiliation::Outcast {
            return Err(StanzaError::forbidden().with_text("you are banned from this room"));
        }
        let password = request.as_ref().map(|r| r.password.as_str()).unwrap_or_default();
        // XEP-0488: a token of the room as the password makes a newcomer a member (and stands
        // for the room's password: whoever gave it could have given that too).
        let redeemed = self.redeem_token(ctx, room, &bare, password).await?;
        let affiliation = if redeemed { Affiliation::Member } else { affiliation };
        if room.config.members_only && affiliation < Affiliation::Member {
            return Err(StanzaError::registration_required().with_text("members only"));
        }
        if !room.config.password.is_empty()
            && password != room.config.password
            && affiliation < Affiliation::Admin
            && !redeemed
        {
            return Err(StanzaError::not_authorized().with_text("a password is required"));
        }
        if room.reserved_by(nick).is_some_and(|owner| *owner != bare) {
            return Err(StanzaError::conflict().with_text("that nickname is registered to someone else"));
        }
        let same_user = room.occupant(nick).map(|o| o.bare == bare);
        if same_user == Some(false) {
            return Err(StanzaError::conflict().with_text("that nickname is taken"));
        }
        let limit = match room.config.max_users {
            0 => self.config.get().max_occupants,
            n => n.min(self.config.get().max_occupants),
        };
        if same_user.is_none() && room.occupants.len() >= limit && affiliation < Affiliation::Admin {
            return Err(StanzaError::service_unavailable().with_text("the room is full"));
        }
        // Everyone already in, for the newcomer (before its own presence, §7.2.3).
        let newcomer_view = Occupant {
            nick: nick.to_owned(),
            id: room.occupant_id(&bare),
            bare: bare.clone(),
            role: room.default_role(affiliation),
            sessions: vec![(from.clone(), el.clone())],
        };
        send_occupants(out, room, &newcomer_view, from);
        match room.occupant_mut(nick) {
            Some(occ) => occ.sessions.push((from.clone(), el)),
            None => room.seat(newcomer_view),
        }
        let codes = own_codes(room, created);
        let Some(occ) = room.occupant(nick).cloned() else { return Ok(()) };
        presence_to_room(out, room, &occ, |viewer| {
            let own = viewer.nick == occ.nick;
            let shared: &[&str] = if own { &codes } else { &[] };
            presence_of(room, &occ, viewer, false, &codes_for(&occ, viewer, shared), None)
        });
        let history = request.map(|r| r.history).unwrap_or_default();
        self.send_history(ctx, out, room, from, &history).await?;
        self.send_subject(out, room, from);
        Ok(())
    }

    /// A join presence from a client already in the room asks for everything a join sends
    /// again: the occupants, its own presence, the history and the subject (XEP-0045 §7.2,
    /// §17.3 "bizrules-presence"). The others hear of it only if its presence changed.
    async fn resync(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        from: &FullJid,
        el: Element,
    ) -> Result<(), StanzaError> {
        let history = join_request(&el).map(|r| r.history).unwrap_or_default();
        let Some(nick) = room.by_session(from).map(|o| o.nick.clone()) else { return Ok(()) };
        let mut changed = false;
        if let Some(occ) = room.occupant_mut(&nick)
            && let Some(session) = occ.sessions.iter_mut().find(|(s, _)| s == from)
        {
            changed = public_children(&session.1) != public_children(&el);
            session.1 = el;
        }
        let Some(occ) = room.occupant(&nick).cloned() else { return Ok(()) };
        send_occupants(out, room, &occ, from);
        let codes = own_codes(room, false);
        if changed {
            presence_to_room(out, room, &occ, |viewer| {
                let shared: &[&str] = if viewer.nick == occ.nick { &codes } else { &[] };
                presence_of(room, &occ, viewer, false, &codes_for(&occ, viewer, shared), None)
            });
        } else {
            let own = presence_of(room, &occ, &occ, false, &codes_for(&occ, &occ, &codes), None);
            out.push(xml::with_attr(own, "to", from.as_str()));
        }
        self.send_history(ctx, out, room, from, &history).await?;
        self.send_subject(out, room, from);
        Ok(())
    }

    /// A joined client's new presence (show, status), for everyone.
    fn update(&self, out: &mut Outbox, room: &mut Room, from: &FullJid, el: Element) -> Result<(), StanzaError> {
        let Some(nick) = room.by_session(from).map(|o| o.nick.clone()) else { return Ok(()) };
        if let Some(occ) = room.occupant_mut(&nick)
            && let Some(session) = occ.sessions.iter_mut().find(|(s, _)| s == from)
        {
            session.1 = el;
        }
        let Some(occ) = room.occupant(&nick).cloned() else { return Ok(()) };
        presence_to_room(out, room, &occ, |viewer| {
            presence_of(room, &occ, viewer, false, &codes_for(&occ, viewer, &[]), None)
        });
        Ok(())
    }

    /// §7.6: unavailable with 303 and the new nick under the old one, then the new one.
    fn change_nick(&self, out: &mut Outbox, room: &mut Room, old: &str, new: &str) -> Result<(), StanzaError> {
        if room.occupant(new).is_some() {
            return Err(StanzaError::conflict().with_text("that nickname is taken"));
        }
        let Some(before) = room.occupant(old).cloned() else { return Ok(()) };
        presence_to_room(out, room, &before, |viewer| {
            let codes = codes_for(&before, viewer, &[NICK_CHANGED]);
            presence_of(room, &before, viewer, true, &codes, Some(new))
        });
        if let Some(occ) = room.occupant_mut(old) {
            occ.nick = new.to_owned();
        }
        let Some(after) = room.occupant(new).cloned() else { return Ok(()) };
        to_everyone(out, room, |viewer| {
            presence_of(room, &after, viewer, false, &codes_for(&after, viewer, &[]), None)
        });
        Ok(())
    }

    /// A client leaves (or its server reports it gone); the occupant goes with its last client.
    /// `exit` is what its unavailable presence carried for the room, such as a `<status/>`
    /// exit message (§7.14), passed on to everyone.
    async fn leave(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        exit: &[Element],
    ) -> Result<(), StanzaError> {
        let Some(room_ref) = self.room(ctx, room_jid).await? else { return Ok(()) };
        let mut room = room_ref.lock().await;
        let Some(nick) = room.by_session(from).map(|o| o.nick.clone()) else { return Ok(()) };
        let Some(occ) = room.occupant(&nick).cloned() else { return Ok(()) };
        let departure = |viewer: &Occupant, codes: &[&str]| {
            let mut p = presence_of(&room, &occ, viewer, true, codes, None);
            for child in exit {
                p.append_child(child.clone());
            }
            p
        };
        if occ.sessions.len() > 1 {
            // That client alone is told it is out.
            let p = departure(&occ, &[SELF]);
            out.push(xml::with_attr(p, "to", from.as_str()));
            if let Some(o) = room.occupant_mut(&nick) {
                o.sessions.retain(|(s, _)| s != from);
            }
            return Ok(());
        }
        presence_to_room(out, &room, &occ, |viewer| departure(viewer, &codes_for(&occ, viewer, &[])));
        room.unseat(&nick);
        if room.occupants.is_empty() && (!room.config.persistent || room.locked) {
            self.unload(room_jid);
        }
        Ok(())
    }

    /// Everyone leaves at once (room destroyed): unavailable with `<destroy/>`.
    pub(crate) fn evict_all(&self, out: &mut Outbox, room: &mut Room, destroy: DestroyNotice) {
        let destroy = Element::from(destroy);
        for occ in std::mem::take(&mut room.occupants) {
            let mut p = presence_of(room, &occ, &occ, true, &[], None);
            if let Some(x) = p.get_child_mut("x", ns::MUC_USER) {
                x.append_child(destroy.clone());
            }
            for (session, _) in &occ.sessions {
                out.push(xml::with_attr(p.clone(), "to", session.as_str()));
            }
        }
    }
}
