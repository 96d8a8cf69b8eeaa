//! IQs to a room: its configuration and destruction by owners (XEP-0045 §10), and service
//! discovery of the room.

use crate::room::{Affiliation, Room};
use crate::service::{Muc, Outbox};
use rhein_module::archive::{self, PageLimits};
use rhein_module::{Ctx, storage_failure};
use rhein_proto::commands::Command;
use rhein_proto::muc::{AdminQuery, DestroyNotice, OwnerQuery, Revoke, TokenRequest};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType};
use rhein_proto::parsers::mam::Query;
use rhein_proto::retract::Moderate;
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns, vcard, xml};

impl Muc {
    pub(crate) async fn room_iq(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        room_jid: &BareJid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        if matches!(el.attr("type"), Some("result") | Some("error")) {
            return Ok(());
        }
        let payload = el.children().next().ok_or_else(StanzaError::bad_request)?;
        // Owners' requests: a server administrator may make them too (asked only for these).
        let owners_request =
            payload.is("query", ns::MUC_OWNER) || (payload.is("vCard", ns::VCARD) && el.attr("type") == Some("set"));
        let server_admin = owners_request && self.server_admin(ctx, from).await;
        let room_ref = self.room(ctx, room_jid).await?.ok_or_else(StanzaError::item_not_found)?;
        let mut room = room_ref.lock().await;
        let answer = match (el.attr("type"), payload.ns().as_str(), payload.name()) {
            (Some("get"), ns::DISCO_INFO, "query") if payload.attr("node") == Some(crate::register::ROOMUSER_NODE) => {
                Some(crate::register::reserved_nick_info(&room, from))
            }
            (Some("get"), ns::DISCO_INFO, "query") => Some(self.room_info(ctx, &room)),
            (Some("get"), ns::VCARD, "vCard") => Some(self.room_vcard(ctx, &room).await?),
            (Some("set"), ns::VCARD, "vCard") => {
                owner_only(&room, from, server_admin)?;
                self.set_room_vcard(ctx, out, &mut room, payload).await?;
                None
            }
            (Some("get"), ns::REGISTER, "query") => Some(self.register_get(&room, from)?),
            (Some("set"), ns::REGISTER, "query") => {
                self.register_set(ctx, &mut room, from, payload).await?;
                None
            }
            (Some("get"), ns::DISCO_ITEMS, "query") if payload.attr("node") == Some(ns::COMMANDS) => {
                let owner = self.owns(ctx, &room, from).await;
                let mut commands = self.room_commands(&room, from);
                commands.items.extend(crate::hats::commands(&room, from, owner));
                Some(commands.into())
            }
            (Some("get"), ns::DISCO_ITEMS, "query") => Some(Element::bare("query", ns::DISCO_ITEMS)),
            (Some("set"), ns::COMMANDS, "command") => {
                let command = rhein_module::payload::<Command>(payload.clone())?;
                match crate::hats::is_hats_command(&command.node) {
                    true => {
                        let owner = self.owns(ctx, &room, from).await;
                        Some(self.hats_command(ctx, out, &mut room, from, owner, command).await?.into())
                    }
                    false => Some(self.invite_command(ctx, &room, from, command).await?.into()),
                }
            }
            (Some("set"), ns::MUC_TOKEN_INVITE, "request") => {
                let request = rhein_module::payload::<TokenRequest>(payload.clone())?;
                Some(self.token_request(ctx, &room, from, request).await?.into())
            }
            (Some("get"), ns::MUC_TOKEN_INVITE, "tokens") => Some(self.token_list(ctx, &room, from).await?.into()),
            (Some("set"), ns::MUC_TOKEN_INVITE, "revoke") => {
                let revoke = rhein_module::payload::<Revoke>(payload.clone())?;
                self.token_revoke(ctx, &room, from, revoke).await?;
                None
            }
            (Some("get"), ns::MUC_OWNER, "query") => {
                owner_only(&room, from, server_admin)?;
                Some(config_form(&room))
            }
            (Some("set"), ns::MUC_OWNER, "query") => {
                owner_only(&room, from, server_admin)?;
                let query = rhein_module::payload::<OwnerQuery>(payload.clone())?;
                self.owner_set(ctx, out, &mut room, query).await?;
                None
            }
            (Some("set"), ns::MUC_PUSH, "enable") => {
                self.push_enable(ctx, &mut room, from, payload).await?;
                None
            }
            (Some("set"), ns::MUC_PUSH, "disable") => {
                self.push_disable(ctx, &mut room, payload).await?;
                None
            }
            (Some("set"), ns::MESSAGE_MODERATE, "moderate") => {
                let request = rhein_module::payload::<Moderate>(payload.clone())?;
                self.moderate(ctx, out, &room, from, request).await?;
                None
            }
            (Some("get"), ns::MAM, "query") => Some(archive::search_form()),
            (Some("set"), ns::MAM, "query") => {
                may_read_archive(&room, from)?;
                let query = rhein_module::payload::<Query>(payload.clone())?;
                let (results, fin) =
                    archive::query(ctx, room.jid.as_str(), from.as_str(), &query, PageLimits::default()).await?;
                for r in results {
                    out.push(r);
                }
                Some(fin)
            }
            (Some("get"), ns::MUC_ADMIN, "query") => {
                let query = rhein_module::payload::<AdminQuery>(payload.clone())?;
                Some(self.admin_get(&room, from, query)?.into())
            }
            (Some("set"), ns::MUC_ADMIN, "query") => {
                let query = rhein_module::payload::<AdminQuery>(payload.clone())?;
                self.admin_set(ctx, out, &mut room, from, query).await?;
                None
            }
            _ => return Err(StanzaError::service_unavailable()),
        };
        out.push(xml::iq_result(el, answer));
        Ok(())
    }

