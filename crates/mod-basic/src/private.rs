//! XEP-0049: Private XML Storage — an account keeps XML documents on its server, one per
//! namespace, readable only by itself (older clients keep bookmarks here).

use crate::internal;
use rhein_module::{Ctx, Iq, IqResult, ModuleError, Registry, Targets};
use rhein_proto::payload::PrivateQuery;
use rhein_proto::{Element, StanzaError, ns, xml};

pub(crate) fn register(reg: &mut Registry) -> Result<(), ModuleError> {
    reg.account_feature(ns::PRIVATE);
    reg.get(Targets::Account, handle_private_get)?;
    reg.set(Targets::Account, handle_private_set)
}

/// The documents of a query, each named by its namespace.
fn documents(query: PrivateQuery) -> Result<Vec<Element>, StanzaError> {
    let docs = query.documents;
    if docs.is_empty() {
        return Err(StanzaError::not_acceptable().with_text("name a namespace"));
    }
    // Namespaces reserved by the protocol itself may not be stored (XEP-0049 §3).
    if docs.iter().any(|d| d.ns().is_empty() || d.ns().starts_with("jabber:") || d.ns() == ns::CLIENT) {
        return Err(StanzaError::not_acceptable().with_text("reserved namespace"));
    }
    Ok(docs)
}

async fn handle_private_get(ctx: Ctx, iq: Iq<PrivateQuery>) -> IqResult {
    let owner = iq.own()?.to_bare();
    let [wanted] = documents(iq.payload)?
        .try_into()
        .map_err(|_| StanzaError::bad_request().with_text("get one namespace at a time"))?;
    let stored = ctx.db.account_data().get(owner.as_str(), "private", &wanted.ns()).await.map_err(internal)?;
    let document =
        stored.and_then(|s| s.parse::<Element>().ok()).unwrap_or_else(|| Element::bare(wanted.name(), wanted.ns()));
    Ok(Some(PrivateQuery { documents: vec![document] }.into()))
}

async fn handle_private_set(ctx: Ctx, iq: Iq<PrivateQuery>) -> IqResult {
    let owner = iq.own()?.to_bare();
    let docs: Vec<(String, String)> = documents(iq.payload)?.iter().map(|d| (d.ns(), xml::to_string(d))).collect();
    ctx.db.account_data().put_all(owner.as_str(), "private", &docs).await.map_err(internal)?;
    Ok(None)
}
