//! XEP-0133 Service Administration: the commands a host's administrators run from their
//! client (accounts, sessions, announcements), each a XEP-0050 command that shows its form
//! first and acts once the form comes back filled in (or acts at once when it needs none).
//! What they do is [`AdminService`]'s, which the module also provides to the server for its
//! admin socket.

mod accounts;
mod bulk;
mod motd;
mod service;
mod sessions;

pub use service::{AdminError, AdminService, SessionInfo, UserStats};

use rhein_module::commands::{Allowed, Submitted, session_id, submitted};
use rhein_module::{Ctx, Event, Iq, Module, ModuleError, ModuleSpec, Registry};
use rhein_proto::commands::{Command, Note, NoteKind};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use rhein_proto::{BareJid, Jid, StanzaError};
use std::future::Future;
use std::sync::Arc;

pub const SPECS: &[ModuleSpec] = &[ModuleSpec { name: "admin", build: |_| Ok(Arc::new(Admin::default())) }];

/// The FORM_TYPE of every XEP-0133 form, which its command nodes extend.
const ADMIN: &str = "http://jabber.org/protocol/admin";

/// The node of a XEP-0133 command.
macro_rules! node {
    ($name:literal) => {
        concat!("http://jabber.org/protocol/admin#", $name)
    };
}

/// The administration module.
#[derive(Default)]
pub struct Admin {
    service: Arc<AdminService>,
}

impl Module for Admin {
    fn name(&self) -> &'static str {
        "admin"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        let mut commands = Commands { reg, service: &self.service };
        commands.add(node!("add-user"), "Add a user", accounts::add_user)?;
        commands.add(node!("delete-user"), "Delete users", accounts::delete_user)?;
        commands.add(node!("disable-user"), "Disable users", |run| accounts::set_disabled(run, true))?;
        commands.add(node!("reenable-user"), "Re-enable users", |run| accounts::set_disabled(run, false))?;
        commands.add(node!("change-user-password"), "Change a user's password", accounts::change_password)?;
        commands.add(node!("end-user-session"), "End user sessions", sessions::end_sessions)?;
        commands.add(node!("get-user-roster"), "A user's roster", accounts::roster)?;
        commands.add(node!("get-user-lastlogin"), "A user's last login", accounts::last_login)?;
        commands.add(node!("user-stats"), "A user's statistics", accounts::statistics)?;
        commands.add(node!("set-motd"), "Set the message of the day", motd::set)?;
        commands.add(node!("edit-motd"), "Edit the message of the day", motd::set)?;
        commands.add(node!("delete-motd"), "Delete the message of the day", motd::delete)?;
        commands.add(node!("get-registered-users-num"), "Number of registered users", |run| {
            accounts::registered(run, false)
        })?;
        commands.add(node!("get-registered-users-list"), "Registered users", |run| accounts::registered(run, true))?;
        commands.add(node!("get-disabled-users-num"), "Number of disabled users", |run| {
            accounts::disabled_users(run, false)
        })?;
        commands.add(node!("get-disabled-users-list"), "Disabled users", |run| accounts::disabled_users(run, true))?;
        commands.add(node!("get-online-users-num"), "Number of online users", sessions::online_num)?;
        commands.add(node!("get-online-users-list"), "Online users", sessions::online_list)?;
        commands
            .add(node!("get-active-users-num"), "Number of active users", |run| sessions::activity(run, true, false))?;
        commands.add(node!("get-active-users"), "Active users", |run| sessions::activity(run, true, true))?;
        commands
            .add(node!("get-idle-users-num"), "Number of idle users", |run| sessions::activity(run, false, false))?;
        commands.add(node!("get-idle-users"), "Idle users", |run| sessions::activity(run, false, true))?;
        commands.add(node!("announce"), "Send an announcement to online users", sessions::announce)?;
        reg.staged_command(bulk::NODE, "Add several users", Allowed::Admins, bulk::stages(&self.service))?;
        let service = self.service.clone();
        reg.on_event(move |ctx, event| greet(service.clone(), ctx, event));
        reg.provide(self.service.clone());
        Ok(())
    }
}

