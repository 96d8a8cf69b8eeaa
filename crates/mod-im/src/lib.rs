//! Instant messaging and presence (RFC 6121): the roster (with XEP-0237 versioning), the
//! subscription state machine (with pre-approval and pending requests kept for offline
//! users), presence broadcast and probes, XEP-0160 offline messages with XEP-0203 delay, and
//! the MIX participant's server (XEP-0405).

mod directed;
mod invited;
mod moved;
mod offline;
mod pam;
mod presence;
mod roster;
mod subscription;

use rhein_module::{Current, Module, ModuleError, ModuleSpec, Reconfigure, Registry, Stage, Targets, settings};
use rhein_proto::{Element, ns};
use serde::Deserialize;
use std::sync::Arc;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "im", build }];

/// `[modules.im]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ImConfig {
    /// Messages kept per offline account; beyond it senders get `service-unavailable`.
    pub offline_limit: i64,
    /// Carry roster entries over when a contact announces a verified move (XEP-0283).
    pub accept_moves: bool,
    /// Items one roster holds at most: a roster set, subscription or channel join that
    /// would add one more is refused with `not-allowed`.
    pub max_roster_items: usize,
}

impl Default for ImConfig {
    fn default() -> Self {
        Self { offline_limit: 1000, accept_moves: true, max_roster_items: 1000 }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(Im { config: Current::new(settings::parse("im", table)?) }))
}

/// The IM module.
pub struct Im {
    config: Current<ImConfig>,
}

impl Im {
    /// The roster limit in effect (handlers take it per request: a reload may change it).
    fn roster_limit(&self) -> impl Fn() -> roster::RosterLimit + Clone + Send + Sync + 'static {
        let config = self.config.clone();
        move || roster::RosterLimit(config.get().max_roster_items)
    }
}

impl Module for Im {
    fn name(&self) -> &'static str {
        "im"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.stream_feature(Element::bare("ver", ns::ROSTER_VER));
        reg.stream_feature(Element::bare("sub", ns::PRE_APPROVAL));
        reg.feature(ns::OFFLINE);
        reg.get(Targets::Account, roster::handle_roster_get)?;
        let limit = self.roster_limit();
        let l = limit.clone();
        reg.set(Targets::Account, move |ctx, iq| roster::handle_roster_set(ctx, iq, l()))?;
        let directed = Arc::new(directed::Directed::default());
        let (d, l) = (directed.clone(), limit.clone());
        reg.stage(Stage::OutboundPresence, 0, move |ctx, el| {
            presence::handle_outbound_presence(ctx, el, d.clone(), l())
        });
        let l = limit.clone();
        reg.stage_when(
            Stage::InboundPresence,
            0,
            |_, s| presence::inbound_concerns(&s.el),
            move |ctx, el| presence::handle_inbound_presence(ctx, el, l()),
        );
        let (config, l) = (self.config.clone(), limit.clone());
        reg.stage_when(
            Stage::InboundPresence,
            5,
            move |_, s| config.get().accept_moves && moved::announced(&s.el),
            move |ctx, el| moved::handle_inbound(ctx, el, l()),
        );
        // MIX participant's server (XEP-0405): above moves (5) and the archive (10), below
        // blocking (100).
        reg.account_feature(ns::MIX_PAM);
        reg.account_feature(pam::NS_ARCHIVE);
        let l = limit.clone();
        reg.set(Targets::Account, move |ctx, iq| pam::handle_client_join(ctx, iq, l()))?;
        reg.set(Targets::Account, pam::handle_client_leave)?;
        reg.stage_when(
            Stage::InboundMessage,
            50,
            |_, s| s.to.resource().is_none() && pam::looks_like_channel_traffic(&s.el),
            pam::handle_inbound_message,
        );
        reg.stage_when(
            Stage::InboundPresence,
            20,
            |_, s| s.to.resource().is_none() && pam::may_be_from_channel(&s.from),
            pam::handle_inbound_presence,
        );
        let config = self.config.clone();
        reg.stage(Stage::Undeliverable, 0, move |ctx, el| {
            offline::handle_store_offline(ctx, el, config.get().offline_limit)
        });
        reg.on_event(move |ctx, ev| presence::handle_session_event(ctx, ev, directed.clone()));
        reg.on_event(move |ctx, ev| invited::handle_event(ctx, ev, limit()));
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("im", &self.config, table, &[])
    }
}

pub(crate) use rhein_module::storage_failure as internal;
