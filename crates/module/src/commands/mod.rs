//! XEP-0050 Ad-Hoc Commands of the server: modules register commands by node
//! ([`crate::Registry::command`], or [`crate::Registry::staged_command`] for one in
//! [`Stages`]); the disco module lists those a requester may run and runs them. A command's
//! handler gets the request already checked against who may run it.

mod staged;

pub(crate) use staged::Staged;
pub use staged::{Finish, StageForm, Stages};

use crate::registry::BoxFuture;
use crate::{Ctx, Iq};
use rhein_proto::commands::Command;
use rhein_proto::parsers::data_forms::{DataForm, DataFormType};
use rhein_proto::{Jid, StanzaError};
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

/// Forgets the session (by requester and id) a requester canceled.
pub type CancelHook = Arc<dyn Fn(&Jid, &str) + Send + Sync>;

/// A command as registered.
#[derive(Clone)]
pub struct CommandEntry {
    pub node: &'static str,
    pub name: &'static str,
    pub allowed: Allowed,
    pub handler: CommandHandler,
    /// For a command that keeps sessions.
    pub cancel: Option<CancelHook>,
}

/// How a command in stages ended: a note, a result form, or both.
#[derive(Debug, Default)]
pub struct Finished {
    pub note: Option<String>,
    pub form: Option<DataForm>,
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

/// The form a requester submitted with a command (XEP-0050 §4.4, XEP-0004 `submit`), if any.
pub fn submitted(command: &Command) -> Option<Submitted<'_>> {
    command.form.as_ref().filter(|f| f.type_ == DataFormType::Submit).map(Submitted)
}

/// A submitted form, read by field.
pub struct Submitted<'a>(&'a DataForm);

impl Submitted<'_> {
    /// Every value of a field (none when absent).
    pub fn values(&self, var: &str) -> &[String] {
        self.0.fields.iter().find(|f| f.var.as_deref() == Some(var)).map(|f| f.values.as_slice()).unwrap_or_default()
    }

    /// The first value of a field, if it has one that is not blank.
    pub fn value(&self, var: &str) -> Option<&str> {
        self.values(var).first().map(String::as_str).filter(|v| !v.trim().is_empty())
    }

    /// The value of a field the command needs: `bad-request` naming it when it is missing.
    pub fn required(&self, var: &str) -> Result<&str, StanzaError> {
        self.value(var).ok_or_else(|| StanzaError::bad_request().with_text(format!("the field {var} is required")))
    }
}

/// A new session id for a command that takes more than one step.
pub fn session_id() -> String {
    rhein_proto::xml::random_id()
}
