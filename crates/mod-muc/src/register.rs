//! Registering with a room (XEP-0045 §7.10): a reserved nickname and membership, and
//! discovering one's reserved nickname (§7.12).

use crate::room::{Affiliation, Room};
use crate::service::Muc;
use rhein_module::Ctx;
use rhein_proto::form::{field, form, submitted};
use rhein_proto::parsers::disco::DiscoInfoResult;
use rhein_proto::{Element, FullJid, StanzaError, ns, xml};

const MUC_REGISTER: &str = "http://jabber.org/protocol/muc#register";
/// The disco#info node that answers with one's reserved nickname.
pub(crate) const ROOMUSER_NODE: &str = "x-roomuser-item";

impl Muc {
    /// The registration form, or `<registered/>` with the nickname.
    pub(crate) fn register_get(&self, room: &Room, from: &FullJid) -> Result<Element, StanzaError> {
        let bare = from.to_bare();
        if room.affiliation(&bare) == Affiliation::Outcast {
            return Err(StanzaError::forbidden());
        }
        let mut q = Element::bare("query", ns::REGISTER);
        if let Some(nick) = room.reserved.get(&bare) {
            q.append_child(Element::bare("registered", ns::REGISTER));
            q.append_child(xml::text_el("username", ns::REGISTER, nick.clone()));
            return Ok(q);
        }
        q.append_child(xml::text_el("instructions", ns::REGISTER, "Choose the nickname to reserve in this room."));
        let mut x = form("form", MUC_REGISTER);
        let mut nick = field("muc#register_roomnick", "text-single", &[]);
        nick.append_child(Element::bare("required", ns::DATA));
        x.append_child(nick);
        q.append_child(x);
        Ok(q)
    }

    /// Reserves a nickname (making the user a member), or `<remove/>` gives it up.
    pub(crate) async fn register_set(
        &self,
        ctx: &Ctx,
        room: &mut Room,
        from: &FullJid,
        query: &Element,
    ) -> Result<(), StanzaError> {
        let bare = from.to_bare();
        let affiliation = room.affiliation(&bare);
        if affiliation == Affiliation::Outcast {
            return Err(StanzaError::forbidden());
        }
        if query.get_child("remove", ns::REGISTER).is_some() {
            room.reserved.remove(&bare);
            if affiliation == Affiliation::Member {
                room.affiliations.remove(&bare);
            }
        } else {
            let x = query
                .get_child("x", ns::DATA)
                .ok_or_else(|| StanzaError::bad_request().with_text("submit the form"))?;
            let nick = submitted(x)
                .find(|(var, _)| *var == "muc#register_roomnick")
                .and_then(|(_, v)| v.into_iter().next())
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| StanzaError::not_acceptable().with_text("a nickname is required"))?;
            let taken_by_other = room.reserved_by(&nick).is_some_and(|owner| *owner != bare)
                || room.occupant(&nick).is_some_and(|o| o.bare != bare);
            if taken_by_other {
                return Err(StanzaError::conflict().with_text("that nickname is taken"));
            }
            room.reserved.insert(bare.clone(), nick);
            if affiliation < Affiliation::Member {
                room.affiliations.insert(bare, Affiliation::Member);
            }
        }
        if room.config.persistent {
            self.save(ctx, room).await?;
        }
        Ok(())
    }
}

/// §7.12: the identity named after the asker's reserved nickname (none if it has none).
pub(crate) fn reserved_nick_info(room: &Room, from: &FullJid) -> Element {
    let identities = room.reserved.get(&from.to_bare()).map(|nick| crate::disco::identity(nick)).into_iter().collect();
    let node = Some(ROOMUSER_NODE.to_owned());
    DiscoInfoResult { node, identities, features: Default::default(), extensions: Vec::new() }.into()
}
