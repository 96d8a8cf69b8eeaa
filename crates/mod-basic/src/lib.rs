//! One-file XEPs that every server answers: XEP-0199 ping, XEP-0092 software version,
//! XEP-0030 service discovery, XEP-0012 last activity, XEP-0049 private storage, XEP-0054
//! vcard-temp, XEP-0191 blocking and XEP-0280 carbons. Each file registers its handlers.

mod blocking;
mod carbons;
mod commands;
mod contact;
mod disco;
mod extdisco;
mod last;
mod ping;
mod private;
mod vcard;
mod version;

use rhein_module::{Module, ModuleError, ModuleSpec, Registry};
use rhein_proto::BareJid;
use rhein_storage::Db;
use std::sync::Arc;

/// Accounts whose blocklist or photo hash a module keeps in memory at most.
const CACHED_ACCOUNTS: usize = 100_000;

/// The module specs this crate provides.
pub const SPECS: &[ModuleSpec] = &[
    ModuleSpec { name: "ping", build: |_| Ok(Arc::new(Basic("ping", ping::register))) },
    ModuleSpec { name: "version", build: |_| Ok(Arc::new(Basic("version", version::register))) },
    ModuleSpec { name: "disco", build: |_| Ok(Arc::new(Basic("disco", disco::register))) },
    ModuleSpec { name: "last", build: |_| Ok(Arc::new(Basic("last", last::register))) },
    ModuleSpec { name: "private", build: |_| Ok(Arc::new(Basic("private", private::register))) },
    ModuleSpec { name: "vcard", build: |_| Ok(Arc::new(vcard::Vcard::default())) },
    ModuleSpec { name: "carbons", build: |_| Ok(Arc::new(Basic("carbons", carbons::register))) },
    ModuleSpec { name: "blocking", build: |_| Ok(Arc::new(blocking::Blocking::default())) },
    ModuleSpec { name: "contact", build: contact::build },
    ModuleSpec { name: "extdisco", build: extdisco::build },
];

/// A stateless module: a name and a registration function.
struct Basic(&'static str, fn(&mut Registry) -> Result<(), ModuleError>);

impl Module for Basic {
    fn name(&self) -> &'static str {
        self.0
    }
    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        (self.1)(reg)
    }
}

pub(crate) use rhein_module::storage_failure as internal;

/// Whether `requester` may see `owner`'s presence-like data: itself, or a contact the owner
/// lets see its presence (subscription `from` or `both`).
pub(crate) async fn may_see(db: &Db, owner: &BareJid, requester: &BareJid) -> bool {
    if owner == requester {
        return true;
    }
    match db.roster().item(owner.as_str(), requester.as_str()).await {
        Ok(Some(item)) => item.subscription.from(),
        Ok(None) => false,
        Err(e) => {
            tracing::error!(error = %e, "roster lookup failed");
            false
        }
    }
}
