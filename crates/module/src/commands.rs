//! XEP-0050 Ad-Hoc Commands of the server: modules register commands by node
//! ([`crate::Registry::command`]); the disco module lists those a requester may run and runs
//! them. A command's handler gets the request already checked against who may run it.

use crate::registry::BoxFuture;
use crate::{Ctx, Iq};
use rhein_proto::StanzaError;
use rhein_proto::commands::Command;
use std::sync::Arc;

/// Who may run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Any account of the host.
    Accounts,
    /// The host's administrators.
    Admins,
}

/// Runs one step of a command: the answer (`executing` with a form, or `completed`), or an
/// error for the IQ.
pub type CommandHandler =
    Arc<dyn Fn(Ctx, Iq<Command>) -> BoxFuture<'static, Result<Command, StanzaError>> + Send + Sync>;

/// A command as registered.
#[derive(Clone)]
pub struct CommandEntry {
    pub node: &'static str,
    pub name: &'static str,
    pub allowed: Allowed,
    pub handler: CommandHandler,
}

/// The server's commands.
#[derive(Clone, Default)]
pub struct Commands(Vec<CommandEntry>);

impl std::fmt::Debug for Commands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|c| c.node)).finish()
    }
}

impl Commands {
    pub(crate) fn add(&mut self, entry: CommandEntry) -> bool {
        if self.find(entry.node).is_some() {
            return false;
        }
        self.0.push(entry);
        true
    }

    pub fn find(&self, node: &str) -> Option<&CommandEntry> {
        self.0.iter().find(|c| c.node == node)
    }

    /// The commands someone may run who is an administrator or not, in registration order.
    pub fn available(&self, admin: bool) -> impl Iterator<Item = &CommandEntry> {
        self.0.iter().filter(move |c| admin || c.allowed == Allowed::Accounts)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A new session id for a command that takes more than one step.
pub fn session_id() -> String {
    rhein_proto::xml::random_id()
}
