//! XEP-0199: XMPP Ping — answers pings to the server and to accounts (clients use it to check
//! their connection).

use rhein_module::{Ctx, Iq, IqResult, ModuleError, Registry, Targets};
use rhein_proto::ns;
use rhein_proto::parsers::ping::Ping;

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::PING);
    reg.account_feature(ns::PING);
    reg.get(Targets::Host, handle_ping)?;
    reg.get(Targets::Account, handle_ping)
}

async fn handle_ping(_ctx: Ctx, _iq: Iq<Ping>) -> IqResult {
    Ok(None)
}
