//! XEP-0012: Last Activity — the server's uptime, and for an account how long ago it was last
//! online (only to the account itself and contacts allowed to see its presence).

use crate::may_see;
use rhein_module::{Ctx, Iq, IqResult, ModuleError, Registry, Targets};
use rhein_proto::payload::{LastActivity, LastActivityQuery};
use rhein_proto::{StanzaError, ns};
use rhein_storage::now_ms;

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::LAST);
    reg.account_feature(ns::LAST);
    reg.get(Targets::Host, handle_uptime)?;
    reg.get(Targets::Account, handle_account_last)
}

async fn handle_uptime(ctx: Ctx, _iq: Iq<LastActivityQuery>) -> IqResult {
    Ok(Some(LastActivity { seconds: ctx.server.started.elapsed().as_secs(), status: String::new() }.into()))
}

async fn handle_account_last(ctx: Ctx, iq: Iq<LastActivityQuery>) -> IqResult {
    let owner = iq.account();
    if !may_see(&ctx.db, &owner, &iq.from.to_bare()).await {
        return Err(StanzaError::forbidden());
    }
    if ctx.router.resources(&owner).iter().any(|r| r.is_available()) {
        return Ok(Some(LastActivity::default().into()));
    }
    match ctx.db.last_activity().get(owner.as_str()).await.map_err(|e| {
        tracing::error!(error = %e, "last activity lookup failed");
        StanzaError::internal_server_error()
    })? {
        Some((stamp, status)) => {
            Ok(Some(LastActivity { seconds: ((now_ms() - stamp).max(0) / 1000) as u64, status }.into()))
        }
        None => Err(StanzaError::item_not_found()),
    }
}
