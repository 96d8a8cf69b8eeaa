//! XEP-0050 Ad-Hoc Commands of the server: the list (disco#items on the commands node), what
//! each command is (disco#info on its node), and running them, each for those it is
//! registered for. The commands themselves come from the modules that own them.

use rhein_module::commands::{Allowed, CommandEntry};
use rhein_module::{Ctx, Iq, IqResult, ModuleError, Registry, Targets};
use rhein_proto::commands::{Command, Status};
use rhein_proto::parsers::disco::{DiscoInfoResult, DiscoItemsResult, Identity, Item};
use rhein_proto::{BareJid, Jid, StanzaError, ns};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::COMMANDS);
    reg.set(Targets::Host, run)
}

/// Whether `requester` may run `command` here: an account of this host, and an
/// administrator for the commands of administrators.
async fn may_run(ctx: &Ctx, requester: &BareJid, command: &CommandEntry) -> bool {
    let local = requester.domain().as_str() == &*ctx.host && requester.node().is_some();
    local && (command.allowed == Allowed::Accounts || ctx.is_admin(requester).await)
}

/// disco#items on the commands node: the commands `requester` may run.
pub(crate) async fn list(ctx: &Ctx, requester: &BareJid) -> DiscoItemsResult {
    let local = requester.domain().as_str() == &*ctx.host && requester.node().is_some();
    let admin = local && ctx.is_admin(requester).await;
    let items = match (local, Jid::new(&ctx.host)) {
        (true, Ok(host)) => ctx
            .disco
            .commands
            .available(admin)
            .map(|c| Item { jid: host.clone(), node: Some(c.node.to_owned()), name: Some(c.name.to_owned()) })
            .collect(),
        _ => Vec::new(),
    };
    DiscoItemsResult { node: Some(ns::COMMANDS.to_owned()), items, rsm: None }
}

/// disco#info on a command's node (§3.2), for those who may run it.
pub(crate) async fn info(ctx: &Ctx, requester: &BareJid, node: &str) -> Option<DiscoInfoResult> {
    let command = ctx.disco.commands.find(node)?;
    if !may_run(ctx, requester, command).await {
        return None;
    }
    Some(DiscoInfoResult {
        node: Some(node.to_owned()),
        identities: vec![Identity {
            category: "automation".into(),
            type_: "command-node".into(),
            lang: None,
            name: Some(command.name.to_owned()),
        }],
        features: [ns::COMMANDS.to_owned(), ns::DATA.to_owned()].into(),
        extensions: Vec::new(),
    })
}

/// Runs a step of a command. An unknown node is `item-not-found`; someone who may not run it
/// gets `forbidden`; a cancel ends it here (§4.4).
async fn run(ctx: Ctx, iq: Iq<Command>) -> IqResult {
    let Some(command) = ctx.disco.commands.find(&iq.payload.node).cloned() else {
        return Err(StanzaError::item_not_found().with_text("no such command"));
    };
    if !may_run(&ctx, &iq.from.to_bare(), &command).await {
        return Err(StanzaError::forbidden().with_text("you may not run this command"));
    }
    if iq.payload.action() == rhein_proto::commands::Action::Cancel {
        if let (Some(cancel), Some(id)) = (&command.cancel, &iq.payload.sessionid) {
            cancel(&iq.from, id);
        }
        let mut canceled = Command::completed(command.node, iq.payload.sessionid.clone(), None);
        canceled.status = Some(Status::Canceled);
        return Ok(Some(canceled.into()));
    }
    Ok(Some((command.handler)(ctx, iq).await?.into()))
}
