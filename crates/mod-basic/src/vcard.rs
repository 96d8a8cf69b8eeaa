//! XEP-0054: vcard-temp — each account publishes one vCard; anyone may read it, only the
//! account may change it.

use crate::{internal, own_account, parties};
use rhein_module::{Ctx, IqKind, IqResult, ModuleError, Registry, Targets};
use rhein_proto::{Element, StanzaError, xml};

const NS: &str = "vcard-temp";

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.feature(NS);
    reg.account_feature(NS);
    reg.iq(IqKind::Get, Targets::Account, NS, "vCard", handle_vcard_get)?;
    reg.iq(IqKind::Set, Targets::Account, NS, "vCard", handle_vcard_set)
}

async fn handle_vcard_get(ctx: Ctx, iq: Element) -> IqResult {
    let (from, to) = parties(&iq).ok_or_else(StanzaError::bad_request)?;
    let owner = to.unwrap_or(from);
    let stored = ctx.db.account_data().get(owner.as_str(), "vcard", "").await.map_err(internal)?;
    // No vCard yet: an empty one (XEP-0054 §3.1).
    Ok(Some(stored.and_then(|s| s.parse().ok()).unwrap_or_else(|| Element::bare("vCard", NS))))
}

async fn handle_vcard_set(ctx: Ctx, iq: Element) -> IqResult {
    let owner = own_account(&iq)?;
    let vcard = iq.get_child("vCard", NS).ok_or_else(StanzaError::bad_request)?;
    ctx.db
        .account_data()
        .put_all(owner.as_str(), "vcard", &[(String::new(), xml::to_string(vcard))])
        .await
        .map_err(internal)?;
    Ok(None)
}
