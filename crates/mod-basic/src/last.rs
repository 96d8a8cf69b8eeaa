//! XEP-0012: Last Activity — the server's uptime, and for an account how long ago it was last
//! online (only to the account itself and contacts allowed to see its presence).

use crate::may_see;
use rhein_module::account_request;
use rhein_module::{Ctx, IqKind, IqResult, ModuleError, Registry, Targets};
use rhein_proto::{Element, StanzaError, ns, xml};
use rhein_storage::now_ms;

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(ns::LAST);
    reg.account_feature(ns::LAST);
    reg.iq(IqKind::Get, Targets::Host, ns::LAST, "query", handle_uptime)?;
    reg.iq(IqKind::Get, Targets::Account, ns::LAST, "query", handle_account_last)
}

fn last(seconds: u64, status: &str) -> Element {
    let mut q = xml::with_attr(Element::bare("query", ns::LAST), "seconds", seconds.to_string());
    if !status.is_empty() {
        q.append_text_node(status);
    }
    q
}

async fn handle_uptime(ctx: Ctx, _iq: Element) -> IqResult {
    Ok(Some(last(ctx.server.started.elapsed().as_secs(), "")))
}

async fn handle_account_last(ctx: Ctx, iq: Element) -> IqResult {
    let (from, owner) = account_request(&iq)?;
    let from = from.to_bare();
    if !may_see(&ctx.db, &owner, &from).await {
        return Err(StanzaError::forbidden());
    }
    if ctx.router.resources(&owner).iter().any(|r| r.is_available()) {
        return Ok(Some(last(0, "")));
    }
    match ctx.db.last_activity().get(owner.as_str()).await.map_err(|e| {
        tracing::error!(error = %e, "last activity lookup failed");
        StanzaError::internal_server_error()
    })? {
        Some((stamp, status)) => Ok(Some(last(((now_ms() - stamp).max(0) / 1000) as u64, &status))),
        None => Err(StanzaError::item_not_found()),
    }
}
