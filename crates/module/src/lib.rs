//! The module API. Every XMPP feature is a [`Module`] that declares, in [`Module::register`],
//! the IQs it answers, the stages it hooks, the events it follows and what it adds to service
//! discovery, stream features and Bind2. Nothing else of a module can be called.
//!
//! Modules talk to the rest of the server only through [`Ctx`]: storage through `ctx.db`,
//! sessions and delivery through `ctx.router` (a [`RouterApi`]). This crate must never depend on
//! the router or the stream crates, so a module compiles and is tested on its own.

mod account_cache;
pub mod archive;
pub mod caps;
pub mod commands;
pub mod commits;
mod ctx;
mod entities;
mod iq;
mod outbox;
pub mod pubsub;
mod registry;
pub mod roster;
pub mod settings;
mod stanza;
pub mod tombstone;
pub mod unread;
pub mod web;

pub use account_cache::AccountCache;
pub use ctx::{Ctx, Interest, Interests, ResourceInfo, RouterApi, ServerInfo};
pub use entities::{Entities, Shared};
pub use iq::{Iq, payload};
pub use outbox::Outbox;
pub use registry::{
    AccountNodes, AccountNodesSlot, Bind2Feature, Bind2Handler, Bind2Hook, BoxFuture, CAPS_NODE, Disco, Event,
    EventHandler, Flow, IqHandler, IqKind, IqResult, PreAuth, PreAuthHandler, Registry, ServiceHandler, Stage,
    StageFilter, StageHandler, StageHook, Targets, Unauthenticated, Worker, caps_ver_of,
};
pub use settings::{Current, Reconfigure};
pub use stanza::{Stanza, Unroutable};

use std::sync::Arc;

/// The sender of an IQ that an account may only make about itself (`to` absent or the sender's
/// own bare JID): its full JID, `forbidden` for another address. (Typed handlers have
/// [`Iq::own`].)
pub fn own_request(iq: &Stanza) -> Result<rhein_proto::FullJid, rhein_proto::StanzaError> {
    iq::own(&iq.from, &iq.to)
}

/// What verifies `password` (SCRAM keys and an argon2 hash), derived off the async runtime:
/// the derivations take a while on purpose.
pub async fn derive_credentials(password: &str) -> rhein_sasl::Credentials {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || rhein_sasl::Credentials::derive(&password))
        .await
        .unwrap_or_else(|_| rhein_sasl::Credentials::derive(""))
}

/// Storage failures become `internal-server-error` for the peer; details go to the log.
pub fn storage_failure(e: rhein_storage::StorageError) -> rhein_proto::StanzaError {
    tracing::error!(error = %e, "storage failure");
    rhein_proto::StanzaError::internal_server_error()
}

/// One XMPP feature.
pub trait Module: Send + Sync + 'static {
    /// Name in the config's module list and in logs.
    fn name(&self) -> &'static str;
    /// Declares everything the module handles. Called once at start.
    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError>;
    /// Takes a changed `[modules.NAME]` table while the server runs (a reload). By default a
    /// module reads its settings only at start, so a change waits for a restart.
    fn reconfigure(&self, _settings: &toml::Table) -> Result<(), Reconfigure> {
        Err(Reconfigure::NeedsRestart("its settings"))
    }
}

/// How a built-in module is found by name and built from its config table.
pub struct ModuleSpec {
    pub name: &'static str,
    pub build: fn(&toml::Table) -> Result<Arc<dyn Module>, ModuleError>,
}

/// A module could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ModuleError {
    #[error("module {module}: {reason}")]
    Config { module: &'static str, reason: String },
    #[error("IQ {ns} {name} ({kind:?}) is registered twice")]
    DuplicateIq { kind: IqKind, ns: String, name: String },
}
