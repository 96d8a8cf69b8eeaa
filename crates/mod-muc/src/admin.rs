//! Moderation and affiliations (XEP-0045 §8, §9, §10.3–10.8): `muc#admin` items that change a
//! role by nickname (kick, voice, moderator) or an affiliation by JID (ban, member, admin,
//! owner), and the lists of each.

use crate::occupants::{SELF, presence_of, presence_to_room, to_everyone};
use crate::room::{Affiliation, Occupant, Role, Room};
use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_proto::muc::{AdminItem, AdminQuery};
use rhein_proto::{BareJid, Element, FullJid, Jid, StanzaError, ns, xml};

/// Status codes of §15.6 for removals.
const BANNED: &str = "301";
const KICKED: &str = "307";
const AFFILIATION_CHANGED: &str = "321";
const MEMBERS_ONLY: &str = "322";

fn not_allowed(text: &str) -> StanzaError {
    StanzaError::not_allowed().with_text(text.to_owned())
}

impl Muc {
    /// `get`: the occupants with a role, or the JIDs with an affiliation.
    pub(crate) fn admin_get(&self, room: &Room, from: &FullJid, query: AdminQuery) -> Result<AdminQuery, StanzaError> {
        let item = query.items.into_iter().next().ok_or_else(StanzaError::bad_request)?;
        if let Some(role) = item.role {
            return occupants_with_role(room, from, role.into());
        }
        let wanted = item.affiliation.ok_or_else(StanzaError::bad_request)?.into();
        may_see_list(room, from, wanted)?;
        let items = room
            .with_affiliation(wanted)
            .into_iter()
            .map(|jid| list_item(room, jid, room.occupants.iter().find(|o| o.bare == *jid)))
            .collect();
        Ok(AdminQuery { items })
    }

    /// `set`: every item is checked before any is applied (all or nothing, §10.5).
    pub(crate) async fn admin_set(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        from: &FullJid,
        query: AdminQuery,
    ) -> Result<(), StanzaError> {
        let actor = Actor::of(room, from);
        let changes = query.items.into_iter().map(|item| actor.change(room, item)).collect::<Result<Vec<_>, _>>()?;
        let owners_left = room.affiliations.values().filter(|a| **a == Affiliation::Owner).count();
        let owners_removed = changes
            .iter()
            .filter(|c| matches!(c, Change::Affiliation { jid, affiliation, .. } if *affiliation != Affiliation::Owner && room.affiliation(jid) == Affiliation::Owner))
            .count();
        if owners_removed > 0 && owners_removed >= owners_left {
            return Err(StanzaError::conflict().with_text("a room keeps at least one owner"));
        }
        let actor = actor.nick.unwrap_or_default();
        for change in changes {
            match change {
                Change::Role { nick, role, reason } => self.apply_role(out, room, &nick, role, &reason, &actor),
                Change::Affiliation { jid, affiliation, reason } => {
                    self.apply_affiliation(out, room, &jid, affiliation, &reason, &actor)
                }
            }
        }
        if room.config.persistent {
            self.save(ctx, room).await?;
        }
        Ok(())
    }

    fn apply_role(&self, out: &mut Outbox, room: &mut Room, nick: &str, role: Role, reason: &str, actor: &str) {
        if role == Role::None {
            return self.remove_occupant(out, room, nick, KICKED, reason, actor);
        }
        if let Some(occ) = room.occupant_mut(nick) {
            occ.role = role;
        }
        self.announce(out, room, nick, reason, actor);
    }

