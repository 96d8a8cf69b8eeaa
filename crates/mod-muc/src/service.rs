//! The service: which room a stanza is for, rooms loaded on demand, and the replies.

use crate::MucConfig;
use crate::room::{Affiliation, Room, RoomConfig};
pub(crate) use rhein_module::Outbox;
use rhein_module::{Ctx, Current, Entities, Shared, Stanza, storage_failure};
use rhein_proto::xml::StanzaKind;
use rhein_proto::{BareJid, Element, FullJid, StanzaError};
use std::sync::Arc;

pub(crate) type RoomRef = Shared<Room>;

pub(crate) struct Muc {
    pub config: Current<MucConfig>,
    /// Rooms in memory: every occupied room, and persistent ones once looked at.
    rooms: Entities<Room>,
}

impl Muc {
    pub(crate) fn new(config: MucConfig) -> Self {
        Self { config: Current::new(config), rooms: Entities::default() }
    }

    /// Rooms in memory (occupied, or persistent and looked at since start).
    pub(crate) fn rooms_in_memory(&self) -> usize {
        self.rooms.len()
    }

    /// The service's domain for the host of `ctx`.
    pub(crate) fn domain(&self, ctx: &Ctx) -> String {
        format!("{}.{}", self.config.get().subdomain, ctx.host)
    }

    /// Everything addressed to the service, a room, or an occupant.
    pub(crate) async fn handle(self: Arc<Self>, ctx: Ctx, stanza: Stanza) {
        let Stanza { kind, from, to, el } = stanza;
        let mut out = Outbox::default();
        let from = match from.try_as_full() {
            Ok(full) => full.clone(),
            // An account answering a relayed vCard request (its server answers from the bare JID).
            Err(_) if kind == StanzaKind::Iq && to.resource().is_some() => {
                let _ = self.account_answer(&ctx, &mut out, &from.to_bare(), &to, el).await;
                return out.flush(&ctx).await;
            }
            // Otherwise only clients (full JIDs) take part.
            Err(_) => return bounce(&ctx, &el, StanzaError::bad_request().with_text("send from a full JID")).await,
        };
        let result = match (to.node(), to.resource(), kind) {
            (None, _, StanzaKind::Iq) => self.service_iq(&ctx, &mut out, &from, &el).await,
            (None, _, _) => Err(StanzaError::service_unavailable()),
            (Some(_), None, StanzaKind::Presence) => {
                Err(StanzaError::jid_malformed().with_text("join as room@service/nick"))
            }
            (Some(_), None, StanzaKind::Message) => {
                self.room_message(&ctx, &mut out, &from, &to.to_bare(), el.clone()).await
            }
            (Some(_), None, StanzaKind::Iq) => self.room_iq(&ctx, &mut out, &from, &to.to_bare(), &el).await,
            (Some(_), Some(nick), StanzaKind::Presence) => {
                self.presence(&ctx, &mut out, &from, &to.to_bare(), nick.as_str(), el.clone()).await
            }
            (Some(_), Some(nick), StanzaKind::Message) => {
                self.private_message(&ctx, &mut out, &from, &to.to_bare(), nick.as_str(), el.clone()).await
            }
            (Some(_), Some(nick), StanzaKind::Iq) => {
                self.occupant_iq(&ctx, &mut out, &from, &to.to_bare(), nick.as_str(), el.clone()).await
            }
        };
        // Every room lock is released by now.
        out.flush(&ctx).await;
        if let Err(e) = result {
            bounce(&ctx, &el, e).await;
        }
    }