    /// A submitted configuration (which unlocks a new room), a cancelled one (which removes
    /// a room still locked), or `<destroy/>`.
    async fn owner_set(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        query: OwnerQuery,
    ) -> Result<(), StanzaError> {
        if let Some(destroy) = query.destroy {
            return self.destroy(ctx, out, room, destroy.into()).await;
        }
        let form = query.form.ok_or_else(|| StanzaError::bad_request().with_text("a form is needed"))?;
        match form.type_ {
            DataFormType::Cancel if room.locked => self.destroy(ctx, out, room, DestroyNotice::default()).await,
            DataFormType::Cancel => Ok(()),
            DataFormType::Submit => {
                let mut config = room.config.clone();
                config.apply(&form)?;
                self.apply_affiliation_lists(out, room, &form)?;
                let before = std::mem::replace(&mut room.config, config);
                // The configuration that unlocks a new room is announced too (to its owner).
                room.locked = false;
                self.announce_config_change(out, room, &before);
                self.save(ctx, room).await
            }
            _ => Err(StanzaError::bad_request().with_text("submit or cancel the form")),
        }
    }

    /// §10.2.1: occupants learn what changed (see `RoomConfig::change_codes`); a room
    /// turned members-only removes non-members (322).
    fn announce_config_change(&self, out: &mut Outbox, room: &mut Room, before: &crate::room::RoomConfig) {
        let now = &room.config;
        let codes = now.change_codes(before);
        if !codes.is_empty() {
            let mut x = Element::bare("x", ns::MUC_USER);
            for code in codes {
                x.append_child(xml::with_attr(Element::bare("status", ns::MUC_USER), "code", code));
            }
            let mut m = xml::with_attr(Element::bare("message", ns::CLIENT), "type", "groupchat");
            xml::set_attr(&mut m, "from", room.jid.as_str());
            m.append_child(x);
            xml::set_attr(&mut m, "id", xml::random_id());
            crate::occupants::to_all(out, room, m);
        }
        if now.members_only && !before.members_only {
            let outsiders: Vec<String> = room
                .occupants
                .iter()
                .filter(|o| room.affiliation(&o.bare) < Affiliation::Member)
                .map(|o| o.nick.clone())
                .collect();
            for nick in outsiders {
                self.remove_for_members_only(out, room, &nick);
            }
        }
    }

    pub(crate) async fn destroy(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        notice: DestroyNotice,
    ) -> Result<(), StanzaError> {
        self.evict_all(out, room, notice);
        ctx.db.muc().delete(room.jid.as_str()).await.map_err(storage_failure)?;
        self.unload(&room.jid);
        Ok(())
    }
}

/// XEP-0313 §5.1.2 on rooms: occupants, and anyone who could join.
fn may_read_archive(room: &Room, from: &FullJid) -> Result<(), StanzaError> {
    let affiliation = room.affiliation(&from.to_bare());
    let could_join =
        affiliation != Affiliation::Outcast && (!room.config.members_only || affiliation >= Affiliation::Member);
    if room.by_session(from).is_some() || (could_join && room.config.password.is_empty()) {
        return Ok(());
    }
    Err(StanzaError::forbidden().with_text("join the room to read its archive"))
}

