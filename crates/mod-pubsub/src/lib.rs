//! A publish-subscribe service (XEP-0060) at `pubsub.<host>`: nodes created by the accounts
//! the configuration lets create them, owned through affiliations, with explicit
//! subscriptions (pending ones on `authorize` nodes, decided by an owner through a form),
//! subscription options, and the notifications each node's configuration asks for. The
//! rules are the engine's ([`rhein_pubsub`]) and the XMPP pieces [`rhein_module::pubsub`]'s,
//! the same ones PEP runs on; this crate decides who owns what and who hears of it.

mod approval;
mod disco;
mod owner;
mod service;
mod user;

use rhein_module::{Module, ModuleError, ModuleSpec, Reconfigure, Registry, settings};
use serde::Deserialize;
use std::sync::Arc;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "pubsub", build }];

/// Who may create nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Creators {
    /// Accounts of the host the service belongs to.
    Local,
    /// The host's administrators only.
    Admins,
    /// Anyone, other servers' users included.
    Anyone,
}

/// `[modules.pubsub]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PubsubConfig {
    /// The service is `<subdomain>.<host>`.
    pub subdomain: String,
    /// Its name in service discovery.
    pub name: String,
    pub creators: Creators,
    /// Publishing to a node that does not exist creates it, for those who may create nodes
    /// (XEP-0060 §7.1.4, `auto-create`).
    pub autocreate_on_publish: bool,
    /// Nodes the service holds at most.
    pub max_nodes: usize,
    /// Nodes one account may own, administrators aside.
    pub max_nodes_per_owner: usize,
    /// Items one node keeps at most (`max_items = "max"` means this).
    pub max_items: u32,
    /// The largest payload one item may carry, in bytes of XML.
    pub max_payload_bytes: usize,
}

impl Default for PubsubConfig {
    fn default() -> Self {
        Self {
            subdomain: "pubsub".into(),
            name: "Publish-Subscribe".into(),
            creators: Creators::Local,
            autocreate_on_publish: true,
            max_nodes: 10_000,
            max_nodes_per_owner: 100,
            max_items: 1_000,
            max_payload_bytes: 64 * 1024,
        }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(service::Pubsub::new(settings::parse("pubsub", table)?)))
}

impl Module for service::Pubsub {
    fn name(&self) -> &'static str {
        "pubsub"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let subdomain = self.config.get().subdomain.clone();
        reg.service(&subdomain, move |ctx, stanza| self.clone().handle(ctx, stanza));
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("pubsub", &self.config, table, &[("subdomain", |a, b| a.subdomain != b.subdomain)])
    }
}
