//! The rooms as the server's administration sees them (the admin socket): every room of a
//! host's service, hidden ones too, and the destruction of any. The listing is the one
//! disco#items filters; the destruction is the one an owner's `<destroy/>` runs.

use crate::service::{Muc, Outbox};
use rhein_module::Ctx;
use rhein_proto::muc::DestroyNotice;
use rhein_proto::{BareJid, StanzaError};
use std::sync::Arc;

/// A room in a listing.
#[derive(Debug, Clone)]
pub struct RoomSummary {
    pub jid: BareJid,
    pub name: String,
    /// Listed in the service's disco#items.
    pub public: bool,
    pub persistent: bool,
    /// Occupants now (none for a persistent room not in memory).
    pub occupants: usize,
}

/// The MUC service's part of the server's administration; the module provides it.
pub struct MucAdministration(pub(crate) Arc<Muc>);

impl MucAdministration {
    /// The service's domain on the host of `ctx`.
    pub fn domain(&self, ctx: &Ctx) -> String {
        self.0.domain(ctx)
    }

    /// Rooms in memory on every host: occupied ones, and persistent ones looked at since
    /// start (the metrics' figure; `rooms` lists them all from storage).
    pub fn rooms_in_memory(&self) -> usize {
        self.0.rooms_in_memory()
    }

    /// Every room of the host's service, by JID.
    pub async fn rooms(&self, ctx: &Ctx) -> Result<Vec<RoomSummary>, StanzaError> {
        self.0.rooms_of(ctx).await
    }

    /// Destroys a room of the host's service: its occupants are told (with `reason`) and it is
    /// removed from storage. `item-not-found` if there is no such room.
    pub async fn destroy(&self, ctx: &Ctx, room: &BareJid, reason: Option<String>) -> Result<(), StanzaError> {
        if room.domain().as_str() != self.domain(ctx) {
            return Err(StanzaError::item_not_found().with_text(format!("{room} is no room of {}", self.domain(ctx))));
        }
        let Some(shared) = self.0.room(ctx, room).await? else {
            return Err(StanzaError::item_not_found().with_text(format!("there is no room {room}")));
        };
        let mut out = Outbox::default();
        let result = {
            let mut room = shared.lock().await;
            self.0.destroy(ctx, &mut out, &mut room, DestroyNotice { jid: None, reason }).await
        };
        out.flush(ctx).await;
        tracing::info!(%room, "room destroyed by an administrator");
        result
    }
}