impl Muc {
    async fn room_vcard(&self, ctx: &Ctx, room: &Room) -> Result<Element, StanzaError> {
        let stored = ctx.db.account_data().get(room.jid.as_str(), "vcard", "").await.map_err(storage_failure)?;
        Ok(stored.and_then(|s| s.parse().ok()).unwrap_or_else(|| Element::bare("vCard", ns::VCARD)))
    }

    /// XEP-0486: owners publish the room's avatar in its vCard (an empty vCard removes it);
    /// occupants learn the new hash from a presence of the room itself.
    async fn set_room_vcard(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        room: &mut Room,
        card: &Element,
    ) -> Result<(), StanzaError> {
        let data = [(String::new(), xml::to_string(card))];
        ctx.db.account_data().put_all(room.jid.as_str(), "vcard", &data).await.map_err(storage_failure)?;
        room.avatar = vcard::photo_hash(card);
        let mut update = Element::bare("x", ns::VCARD_UPDATE);
        update.append_child(xml::text_el("photo", ns::VCARD_UPDATE, room.avatar.clone().unwrap_or_default()));
        let mut p = xml::with_attr(Element::bare("presence", ns::CLIENT), "from", room.jid.as_str());
        p.append_child(update);
        crate::occupants::to_all(out, room, p);
        Ok(())
    }
}

/// §10.1.3: the configuration form, with the owner and admin lists it carries too. (Written
/// by hand, not as a `DataForm`, which would put a field's options before its values.)
fn config_form(room: &Room) -> Element {
    let mut query = Element::bare("query", ns::MUC_OWNER);
    query.append_child(with_affiliation_lists(room.config.to_form(), room));
    query
}

/// The owner and admin lists, which the configuration form carries too (§10.2).
fn with_affiliation_lists(mut form: Element, room: &Room) -> Element {
    for (var, wanted) in
        [("muc#roomconfig_roomowners", Affiliation::Owner), ("muc#roomconfig_roomadmins", Affiliation::Admin)]
    {
        let mut jids: Vec<&str> =
            room.affiliations.iter().filter(|(_, a)| **a == wanted).map(|(j, _)| j.as_str()).collect();
        jids.sort_unstable();
        form.append_child(rhein_proto::form::field(var, "jid-multi", &jids));
    }
    form
}

impl Muc {
    /// A submitted owner or admin list makes exactly those JIDs owners or admins (the room
    /// keeps at least one owner).
    fn apply_affiliation_lists(&self, out: &mut Outbox, room: &mut Room, form: &DataForm) -> Result<(), StanzaError> {
        for (var, wanted) in
            [("muc#roomconfig_roomowners", Affiliation::Owner), ("muc#roomconfig_roomadmins", Affiliation::Admin)]
        {
            let Some(field) = form.fields.iter().find(|f| f.var.as_deref() == Some(var)) else { continue };
            let listed = field
                .values
                .iter()
                .filter(|v| !v.trim().is_empty())
                .map(|v| rhein_proto::Jid::new(v.trim()).map(|j| j.to_bare()).map_err(|_| StanzaError::jid_malformed()))
                .collect::<Result<Vec<BareJid>, _>>()?;
            if wanted == Affiliation::Owner && listed.is_empty() {
                return Err(StanzaError::not_acceptable().with_text("a room keeps at least one owner"));
            }
            let current: Vec<BareJid> = room.with_affiliation(wanted).into_iter().cloned().collect();
            for jid in current.iter().filter(|j| !listed.contains(j)) {
                self.apply_affiliation(out, room, jid, Affiliation::None, "", "");
            }
            for jid in listed.iter().filter(|j| !current.contains(j)) {
                self.apply_affiliation(out, room, jid, wanted, "", "");
            }
        }
        Ok(())
    }
}

/// Owners only, and the host's administrators where they own every room.
impl Muc {
    /// Whether `from` owns the room: by affiliation, or as an administrator of the host
    /// (`admins_own_rooms`).
    async fn owns(&self, ctx: &Ctx, room: &Room, from: &FullJid) -> bool {
        room.affiliation(&from.to_bare()) == Affiliation::Owner || self.server_admin(ctx, from).await
    }
}

fn owner_only(room: &Room, from: &FullJid, server_admin: bool) -> Result<(), StanzaError> {
    match room.affiliation(&from.to_bare()) {
        Affiliation::Owner => Ok(()),
        _ if server_admin => Ok(()),
        _ => Err(StanzaError::forbidden().with_text("only owners configure the room")),
    }
}
