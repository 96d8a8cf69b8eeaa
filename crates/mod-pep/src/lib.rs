//! Personal Eventing (XEP-0163) on the XEP-0060 subset it needs: every account is a pubsub
//! service whose nodes are created on first publish. Notifications reach the owner's
//! resources and the contacts allowed by the node's access model, filtered by their `+notify`
//! capabilities; retractions, purges and deletions are notified too (by default), so that a
//! client can keep a list in sync item by item. Also: XEP-0411 (private-XML bookmarks served
//! from XEP-0402's node) and the defaults of the nodes clients rely on.

mod access;
mod avatar;
mod bookmarks;
mod config;
mod discovery;
mod displayed;
mod handlers;
mod remote;
mod service;

use rhein_module::{Module, ModuleError, ModuleSpec, Reconfigure, Registry, Stage, Targets, settings};
use rhein_proto::ns;
use serde::Deserialize;
use std::sync::Arc;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "pep", build }];

/// `[modules.pep]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PepConfig {
    /// The most items one node keeps; `max_items = "max"` means this.
    pub max_items: u32,
    /// The most nodes one account may have.
    pub max_nodes: usize,
}

impl Default for PepConfig {
    fn default() -> Self {
        Self { max_items: 10_000, max_nodes: 1_000 }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(service::Pep::new(settings::parse("pep", table)?)))
}

/// What accounts announce (XEP-0163 §6 and the XEP-0060 features PEP clients look for).
const FEATURES: &[&str] = &[
    ns::PUBSUB,
    "http://jabber.org/protocol/pubsub#access-open",
    "http://jabber.org/protocol/pubsub#access-presence",
    "http://jabber.org/protocol/pubsub#access-roster",
    "http://jabber.org/protocol/pubsub#access-whitelist",
    "http://jabber.org/protocol/pubsub#auto-create",
    "http://jabber.org/protocol/pubsub#auto-subscribe",
    "http://jabber.org/protocol/pubsub#config-node",
    "http://jabber.org/protocol/pubsub#config-node-max",
    "http://jabber.org/protocol/pubsub#create-and-configure",
    "http://jabber.org/protocol/pubsub#create-nodes",
    "http://jabber.org/protocol/pubsub#delete-items",
    "http://jabber.org/protocol/pubsub#delete-nodes",
    "http://jabber.org/protocol/pubsub#filtered-notifications",
    "http://jabber.org/protocol/pubsub#item-ids",
    "http://jabber.org/protocol/pubsub#last-published",
    "http://jabber.org/protocol/pubsub#manage-affiliations",
    "http://jabber.org/protocol/pubsub#modify-affiliations",
    "http://jabber.org/protocol/pubsub#persistent-items",
    "http://jabber.org/protocol/pubsub#publish",
    "http://jabber.org/protocol/pubsub#publish-options",
    "http://jabber.org/protocol/pubsub#purge-nodes",
    "http://jabber.org/protocol/pubsub#retract-items",
    "http://jabber.org/protocol/pubsub#retrieve-affiliations",
    "http://jabber.org/protocol/pubsub#retrieve-default",
    "http://jabber.org/protocol/pubsub#retrieve-items",
    "http://jabber.org/protocol/pubsub#retrieve-subscriptions",
    "http://jabber.org/protocol/pubsub#rsm",
    "http://jabber.org/protocol/pubsub#subscribe",
    "urn:xmpp:bookmarks:1#compat",
];

impl Module for service::Pep {
    fn name(&self) -> &'static str {
        "pep"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.account_identity("pubsub", "pep", "");
        for f in FEATURES {
            reg.account_feature(f);
        }
        let this = self.clone();
        reg.get(Targets::Account, move |ctx, iq| this.clone().user_get(ctx, iq))?;
        let this = self.clone();
        reg.set(Targets::Account, move |ctx, iq| this.clone().user_set(ctx, iq))?;
        let this = self.clone();
        reg.get(Targets::Account, move |ctx, iq| this.clone().owner_get(ctx, iq))?;
        let this = self.clone();
        reg.set(Targets::Account, move |ctx, iq| this.clone().owner_set(ctx, iq))?;
        // Before presence broadcast (0): it only watches for capabilities.
        let this = self.clone();
        reg.stage(Stage::OutboundPresence, 10, move |ctx, el| this.clone().watch_presence(ctx, el));
        let this = self.clone();
        reg.stage_when(Stage::InboundPresence, 10, remote::from_remote_client, move |ctx, el| {
            this.clone().watch_remote_presence(ctx, el)
        });
        // Before private XML storage sees the request.
        let this = self.clone();
        reg.stage_when(
            Stage::OutboundIq,
            10,
            |_, s| bookmarks::is_legacy_request(&s.el),
            move |ctx, el| bookmarks::intercept(this.clone(), ctx, el),
        );
        let this = self.clone();
        // Before the archive (10) and carbons (0) see the message (XEP-0490 §5.2).
        reg.stage_when(Stage::OutboundMessage, 30, displayed::carries_displayed, move |ctx, s| {
            displayed::assist(this.clone(), ctx, s)
        });
        reg.account_feature(ns::MDS_SERVER_ASSIST);
        // Before the vCard module stores the vCard (its IQ handler runs after every stage).
        let this = self.clone();
        reg.stage_when(Stage::OutboundIq, 10, avatar::is_vcard_set, move |ctx, s| {
            avatar::from_vcard(this.clone(), ctx, s)
        });
        reg.account_nodes(Arc::new(discovery::Discovery));
        reg.on_event(move |ctx, ev| bookmarks::invited(self.clone(), ctx, ev));
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("pep", &self.config, table, &[])
    }
}