    pub(crate) fn apply_affiliation(
        &self,
        out: &mut Outbox,
        room: &mut Room,
        jid: &BareJid,
        affiliation: Affiliation,
        reason: &str,
        actor: &str,
    ) {
        match affiliation {
            Affiliation::None => room.affiliations.remove(jid),
            a => room.affiliations.insert(jid.clone(), a),
        };
        let present: Vec<String> = room.occupants.iter().filter(|o| o.bare == *jid).map(|o| o.nick.clone()).collect();
        for nick in present {
            if affiliation == Affiliation::Outcast {
                self.remove_occupant(out, room, &nick, BANNED, reason, actor);
            } else if room.config.members_only && affiliation < Affiliation::Member {
                self.remove_occupant(out, room, &nick, AFFILIATION_CHANGED, reason, actor);
            } else {
                let role = room.default_role(affiliation);
                if let Some(occ) = room.occupant_mut(&nick) {
                    occ.role = role;
                }
                self.announce(out, room, &nick, reason, actor);
            }
        }
    }

    /// §10.2.1: a room turned members-only sends its non-members out (322).
    pub(crate) fn remove_for_members_only(&self, out: &mut Outbox, room: &mut Room, nick: &str) {
        self.remove_occupant(out, room, nick, MEMBERS_ONLY, "", "");
    }

    /// Everyone sees an occupant's new role or affiliation.
    fn announce(&self, out: &mut Outbox, room: &Room, nick: &str, reason: &str, actor: &str) {
        let Some(occ) = room.occupant(nick).cloned() else { return };
        presence_to_room(out, room, &occ, |viewer| {
            let codes: &[&str] = if viewer.nick == occ.nick { &[SELF] } else { &[] };
            with_reason(presence_of(room, &occ, viewer, false, codes, None), reason, actor)
        });
    }

    /// Kicks or bans: everyone (the removed occupant included) sees it leave with `code`.
    fn remove_occupant(&self, out: &mut Outbox, room: &mut Room, nick: &str, code: &str, reason: &str, actor: &str) {
        let Some(mut occ) = room.occupant(nick).cloned() else { return };
        occ.role = Role::None;
        // A removal is seen by everyone, whatever the role's presence broadcast.
        to_everyone(out, room, |viewer| {
            let codes: Vec<&str> = if viewer.nick == occ.nick { vec![SELF, code] } else { vec![code] };
            with_reason(presence_of(room, &occ, viewer, true, &codes, None), reason, actor)
        });
        room.unseat(nick);
    }
}

enum Change {
    Role { nick: String, role: Role, reason: String },
    Affiliation { jid: BareJid, affiliation: Affiliation, reason: String },
}

/// Who asks for a change: their standing decides what they may change.
struct Actor {
    role: Role,
    affiliation: Affiliation,
    nick: Option<String>,
}

impl Actor {
    fn of(room: &Room, from: &FullJid) -> Self {
        let occupant = room.by_session(from);
        Self {
            role: occupant.map(|o| o.role).unwrap_or(Role::None),
            affiliation: room.affiliation(&from.to_bare()),
            nick: occupant.map(|o| o.nick.clone()),
        }
    }

    /// What one item asks for, if this actor may ask it: a role names a nick, an affiliation
    /// a JID.
    fn change(&self, room: &Room, item: AdminItem) -> Result<Change, StanzaError> {
        let reason = item.reason.unwrap_or_default();
        match (item.role, item.affiliation) {
            (Some(role), _) => {
                let role = role.into();
                let nick =
                    item.nick.ok_or_else(|| StanzaError::bad_request().with_text("a role change names a nick"))?;
                let target =
                    room.occupant(&nick).ok_or_else(|| StanzaError::item_not_found().with_text("no such occupant"))?;
                check_role_change(room, self.role, self.affiliation, target, role)?;
                Ok(Change::Role { nick, role, reason })
            }
            (None, Some(affiliation)) => {
                let affiliation = affiliation.into();
                let jid = item
                    .jid
                    .ok_or_else(|| StanzaError::bad_request().with_text("an affiliation change names a JID"))?
                    .to_bare();
                check_affiliation_change(room, self.affiliation, &jid, affiliation)?;
                Ok(Change::Affiliation { jid, affiliation, reason })
            }
            (None, None) => Err(StanzaError::bad_request().with_text("an item changes a role or an affiliation")),
        }
    }
}