    /// A room, from memory or storage; `None` if it does not exist.
    pub(crate) async fn room(&self, ctx: &Ctx, jid: &BareJid) -> Result<Option<RoomRef>, StanzaError> {
        if let Some(r) = self.rooms.get(jid) {
            return Ok(Some(r));
        }
        let Some(row) = ctx.db.muc().room(jid.as_str()).await.map_err(storage_failure)? else { return Ok(None) };
        // A configuration that does not read is not replaced by a default (public, open):
        // the room is not served until someone looks at it.
        let config = RoomConfig::from_json(&row.config).map_err(|e| {
            tracing::error!(room = %jid, error = %e, "stored room configuration does not parse; room not served");
            StanzaError::internal_server_error().with_text("the room's configuration is damaged")
        })?;
        let mut room = Room::new(jid.clone(), config);
        room.subject = row.subject;
        room.subject_by = row.subject_by;
        let vcard = ctx.db.account_data().get(jid.as_str(), "vcard", "").await.map_err(storage_failure)?;
        room.avatar = vcard.and_then(|v| v.parse::<Element>().ok()).and_then(|v| rhein_proto::vcard::photo_hash(&v));
        // An unreadable affiliation could be a ban: the room is not served (storage refuses an
        // unknown affiliation; a JID that no longer reads is refused here), rather than letting
        // someone in.
        for a in ctx.db.muc().affiliations(jid.as_str()).await.map_err(storage_failure)? {
            let Ok(who) = BareJid::new(&a.jid) else {
                tracing::error!(room = %jid, jid = %a.jid, "stored affiliation's JID does not parse; room not served");
                return Err(StanzaError::internal_server_error().with_text("the room's affiliations are damaged"));
            };
            if !a.nick.is_empty() {
                room.reserved.insert(who.clone(), a.nick);
            }
            room.affiliations.insert(who, a.affiliation.into());
        }
        // Another stanza may have loaded it meanwhile: keep the first.
        Ok(Some(self.rooms.get_or_insert(jid, || room).0))
    }

    /// Creates a room (locked, `owner` its owner), unless someone just did.
    pub(crate) fn create(&self, jid: &BareJid, owner: &BareJid) -> (RoomRef, bool) {
        self.rooms.get_or_insert(jid, || {
            let mut room = Room::new(jid.clone(), RoomConfig::default());
            room.locked = true;
            room.affiliations.insert(owner.clone(), Affiliation::Owner);
            room
        })
    }

    /// Forgets a room from memory (it stays in storage if persistent).
    pub(crate) fn unload(&self, jid: &BareJid) {
        self.rooms.remove(jid);
    }

    /// Rooms in memory (for the service's items; persistent ones are also read from storage).
    pub(crate) fn loaded(&self) -> Vec<RoomRef> {
        self.rooms.all()
    }

    /// Whether `who` administers the service's host and so owns every room
    /// (`admins_own_rooms`). Asked only where owning matters, never per message.
    pub(crate) async fn server_admin(&self, ctx: &Ctx, who: &FullJid) -> bool {
        self.config.get().admins_own_rooms && ctx.is_admin(&who.to_bare()).await
    }

    /// Stores a persistent room's configuration, subject and affiliations in one
    /// transaction; drops a room that stopped being persistent.
    pub(crate) async fn save(&self, ctx: &Ctx, room: &Room) -> Result<(), StanzaError> {
        let muc = ctx.db.muc();
        let jid = room.jid.as_str();
        if !room.config.persistent {
            muc.delete(jid).await.map_err(storage_failure)?;
            return Ok(());
        }
        let row = rhein_storage::RoomRow {
            jid: jid.to_owned(),
            config: room.config.to_json(),
            subject: room.subject.clone(),
            subject_by: room.subject_by.clone(),
        };
        let affiliations: Vec<_> = room
            .affiliations
            .iter()
            .filter_map(|(who, aff)| {
                Some(rhein_storage::AffiliationRow {
                    jid: who.to_string(),
                    affiliation: aff.stored()?,
                    nick: room.reserved.get(who).cloned().unwrap_or_default(),
                    reason: String::new(),
                })
            })
            .collect();
        muc.save_room(&row, &affiliations).await.map_err(storage_failure)
    }
}

/// Sends the error reply for `el`, unless it is an error or result itself.
pub(crate) async fn bounce(ctx: &Ctx, el: &Element, err: StanzaError) {
    if matches!(el.attr("type"), Some("error") | Some("result")) {
        return;
    }
    ctx.router.route(err.reply_to(el)).await;
}
