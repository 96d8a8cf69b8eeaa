//! XEP-0313 Message Archive Management for accounts: chats to and from an account are
//! archived with an XEP-0359 stanza id, and the account queries its archive with filters
//! (with, start, end, before-id, after-id, ids) and XEP-0059 paging in both directions.
//! Preferences (always, never, roster) decide what is kept; retention is configurable.
//! Chat retractions (XEP-0424) leave tombstones in both parties' archives.
//! The unread overview (a Rhein extension) reports each open conversation's unread messages
//! and mentions from counters storage keeps beside the archive.

mod archiving;
mod catchup;
mod prefs;
mod query;
mod retraction;
mod unread;

use rhein_module::archive::PageLimits;
use rhein_module::{Current, Module, ModuleError, ModuleSpec, Reconfigure, Registry, Stage, Targets, settings};
use rhein_proto::ns;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "mam", build }];

/// `[modules.mam]` settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MamConfig {
    /// Days messages are kept; 0 keeps them forever.
    pub retention_days: u64,
    /// Largest page a client may ask for.
    pub max_page: usize,
    /// Page size when the client names none.
    pub default_page: usize,
}

impl Default for MamConfig {
    fn default() -> Self {
        let pages = PageLimits::default();
        Self { retention_days: 0, max_page: pages.max, default_page: pages.default }
    }
}

fn build(table: &toml::Table) -> Result<Arc<dyn Module>, ModuleError> {
    Ok(Arc::new(Mam { config: Current::new(settings::parse("mam", table)?) }))
}

struct Mam {
    config: Current<MamConfig>,
}

impl Module for Mam {
    fn name(&self) -> &'static str {
        "mam"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        reg.account_feature(ns::MAM);
        reg.account_feature(ns::MAM_EXTENDED);
        reg.account_feature(ns::STANZA_ID);
        reg.feature(ns::STANZA_ID);
        // Retractions are archived, and the messages they retract kept as tombstones.
        reg.feature(ns::MESSAGE_RETRACT);
        reg.account_feature(ns::MESSAGE_RETRACT);
        reg.account_feature(ns::MESSAGE_RETRACT_TOMBSTONE);
        reg.get(Targets::Account, query::handle_form)?;
        let config = self.config.clone();
        reg.set(Targets::Account, move |ctx, iq| {
            let c = config.get();
            query::handle_query(ctx, iq, PageLimits { max: c.max_page, default: c.default_page })
        })?;
        let cache = reg.account_cache(prefs::CACHED_ACCOUNTS);
        reg.get(Targets::Account, prefs::handle_prefs_get)?;
        let c = cache.clone();
        reg.set(Targets::Account, move |ctx, iq| prefs::handle_prefs_set(ctx, iq, c.clone()))?;
        // Before carbons (priority 0), so copies carry the stanza id; after blocking (100).
        let c = cache.clone();
        reg.stage_when(
            Stage::InboundMessage,
            10,
            |_, s| archiving::archivable(&s.el),
            move |ctx, el| archiving::handle_inbound(ctx, el, c.clone()),
        );
        reg.stage_when(
            Stage::OutboundMessage,
            10,
            |_, s| archiving::archivable(&s.el),
            move |ctx, el| archiving::handle_outbound(ctx, el, cache.clone()),
        );
        reg.on_bind2(catchup::on_bind2);
        // The unread overview (a Rhein extension), by IQ and inline in Bind2; read positions
        // follow the user's XEP-0333 markers (before carbons copy them, after blocking).
        reg.account_feature(ns::UNREAD);
        reg.get(Targets::Account, unread::handle_query)?;
        reg.bind2_feature(ns::UNREAD, unread::on_bind2);
        reg.stage_when(Stage::OutboundMessage, 9, unread::carries_marker, unread::handle_marker);
        let config = self.config.clone();
        reg.worker("mam-retention", move |ctx| {
            let config = config.clone();
            archiving::expire_forever(ctx, move || match config.get().retention_days {
                0 => None,
                days => Some(Duration::from_secs(days * 86_400)),
            })
        });
        Ok(())
    }

    fn reconfigure(&self, table: &toml::Table) -> Result<(), Reconfigure> {
        settings::reconfigure("mam", &self.config, table, &[])
    }
}
