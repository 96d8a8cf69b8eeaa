//! Service discovery of the service (its public rooms) and of rooms (XEP-0045 §6).

use crate::RoomSummary;
use crate::room::{Room, Whois};
use crate::service::{Muc, Outbox};
use rhein_module::{Ctx, storage_failure};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use rhein_proto::parsers::disco::{self, DiscoInfoResult, DiscoItemsResult, Identity};
use rhein_proto::{BareJid, Element, FullJid, StanzaError, ns, xml};

const ROOMINFO: &str = "http://jabber.org/protocol/muc#roominfo";

/// disco#info of the service or a room: a `conference/text` identity, `features` and the
/// extension forms.
fn disco_info(name: &str, features: &[&str], extensions: Vec<DataForm>) -> Element {
    let features = features.iter().map(|f| f.to_string()).collect();
    DiscoInfoResult { node: None, identities: vec![identity(name)], features, extensions }.into()
}

/// A `conference/text` identity named `name`.
pub(crate) fn identity(name: &str) -> Identity {
    Identity { category: "conference".into(), type_: "text".into(), lang: None, name: Some(name.to_owned()) }
}

impl Muc {
    /// disco#info and disco#items of the service itself.
    pub(crate) async fn service_iq(
        &self,
        ctx: &Ctx,
        out: &mut Outbox,
        from: &FullJid,
        el: &Element,
    ) -> Result<(), StanzaError> {
        if matches!(el.attr("type"), Some("result") | Some("error")) {
            return Ok(());
        }
        let payload = el.children().next().ok_or_else(StanzaError::bad_request)?;
        let answer = match (el.attr("type"), payload.ns().as_str(), payload.name()) {
            (Some("get"), ns::DISCO_INFO, "query") => {
                disco_info(&self.config.get().name, &[ns::DISCO_INFO, ns::DISCO_ITEMS, ns::MUC], Vec::new())
            }
            (Some("get"), ns::DISCO_ITEMS, "query") => {
                let hidden_too = self.server_admin(ctx, from).await;
                self.listed_rooms(ctx, hidden_too).await?
            }
            _ => return Err(StanzaError::service_unavailable()),
        };
        out.push(xml::iq_result(el, Some(answer)));
        Ok(())
    }

    /// Public rooms (every room, `hidden_too`).
    async fn listed_rooms(&self, ctx: &Ctx, hidden_too: bool) -> Result<Element, StanzaError> {
        let items = self
            .rooms_of(ctx)
            .await?
            .into_iter()
            .filter(|room| room.public || hidden_too)
            .map(|room| disco::Item {
                jid: room.jid.into(),
                node: None,
                name: Some(room.name).filter(|n| !n.is_empty()),
            })
            .collect();
        Ok(DiscoItemsResult { node: None, items, rsm: None }.into())
    }

    /// Every room of the service, by JID: the ones in memory (unless still locked by their
    /// creator), and the persistent ones in storage.
    pub(crate) async fn rooms_of(&self, ctx: &Ctx) -> Result<Vec<RoomSummary>, StanzaError> {
        let mut rooms: Vec<RoomSummary> = Vec::new();
        for r in self.loaded() {
            let room = r.lock().await;
            if !room.locked {
                rooms.push(RoomSummary {
                    jid: room.jid.clone(),
                    name: room.config.name.clone(),
                    public: room.config.public,
                    persistent: room.config.persistent,
                    occupants: room.occupants.len(),
                });
            }
        }
        for row in ctx.db.muc().rooms(&self.domain(ctx)).await.map_err(storage_failure)? {
            // A room whose configuration does not read is listed as nothing (fail closed).
            let Ok(config) = crate::room::RoomConfig::from_json(&row.config) else { continue };
            if let Ok(jid) = BareJid::new(&row.jid)
                && !rooms.iter().any(|r| r.jid == jid)
            {
                rooms.push(RoomSummary {
                    jid,
                    name: config.name,
                    public: config.public,
                    persistent: true,
                    occupants: 0,
                });
            }
        }
        rooms.sort_by(|a, b| a.jid.cmp(&b.jid));
        Ok(rooms)
    }

    /// A room's disco#info: what kind of room it is, and the room info form.
    pub(crate) fn room_info(&self, ctx: &Ctx, room: &Room) -> Element {
        let c = &room.config;
        let name = if c.name.is_empty() {
            room.jid.node().map(|n| n.as_str().to_owned()).unwrap_or_default()
        } else {
            c.name.clone()
        };
        let mut features = vec![
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
            ns::COMMANDS,
            ns::MUC_TOKEN_INVITE,
            ns::MESSAGE_RETRACT,
            ns::MESSAGE_MODERATE,
            ns::HATS,
        ];
        if c.logging {
            features.push(ns::MAM);
            features.push(ns::MESSAGE_RETRACT_TOMBSTONE);
        }
        let mut fields = vec![Field::text_single("muc#roominfo_description", &c.description)];
        if !c.language.is_empty() {
            fields.push(Field::text_single("muc#roominfo_lang", &c.language));
        }
        fields.push(Field::text_single("muc#roominfo_subject", &room.subject));
        fields.push(Field::text_single("muc#roominfo_occupants", &room.occupants.len().to_string()));
        let change_subject = if c.change_subject { "1" } else { "0" };
        fields.push(Field::new("muc#roomconfig_changesubject", FieldType::Boolean).with_value(change_subject));
        if let Some(hash) = &room.avatar {
            fields.push(Field::new("muc#roominfo_avatarhash", FieldType::TextMulti).with_value(hash));
        }
        // The configured webchat, else the server's own (which joins the room of `?room=`).
        let webchat = match &self.config.get().webchat_url {
            Some(url) => Some(url.replace("{room}", room.jid.as_str())),
            None => ctx.server.webchat_url().map(|url| format!("{url}?room={}", room.jid)),
        };
        if let Some(url) = webchat {
            fields.push(Field::text_single("muc#roominfo_webchat_url", &url));
        }
        disco_info(&name, &features, vec![DataForm::new(DataFormType::Result_, ROOMINFO, fields)])
    }
}