/// §8.5: the occupants with a role, a list for moderators.
fn occupants_with_role(room: &Room, from: &FullJid, role: Role) -> Result<AdminQuery, StanzaError> {
    if Actor::of(room, from).role != Role::Moderator {
        return Err(StanzaError::forbidden().with_text("moderators only"));
    }
    let items = room.occupants.iter().filter(|o| o.role == role).map(|o| list_item(room, &o.bare, Some(o))).collect();
    Ok(AdminQuery { items })
}

/// Admin and owner lists go to admins; the member list also to the roles the room allows
/// (muc#roomconfig_getmemberlist); the outcast list to moderators.
fn may_see_list(room: &Room, from: &FullJid, list: Affiliation) -> Result<(), StanzaError> {
    let actor = Actor::of(room, from);
    let admin = actor.affiliation >= Affiliation::Admin;
    let may = match list {
        Affiliation::Owner | Affiliation::Admin => admin,
        Affiliation::Member => admin || room.config.get_member_list.contains(&actor.role),
        _ => admin || actor.role == Role::Moderator,
    };
    if !may {
        return Err(StanzaError::forbidden().with_text("not allowed to see that list"));
    }
    Ok(())
}

/// A JID in a list, with its role and nick if it is in the room.
fn list_item(room: &Room, jid: &BareJid, present: Option<&Occupant>) -> AdminItem {
    AdminItem {
        affiliation: Some(room.affiliation(jid).into()),
        jid: Some(Jid::from(jid.clone())),
        nick: present.map(|o| o.nick.clone()),
        role: present.map(|o| o.role.into()),
        ..AdminItem::default()
    }
}

/// §8.2–§8.5, §9.6: moderators kick and (de)voice those below admins; only admins and owners
/// grant or revoke the moderator role.
fn check_role_change(
    room: &Room,
    actor_role: Role,
    actor_affiliation: Affiliation,
    target: &Occupant,
    role: Role,
) -> Result<(), StanzaError> {
    if actor_role != Role::Moderator {
        return Err(StanzaError::forbidden().with_text("moderators only"));
    }
    let target_affiliation = room.affiliation(&target.bare);
    if target_affiliation >= Affiliation::Admin && target_affiliation >= actor_affiliation {
        return Err(not_allowed("that occupant outranks you"));
    }
    let touches_moderator = role == Role::Moderator || target.role == Role::Moderator;
    if touches_moderator && actor_affiliation < Affiliation::Admin {
        return Err(not_allowed("only admins and owners grant or revoke moderation"));
    }
    Ok(())
}

/// §9, §10: admins manage members and outcasts below them; owners manage everything.
fn check_affiliation_change(
    room: &Room,
    actor: Affiliation,
    target: &BareJid,
    affiliation: Affiliation,
) -> Result<(), StanzaError> {
    if actor < Affiliation::Admin {
        return Err(StanzaError::forbidden().with_text("admins and owners only"));
    }
    let current = room.affiliation(target);
    let needs_owner = affiliation >= Affiliation::Admin || current >= Affiliation::Admin;
    if needs_owner && actor != Affiliation::Owner {
        return Err(not_allowed("only owners change admins and owners"));
    }
    Ok(())
}

/// Adds the moderator's reason and nick to the item of a removal or change.
fn with_reason(mut p: Element, reason: &str, actor: &str) -> Element {
    if let Some(item) = p.get_child_mut("x", ns::MUC_USER).and_then(|x| x.get_child_mut("item", ns::MUC_USER)) {
        if !actor.is_empty() {
            item.append_child(xml::with_attr(Element::bare("actor", ns::MUC_USER), "nick", actor));
        }
        if !reason.is_empty() {
            item.append_child(xml::text_el("reason", ns::MUC_USER, reason));
        }
    }
    p
}
