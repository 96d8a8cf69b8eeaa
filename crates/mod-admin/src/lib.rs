//! XEP-0133 Service Administration: the commands a host's administrators run from their
//! client (accounts, sessions, announcements), each a XEP-0050 command that shows its form
//! first and acts once the form comes back filled in (or acts at once when it needs none).

mod accounts;
mod motd;
mod sessions;

use rhein_module::commands::{Allowed, Submitted, session_id, submitted};
use rhein_module::{Ctx, Iq, Module, ModuleError, ModuleSpec, Registry};
use rhein_proto::commands::{Command, Note, NoteKind};
use rhein_proto::parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use rhein_proto::{BareJid, StanzaError};
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
    motd: Arc<motd::Motd>,
}

impl Module for Admin {
    fn name(&self) -> &'static str {
        "admin"
    }

    fn register(self: Arc<Self>, reg: &mut Registry) -> Result<(), ModuleError> {
        command(reg, node!("add-user"), "Add a user", accounts::add_user)?;
        command(reg, node!("delete-user"), "Delete users", accounts::delete_user)?;
        command(reg, node!("change-user-password"), "Change a user's password", accounts::change_password)?;
        command(reg, node!("get-registered-users-num"), "Number of registered users", accounts::registered_num)?;
        command(reg, node!("get-registered-users-list"), "Registered users", accounts::registered_list)?;
        command(reg, node!("end-user-session"), "End user sessions", sessions::end_sessions)?;
        command(reg, node!("get-online-users-num"), "Number of online users", sessions::online_num)?;
        command(reg, node!("get-online-users-list"), "Online users", sessions::online_list)?;
        command(reg, node!("announce"), "Send an announcement to online users", sessions::announce)?;
        command(reg, node!("get-user-lastlogin"), "A user's last login", accounts::last_login)?;
        command(reg, node!("get-user-roster"), "A user's roster", accounts::roster)?;
        command(reg, node!("disable-user"), "Disable users", |run| accounts::set_disabled(run, true))?;
        command(reg, node!("reenable-user"), "Re-enable users", |run| accounts::set_disabled(run, false))?;
        command(reg, node!("get-disabled-users-num"), "Number of disabled users", |run| {
            accounts::disabled_users(run, false)
        })?;
        command(reg, node!("get-disabled-users-list"), "Disabled users", |run| accounts::disabled_users(run, true))?;
        let motd = self.motd.clone();
        command(reg, node!("set-motd"), "Set the message of the day", move |run| motd::set(motd.clone(), run))?;
        let motd = self.motd.clone();
        command(reg, node!("edit-motd"), "Edit the message of the day", move |run| motd::set(motd.clone(), run))?;
        let motd = self.motd.clone();
        command(reg, node!("delete-motd"), "Delete the message of the day", move |run| {
            motd::delete(motd.clone(), run)
        })?;
        let motd = self.motd.clone();
        reg.on_event(move |ctx, event| motd::on_bound(motd.clone(), ctx, event));
        Ok(())
    }
}

/// What an administrator's command gets (who runs it was checked already): the host's
/// context, the command's node and session, and the request with what was submitted.
pub(crate) struct Run {
    ctx: Ctx,
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

    /// An account of this host named in a form field.
    fn account(&self, jid: &str) -> Result<BareJid, StanzaError> {
        let jid = BareJid::new(jid.trim())
            .map_err(|_| StanzaError::jid_malformed().with_text(format!("{jid:?} is not a JID")))?;
        if jid.node().is_none() || jid.domain().as_str() != &*self.ctx.host {
            return Err(StanzaError::bad_request().with_text(format!("{jid} is no account of {}", self.ctx.host)));
        }
        Ok(jid)
    }
}

/// How a command ended.
pub(crate) enum Done {
    Note(String),
    Form(Vec<Field>),
}

/// Registers a command for the host's administrators.
fn command<F, Fut>(reg: &mut Registry, node: &'static str, title: &'static str, step: F) -> Result<(), ModuleError>
where
    F: Fn(Run) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Command, StanzaError>> + Send + 'static,
{
    reg.command(node, title, Allowed::Admins, move |ctx: Ctx, iq: Iq<Command>| {
        let command = iq.payload;
        let session = command.sessionid.clone().unwrap_or_else(session_id);
        step(Run { ctx, node, session, command })
    })
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