/// A session bound: it gets the message of the day.
async fn greet(service: Arc<AdminService>, ctx: Ctx, event: Event) {
    if let Event::SessionBound(jid) = event {
        service.greet(&ctx, &jid).await;
    }
}

/// Registers the administrators' commands, each with the service.
struct Commands<'a> {
    reg: &'a mut Registry,
    service: &'a Arc<AdminService>,
}

impl Commands<'_> {
    fn add<F, Fut>(&mut self, node: &'static str, title: &'static str, step: F) -> Result<(), ModuleError>
    where
        F: Fn(Run) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Command, StanzaError>> + Send + 'static,
    {
        let service = self.service.clone();
        self.reg.command(node, title, Allowed::Admins, move |ctx: Ctx, iq: Iq<Command>| {
            let command = iq.payload;
            let session = command.sessionid.clone().unwrap_or_else(session_id);
            step(Run { ctx, service: service.clone(), node, session, command })
        })
    }
}

/// What an administrator's command gets (who runs it was checked already): the host's
/// context, the service, the command's node and session, and the request with what was
/// submitted.
pub(crate) struct Run {
    ctx: Ctx,
    service: Arc<AdminService>,
    node: &'static str,
    session: String,
    command: Command,
}

impl Run {
    fn submitted(&self) -> Option<Submitted<'_>> {
        submitted(&self.command)
    }

    /// The command waiting for `fields` (§4.2: `executing`, the requester completes it).
    fn ask(&self, title: &str, fields: Vec<Field>) -> Command {
        let mut form = DataForm::new(DataFormType::Form, ADMIN, fields);
        form.title = Some(title.to_owned());
        Command::executing(self.node, self.session.clone(), form)
    }

    /// The finished command, with a result form or a note.
    fn done(&self, result: Done) -> Command {
        let mut answer = Command::completed(self.node, Some(self.session.clone()), None);
        match result {
            Done::Note(text) => answer.notes.push(Note { kind: Some(NoteKind::Info), text }),
            Done::Form(fields) => answer.form = Some(DataForm::new(DataFormType::Result_, ADMIN, fields)),
        }
        answer
    }

    /// An account of this host named in a form field (a JID; `jid-malformed` if it is none).
    fn account(&self, jid: &str) -> Result<BareJid, StanzaError> {
        let jid = BareJid::new(jid.trim())
            .map_err(|_| StanzaError::jid_malformed().with_text(format!("{jid:?} is not a JID")))?;
        Ok(self.service.account(&self.ctx, jid.as_str())?)
    }

    /// The accounts a multi-JID field names, at least one.
    fn accounts(&self, submitted: &Submitted<'_>, var: &str) -> Result<Vec<BareJid>, StanzaError> {
        let accounts = submitted.values(var).iter().map(|j| self.account(j)).collect::<Result<Vec<_>, _>>()?;
        match accounts.is_empty() {
            true => Err(StanzaError::bad_request().with_text(format!("the field {var} is required"))),
            false => Ok(accounts),
        }
    }

    /// The JIDs (bare or full) a multi-JID field names, at least one.
    fn jids(&self, submitted: &Submitted<'_>, var: &str) -> Result<Vec<Jid>, StanzaError> {
        let jids = submitted
            .values(var)
            .iter()
            .map(|j| {
                Jid::new(j.trim()).map_err(|_| StanzaError::jid_malformed().with_text(format!("{j:?} is not a JID")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        match jids.is_empty() {
            true => Err(StanzaError::bad_request().with_text(format!("the field {var} is required"))),
            false => Ok(jids),
        }
    }
}

/// How a command ended.
pub(crate) enum Done {
    Note(String),
    Form(Vec<Field>),
}

/// Accounts as a note names them.
fn names(accounts: &[BareJid]) -> String {
    accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
}

/// A form field of `kind` with a label, required or not.
fn field(var: &str, kind: FieldType, label: &str, required: bool) -> Field {
    let mut f = Field::new(var, kind);
    f.label = Some(label.to_owned());
    f.required = required;
    f
}

/// A result field with one value.
fn value(var: &str, kind: FieldType, value: &str) -> Field {
    Field::new(var, kind).with_value(value)
}
