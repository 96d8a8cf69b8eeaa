//! Service discovery of the service (its public rooms) and of rooms (XEP-0045 §6).

use crate::room::{Room, Whois};
use crate::service::{Muc, Outbox};
use rhein_module::{Ctx, storage_failure};
use rhein_proto::form::{field, form};
use rhein_proto::{BareJid, Element, StanzaError, ns, xml};

const ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";

/// A `conference/text` identity.
pub(crate) fn identity(name: &str) -> Element {
    let mut i = xml::with_attr(Element::bare("identity", ns::DISCO_INFO), "category", "conference");
    xml::set_attr(&mut i, "type", "text");
    xml::set_attr(&mut i, "name", name);
    i
}

fn feature(var: &str) -> Element {
    xml::with_attr(Element::bare("feature", ns::DISCO_INFO), "var", var)
}

impl Muc {
    /// disco#info and disco#items of the service itself.
    pub(crate) async fn service_iq(&self, ctx: &Ctx, out: &mut Outbox, el: &Element) -> Result<(), StanzaError> {
        if matches!(el.attr("type"), Some("result") | Some("error")) {
            return Ok(());
        }
        let payload = el.children().next().ok_or_else(StanzaError::bad_request)?;
        let answer = match (el.attr("type"), payload.ns().as_str(), payload.name()) {
            (Some("get"), ns::DISCO_INFO, "query") => {
                let mut q = Element::bare("query", ns::DISCO_INFO);
                q.append_child(identity(&self.config.name));
                for f in [ns::DISCO_INFO, ns::DISCO_ITEMS, ns::MUC] {
                    q.append_child(feature(f));
                }
                q
            }
            (Some("get"), ns::DISCO_ITEMS, "query") => self.public_rooms(ctx).await?,
            _ => return Err(StanzaError::service_unavailable()),
        };
        out.push(xml::iq_result(el, Some(answer)));
        Ok(())
    }

    /// Public rooms: persistent ones from storage, and the temporary ones in memory.
    async fn public_rooms(&self, ctx: &Ctx) -> Result<Element, StanzaError> {
        let mut rooms: Vec<(BareJid, String)> = Vec::new();
        for r in self.loaded() {
            let room = r.lock().await;
            if room.config.public && !room.locked {
                rooms.push((room.jid.clone(), room.config.name.clone()));
            }
        }
        for row in ctx.db.muc().rooms(&self.domain(ctx)).await.map_err(storage_failure)? {
            // A room whose configuration does not read is listed as nothing (fail closed).
            let Ok(config) = crate::room::RoomConfig::from_json(&row.config) else { continue };
            if let Ok(jid) = BareJid::new(&row.jid)
                && config.public
                && !rooms.iter().any(|(j, _)| *j == jid)
            {
                rooms.push((jid, config.name));
            }
        }
        rooms.sort();
        let mut q = Element::bare("query", ns::DISCO_ITEMS);
        for (jid, name) in rooms {
            let mut item = xml::with_attr(Element::bare("item", ns::DISCO_ITEMS), "jid", jid.as_str());
            if !name.is_empty() {
                xml::set_attr(&mut item, "name", name);
            }
            q.append_child(item);
        }
        Ok(q)
    }

    /// A room's disco#info: what kind of room it is, and the room info form.
    pub(crate) fn room_info(&self, room: &Room) -> Element {
        let c = &room.config;
        let mut q = Element::bare("query", ns::DISCO_INFO);
        let name = if c.name.is_empty() {
            room.jid.node().map(|n| n.as_str().to_owned()).unwrap_or_default()
        } else {
            c.name.clone()
        };
        q.append_child(identity(&name));
        let features = [
            ns::MUC,
            if c.public { "muc_public" } else { "muc_hidden" },
            if c.persistent { "muc_persistent" } else { "muc_temporary" },
            if c.members_only { "muc_membersonly" } else { "muc_open" },
            if c.moderated { "muc_moderated" } else { "muc_unmoderated" },
            if c.whois == Whois::Anyone { "muc_nonanonymous" } else { "muc_semianonymous" },
            if c.password.is_empty() { "muc_unsecured" } else { "muc_passwordprotected" },
            "http://jabber.org/protocol/muc#stable_id",
            ns::OCCUPANT_ID,
            ns::PING,
            ns::REGISTER,
            ns::MUC_PUSH,
            ns::MUC_MENTIONS,
            ns::VCARD,
        ];
        for f in features {
            q.append_child(feature(f));
        }
        if c.logging {
            q.append_child(feature(ns::MAM));
        }
        let mut info = form("result", ROOMINFO);
        info.append_child(field("muc#roominfo_description", "text-single", &[&c.description]));
        if !c.language.is_empty() {
            info.append_child(field("muc#roominfo_lang", "text-single", &[&c.language]));
        }
        info.append_child(field("muc#roominfo_subject", "text-single", &[&room.subject]));
        info.append_child(field("muc#roominfo_occupants", "text-single", &[&room.occupants.len().to_string()]));
        info.append_child(field(
            "muc#roomconfig_changesubject",
            "boolean",
            &[if c.change_subject { "1" } else { "0" }],
        ));
        if let Some(hash) = &room.avatar {
            info.append_child(field("muc#roominfo_avatarhash", "text-multi", &[hash]));
        }
        if let Some(url) = &self.config.webchat_url {
            let url = url.replace("{room}", room.jid.as_str());
            info.append_child(field("muc#roominfo_webchat_url", "text-single", &[&url]));
        }
        q.append_child(info);
        q
    }
}
