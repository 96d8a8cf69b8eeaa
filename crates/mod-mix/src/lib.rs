//! MIX (XEP-0369 and its family): a channel service per host (`channels.<host>` by
//! default). Channels are created explicitly and live until destroyed; users (not clients)
//! join them, through their own server (XEP-0405, in rhein-mod-im) or directly. Each
//! channel is a small pubsub service — participants, information, configuration, allowed
//! and banned lists (XEP-0406), presence (XEP-0403), a JID map for JID-hidden channels
//! (XEP-0404) — kept in the pubsub tables under the channel's JID; its messages are
//! archived under that JID and read back with MAM.

mod channel;
mod forms;
mod membership;
mod messages;
mod misc;
mod nodes;
mod notify;
mod preferences;
mod presence;
mod private;
mod service;
mod store;

use rhein_module::{Module, ModuleError, ModuleSpec, Reconfigure, Registry, settings};
use serde::Deserialize;
use std::sync::Arc;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "mix", build }];

/// `[modules.mix]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixConfig {
    /// The service is `<subdomain>.<host>`.
    pub subdomain: String,
    /// Its name in service discovery.
    pub name: String,
    /// Whether accounts of other servers may create channels here (local accounts always may).
    pub anyone_creates: bool,
}

impl Default for MixConfig {
    fn default() -> Self {
        Self { subdomain: "channels".into(), name: "Channels".into(), anyone_creates: false }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(service::Mix::new(settings::parse("mix", table)?)))
}

/// What the server's metrics read of the MIX service.
pub struct MixStatistics(Arc<service::Mix>);

impl MixStatistics {
    /// Channels in memory on every host.
    pub fn channels_in_memory(&self) -> usize {
        self.0.channels_in_memory()
    }
}

impl Module for service::Mix {
    fn name(&self) -> &'static str {
        "mix"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let subdomain = self.config.get().subdomain.clone();
        reg.provide(Arc::new(MixStatistics(self.clone())));
        reg.service(&subdomain, move |ctx, el| self.clone().handle(ctx, el));
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("mix", &self.config, table, &[("subdomain", |a, b| a.subdomain != b.subdomain)])
    }
}
