//! XEP-0199: XMPP Ping — answers pings to the server and to accounts (clients use it to check
//! their connection).

use rhein_module::{Ctx, IqKind, IqResult, ModuleError, Registry, Targets};
use rhein_proto::{Element, ns};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::PING);
    reg.account_feature(ns::PING);
    reg.iq(IqKind::Get, Targets::Host, ns::PING, "ping", handle_ping)?;
    reg.iq(IqKind::Get, Targets::Account, ns::PING, "ping", handle_ping)
}

async fn handle_ping(_ctx: Ctx, _iq: Element) -> IqResult {
    Ok(None)
}
