//! The built-in modules, by crate. Adding a module crate means adding its `SPECS` here.

use rhein_module::ModuleSpec;

pub const SPECS: &[&[ModuleSpec]] = &[
    rhein_mod_basic::SPECS,
    rhein_mod_im::SPECS,
    rhein_mod_mam::SPECS,
    rhein_mod_push::SPECS,
    rhein_mod_pep::SPECS,
    rhein_mod_muc::SPECS,
    rhein_mod_mix::SPECS,
    rhein_mod_upload::SPECS,
    rhein_mod_invites::SPECS,
    rhein_mod_admin::SPECS,
    rhein_mod_proxy65::SPECS,
    rhein_mod_pubsub::SPECS,
];

/// The spec of a module by name.
pub fn find(name: &str) -> Option<&'static ModuleSpec> {
    SPECS.iter().flat_map(|s| s.iter()).find(|s| s.name == name)
}
