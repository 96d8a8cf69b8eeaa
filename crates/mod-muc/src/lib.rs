//! Multi-user chat (XEP-0045): a group chat service per host (`conference.<host>` by
//! default). Rooms are created by joining them, configured by their owners with the
//! standard form, kept in memory while occupied and in storage when persistent; their
//! messages go to the archive under the room's JID (history for newcomers, XEP-0359 ids),
//! where a retracted or moderated message leaves a tombstone (XEP-0424, XEP-0425).

mod admin;
mod administration;
mod disco;
mod hats;
mod invite;
mod messages;
mod notify;
mod occupants;
mod owner;
mod register;
mod relay;
mod retraction;
mod room;
mod service;
mod tokens;

pub use administration::{MucAdministration, RoomSummary};

use rhein_module::{Module, ModuleError, ModuleSpec, Reconfigure, Registry, settings};
use rhein_proto::ns;
use serde::Deserialize;
use std::sync::Arc;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "muc", build }];

/// `<occupant-id/>` (XEP-0421) for a user of a room.
pub(crate) fn occupant_id(room: &room::Room, who: &rhein_proto::BareJid) -> rhein_proto::Element {
    rhein_proto::xml::with_attr(rhein_proto::Element::bare("occupant-id", ns::OCCUPANT_ID), "id", room.occupant_id(who))
}

/// `[modules.muc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MucConfig {
    /// The service is `<subdomain>.<host>`.
    pub subdomain: String,
    /// Its name in service discovery.
    pub name: String,
    /// Messages a newcomer gets at most (and without asking).
    pub history: usize,
    /// Occupants a room holds at most (a room's own `maxusers` can only be lower).
    pub max_occupants: usize,
    /// Advertised in each room's info form (`muc#roominfo_webchat_url`), with `{room}` replaced
    /// by the room's JID, e.g. `https://chat.example.org/#/guest?join={room}`.
    pub webchat_url: Option<String>,
    /// In members-only rooms, members may invite too (by default only owners and admins).
    pub members_may_invite: bool,
    /// The host's administrators own every room of its service: they configure and destroy
    /// any, and see hidden ones in the room list.
    pub admins_own_rooms: bool,
}

impl Default for MucConfig {
    fn default() -> Self {
        Self {
            subdomain: "conference".into(),
            name: "Chatrooms".into(),
            history: 20,
            max_occupants: 1000,
            webchat_url: None,
            members_may_invite: false,
            admins_own_rooms: true,
        }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(service::Muc::new(settings::parse("muc", table)?)))
}

impl Module for service::Muc {
    fn name(&self) -> &'static str {
        "muc"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let subdomain = self.config.get().subdomain.clone();
        let muc = self.clone();
        reg.on_event(move |ctx, event| muc.clone().invited(ctx, event));
        reg.provide(Arc::new(MucAdministration(self.clone())));
        reg.service(&subdomain, move |ctx, el| self.clone().handle(ctx, el));
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("muc", &self.config, table, &[("subdomain", |a, b| a.subdomain != b.subdomain)])
    }
}
